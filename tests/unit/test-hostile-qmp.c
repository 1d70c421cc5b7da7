/*
 * test-hostile-qmp.c - a QEMU that misbehaves on QMP in every way we know
 * of, with the real Machine and chassis handlers behind IPMI.
 *
 * For each behaviour (garbage, lines cut into pieces, a 10 MB line, no
 * greeting, late or no answers, a close in the middle of a reply, a flood
 * of events) the test keeps asking IPMI questions between turns of the
 * loop.  Each must be answered with a valid completion code there and then:
 * the peer runs on the same loop as the handlers, so a handler that waited
 * for it would never return.  The loop itself must never be busy with the
 * peer for long (a turn's CPU time is bounded by IPMI's 100 ms), the client
 * must get the link back once the peer behaves, and nothing may leak
 * (LeakSanitizer at exit; the fds counted around each test).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "chassis-fixture.h"
#include "test-util.h"

/* IPMI's answer budget, as CPU time of one loop turn or one handler. */
#define TURN_LIMIT_US 100000

typedef struct {
    Fixture f;
    guint fds_before;
    guint asked;             /* IPMI requests answered */
    gint64 max_turn_us;      /* CPU time of the longest loop turn */
    gint64 max_handler_us;   /* CPU time of the longest IPMI handler */
    const char *warnings[4]; /* patterns of the warnings the test expects */
    guint warned;
} Hostile;

static Hostile *current;

static guint
count_fds(void)
{
    g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
    guint n = 0;

    g_assert_nonnull(dir);
    while (g_dir_read_name(dir)) {
        n++;
    }
    return n;
}

static gint64
cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* The machine warns when a QMP command fails: counted where the test makes
 * it fail, a failure of the test anywhere else.  (Warnings are not fatal
 * in this program, so that the count does not depend on their order.) */
static void
on_warning(const char *domain, GLogLevelFlags level, const char *message,
           gpointer data)
{
    if (current) {
        for (guint i = 0; i < G_N_ELEMENTS(current->warnings); i++) {
            if (current->warnings[i] &&
                g_pattern_match_simple(current->warnings[i], message)) {
                current->warned++;
                g_test_message("expected warning: %s", message);
                return;
            }
        }
    }
    test_fail_printf("test-hostile-qmp", "unexpected warning: %s", message);
}

static void
hostile_setup(Hostile *h, gconstpointer data)
{
    h->fds_before = count_fds();
    current = h;
    fixture_setup(&h->f, data);
}

static void
hostile_teardown(Hostile *h, gconstpointer data)
{
    g_test_message(
        "%u IPMI requests answered; longest loop turn %" G_GINT64_FORMAT
        " us CPU, longest handler %" G_GINT64_FORMAT " us CPU",
        h->asked, h->max_turn_us, h->max_handler_us);
    fixture_teardown(&h->f, data);
    current = NULL;
    g_assert_cmpuint(count_fds(), ==, h->fds_before);
}

/* Read-only IPMI requests, answered from what the machine knows now. */
static void
ask(Hostile *h)
{
    static const guint8 param5[] = {0x05, 0x00, 0x00};
    static const struct {
        guint8 cmd;
        const guint8 *data;
        gsize len;
        gsize rsp_len;
    } reads[] = {
        {0x00, NULL, 0, 6},   /* Get Chassis Capabilities */
        {0x01, NULL, 0, 4},   /* Get Chassis Status */
        {0x07, NULL, 0, 3},   /* Get System Restart Cause */
        {0x09, param5, 3, 8}, /* Get System Boot Options, boot flags */
    };

    for (guint i = 0; i < G_N_ELEMENTS(reads); i++) {
        guint8 rsp[IPMI_MAX_RSP];
        gsize n = 0;
        gint64 t0 = cpu_us();
        guint8 cc = request(&h->f, IPMI_NETFN_CHASSIS, reads[i].cmd,
                            reads[i].data, reads[i].len, rsp, &n);

        h->max_handler_us = MAX(h->max_handler_us, cpu_us() - t0);
        g_assert_cmphex(cc, ==, IPMI_CC_OK);
        g_assert_cmpuint(n, ==, reads[i].rsp_len);
        h->asked++;
    }
}

/* Turn the loop until @done (or @ms of loop time), asking IPMI questions
 * after every turn and timing each turn. */
static gboolean
pump_until(Hostile *h, gboolean (*done)(gpointer), gpointer data, gint64 ms)
{
    gint64 end = bmc_loop_now_ms(h->f.loop) + ms;

    while (!(done && done(data))) {
        gint64 t0;

        if (bmc_loop_now_ms(h->f.loop) >= end) {
            return FALSE;
        }
        t0 = cpu_us();
        bmc_poll_loop_iterate(h->f.pl, 10);
        h->max_turn_us = MAX(h->max_turn_us, cpu_us() - t0);
        ask(h);
    }
    return TRUE;
}

static void
pump(Hostile *h, gint64 ms)
{
    pump_until(h, NULL, NULL, ms);
}

static gboolean
qmp_done(gpointer data)
{
    return qmp_script_done(&((Hostile *)data)->f);
}

/* The client comes back on its own: a new connection, negotiated, QEMU's
 * status asked, the boot order put back. */
static void
expect_relink(Hostile *h)
{
    fake_qmp_wait_connection(h->f.qmp);
    fake_qmp_expect(h->f.qmp, "query-status", NULL,
                    "{\"status\": \"running\", \"running\": true}");
    expect_boot_order(&h->f);
}

static void
relinked(Hostile *h, guint connections)
{
    g_assert_true(pump_until(h, qmp_done, h, 30000));
    g_assert_cmpuint(fake_qmp_get_connections(h->f.qmp), ==, connections);
    g_assert_true(fake_qmp_is_ready(h->f.qmp));
    pump(h, 100);
    g_assert_true(machine_is_powered_on(h->f.machine));
}

/* An IPMI hard reset that QEMU takes normally: the link works. */
static void
reset_works(Hostile *h)
{
    guint warned = h->warned;

    expect_boot_order(&h->f);
    fake_qmp_expect(h->f.qmp, "system_reset", NULL, "{}");
    g_assert_cmphex(control(&h->f, 0x03), ==, IPMI_CC_OK);
    g_assert_true(pump_until(h, qmp_done, h, 5000));
    pump(h, 1500); /* past the command timeout: no late failure */
    g_assert_cmpuint(h->warned, ==, warned);
}

static void
test_garbage(Hostile *h, gconstpointer data)
{
    static const struct {
        const char *bytes;
        gsize len;
    } garbage[] = {
#define G(s) {s, sizeof(s) - 1}
        G("this is not JSON\n"),
        G("\x00\xff\xfe\x80 binary\x01\n"),
        G("[1, 2, 3]\n"),
        G("{\"return\": {}, \"id\": \n"),
        G("{\"event\": 42, \"timestamp\": {}}\n"),
        G("{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n"),
        G("{\"error\": \"not an object\", \"id\": 1}\n"),
        G("\"just a string\"\n"),
        G("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"),
#undef G
    };

    power_on(&h->f);
    for (guint i = 0; i < G_N_ELEMENTS(garbage); i++) {
        fake_qmp_send_raw(h->f.qmp, garbage[i].bytes, garbage[i].len);
        expect_relink(h);
        relinked(h, i + 2);
    }
    reset_works(h);
}

static void
test_partial_lines(Hostile *h, gconstpointer data)
{
    static const char event[] =
        "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, "
        "\"microseconds\": 2}}\n";
    static const char half[] = "{\"event\": \"RESUME\", \"timest";
    static const char rest[] =
        "amp\": {\"seconds\": 1, \"microseconds\": 3}}\n";

    power_on(&h->f);
    /* An event a byte at a time. */
    for (const char *p = event; *p; p++) {
        fake_qmp_send_raw(h->f.qmp, p, 1);
        pump(h, 5);
    }
    /* Half a line, a long silence (past the command timeout), the rest. */
    fake_qmp_send_raw(h->f.qmp, half, -1);
    pump(h, 3000);
    fake_qmp_send_raw(h->f.qmp, rest, -1);
    pump(h, 100);
    /* Replies in pieces of 1 to 7 bytes: every reply arrives whole. */
    for (guint i = 0; i < 6; i++) {
        fake_qmp_expect_split(h->f.qmp, "qom-set", NULL, "{}", i + 1, 3);
    }
    fake_qmp_expect_split(h->f.qmp, "system_reset", NULL, "{}", 7, 2);
    g_assert_cmphex(control(&h->f, 0x03), ==, IPMI_CC_OK);
    g_assert_true(pump_until(h, qmp_done, h, 5000));
    pump(h, 1500);
    g_assert_cmpuint(h->warned, ==, 0);
    g_assert_cmpuint(fake_qmp_get_connections(h->f.qmp), ==, 1);
    g_assert_true(fake_qmp_is_ready(h->f.qmp));
}

static void
test_huge_line(Hostile *h, gconstpointer data)
{
    const gsize size = 10 * 1024 * 1024;
    g_autofree char *line = g_malloc(size);

    /* A JSON string member 10 MB long: valid, but over the 1 MiB cap. */
    memset(line, 'a', size);
    memcpy(line, "{\"event\": \"", 11);
    memcpy(line + size - 3, "\"}\n", 3);
    power_on(&h->f);
    fake_qmp_send_raw(h->f.qmp, line, size);
    expect_relink(h);
    relinked(h, 2);
    /* And the same without a newline at all. */
    fake_qmp_send_raw(h->f.qmp, line, size - 1);
    expect_relink(h);
    relinked(h, 3);
    reset_works(h);
}

/* QEMU greets normally again: the link comes back, power reads on. */
static void
greeting_recovers(Hostile *h)
{
    fake_qmp_set_greeting(h->f.qmp, FAKE_QMP_GREETING_NORMAL);
    expect_relink(h);
    g_assert_true(pump_until(h, qmp_done, h, 30000));
    pump(h, 100);
    g_assert_true(fake_qmp_is_ready(h->f.qmp));
    g_assert_true(machine_is_powered_on(h->f.machine));
}

static void
test_no_greeting(Hostile *h, gconstpointer data)
{
    static const FakeQmpGreeting bad[] = {
        FAKE_QMP_GREETING_NONE,
        FAKE_QMP_GREETING_GARBAGE,
        FAKE_QMP_GREETING_CLOSE,
    };

    power_on(&h->f);
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        guint before = fake_qmp_get_connections(h->f.qmp);

        fake_qmp_set_greeting(h->f.qmp, bad[i]);
        fake_qmp_close(h->f.qmp);
        /* The greeting timeout is 3 s: a few tries in 10 s. */
        pump(h, 10000);
        g_assert_cmpuint(fake_qmp_get_connections(h->f.qmp), >=, before + 3);
        g_test_message("greeting %d: %u connections in 10 s, power reads %s",
                       bad[i], fake_qmp_get_connections(h->f.qmp) - before,
                       machine_is_powered_on(h->f.machine) ? "on" : "off");
        greeting_recovers(h);
    }
    reset_works(h);
}

static void
test_late_reply(Hostile *h, gconstpointer data)
{
    power_on(&h->f);
    h->warnings[0] = "hard reset: no reply to QMP command system_reset*";
    expect_boot_order(&h->f);
    /* 3 s: well past the 1 s command timeout. */
    fake_qmp_expect_delayed(h->f.qmp, "system_reset", NULL, "{}", 3000);
    g_assert_cmphex(control(&h->f, 0x03), ==, IPMI_CC_OK);
    g_assert_true(pump_until(h, qmp_done, h, 5000));
    pump(h, 4000);
    g_assert_cmpuint(h->warned, ==, 1);
    /* The late answer is dropped, not taken for the next command's. */
    g_assert_cmpuint(fake_qmp_get_connections(h->f.qmp), ==, 1);
    reset_works(h);
}

static void
test_never_answers(Hostile *h, gconstpointer data)
{
    power_on(&h->f);
    h->warnings[0] = "hard reset: no reply to QMP command system_reset*";
    /* QEMU takes commands and never answers one; IPMI resets keep coming. */
    for (guint i = 0; i < 5; i++) {
        for (guint j = 0; j < 6; j++) {
            fake_qmp_expect_no_reply(h->f.qmp, "qom-set", NULL);
        }
        fake_qmp_expect_no_reply(h->f.qmp, "system_reset", NULL);
        g_assert_cmphex(control(&h->f, 0x03), ==, IPMI_CC_OK);
        g_assert_true(pump_until(h, qmp_done, h, 5000));
        pump(h, 300);
    }
    pump(h, 2000);
    g_assert_cmpuint(h->warned, ==, 5);
    g_assert_true(machine_is_powered_on(h->f.machine));
    g_assert_cmpuint(fake_qmp_get_connections(h->f.qmp), ==, 1);
    reset_works(h);
}

static void
test_close_mid_reply(Hostile *h, gconstpointer data)
{
    power_on(&h->f);
    h->warnings[0] = "hard reset: *";
    expect_boot_order(&h->f);
    fake_qmp_expect_partial_close(h->f.qmp, "system_reset", NULL, "{}", 12);
    g_assert_cmphex(control(&h->f, 0x03), ==, IPMI_CC_OK);
    expect_relink(h);
    relinked(h, 2);
    g_assert_cmpuint(h->warned, ==, 1);
    reset_works(h);
}

static void
test_event_flood(Hostile *h, gconstpointer data)
{
    static const char *const events[] = {
        "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, "
        "\"microseconds\": 0}}\n",
        "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, "
        "\"microseconds\": 0}}\n",
        "{\"event\": \"RTC_CHANGE\", \"data\": {\"offset\": 1}, "
        "\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\n",
        "{\"event\": \"NO_SUCH_EVENT\", \"data\": {\"x\": [1, 2, {}]}, "
        "\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\n",
        "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false}, "
        "\"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\n",
    };
    g_autoptr(GString) flood = g_string_new(NULL);
    const guint n = 20000;

    for (guint i = 0; i < n; i++) {
        g_string_append(flood, events[i % G_N_ELEMENTS(events)]);
    }
    power_on(&h->f);
    /* The flood, with a reset's answer somewhere behind it. */
    fake_qmp_send_raw(h->f.qmp, flood->str, flood->len);
    reset_works(h);
    fake_qmp_send_raw(h->f.qmp, flood->str, flood->len);
    pump(h, 2000);
    g_test_message("%u events (%" G_GSIZE_FORMAT " bytes) in two floods", 2 * n,
                   2 * flood->len);
    g_assert_cmpuint(fake_qmp_get_connections(h->f.qmp), ==, 1);
    g_assert_true(fake_qmp_is_ready(h->f.qmp));
    reset_works(h);
}

/* A QEMU whose monitor breaks (here: the greeting turns to garbage) but
 * whose process runs on: off at first, as for a QEMU on its way out, then
 * on once it has outlived the grace period; a process that is gone (or a
 * zombie) stays off.  supervisord is polled every 500 ms here. */
static void
test_alive_without_qmp(Hostile *h, gconstpointer data)
{
    gboolean alive = GPOINTER_TO_INT(data);

    h->warnings[0] = "QEMU (pid 4242) runs on without a working QMP link*";
    power_on(&h->f);
    fake_qmp_set_greeting(h->f.qmp, FAKE_QMP_GREETING_GARBAGE);
    fake_qmp_close(h->f.qmp);
    pump(h, 200);
    g_assert_false(fake_qmp_is_ready(h->f.qmp));
    g_assert_false(machine_is_powered_on(h->f.machine));
    pump(h, 3000);
    g_assert_cmpint(machine_is_powered_on(h->f.machine), ==, alive);
    g_assert_cmpuint(h->warned, ==, alive ? 1 : 0);
    if (!alive) {
        return;
    }
    /* The monitor recovers: the link comes back, still on. */
    greeting_recovers(h);
}

static void
polled_setup(Hostile *h, gconstpointer data)
{
    fixture_poll_ms = 500;
    fixture_qemu_alive = GPOINTER_TO_INT(data);
    hostile_setup(h, data);
}

static void
polled_teardown(Hostile *h, gconstpointer data)
{
    hostile_teardown(h, data);
    fixture_poll_ms = 0;
    fixture_qemu_alive = FALSE;
}

/* Checked after each test, once its own assertions have passed. */
static void
check_bounds(Hostile *h)
{
    g_assert_cmpint(h->max_turn_us, <, TURN_LIMIT_US);
    g_assert_cmpint(h->max_handler_us, <, TURN_LIMIT_US);
    g_assert_cmpuint(h->asked, >, 0);
}

#define WRAP(name)                                                             \
    static void name##_checked(Hostile *h, gconstpointer data)                 \
    {                                                                          \
        name(h, data);                                                         \
        check_bounds(h);                                                       \
    }
WRAP(test_garbage)
WRAP(test_partial_lines)
WRAP(test_huge_line)
WRAP(test_no_greeting)
WRAP(test_late_reply)
WRAP(test_never_answers)
WRAP(test_close_mid_reply)
WRAP(test_event_flood)
WRAP(test_alive_without_qmp)

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
    g_log_set_handler("qemu-bmc", G_LOG_LEVEL_WARNING, on_warning, NULL);
#define ADD(path, fn)                                                          \
    g_test_add("/hostile-qmp/" path, Hostile, NULL, hostile_setup,             \
               fn##_checked, hostile_teardown)
    ADD("garbage", test_garbage);
    ADD("partial-lines", test_partial_lines);
    ADD("10mb-line", test_huge_line);
    ADD("no-greeting", test_no_greeting);
    ADD("late-reply", test_late_reply);
    ADD("never-answers", test_never_answers);
    ADD("close-mid-reply", test_close_mid_reply);
    ADD("event-flood", test_event_flood);
    g_test_add("/hostile-qmp/alive-without-qmp", Hostile, GINT_TO_POINTER(1),
               polled_setup, test_alive_without_qmp_checked, polled_teardown);
    g_test_add("/hostile-qmp/gone-without-qmp", Hostile, GINT_TO_POINTER(0),
               polled_setup, test_alive_without_qmp_checked, polled_teardown);
    return g_test_run();
}
