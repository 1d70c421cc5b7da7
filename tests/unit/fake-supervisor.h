/*
 * fake-supervisor.h - a scripted supervisord for unit tests.
 *
 * Listens on a unix socket in a test's temp dir and runs on the test's
 * BmcLoop, in-process.  Each HTTP/XML-RPC request must match the next item
 * of the script (method and rendered params); the item says how to answer.
 * An unexpected or malformed request, or an item left unused when the fake
 * is freed, fails the running test with a message naming it.
 *
 * Params are rendered as the fake read them: strings in double quotes,
 * booleans as true/false, ints as numbers, joined by ", ", e.g.
 * "\"qemu\", false".
 */
#pragma once

#include "loop.h"

typedef struct FakeSupervisor FakeSupervisor;

/* Listen on @dir/supervisor.sock. */
FakeSupervisor *fake_supervisor_new(BmcLoop *loop, const char *dir);
/* Fails the test for each script item not used; closes all connections. */
void fake_supervisor_free(FakeSupervisor *fake);
const char *fake_supervisor_get_socket_path(FakeSupervisor *fake);
/* Requests received so far, expected or not. */
guint fake_supervisor_get_requests(FakeSupervisor *fake);
/* Connections currently open on the fake's side. */
guint fake_supervisor_get_open_connections(FakeSupervisor *fake);

/* HTTP 200 with a methodResponse around @value_xml ("<value>...</value>"). */
void fake_supervisor_expect_value(FakeSupervisor *fake, const char *method,
                                  const char *params, const char *value_xml);
/* HTTP 200 with @body, e.g. a response captured from supervisord. */
void fake_supervisor_expect_body(FakeSupervisor *fake, const char *method,
                                 const char *params, const char *body);
/* HTTP 200 with an XML-RPC fault. */
void fake_supervisor_expect_fault(FakeSupervisor *fake, const char *method,
                                  const char *params, int code,
                                  const char *string);
/* An HTTP error status with a short text body. */
void fake_supervisor_expect_http_status(FakeSupervisor *fake,
                                        const char *method, const char *params,
                                        guint status);
/* @raw written as is, with no HTTP framing added (garbage, bad framing). */
void fake_supervisor_expect_raw(FakeSupervisor *fake, const char *method,
                                const char *params, const char *raw);
/* A well-framed HTTP 200 response far over the client's size cap. */
void fake_supervisor_expect_oversized(FakeSupervisor *fake, const char *method,
                                      const char *params);
/* Read the request, then never answer nor close. */
void fake_supervisor_expect_hang(FakeSupervisor *fake, const char *method,
                                 const char *params);
/* Read the request, then close without answering. */
void fake_supervisor_expect_close(FakeSupervisor *fake, const char *method,
                                  const char *params);
/* Let the last item answer every matching call, at least one, until a call
 * matches the item after it: a polling client asks a varying number of
 * times. */
void fake_supervisor_repeat_last(FakeSupervisor *fake);
/* Every item has been used (repeating ones at least once). */
gboolean fake_supervisor_script_done(FakeSupervisor *fake);
/* Write the last item's answer @chunk bytes per loop round. */
void fake_supervisor_split_last(FakeSupervisor *fake, gsize chunk);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeSupervisor, fake_supervisor_free)
