/*
 * session-guard.c - free RMCP+ session slots that never finish RAKP, and
 * the longest-idle sessions when the table is nearly full.
 *
 * What lanserv 2.0.33 offers (lanserv.h, public): lanserv_data_t with the
 * session table sessions[0..MAX_SESSIONS]; each session_t has active,
 * in_startup (set by Open Session, cleared by a good RAKP 3), rmcpplus,
 * sid and time_left, the seconds until ipmi_lan_tick() closes it.  What it
 * does not offer: close_session() and ipmi_lan_tick() are static.  But
 * ipmi_lan_tick() is reachable through lan->tick_handler, and it closes
 * every active session whose time_left is not above the seconds it is
 * given: zeroing time_left and calling it with 0 closes exactly the
 * sessions we chose, with lanserv's own cleanup (closers, integrity and
 * confidentiality state, source address, active_sessions, a log line).
 *
 * lanserv keeps no start time per session, so the guard remembers when it
 * first saw each session id in RAKP.
 */
#include "config.h"

#include "session-guard.h"

G_DEFINE_QUARK(qemu_bmc_session_guard_error, bmc_session_guard_error)

struct SessionGuard {
    BmcLoop *loop;
    BmcTimer *timer;
    lanserv_data_t *lan;
    const sys_data_t *sys;
    guint limit_ms;
    gboolean active;
    guint evicted;
    /* Per slot: the session id seen in RAKP (0: none; lanserv's ids are
     * never 0), and since when. */
    uint32_t seen_sid[MAX_SESSIONS + 1];
    gint64 seen_ms[MAX_SESSIONS + 1];
};

gboolean
session_guard_check_layout(const lanserv_data_t *lan, const sys_data_t *sys,
                           GError **error)
{
    guint active = 0;

    if (!lan) {
        g_set_error(error, BMC_SESSION_GUARD_ERROR, 0,
                    "the LAN channel has no lanserv data");
        return FALSE;
    }
    if (lan->channel.chan_info != lan || lan->sysinfo != sys ||
        lan->tick_handler.info != lan || !lan->tick_handler.handler) {
        g_set_error(error, BMC_SESSION_GUARD_ERROR, 0,
                    "lanserv_data_t does not match OpenIPMI 2.0.33's layout "
                    "(channel, sysinfo or tick handler)");
        return FALSE;
    }
    for (guint i = 0; i <= MAX_SESSIONS; i++) {
        const session_t *s = &lan->sessions[i];

        if (s->handle != (int)i) {
            g_set_error(error, BMC_SESSION_GUARD_ERROR, 0,
                        "lanserv's session table does not match OpenIPMI "
                        "2.0.33's layout (slot %u holds handle %d)",
                        i, s->handle);
            return FALSE;
        }
        if (i > 0 && s->active) {
            active++;
        }
    }
    if (active != lan->channel.active_sessions) {
        g_set_error(error, BMC_SESSION_GUARD_ERROR, 0,
                    "lanserv's session table does not match OpenIPMI "
                    "2.0.33's layout (%u active slots, channel says %u)",
                    active, (guint)lan->channel.active_sessions);
        return FALSE;
    }
    return TRUE;
}

static void
guard_timer(gpointer data)
{
    SessionGuard *guard = data;

    session_guard_scan(guard);
    if (guard->active) {
        bmc_timer_start(guard->loop, guard->timer, SESSION_GUARD_SCAN_MS);
    }
}

SessionGuard *
session_guard_new(BmcLoop *loop, lanserv_data_t *lan, const sys_data_t *sys,
                  guint limit_ms, GError **error)
{
    SessionGuard *guard;

    if (!session_guard_check_layout(lan, sys, error)) {
        return NULL;
    }
    guard = g_new0(SessionGuard, 1);
    guard->loop = loop;
    guard->lan = lan;
    guard->sys = sys;
    guard->limit_ms = limit_ms;
    guard->active = TRUE;
    guard->timer = bmc_timer_new(loop, guard_timer, guard);
    bmc_timer_start(loop, guard->timer, SESSION_GUARD_SCAN_MS);
    return guard;
}

void
session_guard_free(SessionGuard *guard)
{
    if (!guard) {
        return;
    }
    bmc_timer_free(guard->loop, guard->timer);
    g_free(guard);
}

/* A session something is attached to (an active SOL payload registers a
 * closer) is in use even when its console is quiet. */
static gboolean
has_closer(const session_t *s)
{
    for (guint k = 0; k < LANSERV_NUM_CLOSERS; k++) {
        if (s->closers[k].close_cb) {
            return TRUE;
        }
    }
    return FALSE;
}

/* A client that ends without closing its session (pyghmi, a killed
 * ipmitool) leaves it for lanserv's timeout (30 s): a few busy clients then
 * fill the table and every login is refused.  When fewer than
 * SESSION_GUARD_RESERVE slots would be free, mark (time_left = 0) the
 * sessions idle longest, if idle SESSION_GUARD_IDLE_S or more, until the
 * reserve is back.  lanserv resets time_left to its timeout at every
 * message of a session, so the idle time is timeout - time_left.  Slots
 * already marked (time_left 0) count as free.  A session with SOL active
 * is never taken. */
static guint
mark_idle(lanserv_data_t *lan)
{
    guint timeout = lan->default_session_timeout;
    guint busy = 0, marked = 0;

    for (guint i = 1; i <= MAX_SESSIONS; i++) {
        if (lan->sessions[i].active && lan->sessions[i].time_left > 0) {
            busy++;
        }
    }
    while (MAX_SESSIONS - busy < SESSION_GUARD_RESERVE) {
        session_t *oldest = NULL;

        for (guint i = 1; i <= MAX_SESSIONS; i++) {
            session_t *s = &lan->sessions[i];

            if (!s->active || s->time_left == 0 ||
                (s->rmcpplus && s->in_startup) || s->time_left > timeout ||
                timeout - s->time_left < SESSION_GUARD_IDLE_S ||
                has_closer(s)) {
                continue;
            }
            if (!oldest || s->time_left < oldest->time_left) {
                oldest = s;
            }
        }
        if (!oldest) {
            break;
        }
        oldest->time_left = 0;
        busy--;
        marked++;
    }
    return marked;
}

guint
session_guard_scan(SessionGuard *guard)
{
    lanserv_data_t *lan = guard->lan;
    g_autoptr(GError) error = NULL;
    gint64 now;
    guint marked = 0, idle;

    if (!guard->active) {
        return 0;
    }
    /* Cheap, and the table is written by code we do not control: look
     * again before every write. */
    if (!session_guard_check_layout(lan, guard->sys, &error)) {
        g_warning("session guard stopped: %s", error->message);
        guard->active = FALSE;
        return 0;
    }
    now = bmc_loop_now_ms(guard->loop);
    for (guint i = 1; i <= MAX_SESSIONS; i++) {
        session_t *s = &lan->sessions[i];

        /* in_startup is not cleared when a slot is closed or reused for
         * an IPMI 1.5 session: only RMCP+ ones count. */
        if (!s->active || !s->rmcpplus || !s->in_startup) {
            guard->seen_sid[i] = 0;
            continue;
        }
        if (guard->seen_sid[i] != s->sid) {
            guard->seen_sid[i] = s->sid;
            guard->seen_ms[i] = now;
            continue;
        }
        if (now - guard->seen_ms[i] >= guard->limit_ms) {
            s->time_left = 0;
            guard->seen_sid[i] = 0;
            marked++;
        }
    }
    idle = mark_idle(lan);
    if (marked + idle == 0) {
        return 0;
    }
    /* Every other active session has time_left >= 1 (the tick closes a
     * session before it could reach 0), so this closes only ours. */
    lan->tick_handler.handler(lan->tick_handler.info, 0);
    guard->evicted += marked + idle;
    g_message("closed %u RMCP+ session(s) still in RAKP after %u ms and %u "
              "idle session(s) of a nearly full table (%u so far, %u "
              "sessions active)",
              marked, guard->limit_ms, idle, guard->evicted,
              (guint)lan->channel.active_sessions);
    return marked + idle;
}

guint
session_guard_evicted(const SessionGuard *guard)
{
    return guard->evicted;
}

gboolean
session_guard_active(const SessionGuard *guard)
{
    return guard->active;
}
