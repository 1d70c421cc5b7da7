/*
 * test-security.c - the cipher suite table rewrite and the RAKP 1 role
 * check.
 */
#include "config.h"

#include <string.h>

#include "security.h"

/* OpenIPMI 2.0.33's table, terminator included ({-1, -1. -1} there reads
 * as {-1, -2, 0}). */
static const LanservSuite stock[] = {
    {0, 0, 0}, {1, 0, 0}, {1, 1, 0}, {1, 1, 1},   {1, 1, 2}, {1, 1, 3},
    {2, 0, 0}, {2, 2, 0}, {2, 2, 1}, {2, 2, 2},   {2, 2, 3}, {2, 3, 0},
    {2, 3, 1}, {2, 3, 2}, {2, 3, 3}, {-1, -2, 0},
};

/* The lookup ipmi_sim's Open Session handler performs. */
static gboolean
accepted(const LanservSuite *t, int auth, int integ, int conf)
{
    for (gsize i = 0; t[i].auth != -1; i++) {
        if (t[i].auth == auth && t[i].integ == integ && t[i].conf == conf) {
            return TRUE;
        }
    }
    return FALSE;
}

static void
test_default_secure_set(void)
{
    LanservSuite t[G_N_ELEMENTS(stock)];
    g_autoptr(GError) error = NULL;
    guint allowed = (1u << 3) | (1u << 8) | (1u << 12);

    memcpy(t, stock, sizeof(t));
    g_assert_true(bmc_restrict_cipher_suites(t, allowed, &error));
    g_assert_no_error(error);
    for (gsize id = 0; id < G_N_ELEMENTS(stock) - 1; id++) {
        g_assert_cmpint(
            accepted(t, stock[id].auth, stock[id].integ, stock[id].conf), ==,
            !!(allowed & (1u << id)));
    }
    g_assert_false(accepted(t, 0, 0, 0)); /* suite 0 */
}

static void
test_refuses_unknown_layout(void)
{
    LanservSuite t[G_N_ELEMENTS(stock)];
    LanservSuite before[G_N_ELEMENTS(stock)];
    g_autoptr(GError) error = NULL;

    memcpy(t, stock, sizeof(t));
    t[5].conf = 1;
    memcpy(before, t, sizeof(t));
    g_assert_false(bmc_restrict_cipher_suites(t, 1u << 3, &error));
    g_assert_error(error, BMC_SECURITY_ERROR, 0);
    g_assert_cmpmem(t, sizeof(t), before, sizeof(before));
}

static void
test_refuses_longer_table(void)
{
    LanservSuite t[G_N_ELEMENTS(stock) + 1];
    g_autoptr(GError) error = NULL;

    memcpy(t, stock, sizeof(stock));
    t[15] = (LanservSuite){3, 0, 0};
    t[16] = (LanservSuite){-1, -1, -1};
    g_assert_false(bmc_restrict_cipher_suites(t, 1u << 3, &error));
    g_assert_error(error, BMC_SECURITY_ERROR, 0);
}

/* Accounts as in the node's lan.conf: admin (ADMINISTRATOR), viewer
 * (USER). */
static guint
privilege_of(const guint8 *name, gpointer data)
{
    if (memcmp(name, "admin\0\0\0\0\0\0\0\0\0\0\0", 16) == 0) {
        return 4;
    }
    if (memcmp(name, "viewer\0\0\0\0\0\0\0\0\0\0", 16) == 0) {
        return 2;
    }
    return 0;
}

/* A RAKP 1 payload for @name asking for @role (name-only lookup bit set,
 * as ipmitool sends it); returns its length. */
static gsize
rakp1(guint8 *buf, const char *name, guint8 role)
{
    gsize n = strlen(name);

    memset(buf, 0x5a, BMC_RAKP1_NAME);
    buf[BMC_RAKP1_ROLE] = 0x10 | role;
    buf[BMC_RAKP1_NAME_LEN] = (guint8)n;
    memcpy(buf + BMC_RAKP1_NAME, name, n);
    return BMC_RAKP1_NAME + n;
}

static void
test_rakp1_role(void)
{
    static const struct {
        const char *name;
        guint8 role;
        gboolean refused;
    } cases[] = {
        {"admin", 4, FALSE},  {"admin", 2, FALSE}, {"viewer", 2, FALSE},
        {"viewer", 1, FALSE}, {"viewer", 3, TRUE}, {"viewer", 4, TRUE},
        {"nobody", 4, FALSE}, /* no such account: the stock handler says so */
        {"", 4, FALSE},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        guint8 buf[64];
        guint8 before[64];
        gsize len = rakp1(buf, cases[i].name, cases[i].role);

        memcpy(before, buf, sizeof(buf));
        g_assert_cmpint(bmc_rakp1_limit_role(buf, len, privilege_of, NULL), ==,
                        cases[i].refused);
        if (cases[i].refused) {
            /* An invalid privilege (> 4), the lookup bit kept. */
            g_assert_cmphex(buf[BMC_RAKP1_ROLE], ==, 0x1f);
            buf[BMC_RAKP1_ROLE] = before[BMC_RAKP1_ROLE];
        }
        g_assert_cmpmem(buf, sizeof(buf), before, sizeof(before));
    }
}

static void
test_rakp1_malformed(void)
{
    guint8 buf[64];
    gsize len = rakp1(buf, "viewer", 4);

    /* Too short, a name longer than 16 or than the message: untouched. */
    g_assert_false(
        bmc_rakp1_limit_role(buf, BMC_RAKP1_NAME - 1, privilege_of, NULL));
    g_assert_false(bmc_rakp1_limit_role(buf, len - 1, privilege_of, NULL));
    buf[BMC_RAKP1_NAME_LEN] = 17;
    g_assert_false(bmc_rakp1_limit_role(buf, sizeof(buf), privilege_of, NULL));
    g_assert_cmphex(buf[BMC_RAKP1_ROLE], ==, 0x14);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/security/default-secure-set", test_default_secure_set);
    g_test_add_func("/security/refuses-unknown-layout",
                    test_refuses_unknown_layout);
    g_test_add_func("/security/refuses-longer-table",
                    test_refuses_longer_table);
    g_test_add_func("/security/rakp1-role", test_rakp1_role);
    g_test_add_func("/security/rakp1-malformed", test_rakp1_malformed);
    return g_test_run();
}
