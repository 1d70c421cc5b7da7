/*
 * test-supervisor-client.c - SupervisorClient against a scripted fake
 * supervisord, on a poll loop with a fake clock.
 *
 * The SUPERVISORD_* fixtures are whole HTTP responses captured from a real
 * supervisord 4.2.5 ([program:qemu] command=sleep 1000, autostart=false) and
 * replayed verbatim by the fake.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "fake-supervisor.h"
#include "supervisor-client.h"

/* supervisor.getProcessInfo("qemu") after a start and a stop. */
static const char SUPERVISORD_INFO_STOPPED[] =
    "HTTP/1.0 200 OK\r\n"
    "Server: Medusa/1.12\r\n"
    "Date: Sun, 22 Nov 2026 01:34:00 GMT\r\n"
    "Content-Type: text/xml\r\n"
    "Content-Length: 1334\r\n"
    "\r\n"
    "<?xml version='1.0'?>\n"
    "<methodResponse>\n"
    "<params>\n"
    "<param>\n"
    "<value><struct>\n"
    "<member>\n"
    "<name>name</name>\n"
    "<value><string>qemu</string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>group</name>\n"
    "<value><string>qemu</string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>start</name>\n"
    "<value><int>1795311234</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>stop</name>\n"
    "<value><int>1795311236</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>now</name>\n"
    "<value><int>1795311240</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>state</name>\n"
    "<value><int>0</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>statename</name>\n"
    "<value><string>STOPPED</string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>spawnerr</name>\n"
    "<value><string></string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>exitstatus</name>\n"
    "<value><int>-1</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>logfile</name>\n"
    "<value><string>/tmp/supcheck/qemu-stdout---supervisor-hr39cmen.log</"
    "string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>stdout_logfile</name>\n"
    "<value><string>/tmp/supcheck/qemu-stdout---supervisor-hr39cmen.log</"
    "string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>stderr_logfile</name>\n"
    "<value><string>/tmp/supcheck/qemu-stderr---supervisor-yrgxgcfw.log</"
    "string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>pid</name>\n"
    "<value><int>0</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>description</name>\n"
    "<value><string>Nov 22 01:33 AM</string></value>\n"
    "</member>\n"
    "</struct></value>\n"
    "</param>\n"
    "</params>\n"
    "</methodResponse>\n";

/* supervisor.getProcessInfo("qemu") while running. */
static const char SUPERVISORD_INFO_RUNNING[] =
    "HTTP/1.0 200 OK\r\n"
    "Server: Medusa/1.12\r\n"
    "Date: Sun, 22 Nov 2026 01:34:02 GMT\r\n"
    "Content-Type: text/xml\r\n"
    "Content-Length: 1348\r\n"
    "\r\n"
    "<?xml version='1.0'?>\n"
    "<methodResponse>\n"
    "<params>\n"
    "<param>\n"
    "<value><struct>\n"
    "<member>\n"
    "<name>name</name>\n"
    "<value><string>qemu</string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>group</name>\n"
    "<value><string>qemu</string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>start</name>\n"
    "<value><int>1795311240</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>stop</name>\n"
    "<value><int>1795311236</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>now</name>\n"
    "<value><int>1795311242</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>state</name>\n"
    "<value><int>20</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>statename</name>\n"
    "<value><string>RUNNING</string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>spawnerr</name>\n"
    "<value><string></string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>exitstatus</name>\n"
    "<value><int>0</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>logfile</name>\n"
    "<value><string>/tmp/supcheck/qemu-stdout---supervisor-hr39cmen.log</"
    "string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>stdout_logfile</name>\n"
    "<value><string>/tmp/supcheck/qemu-stdout---supervisor-hr39cmen.log</"
    "string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>stderr_logfile</name>\n"
    "<value><string>/tmp/supcheck/qemu-stderr---supervisor-yrgxgcfw.log</"
    "string></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>pid</name>\n"
    "<value><int>13295</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>description</name>\n"
    "<value><string>pid 13295, uptime 0:00:02</string></value>\n"
    "</member>\n"
    "</struct></value>\n"
    "</param>\n"
    "</params>\n"
    "</methodResponse>\n";

/* supervisor.startProcess("qemu", false) */
static const char SUPERVISORD_START[] =
    "HTTP/1.0 200 OK\r\n"
    "Server: Medusa/1.12\r\n"
    "Date: Sun, 22 Nov 2026 01:34:00 GMT\r\n"
    "Content-Type: text/xml\r\n"
    "Content-Length: 129\r\n"
    "\r\n"
    "<?xml version='1.0'?>\n"
    "<methodResponse>\n"
    "<params>\n"
    "<param>\n"
    "<value><boolean>1</boolean></value>\n"
    "</param>\n"
    "</params>\n"
    "</methodResponse>\n";

/* supervisor.stopProcess("qemu", false) */
static const char SUPERVISORD_STOP[] = "HTTP/1.0 200 OK\r\n"
                                       "Server: Medusa/1.12\r\n"
                                       "Date: Sun, 22 Nov 2026 01:34:02 GMT\r\n"
                                       "Content-Type: text/xml\r\n"
                                       "Content-Length: 129\r\n"
                                       "\r\n"
                                       "<?xml version='1.0'?>\n"
                                       "<methodResponse>\n"
                                       "<params>\n"
                                       "<param>\n"
                                       "<value><boolean>1</boolean></value>\n"
                                       "</param>\n"
                                       "</params>\n"
                                       "</methodResponse>\n";

/* supervisor.getProcessInfo("nosuch") */
static const char SUPERVISORD_FAULT_BAD_NAME[] =
    "HTTP/1.0 200 OK\r\n"
    "Server: Medusa/1.12\r\n"
    "Date: Sun, 22 Nov 2026 01:34:03 GMT\r\n"
    "Content-Type: text/xml\r\n"
    "Content-Length: 272\r\n"
    "\r\n"
    "<?xml version='1.0'?>\n"
    "<methodResponse>\n"
    "<fault>\n"
    "<value><struct>\n"
    "<member>\n"
    "<name>faultCode</name>\n"
    "<value><int>10</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>faultString</name>\n"
    "<value><string>BAD_NAME: nosuch</string></value>\n"
    "</member>\n"
    "</struct></value>\n"
    "</fault>\n"
    "</methodResponse>\n";

/* supervisor.startProcess("qemu", false) while running. */
static const char SUPERVISORD_FAULT_ALREADY_STARTED[] =
    "HTTP/1.0 200 OK\r\n"
    "Server: Medusa/1.12\r\n"
    "Date: Sun, 22 Nov 2026 01:34:02 GMT\r\n"
    "Content-Type: text/xml\r\n"
    "Content-Length: 277\r\n"
    "\r\n"
    "<?xml version='1.0'?>\n"
    "<methodResponse>\n"
    "<fault>\n"
    "<value><struct>\n"
    "<member>\n"
    "<name>faultCode</name>\n"
    "<value><int>60</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>faultString</name>\n"
    "<value><string>ALREADY_STARTED: qemu</string></value>\n"
    "</member>\n"
    "</struct></value>\n"
    "</fault>\n"
    "</methodResponse>\n";

/* supervisor.stopProcess("qemu", false) while stopped. */
static const char SUPERVISORD_FAULT_NOT_RUNNING[] =
    "HTTP/1.0 200 OK\r\n"
    "Server: Medusa/1.12\r\n"
    "Date: Sun, 22 Nov 2026 01:34:03 GMT\r\n"
    "Content-Type: text/xml\r\n"
    "Content-Length: 273\r\n"
    "\r\n"
    "<?xml version='1.0'?>\n"
    "<methodResponse>\n"
    "<fault>\n"
    "<value><struct>\n"
    "<member>\n"
    "<name>faultCode</name>\n"
    "<value><int>70</int></value>\n"
    "</member>\n"
    "<member>\n"
    "<name>faultString</name>\n"
    "<value><string>NOT_RUNNING: qemu</string></value>\n"
    "</member>\n"
    "</struct></value>\n"
    "</fault>\n"
    "</methodResponse>\n";

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
    g_autoptr(GError) error = NULL;

    fix->tmpdir = g_dir_make_tmp("test-supervisor-client-XXXXXX", &error);
    g_assert_no_error(error);
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
    g_assert_cmpint(g_rmdir(fix->tmpdir), ==, 0);
    g_free(fix->tmpdir);
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

/* Run until @r completes, then a few more rounds to catch a second
 * completion. */
static void
wait_for(Fixture *fix, Result *r)
{
    g_assert_true(bmc_poll_loop_run_until(fix->pl, result_done, r, WAIT_MS));
    for (int i = 0; i < 10; i++) {
        bmc_poll_loop_iterate(fix->pl, 0);
    }
    g_assert_cmpuint(r->calls, ==, 1);
}

/* --- Each call against the fake --- */

static void
test_get_process_info_stopped(Fixture *fix, gconstpointer user_data)
{
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU,
                               SUPERVISORD_INFO_STOPPED);
    supervisor_client_get_process_info(fix->client, "qemu", record_cb, &r);
    wait_for(fix, &r);

    g_assert_no_error(r.error);
    g_assert_true(r.had_reply);
    g_assert_cmpint(r.reply.fault_code, ==, 0);
    g_assert_cmpint(r.reply.state, ==, SUP_PROC_STOPPED);
    g_assert_cmpint(r.reply.pid, ==, 0);
    /* supervisord reports a process it killed with a signal as -1. */
    g_assert_cmpint(r.reply.exitstatus, ==, -1);
    g_assert_cmpint(r.reply.start, ==, 1795311234);
    g_assert_cmpint(r.reply.stop, ==, 1795311236);
    result_clear(&r);
}

static void
test_get_process_info_running(Fixture *fix, gconstpointer user_data)
{
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU,
                               SUPERVISORD_INFO_RUNNING);
    supervisor_client_get_process_info(fix->client, "qemu", record_cb, &r);
    wait_for(fix, &r);

    g_assert_no_error(r.error);
    g_assert_cmpint(r.reply.state, ==, SUP_PROC_RUNNING);
    g_assert_cmpint(r.reply.pid, ==, 13295);
    g_assert_cmpint(r.reply.exitstatus, ==, 0);
    g_assert_cmpint(r.reply.start, ==, 1795311240);
    g_assert_cmpint(r.reply.stop, ==, 1795311236);
    result_clear(&r);
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
        Result r;

        result_init(&r, fix);
        fake_supervisor_expect_value(fix->fake, GET_INFO, QEMU, value);
        supervisor_client_get_process_info(fix->client, "qemu", record_cb, &r);
        wait_for(fix, &r);
        g_assert_no_error(r.error);
        g_assert_cmpint(r.reply.state, ==, cases[i].state);
        g_assert_cmpint(r.reply.pid, ==, 42);
        g_assert_cmpint(r.reply.exitstatus, ==, 1);
        g_assert_cmpint(r.reply.start, ==, 5);
        g_assert_cmpint(r.reply.stop, ==, 6);
        result_clear(&r);
    }
}

static void
test_start_process(Fixture *fix, gconstpointer user_data)
{
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                               SUPERVISORD_START);
    supervisor_client_start_process(fix->client, "qemu", record_cb, &r);
    wait_for(fix, &r);

    g_assert_no_error(r.error);
    g_assert_true(r.had_reply);
    g_assert_cmpint(r.reply.fault_code, ==, 0);
    result_clear(&r);
}

static void
test_stop_process(Fixture *fix, gconstpointer user_data)
{
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_raw(fix->fake, STOP, QEMU_NOWAIT, SUPERVISORD_STOP);
    supervisor_client_stop_process(fix->client, "qemu", record_cb, &r);
    wait_for(fix, &r);

    g_assert_no_error(r.error);
    g_assert_true(r.had_reply);
    result_clear(&r);
}

static void
test_concurrent_calls(Fixture *fix, gconstpointer user_data)
{
    Result info, start, stop;

    result_init(&info, fix);
    result_init(&start, fix);
    result_init(&stop, fix);
    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU,
                               SUPERVISORD_INFO_RUNNING);
    fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                               SUPERVISORD_FAULT_ALREADY_STARTED);
    fake_supervisor_expect_raw(fix->fake, STOP, QEMU_NOWAIT, SUPERVISORD_STOP);
    supervisor_client_get_process_info(fix->client, "qemu", record_cb, &info);
    supervisor_client_start_process(fix->client, "qemu", record_cb, &start);
    supervisor_client_stop_process(fix->client, "qemu", record_cb, &stop);
    wait_for(fix, &info);
    wait_for(fix, &start);
    wait_for(fix, &stop);

    g_assert_no_error(info.error);
    g_assert_cmpint(info.reply.pid, ==, 13295);
    g_assert_error(start.error, SUP_ERROR, SUP_ERROR_FAULT);
    g_assert_cmpint(start.reply.fault_code, ==, SUP_FAULT_ALREADY_STARTED);
    g_assert_no_error(stop.error);
    result_clear(&info);
    result_clear(&start);
    result_clear(&stop);
}

/* --- Faults and bad answers --- */

static void
assert_fault(Fixture *fix, const char *method, const char *params,
             const char *response, int code)
{
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_raw(fix->fake, method, params, response);
    if (strcmp(method, GET_INFO) == 0) {
        supervisor_client_get_process_info(fix->client, "nosuch", record_cb,
                                           &r);
    } else if (strcmp(method, START) == 0) {
        supervisor_client_start_process(fix->client, "qemu", record_cb, &r);
    } else {
        supervisor_client_stop_process(fix->client, "qemu", record_cb, &r);
    }
    wait_for(fix, &r);

    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_FAULT);
    g_assert_true(r.had_reply);
    g_assert_cmpint(r.reply.fault_code, ==, code);
    result_clear(&r);
}

static void
test_fault_bad_name(Fixture *fix, gconstpointer user_data)
{
    assert_fault(fix, GET_INFO, "\"nosuch\"", SUPERVISORD_FAULT_BAD_NAME,
                 SUP_FAULT_BAD_NAME);
}

static void
test_fault_already_started(Fixture *fix, gconstpointer user_data)
{
    assert_fault(fix, START, QEMU_NOWAIT, SUPERVISORD_FAULT_ALREADY_STARTED,
                 SUP_FAULT_ALREADY_STARTED);
}

static void
test_fault_not_running(Fixture *fix, gconstpointer user_data)
{
    assert_fault(fix, STOP, QEMU_NOWAIT, SUPERVISORD_FAULT_NOT_RUNNING,
                 SUP_FAULT_NOT_RUNNING);
}

static void
test_fault_spawn_error(Fixture *fix, gconstpointer user_data)
{
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_fault(fix->fake, START, QEMU_NOWAIT,
                                 SUP_FAULT_SPAWN_ERROR, "SPAWN_ERROR: qemu");
    supervisor_client_start_process(fix->client, "qemu", record_cb, &r);
    wait_for(fix, &r);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_FAULT);
    g_assert_cmpint(r.reply.fault_code, ==, SUP_FAULT_SPAWN_ERROR);
    result_clear(&r);
}

static void
test_escaped_name(Fixture *fix, gconstpointer user_data)
{
    Result r;

    result_init(&r, fix);
    /* The fake unescapes what it reads: the name must arrive intact. */
    fake_supervisor_expect_fault(fix->fake, GET_INFO, "\"a<b>&\"c'd\"",
                                 SUP_FAULT_BAD_NAME, "BAD_NAME: a<b>&\"c'd");
    supervisor_client_get_process_info(fix->client, "a<b>&\"c'd", record_cb,
                                       &r);
    wait_for(fix, &r);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_FAULT);
    g_assert_cmpint(r.reply.fault_code, ==, SUP_FAULT_BAD_NAME);
    result_clear(&r);
}

/* Run one getProcessInfo("qemu") after the caller scripted its answer and
 * check that it fails with SUP_ERROR_PROTOCOL and no reply. */
static void
assert_protocol_error(Fixture *fix)
{
    Result r;

    result_init(&r, fix);
    supervisor_client_get_process_info(fix->client, "qemu", record_cb, &r);
    wait_for(fix, &r);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_PROTOCOL);
    g_assert_false(r.had_reply);
    result_clear(&r);
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
    Result r;

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
    result_init(&r, fix);
    fake_supervisor_expect_value(fix->fake, START, QEMU_NOWAIT,
                                 "<value><boolean>0</boolean></value>");
    supervisor_client_start_process(fix->client, "qemu", record_cb, &r);
    wait_for(fix, &r);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_PROTOCOL);
    result_clear(&r);
}

static void
test_split_response(Fixture *fix, gconstpointer user_data)
{
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_raw(fix->fake, GET_INFO, QEMU,
                               SUPERVISORD_INFO_RUNNING);
    fake_supervisor_split_last(fix->fake, 7);
    supervisor_client_get_process_info(fix->client, "qemu", record_cb, &r);
    wait_for(fix, &r);
    g_assert_no_error(r.error);
    g_assert_cmpint(r.reply.pid, ==, 13295);
    result_clear(&r);
}

/* --- Timeouts, deferral, exactly once, cancellation --- */

static void
test_timeout_default(Fixture *fix, gconstpointer user_data)
{
    gint64 start = bmc_loop_now_ms(fix->loop);
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_hang(fix->fake, GET_INFO, QEMU);
    supervisor_client_get_process_info(fix->client, "qemu", record_cb, &r);
    wait_for(fix, &r);

    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_TIMEOUT);
    g_assert_false(r.had_reply);
    g_assert_cmpint(r.done_ms - start, ==, 2000);
    /* The client hung up; the fake has seen it. */
    g_assert_cmpuint(fake_supervisor_get_open_connections(fix->fake), ==, 0);
    result_clear(&r);
}

static void
test_timeout_custom(Fixture *fix, gconstpointer user_data)
{
    g_autoptr(SupervisorClient) client = supervisor_client_new(
        fix->loop, fake_supervisor_get_socket_path(fix->fake), 350);
    gint64 start = bmc_loop_now_ms(fix->loop);
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_hang(fix->fake, STOP, QEMU_NOWAIT);
    supervisor_client_stop_process(client, "qemu", record_cb, &r);
    wait_for(fix, &r);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_TIMEOUT);
    g_assert_cmpint(r.done_ms - start, ==, 350);
    result_clear(&r);
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
    Result r = {.loop = loop};

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
    result_clear(&r);
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
    Result r;

    result_init(&r, fix);
    fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                               SUPERVISORD_START);
    supervisor_client_start_process(fix->client, "qemu", record_cb, &r);
    g_assert_cmpuint(r.calls, ==, 0);
    wait_for(fix, &r);
    /* Let a whole timeout period pass: a timer left armed would fire. */
    bmc_poll_loop_advance(fix->pl, 10000);
    for (int i = 0; i < 10; i++) {
        bmc_poll_loop_iterate(fix->pl, 0);
    }
    g_assert_cmpuint(r.calls, ==, 1);
    g_assert_no_error(r.error);
    g_assert_cmpuint(fake_supervisor_get_open_connections(fix->fake), ==, 0);
    result_clear(&r);
}

static void
test_free_cancels_pending(Fixture *fix, gconstpointer user_data)
{
    Result hung1, hung2, fresh;

    result_init(&hung1, fix);
    result_init(&hung2, fix);
    result_init(&fresh, fix);
    fake_supervisor_expect_hang(fix->fake, GET_INFO, QEMU);
    fake_supervisor_expect_hang(fix->fake, START, QEMU_NOWAIT);
    supervisor_client_get_process_info(fix->client, "qemu", record_cb, &hung1);
    supervisor_client_start_process(fix->client, "qemu", record_cb, &hung2);
    while (fake_supervisor_get_requests(fix->fake) < 2) {
        g_assert_true(bmc_poll_loop_iterate(fix->pl, 0));
    }
    /* And one that has not even sent its request. */
    supervisor_client_stop_process(fix->client, "qemu", record_cb, &fresh);

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
    for (int i = 0; i < 10; i++) {
        bmc_poll_loop_iterate(fix->pl, 0);
    }
    g_assert_cmpuint(hung1.calls + hung2.calls + fresh.calls, ==, 3);
    g_assert_cmpuint(fake_supervisor_get_open_connections(fix->fake), ==, 0);
    result_clear(&hung1);
    result_clear(&hung2);
    result_clear(&fresh);
}

static void
test_free_cancels_undelivered(Fixture *fix, gconstpointer user_data)
{
    g_autofree char *path = g_build_filename(fix->tmpdir, "nosuch.sock", NULL);
    SupervisorClient *client = supervisor_client_new(fix->loop, path, 0);
    Result r;

    /* The failure is known at once but not yet delivered: freeing the
     * client still completes the call exactly once, as cancelled. */
    result_init(&r, fix);
    supervisor_client_get_process_info(client, "qemu", record_cb, &r);
    supervisor_client_free(client);
    g_assert_cmpuint(r.calls, ==, 1);
    g_assert_error(r.error, SUP_ERROR, SUP_ERROR_CANCELLED);
    for (int i = 0; i < 10; i++) {
        bmc_poll_loop_iterate(fix->pl, 0);
    }
    g_assert_cmpuint(r.calls, ==, 1);
    result_clear(&r);
}

typedef struct {
    Fixture *fix;
    Result first;
    Result other;
    Result late;
} Reentry;

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
    Reentry re = {.fix = fix};

    result_init(&re.first, fix);
    result_init(&re.other, fix);
    fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                               SUPERVISORD_START);
    fake_supervisor_expect_hang(fix->fake, GET_INFO, QEMU);
    supervisor_client_start_process(fix->client, "qemu", free_client_cb, &re);
    supervisor_client_get_process_info(fix->client, "qemu", record_cb,
                                       &re.other);
    wait_for(fix, &re.first);

    g_assert_no_error(re.first.error);
    g_assert_null(fix->client);
    g_assert_cmpuint(re.other.calls, ==, 1);
    g_assert_error(re.other.error, SUP_ERROR, SUP_ERROR_CANCELLED);
    result_clear(&re.first);
    result_clear(&re.other);
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
    Reentry re = {.fix = fix};

    result_init(&re.first, fix);
    result_init(&re.late, fix);
    fake_supervisor_expect_hang(fix->fake, GET_INFO, QEMU);
    supervisor_client_get_process_info(fix->client, "qemu", call_again_cb, &re);
    while (fake_supervisor_get_requests(fix->fake) < 1) {
        g_assert_true(bmc_poll_loop_iterate(fix->pl, 0));
    }
    g_clear_pointer(&fix->client, supervisor_client_free);

    /* The call made while freeing is cancelled too, without a request. */
    g_assert_cmpuint(re.first.calls, ==, 1);
    g_assert_cmpuint(re.late.calls, ==, 1);
    g_assert_error(re.late.error, SUP_ERROR, SUP_ERROR_CANCELLED);
    for (int i = 0; i < 10; i++) {
        bmc_poll_loop_iterate(fix->pl, 0);
    }
    g_assert_cmpuint(fake_supervisor_get_requests(fix->fake), ==, 1);
    result_clear(&re.first);
    result_clear(&re.late);
}

static void
test_new_call_from_callback(Fixture *fix, gconstpointer user_data)
{
    Reentry re = {.fix = fix};

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
    g_assert_error(re.late.error, SUP_ERROR, SUP_ERROR_FAULT);
    g_assert_cmpint(re.late.reply.fault_code, ==, SUP_FAULT_NOT_RUNNING);
    result_clear(&re.first);
    result_clear(&re.late);
}

/* --- The fake itself --- */

static void
test_fake_unexpected_call(Fixture *fix, gconstpointer user_data)
{
    if (g_test_subprocess()) {
        Result r;

        result_init(&r, fix);
        fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                                   SUPERVISORD_START);
        supervisor_client_stop_process(fix->client, "qemu", record_cb, &r);
        wait_for(fix, &r);
        result_clear(&r);
        return;
    }
    g_test_trap_subprocess(NULL, 10 * G_USEC_PER_SEC,
                           G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr(
        "*unexpected call supervisor.stopProcess(\"qemu\", false), "
        "expected supervisor.startProcess(\"qemu\", false)*");
}

static void
test_fake_unused_item(Fixture *fix, gconstpointer user_data)
{
    if (g_test_subprocess()) {
        Result r;

        result_init(&r, fix);
        fake_supervisor_expect_raw(fix->fake, START, QEMU_NOWAIT,
                                   SUPERVISORD_START);
        fake_supervisor_expect_raw(fix->fake, STOP, QEMU_NOWAIT,
                                   SUPERVISORD_STOP);
        supervisor_client_start_process(fix->client, "qemu", record_cb, &r);
        wait_for(fix, &r);
        result_clear(&r);
        return;
    }
    g_test_trap_subprocess(NULL, 10 * G_USEC_PER_SEC,
                           G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr(
        "*script item never used: supervisor.stopProcess(\"qemu\", false)*");
}

static void
add(const char *path, void (*func)(Fixture *, gconstpointer))
{
    g_test_add(path, Fixture, NULL, fixture_setup, func, fixture_teardown);
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

    add("/supervisor-client/fault/bad-name", test_fault_bad_name);
    add("/supervisor-client/fault/already-started", test_fault_already_started);
    add("/supervisor-client/fault/not-running", test_fault_not_running);
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
