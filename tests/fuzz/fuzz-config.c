/*
 * fuzz-config.c - the plugin's init string (ipmi_sim's loadlib line) through
 * bmc_config_parse().  Whatever it accepts must be a configuration the
 * plugin can run with; whatever it refuses must say why.
 */
#include "config.h"

#include "bmc-config.h"
#include "fuzz-common.h"

#define SECURE_SUITES ((1u << 3) | (1u << 8) | (1u << 12))

static void
check_config(const BmcConfig *cfg)
{
    const char *const paths[] = {cfg->qmp_socket, cfg->supervisor_socket,
                                 cfg->state_dir, cfg->run_dir};

    for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
        FUZZ_CHECK(paths[i] != NULL && paths[i][0] == '/');
    }
    FUZZ_CHECK(cfg->program != NULL && cfg->program[0] != '\0');
    FUZZ_CHECK(strpbrk(cfg->program, " \t:<>&") == NULL);

    /* security.c refuses an empty set later, but with a message that does
     * not name the init string's key: the parser should refuse it. */
    if (cfg->cipher_suites == 0) {
        fuzz_fail("config-empty-ciphers",
                  "bmc_config_parse accepted an empty cipher suite set");
    }
    FUZZ_CHECK((cfg->cipher_suites & ~SECURE_SUITES) == 0);

    FUZZ_CHECK(cfg->log_level == G_LOG_LEVEL_WARNING ||
               cfg->log_level == G_LOG_LEVEL_INFO ||
               cfg->log_level == G_LOG_LEVEL_DEBUG);
    FUZZ_CHECK(cfg->restore_default == MACHINE_POLICY_ALWAYS_OFF ||
               cfg->restore_default == MACHINE_POLICY_PREVIOUS ||
               cfg->restore_default == MACHINE_POLICY_ALWAYS_ON);
    FUZZ_CHECK(cfg->boot_default == BOOT_ORDER_DISK ||
               cfg->boot_default == BOOT_ORDER_CDROM ||
               cfg->boot_default == BOOT_ORDER_NETWORK);
    FUZZ_CHECK(cfg->uefi == TRUE || cfg->uefi == FALSE);
    FUZZ_CHECK(cfg->command_timeout_ms >= 100 &&
               cfg->command_timeout_ms <= 600000);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_common_init();
    return 0;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    /* ipmi_sim hands over a C string: stop at the first NUL, as it would,
     * in a buffer of exactly that size. */
    gsize len = strnlen((const char *)data, size);
    g_autofree char *initstr = malloc(len + 1);
    g_autoptr(GError) error = NULL;
    BmcConfig cfg;
    gboolean ok;

    memcpy(initstr, data, len);
    initstr[len] = '\0';

    ok = bmc_config_parse(&cfg, initstr, &error);
    if (ok) {
        FUZZ_CHECK(error == NULL);
        check_config(&cfg);
    } else {
        FUZZ_CHECK(error != NULL);
        FUZZ_CHECK(error->domain == BMC_CONFIG_ERROR);
        FUZZ_CHECK(error->message[0] != '\0');
    }
    bmc_config_clear(&cfg);
    /* Clearing twice is what an init failure path may do. */
    bmc_config_clear(&cfg);
    return 0;
}
