/*
 * sol-bridge.c - QEMU's serial console to the console log, ipmi_sim's SOL
 * and an operator socket, surviving QEMU restarts (see sol-bridge.h).
 *
 * All file descriptors live in one GSource (g_source_add_unix_fd), whose
 * ready time is the earliest of its deadlines (reconnect, drop report,
 * stall check, SOL pacing), so the order in which
 * things happen inside one wakeup is fixed: QEMU's output first, then the
 * clients, then new connections, then what is due.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "byte-queue.h"
#include "compat.h"
#include "sol-bridge.h"

G_DEFINE_QUARK(qemu_bmc_sol_bridge_error, sol_bridge_error)

/* One read of QEMU's output; a few of them per wakeup at most, so that a
 * flooding guest cannot starve the clients. */
#define SERIAL_READ_SIZE 65536
#define SERIAL_READS_MAX 4
#define CLIENT_READ_SIZE 4096
#define MIRROR_QUEUE     65536
#define SOL_SNDBUF       (64 * 1024)
/* SOL pacing, see pace_allowance(). */
#define PACE_BURST 8192
#define PACE_CHUNK 1024
/* How often to look whether ipmi_sim still takes SOL output. */
#define STALL_CHECK_US (1 * G_USEC_PER_SEC)
/* After inotify saw the socket appear, QEMU may not be listening yet
 * (bind comes before listen): retry quickly a few times. */
#define FAST_RETRY_MS 1
#define FAST_RETRIES  200
/* Drop reports: the first one a second after the drop, then at most one
 * line every 10 s while a flood lasts. */
#define REPORT_DELAY_US    (1 * G_USEC_PER_SEC)
#define REPORT_INTERVAL_US (10 * G_USEC_PER_SEC)
/* What the bridge reads from QEMU before exit, at most. */
#define FLUSH_MAX (4 * 1024 * 1024)

/* ipmi_sim 2.0.33 in `tcp:` mode sends a SOL break as telnet IAC BRK even
 * though nothing else on the link is telnet. */
#define TELNET_IAC 0xff
#define TELNET_BRK 0xf3

typedef enum {
    CLIENT_SOL,
    CLIENT_OPS,
    N_CLIENTS,
} ClientKind;

typedef struct {
    const char *name;
    int listen_fd;
    gpointer listen_tag;
    int fd;
    gpointer tag;
    ByteQueue *out;
    guint64 *dropped; /* the stats counter for this kind */
    gboolean iac;     /* SOL: the last byte read was an IAC */
    /* SOL: is ipmi_sim still taking output?  Bytes handed to the kernel,
     * bytes its peer had taken at the last check, since when it took none
     * (-1: nothing waits), and when to check next (-1: not armed). */
    guint64 sent;
    guint64 taken;
    gint64 stalled_since;
    gint64 check_at;
    GIOCondition events; /* what the loop watches fd for */
} Client;

typedef struct {
    GSource source;
    SolBridge *bridge;
} BridgeSource;

struct SolBridge {
    GMainContext *context;
    GSource *source;

    char *serial_path;
    char *serial_dir;
    char *serial_base;
    int serial_fd;
    gpointer serial_tag;
    GIOCondition serial_events;
    ByteQueue *to_serial;
    gint64 retry_at; /* monotonic µs, -1: no retry pending */
    guint retry_ms;
    gboolean retry_ms_set; /* by the options, not the default */
    guint fast_retries;
    int inotify_fd;
    gpointer inotify_tag;

    Client clients[N_CLIENTS];
    char *ops_path;

    ConsoleLog *log;
    gboolean log_failing; /* reported once per failure streak */

    int mirror_fd;
    gpointer mirror_tag;
    GIOCondition mirror_events;
    ByteQueue *mirror_out;

    gint64 sol_stall_us; /* reset a SOL link that takes nothing this long */
    double sol_rate;     /* bytes a second to ipmi_sim, 0: unpaced */
    double tokens;       /* bytes that may go now */
    gint64 tokens_at;
    gint64 pace_at; /* send more then; -1: not waiting for tokens */

    SolBridgeStats stats;
    SolBridgeStats reported; /* drop counters as of the last report */
    gint64 report_at;        /* -1: nothing to report */
    gint64 last_report;

    guint8 *buf; /* SERIAL_READ_SIZE */
};

static void update_ready_time(SolBridge *b);
static void serial_try_connect(SolBridge *b);

/* ---- Small helpers ------------------------------------------------------ */

static gboolean
would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

static gboolean
fill_sockaddr_un(struct sockaddr_un *addr, const char *path, GError **error)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr->sun_path)) {
        g_set_error(error, SOL_BRIDGE_ERROR, SOL_BRIDGE_ERROR_SETUP,
                    "%s: socket path too long (at most %zu bytes)", path,
                    sizeof(addr->sun_path) - 1);
        return FALSE;
    }
    strcpy(addr->sun_path, path);
    return TRUE;
}

/* Change what the loop watches @tag for, if it changes: every call of
 * g_source_modify_unix_fd() wakes the loop up once more, which at one call
 * per write cost more than the writes. */
static void
watch_fd(SolBridge *b, gpointer tag, GIOCondition *current, GIOCondition want)
{
    if (*current != want) {
        g_source_modify_unix_fd(b->source, tag, want);
        *current = want;
    }
}

static void
set_interest(SolBridge *b, Client *c, gboolean want_out)
{
    watch_fd(b, c->tag, &c->events, G_IO_IN | (want_out ? G_IO_OUT : 0));
}

/* Queue the first drop report, or keep the one that is queued. */
static void
note_drop(SolBridge *b)
{
    if (b->report_at < 0) {
        gint64 now = g_get_monotonic_time();
        b->report_at =
            MAX(now + REPORT_DELAY_US, b->last_report + REPORT_INTERVAL_US);
        update_ready_time(b);
    }
}

static void
report_drops(SolBridge *b)
{
    const SolBridgeStats *s = &b->stats;
    SolBridgeStats *r = &b->reported;
    static const struct {
        gsize offset;
        const char *what;
    } kinds[] = {
        {G_STRUCT_OFFSET(SolBridgeStats, sol_dropped),
         "bytes of console output dropped for a slow SOL client"},
        {G_STRUCT_OFFSET(SolBridgeStats, ops_dropped),
         "bytes of console output dropped for a slow operator client"},
        {G_STRUCT_OFFSET(SolBridgeStats, mirror_dropped),
         "bytes of console output dropped for a blocked stdout"},
        {G_STRUCT_OFFSET(SolBridgeStats, log_lost),
         "bytes of console output the log could not take"},
        {G_STRUCT_OFFSET(SolBridgeStats, input_dropped),
         "bytes of input dropped: the guest is not reading its serial port"},
        {G_STRUCT_OFFSET(SolBridgeStats, input_discarded),
         "bytes of input discarded: typed while QEMU was not there"},
        {G_STRUCT_OFFSET(SolBridgeStats, breaks),
         "serial breaks from SOL not forwarded"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++) {
        guint64 now = G_STRUCT_MEMBER(guint64, s, kinds[i].offset);
        guint64 *was = &G_STRUCT_MEMBER(guint64, r, kinds[i].offset);

        if (now != *was) {
            g_message("%" G_GUINT64_FORMAT " %s (%" G_GUINT64_FORMAT " in all)",
                      now - *was, kinds[i].what, now);
            *was = now;
        }
    }
    b->last_report = g_get_monotonic_time();
    b->report_at = -1;
}

/* The source's ready time is the earliest deadline. */
static void
update_ready_time(SolBridge *b)
{
    gint64 deadlines[] = {b->retry_at, b->report_at,
                          b->clients[CLIENT_SOL].check_at, b->pace_at};
    gint64 t = -1;

    for (gsize i = 0; i < G_N_ELEMENTS(deadlines); i++) {
        if (deadlines[i] >= 0 && (t < 0 || deadlines[i] < t)) {
            t = deadlines[i];
        }
    }
    g_source_set_ready_time(b->source, t);
}

static void
arm_retry(SolBridge *b)
{
    guint ms = b->retry_ms;

    if (b->fast_retries > 0) {
        b->fast_retries--;
        ms = FAST_RETRY_MS;
    }
    b->retry_at = g_get_monotonic_time() + (gint64)ms * 1000;
    update_ready_time(b);
}

/* Write as much of @q as @fd takes now, at most @max bytes, counting it
 * in @counter (may be NULL).  Returns the bytes written, -1 when the peer
 * is gone (errno says why). */
static gssize
flush_queue(int fd, ByteQueue *q, gboolean is_socket, guint64 *counter,
            gsize max)
{
    gsize done = 0;

    while (done < max) {
        gsize len;
        const guint8 *p = byte_queue_peek(q, &len);
        ssize_t n;

        if (len == 0) {
            break;
        }
        len = MIN(len, max - done);
        n = is_socket ? send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT)
                      : write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (would_block(errno)) {
                break;
            }
            return -1;
        }
        byte_queue_consume(q, (gsize)n);
        done += (gsize)n;
        if (counter) {
            *counter += (guint64)n;
        }
    }
    return (gssize)done;
}

/* ---- Clients: ipmi_sim over TCP, one operator over a unix socket ------- */

static void
client_close(SolBridge *b, Client *c, const char *why)
{
    if (c->fd < 0) {
        return;
    }
    g_message("%s %s", c->name, why);
    g_source_remove_unix_fd(b->source, c->tag);
    c->tag = NULL;
    close(c->fd);
    c->fd = -1;
    c->iac = FALSE;
    c->check_at = -1;
    if (c == &b->clients[CLIENT_SOL]) {
        b->pace_at = -1;
    }
    byte_queue_clear(c->out);
}

/* A SOL link that has taken none of the output waiting for it for a long
 * time: ipmi_sim is frozen, or has stopped reading (ipmi_sim 2.0.33 does
 * that for good when a SOL client stalls during heavy output, unless its
 * `sol` line has history=, which lan.conf.in sets).  Reset it: ipmi_sim
 * sees the error at its next read or write and reconnects 10 s later.
 * An abortive close, because a write to a link closed with FIN raises
 * SIGPIPE in ipmi_sim, which does not ignore it. */
static void
client_reset(SolBridge *b, Client *c)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    b->stats.sol_resets++;
    client_close(b, c,
                 "took no output for too long (ipmi_sim frozen or not "
                 "reading): link reset, ipmi_sim reconnects 10 s after it "
                 "notices");
}

/* Every so often while ipmi_sim is connected: if output waits for it (in
 * our queue or in the kernel's send queue), has its side taken any since
 * the last look?  Taken means acknowledged by its kernel, which stops once
 * ipmi_sim stops reading and its receive buffer is full. */
static void
sol_check_stall(SolBridge *b)
{
    Client *c = &b->clients[CLIENT_SOL];
    gint64 now = g_get_monotonic_time();
    int unacked = 0;
    guint64 taken;

    c->check_at = -1;
    if (c->fd < 0 || ioctl(c->fd, SIOCOUTQ, &unacked) < 0) {
        return;
    }
    taken = c->sent - (guint64)MAX(unacked, 0);
    if (unacked <= 0 && byte_queue_length(c->out) == 0) {
        c->stalled_since = -1; /* nothing waits */
    } else if (c->stalled_since < 0 || taken != c->taken) {
        c->stalled_since = now;
    } else if (now - c->stalled_since >= b->sol_stall_us) {
        client_reset(b, c);
        return;
    }
    c->taken = taken;
    c->check_at = now + MIN(b->sol_stall_us / 4, STALL_CHECK_US);
}

/* SOL output is paced (a token bucket: SOL_RATE bytes a second, bursts of
 * PACE_BURST).  With history= (lan.conf.in) ipmi_sim reads whatever comes
 * and throws away what does not fit its 16 KiB buffer, silently and the
 * newest first, so a burst faster than SOL carries it would lose its end,
 * the prompt included.  Paced below what SOL carries, ipmi_sim never
 * overflows, and when the guest writes faster still, our queue drops the
 * oldest and counts it: the client always gets the newest screen.
 * Keystroke echoes are far inside the burst and are never delayed. */
static gsize
pace_allowance(SolBridge *b, gint64 now)
{
    double elapsed = (double)(now - b->tokens_at) / G_USEC_PER_SEC;

    b->tokens = MIN((double)PACE_BURST, b->tokens + elapsed * b->sol_rate);
    b->tokens_at = now;
    return (gsize)b->tokens;
}

static void
client_flush(SolBridge *b, Client *c)
{
    gboolean paced = c == &b->clients[CLIENT_SOL] && b->sol_rate > 0;
    gint64 now = g_get_monotonic_time();
    gsize max = paced ? pace_allowance(b, now) : G_MAXSIZE;
    gssize n;
    gsize left;

    if (c->fd < 0) {
        return;
    }
    n = flush_queue(c->fd, c->out, TRUE,
                    c == &b->clients[CLIENT_SOL] ? &c->sent : NULL, max);
    if (n < 0) {
        g_autofree char *why = g_strdup_printf("lost: %s", g_strerror(errno));
        client_close(b, c, why);
        return;
    }
    left = byte_queue_length(c->out);
    if (paced) {
        b->tokens -= (double)n;
        /* Out of tokens rather than socket space: come back when there
         * are enough for a chunk. */
        if (left > 0 && (gsize)n == max) {
            double need = (double)MIN(left, PACE_CHUNK) - b->tokens;
            b->pace_at =
                now + (gint64)(MAX(need, 1.0) * G_USEC_PER_SEC / b->sol_rate);
            set_interest(b, c, FALSE);
            update_ready_time(b);
            return;
        }
        b->pace_at = -1;
    }
    set_interest(b, c, left > 0);
}

static void
client_send(SolBridge *b, Client *c, const guint8 *data, gsize len)
{
    gsize dropped;

    if (c->fd < 0) {
        return;
    }
    dropped = byte_queue_push(c->out, data, len);
    if (dropped > 0) {
        *c->dropped += dropped;
        note_drop(b);
    }
    client_flush(b, c);
}

static void
client_accept(SolBridge *b, Client *c)
{
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int one = 1;
    int sndbuf = SOL_SNDBUF;

    if (fd < 0) {
        if (!would_block(errno) && errno != ECONNABORTED) {
            g_message("%s: accept failed: %s", c->name, g_strerror(errno));
        }
        return;
    }
    client_close(b, c, "replaced by a new connection");
    if (c == &b->clients[CLIENT_SOL]) {
        /* Keystrokes and echoes are single bytes: no Nagle delay.  A fixed
         * send buffer stops the kernel from growing it to megabytes behind
         * a slow ipmi_sim: the backlog (and so the lag after a flood) is
         * our bounded queue, not an unbounded one in the kernel. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        b->stats.sol_clients++;
    } else {
        b->stats.ops_clients++;
    }
    c->fd = fd;
    c->tag = g_source_add_unix_fd(b->source, fd, G_IO_IN);
    c->events = G_IO_IN;
    c->sent = 0;
    c->taken = 0;
    c->stalled_since = -1;
    if (c == &b->clients[CLIENT_SOL]) {
        c->check_at =
            g_get_monotonic_time() + MIN(b->sol_stall_us / 4, STALL_CHECK_US);
        b->tokens = PACE_BURST;
        b->tokens_at = g_get_monotonic_time();
        update_ready_time(b);
    }
    g_message("%s connected", c->name);
}

/* Copy SOL input from @in to @out (room for @len + 1 bytes) without the
 * IAC BRK pairs; returns the length of @out.  A 0xff at the end of a read
 * waits for the next byte to tell what it is. */
static gsize
strip_breaks(SolBridge *b, Client *c, const guint8 *in, gsize len, guint8 *out)
{
    gsize j = 0;

    for (gsize i = 0; i < len; i++) {
        guint8 ch = in[i];

        if (c->iac) {
            c->iac = FALSE;
            if (ch == TELNET_BRK) {
                b->stats.breaks++;
                note_drop(b);
                continue;
            }
            out[j++] = TELNET_IAC;
        }
        if (ch == TELNET_IAC) {
            c->iac = TRUE;
            continue;
        }
        out[j++] = ch;
    }
    return j;
}

static void serial_write(SolBridge *b, const guint8 *data, gsize len);

static void
client_read(SolBridge *b, Client *c)
{
    guint8 buf[CLIENT_READ_SIZE];
    guint8 stripped[CLIENT_READ_SIZE + 1];
    ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

    if (n == 0) {
        client_close(b, c, "closed");
        return;
    }
    if (n < 0) {
        if (!would_block(errno)) {
            g_autofree char *why =
                g_strdup_printf("lost: %s", g_strerror(errno));
            client_close(b, c, why);
        }
        return;
    }
    if (c == &b->clients[CLIENT_SOL]) {
        gsize len = strip_breaks(b, c, buf, (gsize)n, stripped);
        if (len > 0) {
            serial_write(b, stripped, len);
        }
    } else {
        serial_write(b, buf, (gsize)n);
    }
}

/* ---- Console output: log, mirror, clients ------------------------------ */

static void
mirror_flush(SolBridge *b)
{
    if (b->mirror_fd < 0) {
        return;
    }
    if (flush_queue(b->mirror_fd, b->mirror_out, FALSE, NULL, G_MAXSIZE) < 0) {
        g_message("stdout: %s; no longer copying the console there",
                  g_strerror(errno));
        g_source_remove_unix_fd(b->source, b->mirror_tag);
        b->mirror_tag = NULL;
        b->mirror_fd = -1;
        return;
    }
    watch_fd(b, b->mirror_tag, &b->mirror_events,
             byte_queue_length(b->mirror_out) > 0 ? G_IO_OUT : 0);
}

static void
console_output(SolBridge *b, const guint8 *data, gsize len)
{
    b->stats.from_serial += len;
    if (b->log) {
        g_autoptr(GError) error = NULL;
        goffset before = console_log_get_size(b->log);

        if (!console_log_write(b->log, data, len, &error)) {
            /* Approximate: bytes of this chunk already in a file count
             * as kept. */
            goffset kept = console_log_get_size(b->log) - before;
            b->stats.log_lost += len - (gsize)CLAMP(kept, 0, (goffset)len);
            if (!b->log_failing) {
                g_warning("console log: %s", error->message);
                b->log_failing = TRUE;
            }
            note_drop(b);
        } else if (b->log_failing) {
            g_message("console log: writing again");
            b->log_failing = FALSE;
        }
    }
    if (b->mirror_fd >= 0) {
        gsize dropped = byte_queue_push(b->mirror_out, data, len);
        if (dropped > 0) {
            b->stats.mirror_dropped += dropped;
            note_drop(b);
        }
        mirror_flush(b);
    }
    for (int k = 0; k < N_CLIENTS; k++) {
        client_send(b, &b->clients[k], data, len);
    }
}

/* ---- QEMU's serial socket ---------------------------------------------- */

static void
serial_disconnect(SolBridge *b, const char *why)
{
    gsize unsent;

    if (b->serial_fd < 0) {
        return;
    }
    g_message("QEMU serial %s", why);
    g_source_remove_unix_fd(b->source, b->serial_tag);
    b->serial_tag = NULL;
    close(b->serial_fd);
    b->serial_fd = -1;
    /* Input not yet delivered belongs to the QEMU that is gone: never
     * replay it to the next one. */
    unsent = byte_queue_clear(b->to_serial);
    if (unsent > 0) {
        b->stats.input_discarded += unsent;
        note_drop(b);
    }
    /* Not at once: a QEMU that is shutting down hangs up before it stops
     * listening.  A new QEMU shows up through inotify anyway. */
    b->fast_retries = 0;
    arm_retry(b);
}

static void
serial_update_interest(SolBridge *b)
{
    watch_fd(b, b->serial_tag, &b->serial_events,
             G_IO_IN | (byte_queue_length(b->to_serial) > 0 ? G_IO_OUT : 0));
}

static void
serial_flush(SolBridge *b)
{
    if (b->serial_fd < 0) {
        return;
    }
    if (flush_queue(b->serial_fd, b->to_serial, TRUE, &b->stats.to_serial,
                    G_MAXSIZE) < 0) {
        g_autofree char *why = g_strdup_printf("lost: %s", g_strerror(errno));
        serial_disconnect(b, why);
        return;
    }
    serial_update_interest(b);
}

static void
serial_write(SolBridge *b, const guint8 *data, gsize len)
{
    gsize dropped;

    if (b->serial_fd < 0) {
        b->stats.input_discarded += len;
        note_drop(b);
        return;
    }
    dropped = byte_queue_push(b->to_serial, data, len);
    if (dropped > 0) {
        b->stats.input_dropped += dropped;
        note_drop(b);
    }
    serial_flush(b);
}

/* Read what QEMU has; FALSE when the link went down. */
static gboolean
serial_read(SolBridge *b, guint reads_max)
{
    for (guint i = 0; i < reads_max && b->serial_fd >= 0; i++) {
        ssize_t n = recv(b->serial_fd, b->buf, SERIAL_READ_SIZE, MSG_DONTWAIT);

        if (n == 0) {
            serial_disconnect(b, "closed (QEMU stopped or restarts)");
            return FALSE;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (!would_block(errno)) {
                g_autofree char *why =
                    g_strdup_printf("lost: %s", g_strerror(errno));
                serial_disconnect(b, why);
                return FALSE;
            }
            return TRUE;
        }
        b->stats.serial_reads++;
        console_output(b, b->buf, (gsize)n);
        if (n < SERIAL_READ_SIZE) {
            return TRUE;
        }
    }
    return TRUE;
}

static void
serial_try_connect(SolBridge *b)
{
    struct sockaddr_un addr;
    int fd;

    if (b->serial_fd >= 0) {
        return;
    }
    b->retry_at = -1;
    (void)fill_sockaddr_un(&addr, b->serial_path, NULL); /* checked in new */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_message("socket: %s", g_strerror(errno));
        arm_retry(b);
        return;
    }
    /* A unix connect never stays in progress: it is made, or refused
     * (no socket, a stale one, or QEMU's backlog is full). */
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        arm_retry(b);
        return;
    }
    b->serial_fd = fd;
    b->serial_tag = g_source_add_unix_fd(b->source, fd, G_IO_IN);
    b->serial_events = G_IO_IN;
    b->stats.serial_connects++;
    b->fast_retries = 0;
    update_ready_time(b);
    g_message("QEMU serial connected (%s)", b->serial_path);
}

static void
inotify_read(SolBridge *b)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    gboolean seen = FALSE;

    for (;;) {
        ssize_t n = read(b->inotify_fd, buf, sizeof(buf));

        if (n <= 0) {
            break;
        }
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;

            if (ev->len > 0 && strcmp(ev->name, b->serial_base) == 0) {
                seen = TRUE;
            }
            p += sizeof(*ev) + ev->len;
        }
    }
    if (seen && b->serial_fd < 0) {
        b->fast_retries = FAST_RETRIES;
        serial_try_connect(b);
    }
}

/* ---- The source -------------------------------------------------------- */

static gboolean
ready(SolBridge *b, gpointer tag, GIOCondition cond)
{
    return tag && (g_source_query_unix_fd(b->source, tag) & cond);
}

#define READABLE (G_IO_IN | G_IO_HUP | G_IO_ERR)

static gboolean
bridge_dispatch(GSource *source, GSourceFunc callback, gpointer data)
{
    SolBridge *b = ((BridgeSource *)source)->bridge;
    gint64 now = g_get_monotonic_time();

    /* QEMU first: its output must never wait. */
    if (ready(b, b->serial_tag, READABLE)) {
        serial_read(b, SERIAL_READS_MAX);
    }
    if (ready(b, b->serial_tag, G_IO_OUT)) {
        serial_flush(b);
    }
    for (int k = 0; k < N_CLIENTS; k++) {
        Client *c = &b->clients[k];

        if (ready(b, c->tag, G_IO_OUT)) {
            client_flush(b, c);
        }
        if (ready(b, c->tag, READABLE)) {
            client_read(b, c);
        }
        if (ready(b, c->listen_tag, G_IO_IN)) {
            client_accept(b, c);
        }
    }
    if (ready(b, b->mirror_tag, G_IO_OUT | G_IO_ERR | G_IO_HUP)) {
        mirror_flush(b);
    }
    if (ready(b, b->inotify_tag, G_IO_IN)) {
        inotify_read(b);
    }
    if (b->pace_at >= 0 && now >= b->pace_at) {
        b->pace_at = -1;
        client_flush(b, &b->clients[CLIENT_SOL]);
    }
    if (b->retry_at >= 0 && now >= b->retry_at) {
        serial_try_connect(b);
    }
    if (b->report_at >= 0 && now >= b->report_at) {
        report_drops(b);
    }
    if (b->clients[CLIENT_SOL].check_at >= 0 &&
        now >= b->clients[CLIENT_SOL].check_at) {
        sol_check_stall(b);
    }
    update_ready_time(b);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs bridge_source_funcs = {
    .dispatch = bridge_dispatch,
};

/* ---- Set-up ------------------------------------------------------------ */

static int
listen_unix(const char *path, GError **error)
{
    struct sockaddr_un addr;
    struct stat st;
    bmc_autofd int fd = -1;

    if (!fill_sockaddr_un(&addr, path, error)) {
        return -1;
    }
    /* A socket left by an earlier run is ours to replace; anything else
     * at that path is not. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(error, SOL_BRIDGE_ERROR, SOL_BRIDGE_ERROR_SETUP,
                        "%s exists and is not a socket", path);
            return -1;
        }
        (void)unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        chmod(path, 0600) < 0 || listen(fd, 4) < 0) {
        int err = errno;
        g_set_error(error, SOL_BRIDGE_ERROR, SOL_BRIDGE_ERROR_SETUP,
                    "cannot listen on %s: %s", path, g_strerror(err));
        return -1;
    }
    return bmc_steal_fd(&fd);
}

static void
setup_inotify(SolBridge *b)
{
    b->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (b->inotify_fd < 0) {
        g_message("inotify: %s; polling for QEMU every %u ms",
                  g_strerror(errno), b->retry_ms);
        return;
    }
    if (inotify_add_watch(b->inotify_fd, b->serial_dir,
                          IN_CREATE | IN_MOVED_TO | IN_ATTRIB) < 0) {
        g_message("inotify on %s: %s; polling for QEMU every %u ms",
                  b->serial_dir, g_strerror(errno), b->retry_ms);
        close(b->inotify_fd);
        b->inotify_fd = -1;
        return;
    }
    b->inotify_tag = g_source_add_unix_fd(b->source, b->inotify_fd, G_IO_IN);
    if (!b->retry_ms_set) {
        b->retry_ms = SOL_BRIDGE_INOTIFY_RETRY_MS;
    }
}

SolBridge *
sol_bridge_new(const SolBridgeOptions *opts, GMainContext *context,
               GError **error)
{
    g_autoptr(SolBridge) b = g_new0(SolBridge, 1);
    struct sockaddr_un addr;
    static const char *names[N_CLIENTS] = {"SOL client", "operator client"};

    b->serial_fd = -1;
    b->inotify_fd = -1;
    b->mirror_fd = -1;
    b->retry_at = -1;
    b->report_at = -1;
    b->pace_at = -1;
    b->last_report = G_MININT64 / 2;
    for (int k = 0; k < N_CLIENTS; k++) {
        b->clients[k].name = names[k];
        b->clients[k].fd = -1;
        b->clients[k].listen_fd = -1;
        b->clients[k].stalled_since = -1;
        b->clients[k].check_at = -1;
        b->clients[k].out =
            byte_queue_new(opts->client_queue ? opts->client_queue
                                              : SOL_BRIDGE_DEFAULT_CLIENT_QUEUE,
                           BYTE_QUEUE_DROP_OLDEST);
    }
    b->clients[CLIENT_SOL].dropped = &b->stats.sol_dropped;
    b->clients[CLIENT_OPS].dropped = &b->stats.ops_dropped;
    /* Own the listening socket from here on, whatever happens next. */
    b->clients[CLIENT_SOL].listen_fd = opts->sol_listen_fd;

    b->context = context ? g_main_context_ref(context)
                         : g_main_context_ref_thread_default();
    b->source = g_source_new(&bridge_source_funcs, sizeof(BridgeSource));
    ((BridgeSource *)b->source)->bridge = b;
    g_source_set_name(b->source, "sol-bridge");
    g_source_set_priority(b->source, G_PRIORITY_HIGH);
    /* Not blocked while it dispatches: blocking takes every fd out of the
     * poll set and puts it back, and each of those wakes the loop up once
     * more (an eventfd write), several times per byte of a flood.  The
     * dispatch never runs the loop itself, so it cannot recurse. */
    g_source_set_can_recurse(b->source, TRUE);

    if (!opts->serial_path ||
        !fill_sockaddr_un(&addr, opts->serial_path, error)) {
        if (!opts->serial_path) {
            g_set_error(error, SOL_BRIDGE_ERROR, SOL_BRIDGE_ERROR_SETUP,
                        "no serial socket path");
        }
        return NULL;
    }
    b->serial_path = g_strdup(opts->serial_path);
    b->serial_dir = g_path_get_dirname(opts->serial_path);
    b->serial_base = g_path_get_basename(opts->serial_path);
    b->to_serial =
        byte_queue_new(opts->serial_queue ? opts->serial_queue
                                          : SOL_BRIDGE_DEFAULT_SERIAL_QUEUE,
                       BYTE_QUEUE_DROP_NEWEST);
    b->retry_ms = opts->retry_ms ? opts->retry_ms : SOL_BRIDGE_DEFAULT_RETRY_MS;
    b->retry_ms_set = opts->retry_ms != 0;
    b->sol_rate = (double)opts->sol_rate;
    b->sol_stall_us =
        (gint64)(opts->sol_stall_ms ? opts->sol_stall_ms
                                    : SOL_BRIDGE_DEFAULT_STALL_MS) *
        1000;
    b->buf = g_malloc(SERIAL_READ_SIZE);
    b->log = opts->log;

    if (opts->ops_path) {
        int fd = listen_unix(opts->ops_path, error);
        if (fd < 0) {
            return NULL;
        }
        b->ops_path = g_strdup(opts->ops_path);
        b->clients[CLIENT_OPS].listen_fd = fd;
    }
    for (int k = 0; k < N_CLIENTS; k++) {
        Client *c = &b->clients[k];
        if (c->listen_fd >= 0) {
            if (!g_unix_set_fd_nonblocking(c->listen_fd, TRUE, error)) {
                return NULL;
            }
            c->listen_tag =
                g_source_add_unix_fd(b->source, c->listen_fd, G_IO_IN);
        }
    }
    if (opts->mirror_fd >= 0) {
        b->mirror_fd = opts->mirror_fd;
        b->mirror_out = byte_queue_new(MIRROR_QUEUE, BYTE_QUEUE_DROP_OLDEST);
        b->mirror_tag = g_source_add_unix_fd(b->source, b->mirror_fd, 0);
        b->mirror_events = 0;
    }
    setup_inotify(b);
    g_source_attach(b->source, b->context);
    serial_try_connect(b);
    return g_steal_pointer(&b);
}

void
sol_bridge_free(SolBridge *b)
{
    if (!b) {
        return;
    }
    if (b->source) {
        g_source_destroy(b->source);
        g_source_unref(b->source);
    }
    if (b->serial_fd >= 0) {
        close(b->serial_fd);
    }
    if (b->inotify_fd >= 0) {
        close(b->inotify_fd);
    }
    for (int k = 0; k < N_CLIENTS; k++) {
        Client *c = &b->clients[k];
        if (c->fd >= 0) {
            close(c->fd);
        }
        if (c->listen_fd >= 0) {
            close(c->listen_fd);
        }
        byte_queue_free(c->out);
    }
    if (b->ops_path) {
        (void)unlink(b->ops_path);
    }
    if (b->context) {
        g_main_context_unref(b->context);
    }
    byte_queue_free(b->to_serial);
    byte_queue_free(b->mirror_out);
    g_free(b->serial_path);
    g_free(b->serial_dir);
    g_free(b->serial_base);
    g_free(b->ops_path);
    g_free(b->buf);
    g_free(b);
}

void
sol_bridge_flush(SolBridge *b)
{
    guint64 start = b->stats.from_serial;
    g_autoptr(GError) error = NULL;

    while (b->serial_fd >= 0 && b->stats.from_serial - start < FLUSH_MAX) {
        guint64 before = b->stats.from_serial;

        if (!serial_read(b, 1) || b->stats.from_serial == before) {
            break;
        }
    }
    if (b->log && !console_log_sync(b->log, &error)) {
        g_message("console log: %s", error->message);
    }
    if (b->report_at >= 0) {
        report_drops(b);
    }
}

gboolean
sol_bridge_serial_connected(SolBridge *b)
{
    return b->serial_fd >= 0;
}

gboolean
sol_bridge_sol_connected(SolBridge *b)
{
    return b->clients[CLIENT_SOL].fd >= 0;
}

gboolean
sol_bridge_ops_connected(SolBridge *b)
{
    return b->clients[CLIENT_OPS].fd >= 0;
}

const SolBridgeStats *
sol_bridge_get_stats(SolBridge *b)
{
    return &b->stats;
}

gsize
sol_bridge_sol_queued(SolBridge *b)
{
    return byte_queue_length(b->clients[CLIENT_SOL].out);
}
