/*
 * fake-console.h - the peers of the sol-bridge, in-process, for unit tests.
 *
 * FakeQemu is QEMU's serial socket: it listens on a unix socket like
 * `-chardev socket,server=on` and talks to one client at a time.  Stopping
 * it either removes the socket (a clean QEMU exit) or leaves it behind (a
 * QEMU killed with SIGKILL).  FakeClient is a console client: ipmi_sim on
 * the TCP side, or an operator on the unix socket.
 *
 * Nothing here blocks: waiting means iterating the bridge's GMainContext
 * (test_pump_until) until a condition holds, or failing the test after a
 * deadline.  All sockets are non-blocking.
 */
#pragma once

#include <glib.h>

/* Iterate @context until @done(@data) or @timeout_ms pass; FALSE on
 * timeout.  Also sleeps briefly when nothing is ready, so peers in other
 * processes (none here) or the kernel get to move. */
gboolean test_pump_until(GMainContext *context, gboolean (*done)(gpointer),
                         gpointer data, guint timeout_ms);
/* Iterate for @ms regardless. */
void test_pump_for(GMainContext *context, guint ms);

/* ---- QEMU -------------------------------------------------------------- */

typedef struct FakeQemu FakeQemu;

/* Listen on @path (a stale socket there is replaced, as QEMU does). */
FakeQemu *fake_qemu_new(GMainContext *context, const char *path);
/* Close everything; @remove_socket FALSE leaves a stale socket file. */
void fake_qemu_free(FakeQemu *fq, gboolean remove_socket);

/* Wait (pumping) for the bridge to connect; FALSE after @timeout_ms. */
gboolean fake_qemu_accept(FakeQemu *fq, guint timeout_ms);
gboolean fake_qemu_connected(FakeQemu *fq);
/* The guest writes: send all of @data, pumping the bridge whenever the
 * socket is full.  FALSE if the bridge stalls for @timeout_ms. */
gboolean fake_qemu_send(FakeQemu *fq, const void *data, gsize len,
                        guint timeout_ms);
/* Everything the bridge sent QEMU so far (reads what is pending first). */
GString *fake_qemu_received(FakeQemu *fq);
/* Stop reading (the guest does not read its serial port): shrink the
 * receive buffer so the bridge feels it soon. */
void fake_qemu_stop_reading(FakeQemu *fq);
/* Hang up the current connection (QEMU exits), keep the listener. */
void fake_qemu_hang_up(FakeQemu *fq);

/* ---- Console clients --------------------------------------------------- */

typedef struct FakeClient FakeClient;

FakeClient *fake_client_new_tcp(GMainContext *context, int port);
FakeClient *fake_client_new_unix(GMainContext *context, const char *path);
void fake_client_free(FakeClient *fc);

/* A client that stops reading (until resumed). */
void fake_client_stall(FakeClient *fc);
void fake_client_resume(FakeClient *fc);

void fake_client_send(FakeClient *fc, const void *data, gsize len);
/* Everything received so far (reads what is pending first, unless
 * stalled). */
GString *fake_client_received(FakeClient *fc);
/* Pump until what was received contains @needle; FALSE on timeout. */
gboolean fake_client_wait_for(FakeClient *fc, const char *needle,
                              guint timeout_ms);
/* TRUE once the bridge closed the connection. */
gboolean fake_client_closed(FakeClient *fc);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeClient, fake_client_free)
