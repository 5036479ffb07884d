/* test_config.c - unit tests of the bazar.conf table and parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fcgi/fcgi_config.h" /* the asan build drops -Ifcgi */
#include "../../fcgi/fcgi_log.h" /* the asan build drops -Ifcgi */

static fcgi_config cfg;
static char err[256];

static int parse(const char *text)
{
    fcgi_config_defaults(&cfg);
    err[0] = '\0';
    return fcgi_config_parse(&cfg, text, strlen(text), "bazar.conf", err, sizeof err);
}

static void test_defaults(void **state)
{
    (void)state;
    fcgi_config_defaults(&cfg);
    assert_string_equal(cfg.var_dir, "var");
    assert_string_equal(cfg.internal_url, "http://127.0.0.1:8081");
    assert_int_equal(cfg.catalog_replicas, 3);
    assert_int_equal(cfg.order_replicas, 3);
    assert_int_equal(cfg.catalog_primary, 1);
    assert_int_equal(cfg.order_primary, 1);
    assert_string_equal(cfg.redis, "unix:var/run/redis.sock");
    assert_int_equal(cfg.cache, 1);
    assert_int_equal(cfg.cache_guard, 1);
    assert_int_equal(cfg.cache_ttl_s, 300);
    assert_int_equal(cfg.cache_lease_ms, 1000);
    assert_int_equal(cfg.write_deadline_ms, 5000);
    assert_int_equal(cfg.read_deadline_ms, 5000);
    assert_int_equal(cfg.redis_timeout_ms, 200);
    assert_string_equal(cfg.admin_token, "");
    assert_true(cfg.body_limit == 65536);
    assert_string_equal(cfg.seed_file, "catalog/books.tsv");
    assert_int_equal(cfg.log_level, FCGI_LOG_INFO);
    assert_int_equal(cfg.peer_timeout_ms, 2000);
    assert_int_equal(cfg.sync_full, 1);
    assert_int_equal(cfg.test_fill_delay_ms, 0);
}

static void test_empty_text(void **state)
{
    (void)state;
    assert_int_equal(parse(""), 0);
    assert_int_equal(cfg.catalog_replicas, 3);
}

/* A read lease must run out before a write gives up on a silent peer, and
 * before backups may elect a new primary (docs/REPLICATION.md). */
static void test_lease_rules(void **state)
{
    (void)state;
    assert_int_equal(parse("peer_timeout_ms = 500\nlease_ms = 600\n"), -1);
    assert_non_null(strstr(err, "lease_ms"));
    assert_int_equal(parse("lease_ms = 2000\nelection_ms = 2000\npeer_timeout_ms = 3000\n"), -1);
    assert_int_equal(parse("lease_ms = 200\nheartbeat_ms = 150\n"), -1);
    assert_int_equal(parse("lease_ms = 800\nheartbeat_ms = 100\nelection_ms = 1200\n"), 0);
    assert_int_equal(cfg.lease_ms, 800);
}

static void test_good_file(void **state)
{
    (void)state;
    const char *text = "# Bazar\n"
                       "\n"
                       "var_dir = /srv/bazar/var\n"
                       "  internal_url=http://10.0.0.1:9000  \n"
                       "catalog_replicas = 5\r\n"
                       "order_replicas\t=\t2\n"
                       "catalog_primary = 5\n"
                       "order_primary = 2\n"
                       "redis = 127.0.0.1:6379\n"
                       "cache = off\n"
                       "cache_guard = No\n"
                       "cache_ttl_s = 86400\n"
                       "redis_timeout_ms = 1\n"
                       "admin_token = s3cr#t\n"
                       "body_limit = 16777216\n"
                       "seed_file = /tmp/books.tsv\n"
                       "log_level = debug\n"
                       "   # indented comment\n"
                       "peer_timeout_ms = 60000\n"
                       "sync_full = false\n"
                       "test_fill_delay_ms = 10000"; /* no final newline */
    assert_int_equal(parse(text), 0);
    assert_string_equal(cfg.var_dir, "/srv/bazar/var");
    assert_string_equal(cfg.internal_url, "http://10.0.0.1:9000");
    assert_int_equal(cfg.catalog_replicas, 5);
    assert_int_equal(cfg.order_replicas, 2);
    assert_int_equal(cfg.catalog_primary, 5);
    assert_int_equal(cfg.order_primary, 2);
    assert_string_equal(cfg.redis, "127.0.0.1:6379");
    assert_int_equal(cfg.cache, 0);
    assert_int_equal(cfg.cache_guard, 0);
    assert_int_equal(cfg.cache_ttl_s, 86400);
    assert_int_equal(cfg.redis_timeout_ms, 1);
    assert_string_equal(cfg.admin_token, "s3cr#t"); /* '#' inside a value is kept */
    assert_true(cfg.body_limit == 16777216);
    assert_string_equal(cfg.seed_file, "/tmp/books.tsv");
    assert_int_equal(cfg.log_level, FCGI_LOG_DEBUG);
    assert_int_equal(cfg.peer_timeout_ms, 60000);
    assert_int_equal(cfg.sync_full, 0);
    assert_int_equal(cfg.test_fill_delay_ms, 10000);
}

static void test_bools(void **state)
{
    (void)state;
    static const char *const on[] = {"on", "true", "yes", "1", "ON", "True"};
    static const char *const off[] = {"off", "false", "no", "0", "OFF"};
    char line[64];
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        snprintf(line, sizeof line, "cache = off\ncache = %s\n", on[i]);
        assert_int_equal(parse(line), 0);
        assert_int_equal(cfg.cache, 1);
    }
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        snprintf(line, sizeof line, "cache = %s\n", off[i]);
        assert_int_equal(parse(line), 0);
        assert_int_equal(cfg.cache, 0);
    }
    assert_int_equal(parse("cache = maybe\n"), -1);
    assert_string_equal(err, "bazar.conf:1: cache must be on/off, true/false, yes/no or 1/0");
    assert_int_equal(parse("cache =\n"), -1);
    assert_int_equal(parse("cache = 2\n"), -1);
}

static void test_unknown_key(void **state)
{
    (void)state;
    assert_int_equal(parse("# c\ncache = on\nfoo = 1\n"), -1);
    assert_string_equal(err, "bazar.conf:3: unknown key 'foo'");
    assert_int_equal(parse("catalog_replicas_x = 1\n"), -1);
    assert_string_equal(err, "bazar.conf:1: unknown key 'catalog_replicas_x'");
}

static void test_int_bounds(void **state)
{
    (void)state;
    assert_int_equal(parse("\ncatalog_replicas = 8\n"), -1);
    assert_string_equal(err, "bazar.conf:2: catalog_replicas must be between 1 and 7");
    assert_int_equal(parse("catalog_replicas = 0\n"), -1);
    assert_string_equal(err, "bazar.conf:1: catalog_replicas must be between 1 and 7");
    assert_int_equal(parse("cache_ttl_s = -1\n"), -1);
    assert_int_equal(parse("cache_lease_ms = 99\n"), -1);
    assert_int_equal(parse("write_deadline_ms = 60001\n"), -1);
    assert_int_equal(parse("read_deadline_ms = -1\n"), -1);
    assert_int_equal(parse("peer_timeout_ms = 9\n"), -1);
    assert_int_equal(parse("body_limit = 16777217\n"), -1);
    assert_int_equal(parse("body_limit = 0\n"), -1);
    assert_int_equal(parse("test_fill_delay_ms = 10001\n"), -1);
    assert_int_equal(parse("redis_timeout_ms = 99999999999999999999999\n"), -1);
    assert_string_equal(err, "bazar.conf:1: redis_timeout_ms must be an integer");
    assert_int_equal(parse("cache_ttl_s = 12abc\n"), -1);
    assert_string_equal(err, "bazar.conf:1: cache_ttl_s must be an integer");
    assert_int_equal(parse("cache_ttl_s = 0x10\n"), -1);
    assert_int_equal(parse("cache_ttl_s = \n"), -1);
    assert_int_equal(parse("cache_ttl_s = 1 0\n"), -1);
    assert_int_equal(parse("cache_ttl_s = +5\n"), -1);
    assert_int_equal(parse("cache_ttl_s = -\n"), -1);
}

static void test_missing_equals(void **state)
{
    (void)state;
    assert_int_equal(parse("cache = on\n\ncache on\n"), -1);
    assert_non_null(strstr(err, "bazar.conf:3:"));
    assert_non_null(strstr(err, "key = value"));
    assert_int_equal(parse(" = on\n"), -1);
    assert_non_null(strstr(err, "bazar.conf:1:"));
}

static void test_log_level(void **state)
{
    (void)state;
    assert_int_equal(parse("log_level = WARN\n"), 0);
    assert_int_equal(cfg.log_level, FCGI_LOG_WARN);
    assert_int_equal(parse("log_level = error\n"), 0);
    assert_int_equal(cfg.log_level, FCGI_LOG_ERROR);
    assert_int_equal(parse("log_level = loud\n"), -1);
    assert_string_equal(err, "bazar.conf:1: log_level must be debug, info, warn or error");
}

static void test_long_string(void **state)
{
    (void)state;
    char text[FCGI_CONFIG_STR + 64];
    size_t p = (size_t)snprintf(text, sizeof text, "var_dir = ");
    /* FCGI_CONFIG_STR - 1 bytes fit. */
    memset(text + p, 'x', FCGI_CONFIG_STR - 1);
    text[p + FCGI_CONFIG_STR - 1] = '\0';
    assert_int_equal(parse(text), 0);
    assert_int_equal(strlen(cfg.var_dir), FCGI_CONFIG_STR - 1);
    /* One more does not. */
    text[p + FCGI_CONFIG_STR - 1] = 'x';
    text[p + FCGI_CONFIG_STR] = '\0';
    assert_int_equal(parse(text), -1);
    assert_non_null(strstr(err, "bazar.conf:1: var_dir is too long"));
}

static void test_primary_vs_replicas(void **state)
{
    (void)state;
    /* Order of the lines does not matter: checked after the whole file. */
    assert_int_equal(parse("catalog_primary = 3\ncatalog_replicas = 3\n"), 0);
    assert_int_equal(parse("catalog_replicas = 2\ncatalog_primary = 3\n"), -1);
    assert_non_null(strstr(err, "bazar.conf"));
    assert_non_null(strstr(err, "catalog_primary"));
    assert_int_equal(parse("order_replicas = 1\n"), 0); /* the default primary 1 fits */
}

static void test_primary_default_fits_one_replica(void **state)
{
    (void)state;
    assert_int_equal(parse("order_replicas = 1\norder_primary = 1\n"), 0);
    assert_int_equal(parse("order_replicas = 1\norder_primary = 2\n"), -1);
    assert_non_null(strstr(err, "order_primary"));
}

static void test_nul_in_text(void **state)
{
    (void)state;
    static const char text[] = "var_dir = a\0b\n";
    fcgi_config_defaults(&cfg);
    assert_int_equal(fcgi_config_parse(&cfg, text, sizeof text - 1, "n", err, sizeof err), -1);
    assert_non_null(strstr(err, "n:1:"));
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/bazar-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "cache_ttl_s = 42\nbogus\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    assert_int_equal(fcgi_config_load(&cfg, path, err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want, "%s:2:", path);
    assert_non_null(strstr(err, want));

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("cache_ttl_s = 42\n", f);
    fclose(f);
    assert_int_equal(fcgi_config_load(&cfg, path, err, sizeof err), 0);
    assert_int_equal(cfg.cache_ttl_s, 42);
    assert_int_equal(cfg.redis_timeout_ms, 200); /* defaults under the file */
    unlink(path);

    assert_int_equal(fcgi_config_load(&cfg, "/nonexistent/bazar.conf", err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/bazar.conf"));
}

static void test_small_err_buffer(void **state)
{
    (void)state;
    char tiny[8];
    fcgi_config_defaults(&cfg);
    assert_int_equal(fcgi_config_parse(&cfg, "foo = 1", 7, "bazar.conf", tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_empty_text),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_lease_rules),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_int_bounds),
        cmocka_unit_test(test_missing_equals),
        cmocka_unit_test(test_log_level),
        cmocka_unit_test(test_long_string),
        cmocka_unit_test(test_primary_vs_replicas),
        cmocka_unit_test(test_primary_default_fits_one_replica),
        cmocka_unit_test(test_nul_in_text),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_small_err_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
