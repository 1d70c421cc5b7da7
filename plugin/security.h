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

/* RAKP message 1 (IPMI 2.0 section 13.20), as the payload handler sees it:
 * byte 24 is the requested role (bits 3:0 the privilege, bit 4 "name-only
 * lookup"), byte 27 the user name's length, the name from byte 28. */
#define BMC_RAKP1_ROLE     24
#define BMC_RAKP1_NAME_LEN 27
#define BMC_RAKP1_NAME     28

/* The privilege limit (IPMI 1-4) of the account named @name (16 bytes,
 * NUL padded), or 0 if there is no such account. */
typedef guint (*BmcUserPrivilegeFunc)(const guint8 *name, gpointer data);

/* ipmi_sim 2.0.33 opens an RMCP+ session at whatever privilege RAKP 1 asks
 * for, never capped at the account's limit: a USER account asking for
 * ADMINISTRATOR gets it.  When @payload asks for more than its account may
 * have, turn the request into one the stock handler refuses (an invalid
 * privilege: it answers "illegal parameter" and closes the session) and
 * return TRUE; else leave it alone and return FALSE. */
gboolean bmc_rakp1_limit_role(guint8 *payload, gsize len,
                              BmcUserPrivilegeFunc privilege_of, gpointer data);
