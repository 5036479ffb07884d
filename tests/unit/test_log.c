/* test_log.c - unit tests of the log line format, levels and escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fcgi/fcgi_log.h" /* the asan build drops -Ifcgi */

static char path[] = "/tmp/bazar-test-log-XXXXXX";

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fcgi_log_close();
    unlink(path);
    return 0;
}

static char *slurp(void)
{
    static char buf[16384];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_level_parse(void **state)
{
    (void)state;
    assert_int_equal(fcgi_log_level_parse("debug"), FCGI_LOG_DEBUG);
    assert_int_equal(fcgi_log_level_parse("info"), FCGI_LOG_INFO);
    assert_int_equal(fcgi_log_level_parse("WARN"), FCGI_LOG_WARN);
    assert_int_equal(fcgi_log_level_parse("error"), FCGI_LOG_ERROR);
    assert_int_equal(fcgi_log_level_parse("warning"), -1);
    assert_int_equal(fcgi_log_level_parse(""), -1);
    assert_int_equal(fcgi_log_level_parse(NULL), -1);
}

static void test_format_and_levels(void **state)
{
    (void)state;
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(fcgi_log_open("catalog-1", path, FCGI_LOG_INFO), 0);
    fcgi_log_set_request_id("abc123");
    LOG_DEBUG("dropped %d", 1);
    LOG_INFO("GET /books -> %d", 200);
    fcgi_log_set_request_id(NULL);
    LOG_ERROR("boom");
    fcgi_log_close();

    char *s = slurp();
    int lines = 0;
    for (char *c = s; *c != '\0'; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 2);
    char *nl = strchr(s, '\n');
    assert_non_null(nl);
    *nl = '\0';
    /* 2026-11-21T19:36:41.123Z INFO catalog-1[pid] abc123 GET /books -> 200 */
    assert_int_equal(strlen(s) > 25, 1);
    assert_int_equal(s[4], '-');
    assert_int_equal(s[10], 'T');
    assert_int_equal(s[19], '.');
    assert_int_equal(s[23], 'Z');
    char want[128];
    snprintf(want, sizeof want, " INFO catalog-1[%ld] abc123 GET /books -> 200", (long)getpid());
    assert_string_equal(s + 24, want);
    char *second = nl + 1;
    snprintf(want, sizeof want, " ERROR catalog-1[%ld] - boom\n", (long)getpid());
    assert_non_null(strstr(second, want));
    assert_null(strstr(s, "dropped"));
    assert_null(strstr(second, "dropped"));
}

static void test_escaping(void **state)
{
    (void)state;
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(fcgi_log_open("t", path, FCGI_LOG_DEBUG), 0);
    LOG_WARN("a\nb\rc\td\x01" "e");
    fcgi_log_close();
    char *s = slurp();
    assert_non_null(strstr(s, "a\\nb\\rc\\td\\x01e\n"));
    assert_int_equal(strchr(s, '\n') - s, (long)strlen(s) - 1); /* one line */
}

static void test_long_message_one_line(void **state)
{
    (void)state;
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(fcgi_log_open("t", path, FCGI_LOG_DEBUG), 0);
    char big[10000];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    LOG_INFO("%s", big);
    fcgi_log_close();
    char *s = slurp();
    size_t n = strlen(s);
    assert_true(n > 100 && n <= 4096);
    assert_int_equal(s[n - 1], '\n');
    assert_ptr_equal(strchr(s, '\n'), s + n - 1);
}

static void test_bad_path_falls_back(void **state)
{
    (void)state;
    assert_int_equal(fcgi_log_open("t", "/nonexistent/dir/x.log", FCGI_LOG_ERROR + 1), -1);
    fcgi_log_close();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_format_and_levels),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_long_message_one_line),
        cmocka_unit_test(test_bad_path_falls_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
