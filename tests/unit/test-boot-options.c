/*
 * test-boot-options.c - System Boot Options bytes: what is set reads back.
 */
#include "config.h"

#include <string.h>

#include "boot-options.h"
#include "ipmi-cmd.h"

static guint8
set(BootOptions *bo, const guint8 *req, gsize len)
{
    return boot_options_set(bo, req, len);
}

/* Get parameter @param (set/block selectors @set, 0) into @rsp. */
static guint8
get(const BootOptions *bo, guint8 param, guint8 setsel, guint8 *rsp, gsize *len)
{
    const guint8 req[] = {param, setsel, 0};

    return boot_options_get(bo, req, sizeof(req), rsp, len);
}

/* ipmitool chassis bootdev pxe options=persistent,efiboot; ipmitool
 * chassis bootparam get 5 must then see exactly these bytes. */
static void
test_flags_roundtrip(void)
{
    BootOptions bo;
    const guint8 req[] = {0x05, 0xe0, 0x04, 0x00, 0x00, 0x00};
    guint8 rsp[64];
    gsize n;

    boot_options_init(&bo);
    g_assert_cmpuint(set(&bo, req, sizeof(req)), ==, IPMI_CC_OK);
    g_assert_cmpuint(get(&bo, 5, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(n, ==, 7);
    g_assert_cmpuint(rsp[0], ==, 0x01); /* parameter version */
    g_assert_cmpuint(rsp[1], ==, 0x05); /* valid parameter 5 */
    g_assert_cmpmem(rsp + 2, 5, req + 1, 5);
    g_assert_true(boot_flags_valid(&bo));
    g_assert_true(boot_flags_persistent(&bo));
    g_assert_true(boot_flags_efi(&bo));
    g_assert_cmpint(boot_flags_device(&bo), ==, BOOT_DEVICE_PXE);

    boot_flags_clear_valid(&bo);
    g_assert_cmpuint(get(&bo, 5, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(rsp[2], ==, 0x60); /* only the valid bit went */
}

/* Ironic's UEFI sequence. */
static void
test_ironic_sequence(void)
{
    BootOptions bo;
    const guint8 clearing[] = {0x03, 0x08};
    const guint8 flags[] = {0x05, 0xa0, 0x04, 0x00, 0x00, 0x00};
    guint8 rsp[64];
    gsize n;

    boot_options_init(&bo);
    g_assert_cmpuint(set(&bo, clearing, sizeof(clearing)), ==, IPMI_CC_OK);
    g_assert_cmpuint(set(&bo, flags, sizeof(flags)), ==, IPMI_CC_OK);
    g_assert_cmpuint(bo.clearing, ==, BOOT_KEEP_PAST_60S);
    g_assert_cmpuint(get(&bo, 3, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpuint(rsp[2], ==, 0x08);
    g_assert_true(boot_flags_valid(&bo));
    g_assert_false(boot_flags_persistent(&bo));
    g_assert_true(boot_flags_efi(&bo));
}

static void
test_every_parameter(void)
{
    BootOptions bo;
    guint8 rsp[64];
    gsize n;
    const guint8 p1[] = {0x01, 0x12};
    const guint8 p2[] = {0x02, 0x03};
    const guint8 p4[] = {0x04, 0x0f, 0x05}; /* mask 0x0f, data 0x05 */
    const guint8 p6[] = {0x06, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    const guint8 p7[] = {0x07, 0x02, 0xaa, 0xbb, 0xcc};

    boot_options_init(&bo);
    g_assert_cmpuint(set(&bo, p1, sizeof(p1)), ==, IPMI_CC_OK);
    g_assert_cmpuint(set(&bo, p2, sizeof(p2)), ==, IPMI_CC_OK);
    g_assert_cmpuint(set(&bo, p4, sizeof(p4)), ==, IPMI_CC_OK);
    g_assert_cmpuint(set(&bo, p6, sizeof(p6)), ==, IPMI_CC_OK);
    g_assert_cmpuint(set(&bo, p7, sizeof(p7)), ==, IPMI_CC_OK);

    g_assert_cmpuint(get(&bo, 1, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(rsp[2], ==, 0x12);
    g_assert_cmpuint(get(&bo, 2, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(rsp[2], ==, 0x03);
    g_assert_cmpuint(get(&bo, 4, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(n, ==, 4);
    g_assert_cmpuint(rsp[3], ==, 0x05);
    g_assert_cmpuint(get(&bo, 6, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpmem(rsp + 2, n - 2, p6 + 1, sizeof(p6) - 1);
    g_assert_cmpuint(get(&bo, 7, 2, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(n, ==, 19);
    g_assert_cmpuint(rsp[2], ==, 0x02);
    g_assert_cmpmem(rsp + 3, 3, p7 + 2, 3);
    g_assert_cmpuint(rsp[6], ==, 0x00);
}

static void
test_set_in_progress(void)
{
    BootOptions bo;
    const guint8 begin[] = {0x00, 0x01};
    const guint8 done[] = {0x00, 0x00};
    const guint8 commit[] = {0x00, 0x02};
    const guint8 reserved[] = {0x00, 0x03};
    guint8 rsp[64];
    gsize n;

    boot_options_init(&bo);
    g_assert_cmpuint(set(&bo, begin, 2), ==, IPMI_CC_OK);
    g_assert_cmpuint(get(&bo, 0, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(rsp[2], ==, 0x01);
    g_assert_cmpuint(set(&bo, begin, 2), ==, 0x81); /* already in progress */
    g_assert_cmpuint(set(&bo, commit, 2), ==, IPMI_CC_OK);
    g_assert_cmpuint(get(&bo, 0, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(rsp[2], ==, 0x00);
    g_assert_cmpuint(set(&bo, begin, 2), ==, IPMI_CC_OK);
    g_assert_cmpuint(set(&bo, done, 2), ==, IPMI_CC_OK);
    g_assert_cmpuint(set(&bo, reserved, 2), ==, IPMI_CC_INVALID_DATA_FIELD);
}

static void
test_errors(void)
{
    BootOptions bo;
    const guint8 unknown[] = {0x20, 0x00};
    const guint8 oem[] = {0x60, 0x00};
    const guint8 short5[] = {0x05, 0x80, 0x04};
    const guint8 long3[] = {0x03, 0x08, 0x00};
    const guint8 block9[] = {0x07, 0x09, 0xaa};
    const guint8 get_short[] = {0x05};
    guint8 rsp[64];
    gsize n;

    boot_options_init(&bo);
    g_assert_cmpuint(set(&bo, unknown, 2), ==, 0x80);
    g_assert_cmpuint(set(&bo, oem, 2), ==, 0x80);
    g_assert_cmpuint(set(&bo, short5, 3), ==, IPMI_CC_REQ_LEN_INVALID);
    g_assert_cmpuint(set(&bo, long3, 3), ==, IPMI_CC_REQ_LEN_INVALID);
    g_assert_cmpuint(set(&bo, block9, 3), ==, IPMI_CC_PARAM_OUT_OF_RANGE);
    g_assert_cmpuint(set(&bo, NULL, 0), ==, IPMI_CC_REQ_LEN_INVALID);
    g_assert_cmpuint(get(&bo, 0x20, 0, rsp, &n), ==, 0x80);
    g_assert_cmpuint(get(&bo, 7, 9, rsp, &n), ==, IPMI_CC_PARAM_OUT_OF_RANGE);
    g_assert_cmpuint(boot_options_get(&bo, get_short, 1, rsp, &n), ==,
                     IPMI_CC_REQ_LEN_INVALID);
    /* Nothing of that reached the flags, nor the lock bits (a refused Set
     * with bit 7 once locked the parameter: found by fuzzing). */
    g_assert_false(boot_flags_valid(&bo));
    {
        const guint8 locked_bad[] = {0x83, 0x08, 0x00};
        const guint8 locked_block[] = {0x87, 0x09, 0xaa};

        g_assert_cmpuint(set(&bo, locked_bad, 3), ==, IPMI_CC_REQ_LEN_INVALID);
        g_assert_cmpuint(set(&bo, locked_block, 3), ==,
                         IPMI_CC_PARAM_OUT_OF_RANGE);
        g_assert_cmpuint(bo.locked, ==, 0);
    }
}

static void
test_locked_bit(void)
{
    BootOptions bo;
    const guint8 lock[] = {0x85, 0x80, 0x04, 0, 0, 0};
    const guint8 unlock[] = {0x05, 0x80, 0x04, 0, 0, 0};
    guint8 rsp[64];
    gsize n;

    boot_options_init(&bo);
    g_assert_cmpuint(set(&bo, lock, sizeof(lock)), ==, IPMI_CC_OK);
    g_assert_cmpuint(get(&bo, 5, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(rsp[1], ==, 0x85);
    g_assert_cmpuint(set(&bo, unlock, sizeof(unlock)), ==, IPMI_CC_OK);
    g_assert_cmpuint(get(&bo, 5, 0, rsp, &n), ==, IPMI_CC_OK);
    g_assert_cmpuint(rsp[1], ==, 0x05);
}

static void
test_persistence(void)
{
    BootOptions a, b;
    const guint8 flags[] = {0x05, 0xc0, 0x14, 0x01, 0x02, 0x03};
    const guint8 p7[] = {0x07, 0x04, 0x01, 0x02};
    const guint8 p3[] = {0x03, 0x1f};
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *text = NULL;
    g_autoptr(GKeyFile) kf2 = g_key_file_new();

    boot_options_init(&a);
    g_assert_cmpuint(set(&a, flags, sizeof(flags)), ==, IPMI_CC_OK);
    g_assert_cmpuint(set(&a, p7, sizeof(p7)), ==, IPMI_CC_OK);
    g_assert_cmpuint(set(&a, p3, sizeof(p3)), ==, IPMI_CC_OK);
    boot_options_save(&a, kf, "boot-options");
    text = g_key_file_to_data(kf, NULL, NULL);
    g_assert_true(g_key_file_load_from_data(kf2, text, -1, 0, NULL));
    boot_options_init(&b);
    boot_options_load(&b, kf2, "boot-options");
    g_assert_cmpmem(&a, sizeof(a), &b, sizeof(b));

    /* A damaged value is ignored, not half-read. */
    g_key_file_set_string(kf2, "boot-options", "boot-flags", "c0zz");
    boot_options_init(&b);
    boot_options_load(&b, kf2, "boot-options");
    g_assert_false(boot_flags_valid(&b));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/boot-options/flags-roundtrip", test_flags_roundtrip);
    g_test_add_func("/boot-options/ironic-sequence", test_ironic_sequence);
    g_test_add_func("/boot-options/every-parameter", test_every_parameter);
    g_test_add_func("/boot-options/set-in-progress", test_set_in_progress);
    g_test_add_func("/boot-options/errors", test_errors);
    g_test_add_func("/boot-options/locked-bit", test_locked_bit);
    g_test_add_func("/boot-options/persistence", test_persistence);
    return g_test_run();
}
