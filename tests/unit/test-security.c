/*
 * test-security.c - the cipher suite table rewrite.
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

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/security/default-secure-set", test_default_secure_set);
    g_test_add_func("/security/refuses-unknown-layout",
                    test_refuses_unknown_layout);
    g_test_add_func("/security/refuses-longer-table",
                    test_refuses_longer_table);
    return g_test_run();
}
