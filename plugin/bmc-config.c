/*
 * bmc-config.c - parse the plugin's init string.
 */
#include "config.h"

#include <string.h>

#include "bmc-config.h"

G_DEFINE_QUARK(qemu_bmc_config_error, bmc_config_error)

/* Suites whose authentication, integrity and confidentiality are all on and
 * whose cipher is AES-128: 3 (HMAC-SHA1), 8 (HMAC-MD5), 12 (MD5).  Only 3 is
 * on by default: with ipmi_sim 2.0.33, ipmitool cannot complete a session on
 * 8 (Set Session Privilege fails) nor on 12 (an assertion in lanplus.c), so
 * they stay opt-in rather than untested attack surface. */
#define SECURE_SUITES  ((1u << 3) | (1u << 8) | (1u << 12))
#define DEFAULT_SUITES (1u << 3)

static void
set_defaults(BmcConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->qmp_socket = g_strdup("/run/qemu-bmc/qmp.sock");
    cfg->supervisor_socket = g_strdup("/run/qemu-bmc/supervisor.sock");
    cfg->program = g_strdup("qemu");
    cfg->state_dir = g_strdup("/var/lib/qemu-bmc");
    cfg->run_dir = g_strdup("/run/qemu-bmc");
    cfg->log_level = G_LOG_LEVEL_INFO;
    cfg->restore_default = MACHINE_POLICY_ALWAYS_OFF;
    cfg->cipher_suites = DEFAULT_SUITES;
    cfg->command_timeout_ms = 5000;
    cfg->rakp_timeout_ms = 3000;
}

void
bmc_config_clear(BmcConfig *cfg)
{
    g_clear_pointer(&cfg->qmp_socket, g_free);
    g_clear_pointer(&cfg->supervisor_socket, g_free);
    g_clear_pointer(&cfg->program, g_free);
    g_clear_pointer(&cfg->state_dir, g_free);
    g_clear_pointer(&cfg->run_dir, g_free);
}

static gboolean
parse_path(char **dst, const char *key, const char *value, GError **error)
{
    if (value[0] != '/') {
        g_set_error(error, BMC_CONFIG_ERROR, 0,
                    "%s=%s: an absolute path is required", key, value);
        return FALSE;
    }
    g_free(*dst);
    *dst = g_strdup(value);
    return TRUE;
}

static gboolean
parse_log_level(BmcConfig *cfg, const char *value, GError **error)
{
    static const struct {
        const char *name;
        GLogLevelFlags level;
    } levels[] = {
        {"error", G_LOG_LEVEL_WARNING}, /* errors are always shown */
        {"warning", G_LOG_LEVEL_WARNING},
        {"info", G_LOG_LEVEL_INFO},
        {"debug", G_LOG_LEVEL_DEBUG},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(levels); i++) {
        if (g_str_equal(value, levels[i].name)) {
            cfg->log_level = levels[i].level;
            return TRUE;
        }
    }
    g_set_error(error, BMC_CONFIG_ERROR, 0,
                "log=%s: expected error, warning, info or debug", value);
    return FALSE;
}

static gboolean
parse_ciphers(BmcConfig *cfg, const char *value, GError **error)
{
    g_auto(GStrv) ids = g_strsplit(value, ",", -1);
    guint mask = 0;

    if (!*value) {
        g_set_error(error, BMC_CONFIG_ERROR, 0,
                    "ciphers=: name at least one of 3, 8, 12");
        return FALSE;
    }

    for (char **id = ids; *id; id++) {
        guint64 n;

        if (!g_ascii_string_to_unsigned(*id, 10, 0, 31, &n, NULL) ||
            !(SECURE_SUITES & (1u << n))) {
            g_set_error(error, BMC_CONFIG_ERROR, 0,
                        "ciphers=%s: '%s' is not one of the secure suites "
                        "3, 8, 12",
                        value, *id);
            return FALSE;
        }
        mask |= 1u << n;
    }
    cfg->cipher_suites = mask;
    return TRUE;
}

static gboolean
apply(BmcConfig *cfg, const char *key, const char *value, GError **error)
{
    if (g_str_equal(key, "qmp")) {
        return parse_path(&cfg->qmp_socket, key, value, error);
    } else if (g_str_equal(key, "supervisor")) {
        return parse_path(&cfg->supervisor_socket, key, value, error);
    } else if (g_str_equal(key, "state")) {
        return parse_path(&cfg->state_dir, key, value, error);
    } else if (g_str_equal(key, "run")) {
        return parse_path(&cfg->run_dir, key, value, error);
    } else if (g_str_equal(key, "program")) {
        if (!*value || strpbrk(value, " \t:<>&")) {
            g_set_error(error, BMC_CONFIG_ERROR, 0,
                        "program=%s: not a supervisord program name", value);
            return FALSE;
        }
        g_free(cfg->program);
        cfg->program = g_strdup(value);
        return TRUE;
    } else if (g_str_equal(key, "log")) {
        return parse_log_level(cfg, value, error);
    } else if (g_str_equal(key, "restore")) {
        if (!machine_policy_from_string(value, &cfg->restore_default)) {
            g_set_error(error, BMC_CONFIG_ERROR, 0,
                        "restore=%s: expected always-off, previous or "
                        "always-on",
                        value);
            return FALSE;
        }
        return TRUE;
    } else if (g_str_equal(key, "boot")) {
        static const char *const names[] = {
            [BOOT_ORDER_DISK] = "disk",
            [BOOT_ORDER_CDROM] = "cdrom",
            [BOOT_ORDER_NETWORK] = "network",
        };
        for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
            if (g_str_equal(value, names[i])) {
                cfg->boot_default = (BootOrder)i;
                return TRUE;
            }
        }
        g_set_error(error, BMC_CONFIG_ERROR, 0,
                    "boot=%s: expected disk, cdrom or network", value);
        return FALSE;
    } else if (g_str_equal(key, "firmware")) {
        if (!g_str_equal(value, "bios") && !g_str_equal(value, "uefi")) {
            g_set_error(error, BMC_CONFIG_ERROR, 0,
                        "firmware=%s: expected bios or uefi", value);
            return FALSE;
        }
        cfg->uefi = g_str_equal(value, "uefi");
        return TRUE;
    } else if (g_str_equal(key, "ciphers")) {
        return parse_ciphers(cfg, value, error);
    } else if (g_str_equal(key, "qmp_timeout")) {
        guint64 ms;
        if (!g_ascii_string_to_unsigned(value, 10, 100, 600000, &ms, NULL)) {
            g_set_error(error, BMC_CONFIG_ERROR, 0,
                        "qmp_timeout=%s: expected milliseconds, 100-600000",
                        value);
            return FALSE;
        }
        cfg->command_timeout_ms = (guint)ms;
        return TRUE;
    } else if (g_str_equal(key, "rakp_timeout")) {
        guint64 ms;
        if (!g_ascii_string_to_unsigned(value, 10, 0, 600000, &ms, NULL) ||
            (ms > 0 && ms < 1000)) {
            g_set_error(error, BMC_CONFIG_ERROR, 0,
                        "rakp_timeout=%s: expected milliseconds, 0 (off) or "
                        "1000-600000",
                        value);
            return FALSE;
        }
        cfg->rakp_timeout_ms = (guint)ms;
        return TRUE;
    }
    g_set_error(error, BMC_CONFIG_ERROR, 0, "unknown key '%s'", key);
    return FALSE;
}

gboolean
bmc_config_parse(BmcConfig *cfg, const char *initstr, GError **error)
{
    g_auto(GStrv) words = NULL;
    g_autoptr(GError) local = NULL;
    int n = 0;

    set_defaults(cfg);
    if (!initstr || !*initstr || strspn(initstr, " \t") == strlen(initstr)) {
        return TRUE;
    }
    if (!g_shell_parse_argv(initstr, &n, &words, &local)) {
        g_set_error(error, BMC_CONFIG_ERROR, 0, "cannot split '%s': %s",
                    initstr, local->message);
        return FALSE;
    }
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(words[i], '=');
        g_autofree char *key = NULL;

        if (!eq || eq == words[i]) {
            g_set_error(error, BMC_CONFIG_ERROR, 0,
                        "'%s' is not of the form key=value", words[i]);
            return FALSE;
        }
        key = g_strndup(words[i], eq - words[i]);
        if (!apply(cfg, key, eq + 1, error)) {
            return FALSE;
        }
    }
    return TRUE;
}
