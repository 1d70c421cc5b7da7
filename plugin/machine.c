/*
 * machine.c - power, restore policy and identify: the machine's one owner.
 *
 * The power path, start to end:
 *   chassis.c (IPMI bytes) -> machine_power_*() here -> supervisord
 *   (start/stop the QEMU program) or QMP (powerdown/reset/NMI) -> the
 *   observations below -> machine_is_powered_on().
 *
 * "On" is derived, never stored: the QMP link is READY, or supervisord's
 * latest answer says the program is alive with a pid that is not the one
 * whose QMP link we saw die, or a power-on we asked for is still in flight.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>

#include "compat.h"
#include "machine-private.h"
#include "qmp-proto.h"

G_DEFINE_QUARK(qemu_bmc_machine_error, machine_error)

static void update(Machine *m);
static void poll_supervisor(Machine *m);
static guint next_poll_ms(Machine *m);

const char *
machine_policy_to_string(MachinePolicy policy)
{
    switch (policy) {
    case MACHINE_POLICY_ALWAYS_OFF:
        return "always-off";
    case MACHINE_POLICY_PREVIOUS:
        return "previous";
    case MACHINE_POLICY_ALWAYS_ON:
        return "always-on";
    }
    return "always-off";
}

gboolean
machine_policy_from_string(const char *s, MachinePolicy *policy)
{
    static const MachinePolicy all[] = {MACHINE_POLICY_ALWAYS_OFF,
                                        MACHINE_POLICY_PREVIOUS,
                                        MACHINE_POLICY_ALWAYS_ON};

    for (gsize i = 0; i < G_N_ELEMENTS(all); i++) {
        if (g_str_equal(s, machine_policy_to_string(all[i]))) {
            *policy = all[i];
            return TRUE;
        }
    }
    return FALSE;
}

/* ---- persistence ------------------------------------------------------ */

static void
load_state(Machine *m)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *policy = NULL;

    /* No file yet (a new node): GKeyFile's error for it would load iconv
     * into ipmi_sim (g_strerror(), see bmc_strerror()). */
    if (g_access(m->state_path, F_OK) < 0 && errno == ENOENT) {
        return;
    }
    if (!g_key_file_load_from_file(kf, m->state_path, G_KEY_FILE_NONE,
                                   &error)) {
        if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_warning("%s: %s; using defaults", m->state_path, error->message);
        }
        return;
    }
    policy = g_key_file_get_string(kf, "chassis", "restore-policy", NULL);
    if (policy) {
        if (machine_policy_from_string(policy, &m->policy)) {
            m->policy_explicit = TRUE;
        } else {
            g_warning("%s: unknown restore-policy '%s'; using %s",
                      m->state_path, policy,
                      machine_policy_to_string(m->policy));
        }
    }
    m->last_power_on =
        g_key_file_get_boolean(kf, "chassis", "last-power-on", NULL);
    machine_boot_load(m, kf);
}

static gboolean
rename_file(const char *from, const char *to, GError **error)
{
    if (g_rename(from, to) < 0) {
        int err = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "renaming %s: %s", from, bmc_strerror(err));
        return FALSE;
    }
    return TRUE;
}

gboolean
machine_save_state(Machine *m, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autofree char *data = NULL;
    g_autofree char *tmp = NULL;
    gsize len = 0;

    if (m->policy_explicit) {
        g_key_file_set_string(kf, "chassis", "restore-policy",
                              machine_policy_to_string(m->policy));
    }
    g_key_file_set_boolean(kf, "chassis", "last-power-on", m->last_power_on);
    machine_boot_save(m, kf);
    data = g_key_file_to_data(kf, &len, NULL);
    /* Atomic replace (a new file, then rename): a killed process or a full
     * disk leaves the old file whole.  No fsync: it would stall ipmi_sim's
     * only thread for up to tens of ms on a busy disk, for a guarantee
     * (surviving a host crash) that a lab VM's BMC does not need.  (GLib's
     * CONSISTENT flag would fsync; its NONE flag writes in place.) */
    tmp = g_strconcat(m->state_path, ".tmp", NULL);
    if (!g_file_set_contents_full(tmp, data, len, G_FILE_SET_CONTENTS_NONE,
                                  0600, error) ||
        !rename_file(tmp, m->state_path, error)) {
        (void)g_unlink(tmp);
        g_prefix_error(error, "saving state: ");
        return FALSE;
    }
    return TRUE;
}

/* ---- observations ----------------------------------------------------- */

static gboolean
sup_alive(SupProcState s)
{
    return s == SUP_PROC_STARTING || s == SUP_PROC_RUNNING ||
           s == SUP_PROC_STOPPING;
}

/* Whether @pid is a live process (not gone, not a zombie), from
 * /proc/PID/stat; FALSE when that cannot be read. */
static gboolean
process_running(int pid)
{
    char path[40];
    g_autofree char *stat = NULL;
    const char *end;

    g_snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (pid <= 0 || !g_file_get_contents(path, &stat, NULL, NULL)) {
        return FALSE;
    }
    /* "PID (COMM) STATE ...": COMM may hold anything, ')' included. */
    end = strrchr(stat, ')');
    return end && end[1] == ' ' && end[2] != '\0' && end[2] != 'Z' &&
           end[2] != 'X' && end[2] != 'x';
}

static gboolean
observed_on(Machine *m)
{
    if (m->qmp_ready) {
        return TRUE;
    }
    return m->sup_known && sup_alive(m->sup_state) && m->sup_pid != 0 &&
           m->sup_pid != m->dead_pid;
}

gboolean
machine_is_powered_on(Machine *m)
{
    return observed_on(m) || m->action == ACTION_POWERING_ON;
}

static void
set_action(Machine *m, Action action)
{
    m->action = action;
    if (action == ACTION_NONE) {
        bmc_timer_stop(m->loop, m->action_timer);
        bmc_timer_stop(m->loop, m->kick_timer);
        bmc_timer_stop(m->loop, m->retry_timer);
        bmc_timer_stop(m->loop, m->stop_timer);
        m->stop_deferred = FALSE;
    } else {
        bmc_timer_start(m->loop, m->action_timer, m->action_timeout_ms);
    }
}

static void
on_start_reply(SupervisorClient *sup, const SupReply *reply,
               const GError *error, gpointer data)
{
    Machine *m = data;

    if (g_error_matches(error, SUP_ERROR, SUP_ERROR_CANCELLED)) {
        return;
    }
    m->request_inflight = FALSE;
    if (m->action != ACTION_POWERING_ON) {
        return;
    }
    if (g_error_matches(error, SUP_ERROR, SUP_ERROR_FAULT) &&
        reply->fault_code == SUP_FAULT_ALREADY_STARTED) {
        /* The previous QEMU may still be on its way out: start again once
         * supervisord has seen it go (see on_process_info). */
        poll_supervisor(m);
        return;
    }
    if (error) {
        /* supervisord busy, frozen or restarting: the request was accepted
         * over IPMI, so keep at it until the action times out. */
        g_warning("power on: supervisord could not start '%s': %s; retrying",
                  m->program, error->message);
        bmc_timer_start(m->loop, m->retry_timer, RETRY_MS);
        return;
    }
    /* Only polls sent from now on can tell whether the start failed. */
    m->start_accepted = TRUE;
    m->start_seq = m->sup_seq + 1;
    qmp_client_connect_now(m->qmp);
    poll_supervisor(m);
}

static void
request_start(Machine *m)
{
    m->request_inflight = TRUE;
    supervisor_client_start_process(m->sup, m->program, on_start_reply, m);
}

/* FALSE (nothing started) when the launcher could not be given this
 * boot's plan: see machine_boot_before_start(). */
static gboolean
start_qemu(Machine *m, GError **error)
{
    gboolean was_on = m->last_power_on;

    /* One write for both: the launcher's boot plan and "was on". */
    m->last_power_on = TRUE;
    if (!machine_boot_before_start(m, error)) {
        m->last_power_on = was_on;
        return FALSE;
    }
    set_action(m, ACTION_POWERING_ON);
    m->boot_started_ms = bmc_loop_now_ms(m->loop);
    m->start_accepted = FALSE;
    m->start_seq = G_MAXUINT64;
    bmc_timer_start(m->loop, m->kick_timer, KICK_MS);
    request_start(m);
    return TRUE;
}

static void request_stop(Machine *m);

static void
on_stop_reply(SupervisorClient *sup, const SupReply *reply, const GError *error,
              gpointer data)
{
    Machine *m = data;

    if (g_error_matches(error, SUP_ERROR, SUP_ERROR_CANCELLED)) {
        return;
    }
    m->request_inflight = FALSE;
    if (error && !(g_error_matches(error, SUP_ERROR, SUP_ERROR_FAULT) &&
                   reply->fault_code == SUP_FAULT_NOT_RUNNING)) {
        g_warning("power off: supervisord could not stop '%s': %s; retrying",
                  m->program, error->message);
        bmc_timer_start(m->loop, m->retry_timer, RETRY_MS);
        return;
    }
    poll_supervisor(m);
}

static void
request_stop(Machine *m)
{
    m->request_inflight = TRUE;
    supervisor_client_stop_process(m->sup, m->program, on_stop_reply, m);
}

/* ---- QEMU's pidfd ------------------------------------------------------
 *
 * supervisord tells QEMU's pid; a pidfd for it turns readable the moment
 * QEMU has exited.  That is when supervisord must be woken to reap QEMU
 * (its loop sleeps through SIGCHLD): one request then, instead of polls
 * every few ms that cost supervisord CPU while QEMU is still tearing
 * itself down on a small machine.  A hard off sends QEMU its SIGTERM
 * through the pidfd, which saves supervisord's Python hop (about 1 ms,
 * doc/benchmarks.md); QEMU exits with status 0 and supervisord records
 * EXITED, "expected".  Only a QEMU still there STOP_DEFER_MS later (frozen)
 * is stopped through supervisord, which escalates to SIGKILL.  Without a
 * pidfd (pidfd_open refused: an old kernel, a seccomp filter, another
 * user's QEMU) everything goes through supervisord, as stopProcess. */

static void
unwatch_qemu(Machine *m)
{
    bmc_watch_free(m->loop, m->qemu_watch);
    m->qemu_watch = NULL;
    bmc_close_fd(&m->qemu_pidfd);
}

static void
on_qemu_exit(int fd, BmcIoCondition cond, gpointer data)
{
    Machine *m = data;

    g_debug("QEMU (pid %d) has exited", m->watched_pid);
    unwatch_qemu(m);
    m->exited_pid = m->watched_pid;
    /* supervisord has not reaped it yet: its "alive" is stale now. */
    if (m->sup_known && sup_alive(m->sup_state) &&
        m->sup_pid == m->watched_pid && m->dead_pid != m->watched_pid) {
        m->dead_pid = m->watched_pid;
        m->dead_since_ms = bmc_loop_now_ms(m->loop);
    }
    /* A hard off's SIGTERM did its work: no stopProcess is needed. */
    m->stop_deferred = FALSE;
    bmc_timer_stop(m->loop, m->stop_timer);
    /* Our connection wakes supervisord, which reaps QEMU before it reads
     * the request: the answer is EXITED. */
    poll_supervisor(m);
    update(m);
}

/* Watch the pid supervisord reports alive, once per pid. */
static void
watch_qemu(Machine *m)
{
    int fd;

    if (m->sup_pid <= 0 || m->sup_pid == m->watched_pid) {
        return;
    }
    unwatch_qemu(m);
    m->watched_pid = m->sup_pid;
    fd = m->pidfd_open(m->sup_pid);
    if (fd < 0) {
        g_debug("pidfd_open(%d): %s; following QEMU through supervisord only",
                m->sup_pid, bmc_strerror(errno));
        return;
    }
    m->qemu_pidfd = fd;
    m->qemu_watch = bmc_watch_add(m->loop, fd, on_qemu_exit, m);
}

/* SIGTERM to the QEMU supervisord last reported; FALSE when that is not
 * possible (no pidfd, or already exited) and supervisord must do it. */
static gboolean
signal_qemu(Machine *m)
{
    if (!m->qemu_watch || m->watched_pid != m->sup_pid) {
        return FALSE;
    }
    if (pidfd_send_signal(m->qemu_pidfd, SIGTERM, NULL, 0) < 0) {
        g_debug("pidfd_send_signal(%d): %s", m->watched_pid,
                bmc_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

static int
real_pidfd_open(int pid)
{
    return pidfd_open(pid, 0);
}

static void
on_stop_timer(gpointer data)
{
    Machine *m = data;

    /* QEMU did not exit on SIGTERM (frozen, say): supervisord's stop
     * signals it again and escalates to SIGKILL after stopwaitsecs. */
    m->stop_deferred = FALSE;
    if (m->action == ACTION_POWERING_OFF || m->action == ACTION_CYCLE_OFF) {
        g_message("power off: QEMU still there %u ms after SIGTERM; "
                  "stopping it through supervisord",
                  STOP_DEFER_MS);
        request_stop(m);
    }
}

static void
stop_qemu(Machine *m, Action action)
{
    set_action(m, action);
    if (m->stop_deferred) {
        return; /* SIGTERM already sent; stop_timer follows it up */
    }
    if (signal_qemu(m)) {
        m->stop_deferred = TRUE;
        bmc_timer_start(m->loop, m->stop_timer, STOP_DEFER_MS);
        return;
    }
    request_stop(m);
}

/* Off, then on once the old QEMU is surely gone. */
static void
cycle(Machine *m)
{
    m->last_event |= 0x10;
    stop_qemu(m, ACTION_CYCLE_OFF);
    update(m);
}

static void
on_retry(gpointer data)
{
    Machine *m = data;

    if (m->request_inflight) {
        return;
    }
    if (m->action == ACTION_POWERING_ON && !m->start_accepted) {
        request_start(m);
    } else if (m->action == ACTION_POWERING_OFF ||
               m->action == ACTION_CYCLE_OFF) {
        request_stop(m);
    }
}

typedef struct {
    Machine *m;
    guint64 seq;
} PollCall;

static void
on_process_info(SupervisorClient *sup, const SupReply *reply,
                const GError *error, gpointer data)
{
    g_autofree PollCall *call = data;
    Machine *m = call->m;

    if (g_error_matches(error, SUP_ERROR, SUP_ERROR_CANCELLED)) {
        return;
    }
    m->sup_inflight = FALSE;
    if (error) {
        if (m->sup_known) {
            g_warning("supervisord: %s", error->message);
        }
        m->sup_known = FALSE;
    } else {
        m->sup_known = TRUE;
        m->sup_state = reply->state;
        m->sup_pid = sup_alive(reply->state) ? reply->pid : 0;
        watch_qemu(m);
        if (m->action == ACTION_POWERING_ON && !sup_alive(reply->state)) {
            if (m->start_accepted && call->seq >= m->start_seq) {
                g_warning("power on: '%s' did not start (supervisord "
                          "state %d)",
                          m->program, reply->state);
                set_action(m, ACTION_NONE);
            } else if (!m->start_accepted && !m->request_inflight) {
                request_start(m);
            }
        }
        if ((m->action == ACTION_POWERING_OFF ||
             m->action == ACTION_CYCLE_OFF) &&
            sup_alive(reply->state) && reply->state != SUP_PROC_STOPPING &&
            reply->pid != m->dead_pid && !m->request_inflight &&
            !m->stop_deferred) {
            /* A start that raced our stop won: stop again.  (STOPPING is
             * our stop at work, SIGKILL to come if QEMU is frozen.) */
            request_stop(m);
        }
        if (m->action == ACTION_NONE && !m->qmp_ready &&
            sup_alive(reply->state) && reply->pid == m->dead_pid &&
            bmc_loop_now_ms(m->loop) - m->dead_since_ms >= DEAD_PID_GRACE_MS &&
            m->process_running(reply->pid)) {
            g_warning("QEMU (pid %d) runs on without a working QMP link: "
                      "power reads on",
                      reply->pid);
            m->dead_pid = 0;
        }
        if (sup_alive(reply->state) && !m->qmp_ready &&
            reply->pid != m->dead_pid) {
            qmp_client_connect_now(m->qmp);
        }
    }
    update(m);
    /* Poll fast while an action waits for supervisord to see QEMU gone or
     * started; once QEMU is seen alive, QMP tells the rest.  supervisord
     * reaps a dead child only when something wakes its loop, so while QEMU
     * is on its way out our polls are that wake-up. */
    bmc_timer_start(m->loop, m->poll_timer, next_poll_ms(m));
}

static guint
next_poll_ms(Machine *m)
{
    if (m->exited_pid != 0 && m->sup_known && sup_alive(m->sup_state) &&
        m->sup_pid == m->exited_pid) {
        return REAP_POLL_MS; /* QEMU has exited: wake supervisord to reap */
    }
    if (m->action == ACTION_NONE || observed_on(m)) {
        return m->poll_ms;
    }
    if ((m->action == ACTION_POWERING_OFF || m->action == ACTION_CYCLE_OFF) &&
        !m->qmp_ready) {
        if (m->qemu_watch) {
            return FAST_POLL_MS; /* the pidfd tells when QEMU is gone */
        }
        if (m->reap_fast_polls > 0) {
            m->reap_fast_polls--;
            return REAP_FAST_POLL_MS;
        }
        return REAP_POLL_MS;
    }
    return FAST_POLL_MS;
}

static void
poll_supervisor(Machine *m)
{
    PollCall *call;

    if (m->sup_inflight) {
        return;
    }
    call = g_new0(PollCall, 1);
    call->m = m;
    call->seq = ++m->sup_seq;
    m->sup_inflight = TRUE;
    supervisor_client_get_process_info(m->sup, m->program, on_process_info,
                                       call);
}

static void
on_poll_timer(gpointer data)
{
    poll_supervisor(data);
}

static void
apply_restore_policy(Machine *m)
{
    g_autoptr(GError) error = NULL;
    MachineRestartCause cause;

    m->pending_restore = FALSE;
    if (observed_on(m)) {
        return;
    }
    if (m->policy == MACHINE_POLICY_ALWAYS_ON) {
        cause = MACHINE_CAUSE_POLICY_ALWAYS_ON;
    } else if (m->policy == MACHINE_POLICY_PREVIOUS && m->last_power_on) {
        cause = MACHINE_CAUSE_POLICY_PREVIOUS;
    } else {
        return;
    }
    g_message("power restore policy %s: powering on",
              machine_policy_to_string(m->policy));
    if (!start_qemu(m, &error)) {
        g_warning("%s", error->message);
        return;
    }
    m->restart_cause = cause;
    m->restart_channel = 0;
}

/* Re-derive power after any observation and drive pending actions. */
static void
update(Machine *m)
{
    gboolean on;

    if (m->action == ACTION_POWERING_ON && observed_on(m) && m->qmp_ready) {
        set_action(m, ACTION_NONE);
    }
    if ((m->action == ACTION_POWERING_OFF || m->action == ACTION_CYCLE_OFF) &&
        !m->qmp_ready && m->sup_known && !sup_alive(m->sup_state)) {
        g_autoptr(GError) error = NULL;

        if (m->action == ACTION_CYCLE_OFF) {
            g_message("power cycle: off, powering on again");
            if (!start_qemu(m, &error)) {
                g_warning("power cycle: %s; staying off", error->message);
                set_action(m, ACTION_NONE);
            }
        } else {
            set_action(m, ACTION_NONE);
        }
    }
    if (m->pending_restore && m->sup_known) {
        apply_restore_policy(m);
    }

    on = machine_is_powered_on(m);
    if (on != m->was_on) {
        g_autoptr(GError) error = NULL;

        g_message("power is %s", on ? "on" : "off");
        m->was_on = on;
        if (on != m->last_power_on) {
            m->last_power_on = on;
            if (!machine_save_state(m, &error)) {
                g_warning("%s", error->message);
            }
        }
    }
}

static void
on_action_timeout(gpointer data)
{
    Machine *m = data;

    static const char *const names[] = {
        [ACTION_NONE] = "nothing",
        [ACTION_POWERING_ON] = "power on",
        [ACTION_POWERING_OFF] = "power off",
        [ACTION_CYCLE_OFF] = "power cycle",
    };

    g_warning("%s: gave up after %u ms", names[m->action],
              m->action_timeout_ms);
    set_action(m, ACTION_NONE);
    update(m);
}

static void
on_kick(gpointer data)
{
    Machine *m = data;

    if (m->action == ACTION_POWERING_ON && !m->qmp_ready) {
        qmp_client_connect_now(m->qmp);
        bmc_timer_start(m->loop, m->kick_timer, KICK_MS);
    }
}

/* json-glib 1.6's *_with_default() accessors fail a g_return_if_fail on a
 * member of another type: a hostile peer must not get that far. */
static const char *
member_string(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (n && json_node_get_value_type(n) == G_TYPE_STRING) {
        return json_node_get_string(n);
    }
    return "?";
}

static gboolean
member_true(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    return n && json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
           json_node_get_boolean(n);
}

static void
on_query_status(QmpClient *qmp, JsonNode *ret, const GError *error,
                gpointer data)
{
    if (error) {
        if (!g_error_matches(error, QMP_ERROR, QMP_ERROR_CANCELLED)) {
            g_debug("query-status: %s", error->message);
        }
        return;
    }
    if (JSON_NODE_HOLDS_OBJECT(ret)) {
        g_autofree char *status = qmp_sanitize_text(
            member_string(json_node_get_object(ret), "status"));
        g_debug("QEMU status: %s", status);
    }
}

static void
on_qmp_state(QmpClient *qmp, QmpState state, const GError *why, gpointer data)
{
    Machine *m = data;
    gboolean ready = state == QMP_STATE_READY;

    if (ready == m->qmp_ready) {
        return;
    }
    m->qmp_ready = ready;
    if (ready) {
        g_debug("QMP link up");
        qmp_client_execute(qmp, "query-status", NULL, on_query_status, m);
        machine_boot_on_qmp_ready(m);
    } else {
        g_debug("QMP link down: %s", why ? why->message : "?");
        /* The process behind the link is gone (or unusable): do not let a
         * supervisord answer that predates its reaping say "on". */
        if (m->sup_known && sup_alive(m->sup_state)) {
            m->dead_pid = m->sup_pid;
            m->dead_since_ms = bmc_loop_now_ms(m->loop);
        }
        /* The link drops as QEMU exits; supervisord reaps it only when
         * woken.  With a pidfd, on_qemu_exit() wakes it at the right
         * moment; without, poll now and then at short intervals (see
         * next_poll_ms()), in case this first poll is there before the
         * zombie. */
        if (!m->qemu_watch) {
            m->reap_fast_polls = REAP_FAST_POLLS;
            poll_supervisor(m);
        }
    }
    update(m);
}

static void
on_qmp_event(QmpClient *qmp, const char *name, JsonObject *data,
             gpointer user_data)
{
    Machine *m = user_data;
    gboolean guest = data && member_true(data, "guest");

    g_debug("QMP event %s%s", name, guest ? " (guest)" : "");
    if (g_str_equal(name, "RESET") && !guest) {
        machine_boot_on_reset(m, FALSE);
    } else if (g_str_equal(name, "RESET") &&
               bmc_loop_now_ms(m->loop) - m->boot_started_ms >
                   FIRMWARE_RESET_MS) {
        /* A reboot from inside the VM. */
        m->restart_cause = MACHINE_CAUSE_SOFT_RESET;
        m->restart_channel = 0;
        m->boot_started_ms = bmc_loop_now_ms(m->loop);
        if (!machine_boot_on_reset(m, TRUE)) {
            g_message("guest reboot: the boot override needs a new QEMU");
            cycle(m);
        }
    } else if (g_str_equal(name, "SHUTDOWN") && guest) {
        g_message("guest powered off");
    }
}

static const QmpClientCallbacks qmp_callbacks = {
    .state_changed = on_qmp_state,
    .event = on_qmp_event,
};

/* ---- requests --------------------------------------------------------- */

static gboolean
need_qmp(Machine *m, const char *what, GError **error)
{
    if (!machine_is_powered_on(m)) {
        g_set_error(error, MACHINE_ERROR, MACHINE_ERROR_STATE,
                    "%s: power is off", what);
        return FALSE;
    }
    if (!m->qmp_ready) {
        g_set_error(error, MACHINE_ERROR, MACHINE_ERROR_STATE,
                    "%s: QEMU is not answering on QMP yet", what);
        return FALSE;
    }
    return TRUE;
}

static void
on_command_reply(QmpClient *qmp, JsonNode *ret, const GError *error,
                 gpointer data)
{
    if (error && !g_error_matches(error, QMP_ERROR, QMP_ERROR_CANCELLED)) {
        g_warning("%s: %s", (const char *)data, error->message);
    }
}

static gboolean
qmp_action(Machine *m, const char *what, const char *command, GError **error)
{
    if (!need_qmp(m, what, error)) {
        return FALSE;
    }
    g_message("%s", what);
    qmp_client_execute(m->qmp, command, NULL, on_command_reply, (gpointer)what);
    return TRUE;
}

gboolean
machine_power_on(Machine *m, guint8 channel, GError **error)
{
    if (m->action == ACTION_CYCLE_OFF) {
        return TRUE; /* the cycle ends powered on */
    }
    if (m->action == ACTION_POWERING_OFF) {
        /* The last request wins: finish going off, then come back on. */
        m->action = ACTION_CYCLE_OFF;
        return TRUE;
    }
    if (machine_is_powered_on(m)) {
        return TRUE;
    }
    g_message("power on");
    if (!start_qemu(m, error)) {
        return FALSE;
    }
    m->restart_cause = MACHINE_CAUSE_CHASSIS_CONTROL;
    m->restart_channel = channel;
    m->last_event |= 0x10; /* last power on via IPMI command */
    update(m);
    return TRUE;
}

gboolean
machine_power_off(Machine *m, GError **error)
{
    if (m->action == ACTION_POWERING_OFF) {
        return TRUE;
    }
    if (m->action == ACTION_NONE && !machine_is_powered_on(m)) {
        return TRUE;
    }
    g_message("power off");
    m->last_event &= ~0x10;
    stop_qemu(m, ACTION_POWERING_OFF);
    update(m);
    return TRUE;
}

gboolean
machine_soft_off(Machine *m, GError **error)
{
    if (!machine_is_powered_on(m)) {
        return TRUE;
    }
    return qmp_action(m, "soft off (ACPI power button)", "system_powerdown",
                      error);
}

gboolean
machine_reset(Machine *m, guint8 channel, GError **error)
{
    if (!need_qmp(m, "hard reset", error)) {
        return FALSE;
    }
    if (!machine_boot_before_reset(m)) {
        g_message("hard reset: the boot override needs a new QEMU: cycling");
        m->restart_cause = MACHINE_CAUSE_CHASSIS_CONTROL;
        m->restart_channel = channel;
        cycle(m);
        return TRUE;
    }
    if (!qmp_action(m, "hard reset", "system_reset", error)) {
        return FALSE;
    }
    m->restart_cause = MACHINE_CAUSE_CHASSIS_CONTROL;
    m->restart_channel = channel;
    m->boot_started_ms = bmc_loop_now_ms(m->loop);
    return TRUE;
}

gboolean
machine_diag_interrupt(Machine *m, GError **error)
{
    return qmp_action(m, "diagnostic interrupt (NMI)", "inject-nmi", error);
}

gboolean
machine_power_cycle(Machine *m, guint8 channel, GError **error)
{
    if (m->action == ACTION_CYCLE_OFF) {
        return TRUE;
    }
    if (!machine_is_powered_on(m)) {
        g_set_error(error, MACHINE_ERROR, MACHINE_ERROR_STATE,
                    "power cycle: power is off");
        return FALSE;
    }
    g_message("power cycle");
    m->restart_cause = MACHINE_CAUSE_CHASSIS_CONTROL;
    m->restart_channel = channel;
    cycle(m);
    return TRUE;
}

MachinePolicy
machine_get_restore_policy(Machine *m)
{
    return m->policy;
}

gboolean
machine_set_restore_policy(Machine *m, MachinePolicy policy, GError **error)
{
    MachinePolicy old = m->policy;
    gboolean old_explicit = m->policy_explicit;
    g_autoptr(GError) local = NULL;

    m->policy = policy;
    m->policy_explicit = TRUE;
    if (!machine_save_state(m, &local)) {
        m->policy = old;
        m->policy_explicit = old_explicit;
        g_set_error(error, MACHINE_ERROR, MACHINE_ERROR_IO, "%s",
                    local->message);
        return FALSE;
    }
    g_message("power restore policy set to %s",
              machine_policy_to_string(policy));
    return TRUE;
}

guint8
machine_get_last_power_event(Machine *m)
{
    return m->last_event;
}

MachineRestartCause
machine_get_restart_cause(Machine *m, guint8 *channel)
{
    if (channel) {
        *channel = m->restart_channel;
    }
    return m->restart_cause;
}

static void
on_identify_timeout(gpointer data)
{
    Machine *m = data;

    m->identify = 0;
}

void
machine_identify(Machine *m, guint seconds, gboolean forever)
{
    bmc_timer_stop(m->loop, m->identify_timer);
    if (forever) {
        m->identify = 2;
    } else if (seconds > 0) {
        m->identify = 1;
        bmc_timer_start(m->loop, m->identify_timer, seconds * 1000);
    } else {
        m->identify = 0;
    }
    g_message("chassis identify %s", m->identify == 0   ? "off"
                                     : m->identify == 1 ? "on (timed)"
                                                        : "on");
}

guint
machine_identify_state(Machine *m)
{
    return m->identify;
}

/* ---- life cycle ------------------------------------------------------- */

Machine *
machine_new(BmcLoop *loop, const MachineConfig *cfg, GError **error)
{
    g_autoptr(Machine) m = g_new0(Machine, 1);
    QmpClientOptions qopts = {
        .command_timeout_ms = cfg->qmp_command_timeout_ms,
    };

    m->qemu_pidfd = -1; /* before anything can fail: machine_free() closes it */

    if (g_mkdir_with_parents(cfg->state_dir, 0700) < 0) {
        int err = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "state directory %s: %s", cfg->state_dir,
                    bmc_strerror(err));
        return NULL;
    }
    if (g_mkdir_with_parents(cfg->run_dir, 0755) < 0) {
        int err = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "run directory %s: %s", cfg->run_dir, bmc_strerror(err));
        return NULL;
    }
    m->loop = loop;
    machine_boot_init(m, cfg);
    m->program = g_strdup(cfg->program);
    m->state_path = g_build_filename(cfg->state_dir, STATE_FILE, NULL);
    m->marker_path = g_build_filename(cfg->run_dir, RESTORE_MARKER, NULL);
    m->restore_default = cfg->restore_default;
    m->policy = cfg->restore_default;
    m->poll_ms = cfg->supervisor_poll_ms ? cfg->supervisor_poll_ms : 1000;
    m->process_running =
        cfg->process_running ? cfg->process_running : process_running;
    m->pidfd_open = cfg->pidfd_open ? cfg->pidfd_open : real_pidfd_open;
    m->action_timeout_ms =
        cfg->action_timeout_ms ? cfg->action_timeout_ms : 30000;
    load_state(m);

    m->qmp = qmp_client_new(loop, cfg->qmp_socket, &qopts, &qmp_callbacks, m);
    m->sup = supervisor_client_new(loop, cfg->supervisor_socket, 0);
    m->poll_timer = bmc_timer_new(loop, on_poll_timer, m);
    m->kick_timer = bmc_timer_new(loop, on_kick, m);
    m->action_timer = bmc_timer_new(loop, on_action_timeout, m);
    m->retry_timer = bmc_timer_new(loop, on_retry, m);
    m->identify_timer = bmc_timer_new(loop, on_identify_timeout, m);
    m->stop_timer = bmc_timer_new(loop, on_stop_timer, m);
    return g_steal_pointer(&m);
}

void
machine_start(Machine *m)
{
    /* The marker lives in the run directory, which is new at each start of
     * the container (or of run-local): its absence means "AC power was just
     * applied", while an ipmi_sim restart finds it and leaves power alone. */
    if (!g_file_test(m->marker_path, G_FILE_TEST_EXISTS)) {
        g_autoptr(GError) error = NULL;

        if (!g_file_set_contents(m->marker_path, "", 0, &error)) {
            g_warning("%s", error->message);
        }
        m->pending_restore = TRUE;
    }
    qmp_client_connect_now(m->qmp);
    poll_supervisor(m);
}

void
machine_free(Machine *m)
{
    if (!m) {
        return;
    }
    /* Clients first: their cancelled callbacks still see a whole Machine. */
    g_clear_pointer(&m->qmp, qmp_client_free);
    g_clear_pointer(&m->sup, supervisor_client_free);
    bmc_timer_free(m->loop, m->poll_timer);
    bmc_timer_free(m->loop, m->kick_timer);
    bmc_timer_free(m->loop, m->action_timer);
    bmc_timer_free(m->loop, m->retry_timer);
    bmc_timer_free(m->loop, m->identify_timer);
    bmc_timer_free(m->loop, m->stop_timer);
    unwatch_qemu(m);
    machine_boot_free(m);
    g_free(m->program);
    g_free(m->state_path);
    g_free(m->marker_path);
    g_free(m);
}
