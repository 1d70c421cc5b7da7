/*
 * test-sol-bridge.c - the serial console bridge against a fake QEMU and
 * fake console clients, in-process.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "console-log.h"
#include "fake-console.h"
#include "sol-bridge.h"
#include "test-util.h"

/* Generous: the machine running the tests may be busy (and ASan is on). */
#define WAIT_MS 5000

typedef struct {
    char *dir;
    char *serial_path;
    char *ops_path;
    char *log_path;
    GMainContext *context;
    ConsoleLog *log;
    SolBridge *bridge;
    int sol_port;
    SolBridgeOptions opts;
} Fixture;

static int
listen_tcp_any_port(int *port)
{
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 4), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&addr, &len), ==, 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->dir = test_tmpdir_new("test-sol-bridge-XXXXXX");
    f->serial_path = g_build_filename(f->dir, "serial.sock", NULL);
    f->ops_path = g_build_filename(f->dir, "console.sock", NULL);
    f->log_path = g_build_filename(f->dir, "console.log", NULL);
    f->context = g_main_context_new();
    f->log = console_log_open(f->log_path, 64 * 1024 * 1024, 2, &error);
    g_assert_no_error(error);
    f->opts.serial_path = f->serial_path;
    f->opts.ops_path = f->ops_path;
    f->opts.log = f->log;
    f->opts.mirror_fd = -1;
    f->opts.sol_listen_fd = -1;
}

/* Start the bridge with f->opts as the test left them. */
static void
bridge_start(Fixture *f)
{
    g_autoptr(GError) error = NULL;

    f->opts.sol_listen_fd = listen_tcp_any_port(&f->sol_port);
    f->bridge = sol_bridge_new(&f->opts, f->context, &error);
    g_assert_no_error(error);
    g_assert_nonnull(f->bridge);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->bridge, sol_bridge_free);
    /* The bridge removes its operator socket. */
    g_assert_false(g_file_test(f->ops_path, G_FILE_TEST_EXISTS));
    console_log_close(f->log);
    (void)g_unlink(f->log_path);
    /* A rotated log in a test that made one. */
    {
        g_autofree char *one = g_strdup_printf("%s.1", f->log_path);
        (void)g_unlink(one);
    }
    /* Drain sources the bridge left (none should be left). */
    while (g_main_context_iteration(f->context, FALSE)) {
    }
    g_main_context_unref(f->context);
    g_free(f->serial_path);
    g_free(f->ops_path);
    g_free(f->log_path);
    test_tmpdir_free(f->dir);
}

static gboolean
bridge_serial_up(gpointer data)
{
    return sol_bridge_serial_connected(((Fixture *)data)->bridge);
}

static gboolean
bridge_serial_down(gpointer data)
{
    return !sol_bridge_serial_connected(((Fixture *)data)->bridge);
}

static gboolean
bridge_sol_up(gpointer data)
{
    return sol_bridge_sol_connected(((Fixture *)data)->bridge);
}

static gboolean
bridge_ops_up(gpointer data)
{
    return sol_bridge_ops_connected(((Fixture *)data)->bridge);
}

/* A QEMU the bridge is connected to. */
static FakeQemu *
qemu_up(Fixture *f)
{
    FakeQemu *fq = fake_qemu_new(f->context, f->serial_path);

    g_assert_true(fake_qemu_accept(fq, WAIT_MS));
    g_assert_true(test_pump_until(f->context, bridge_serial_up, f, WAIT_MS));
    return fq;
}

static FakeClient *
sol_client(Fixture *f)
{
    FakeClient *fc = fake_client_new_tcp(f->context, f->sol_port);

    g_assert_true(test_pump_until(f->context, bridge_sol_up, f, WAIT_MS));
    return fc;
}

static FakeClient *
ops_client(Fixture *f)
{
    FakeClient *fc = fake_client_new_unix(f->context, f->ops_path);

    g_assert_true(test_pump_until(f->context, bridge_ops_up, f, WAIT_MS));
    return fc;
}

static char *
log_text(Fixture *f, gsize *len)
{
    char *text = NULL;

    g_assert_true(g_file_get_contents(f->log_path, &text, len, NULL));
    return text;
}

typedef struct {
    FakeQemu *fq;
    const char *expect;
} QemuWait;

static gboolean
qemu_has(gpointer data)
{
    QemuWait *w = data;
    GString *got = fake_qemu_received(w->fq);

    return strlen(w->expect) <= got->len &&
           memmem(got->str, got->len, w->expect, strlen(w->expect)) != NULL;
}

static gboolean
qemu_wait_for(Fixture *f, FakeQemu *fq, const char *expect)
{
    QemuWait w = {fq, expect};

    return test_pump_until(f->context, qemu_has, &w, WAIT_MS);
}

/* ---- Tests ------------------------------------------------------------- */

/* The guest's output reaches the SOL client, the operator, the log and the
 * mirror; input from both clients reaches the guest. */
static void
test_fanout_and_input(Fixture *f, gconstpointer data)
{
    int mirror[2];
    g_autoptr(FakeClient) sol = NULL;
    g_autoptr(FakeClient) ops = NULL;
    g_autofree char *text = NULL;
    FakeQemu *fq;
    char buf[64] = {0};

    g_assert_true(g_unix_open_pipe(mirror, FD_CLOEXEC, NULL));
    g_assert_true(g_unix_set_fd_nonblocking(mirror[1], TRUE, NULL));
    f->opts.mirror_fd = mirror[1];
    bridge_start(f);
    fq = qemu_up(f);
    sol = sol_client(f);
    ops = ops_client(f);

    g_assert_true(fake_qemu_send(fq, "guest# ", 7, WAIT_MS));
    g_assert_true(fake_client_wait_for(sol, "guest# ", WAIT_MS));
    g_assert_true(fake_client_wait_for(ops, "guest# ", WAIT_MS));
    text = log_text(f, NULL);
    g_assert_cmpstr(text, ==, "guest# ");
    g_assert_cmpint(read(mirror[0], buf, sizeof(buf) - 1), ==, 7);
    g_assert_cmpstr(buf, ==, "guest# ");

    fake_client_send(sol, "echo $((6*7))\r", 14);
    g_assert_true(qemu_wait_for(f, fq, "echo $((6*7))\r"));
    fake_client_send(ops, "ls\r", 3);
    g_assert_true(qemu_wait_for(f, fq, "echo $((6*7))\rls\r"));
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->to_serial, ==, 17);

    fake_qemu_free(fq, TRUE);
    close(mirror[0]);
    close(mirror[1]);
}

/* What the guest wrote while nobody was attached is in the log. */
static void
test_boot_before_client(Fixture *f, gconstpointer data)
{
    static const char banner[] = "SeaBIOS (version 1.16.2)\r\nBooting...\r\n";
    g_autoptr(FakeClient) sol = NULL;
    g_autofree char *text = NULL;
    FakeQemu *fq;

    bridge_start(f);
    fq = qemu_up(f);
    g_assert_true(fake_qemu_send(fq, banner, strlen(banner), WAIT_MS));
    test_pump_for(f->context, 50);
    sol = sol_client(f);
    g_assert_true(fake_qemu_send(fq, "login: ", 7, WAIT_MS));
    g_assert_true(fake_client_wait_for(sol, "login: ", WAIT_MS));
    text = log_text(f, NULL);
    g_assert_cmpstr(text, ==,
                    "SeaBIOS (version 1.16.2)\r\nBooting...\r\nlogin: ");
    fake_qemu_free(fq, TRUE);
}

/* QEMU goes and a new one comes: the bridge reconnects within 200 ms and
 * the SOL connection stays up throughout. */
static void
test_reconnect_keeps_client(Fixture *f, gconstpointer data)
{
    g_autoptr(FakeClient) sol = NULL;
    FakeQemu *fq;
    gint64 t0;
    gint64 took_us;

    bridge_start(f);
    fq = qemu_up(f);
    sol = sol_client(f);
    g_assert_true(fake_qemu_send(fq, "first boot\r\n", 12, WAIT_MS));
    g_assert_true(fake_client_wait_for(sol, "first boot", WAIT_MS));

    /* A clean exit removes the socket (power off). */
    fake_qemu_free(fq, TRUE);
    g_assert_true(test_pump_until(f->context, bridge_serial_down, f, WAIT_MS));
    test_pump_for(f->context, 300);
    g_assert_false(fake_client_closed(sol));

    /* Power on: a new QEMU. */
    t0 = g_get_monotonic_time();
    fq = fake_qemu_new(f->context, f->serial_path);
    g_assert_true(fake_qemu_accept(fq, WAIT_MS));
    g_assert_true(test_pump_until(f->context, bridge_serial_up, f, WAIT_MS));
    took_us = g_get_monotonic_time() - t0;
    g_test_message("reconnected after %" G_GINT64_FORMAT " us", took_us);
    g_assert_cmpint(took_us, <, 200 * 1000);

    g_assert_true(fake_qemu_send(fq, "second boot\r\n", 13, WAIT_MS));
    g_assert_true(fake_client_wait_for(sol, "second boot", WAIT_MS));
    g_assert_false(fake_client_closed(sol));
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->serial_connects, ==, 2);
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->sol_clients, ==, 1);
    fake_qemu_free(fq, TRUE);
}

/* A QEMU killed with SIGKILL leaves its socket behind; the next QEMU
 * replaces it and the bridge finds it. */
static void
test_stale_socket(Fixture *f, gconstpointer data)
{
    FakeQemu *fq;

    bridge_start(f);
    fq = qemu_up(f);
    fake_qemu_free(fq, FALSE);
    g_assert_true(test_pump_until(f->context, bridge_serial_down, f, WAIT_MS));
    /* Refused connects for a while: nothing breaks. */
    test_pump_for(f->context, 250);
    g_assert_false(sol_bridge_serial_connected(f->bridge));
    fq = qemu_up(f);
    fake_qemu_free(fq, TRUE);
}

/* With a slow retry timer, inotify alone finds a new QEMU at once. */
static void
test_inotify_finds_qemu(Fixture *f, gconstpointer data)
{
    FakeQemu *fq;
    gint64 t0;
    gint64 took_us;

    f->opts.retry_ms = 10000;
    bridge_start(f);
    test_pump_for(f->context, 100);
    t0 = g_get_monotonic_time();
    fq = fake_qemu_new(f->context, f->serial_path);
    g_assert_true(fake_qemu_accept(fq, WAIT_MS));
    g_assert_true(test_pump_until(f->context, bridge_serial_up, f, WAIT_MS));
    took_us = g_get_monotonic_time() - t0;
    g_test_message("found QEMU after %" G_GINT64_FORMAT " us", took_us);
    g_assert_cmpint(took_us, <, 200 * 1000);
    fake_qemu_free(fq, TRUE);
}

/* Input typed while QEMU is down is discarded, never replayed later. */
static void
test_input_discarded_while_down(Fixture *f, gconstpointer data)
{
    g_autoptr(FakeClient) sol = NULL;
    g_autoptr(FakeClient) ops = NULL;
    FakeQemu *fq;

    bridge_start(f);
    sol = sol_client(f);
    ops = ops_client(f);
    fake_client_send(sol, "typed-while-off", 15);
    fake_client_send(ops, "also", 4);
    test_pump_for(f->context, 100);
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->input_discarded, ==, 19);

    fq = qemu_up(f);
    fake_client_send(sol, "after", 5);
    g_assert_true(qemu_wait_for(f, fq, "after"));
    test_pump_for(f->context, 50);
    g_assert_cmpstr(fake_qemu_received(fq)->str, ==, "after");
    fake_qemu_free(fq, TRUE);
}

/* QEMU writes its serial output a byte at a time (one socket buffer each,
 * so its socket fills after a few hundred bytes): every byte arrives, in
 * order, and one after a quiet spell (an echo) is forwarded in the very
 * wakeup that reads it. */
static void
test_byte_stream(Fixture *f, gconstpointer data)
{
    g_autoptr(FakeClient) sol = NULL;
    g_autoptr(GString) sent = g_string_new(NULL);
    const SolBridgeStats *st;
    FakeQemu *fq;
    guint64 reads;
    int iterations = 0;

    bridge_start(f);
    fq = qemu_up(f);
    sol = sol_client(f);
    st = sol_bridge_get_stats(f->bridge);

    for (int i = 0; i < 3000; i++) {
        char ch = (char)('a' + i % 26);

        g_string_append_c(sent, ch);
        g_assert_true(fake_qemu_send(fq, &ch, 1, 1000));
        g_main_context_iteration(f->context, FALSE);
    }
    g_string_append_c(sent, '\n');
    g_assert_true(fake_qemu_send(fq, "\n", 1, 1000));
    g_assert_true(fake_client_wait_for(sol, "\n", WAIT_MS));
    g_assert_cmpmem(fake_client_received(sol)->str,
                    fake_client_received(sol)->len, sent->str, sent->len);
    g_assert_cmpuint(st->from_serial, ==, 3001);

    test_pump_for(f->context, 20);
    reads = st->serial_reads;
    g_assert_true(fake_qemu_send(fq, "!", 1, 1000));
    while (st->serial_reads == reads) {
        g_main_context_iteration(f->context, TRUE);
        g_assert_cmpint(++iterations, <, 10);
    }
    g_assert_true(fake_client_wait_for(sol, "!", 0));
    fake_qemu_free(fq, TRUE);
}

/* SOL output is paced: a burst goes at once, more waits for its time. */
static void
test_sol_paced(Fixture *f, gconstpointer data)
{
    g_autoptr(FakeClient) sol = NULL;
    g_autoptr(FakeClient) ops = NULL;
    g_autofree char *chunk = g_malloc(64 * 1024);
    FakeQemu *fq;
    gint64 t0;
    gint64 took_ms;

    memset(chunk, 'p', 64 * 1024);
    chunk[64 * 1024 - 1] = '$';
    f->opts.sol_rate = 100 * 1024;
    bridge_start(f);
    fq = qemu_up(f);
    sol = sol_client(f);
    ops = ops_client(f);

    /* A prompt after a quiet spell: at once. */
    t0 = g_get_monotonic_time();
    g_assert_true(fake_qemu_send(fq, "guest# ", 7, WAIT_MS));
    g_assert_true(fake_client_wait_for(sol, "guest# ", WAIT_MS));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 100 * 1000);

    /* 64 KiB: 8 KiB at once, the rest at 100 KiB/s, i.e. >= 0.55 s; the
     * operator client is not paced. */
    t0 = g_get_monotonic_time();
    g_assert_true(fake_qemu_send(fq, chunk, 64 * 1024, WAIT_MS));
    g_assert_true(fake_client_wait_for(ops, "$", WAIT_MS));
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 400 * 1000);
    g_assert_true(fake_client_wait_for(sol, "$", WAIT_MS));
    took_ms = (g_get_monotonic_time() - t0) / 1000;
    g_test_message("64 KiB paced at 100 KiB/s in %" G_GINT64_FORMAT " ms",
                   took_ms);
    g_assert_cmpint(took_ms, >=, 500);
    g_assert_cmpint(took_ms, <, 3000);
    g_assert_cmpuint(fake_client_received(sol)->len, ==, 7 + 64 * 1024);
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->sol_dropped, ==, 0);
    fake_qemu_free(fq, TRUE);
}

/* A SOL client that stops reading cannot stall the bridge or make it grow:
 * QEMU's output is read as fast as it comes, the log keeps everything, the
 * stalled client's queue stays at its bound and drops the oldest output. */
static void
test_stalled_client(Fixture *f, gconstpointer data)
{
    const gsize total = 8 * 1024 * 1024;
    const gsize chunk_len = 64 * 1024;
    g_autoptr(FakeClient) sol = NULL;
    g_autofree char *chunk = g_malloc(chunk_len);
    g_autofree char *text = NULL;
    const SolBridgeStats *st;
    FakeQemu *fq;
    gsize log_len = 0;
    GString *got;

    f->opts.client_queue = 64 * 1024;
    bridge_start(f);
    fq = qemu_up(f);
    sol = sol_client(f);
    fake_client_stall(sol);

    for (gsize i = 0; i < chunk_len; i++) {
        chunk[i] = (char)('a' + i % 26);
    }
    for (gsize sent = 0; sent < total; sent += chunk_len) {
        /* Each chunk goes through quickly: the bridge never stops
         * reading QEMU. */
        g_assert_true(fake_qemu_send(fq, chunk, chunk_len, 1000));
        g_assert_cmpuint(sol_bridge_sol_queued(f->bridge), <=, 64 * 1024);
    }
    g_assert_true(fake_qemu_send(fq, "END\n", 4, 1000));
    test_pump_for(f->context, 100);

    st = sol_bridge_get_stats(f->bridge);
    g_assert_cmpuint(st->from_serial, ==, total + 4);
    g_assert_cmpuint(st->sol_dropped, >, 0);
    g_assert_cmpuint(st->log_lost, ==, 0);
    text = log_text(f, &log_len);
    g_assert_cmpuint(log_len, ==, total + 4);

    /* The client catches up and sees the newest output. */
    fake_client_resume(sol);
    g_assert_true(fake_client_wait_for(sol, "END\n", WAIT_MS));
    got = fake_client_received(sol);
    g_assert_cmpuint(got->len, <, total);
    g_assert_false(fake_client_closed(sol));
    fake_qemu_free(fq, TRUE);
}

static gboolean
sol_was_reset(gpointer data)
{
    return sol_bridge_get_stats(((Fixture *)data)->bridge)->sol_resets > 0;
}

/* ipmi_sim that stops reading for good (its 2.0.33 defect) gets its link
 * reset, so that it reconnects; one that reads, however slowly, does not. */
static void
test_stuck_sol_link_reset(Fixture *f, gconstpointer data)
{
    g_autoptr(FakeClient) slow = NULL;
    g_autoptr(FakeClient) stuck = NULL;
    g_autoptr(FakeClient) next = NULL;
    char chunk[65536];
    FakeQemu *fq;

    memset(chunk, 's', sizeof(chunk));
    f->opts.sol_stall_ms = 300;
    f->opts.client_queue = 64 * 1024;
    bridge_start(f);
    fq = qemu_up(f);

    /* Slow: takes a little every 100 ms while output keeps coming. */
    slow = sol_client(f);
    fake_client_stall(slow);
    for (int i = 0; i < 12; i++) {
        g_assert_true(fake_qemu_send(fq, chunk, sizeof(chunk), 1000));
        test_pump_for(f->context, 100);
        fake_client_resume(slow);
        (void)fake_client_received(slow);
        fake_client_stall(slow);
    }
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->sol_resets, ==, 0);
    g_assert_false(fake_client_closed(slow));

    /* Stuck: takes nothing at all. */
    stuck = sol_client(f);
    fake_client_stall(stuck);
    for (int i = 0; i < 8; i++) {
        g_assert_true(fake_qemu_send(fq, chunk, sizeof(chunk), 1000));
    }
    g_assert_true(test_pump_until(f->context, sol_was_reset, f, WAIT_MS));
    g_assert_false(sol_bridge_sol_connected(f->bridge));
    fake_client_resume(stuck);
    g_assert_true(fake_client_closed(stuck));

    /* ipmi_sim reconnects and gets output again. */
    next = sol_client(f);
    g_assert_true(fake_qemu_send(fq, "back\r\n", 6, WAIT_MS));
    g_assert_true(fake_client_wait_for(next, "back", WAIT_MS));
    fake_qemu_free(fq, TRUE);
}

/* A guest that does not read its serial port: input is bounded and
 * dropped, output still flows; input left unsent when QEMU goes is
 * discarded, not replayed to the next QEMU. */
static void
test_guest_not_reading(Fixture *f, gconstpointer data)
{
    g_autoptr(FakeClient) sol = NULL;
    char input[1024];
    const SolBridgeStats *st;
    FakeQemu *fq;

    memset(input, 'k', sizeof(input));
    bridge_start(f);
    fq = qemu_up(f);
    fake_qemu_stop_reading(fq);
    sol = sol_client(f);
    for (int i = 0; i < 1024; i++) {
        fake_client_send(sol, input, sizeof(input));
        if (i % 16 == 0) {
            test_pump_for(f->context, 1);
        }
    }
    test_pump_for(f->context, 100);
    st = sol_bridge_get_stats(f->bridge);
    g_assert_cmpuint(st->input_dropped, >, 0);

    g_assert_true(fake_qemu_send(fq, "still alive\r\n", 13, WAIT_MS));
    g_assert_true(fake_client_wait_for(sol, "still alive", WAIT_MS));

    fake_qemu_free(fq, TRUE);
    g_assert_true(test_pump_until(f->context, bridge_serial_down, f, WAIT_MS));
    g_assert_cmpuint(st->input_discarded, >, 0);
    fq = qemu_up(f);
    test_pump_for(f->context, 100);
    g_assert_cmpuint(fake_qemu_received(fq)->len, ==, 0);
    fake_client_send(sol, "fresh", 5);
    g_assert_true(qemu_wait_for(f, fq, "fresh"));
    g_assert_cmpstr(fake_qemu_received(fq)->str, ==, "fresh");
    fake_qemu_free(fq, TRUE);
}

/* A new SOL connection replaces the old one (ipmi_sim reconnecting). */
static void
test_new_client_replaces_old(Fixture *f, gconstpointer data)
{
    g_autoptr(FakeClient) first = NULL;
    g_autoptr(FakeClient) second = NULL;
    FakeQemu *fq;

    bridge_start(f);
    fq = qemu_up(f);
    first = sol_client(f);
    second = fake_client_new_tcp(f->context, f->sol_port);
    test_pump_for(f->context, 50);
    g_assert_true(fake_client_closed(first));
    g_assert_true(fake_qemu_send(fq, "to the new one", 14, WAIT_MS));
    g_assert_true(fake_client_wait_for(second, "to the new one", WAIT_MS));
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->sol_clients, ==, 2);
    fake_qemu_free(fq, TRUE);
}

/* ipmi_sim sends a SOL break as IAC BRK in tcp: mode: not for the guest. */
static void
test_break_not_forwarded(Fixture *f, gconstpointer data)
{
    g_autoptr(FakeClient) sol = NULL;
    GString *got;
    FakeQemu *fq;

    bridge_start(f);
    fq = qemu_up(f);
    sol = sol_client(f);
    fake_client_send(sol,
                     "a\xff\xf3"
                     "b\xff",
                     5);
    test_pump_for(f->context, 30);
    fake_client_send(sol,
                     "\xf3"
                     "c\xff"
                     "d",
                     4);
    g_assert_true(qemu_wait_for(f, fq, "d"));
    got = fake_qemu_received(fq);
    g_assert_cmpuint(got->len, ==, 5);
    g_assert_cmpmem(got->str, got->len,
                    "abc\xff"
                    "d",
                    5);
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->breaks, ==, 2);
    fake_qemu_free(fq, TRUE);
}

/* A blocked stdout mirror drops, it does not block. */
static void
test_blocked_mirror(Fixture *f, gconstpointer data)
{
    int mirror[2];
    char chunk[65536];
    FakeQemu *fq;

    memset(chunk, 'm', sizeof(chunk));
    g_assert_true(g_unix_open_pipe(mirror, FD_CLOEXEC, NULL));
    g_assert_true(g_unix_set_fd_nonblocking(mirror[1], TRUE, NULL));
    f->opts.mirror_fd = mirror[1];
    bridge_start(f);
    fq = qemu_up(f);
    for (int i = 0; i < 32; i++) {
        g_assert_true(fake_qemu_send(fq, chunk, sizeof(chunk), 1000));
    }
    test_pump_for(f->context, 50);
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->mirror_dropped, >, 0);
    g_assert_cmpuint(sol_bridge_get_stats(f->bridge)->from_serial, ==,
                     32 * sizeof(chunk));
    fake_qemu_free(fq, TRUE);
    close(mirror[0]);
    close(mirror[1]);
}

/* Before exit, what QEMU already wrote is taken into the log. */
static void
test_flush_takes_pending_output(Fixture *f, gconstpointer data)
{
    g_autofree char *text = NULL;
    FakeQemu *fq;

    bridge_start(f);
    fq = qemu_up(f);
    /* Sent, but the bridge's loop does not run before the flush. */
    g_assert_true(fake_qemu_send(fq, "last words\r\n", 12, WAIT_MS));
    sol_bridge_flush(f->bridge);
    text = log_text(f, NULL);
    g_assert_cmpstr(text, ==, "last words\r\n");
    fake_qemu_free(fq, TRUE);
}

static void
test_setup_errors(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_autofree char *longpath = g_strnfill(200, 'x');
    SolBridgeOptions opts = f->opts;
    SolBridge *b;

    opts.ops_path = longpath;
    b = sol_bridge_new(&opts, f->context, &e1);
    g_assert_null(b);
    g_assert_error(e1, SOL_BRIDGE_ERROR, SOL_BRIDGE_ERROR_SETUP);
    g_assert_nonnull(strstr(e1->message, "too long"));

    /* Something that is not a socket where the operator socket goes. */
    g_assert_true(g_file_set_contents(f->ops_path, "x", -1, NULL));
    opts.ops_path = f->ops_path;
    b = sol_bridge_new(&opts, f->context, &e2);
    g_assert_null(b);
    g_assert_error(e2, SOL_BRIDGE_ERROR, SOL_BRIDGE_ERROR_SETUP);
    g_assert_nonnull(strstr(e2->message, "not a socket"));
    g_assert_cmpint(g_unlink(f->ops_path), ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, func)                                                        \
    g_test_add("/sol-bridge/" name, Fixture, NULL, fixture_set_up, func,       \
               fixture_tear_down)
    ADD("fanout-and-input", test_fanout_and_input);
    ADD("boot-before-client", test_boot_before_client);
    ADD("reconnect-keeps-client", test_reconnect_keeps_client);
    ADD("stale-socket", test_stale_socket);
    ADD("inotify-finds-qemu", test_inotify_finds_qemu);
    ADD("input-discarded-while-down", test_input_discarded_while_down);
    ADD("byte-stream", test_byte_stream);
    ADD("sol-paced", test_sol_paced);
    ADD("stalled-client", test_stalled_client);
    ADD("stuck-sol-link-reset", test_stuck_sol_link_reset);
    ADD("guest-not-reading", test_guest_not_reading);
    ADD("new-client-replaces-old", test_new_client_replaces_old);
    ADD("break-not-forwarded", test_break_not_forwarded);
    ADD("blocked-mirror", test_blocked_mirror);
    ADD("flush-takes-pending-output", test_flush_takes_pending_output);
    ADD("setup-errors", test_setup_errors);
#undef ADD
    return g_test_run();
}
