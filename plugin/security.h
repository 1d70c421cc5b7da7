/*
 * security.h - close the holes stock ipmi_sim 2.0.33 leaves open.
 */
#pragma once

#include <glib.h>

#define BMC_SECURITY_ERROR (bmc_security_error_quark())
GQuark bmc_security_error_quark(void);

/* Layout of libIPMIlanserv's exported valid_cipher_suites[] in 2.0.33:
 * {auth, integ, conf} per suite id 0-14, then a terminator whose auth is
 * -1. */
typedef struct {
    int auth;
    int integ;
    int conf;
} LanservSuite;

/* Rewrite @table in place so that only the suite ids in @allowed (bit per
 * id) can open a session.  Refuses, leaving @table untouched, unless @table
 * holds exactly the 2.0.33 contents: a different layout must fail loudly,
 * never half-apply. */
gboolean bmc_restrict_cipher_suites(LanservSuite *table, guint allowed,
                                    GError **error);
