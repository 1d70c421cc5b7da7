/*
 * fake-qmp.h - a scripted QMP server for unit tests.
 *
 * It listens on a unix socket, runs in-process on the test's BmcLoop and
 * walks a script, one item after another, across connections:
 *  - "expect" items wait for the client's next command, check its name
 *    (and arguments, if given) and answer it;
 *  - "send" items (event, raw bytes, close) go out as soon as they reach
 *    the head of the script and a connection is up and negotiated;
 *  - a "wait for connection" item holds the script until the client has
 *    reconnected.
 * A command the script does not expect, or an item still unused when the
 * fake is freed, fails the running test with g_test_fail().
 *
 * With the normal greeting the fake answers qmp_capabilities on every new
 * connection itself (and fails the test if anything else comes first), so
 * scripts need not repeat the handshake after each reconnect.
 */
#pragma once

#include <glib.h>

#include "loop.h"

typedef enum {
    FAKE_QMP_GREETING_NORMAL,  /* a QEMU-like {"QMP": ...} greeting */
    FAKE_QMP_GREETING_NONE,    /* accept and say nothing */
    FAKE_QMP_GREETING_GARBAGE, /* a line that is not JSON */
    FAKE_QMP_GREETING_CLOSE,   /* accept and close at once */
} FakeQmpGreeting;

typedef struct FakeQmp FakeQmp;

/* Listens on @socket_path at once (which must not exist). */
FakeQmp *fake_qmp_new(BmcLoop *loop, const char *socket_path);
/* Fails the test if script items are left; removes the socket. */
void fake_qmp_free(FakeQmp *fq);

/* Applies to connections accepted from now on. */
void fake_qmp_set_greeting(FakeQmp *fq, FakeQmpGreeting greeting);
/* FALSE: qmp_capabilities is scripted like any other command. */
void fake_qmp_set_auto_negotiate(FakeQmp *fq, gboolean auto_negotiate);
/* FALSE: leave new connections in the listen backlog. */
void fake_qmp_set_accepting(FakeQmp *fq, gboolean accepting);

/* Script items.  @args_json NULL: any arguments; else they must equal it
 * (missing arguments equal "{}").  @return_json is the "return" value. */
void fake_qmp_expect(FakeQmp *fq, const char *command, const char *args_json,
                     const char *return_json);
void fake_qmp_expect_error(FakeQmp *fq, const char *command,
                           const char *args_json, const char *error_class,
                           const char *desc);
/* Reply @delay_ms later (loop time); the script moves on meanwhile. */
void fake_qmp_expect_delayed(FakeQmp *fq, const char *command,
                             const char *args_json, const char *return_json,
                             guint delay_ms);
/* Reply in pieces of @chunk bytes, the first at once, then one every
 * @gap_ms (loop time): the client reads a line across many reads. */
void fake_qmp_expect_split(FakeQmp *fq, const char *command,
                           const char *args_json, const char *return_json,
                           gsize chunk, guint gap_ms);
/* Send the first @partial bytes of the reply (never its newline), then
 * close the connection: QEMU dying in the middle of an answer. */
void fake_qmp_expect_partial_close(FakeQmp *fq, const char *command,
                                   const char *args_json,
                                   const char *return_json, gsize partial);
void fake_qmp_expect_no_reply(FakeQmp *fq, const char *command,
                              const char *args_json);
/* Close the connection instead of replying. */
void fake_qmp_expect_close(FakeQmp *fq, const char *command,
                           const char *args_json);
/* {"event": @name, "data": @data_json (omitted if NULL), "timestamp": ...} */
void fake_qmp_send_event(FakeQmp *fq, const char *name, const char *data_json);
/* Bytes as given: no newline is added.  @len -1: NUL-terminated. */
void fake_qmp_send_raw(FakeQmp *fq, const char *bytes, gssize len);
void fake_qmp_close(FakeQmp *fq);
/* Wait until a connection accepted after this item is reached is up. */
void fake_qmp_wait_connection(FakeQmp *fq);

gboolean fake_qmp_script_done(FakeQmp *fq);
/* A connection is up (and negotiated, when the fake does that). */
gboolean fake_qmp_is_ready(FakeQmp *fq);
guint fake_qmp_get_connections(FakeQmp *fq);
/* Loop time (ms) of each accept, gint64 elements. */
GArray *fake_qmp_get_accept_times(FakeQmp *fq);
/* Number of commands received, qmp_capabilities included. */
guint fake_qmp_get_commands(FakeQmp *fq);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeQmp, fake_qmp_free)
