/*
 * session-guard.h - free RMCP+ session slots that never finish RAKP.
 *
 * Stock lanserv (OpenIPMI 2.0.33) takes one of its 63 session slots on an
 * unauthenticated Open Session request and keeps it for the channel's
 * session timeout (30 s) unless RAKP 3 completes: a burst of such requests
 * refuses every login ("insufficient resources for session") until then.
 * The guard looks at the session table once a second and closes, through
 * lanserv's own timeout path, every session still in RAKP after a limit.
 */
#pragma once

#include <glib.h>

#include <OpenIPMI/lanserv.h>
#include <OpenIPMI/serv.h>

#include "loop.h"

#define BMC_SESSION_GUARD_ERROR (bmc_session_guard_error_quark())
GQuark bmc_session_guard_error_quark(void);

typedef struct SessionGuard SessionGuard;

/* How often the table is scanned. */
#define SESSION_GUARD_SCAN_MS 1000

/* Slots kept free for new logins by closing the longest-idle sessions
 * (idle for at least SESSION_GUARD_IDLE_S seconds). */
#define SESSION_GUARD_RESERVE 8
#define SESSION_GUARD_IDLE_S  5

/* Check that @lan looks like OpenIPMI 2.0.33's lanserv_data_t, the one the
 * plugin was built against, for a channel of @sys: its channel and tick
 * handler point back at it, every slot's handle is its index, and the
 * active slots add up to the channel's count.  A different OpenIPMI fails
 * here instead of having its memory written. */
gboolean session_guard_check_layout(const lanserv_data_t *lan,
                                    const sys_data_t *sys, GError **error);

/* Watch @lan's sessions: a session still in RAKP @limit_ms after the guard
 * first saw it is closed; when fewer than SESSION_GUARD_RESERVE slots are
 * free, so are the sessions idle longest (see session-guard.c).  Fails (NULL)
 * when session_guard_check_layout() does. */
SessionGuard *session_guard_new(BmcLoop *loop, lanserv_data_t *lan,
                                const sys_data_t *sys, guint limit_ms,
                                GError **error);
void session_guard_free(SessionGuard *guard);

/* One look at the table; the guard's timer calls it every
 * SESSION_GUARD_SCAN_MS.  Returns how many sessions it closed. */
guint session_guard_scan(SessionGuard *guard);

/* Sessions closed so far. */
guint session_guard_evicted(const SessionGuard *guard);

/* FALSE once a scan found the table no longer as expected; the guard then
 * stays idle. */
gboolean session_guard_active(const SessionGuard *guard);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SessionGuard, session_guard_free)
