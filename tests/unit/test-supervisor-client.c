/*
 * test-supervisor-client.c - SupervisorClient against a scripted fake
 * supervisord, on a poll loop with a fake clock.
 *
 * The SUPERVISORD_* fixtures are whole HTTP responses captured from a real
 * supervisord (see supervisord-fixtures.h) and replayed verbatim by the fake.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "fake-supervisor.h"
#include "supervisor-client.h"
#include "supervisord-fixtures.h"
#include "test-util.h"

#define GET_INFO    "supervisor.getProcessInfo"
#define START       "supervisor.startProcess"
#define STOP        "supervisor.stopProcess"
#define QEMU        "\"qemu\""
#define QEMU_NOWAIT "\"qemu\", false"

/* Loop time allowed for any one exchange; far above every timeout used. */
#define WAIT_MS 60000

typedef struct {
    char *tmpdir;
    BmcPollLoop *pl;
    BmcLoop *loop;
    FakeSupervisor *fake;
    SupervisorClient *client;
} Fixture;

typedef struct {
    BmcLoop *loop;
    guint calls;
    gboolean had_reply;
    SupReply reply;
    GError *error;
    gint64 done_ms;
} Result;

static void
fixture_setup(Fixture *fix, gconstpointer user_data)
{
    fix->tmpdir = test_tmpdir_new("test-supervisor-client-XXXXXX");
    /* In-process peers make the fake clock exact: it only jumps when
     * neither side has anything left to do. */
    fix->pl = bmc_poll_loop_new(TRUE);
    fix->loop = bmc_poll_loop_get(fix->pl);
    fix->fake = fake_supervisor_new(fix->loop, fix->tmpdir);
    fix->client = supervisor_client_new(
        fix->loop, fake_supervisor_get_socket_path(fix->fake), 0);
}

static void
fixture_teardown(Fixture *fix, gconstpointer user_data)
{
    g_clear_pointer(&fix->client, supervisor_client_free);
    g_clear_pointer(&fix->fake, fake_supervisor_free);
    g_clear_pointer(&fix->pl, bmc_poll_loop_free);
    test_tmpdir_free(fix->tmpdir);
}

static void
result_init(Result *r, Fixture *fix)
{
    memset(r, 0, sizeof(*r));
    r->loop = fix->loop;
}

static void
result_clear(Result *r)
{
    g_clear_error(&r->error);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Result, result_clear)

static void
record_cb(SupervisorClient *client, const SupReply *reply, const GError *error,
          gpointer data)
{
    Result *r = data;

    r->calls++;
    r->had_reply = reply != NULL;
    if (reply) {
        r->reply = *reply;
    }
    g_clear_error(&r->error);
    if (error) {
        r->error = g_error_copy(error);
        g_test_message("call failed: %s", error->message);
    }
    r->done_ms = bmc_loop_now_ms(r->loop);
}

static gboolean
result_done(gpointer data)
{
    return ((Result *)data)->calls > 0;
}

/* A few loop rounds with no wait, for anything late to show up. */
static void
spin(Fixture *fix)
{
    for (int i = 0; i < 10; i++) {
        bmc_poll_loop_iterate(fix->pl, 0);
    }
}

/* Run until @r completes, then a few more rounds to catch a second
 * completion. */
static void
wait_for(Fixture *fix, Result *r)
{
    g_assert_true(bmc_poll_loop_run_until(fix->pl, result_done, r, WAIT_MS));
    spin(fix);
    g_assert_cmpuint(r->calls, ==, 1);
}

/* Run until the fake has read @n requests in all. */
static void
wait_requests(Fixture *fix, guint n)
{
    while (fake_supervisor_get_requests(fix->fake) < n) {
        g_assert_true(bmc_poll_loop_iterate(fix->pl, 0));
    }
}

/* Start @method (GET_INFO, START or STOP) on process @name, reporting to
 * @r through record_cb(). */
static void
start_call(Fixture *fix, const char *method, const char *name, Result *r)
{
    result_init(r, fix);
    if (strcmp(method, GET_INFO) == 0) {
        supervisor_client_get_process_info(fix->client, name, record_cb, r);
    } else if (strcmp(method, START) == 0) {
        supervisor_client_start_process(fix->client, name, record_cb, r);
    } else {
        g_assert_cmpstr(method, ==, STOP);
        supervisor_client_stop_process(fix->client, name, record_cb, r);
    }
}

/* The same, run until it completes. */
static void
call(Fixture *fix, const char *method, const char *name, Result *r)
{
    start_call(fix, method, name, r);
    wait_for(fix, r);
}

/* Script @response, captured from supervisord, as the answer to @method
 * on "qemu", then make that call. */
static void
call_replaying(Fixture *fix, const char *method, const char *response,
               Result *r)
{
    fake_supervisor_expect_raw(
        fix->fake, method, strcmp(method, GET_INFO) == 0 ? QEMU : QEMU_NOWAIT,
        response);
    call(fix, method, "qemu", r);
}

static void
assert_info(const Result *r, SupProcState state, int pid, int exitstatus,
            gint64 start, gint64 stop)
{
    g_assert_no_error(r->error);
    g_assert_cmpint(r->reply.state, ==, state);
    g_assert_cmpint(r->reply.pid, ==, pid);
    g_assert_cmpint(r->reply.exitstatus, ==, exitstatus);
    g_assert_cmpint(r->reply.start, ==, start);
    g_assert_cmpint(r->reply.stop, ==, stop);
}

static void
assert_fault_code(const Result *r, int code)
{
    g_assert_error(r->error, SUP_ERROR, SUP_ERROR_FAULT);
    g_assert_cmpint(r->reply.fault_code, ==, code);
}

/* --- Each call against the fake --- */

static void
test_get_process_info_stopped(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) r = {0};

    call_replaying(fix, GET_INFO, SUPERVISORD_INFO_STOPPED, &r);

    /* supervisord reports a process it killed with a signal as -1. */
    assert_info(&r, SUP_PROC_STOPPED, 0, -1, 1795311234, 1795311236);
    g_assert_true(r.had_reply);
    g_assert_cmpint(r.reply.fault_code, ==, 0);
}

static void
test_get_process_info_running(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) r = {0};

    call_replaying(fix, GET_INFO, SUPERVISORD_INFO_RUNNING, &r);

    assert_info(&r, SUP_PROC_RUNNING, 13295, 0, 1795311240, 1795311236);
}

static void
test_get_process_info_states(Fixture *fix, gconstpointer user_data)
{
    static const struct {
        int code;
        SupProcState state;
    } cases[] = {
        {10, SUP_PROC_STARTING}, {30, SUP_PROC_BACKOFF},
        {40, SUP_PROC_STOPPING}, {100, SUP_PROC_EXITED},
        {200, SUP_PROC_FATAL},   {1000, SUP_PROC_UNKNOWN},
        {7, SUP_PROC_UNKNOWN},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *value = g_strdup_printf(
            "<value><struct>"
            "<member><name>state</name><value><int>%d</int></value></member>"
            "<member><name>pid</name><value><int>42</int></value></member>"
            "<member><name>exitstatus</name><value><int>1</int></value>"
            "</member>"
            "<member><name>start</name><value><int>5</int></value></member>"
            "<member><name>stop</name><value><int>6</int></value></member>"
            "</struct></value>",
            cases[i].code);
        g_auto(Result) r = {0};

        fake_supervisor_expect_value(fix->fake, GET_INFO, QEMU, value);
        call(fix, GET_INFO, "qemu", &r);
        assert_info(&r, cases[i].state, 42, 1, 5, 6);
    }
}

static void
test_start_process(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) r = {0};

    call_replaying(fix, START, SUPERVISORD_START, &r);

    g_assert_no_error(r.error);
    g_assert_true(r.had_reply);
    g_assert_cmpint(r.reply.fault_code, ==, 0);
}

static void
test_stop_process(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) r = {0};

    call_replaying(fix, STOP, SUPERVISORD_STOP, &r);

    g_assert_no_error(r.error);
    g_assert_true(r.had_reply);
}

static void
test_concurrent_calls(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) info = {0};
    g_auto(Result) start = {0};
    g_auto(Result) stop = {0};

    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU,
                               SUPERVISORD_INFO_RUNNING);
    fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                               SUPERVISORD_FAULT_ALREADY_STARTED);
    fake_supervisor_expect_raw(fix->fake, STOP, QEMU_NOWAIT, SUPERVISORD_STOP);
    start_call(fix, GET_INFO, "qemu", &info);
    start_call(fix, START, "qemu", &start);
    start_call(fix, STOP, "qemu", &stop);
    wait_for(fix, &info);
    wait_for(fix, &start);
    wait_for(fix, &stop);

    g_assert_no_error(info.error);
    g_assert_cmpint(info.reply.pid, ==, 13295);
    assert_fault_code(&start, SUP_FAULT_ALREADY_STARTED);
    g_assert_no_error(stop.error);
}

/* --- Faults and bad answers --- */

/* A fault captured from supervisord, for the test's user_data. */
typedef struct {
    const char *method;
    const char *name; /* the process asked about */
    const char *params;
    const char *response;
    int code;
} FaultCase;

static const FaultCase fault_bad_name = {
    GET_INFO,           "nosuch", "\"nosuch\"", SUPERVISORD_FAULT_BAD_NAME,
    SUP_FAULT_BAD_NAME,
};
static const FaultCase fault_already_started = {
    START,
    "qemu",
    QEMU_NOWAIT,
    SUPERVISORD_FAULT_ALREADY_STARTED,
    SUP_FAULT_ALREADY_STARTED,
};
static const FaultCase fault_not_running = {
    STOP,
    "qemu",
    QEMU_NOWAIT,
    SUPERVISORD_FAULT_NOT_RUNNING,
    SUP_FAULT_NOT_RUNNING,
};

static void
test_fault(Fixture *fix, gconstpointer user_data)
{
    const FaultCase *c = user_data;
    g_auto(Result) r = {0};

    fake_supervisor_expect_raw(fix->fake, c->method, c->params, c->response);
    call(fix, c->method, c->name, &r);

    assert_fault_code(&r, c->code);
    g_assert_true(r.had_reply);
}

static void
test_fault_spawn_error(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) r = {0};

    fake_supervisor_expect_fault(fix->fake, START, QEMU_NOWAIT,
                                 SUP_FAULT_SPAWN_ERROR, "SPAWN_ERROR: qemu");
    call(fix, START, "qemu", &r);
    assert_fault_code(&r, SUP_FAULT_SPAWN_ERROR);
}

static void
test_escaped_name(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) r = {0};

    /* The fake unescapes what it reads: the name must arrive intact. */
    fake_supervisor_expect_fault(fix->fake, GET_INFO, "\"a<b>&\"c'd\"",
                                 SUP_FAULT_BAD_NAME, "BAD_NAME: a<b>&\"c'd");
    call(fix, GET_INFO, "a<b>&\"c'd", &r);
    assert_fault_code(&r, SUP_FAULT_BAD_NAME);
}

/* Run one getProcessInfo("qemu") after the caller scripted its answer and
 * check that it fails with SUP_ERROR_PROTOCOL and no reply. */
static void
assert_protocol_error(Fixture *fix)
{
    g_auto(Result) r = {0};

    call(fix, GET_INFO, "qemu", &r);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_PROTOCOL);
    g_assert_false(r.had_reply);
}

static void
test_http_500(Fixture *fix, gconstpointer user_data)
{
    fake_supervisor_expect_http_status(fix->fake, GET_INFO, QEMU, 500);
    assert_protocol_error(fix);
}

static void
test_garbage(Fixture *fix, gconstpointer user_data)
{
    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU,
                               "\x01\x02 this is not HTTP\n");
    assert_protocol_error(fix);
}

static void
test_malformed_xml(Fixture *fix, gconstpointer user_data)
{
    fake_supervisor_expect_body(fix->fake, GET_INFO, QEMU,
                                "<methodResponse><params><param><value>");
    assert_protocol_error(fix);
}

static void
test_truncated_body(Fixture *fix, gconstpointer user_data)
{
    g_autofree char *cut = g_strndup(SUPERVISORD_INFO_RUNNING,
                                     strlen(SUPERVISORD_INFO_RUNNING) - 100);

    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU, cut);
    assert_protocol_error(fix);
}

static void
test_content_length_mismatch(Fixture *fix, gconstpointer user_data)
{
    g_autofree char *longer =
        g_strconcat(SUPERVISORD_INFO_RUNNING, "<!-- more -->", NULL);

    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU, longer);
    assert_protocol_error(fix);
}

static void
test_oversized(Fixture *fix, gconstpointer user_data)
{
    fake_supervisor_expect_oversized(fix->fake, GET_INFO, QEMU);
    assert_protocol_error(fix);
}

static void
test_close_without_answer(Fixture *fix, gconstpointer user_data)
{
    fake_supervisor_expect_close(fix->fake, GET_INFO, QEMU);
    assert_protocol_error(fix);
}

static void
test_wrong_result_type(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) r = {0};

    /* getProcessInfo wants a struct with the members it reads. */
    fake_supervisor_expect_value(fix->fake, GET_INFO, QEMU,
                                 "<value><boolean>1</boolean></value>");
    assert_protocol_error(fix);
    fake_supervisor_expect_value(
        fix->fake, GET_INFO, QEMU,
        "<value><struct><member><name>state</name><value><int>20</int>"
        "</value></member></struct></value>");
    assert_protocol_error(fix);

    /* startProcess with wait=false answers true or a fault. */
    fake_supervisor_expect_value(fix->fake, START, QEMU_NOWAIT,
                                 "<value><boolean>0</boolean></value>");
    call(fix, START, "qemu", &r);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_PROTOCOL);
}

static void
test_split_response(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) r = {0};

    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU,
                               SUPERVISORD_INFO_RUNNING);
    fake_supervisor_split_last(fix->fake, 7);
    call(fix, GET_INFO, "qemu", &r);
    g_assert_no_error(r.error);
    g_assert_cmpint(r.reply.pid, ==, 13295);
}

/* --- Timeouts, deferral, exactly once, cancellation --- */

static void
test_timeout_default(Fixture *fix, gconstpointer user_data)
{
    gint64 start = bmc_loop_now_ms(fix->loop);
    g_auto(Result) r = {0};

    fake_supervisor_expect_hang(fix->fake, GET_INFO, QEMU);
    call(fix, GET_INFO, "qemu", &r);

    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_TIMEOUT);
    g_assert_false(r.had_reply);
    g_assert_cmpint(r.done_ms - start, ==, 2000);
    /* The client hung up; the fake has seen it. */
    g_assert_cmpuint(fake_supervisor_get_open_connections(fix->fake), ==, 0);
}

static void
test_timeout_custom(Fixture *fix, gconstpointer user_data)
{
    g_autoptr(SupervisorClient) client = supervisor_client_new(
        fix->loop, fake_supervisor_get_socket_path(fix->fake), 350);
    gint64 start = bmc_loop_now_ms(fix->loop);
    g_auto(Result) r = {0};

    result_init(&r, fix);
    fake_supervisor_expect_hang(fix->fake, STOP, QEMU_NOWAIT);
    supervisor_client_stop_process(client, "qemu", record_cb, &r);
    wait_for(fix, &r);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_TIMEOUT);
    g_assert_cmpint(r.done_ms - start, ==, 350);
}

/* A call that will fail at once must still complete from the loop, and
 * leave nothing behind in it. */
static void
assert_connect_error_deferred(const char *socket_path)
{
    g_autoptr(BmcPollLoop) pl = bmc_poll_loop_new(TRUE);
    BmcLoop *loop = bmc_poll_loop_get(pl);
    g_autoptr(SupervisorClient) client =
        supervisor_client_new(loop, socket_path, 0);
    gint64 start = bmc_loop_now_ms(loop);
    g_auto(Result) r = {.loop = loop};

    supervisor_client_get_process_info(client, "qemu", record_cb, &r);
    g_assert_cmpuint(r.calls, ==, 0);
    while (bmc_poll_loop_iterate(pl, 0)) {
        continue;
    }
    g_assert_cmpuint(r.calls, ==, 1);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_CONNECT);
    g_assert_false(r.had_reply);
    /* Delivered by a 0 ms timer, not by the timeout. */
    g_assert_cmpint(r.done_ms, ==, start);
}

static void
test_missing_socket(Fixture *fix, gconstpointer user_data)
{
    g_autofree char *path = g_build_filename(fix->tmpdir, "nosuch.sock", NULL);

    assert_connect_error_deferred(path);
}

static void
test_not_a_socket(Fixture *fix, gconstpointer user_data)
{
    g_autofree char *path = g_build_filename(fix->tmpdir, "plain", NULL);

    g_assert_true(g_file_set_contents(path, "", 0, NULL));
    assert_connect_error_deferred(path);
    g_assert_cmpint(g_unlink(path), ==, 0);
}

static void
test_socket_path_too_long(Fixture *fix, gconstpointer user_data)
{
    g_autofree char *name = g_strnfill(200, 'x');
    g_autofree char *path = g_build_filename(fix->tmpdir, name, NULL);

    assert_connect_error_deferred(path);
}

static void
test_completes_once_with_loop_clean(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) r = {0};

    fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                               SUPERVISORD_START);
    start_call(fix, START, "qemu", &r);
    g_assert_cmpuint(r.calls, ==, 0);
    wait_for(fix, &r);
    /* Let a whole timeout period pass: a timer left armed would fire. */
    bmc_poll_loop_advance(fix->pl, 10000);
    spin(fix);
    g_assert_cmpuint(r.calls, ==, 1);
    g_assert_no_error(r.error);
    g_assert_cmpuint(fake_supervisor_get_open_connections(fix->fake), ==, 0);
}

static void
test_free_cancels_pending(Fixture *fix, gconstpointer user_data)
{
    g_auto(Result) hung1 = {0};
    g_auto(Result) hung2 = {0};
    g_auto(Result) fresh = {0};

    fake_supervisor_expect_hang(fix->fake, GET_INFO, QEMU);
    fake_supervisor_expect_hang(fix->fake, START, QEMU_NOWAIT);
    start_call(fix, GET_INFO, "qemu", &hung1);
    start_call(fix, START, "qemu", &hung2);
    wait_requests(fix, 2);
    /* And one that has not even sent its request. */
    start_call(fix, STOP, "qemu", &fresh);

    g_clear_pointer(&fix->client, supervisor_client_free);
    g_assert_cmpuint(hung1.calls, ==, 1);
    g_assert_cmpuint(hung2.calls, ==, 1);
    g_assert_cmpuint(fresh.calls, ==, 1);
    g_assert_error(hung1.error, SUP_ERROR, SUP_ERROR_CANCELLED);
    g_assert_error(hung2.error, SUP_ERROR, SUP_ERROR_CANCELLED);
    g_assert_error(fresh.error, SUP_ERROR, SUP_ERROR_CANCELLED);
    g_assert_false(hung1.had_reply);

    /* Nothing more arrives, and the sockets were closed. */
    bmc_poll_loop_advance(fix->pl, 10000);
    spin(fix);
    g_assert_cmpuint(hung1.calls + hung2.calls + fresh.calls, ==, 3);
    g_assert_cmpuint(fake_supervisor_get_open_connections(fix->fake), ==, 0);
}

static void
test_free_cancels_undelivered(Fixture *fix, gconstpointer user_data)
{
    g_autofree char *path = g_build_filename(fix->tmpdir, "nosuch.sock", NULL);
    SupervisorClient *client = supervisor_client_new(fix->loop, path, 0);
    g_auto(Result) r = {0};

    /* The failure is known at once but not yet delivered: freeing the
     * client still completes the call exactly once, as cancelled. */
    result_init(&r, fix);
    supervisor_client_get_process_info(client, "qemu", record_cb, &r);
    supervisor_client_free(client);
    g_assert_cmpuint(r.calls, ==, 1);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_CANCELLED);
    spin(fix);
    g_assert_cmpuint(r.calls, ==, 1);
}

typedef struct {
    Fixture *fix;
    Result first;
    Result other;
    Result late;
} Reentry;

static void
reentry_clear(Reentry *re)
{
    result_clear(&re->first);
    result_clear(&re->other);
    result_clear(&re->late);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Reentry, reentry_clear)

static void
free_client_cb(SupervisorClient *client, const SupReply *reply,
               const GError *error, gpointer data)
{
    Reentry *re = data;

    record_cb(client, reply, error, &re->first);
    g_clear_pointer(&re->fix->client, supervisor_client_free);
}

static void
test_free_from_callback(Fixture *fix, gconstpointer user_data)
{
    g_auto(Reentry) re = {.fix = fix};

    result_init(&re.first, fix);
    fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                               SUPERVISORD_START);
    fake_supervisor_expect_hang(fix->fake, GET_INFO, QEMU);
    supervisor_client_start_process(fix->client, "qemu", free_client_cb, &re);
    start_call(fix, GET_INFO, "qemu", &re.other);
    wait_for(fix, &re.first);

    g_assert_no_error(re.first.error);
    g_assert_null(fix->client);
    g_assert_cmpuint(re.other.calls, ==, 1);
    g_assert_error(re.other.error, SUP_ERROR, SUP_ERROR_CANCELLED);
}

static void
call_again_cb(SupervisorClient *client, const SupReply *reply,
              const GError *error, gpointer data)
{
    Reentry *re = data;

    record_cb(client, reply, error, &re->first);
    supervisor_client_stop_process(client, "qemu", record_cb, &re->late);
}

static void
test_call_from_cancel_callback(Fixture *fix, gconstpointer user_data)
{
    g_auto(Reentry) re = {.fix = fix};

    result_init(&re.first, fix);
    result_init(&re.late, fix);
    fake_supervisor_expect_hang(fix->fake, GET_INFO, QEMU);
    supervisor_client_get_process_info(fix->client, "qemu", call_again_cb, &re);
    wait_requests(fix, 1);
    g_clear_pointer(&fix->client, supervisor_client_free);

    /* The call made while freeing is cancelled too, without a request. */
    g_assert_cmpuint(re.first.calls, ==, 1);
    g_assert_cmpuint(re.late.calls, ==, 1);
    g_assert_error(re.late.error, SUP_ERROR, SUP_ERROR_CANCELLED);
    spin(fix);
    g_assert_cmpuint(fake_supervisor_get_requests(fix->fake), ==, 1);
}

static void
test_new_call_from_callback(Fixture *fix, gconstpointer user_data)
{
    g_auto(Reentry) re = {.fix = fix};

    result_init(&re.first, fix);
    result_init(&re.late, fix);
    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU,
                               SUPERVISORD_INFO_STOPPED);
    fake_supervisor_expect_raw(fix->fake, STOP, QEMU_NOWAIT,
                               SUPERVISORD_FAULT_NOT_RUNNING);
    supervisor_client_get_process_info(fix->client, "qemu", call_again_cb, &re);
    wait_for(fix, &re.first);
    wait_for(fix, &re.late);
    g_assert_no_error(re.first.error);
    assert_fault_code(&re.late, SUP_FAULT_NOT_RUNNING);
}

/* --- The fake itself --- */

/* Run the calling test again in a subprocess, which the fake must fail
 * with a message matching @stderr_pattern. */
static void
assert_fake_fails(const char *stderr_pattern)
{
    g_test_trap_subprocess(NULL, 10 * G_USEC_PER_SEC,
                           G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr(stderr_pattern);
}

static void
test_fake_unexpected_call(Fixture *fix, gconstpointer user_data)
{
    if (g_test_subprocess()) {
        g_auto(Result) r = {0};

        fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                                   SUPERVISORD_START);
        call(fix, STOP, "qemu", &r);
        return;
    }
    assert_fake_fails(
        "*unexpected call supervisor.stopProcess(\"qemu\", false), "
        "expected supervisor.startProcess(\"qemu\", false)*");
}

static void
test_fake_unused_item(Fixture *fix, gconstpointer user_data)
{
    if (g_test_subprocess()) {
        g_auto(Result) r = {0};

        fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                                   SUPERVISORD_START);
        fake_supervisor_expect_raw(fix->fake, STOP, QEMU_NOWAIT,
                                   SUPERVISORD_STOP);
        call(fix, START, "qemu", &r);
        return;
    }
    assert_fake_fails(
        "*script item never used: supervisor.stopProcess(\"qemu\", false)*");
}

static void
add_data(const char *path, gconstpointer data,
         void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, data, fixture_setup, func, fixture_teardown);
}

static void
add(const char *path, void (*func)(Fixture *, gconstpointer))
{
    add_data(path, NULL, func);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    add("/supervisor-client/get-process-info/stopped",
        test_get_process_info_stopped);
    add("/supervisor-client/get-process-info/running",
        test_get_process_info_running);
    add("/supervisor-client/get-process-info/states",
        test_get_process_info_states);
    add("/supervisor-client/start-process", test_start_process);
    add("/supervisor-client/stop-process", test_stop_process);
    add("/supervisor-client/concurrent-calls", test_concurrent_calls);
    add("/supervisor-client/escaped-name", test_escaped_name);

    add_data("/supervisor-client/fault/bad-name", &fault_bad_name, test_fault);
    add_data("/supervisor-client/fault/already-started", &fault_already_started,
             test_fault);
    add_data("/supervisor-client/fault/not-running", &fault_not_running,
             test_fault);
    add("/supervisor-client/fault/spawn-error", test_fault_spawn_error);

    add("/supervisor-client/bad-answer/http-500", test_http_500);
    add("/supervisor-client/bad-answer/garbage", test_garbage);
    add("/supervisor-client/bad-answer/malformed-xml", test_malformed_xml);
    add("/supervisor-client/bad-answer/truncated-body", test_truncated_body);
    add("/supervisor-client/bad-answer/content-length-mismatch",
        test_content_length_mismatch);
    add("/supervisor-client/bad-answer/oversized", test_oversized);
    add("/supervisor-client/bad-answer/close-without-answer",
        test_close_without_answer);
    add("/supervisor-client/bad-answer/wrong-result-type",
        test_wrong_result_type);
    add("/supervisor-client/split-response", test_split_response);

    add("/supervisor-client/timeout/default", test_timeout_default);
    add("/supervisor-client/timeout/custom", test_timeout_custom);
    add("/supervisor-client/connect/missing-socket", test_missing_socket);
    add("/supervisor-client/connect/not-a-socket", test_not_a_socket);
    add("/supervisor-client/connect/path-too-long", test_socket_path_too_long);
    add("/supervisor-client/completes-once",
        test_completes_once_with_loop_clean);
    add("/supervisor-client/free/cancels-pending", test_free_cancels_pending);
    add("/supervisor-client/free/cancels-undelivered",
        test_free_cancels_undelivered);
    add("/supervisor-client/free/from-callback", test_free_from_callback);
    add("/supervisor-client/free/call-from-cancel-callback",
        test_call_from_cancel_callback);
    add("/supervisor-client/new-call-from-callback",
        test_new_call_from_callback);

    add("/supervisor-client/fake/unexpected-call", test_fake_unexpected_call);
    add("/supervisor-client/fake/unused-item", test_fake_unused_item);

    return g_test_run();
}
