/* test_router.c - unit tests of route matching, percent-decoding and id parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../fcgi/fcgi_router.h" /* the asan build drops -Ifcgi */

static int h_books(fcgi_request *r) { (void)r; return 200; }
static int h_book(fcgi_request *r) { (void)r; return 200; }
static int h_price(fcgi_request *r) { (void)r; return 200; }
static int h_new(fcgi_request *r) { (void)r; return 201; }
static int h_search(fcgi_request *r) { (void)r; return 200; }
static int h_root(fcgi_request *r) { (void)r; return 200; }
static int h_two(fcgi_request *r) { (void)r; return 200; }

static const fcgi_route routes[] = {
    {"GET", "/books", h_books},
    {"POST", "/books", h_new},
    {"GET", "/books/{id}", h_book},
    {"PUT", "/books/{id}/price", h_price},
    {"POST", "/books/{id}/price", h_price},
    {"GET", "/search/{topic}", h_search},
    {"GET", "/", h_root},
    {"GET", "/a/{x}/b/{y}", h_two},
};
#define NR (sizeof routes / sizeof routes[0])

static fcgi_captures caps;
static char allow[128];

static enum fcgi_route_result m(const char *method, const char *path, const fcgi_route **found)
{
    memset(&caps, 0x5a, sizeof caps);
    return fcgi_route_match(routes, NR, method, path, strlen(path), found, &caps, allow,
                            sizeof allow);
}

static void test_literal_match(void **state)
{
    (void)state;
    const fcgi_route *f = NULL;
    assert_int_equal(m("GET", "/books", &f), FCGI_ROUTE_OK);
    assert_ptr_equal(f->handler, h_books);
    assert_int_equal(caps.n, 0);
    assert_int_equal(m("POST", "/books", &f), FCGI_ROUTE_OK);
    assert_ptr_equal(f->handler, h_new);
    assert_int_equal(m("GET", "/", &f), FCGI_ROUTE_OK);
    assert_ptr_equal(f->handler, h_root);
}

static void test_empty_path_is_root(void **state)
{
    (void)state;
    const fcgi_route *f = NULL;
    assert_int_equal(fcgi_route_match(routes, NR, "GET", "", 0, &f, &caps, allow, sizeof allow),
                     FCGI_ROUTE_OK);
    assert_ptr_equal(f->handler, h_root);
}

static void test_captures(void **state)
{
    (void)state;
    const fcgi_route *f = NULL;
    assert_int_equal(m("GET", "/books/42", &f), FCGI_ROUTE_OK);
    assert_ptr_equal(f->handler, h_book);
    assert_int_equal(caps.n, 1);
    assert_string_equal(caps.value[0], "42");
    assert_int_equal(caps.len[0], 2);

    assert_int_equal(m("PUT", "/books/7/price", &f), FCGI_ROUTE_OK);
    assert_ptr_equal(f->handler, h_price);
    assert_string_equal(caps.value[0], "7");

    assert_int_equal(m("GET", "/a/one/b/two", &f), FCGI_ROUTE_OK);
    assert_int_equal(caps.n, 2);
    assert_string_equal(caps.value[0], "one");
    assert_string_equal(caps.value[1], "two");
}

static void test_capture_decoded(void **state)
{
    (void)state;
    const fcgi_route *f = NULL;
    assert_int_equal(m("GET", "/search/distributed%20systems", &f), FCGI_ROUTE_OK);
    assert_string_equal(caps.value[0], "distributed systems");
    assert_int_equal(caps.len[0], 19);
    /* An encoded slash stays inside the one segment. */
    assert_int_equal(m("GET", "/search/a%2Fb", &f), FCGI_ROUTE_OK);
    assert_string_equal(caps.value[0], "a/b");
    /* '+' is not a space in a path. */
    assert_int_equal(m("GET", "/search/a+b", &f), FCGI_ROUTE_OK);
    assert_string_equal(caps.value[0], "a+b");
}

static void test_not_found(void **state)
{
    (void)state;
    const fcgi_route *f = NULL;
    assert_int_equal(m("GET", "/nope", &f), FCGI_ROUTE_NOT_FOUND);
    assert_int_equal(m("GET", "/books/", &f), FCGI_ROUTE_NOT_FOUND);   /* trailing slash */
    assert_int_equal(m("GET", "/books/1/", &f), FCGI_ROUTE_NOT_FOUND); /* trailing slash */
    assert_int_equal(m("GET", "/books/1/2", &f), FCGI_ROUTE_NOT_FOUND);
    assert_int_equal(m("GET", "//books", &f), FCGI_ROUTE_NOT_FOUND);
    assert_int_equal(m("GET", "books", &f), FCGI_ROUTE_NOT_FOUND);
    assert_int_equal(m("GET", "/Books", &f), FCGI_ROUTE_NOT_FOUND);
    /* Literal segments compare raw bytes: an escaped literal is not the literal. */
    assert_int_equal(m("GET", "/b%6Foks", &f), FCGI_ROUTE_NOT_FOUND);
    assert_string_equal(allow, "");
}

static void test_bad_method_allow(void **state)
{
    (void)state;
    const fcgi_route *f = NULL;
    assert_int_equal(m("DELETE", "/books", &f), FCGI_ROUTE_BAD_METHOD);
    assert_string_equal(allow, "GET, POST");
    assert_int_equal(m("GET", "/books/3/price", &f), FCGI_ROUTE_BAD_METHOD);
    assert_string_equal(allow, "PUT, POST");
    assert_int_equal(m("POST", "/books/3", &f), FCGI_ROUTE_BAD_METHOD);
    assert_string_equal(allow, "GET");
}

static void test_allow_dedup_and_bounded(void **state)
{
    (void)state;
    static const fcgi_route dup[] = {
        {"GET", "/x/{a}", h_book},
        {"GET", "/x/{b}", h_book},
        {"PUT", "/x/{a}", h_book},
    };
    char small[6];
    assert_int_equal(fcgi_route_match(dup, 3, "POST", "/x/1", 4, NULL, &caps, allow, sizeof allow),
                     FCGI_ROUTE_BAD_METHOD);
    assert_string_equal(allow, "GET, PUT");
    /* "GET, PUT" does not fit in 6 bytes: what fits, always terminated. */
    assert_int_equal(fcgi_route_match(dup, 3, "POST", "/x/1", 4, NULL, &caps, small, sizeof small),
                     FCGI_ROUTE_BAD_METHOD);
    assert_string_equal(small, "GET");
}

static void test_bad_path(void **state)
{
    (void)state;
    const fcgi_route *f = NULL;
    assert_int_equal(m("GET", "/books/%00", &f), FCGI_ROUTE_BAD_PATH);
    assert_int_equal(m("GET", "/books/%zz", &f), FCGI_ROUTE_BAD_PATH);
    assert_int_equal(m("GET", "/books/%4", &f), FCGI_ROUTE_BAD_PATH);
    assert_int_equal(m("GET", "/books/abc%", &f), FCGI_ROUTE_BAD_PATH);
}

static void test_overlong_capture(void **state)
{
    (void)state;
    const fcgi_route *f = NULL;
    char path[8 + FCGI_CAPTURE_MAX * 3 + 8];
    size_t n;

    /* Exactly FCGI_CAPTURE_MAX decoded bytes fit. */
    memcpy(path, "/books/", 7);
    memset(path + 7, 'a', FCGI_CAPTURE_MAX);
    n = 7 + FCGI_CAPTURE_MAX;
    path[n] = '\0';
    assert_int_equal(m("GET", path, &f), FCGI_ROUTE_OK);
    assert_int_equal(caps.len[0], FCGI_CAPTURE_MAX);

    /* One more does not. */
    path[n] = 'a';
    path[n + 1] = '\0';
    assert_int_equal(m("GET", path, &f), FCGI_ROUTE_BAD_PATH);

    /* Escapes count decoded: 1024 x "%41" is 1024 bytes and fits. */
    for (size_t i = 0; i < FCGI_CAPTURE_MAX; i++)
        memcpy(path + 7 + 3 * i, "%41", 3);
    path[7 + 3 * FCGI_CAPTURE_MAX] = '\0';
    assert_int_equal(m("GET", path, &f), FCGI_ROUTE_OK);
    assert_int_equal(caps.len[0], FCGI_CAPTURE_MAX);
    assert_int_equal(caps.value[0][0], 'A');
}

static void test_path_len_respected(void **state)
{
    (void)state;
    const fcgi_route *f = NULL;
    /* Only the first pathlen bytes are the path. */
    assert_int_equal(fcgi_route_match(routes, NR, "GET", "/books/12XYZ", 9, &f, &caps, allow,
                                      sizeof allow),
                     FCGI_ROUTE_OK);
    assert_string_equal(caps.value[0], "12");
}

static void test_url_decode(void **state)
{
    (void)state;
    char out[16];
    size_t len = 99;
    assert_int_equal(fcgi_url_decode("%41", 3, out, sizeof out, &len), 0);
    assert_string_equal(out, "A");
    assert_int_equal(len, 1);
    assert_int_equal(fcgi_url_decode("a%2fB%2F", 8, out, sizeof out, &len), 0);
    assert_string_equal(out, "a/B/");
    assert_int_equal(fcgi_url_decode("", 0, out, sizeof out, &len), 0);
    assert_string_equal(out, "");
    assert_int_equal(len, 0);
    assert_int_equal(fcgi_url_decode("%C3%A9", 6, out, sizeof out, &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal((unsigned char)out[0], 0xC3);

    assert_int_equal(fcgi_url_decode("%4", 2, out, sizeof out, &len), -1);
    assert_int_equal(fcgi_url_decode("%zz", 3, out, sizeof out, &len), -1);
    assert_int_equal(fcgi_url_decode("%", 1, out, sizeof out, &len), -1);
    assert_int_equal(fcgi_url_decode("%g1", 3, out, sizeof out, &len), -1);
    assert_int_equal(fcgi_url_decode("%00", 3, out, sizeof out, &len), -1);
    assert_int_equal(fcgi_url_decode("a\0b", 3, out, sizeof out, &len), -1); /* raw NUL */

    /* Bounded output: 3 bytes + NUL need outcap 4. */
    assert_int_equal(fcgi_url_decode("abc", 3, out, 4, &len), 0);
    assert_int_equal(fcgi_url_decode("abcd", 4, out, 4, &len), -1);
    assert_int_equal(fcgi_url_decode("", 0, out, 1, &len), 0);
    assert_int_equal(fcgi_url_decode("a", 1, out, 0, &len), -1);
    /* Only len bytes of input are read. */
    assert_int_equal(fcgi_url_decode("ab%41", 2, out, sizeof out, &len), 0);
    assert_string_equal(out, "ab");
}

static void test_parse_id(void **state)
{
    (void)state;
    long long v = -5;
#define ID(s) fcgi_parse_id((s), strlen(s), &v)
    assert_int_equal(ID("0"), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ID("42"), 0);
    assert_int_equal(v, 42);
    assert_int_equal(ID("007"), 0);
    assert_int_equal(v, 7);
    assert_int_equal(ID("999999999999999999"), 0); /* 18 digits */
    assert_true(v == 999999999999999999LL);

    v = -5;
    assert_int_equal(ID("-1"), -1);
    assert_int_equal(ID("+1"), -1);
    assert_int_equal(ID(""), -1);
    assert_int_equal(ID("0x10"), -1);
    assert_int_equal(ID("1e3"), -1);
    assert_int_equal(ID(" 1"), -1);
    assert_int_equal(ID("1 "), -1);
    assert_int_equal(ID("1.0"), -1);
    assert_int_equal(ID("1000000000000000000"), -1);   /* 19 digits */
    assert_int_equal(ID("9223372036854775808"), -1);   /* > LLONG_MAX */
    assert_int_equal(ID("00000000000000000001"), -1);  /* 20 digits, even if small */
    assert_int_equal(v, -5); /* untouched on failure */
    assert_int_equal(fcgi_parse_id("12", 1, &v), 0);   /* length respected */
    assert_int_equal(v, 1);
    assert_int_equal(fcgi_parse_id("1\0002", 3, &v), -1);
#undef ID
}

static void test_query_id(void **state)
{
    (void)state;
    long long v = -5;
    assert_int_equal(fcgi_query_id("after=12&upto=30", "after", &v), 1);
    assert_int_equal(v, 12);
    assert_int_equal(fcgi_query_id("after=12&upto=30", "upto", &v), 1);
    assert_int_equal(v, 30);
    assert_int_equal(fcgi_query_id("xafter=1&after=2", "after", &v), 1); /* whole names only */
    assert_int_equal(v, 2);
    v = -5;
    assert_int_equal(fcgi_query_id("after=12", "limit", &v), 0);
    assert_int_equal(fcgi_query_id("", "after", &v), 0);
    assert_int_equal(fcgi_query_id("afterx=1", "after", &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(fcgi_query_id("after=", "after", &v), -1);
    assert_int_equal(fcgi_query_id("after", "after", &v), -1);
    assert_int_equal(fcgi_query_id("after=-1", "after", &v), -1);
    assert_int_equal(fcgi_query_id("after=1x&upto=2", "after", &v), -1);
    assert_int_equal(fcgi_query_id("after=99999999999999999999", "after", &v), -1);
    assert_int_equal(v, -5);
}

static void test_query_text(void **state)
{
    (void)state;
    char out[8];
    size_t len = 99;
    assert_int_equal(fcgi_query_text("q=a+b%2Bc&x=1", "q", out, sizeof out, &len), 1);
    assert_string_equal(out, "a b+c"); /* '+' is a space, %2B a plus */
    assert_int_equal(len, 5);
    assert_int_equal(fcgi_query_text("q=&x=1", "q", out, sizeof out, &len), 1);
    assert_int_equal(len, 0);
    assert_int_equal(fcgi_query_text("q", "q", out, sizeof out, &len), 1); /* no '=': empty */
    assert_int_equal(len, 0);
    assert_int_equal(fcgi_query_text("qq=1&&q=%C3%A9", "q", out, sizeof out, &len), 1);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(fcgi_query_text("x=1", "q", out, sizeof out, &len), 0);
    assert_int_equal(fcgi_query_text("", "q", out, sizeof out, &len), 0);
    assert_int_equal(fcgi_query_text("q=%zz", "q", out, sizeof out, &len), -1);
    assert_int_equal(fcgi_query_text("q=a%2", "q", out, sizeof out, &len), -1);
    assert_int_equal(fcgi_query_text("q=a%00b", "q", out, sizeof out, &len), -1);
    assert_int_equal(fcgi_query_text("q=12345678", "q", out, sizeof out, &len), -1); /* 8 > 7 */
    assert_int_equal(fcgi_query_text("q=1234567", "q", out, sizeof out, &len), 1);
}

static void test_query_names(void **state)
{
    (void)state;
    const char *const known[] = {"page", "sort", NULL};
    char bad[16] = "";
    assert_int_equal(fcgi_query_names("", known, bad, sizeof bad), 0);
    assert_int_equal(fcgi_query_names("page=1&sort=id", known, bad, sizeof bad), 0);
    assert_int_equal(fcgi_query_names("&page=1&&sort&", known, bad, sizeof bad), 0);
    assert_int_equal(fcgi_query_names("page=1&pag=2", known, bad, sizeof bad), -1);
    assert_string_equal(bad, "pag");
    assert_int_equal(fcgi_query_names("page=1&sort=id&page=2", known, bad, sizeof bad), -1);
    assert_string_equal(bad, "page"); /* given twice */
    assert_int_equal(fcgi_query_names("page&page", known, bad, sizeof bad), -1);
    assert_int_equal(fcgi_query_names("p%61ge=1", known, bad, sizeof bad), -1); /* raw names */
    assert_string_equal(bad, "p%61ge");
    assert_int_equal(fcgi_query_names("averyveryverylongname=1", known, bad, sizeof bad), -1);
    assert_string_equal(bad, "averyveryverylo"); /* truncated to fit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_match),
        cmocka_unit_test(test_empty_path_is_root),
        cmocka_unit_test(test_captures),
        cmocka_unit_test(test_capture_decoded),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_bad_method_allow),
        cmocka_unit_test(test_allow_dedup_and_bounded),
        cmocka_unit_test(test_bad_path),
        cmocka_unit_test(test_overlong_capture),
        cmocka_unit_test(test_path_len_respected),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_parse_id),
        cmocka_unit_test(test_query_id),
        cmocka_unit_test(test_query_text),
        cmocka_unit_test(test_query_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
