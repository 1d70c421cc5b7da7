/*
 * test-config.c - the plugin's init string.
 */
#include "config.h"

#include <string.h>

#include "bmc-config.h"

static void
test_defaults(void)
{
    BmcConfig cfg;
    g_autoptr(GError) error = NULL;

    g_assert_true(bmc_config_parse(&cfg, NULL, &error));
    g_assert_no_error(error);
    g_assert_cmpstr(cfg.program, ==, "qemu");
    g_assert_cmpstr(cfg.qmp_socket, ==, "/run/qemu-bmc/qmp.sock");
    g_assert_cmpint(cfg.restore_default, ==, MACHINE_POLICY_ALWAYS_OFF);
    g_assert_cmpuint(cfg.cipher_suites, ==, 1u << 3);
    g_assert_cmpuint(cfg.rakp_timeout_ms, ==, 3000);
    bmc_config_clear(&cfg);
}

static void
test_all_keys(void)
{
    BmcConfig cfg;
    g_autoptr(GError) error = NULL;

    g_assert_true(bmc_config_parse(
        &cfg,
        "qmp=/a/q.sock supervisor='/b/s p.sock' program=vm state=/s run=/r "
        "log=debug restore=previous ciphers=3,12 qmp_timeout=250 "
        "rakp_timeout=0",
        &error));
    g_assert_no_error(error);
    g_assert_cmpstr(cfg.qmp_socket, ==, "/a/q.sock");
    g_assert_cmpstr(cfg.supervisor_socket, ==, "/b/s p.sock");
    g_assert_cmpstr(cfg.program, ==, "vm");
    g_assert_cmpstr(cfg.state_dir, ==, "/s");
    g_assert_cmpstr(cfg.run_dir, ==, "/r");
    g_assert_cmpint(cfg.log_level, ==, G_LOG_LEVEL_DEBUG);
    g_assert_cmpint(cfg.restore_default, ==, MACHINE_POLICY_PREVIOUS);
    g_assert_cmpuint(cfg.cipher_suites, ==, (1u << 3) | (1u << 12));
    g_assert_cmpuint(cfg.command_timeout_ms, ==, 250);
    g_assert_cmpuint(cfg.rakp_timeout_ms, ==, 0);
    bmc_config_clear(&cfg);
}

/* Each bad string fails and the message names the culprit. */
static void
test_errors(void)
{
    static const struct {
        const char *initstr;
        const char *named;
    } cases[] = {
        {"bogus=1", "bogus"},
        {"qmp=relative/path", "qmp"},
        {"log=loud", "log"},
        {"restore=sometimes", "restore"},
        {"ciphers=0", "ciphers"},
        {"ciphers=3,17", "17"},
        {"ciphers=", "ciphers"},
        {"qmp_timeout=fast", "qmp_timeout"},
        {"qmp_timeout=5", "qmp_timeout"},
        {"rakp_timeout=500", "rakp_timeout"},
        {"rakp_timeout=-1", "rakp_timeout"},
        {"program=", "program"},
        {"novalue", "novalue"},
        {"=x", "=x"},
        {"qmp='unterminated", "split"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        BmcConfig cfg;
        g_autoptr(GError) error = NULL;

        g_assert_false(bmc_config_parse(&cfg, cases[i].initstr, &error));
        g_assert_error(error, BMC_CONFIG_ERROR, 0);
        g_assert_nonnull(strstr(error->message, cases[i].named));
        g_assert_null(strchr(error->message, '\n'));
        bmc_config_clear(&cfg);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/config/defaults", test_defaults);
    g_test_add_func("/config/all-keys", test_all_keys);
    g_test_add_func("/config/errors", test_errors);
    return g_test_run();
}
