/*
 * bmc-config.h - the plugin's init string: "key=value key=value ...".
 *
 * Given on ipmi_sim's loadlib line.  Every key has a default; an unknown key
 * or a bad value is an error that names it, so a typo never silently falls
 * back to a default.
 */
#pragma once

#include <glib.h>

#include "machine.h"

typedef struct {
    char *qmp_socket;              /* qmp= */
    char *supervisor_socket;       /* supervisor= */
    char *program;                 /* program= (supervisord program name) */
    char *state_dir;               /* state= */
    char *run_dir;                 /* run= */
    GLogLevelFlags log_level;      /* log=error|warning|info|debug */
    MachinePolicy restore_default; /* restore=always-off|previous|always-on */
    BootOrder boot_default;        /* boot=disk|cdrom|network */
    gboolean uefi;                 /* firmware=bios|uefi */
    guint cipher_suites;           /* ciphers=3,8,12: bit per suite id */
    guint command_timeout_ms;      /* qmp_timeout=MS */
    guint rakp_timeout_ms;         /* rakp_timeout=MS, 0: no session guard */
} BmcConfig;

#define BMC_CONFIG_ERROR (bmc_config_error_quark())
GQuark bmc_config_error_quark(void);

/* Fills @cfg with defaults, then applies @initstr (may be NULL). */
gboolean bmc_config_parse(BmcConfig *cfg, const char *initstr, GError **error);
void bmc_config_clear(BmcConfig *cfg);
