/*
 * test-qmp-client.c - the QMP client against the scripted fake server, on a
 * poll loop with a fake clock: timeouts and backoff delays are checked to
 * the millisecond without the tests taking any real time.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "compat.h"
#include "fake-qmp.h"
#include "qmp-client.h"
#include "test-util.h"

/* Real seconds before a hung test is killed (the loop itself bounds each
 * wait to 10 s of real time). */
#define TEST_ALARM_S 60

typedef struct Fixture Fixture;

typedef struct {
    Fixture *fx;
    guint calls;
    guint order; /* position among all replies, from 1 */
    JsonNode *ret;
    GError *error;
    gint64 when;
    gboolean free_client; /* free the client from inside the callback */
} Reply;

struct Fixture {
    char *dir;
    char *path;
    BmcPollLoop *pl;
    BmcLoop *loop;
    FakeQmp *fake;
    QmpClient *client;

    GArray *states; /* QmpState, one per state_changed */
    GArray *state_times;
    GError *last_why;
    int free_in_state; /* free the client on entering this state, or -1 */
    GPtrArray *events; /* "NAME" or "NAME {data}" */
    /* Here rather than on a test's stack: callbacks may still run when the
     * teardown frees the client. */
    Reply r[4];
    guint replies;
};

/* ---- Fixture ---------------------------------------------------------- */

static void
reply_reset(Reply *r)
{
    Fixture *fx = r->fx;

    g_clear_pointer(&r->ret, json_node_unref);
    g_clear_error(&r->error);
    memset(r, 0, sizeof(*r));
    r->fx = fx;
}

static void
fixture_setup(Fixture *fx, gconstpointer user_data)
{
    alarm(TEST_ALARM_S);
    fx->dir = test_tmpdir_new("test-qmp-client-XXXXXX");
    fx->path = g_build_filename(fx->dir, "qmp.sock", NULL);
    fx->pl = bmc_poll_loop_new(TRUE);
    fx->loop = bmc_poll_loop_get(fx->pl);
    fx->states = g_array_new(FALSE, FALSE, sizeof(QmpState));
    fx->state_times = g_array_new(FALSE, FALSE, sizeof(gint64));
    fx->free_in_state = -1;
    fx->events = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < G_N_ELEMENTS(fx->r); i++) {
        fx->r[i].fx = fx;
    }
}

static void
fixture_teardown(Fixture *fx, gconstpointer user_data)
{
    g_clear_pointer(&fx->client, qmp_client_free);
    g_clear_pointer(&fx->fake, fake_qmp_free);
    bmc_poll_loop_free(fx->pl);
    for (guint i = 0; i < G_N_ELEMENTS(fx->r); i++) {
        reply_reset(&fx->r[i]);
    }
    g_array_unref(fx->states);
    g_array_unref(fx->state_times);
    g_clear_error(&fx->last_why);
    g_ptr_array_unref(fx->events);
    g_free(fx->path);
    /* The fake removed its socket: the directory must be empty now. */
    test_tmpdir_free(fx->dir);
    alarm(0);
}

static gint64
now_ms(Fixture *fx)
{
    return bmc_loop_now_ms(fx->loop);
}

/* Iterate until @cond holds, failing the test after @timeout_ms of loop
 * time (or 10 s of real time, should the loop stop moving). */
#define WAIT_FOR(fx, cond, timeout_ms)                                         \
    do {                                                                       \
        gint64 deadline_ = now_ms(fx) + (timeout_ms);                          \
        gint64 real_deadline_ = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;  \
        while (!(cond) && now_ms(fx) <= deadline_ &&                           \
               g_get_monotonic_time() < real_deadline_) {                      \
            if (!bmc_poll_loop_iterate((fx)->pl, 50)) {                        \
                break;                                                         \
            }                                                                  \
        }                                                                      \
        g_assert_true(cond);                                                   \
    } while (0)

static void
on_run_for_timer(gpointer data)
{
}

/* Let @ms of loop time pass.  The timer makes sure the fake clock has
 * somewhere to jump to even when nothing else is armed. */
static void
run_for(Fixture *fx, guint ms)
{
    gint64 end = now_ms(fx) + ms;
    BmcTimer *timer = bmc_timer_new(fx->loop, on_run_for_timer, NULL);

    bmc_timer_start(fx->loop, timer, ms);
    WAIT_FOR(fx, now_ms(fx) >= end, ms + 1);
    bmc_timer_free(fx->loop, timer);
}

/* ---- Client callbacks ------------------------------------------------- */

static void
on_state(QmpClient *client, QmpState state, const GError *why,
         gpointer user_data)
{
    Fixture *fx = user_data;
    gint64 now = now_ms(fx);

    g_assert_true(client == fx->client);
    g_assert_cmpint(qmp_client_get_state(client), ==, state);
    g_test_message("t=%" G_GINT64_FORMAT " %s%s%s", now, qmp_state_name(state),
                   why ? ": " : "", why ? why->message : "");
    g_array_append_val(fx->states, state);
    g_array_append_val(fx->state_times, now);
    if (why) {
        g_clear_error(&fx->last_why);
        fx->last_why = g_error_copy(why);
    }
    if ((int)state == fx->free_in_state) {
        g_clear_pointer(&fx->client, qmp_client_free);
    }
}

static void
on_event(QmpClient *client, const char *name, JsonObject *data,
         gpointer user_data)
{
    Fixture *fx = user_data;
    g_autofree char *text = NULL;

    if (data) {
        g_autoptr(JsonNode) node =
            json_node_init_object(json_node_alloc(), data);

        text = json_to_string(node, FALSE);
    }
    g_ptr_array_add(fx->events, text ? g_strdup_printf("%s %s", name, text)
                                     : g_strdup(name));
}

static const QmpClientCallbacks callbacks = {
    .state_changed = on_state,
    .event = on_event,
};

static void
on_reply(QmpClient *client, JsonNode *ret, const GError *error, gpointer data)
{
    Reply *r = data;
    Fixture *fx = r->fx;

    r->calls++;
    r->order = ++fx->replies;
    r->when = now_ms(fx);
    if (ret) {
        r->ret = json_node_copy(ret);
    }
    if (error) {
        r->error = g_error_copy(error);
    }
    g_assert_true((ret == NULL) != (error == NULL));
    if (r->free_client) {
        g_assert_true(client == fx->client);
        g_clear_pointer(&fx->client, qmp_client_free);
    }
}

/* ---- Helpers ---------------------------------------------------------- */

static const QmpClientOptions test_opts = {
    .command_timeout_ms = 200,
    .greeting_timeout_ms = 300,
    .backoff_initial_ms = 50,
    .backoff_max_ms = 400,
};

static void
client_new(Fixture *fx, const QmpClientOptions *opts)
{
    fx->client = qmp_client_new(fx->loop, fx->path, opts ? opts : &test_opts,
                                &callbacks, fx);
    g_assert_cmpint(qmp_client_get_state(fx->client), ==,
                    QMP_STATE_DISCONNECTED);
}

/* A new client, told to connect (which it does from the loop). */
static void
client_connect(Fixture *fx, const QmpClientOptions *opts)
{
    client_new(fx, opts);
    qmp_client_connect_now(fx->client);
}

static guint
count_state(Fixture *fx, QmpState state)
{
    guint n = 0;

    for (guint i = 0; i < fx->states->len; i++) {
        n += g_array_index(fx->states, QmpState, i) == state;
    }
    return n;
}

/* Loop time of the @nth (from 1) change to @state, or -1. */
static gint64
state_time(Fixture *fx, QmpState state, guint nth)
{
    for (guint i = 0; i < fx->states->len; i++) {
        if (g_array_index(fx->states, QmpState, i) == state && --nth == 0) {
            return g_array_index(fx->state_times, gint64, i);
        }
    }
    return -1;
}

static gboolean
is_ready(Fixture *fx)
{
    return fx->client && qmp_client_get_state(fx->client) == QMP_STATE_READY;
}

/* Fake server + client, connected and negotiated. */
static void
start_ready(Fixture *fx, const QmpClientOptions *opts)
{
    if (!fx->fake) {
        fx->fake = fake_qmp_new(fx->loop, fx->path);
    }
    client_connect(fx, opts);
    WAIT_FOR(fx, is_ready(fx), 1000);
}

/* A client left trying for 3 s while there is no server yet. */
static void
connect_without_server(Fixture *fx)
{
    client_connect(fx, NULL);
    run_for(fx, 3000);
}

/* A client connecting to a fake that greets it with @greeting, after it
 * has given up on that first connection. */
static void
connect_bad_greeting(Fixture *fx, FakeQmpGreeting greeting)
{
    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_set_greeting(fx->fake, greeting);
    client_connect(fx, NULL);
    WAIT_FOR(fx, count_state(fx, QMP_STATE_DISCONNECTED) == 1, 1000);
}

static guint64
execute(Fixture *fx, const char *command, const char *args_json, Reply *r)
{
    g_autoptr(JsonNode) args = NULL;
    g_autoptr(GError) error = NULL;

    if (args_json) {
        args = json_from_string(args_json, &error);
        g_assert_no_error(error);
    }
    return qmp_client_execute(fx->client, command,
                              args ? json_node_get_object(args) : NULL,
                              on_reply, r);
}

static char *
node_to_string(JsonNode *node)
{
    return json_to_string(node, FALSE);
}

/* ---- Tests ------------------------------------------------------------ */

static void
test_ready(Fixture *fx, gconstpointer user_data)
{
    static const QmpState expected[] = {
        QMP_STATE_GREETING,
        QMP_STATE_NEGOTIATING,
        QMP_STATE_READY,
    };

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    client_connect(fx, NULL);
    /* The connection is made from the loop, never inside the call. */
    g_assert_cmpint(qmp_client_get_state(fx->client), ==,
                    QMP_STATE_DISCONNECTED);
    g_assert_cmpuint(fx->states->len, ==, 0);

    WAIT_FOR(fx, is_ready(fx), 1000);
    g_assert_cmpmem(fx->states->data, fx->states->len * sizeof(QmpState),
                    expected, sizeof(expected));
    /* The fake checked that qmp_capabilities came first, and alone. */
    g_assert_cmpuint(fake_qmp_get_commands(fx->fake), ==, 1);
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 1);

    /* Already connected: nothing to do. */
    qmp_client_connect_now(fx->client);
    run_for(fx, 100);
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 1);
    g_assert_cmpuint(fx->states->len, ==, 3);
}

static void
test_execute_return(Fixture *fx, gconstpointer user_data)
{
    Reply *status = &fx->r[0];
    Reply *hmp = &fx->r[1];
    g_autofree char *status_ret = NULL;
    guint64 id1, id2;

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_expect(fx->fake, "query-status", "{}",
                    "{\"status\": \"running\", \"running\": true}");
    fake_qmp_expect(fx->fake, "human-monitor-command",
                    "{\"command-line\": \"info status\"}",
                    "\"VM status: running\\r\\n\"");
    start_ready(fx, NULL);

    id1 = execute(fx, "query-status", NULL, status);
    id2 = execute(fx, "human-monitor-command",
                  "{\"command-line\": \"info status\"}", hmp);
    g_assert_cmpuint(id1, >, 0);
    g_assert_cmpuint(id2, >, id1);
    g_assert_cmpuint(status->calls, ==, 0);

    WAIT_FOR(fx, hmp->calls > 0, 1000);
    g_assert_cmpuint(status->calls, ==, 1);
    g_assert_cmpuint(hmp->calls, ==, 1);
    g_assert_cmpuint(status->order, <, hmp->order);
    g_assert_no_error(status->error);
    g_assert_no_error(hmp->error);
    status_ret = node_to_string(status->ret);
    g_assert_cmpstr(status_ret, ==,
                    "{\"status\":\"running\",\"running\":true}");
    g_assert_cmpstr(json_node_get_string(hmp->ret), ==,
                    "VM status: running\r\n");
    g_assert_true(fake_qmp_script_done(fx->fake));
}

static void
test_execute_error(Fixture *fx, gconstpointer user_data)
{
    Reply *r = &fx->r[0];

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_expect_error(fx->fake, "device_del", "{\"id\": \"nope\"}",
                          "DeviceNotFound", "Device 'nope' not found");
    start_ready(fx, NULL);

    execute(fx, "device_del", "{\"id\": \"nope\"}", r);
    WAIT_FOR(fx, r->calls > 0, 1000);
    g_assert_cmpuint(r->calls, ==, 1);
    g_assert_null(r->ret);
    g_assert_error(r->error, QMP_ERROR, QMP_ERROR_COMMAND);
    g_assert_cmpstr(r->error->message, ==, "Device 'nope' not found");
    /* A command error is no reason to drop the link. */
    g_assert_cmpint(qmp_client_get_state(fx->client), ==, QMP_STATE_READY);
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 1);
}

static void
test_execute_timeout(Fixture *fx, gconstpointer user_data)
{
    Reply *lost = &fx->r[0];
    Reply *after = &fx->r[1];
    gint64 start;

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_expect_no_reply(fx->fake, "query-status", NULL);
    fake_qmp_expect(fx->fake, "query-name", NULL, "{}");
    start_ready(fx, NULL);

    start = now_ms(fx);
    execute(fx, "query-status", NULL, lost);
    WAIT_FOR(fx, lost->calls > 0, 1000);
    g_assert_cmpuint(lost->calls, ==, 1);
    g_assert_error(lost->error, QMP_ERROR, QMP_ERROR_TIMEOUT);
    g_assert_cmpint(lost->when - start, ==, test_opts.command_timeout_ms);
    g_assert_cmpint(qmp_client_get_state(fx->client), ==, QMP_STATE_READY);

    execute(fx, "query-name", NULL, after);
    WAIT_FOR(fx, after->calls > 0, 1000);
    g_assert_no_error(after->error);
    g_assert_cmpuint(lost->calls, ==, 1);
}

static void
test_late_reply(Fixture *fx, gconstpointer user_data)
{
    Reply *late = &fx->r[0];
    Reply *next = &fx->r[1];
    gint64 start;

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_expect_delayed(fx->fake, "query-status", NULL,
                            "{\"status\": \"running\", \"running\": true}",
                            test_opts.command_timeout_ms + 300);
    fake_qmp_expect(fx->fake, "query-name", NULL, "{\"name\": \"vm\"}");
    start_ready(fx, NULL);

    start = now_ms(fx);
    execute(fx, "query-status", NULL, late);
    WAIT_FOR(fx, late->calls > 0, 1000);
    g_assert_error(late->error, QMP_ERROR, QMP_ERROR_TIMEOUT);

    /* Let the fake send its late answer, then check the link still works:
     * the late line arrives right before the next reply. */
    WAIT_FOR(fx, now_ms(fx) >= start + test_opts.command_timeout_ms + 300,
             1000);
    execute(fx, "query-name", NULL, next);
    WAIT_FOR(fx, next->calls > 0, 1000);
    g_assert_no_error(next->error);
    g_assert_cmpstr(
        json_object_get_string_member(json_node_get_object(next->ret), "name"),
        ==, "vm");
    g_assert_cmpuint(late->calls, ==, 1);
    g_assert_cmpint(qmp_client_get_state(fx->client), ==, QMP_STATE_READY);
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 1);
    g_assert_cmpuint(count_state(fx, QMP_STATE_DISCONNECTED), ==, 0);
}

static void
test_execute_disconnected(Fixture *fx, gconstpointer user_data)
{
    Reply *before = &fx->r[0];
    Reply *after = &fx->r[1];

    client_new(fx, NULL);
    execute(fx, "query-status", NULL, before);
    /* Deferred: never inside qmp_client_execute(). */
    g_assert_cmpuint(before->calls, ==, 0);
    bmc_poll_loop_iterate(fx->pl, 0);
    g_assert_cmpuint(before->calls, ==, 1);
    g_assert_error(before->error, QMP_ERROR, QMP_ERROR_DISCONNECTED);

    /* Once a connection has failed, the error says why. */
    qmp_client_connect_now(fx->client);
    bmc_poll_loop_iterate(fx->pl, 0);
    execute(fx, "query-status", NULL, after);
    g_assert_cmpuint(after->calls, ==, 0);
    WAIT_FOR(fx, after->calls > 0, 10);
    g_assert_cmpuint(after->calls, ==, 1);
    g_assert_error(after->error, QMP_ERROR, QMP_ERROR_DISCONNECTED);
    g_assert_nonnull(strstr(after->error->message, g_strerror(ENOENT)));
    g_assert_cmpuint(before->calls, ==, 1);
}

static void
test_eof_fails_pending(Fixture *fx, gconstpointer user_data)
{
    guint steps = 0;

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_expect_no_reply(fx->fake, "query-status", NULL);
    fake_qmp_expect_no_reply(fx->fake, "query-name", NULL);
    fake_qmp_expect_close(fx->fake, "query-kvm", NULL);
    start_ready(fx, NULL);

    execute(fx, "query-status", NULL, &fx->r[0]);
    execute(fx, "query-name", NULL, &fx->r[1]);
    execute(fx, "query-kvm", NULL, &fx->r[2]);

    /* One iteration at a time: the one that sees EOF reports the state
     * change but must not run any reply callback. */
    while (count_state(fx, QMP_STATE_DISCONNECTED) == 0) {
        g_assert_cmpuint(++steps, <, 1000);
        bmc_poll_loop_iterate(fx->pl, 0);
    }
    for (guint i = 0; i < 3; i++) {
        g_assert_cmpuint(fx->r[i].calls, ==, 0);
    }
    g_assert_error(fx->last_why, QMP_ERROR, QMP_ERROR_DISCONNECTED);

    WAIT_FOR(fx, fx->r[2].calls > 0, 10);
    for (guint i = 0; i < 3; i++) {
        g_assert_cmpuint(fx->r[i].calls, ==, 1);
        g_assert_cmpuint(fx->r[i].order, ==, i + 1);
        g_assert_error(fx->r[i].error, QMP_ERROR, QMP_ERROR_DISCONNECTED);
        g_assert_cmpstr(fx->r[i].error->message, ==, fx->last_why->message);
    }

    /* It reconnects, and nothing fails twice. */
    WAIT_FOR(fx, is_ready(fx), 1000);
    g_clear_pointer(&fx->client, qmp_client_free);
    for (guint i = 0; i < 3; i++) {
        g_assert_cmpuint(fx->r[i].calls, ==, 1);
    }
}

static void
test_reconnect_backoff(Fixture *fx, gconstpointer user_data)
{
    static const gint64 delays[] = {50, 100, 200, 400, 400, 400};
    GArray *accepts;
    gint64 down;

    start_ready(fx, NULL);
    accepts = fake_qmp_get_accept_times(fx->fake);

    /* Drop the link; every later connection is closed at once. */
    fake_qmp_set_greeting(fx->fake, FAKE_QMP_GREETING_CLOSE);
    fake_qmp_close(fx->fake);
    WAIT_FOR(fx, fake_qmp_get_connections(fx->fake) >= 1 + G_N_ELEMENTS(delays),
             5000);

    down = state_time(fx, QMP_STATE_DISCONNECTED, 1);
    g_assert_cmpint(down, >=, 0);
    for (guint i = 0; i < G_N_ELEMENTS(delays); i++) {
        gint64 prev = i == 0 ? down : g_array_index(accepts, gint64, i);

        g_assert_cmpint(g_array_index(accepts, gint64, i + 1) - prev, ==,
                        delays[i]);
    }
    g_assert_error(fx->last_why, QMP_ERROR, QMP_ERROR_DISCONNECTED);

    /* Success resets the backoff: the next drop retries after 50 ms. */
    fake_qmp_set_greeting(fx->fake, FAKE_QMP_GREETING_NORMAL);
    WAIT_FOR(fx, is_ready(fx), 1000);
    g_assert_cmpuint(count_state(fx, QMP_STATE_READY), ==, 2);
    fake_qmp_close(fx->fake);
    WAIT_FOR(fx, count_state(fx, QMP_STATE_READY) == 3, 1000);
    down = state_time(fx, QMP_STATE_DISCONNECTED,
                      count_state(fx, QMP_STATE_DISCONNECTED));
    g_assert_cmpint(g_array_index(accepts, gint64, accepts->len - 1) - down, ==,
                    test_opts.backoff_initial_ms);
}

static void
test_greeting_timeout(Fixture *fx, gconstpointer user_data)
{
    gint64 greeting, down;

    connect_bad_greeting(fx, FAKE_QMP_GREETING_NONE);

    greeting = state_time(fx, QMP_STATE_GREETING, 1);
    down = state_time(fx, QMP_STATE_DISCONNECTED, 1);
    g_assert_cmpint(down - greeting, ==, test_opts.greeting_timeout_ms);
    g_assert_error(fx->last_why, QMP_ERROR, QMP_ERROR_TIMEOUT);
    g_assert_cmpuint(count_state(fx, QMP_STATE_NEGOTIATING), ==, 0);

    fake_qmp_set_greeting(fx->fake, FAKE_QMP_GREETING_NORMAL);
    WAIT_FOR(fx, is_ready(fx), 1000);
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 2);
    g_assert_cmpint(
        g_array_index(fake_qmp_get_accept_times(fx->fake), gint64, 1) - down,
        ==, test_opts.backoff_initial_ms);
}

static void
test_greeting_garbage(Fixture *fx, gconstpointer user_data)
{
    connect_bad_greeting(fx, FAKE_QMP_GREETING_GARBAGE);
    g_assert_error(fx->last_why, QMP_ERROR, QMP_ERROR_PROTOCOL);
    /* Nothing was sent to a peer that did not greet us properly. */
    g_assert_cmpuint(fake_qmp_get_commands(fx->fake), ==, 0);

    fake_qmp_set_greeting(fx->fake, FAKE_QMP_GREETING_NORMAL);
    WAIT_FOR(fx, is_ready(fx), 1000);
}

static void
test_negotiation_error(Fixture *fx, gconstpointer user_data)
{
    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_set_auto_negotiate(fx->fake, FALSE);
    fake_qmp_expect_error(fx->fake, "qmp_capabilities", "{}", "GenericError",
                          "no capabilities for you");
    fake_qmp_wait_connection(fx->fake);
    fake_qmp_expect(fx->fake, "qmp_capabilities", "{}", "{}");
    client_connect(fx, NULL);

    WAIT_FOR(fx, is_ready(fx), 1000);
    g_assert_cmpuint(count_state(fx, QMP_STATE_DISCONNECTED), ==, 1);
    g_assert_error(fx->last_why, QMP_ERROR, QMP_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(fx->last_why->message, "no capabilities for you"));
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 2);
}

static void
test_garbage_line(Fixture *fx, gconstpointer user_data)
{
    Reply *pending = &fx->r[0];
    Reply *after = &fx->r[1];

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_expect_no_reply(fx->fake, "query-status", NULL);
    fake_qmp_send_raw(fx->fake, "{\"return\": oops}\n", -1);
    fake_qmp_wait_connection(fx->fake);
    fake_qmp_expect(fx->fake, "query-name", NULL, "{}");
    start_ready(fx, NULL);

    execute(fx, "query-status", NULL, pending);
    WAIT_FOR(fx, pending->calls > 0, 1000);
    g_assert_error(pending->error, QMP_ERROR, QMP_ERROR_PROTOCOL);
    g_assert_error(fx->last_why, QMP_ERROR, QMP_ERROR_PROTOCOL);

    WAIT_FOR(fx, is_ready(fx), 1000);
    execute(fx, "query-name", NULL, after);
    WAIT_FOR(fx, after->calls > 0, 1000);
    g_assert_no_error(after->error);
    g_assert_cmpuint(pending->calls, ==, 1);
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 2);
}

static void
test_oversized_line(Fixture *fx, gconstpointer user_data)
{
    const gsize size = 2 * 1024 * 1024;
    g_autofree char *huge = g_malloc(size + 1);
    Reply *pending = &fx->r[0];

    /* A syntactically fine reply, just far too long. */
    memset(huge, ' ', size);
    memcpy(huge, "{\"return\": \"", 12);
    memcpy(huge + size - 3, "\"}\n", 3);
    huge[size] = '\0';

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_expect_no_reply(fx->fake, "query-status", NULL);
    fake_qmp_send_raw(fx->fake, huge, size);
    fake_qmp_wait_connection(fx->fake);
    start_ready(fx, NULL);

    execute(fx, "query-status", NULL, pending);
    WAIT_FOR(fx, count_state(fx, QMP_STATE_DISCONNECTED) == 1, 1000);
    g_assert_error(fx->last_why, QMP_ERROR, QMP_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(fx->last_why->message, "longer than"));
    WAIT_FOR(fx, pending->calls > 0, 10);
    g_assert_error(pending->error, QMP_ERROR, QMP_ERROR_PROTOCOL);

    WAIT_FOR(fx, count_state(fx, QMP_STATE_READY) == 2, 1000);
    g_assert_true(fake_qmp_script_done(fx->fake));
    g_assert_cmpuint(pending->calls, ==, 1);
}

static void
test_events(Fixture *fx, gconstpointer user_data)
{
    static const char *const expected[] = {
        "SHUTDOWN {\"guest\":true,\"reason\":\"guest-shutdown\"}",
        "RESET {\"guest\":false,\"reason\":\"host-qmp-system-reset\"}",
        "STOP",
        "RESUME",
        "POWERDOWN",
    };

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_set_auto_negotiate(fx->fake, FALSE);
    /* Before negotiation: dropped. */
    fake_qmp_send_event(fx->fake, "STOP", NULL);
    fake_qmp_expect(fx->fake, "qmp_capabilities", "{}", "{}");
    fake_qmp_send_event(fx->fake, "SHUTDOWN",
                        "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
    fake_qmp_send_event(
        fx->fake, "RESET",
        "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}");
    fake_qmp_send_event(fx->fake, "STOP", NULL);
    fake_qmp_send_event(fx->fake, "RESUME", NULL);
    fake_qmp_send_event(fx->fake, "POWERDOWN", NULL);
    client_connect(fx, NULL);

    WAIT_FOR(fx, fx->events->len >= G_N_ELEMENTS(expected), 1000);
    run_for(fx, 50);
    g_assert_cmpuint(fx->events->len, ==, G_N_ELEMENTS(expected));
    for (guint i = 0; i < G_N_ELEMENTS(expected); i++) {
        g_assert_cmpstr(g_ptr_array_index(fx->events, i), ==, expected[i]);
    }
    g_assert_true(is_ready(fx));
}

static void
test_free_cancels(Fixture *fx, gconstpointer user_data)
{
    Reply *sent1 = &fx->r[0];
    Reply *sent2 = &fx->r[1];
    Reply *deferred = &fx->r[2];
    QmpClient *idle;

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_expect_no_reply(fx->fake, "query-status", NULL);
    fake_qmp_expect_no_reply(fx->fake, "query-name", NULL);
    start_ready(fx, NULL);
    execute(fx, "query-status", NULL, sent1);
    execute(fx, "query-name", NULL, sent2);
    WAIT_FOR(fx, fake_qmp_script_done(fx->fake), 100);

    /* Synchronously, each exactly once. */
    g_clear_pointer(&fx->client, qmp_client_free);
    g_assert_cmpuint(sent1->calls, ==, 1);
    g_assert_cmpuint(sent2->calls, ==, 1);
    g_assert_error(sent1->error, QMP_ERROR, QMP_ERROR_CANCELLED);
    g_assert_error(sent2->error, QMP_ERROR, QMP_ERROR_CANCELLED);

    /* A failure not yet delivered is cancelled instead, and only once. */
    idle = qmp_client_new(fx->loop, fx->path, &test_opts, NULL, NULL);
    qmp_client_execute(idle, "query-status", NULL, on_reply, deferred);
    g_assert_cmpuint(deferred->calls, ==, 0);
    qmp_client_free(idle);
    g_assert_cmpuint(deferred->calls, ==, 1);
    g_assert_error(deferred->error, QMP_ERROR, QMP_ERROR_CANCELLED);

    run_for(fx, 100);
    g_assert_cmpuint(sent1->calls, ==, 1);
    g_assert_cmpuint(sent2->calls, ==, 1);
    g_assert_cmpuint(deferred->calls, ==, 1);
}

/* Run query-status, whose callback frees the client, with query-name
 * queued behind it: each completes once, query-name cancelled.  @timeout_ms
 * bounds the wait for the client to be gone. */
static void
free_from_first_reply(Fixture *fx, Reply *first, Reply *second,
                      gint64 timeout_ms)
{
    first->free_client = TRUE;
    execute(fx, "query-status", NULL, first);
    execute(fx, "query-name", NULL, second);
    WAIT_FOR(fx, fx->client == NULL, timeout_ms);
    g_assert_cmpuint(first->calls, ==, 1);
    g_assert_cmpuint(second->calls, ==, 1);
    g_assert_error(second->error, QMP_ERROR, QMP_ERROR_CANCELLED);
}

static void
test_free_from_callback(Fixture *fx, gconstpointer user_data)
{
    Reply *first = &fx->r[0];
    Reply *second = &fx->r[1];

    /* From a reply callback, with another command pending. */
    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_expect(fx->fake, "query-status", NULL, "{}");
    fake_qmp_expect_no_reply(fx->fake, "query-name", NULL);
    start_ready(fx, NULL);
    free_from_first_reply(fx, first, second, 1000);
    g_assert_no_error(first->error);
    run_for(fx, 100);

    /* From a deferred failure, with another one queued behind it. */
    reply_reset(first);
    reply_reset(second);
    client_new(fx, NULL);
    free_from_first_reply(fx, first, second, 10);
    g_assert_error(first->error, QMP_ERROR, QMP_ERROR_DISCONNECTED);

    /* From state_changed, on the way down. */
    client_connect(fx, NULL);
    WAIT_FOR(fx, is_ready(fx), 1000);
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 2);
    fx->free_in_state = QMP_STATE_DISCONNECTED;
    fake_qmp_close(fx->fake);
    WAIT_FOR(fx, fx->client == NULL, 1000);
    /* It is gone for good: no reconnect. */
    run_for(fx, 1000);
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 2);
}

static void
test_socket_appears(Fixture *fx, gconstpointer user_data)
{
    gint64 appeared;

    connect_without_server(fx);
    /* Failed attempts do not leave DISCONNECTED, so nothing to report. */
    g_assert_cmpuint(fx->states->len, ==, 0);
    g_assert_cmpint(qmp_client_get_state(fx->client), ==,
                    QMP_STATE_DISCONNECTED);

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    appeared = now_ms(fx);
    WAIT_FOR(fx, is_ready(fx), test_opts.backoff_max_ms);
    g_assert_cmpint(now_ms(fx) - appeared, <=, test_opts.backoff_max_ms);
    g_assert_cmpuint(fake_qmp_get_connections(fx->fake), ==, 1);
}

static void
test_connect_now_resets_backoff(Fixture *fx, gconstpointer user_data)
{
    gint64 appeared;

    connect_without_server(fx);

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    appeared = now_ms(fx);
    qmp_client_connect_now(fx->client);
    WAIT_FOR(fx, is_ready(fx), 1000);
    /* Right away, not at the next (400 ms) retry. */
    g_assert_cmpint(now_ms(fx), ==, appeared);
}

/* Filling the listen backlog makes a non-blocking AF_UNIX connect() fail
 * with EAGAIN: the client must wait for writability, not spin, and back
 * off. */
static void
test_backlog_full(Fixture *fx, gconstpointer user_data)
{
    struct sockaddr_un addr;
    g_autoptr(GArray) fillers = g_array_new(FALSE, FALSE, sizeof(int));
    gboolean full = FALSE;
    gint64 start;

    fx->fake = fake_qmp_new(fx->loop, fx->path);
    fake_qmp_set_accepting(fx->fake, FALSE);
    test_sockaddr_un(&addr, fx->path);
    while (!full && fillers->len < 64) {
        bmc_autofd int fd =
            socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            int kept = bmc_steal_fd(&fd);

            g_array_append_val(fillers, kept);
        } else {
            g_assert_cmpint(errno, ==, EAGAIN);
            full = TRUE;
        }
    }
    g_assert_true(full);

    client_connect(fx, NULL);
    start = now_ms(fx);
    /* Loop time only moves while the loop is idle: a spinning client
     * would stall it here (and hit the real-time bound). */
    WAIT_FOR(fx, count_state(fx, QMP_STATE_DISCONNECTED) >= 3, 2000);
    g_assert_cmpuint(count_state(fx, QMP_STATE_CONNECTING), >=, 3);
    g_assert_cmpint(now_ms(fx) - start, >=, 50 + 100);
    g_assert_error(fx->last_why, QMP_ERROR, QMP_ERROR_DISCONNECTED);

    for (guint i = 0; i < fillers->len; i++) {
        close(g_array_index(fillers, int, i));
    }
    fake_qmp_set_accepting(fx->fake, TRUE);
    WAIT_FOR(fx, is_ready(fx), 1000);
}

/* The fake itself: a command it does not expect, and an item left over,
 * must each fail the test (checked in a subprocess). */
static void
test_fake_catches_mistakes(Fixture *fx, gconstpointer user_data)
{
    if (g_test_subprocess()) {
        Reply *r = &fx->r[0];

        fx->fake = fake_qmp_new(fx->loop, fx->path);
        fake_qmp_expect(fx->fake, "query-status", NULL, "{}");
        start_ready(fx, NULL);
        execute(fx, "query-name", NULL, r);
        WAIT_FOR(fx, r->calls > 0, 1000);
        /* It still answers, so the client is not left hanging. */
        g_assert_error(r->error, QMP_ERROR, QMP_ERROR_COMMAND);
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*fake-qmp: unexpected command query-name "
                              "(script: expect command query-status)*");
    g_test_trap_assert_stderr("*fake-qmp: script item left unused: expect "
                              "command query-status*");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(path, func)                                                        \
    g_test_add("/qmp-client/" path, Fixture, NULL, fixture_setup, func,        \
               fixture_teardown)

    ADD("ready", test_ready);
    ADD("execute/return", test_execute_return);
    ADD("execute/error", test_execute_error);
    ADD("execute/timeout", test_execute_timeout);
    ADD("execute/late-reply", test_late_reply);
    ADD("execute/disconnected", test_execute_disconnected);
    ADD("eof/fails-pending-once-deferred", test_eof_fails_pending);
    ADD("reconnect/backoff", test_reconnect_backoff);
    ADD("reconnect/socket-appears", test_socket_appears);
    ADD("reconnect/connect-now-resets-backoff",
        test_connect_now_resets_backoff);
    ADD("reconnect/backlog-full", test_backlog_full);
    ADD("greeting/timeout", test_greeting_timeout);
    ADD("greeting/garbage", test_greeting_garbage);
    ADD("greeting/negotiation-error", test_negotiation_error);
    ADD("protocol/garbage-line", test_garbage_line);
    ADD("protocol/oversized-line", test_oversized_line);
    ADD("events", test_events);
    ADD("free/cancels-pending", test_free_cancels);
    ADD("free/from-callback", test_free_from_callback);
    ADD("fake/catches-mistakes", test_fake_catches_mistakes);
#undef ADD

    return g_test_run();
}
