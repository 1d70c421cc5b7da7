/*
 * machine-private.h - the Machine's insides, shared by machine.c (power,
 * restore policy) and machine-boot.c (boot options).  Nothing else includes
 * this.
 */
#pragma once

#include "boot-options.h"
#include "machine.h"
#include "qmp-client.h"
#include "supervisor-client.h"

#define STATE_FILE     "qemu-bmc.state"
#define RESTORE_MARKER "qemu-bmc.restored"
#define KICK_MS        50 /* QMP connect retry while a power-on is pending */
#define FAST_POLL_MS   100
#define REAP_POLL_MS   10 /* QEMU exiting: wake supervisord to reap it */
/* Without a pidfd for QEMU: right after QEMU's QMP link drops in a power
 * off, QEMU is a zombie within a millisecond: the first polls come this
 * fast, a bounded number of them (each costs supervisord about 1 ms of
 * CPU). */
#define REAP_FAST_POLL_MS 2
#define REAP_FAST_POLLS   8
/* A QEMU still running this long after its QMP link went down is alive
 * with a broken monitor, not exiting: it counts as on again. */
#define DEAD_PID_GRACE_MS 1500
#define RETRY_MS          500 /* supervisord did not take a start or stop */
/* A hard off signals QEMU through its pidfd; a QEMU still there this long
 * after (frozen) is stopped through supervisord, which escalates to
 * SIGKILL. */
#define STOP_DEFER_MS 250
/* SeaBIOS resets the machine itself twice within ~50 ms of a reset: such
 * "guest" resets right after a boot we started are the firmware's, not a
 * reboot from the OS. */
#define FIRMWARE_RESET_MS 3000

typedef enum {
    ACTION_NONE,
    ACTION_POWERING_ON,  /* start asked; waiting for QEMU to be seen */
    ACTION_POWERING_OFF, /* stop asked; waiting for QEMU to be gone */
    ACTION_CYCLE_OFF,    /* as POWERING_OFF, then power on again */
} Action;

struct Machine {
    BmcLoop *loop;
    char *program;
    char *state_path;
    char *marker_path;
    MachinePolicy restore_default;
    guint poll_ms;
    guint action_timeout_ms;
    gboolean (*process_running)(int pid);
    int (*pidfd_open)(int pid);

    QmpClient *qmp;
    SupervisorClient *sup;
    BmcTimer *poll_timer;
    BmcTimer *kick_timer;
    BmcTimer *action_timer;
    BmcTimer *retry_timer;
    BmcTimer *identify_timer;

    /* Observations. */
    gboolean qmp_ready;
    gboolean sup_known;
    SupProcState sup_state;
    int sup_pid;
    int dead_pid; /* pid whose QMP link went down */
    gint64 dead_since_ms;
    guint64 sup_seq; /* ids of getProcessInfo calls sent */
    gboolean sup_inflight;
    guint64 start_seq; /* first poll id that sees our start */
    gboolean start_accepted;
    gboolean request_inflight; /* a start or stop call is out */
    gboolean was_on;
    guint reap_fast_polls; /* left at REAP_FAST_POLL_MS */

    /* QEMU's process itself, through a pidfd (machine.c, "QEMU's pidfd"):
     * readable once it has exited, so nothing polls supervisord while QEMU
     * exits, and a hard off signals it without supervisord's hop. */
    int watched_pid; /* the last pid given to pidfd_open, or 0 */
    int qemu_pidfd;  /* -1: none (not opened, failed, or exited) */
    int exited_pid;  /* the last pid whose pidfd said it has exited */
    BmcWatch *qemu_watch;
    gboolean stop_deferred; /* SIGTERM sent; stopProcess if it does not do */
    BmcTimer *stop_timer;

    /* Intent. */
    Action action;
    guint8 action_channel;
    gboolean pending_restore;

    /* Settings and history. */
    gboolean policy_explicit;
    MachinePolicy policy;
    gboolean last_power_on;
    guint8 last_event;
    MachineRestartCause restart_cause;
    guint8 restart_channel;
    gint64 boot_started_ms; /* when we last reset or started QEMU */
    guint identify;         /* 0 off, 1 temporary, 2 indefinite */

    /* Boot options (machine-boot.c). */
    BootOptions boot;
    BootOrder boot_default; /* VM_BOOT */
    gboolean uefi_default;  /* VM_BOOT_MODE=uefi */
    gboolean running_uefi;  /* firmware of the QEMU now running */
    gboolean running_setup; /* ...and whether it was sent to its menu */
    char *next_plan_order;  /* [next-boot] for the launcher */
    gboolean next_plan_uefi;
    gboolean next_plan_setup;
    gboolean boot_applied;      /* QEMU's order is the override's */
    BmcTimer *boot_valid_timer; /* the 60-second rule */
    BmcTimer *boot_restore_timer;
    BmcTimer *boot_setup_timer; /* ESC for the firmware's setup */
    gint64 setup_keys_since;
};

/* machine.c */
gboolean machine_save_state(Machine *m, GError **error);
void machine_load_state_file(Machine *m, GKeyFile *kf);

/* machine-boot.c */
void machine_boot_init(Machine *m, const MachineConfig *cfg);
void machine_boot_free(Machine *m);
void machine_boot_save(Machine *m, GKeyFile *kf);
void machine_boot_load(Machine *m, GKeyFile *kf);
/* A chassis control command arrived: the 60-second rule is satisfied. */
void machine_boot_chassis_control(Machine *m);
/* QEMU is about to be started: tell the launcher how to boot (saves the
 * state).  FALSE with MACHINE_ERROR_IO when the state file could not be
 * saved and the plan on disk is not this one: do not start. */
gboolean machine_boot_before_start(Machine *m, GError **error);
/* An IPMI hard reset is about to be sent.  FALSE: the override needs the
 * other firmware, so the reset must become a power cycle. */
gboolean machine_boot_before_reset(Machine *m);
/* QEMU reset (guest: from inside the VM).  FALSE: the override needs a new
 * QEMU (other firmware, or its setup menu), so power cycle. */
gboolean machine_boot_on_reset(Machine *m, gboolean guest);
void machine_boot_on_qmp_ready(Machine *m);
