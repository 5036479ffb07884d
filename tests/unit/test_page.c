/* test_page.c - the catalog page query: defaults, bounds, every bad input,
 * and the canonical form read back to the same query. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "../../fcgi/fcgi_page.h" /* the asan build drops -Ifcgi */

static int parse(const char *query, fcgi_page_query *pq)
{
    char why[256];
    return fcgi_page_parse(query, pq, why, sizeof why);
}

static void test_defaults(void **state)
{
    (void)state;
    fcgi_page_query pq;
    assert_int_equal(parse("", &pq), 0);
    assert_string_equal(pq.topic, "");
    assert_string_equal(pq.q, "");
    assert_int_equal(pq.page, 1);
    assert_int_equal(pq.per_page, FCGI_PAGE_PER_DEFAULT);
    assert_int_equal(pq.sort, FCGI_SORT_ID);
}

static void test_every_parameter(void **state)
{
    (void)state;
    fcgi_page_query pq;
    assert_int_equal(parse("topic=distributed+systems&q=RPC%25&page=3&per_page=100&sort=-price",
                           &pq), 0);
    assert_string_equal(pq.topic, "distributed systems");
    assert_string_equal(pq.q, "RPC%");
    assert_int_equal(pq.page, 3);
    assert_int_equal(pq.per_page, 100);
    assert_int_equal(pq.sort, FCGI_SORT_PRICE_DESC);
    for (int i = 0; i < FCGI_SORT_COUNT; i++) {
        char query[64];
        snprintf(query, sizeof query, "sort=%s", fcgi_page_sorts[i]);
        assert_int_equal(parse(query, &pq), 0);
        assert_int_equal(pq.sort, i);
    }
    assert_int_equal(parse("page=1000000000&per_page=1", &pq), 0);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    fcgi_page_query pq;
    char q201[300] = "q=";
    memset(q201 + 2, 'a', 201);
    const char *bad[] = {
        "page=0", "page=-1", "page=x", "page=", "page", "page=1.5", "page=1000000001",
        "per_page=0", "per_page=101", "per_page=1000", "per_page=", "sort=", "sort=name",
        "sort=+price", "sort=PRICE", "q=%zz", "q=a%2", "q=a%00b", "q=%ff", "q=a%0ab",
        "topic=%c0%af", "nope=1", "page=1&page=2", "Page=1", q201,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[256] = "";
        if (fcgi_page_parse(bad[i], &pq, why, sizeof why) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(why[0] != 0);
    }
    q201[202] = 0; /* 200 bytes: the bound itself */
    assert_int_equal(parse(q201, &pq), 0);
}

static void test_format_round_trip(void **state)
{
    (void)state;
    fcgi_page_query pq, back;
    assert_int_equal(parse("q=a+b%26c%3Dd&topic=%C3%A9t%C3%A9&page=7&sort=title", &pq), 0);
    char out[1024];
    assert_int_equal(fcgi_page_format(&pq, out, sizeof out), 0);
    assert_string_equal(out, "topic=%C3%A9t%C3%A9&q=a%20b%26c%3Dd&page=7&per_page=20&sort=title");
    assert_int_equal(parse(out, &back), 0);
    assert_string_equal(back.topic, pq.topic);
    assert_string_equal(back.q, "a b&c=d");
    assert_true(back.page == 7 && back.per_page == 20 && back.sort == FCGI_SORT_TITLE);
    assert_int_equal(fcgi_page_format(&pq, out, 20), -1); /* does not fit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_parameter),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_format_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
