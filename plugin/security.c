/*
 * security.c - restrict RMCP+ to cipher suites with confidentiality, and
 * sessions to their account's privilege.
 *
 * ipmi_sim 2.0.33 accepts cipher suite 0 (no authentication) with any
 * password for a valid user name, and its per-suite privilege limits index
 * by the requested privilege instead of the suite, so configuration cannot
 * fix it.  The Open Session handler accepts a suite only if its algorithm
 * triple is in valid_cipher_suites[], which libIPMIlanserv exports from
 * writable data: dropping the weak triples there is the one lever we have.
 */
#include "config.h"

#include <string.h>

#include "security.h"

G_DEFINE_QUARK(qemu_bmc_security_error, bmc_security_error)

/* Suite id -> {auth, integ, conf}, as in IPMI 2.0 table 22-20. */
static const LanservSuite expected[] = {
    {0, 0, 0}, {1, 0, 0}, {1, 1, 0}, {1, 1, 1}, {1, 1, 2},
    {1, 1, 3}, {2, 0, 0}, {2, 2, 0}, {2, 2, 1}, {2, 2, 2},
    {2, 2, 3}, {2, 3, 0}, {2, 3, 1}, {2, 3, 2}, {2, 3, 3},
};

gboolean
bmc_restrict_cipher_suites(LanservSuite *table, guint allowed, GError **error)
{
    gsize n = G_N_ELEMENTS(expected);
    gsize out = 0;

    for (gsize i = 0; i < n; i++) {
        if (table[i].auth != expected[i].auth ||
            table[i].integ != expected[i].integ ||
            table[i].conf != expected[i].conf) {
            g_set_error(error, BMC_SECURITY_ERROR, 0,
                        "libIPMIlanserv's cipher suite table differs from "
                        "OpenIPMI 2.0.33's at entry %zu; refusing to run "
                        "with cipher suite 0 open",
                        i);
            return FALSE;
        }
    }
    if (table[n].auth != -1) {
        g_set_error(error, BMC_SECURITY_ERROR, 0,
                    "libIPMIlanserv's cipher suite table is longer than "
                    "OpenIPMI 2.0.33's; refusing to run");
        return FALSE;
    }
    if (allowed == 0) {
        g_set_error(error, BMC_SECURITY_ERROR, 0, "no cipher suite allowed");
        return FALSE;
    }
    for (gsize i = 0; i < n; i++) {
        if (allowed & (1u << i)) {
            table[out++] = expected[i];
        }
    }
    /* The lookup stops at the first entry whose auth is -1. */
    for (gsize i = out; i <= n; i++) {
        table[i] = (LanservSuite){-1, -1, -1};
    }
    return TRUE;
}

gboolean
bmc_rakp1_limit_role(guint8 *payload, gsize len,
                     BmcUserPrivilegeFunc privilege_of, gpointer data)
{
    guint8 name[16] = {0};
    guint8 name_len;
    guint asked;
    guint limit;

    /* Malformed requests are the stock handler's to refuse. */
    if (len < BMC_RAKP1_NAME) {
        return FALSE;
    }
    name_len = payload[BMC_RAKP1_NAME_LEN];
    if (name_len > sizeof(name) || BMC_RAKP1_NAME + (gsize)name_len > len) {
        return FALSE;
    }
    memcpy(name, payload + BMC_RAKP1_NAME, name_len);
    asked = payload[BMC_RAKP1_ROLE] & 0x0f;
    limit = privilege_of(name, data);
    if (limit == 0 || asked <= limit) {
        return FALSE; /* no such user (refused anyway), or allowed */
    }
    payload[BMC_RAKP1_ROLE] |= 0x0f;
    return TRUE;
}
