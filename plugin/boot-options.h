/*
 * boot-options.h - the System Boot Options parameters (IPMI 2.0 28.12/28.13),
 * stored verbatim, with no I/O.
 *
 * What a client sets is what it reads back, valid bit included.  The
 * machine (machine.c) decides when a boot consumes the flags; this file only
 * knows the bytes and the rules that are about bytes.
 */
#pragma once

#include <glib.h>

/* Parameter 5, data byte 2, bits 5:2. */
typedef enum {
    BOOT_DEVICE_NONE = 0x0,
    BOOT_DEVICE_PXE = 0x1,
    BOOT_DEVICE_DISK = 0x2,
    BOOT_DEVICE_DISK_SAFE = 0x3,
    BOOT_DEVICE_DIAG = 0x4,
    BOOT_DEVICE_CDROM = 0x5,
    BOOT_DEVICE_SETUP = 0x6,
    BOOT_DEVICE_REMOTE_FLOPPY = 0x7,
    BOOT_DEVICE_REMOTE_CDROM = 0x8,
    BOOT_DEVICE_PRIMARY_REMOTE = 0x9,
    BOOT_DEVICE_REMOTE_DISK = 0xb,
    BOOT_DEVICE_FLOPPY = 0xf,
} BootDevice;

#define BOOT_PARAM_SET_IN_PROGRESS 0
#define BOOT_PARAM_CLEARING        3
#define BOOT_PARAM_ACK             4
#define BOOT_PARAM_FLAGS           5
#define BOOT_PARAM_COUNT           8

/* Parameter 3 bits: "do not clear the valid bit when ..." */
#define BOOT_KEEP_ON_POWER_BUTTON 0x01
#define BOOT_KEEP_ON_SOFT_RESET   0x02
#define BOOT_KEEP_ON_WATCHDOG     0x04
#define BOOT_KEEP_PAST_60S        0x08
#define BOOT_KEEP_ON_PEF          0x10

#define BOOT_MAILBOX_BLOCKS 5 /* 80 bytes, the spec's minimum */

typedef struct {
    guint8 set_in_progress;   /* 0: bits 1:0 */
    guint8 service_partition; /* 1 */
    guint8 service_scan;      /* 2 */
    guint8 clearing;          /* 3 */
    guint8 ack[2];            /* 4: write mask (not kept), data */
    guint8 flags[5];          /* 5 */
    guint8 initiator[9];      /* 6 */
    guint8 mailbox[BOOT_MAILBOX_BLOCKS][16]; /* 7 */
    guint8 locked; /* bit per parameter 0-7: "marked invalid" */
} BootOptions;

void boot_options_init(BootOptions *bo);

/* Set System Boot Options: @req is the request data (selector byte first).
 * Returns the completion code. */
guint8 boot_options_set(BootOptions *bo, const guint8 *req, gsize len);
/* Get System Boot Options: @req is the request data; @rsp receives the
 * reply after the completion code (version, selector, data).  Returns the
 * completion code. */
guint8 boot_options_get(const BootOptions *bo, const guint8 *req, gsize len,
                        guint8 *rsp, gsize *rsp_len);

gboolean boot_flags_valid(const BootOptions *bo);
gboolean boot_flags_persistent(const BootOptions *bo);
gboolean boot_flags_efi(const BootOptions *bo);
BootDevice boot_flags_device(const BootOptions *bo);
void boot_flags_clear_valid(BootOptions *bo);

/* Persistence as one hex string per parameter in @group. */
void boot_options_save(const BootOptions *bo, GKeyFile *kf, const char *group);
void boot_options_load(BootOptions *bo, GKeyFile *kf, const char *group);
