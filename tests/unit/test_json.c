/* test_json.c - unit tests of the request-body JSON helpers behind fcgi_req_json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../fcgi/fcgi_app.h" /* the asan build drops -Ifcgi */
#include "../../fcgi/fcgi_json.h"

static char why[128];

static json_object *parse(const char *s)
{
    why[0] = '\0';
    return fcgi_json_parse_object(s, strlen(s), why, sizeof why);
}

static void test_content_type(void **state)
{
    (void)state;
    assert_true(fcgi_content_type_is_json(NULL));
    assert_true(fcgi_content_type_is_json("application/json"));
    assert_true(fcgi_content_type_is_json("Application/JSON"));
    assert_true(fcgi_content_type_is_json("application/json; charset=utf-8"));
    assert_true(fcgi_content_type_is_json("application/json;charset=UTF-8"));
    assert_true(fcgi_content_type_is_json(" application/json "));
    assert_false(fcgi_content_type_is_json(""));
    assert_false(fcgi_content_type_is_json("text/plain"));
    assert_false(fcgi_content_type_is_json("application/x-www-form-urlencoded"));
    assert_false(fcgi_content_type_is_json("application/jsonp"));
    assert_false(fcgi_content_type_is_json("application/json-seq"));
    assert_false(fcgi_content_type_is_json("application/jso"));
}

static void test_good_object(void **state)
{
    (void)state;
    json_object *o = parse("{\"price\": 39.5, \"title\": \"caf\xc3\xa9\"}");
    assert_non_null(o);
    json_object *p;
    assert_true(json_object_object_get_ex(o, "price", &p));
    assert_true(json_object_get_double(p) == 39.5);
    json_object_put(o);

    o = parse("  {}\r\n\t ");
    assert_non_null(o);
    json_object_put(o);
}

static void test_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                       /* empty */
        "   ",                    /* only blanks */
        "{",                      /* truncated */
        "{\"a\":1",               /* truncated */
        "{\"a\":1}x",             /* trailing garbage */
        "{\"a\":1}{\"b\":2}",     /* two objects */
        "[1,2]",                  /* not an object */
        "42",                     /* not an object */
        "\"s\"",                  /* not an object */
        "null",                   /* not an object */
        "{\"a\":1,}",             /* strict: trailing comma */
        "{\"a\":\"\xff\xfe\"}",   /* invalid UTF-8 */
        "{\"a\":nan}",            /* not JSON */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object *o = parse(bad[i]);
        if (o != NULL)
            fail_msg("accepted: %s", bad[i]);
        assert_true(why[0] != '\0');
    }
}

static void test_reason_text(void **state)
{
    (void)state;
    assert_null(parse(""));
    assert_string_equal(why, "empty body");
    assert_null(parse("[]"));
    assert_string_equal(why, "body must be a JSON object");
    assert_null(parse("{} x"));
    assert_non_null(strstr(why, "trailing"));
    /* why may be NULL */
    assert_null(fcgi_json_parse_object("[", 1, NULL, 0));
}

static void test_embedded_nul(void **state)
{
    (void)state;
    static const char body[] = "{\"a\":\"x\0y\"}";
    assert_null(fcgi_json_parse_object(body, sizeof body - 1, why, sizeof why));
    /* A NUL after a complete object is not whitespace either. */
    static const char body2[] = "{}\0";
    assert_null(fcgi_json_parse_object(body2, sizeof body2 - 1, why, sizeof why));
}

static void test_len_respected(void **state)
{
    (void)state;
    /* Only len bytes are parsed: the object ends exactly at len. */
    json_object *o = fcgi_json_parse_object("{\"a\":1}GARBAGE", 7, why, sizeof why);
    assert_non_null(o);
    json_object_put(o);
    assert_null(fcgi_json_parse_object("{\"a\":1}", 6, why, sizeof why));
}

static void nest(char *buf, size_t depth)
{
    /* depth nested objects: {"a":{"a":...{}...}} */
    size_t p = 0;
    for (size_t i = 0; i + 1 < depth; i++) {
        memcpy(buf + p, "{\"a\":", 5);
        p += 5;
    }
    buf[p++] = '{';
    buf[p++] = '}';
    for (size_t i = 0; i + 1 < depth; i++)
        buf[p++] = '}';
    buf[p] = '\0';
}

static void test_depth(void **state)
{
    (void)state;
    char buf[512];
    nest(buf, 16);
    json_object *o = parse(buf);
    assert_non_null(o);
    json_object_put(o);
    nest(buf, 17);
    assert_null(parse(buf));
    assert_non_null(strstr(why, "deep"));
    nest(buf, 60);
    assert_null(parse(buf));
}

static void test_now_ms_monotonic(void **state)
{
    (void)state;
    double a = fcgi_now_ms(), b = fcgi_now_ms();
    assert_true(a > 0);
    assert_true(b >= a);
}

static void test_object_of(void **state)
{
    (void)state;
    static const char *const names[] = {"a", "b"};
    json_object *values[] = {json_object_new_int(1), json_object_new_string("x")};
    json_object *o = fcgi_json_object_of(2, names, values);
    assert_non_null(o);
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"a\":1,\"b\":\"x\"}");
    json_object_put(o);
    json_object *missing[] = {json_object_new_int(1), NULL}; /* released: ASan would tell */
    assert_null(fcgi_json_object_of(2, names, missing));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_good_object),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_reason_text),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_len_respected),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_now_ms_monotonic),
        cmocka_unit_test(test_object_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
