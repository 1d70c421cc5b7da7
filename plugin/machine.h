/*
 * machine.h - the one owner of the machine's state.
 *
 * Power is the QEMU process: it is on while QEMU lives (paused counts as
 * on).  The machine learns that from two peers, never by blocking on them:
 * the QMP link (READY means a live QEMU; EOF means it is gone) and
 * supervisord (the `qemu` program's state, polled, and asked to start and
 * stop it).  Every request answers at once from cached state; the action is
 * queued and completes, or times out, on the loop.
 *
 * Persisted in STATE/qemu-bmc.state (mode 0600, atomic replace): the power
 * restore policy and the last power state.
 */
#pragma once

#include <glib.h>

#include "loop.h"

#define MACHINE_ERROR (machine_error_quark())
GQuark machine_error_quark(void);

typedef enum {
    MACHINE_ERROR_STATE, /* not possible in the present power state */
    MACHINE_ERROR_BUSY,  /* another action is still in progress */
    MACHINE_ERROR_IO,    /* persisting a setting failed */
} MachineError;

/* Values as in IPMI Get Chassis Status byte 2 bits 6:5. */
typedef enum {
    MACHINE_POLICY_ALWAYS_OFF = 0,
    MACHINE_POLICY_PREVIOUS = 1,
    MACHINE_POLICY_ALWAYS_ON = 2,
} MachinePolicy;

/* IPMI Get System Restart Cause values. */
typedef enum {
    MACHINE_CAUSE_UNKNOWN = 0x0,
    MACHINE_CAUSE_CHASSIS_CONTROL = 0x1,
    MACHINE_CAUSE_POLICY_ALWAYS_ON = 0x6,
    MACHINE_CAUSE_POLICY_PREVIOUS = 0x7,
    MACHINE_CAUSE_SOFT_RESET = 0xa,
} MachineRestartCause;

/* "always-off", "previous", "always-on" */
const char *machine_policy_to_string(MachinePolicy policy);
gboolean machine_policy_from_string(const char *s, MachinePolicy *policy);

/* The default boot order (VM_BOOT): which device comes first. */
typedef enum {
    BOOT_ORDER_DISK,
    BOOT_ORDER_CDROM,
    BOOT_ORDER_NETWORK,
} BootOrder;

typedef struct {
    const char *qmp_socket;
    const char *supervisor_socket;
    const char *program;
    const char *state_dir;
    const char *run_dir;
    MachinePolicy restore_default;
    BootOrder boot_default;
    gboolean uefi; /* default firmware: OVMF rather than SeaBIOS */
    guint qmp_command_timeout_ms;
    guint supervisor_poll_ms; /* default 1000 */
    guint action_timeout_ms;  /* default 30000 */
    /* Whether a pid is a live process (tests); NULL: /proc/PID/stat. */
    gboolean (*process_running)(int pid);
    /* A pidfd for a pid (tests); NULL: pidfd_open(2).  -1 with errno set
     * when there is none: the machine then relies on supervisord alone. */
    int (*pidfd_open)(int pid);
} MachineConfig;

typedef struct Machine Machine;

Machine *machine_new(BmcLoop *loop, const MachineConfig *cfg, GError **error);
void machine_free(Machine *m);
/* Connect to the peers and apply the restore policy (once per boot of the
 * container, as told by a marker in run_dir). */
void machine_start(Machine *m);

gboolean machine_is_powered_on(Machine *m);

/* Chassis control.  Each returns at once; FALSE with MACHINE_ERROR_STATE
 * when the request makes no sense in the present state (IPMI 0xD5). */
gboolean machine_power_on(Machine *m, guint8 channel, GError **error);
gboolean machine_power_off(Machine *m, GError **error);
gboolean machine_soft_off(Machine *m, GError **error);
gboolean machine_reset(Machine *m, guint8 channel, GError **error);
gboolean machine_power_cycle(Machine *m, guint8 channel, GError **error);
gboolean machine_diag_interrupt(Machine *m, GError **error);

MachinePolicy machine_get_restore_policy(Machine *m);
gboolean machine_set_restore_policy(Machine *m, MachinePolicy policy,
                                    GError **error);

/* Get Chassis Status byte 3 (last power event). */
guint8 machine_get_last_power_event(Machine *m);
MachineRestartCause machine_get_restart_cause(Machine *m, guint8 *channel);

/* System Boot Options (IPMI bytes after the completion code); each returns
 * the completion code.  See machine-boot.c. */
guint8 machine_boot_set(Machine *m, const guint8 *req, gsize len);
guint8 machine_boot_get(Machine *m, const guint8 *req, gsize len, guint8 *rsp,
                        gsize *rsp_len);

/* A Chassis Control command arrived (ends the boot flags' 60 s rule). */
void machine_chassis_control_received(Machine *m);

/* Chassis identify: @seconds 0 = off; @forever wins over @seconds. */
void machine_identify(Machine *m, guint seconds, gboolean forever);
/* 0 = off, 1 = temporary on, 2 = indefinite on (Get Chassis Status). */
guint machine_identify_state(Machine *m);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Machine, machine_free)
