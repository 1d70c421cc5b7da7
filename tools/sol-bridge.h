/*
 * sol-bridge.h - the serial console path between QEMU and its readers.
 *
 *   QEMU serial socket (QEMU listens) ──► console log (capped, rotated)
 *        ▲                             ├─► stdout (optional)
 *        │ input                       ├─► SOL client: ipmi_sim over TCP
 *        └──────────────────────────── └─► operator client: a unix socket
 *
 * The bridge connects to QEMU's serial socket whenever one is there and
 * reconnects to each new QEMU (inotify on the socket's directory, and a
 * retry timer), while its own listening sockets and client connections stay
 * up: ipmi_sim never sees the console go away across power off/on, so its
 * 10-second retry never runs.
 *
 * It never blocks: every socket is non-blocking, QEMU's output is read as
 * soon as it arrives (a slow reader makes QEMU's serial device drop or
 * repeat characters), and each client has a bounded queue that drops the
 * oldest output when the client is slow.  Input for the guest is queued
 * only while QEMU is connected and is discarded otherwise.  One client of
 * each kind: a new connection replaces the old one.
 */
#pragma once

#include <glib.h>

#include "console-log.h"

#define SOL_BRIDGE_ERROR (sol_bridge_error_quark())
GQuark sol_bridge_error_quark(void);

typedef enum {
    SOL_BRIDGE_ERROR_SETUP, /* a socket could not be set up */
} SolBridgeError;

typedef struct {
    /* QEMU's serial socket (QEMU is the server). */
    const char *serial_path;
    /* A listening TCP socket for ipmi_sim's `sol "tcp:..."`; the bridge
     * takes ownership.  -1: none. */
    int sol_listen_fd;
    /* Where to listen for one operator client; NULL: none. */
    const char *ops_path;
    /* Where the console output is kept; borrowed, may be NULL. */
    ConsoleLog *log;
    /* A non-blocking fd to copy the console output to (stdout); -1: none.
     * Borrowed. */
    int mirror_fd;
    /* Queue sizes in bytes; 0 picks the default. */
    gsize client_queue;
    gsize serial_queue;
    /* While QEMU's socket is absent, try to connect this often (ms); 0
     * picks the default: 100 ms, or 1 s when inotify watches the socket's
     * directory (a new QEMU is then seen as it binds, and an idle node
     * should not poll ten times a second). */
    guint retry_ms;
    /* Reset the SOL link when ipmi_sim has taken none of the output
     * waiting for it for this long (ms), see client_reset() in
     * sol-bridge.c; 0 picks the default. */
    guint sol_stall_ms;
    /* Pace the SOL output to this many bytes a second (see
     * pace_allowance() in sol-bridge.c); 0: unpaced. */
    guint sol_rate;
} SolBridgeOptions;

#define SOL_BRIDGE_DEFAULT_CLIENT_QUEUE (256 * 1024)
#define SOL_BRIDGE_DEFAULT_SERIAL_QUEUE 4096
#define SOL_BRIDGE_DEFAULT_RETRY_MS     100
#define SOL_BRIDGE_INOTIFY_RETRY_MS     1000
#define SOL_BRIDGE_DEFAULT_STALL_MS     30000
#define SOL_BRIDGE_DEFAULT_RATE         (64 * 1024)

typedef struct {
    guint64 serial_connects; /* QEMU connections made */
    guint64 from_serial;     /* bytes the guest wrote */
    guint64 serial_reads;    /* reads that returned some */
    guint64 to_serial;       /* bytes delivered to QEMU */
    guint64 input_discarded; /* typed while QEMU was down, or left
                                unsent when it went */
    guint64 input_dropped;   /* guest not reading: input queue full */
    guint64 sol_dropped;     /* output dropped for a slow SOL client */
    guint64 ops_dropped;     /* ... for a slow operator client */
    guint64 mirror_dropped;  /* ... for a blocked stdout */
    guint64 log_lost;        /* bytes the log could not take */
    guint64 sol_clients;     /* SOL connections accepted */
    guint64 ops_clients;     /* operator connections accepted */
    guint64 breaks;          /* serial breaks from SOL, not forwarded */
    guint64 sol_resets;      /* SOL links reset: ipmi_sim took nothing */
} SolBridgeStats;

typedef struct SolBridge SolBridge;

/* Starts at once on @context (NULL: the thread-default context). */
SolBridge *sol_bridge_new(const SolBridgeOptions *opts, GMainContext *context,
                          GError **error);
void sol_bridge_free(SolBridge *b);

/* Before exit: take whatever QEMU has already written (without waiting
 * for more), put it in the log and sync the log. */
void sol_bridge_flush(SolBridge *b);

gboolean sol_bridge_serial_connected(SolBridge *b);
gboolean sol_bridge_sol_connected(SolBridge *b);
gboolean sol_bridge_ops_connected(SolBridge *b);
const SolBridgeStats *sol_bridge_get_stats(SolBridge *b);
/* Bytes queued for the SOL client (for tests: the bound holds). */
gsize sol_bridge_sol_queued(SolBridge *b);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SolBridge, sol_bridge_free)
