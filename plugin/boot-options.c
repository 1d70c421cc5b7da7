/*
 * boot-options.c - System Boot Options parameters as bytes.
 *
 * Stock ipmi_sim keeps only the device selector of parameter 5, always
 * reads it back as "invalid" and refuses parameter 0: provisioning systems
 * then cannot tell whether their override is in place.  Here every
 * parameter of IPMI 2.0 table 28-14 up to 7 is kept as sent.
 */
#include "config.h"

#include <string.h>

#include "boot-options.h"
#include "ipmi-cmd.h"

/* Completion codes specific to the boot options commands. */
#define CC_PARAM_NOT_SUPPORTED 0x80
#define CC_SET_IN_PROGRESS     0x81
#define CC_READ_ONLY           0x82

void
boot_options_init(BootOptions *bo)
{
    memset(bo, 0, sizeof(*bo));
}

/* Data length of each parameter, as set and as read. */
static gsize
param_len(guint8 param)
{
    static const gsize lens[BOOT_PARAM_COUNT] = {1, 1, 1, 1, 2, 5, 9, 17};

    return param < BOOT_PARAM_COUNT ? lens[param] : 0;
}

guint8
boot_options_set(BootOptions *bo, const guint8 *req, gsize len)
{
    guint8 param;
    const guint8 *data;
    gsize n;

    if (len < 1) {
        return IPMI_CC_REQ_LEN_INVALID;
    }
    param = req[0] & 0x7f;
    data = req + 1;
    n = len - 1;
    if (param >= BOOT_PARAM_COUNT) {
        return CC_PARAM_NOT_SUPPORTED;
    }
    /* Parameter 7 may be shorter: a block selector and up to 16 bytes. */
    if (param == 7 ? (n < 2 || n > 17) : n != param_len(param)) {
        return IPMI_CC_REQ_LEN_INVALID;
    }
    switch (param) {
    case BOOT_PARAM_SET_IN_PROGRESS: {
        guint8 state = data[0] & 0x03;

        if (state == 0x03) {
            return IPMI_CC_INVALID_DATA_FIELD;
        }
        if (state == 0x01 && bo->set_in_progress == 0x01) {
            return CC_SET_IN_PROGRESS;
        }
        /* Commit write (2) applies at once here: there is no staging. */
        bo->set_in_progress = state == 0x01 ? 0x01 : 0x00;
        break;
    }
    case 1:
        bo->service_partition = data[0];
        break;
    case 2:
        bo->service_scan = data[0];
        break;
    case BOOT_PARAM_CLEARING:
        bo->clearing = data[0] & 0x1f;
        break;
    case BOOT_PARAM_ACK:
        /* Only the bits the write mask names change. */
        bo->ack[1] = (guint8)((bo->ack[1] & ~data[0]) | (data[1] & data[0]));
        break;
    case BOOT_PARAM_FLAGS:
        memcpy(bo->flags, data, sizeof(bo->flags));
        break;
    case 6:
        memcpy(bo->initiator, data, sizeof(bo->initiator));
        break;
    case 7:
        if (data[0] >= BOOT_MAILBOX_BLOCKS) {
            return IPMI_CC_PARAM_OUT_OF_RANGE;
        }
        memset(bo->mailbox[data[0]], 0, 16);
        memcpy(bo->mailbox[data[0]], data + 1, n - 1);
        break;
    default:
        return CC_PARAM_NOT_SUPPORTED;
    }
    /* Bit 7 of the selector marks the parameter invalid/locked; only an
     * accepted Set changes it. */
    if (req[0] & 0x80) {
        bo->locked |= (guint8)(1u << param);
    } else {
        bo->locked &= (guint8) ~(1u << param);
    }
    return IPMI_CC_OK;
}

guint8
boot_options_get(const BootOptions *bo, const guint8 *req, gsize len,
                 guint8 *rsp, gsize *rsp_len)
{
    guint8 param;
    guint8 *data = rsp + 2;

    if (len < 3) {
        return IPMI_CC_REQ_LEN_INVALID;
    }
    param = req[0] & 0x7f;
    if (param >= BOOT_PARAM_COUNT) {
        return CC_PARAM_NOT_SUPPORTED;
    }
    rsp[0] = 0x01; /* parameter version */
    rsp[1] = param | ((bo->locked & (1u << param)) ? 0x80 : 0x00);
    switch (param) {
    case BOOT_PARAM_SET_IN_PROGRESS:
        data[0] = bo->set_in_progress;
        break;
    case 1:
        data[0] = bo->service_partition;
        break;
    case 2:
        data[0] = bo->service_scan;
        break;
    case BOOT_PARAM_CLEARING:
        data[0] = bo->clearing;
        break;
    case BOOT_PARAM_ACK:
        data[0] = 0x00; /* the write mask reads as 0 */
        data[1] = bo->ack[1];
        break;
    case BOOT_PARAM_FLAGS:
        memcpy(data, bo->flags, sizeof(bo->flags));
        break;
    case 6:
        memcpy(data, bo->initiator, sizeof(bo->initiator));
        break;
    case 7:
        /* The set selector (request byte 2) is the block number. */
        if (req[1] >= BOOT_MAILBOX_BLOCKS) {
            return IPMI_CC_PARAM_OUT_OF_RANGE;
        }
        data[0] = req[1];
        memcpy(data + 1, bo->mailbox[req[1]], 16);
        break;
    default:
        return CC_PARAM_NOT_SUPPORTED;
    }
    *rsp_len = 2 + param_len(param);
    return IPMI_CC_OK;
}

gboolean
boot_flags_valid(const BootOptions *bo)
{
    return (bo->flags[0] & 0x80) != 0;
}

gboolean
boot_flags_persistent(const BootOptions *bo)
{
    return (bo->flags[0] & 0x40) != 0;
}

gboolean
boot_flags_efi(const BootOptions *bo)
{
    return (bo->flags[0] & 0x20) != 0;
}

BootDevice
boot_flags_device(const BootOptions *bo)
{
    return (BootDevice)((bo->flags[1] >> 2) & 0x0f);
}

void
boot_flags_clear_valid(BootOptions *bo)
{
    bo->flags[0] &= (guint8)~0x80;
}

static void
save_bytes(GKeyFile *kf, const char *group, const char *key,
           const guint8 *bytes, gsize n)
{
    g_autofree char *hex = g_malloc0(n * 2 + 1);

    for (gsize i = 0; i < n; i++) {
        g_snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    }
    g_key_file_set_string(kf, group, key, hex);
}

/* A missing or malformed value leaves @bytes as they are. */
static void
load_bytes(GKeyFile *kf, const char *group, const char *key, guint8 *bytes,
           gsize n)
{
    g_autofree char *hex = g_key_file_get_string(kf, group, key, NULL);
    guint8 tmp[BOOT_MAILBOX_BLOCKS * 16];

    if (!hex || strlen(hex) != n * 2 || n > sizeof(tmp)) {
        return;
    }
    for (gsize i = 0; i < n; i++) {
        int hi = g_ascii_xdigit_value(hex[2 * i]);
        int lo = g_ascii_xdigit_value(hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return;
        }
        tmp[i] = (guint8)(hi << 4 | lo);
    }
    memcpy(bytes, tmp, n);
}

/* Parameter 0 (set in progress) is volatile, as the spec has it. */
#define FIELDS(X)                                                              \
    X("service-partition", &bo->service_partition, 1)                          \
    X("service-scan", &bo->service_scan, 1)                                    \
    X("valid-bit-clearing", &bo->clearing, 1)                                  \
    X("boot-info-ack", &bo->ack[1], 1)                                         \
    X("boot-flags", bo->flags, sizeof(bo->flags))                              \
    X("boot-initiator", bo->initiator, sizeof(bo->initiator))                  \
    X("boot-mailbox", &bo->mailbox[0][0], sizeof(bo->mailbox))                 \
    X("locked", &bo->locked, 1)

void
boot_options_save(const BootOptions *bo, GKeyFile *kf, const char *group)
{
#define SAVE(key, ptr, n) save_bytes(kf, group, key, ptr, n);
    FIELDS(SAVE)
#undef SAVE
}

void
boot_options_load(BootOptions *bo, GKeyFile *kf, const char *group)
{
#define LOAD(key, ptr, n) load_bytes(kf, group, key, ptr, n);
    FIELDS(LOAD)
#undef LOAD
}
