/* test_secret.c - unit tests of secret files (load, generate once, refuse short)
 * and of the constant-time comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fcgi/fcgi_secret.h" /* the asan build drops -Ifcgi */

static char dir[] = "/tmp/bazar-test-secret-XXXXXX";
static char path[sizeof dir + 16];

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/s", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return rmdir(dir);
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_configured_wins(void **state)
{
    (void)state;
    char out[FCGI_SECRET_MAX], err[256];
    write_file("from-the-file-0123456789\n");
    assert_int_equal(fcgi_secret_load("configured-0123456789", path, 0, out, sizeof out, err,
                                      sizeof err), 0);
    assert_string_equal(out, "configured-0123456789");
    assert_int_equal(fcgi_secret_load("short", path, 0, out, sizeof out, err, sizeof err), -1);
}

static void test_file_first_line(void **state)
{
    (void)state;
    char out[FCGI_SECRET_MAX], err[256];
    write_file("abcdefabcdefabcdef0123\nsecond line\n");
    assert_int_equal(fcgi_secret_load("", path, 0, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "abcdefabcdefabcdef0123");
    write_file("tooshort");
    assert_int_equal(fcgi_secret_load(NULL, path, 1, out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, "shorter"));
}

static void test_missing_and_generated(void **state)
{
    (void)state;
    char out[FCGI_SECRET_MAX], again[FCGI_SECRET_MAX], err[256];
    unlink(path);
    assert_int_equal(fcgi_secret_load("", path, 0, out, sizeof out, err, sizeof err), -1);
    assert_non_null(strstr(err, "missing"));
    assert_int_equal(fcgi_secret_load("", path, 1, out, sizeof out, err, sizeof err), 0);
    assert_int_equal(strlen(out), 48);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* A second load reads the same secret instead of making a new one. */
    assert_int_equal(fcgi_secret_load("", path, 1, again, sizeof again, err, sizeof err), 0);
    assert_string_equal(out, again);
}

static void test_equal(void **state)
{
    (void)state;
    const char *want = "0123456789abcdef";
    assert_true(fcgi_secret_equal(want, "0123456789abcdef"));
    assert_false(fcgi_secret_equal(want, NULL));
    assert_false(fcgi_secret_equal(want, ""));
    assert_false(fcgi_secret_equal(want, "0123456789abcde"));   /* prefix */
    assert_false(fcgi_secret_equal(want, "0123456789abcdef0")); /* longer */
    assert_false(fcgi_secret_equal(want, "0123456789abcdeF"));  /* last byte */
    assert_false(fcgi_secret_equal(want, "x123456789abcdef"));  /* first byte */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configured_wins),
        cmocka_unit_test(test_file_first_line),
        cmocka_unit_test(test_missing_and_generated),
        cmocka_unit_test(test_equal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
