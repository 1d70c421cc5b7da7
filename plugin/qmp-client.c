/*
 * qmp-client.c - asynchronous QMP client on a BmcLoop.
 *
 * Everything runs from loop callbacks: qmp_client_connect_now() and
 * qmp_client_execute() only queue work, so no callback ever runs inside
 * them.  User callbacks may call back into the client, including
 * qmp_client_free(); "busy" counts the loop callbacks on the stack so the
 * memory outlives them.
 */
#include "config.h"

#ifndef G_LOG_DOMAIN
#define G_LOG_DOMAIN "qemu-bmc"
#endif

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "compat.h"
#include "qmp-client.h"
#include "qmp-proto.h"

/* One read per wakeup keeps a chatty QEMU from starving the other fds of
 * ipmi_sim's loop; replies we care about fit in one read anyway. */
#define QMP_READ_CHUNK 16384

G_DEFINE_QUARK(qemu_bmc_qmp_error, qmp_error)

typedef struct {
    QmpClient *client;
    guint64 id;
    char *command;
    QmpReplyFunc func;
    gpointer data;
    BmcTimer *timer; /* command timeout, while in the pending table */
    GError *error;   /* why it failed, while on the deferred queue */
} QmpPending;

struct QmpClient {
    BmcLoop *loop;
    char *socket_path;
    QmpClientOptions opts;
    QmpClientCallbacks callbacks;
    gpointer user_data;

    QmpState state;
    int fd;
    BmcWatch *watch;
    QmpLineBuffer *in;
    GByteArray *out; /* queued output: write interest only while non-empty */
    guint64 caps_id; /* our qmp_capabilities, while NEGOTIATING */

    BmcTimer *handshake_timer; /* connect + greeting + negotiation */
    BmcTimer *reconnect_timer;
    BmcTimer *deferred_timer; /* 0 ms: runs the deferred queue */
    guint backoff_ms;         /* delay before the next reconnect */
    GError *last_error;       /* why the link is (or last went) down */

    guint64 next_id;
    GHashTable *pending; /* &id -> QmpPending*: sent, not yet answered */
    GQueue deferred;     /* QmpPending*: failed, callback not yet run */

    guint busy;     /* loop callbacks of ours on the stack */
    gboolean dying; /* freed while busy: destroyed when busy drops to 0 */
};

const char *
qmp_state_name(QmpState state)
{
    switch (state) {
    case QMP_STATE_DISCONNECTED:
        return "disconnected";
    case QMP_STATE_CONNECTING:
        return "connecting";
    case QMP_STATE_GREETING:
        return "greeting";
    case QMP_STATE_NEGOTIATING:
        return "negotiating";
    case QMP_STATE_READY:
        return "ready";
    }
    return "unknown";
}

/* ---- Pending commands ------------------------------------------------- */

static void
pending_free(QmpPending *p)
{
    bmc_timer_free(p->client->loop, p->timer);
    g_clear_error(&p->error);
    g_free(p->command);
    g_free(p);
}

/* Run the callback (if any) and free @p; the caller has removed @p from
 * the pending table or the deferred queue. */
static void
pending_complete(QmpPending *p, JsonNode *ret, const GError *error)
{
    if (p->func) {
        p->func(p->client, ret, error, p->data);
    }
    pending_free(p);
}

static gint
pending_compare_id(gconstpointer a, gconstpointer b)
{
    const QmpPending *pa = a;
    const QmpPending *pb = b;

    return pa->id < pb->id ? -1 : pa->id > pb->id;
}

/* Empty the pending table, oldest command first; timeouts are stopped. */
static GList *
pending_steal_all(QmpClient *c)
{
    GList *list = g_hash_table_get_values(c->pending);

    g_hash_table_steal_all(c->pending);
    for (GList *l = list; l; l = l->next) {
        QmpPending *p = l->data;

        bmc_timer_free(c->loop, p->timer);
        p->timer = NULL;
    }
    return g_list_sort(list, pending_compare_id);
}

/* Fail @p later, from the loop, so that the callback never runs inside
 * whatever call of the user's got us here. */
static void
pending_defer(QmpClient *c, QmpPending *p, GError *error)
{
    bmc_timer_free(c->loop, p->timer);
    p->timer = NULL;
    g_clear_error(&p->error);
    p->error = error;
    g_queue_push_tail(&c->deferred, p);
    bmc_timer_start(c->loop, c->deferred_timer, 0);
}

/* ---- Lifecycle helpers ------------------------------------------------ */

/* Complete every command not yet completed with QMP_ERROR_CANCELLED, now.
 * A callback may execute again; that lands on the deferred queue (we are
 * dying) and is cancelled by the next round. */
static void
cancel_all(QmpClient *c)
{
    g_autoptr(GError) cancelled =
        g_error_new(QMP_ERROR, QMP_ERROR_CANCELLED, "QMP client for %s freed",
                    c->socket_path);

    while (g_hash_table_size(c->pending) > 0 ||
           !g_queue_is_empty(&c->deferred)) {
        g_autoptr(GList) stolen = pending_steal_all(c);
        QmpPending *p;

        while ((p = g_queue_pop_head(&c->deferred))) {
            pending_complete(p, NULL, cancelled);
        }
        for (GList *l = stolen; l; l = l->next) {
            pending_complete(l->data, NULL, cancelled);
        }
    }
}

static void
client_destroy(QmpClient *c)
{
    /* Only a callback that executed after freeing leaves work here. */
    cancel_all(c);

    bmc_timer_free(c->loop, c->handshake_timer);
    bmc_timer_free(c->loop, c->reconnect_timer);
    bmc_timer_free(c->loop, c->deferred_timer);
    qmp_line_buffer_free(c->in);
    g_byte_array_unref(c->out);
    g_hash_table_unref(c->pending);
    g_clear_error(&c->last_error);
    g_free(c->socket_path);
    g_free(c);
}

/* Every loop callback brackets its work with enter/leave. */
static void
client_enter(QmpClient *c)
{
    c->busy++;
}

static void
client_leave(QmpClient *c)
{
    if (--c->busy == 0 && c->dying) {
        client_destroy(c);
    }
}

/* Runs user code: callers touch nothing after it but what is safe once
 * the client is dying (see client_leave). */
static void
set_state(QmpClient *c, QmpState state, const GError *why)
{
    if (c->state == state) {
        return;
    }
    g_debug("QMP %s: %s -> %s%s%s", c->socket_path, qmp_state_name(c->state),
            qmp_state_name(state), why ? ": " : "", why ? why->message : "");
    c->state = state;
    if (c->callbacks.state_changed && !c->dying) {
        c->callbacks.state_changed(c, state, why, c->user_data);
    }
}

static void
update_watch(QmpClient *c)
{
    BmcIoCondition cond;

    if (!c->watch) {
        return;
    }
    if (c->state == QMP_STATE_CONNECTING) {
        /* Writable means the connect finished, one way or the other. */
        cond = BMC_IO_OUT;
    } else {
        cond = BMC_IO_IN | (c->out->len > 0 ? BMC_IO_OUT : 0);
    }
    bmc_watch_set(c->loop, c->watch, cond);
}

/* Drop the socket and everything tied to it; state is the caller's. */
static void
disconnect(QmpClient *c)
{
    bmc_watch_free(c->loop, c->watch);
    c->watch = NULL;
    bmc_close_fd(&c->fd);
    qmp_line_buffer_reset(c->in);
    g_byte_array_set_size(c->out, 0);
    c->caps_id = 0;
    bmc_timer_stop(c->loop, c->handshake_timer);
}

/* The one failure path: takes @error.  Pending commands fail with it
 * (deferred), it is kept for later DISCONNECTED errors and state_changed,
 * and a reconnect is scheduled with capped exponential backoff. */
static void
client_fail(QmpClient *c, GError *error)
{
    g_autoptr(GList) stolen = pending_steal_all(c);
    guint max = c->opts.backoff_max_ms;

    disconnect(c);
    for (GList *l = stolen; l; l = l->next) {
        pending_defer(c, l->data, g_error_copy(error));
    }
    g_clear_error(&c->last_error);
    c->last_error = error;

    g_debug("QMP %s: reconnecting in %u ms", c->socket_path, c->backoff_ms);
    bmc_timer_start(c->loop, c->reconnect_timer, c->backoff_ms);
    c->backoff_ms = c->backoff_ms > max / 2 ? max : c->backoff_ms * 2;

    set_state(c, QMP_STATE_DISCONNECTED, c->last_error);
}

static void client_fail_with(QmpClient *c, QmpError code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void
client_fail_with(QmpClient *c, QmpError code, const char *fmt, ...)
{
    GError *error;
    va_list ap;

    va_start(ap, fmt);
    error = g_error_new_valist(QMP_ERROR, code, fmt, ap);
    va_end(ap);
    client_fail(c, error);
}

/* ---- Output ----------------------------------------------------------- */

static void
flush_output(QmpClient *c)
{
    while (c->out->len > 0) {
        ssize_t n =
            send(c->fd, c->out->data, c->out->len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* Write interest stays on: the loop calls us back. */
                return;
            }
            client_fail_with(c, QMP_ERROR_DISCONNECTED,
                             "error writing to QMP socket %s: %s",
                             c->socket_path, bmc_strerror(errno));
            return;
        }
        g_byte_array_remove_range(c->out, 0, n);
    }
    update_watch(c);
}

/* Sending waits for the loop to report the socket writable, so a write
 * error never surfaces inside qmp_client_execute(). */
static void
queue_line(QmpClient *c, const char *line, gsize len)
{
    g_byte_array_append(c->out, (const guint8 *)line, len);
    update_watch(c);
}

static guint64
send_command(QmpClient *c, const char *command, JsonObject *args)
{
    guint64 id = ++c->next_id;
    gsize len;
    g_autofree char *line = qmp_command_serialize(command, args, id, &len);

    queue_line(c, line, len);
    return id;
}

/* ---- Input ------------------------------------------------------------ */

static void
become_ready(QmpClient *c)
{
    bmc_timer_stop(c->loop, c->handshake_timer);
    c->caps_id = 0;
    c->backoff_ms = c->opts.backoff_initial_ms;
    g_clear_error(&c->last_error);
    set_state(c, QMP_STATE_READY, NULL);
}

static void
handle_reply(QmpClient *c, QmpMessage *msg)
{
    QmpPending *p = NULL;

    if (msg->has_id) {
        p = g_hash_table_lookup(c->pending, &msg->id);
    }
    if (!p) {
        /* Most likely the answer to a command that timed out. */
        g_debug("QMP %s: ignoring %s for unknown id", c->socket_path,
                qmp_message_kind_name(msg->kind));
        return;
    }
    g_hash_table_steal(c->pending, &msg->id);

    if (msg->kind == QMP_MESSAGE_RETURN) {
        pending_complete(p, msg->ret, NULL);
    } else {
        g_autofree char *desc = qmp_sanitize_text(msg->error_desc);
        g_autoptr(GError) error =
            g_error_new_literal(QMP_ERROR, QMP_ERROR_COMMAND, desc);

        pending_complete(p, NULL, error);
    }
}

static void
handle_negotiation_reply(QmpClient *c, QmpMessage *msg)
{
    if (!msg->has_id || msg->id != c->caps_id) {
        g_debug("QMP %s: ignoring %s for unknown id", c->socket_path,
                qmp_message_kind_name(msg->kind));
        return;
    }
    if (msg->kind == QMP_MESSAGE_ERROR) {
        client_fail_with(c, QMP_ERROR_PROTOCOL, "qmp_capabilities failed: %s",
                         msg->error_desc);
        return;
    }
    become_ready(c);
}

static void
handle_line(QmpClient *c, const char *line, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(QmpMessage) msg = NULL;
    gsize i = 0;

    /* Blank lines carry nothing; not worth dropping the link over. */
    while (i < len && g_ascii_isspace(line[i])) {
        i++;
    }
    if (i == len) {
        return;
    }

    msg = qmp_message_parse(line, len, &error);
    if (!msg) {
        client_fail_with(c, QMP_ERROR_PROTOCOL, "%s", error->message);
        return;
    }

    if (msg->kind == QMP_MESSAGE_EVENT) {
        if (c->state != QMP_STATE_READY) {
            g_debug("QMP %s: dropping event %s before ready", c->socket_path,
                    msg->event);
        } else if (c->callbacks.event) {
            c->callbacks.event(c, msg->event, msg->data, c->user_data);
        }
        return;
    }

    switch (c->state) {
    case QMP_STATE_GREETING:
        if (msg->kind != QMP_MESSAGE_GREETING) {
            client_fail_with(c, QMP_ERROR_PROTOCOL,
                             "expected the QMP greeting, got %s",
                             qmp_message_kind_name(msg->kind));
            return;
        }
        /* We ask for no capability: oob is of no use to us. */
        c->caps_id = send_command(c, "qmp_capabilities", NULL);
        set_state(c, QMP_STATE_NEGOTIATING, NULL);
        return;
    case QMP_STATE_NEGOTIATING:
    case QMP_STATE_READY:
        if (msg->kind == QMP_MESSAGE_GREETING) {
            client_fail_with(c, QMP_ERROR_PROTOCOL, "unexpected QMP greeting");
        } else if (c->state == QMP_STATE_NEGOTIATING) {
            handle_negotiation_reply(c, msg);
        } else {
            handle_reply(c, msg);
        }
        return;
    case QMP_STATE_DISCONNECTED:
    case QMP_STATE_CONNECTING:
        break;
    }
    g_assert_not_reached();
}

static void
read_input(QmpClient *c)
{
    char buf[QMP_READ_CHUNK];
    g_autoptr(GError) error = NULL;
    ssize_t n;

    n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        }
        client_fail_with(c, QMP_ERROR_DISCONNECTED,
                         "error reading QMP socket %s: %s", c->socket_path,
                         bmc_strerror(errno));
        return;
    }
    if (n == 0) {
        client_fail_with(c, QMP_ERROR_DISCONNECTED,
                         "QEMU closed the QMP connection %s", c->socket_path);
        return;
    }
    if (!qmp_line_buffer_append(c->in, buf, n, &error)) {
        client_fail_with(c, QMP_ERROR_PROTOCOL, "%s", error->message);
        return;
    }
    /* A line may drop the link or free the client: stop at once then. */
    while (c->fd >= 0 && !c->dying) {
        gsize len;
        g_autofree char *line = qmp_line_buffer_pop(c->in, &len);

        if (!line) {
            break;
        }
        handle_line(c, line, len);
    }
}

/* ---- Connection ------------------------------------------------------- */

static gboolean
fill_address(QmpClient *c, struct sockaddr_un *addr, GError **error)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(c->socket_path) >= sizeof(addr->sun_path)) {
        g_set_error(error, QMP_ERROR, QMP_ERROR_DISCONNECTED,
                    "QMP socket path too long: %s", c->socket_path);
        return FALSE;
    }
    strcpy(addr->sun_path, c->socket_path);
    return TRUE;
}

static void
enter_greeting(QmpClient *c)
{
    set_state(c, QMP_STATE_GREETING, NULL);
    update_watch(c);
}

/* Called when the socket of a connect() that did not complete at once
 * becomes writable.  connect() is asked again because for AF_UNIX the
 * first EAGAIN (listen backlog full) started nothing: a second EAGAIN
 * means "still full", and waiting for writability again would spin, so
 * that is a failure and the backoff takes over. */
static void
finish_connect(QmpClient *c)
{
    struct sockaddr_un addr;
    int err = 0;
    socklen_t errlen = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0) {
        err = errno;
    }
    if (err == 0 && fill_address(c, &addr, NULL) &&
        connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
        errno != EISCONN) {
        err = errno;
    }
    if (err != 0) {
        client_fail_with(c, QMP_ERROR_DISCONNECTED,
                         "cannot connect to QMP socket %s: %s", c->socket_path,
                         bmc_strerror(err));
        return;
    }
    enter_greeting(c);
}

static void on_io(int fd, BmcIoCondition cond, gpointer data);

static void
start_connect(QmpClient *c)
{
    struct sockaddr_un addr;
    bmc_autofd int fd = -1;
    GError *error = NULL;
    gboolean done;

    if (!fill_address(c, &addr, &error)) {
        client_fail(c, error);
        return;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        client_fail_with(c, QMP_ERROR_DISCONNECTED, "socket: %s",
                         bmc_strerror(errno));
        return;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
        done = TRUE;
    } else if (errno == EINPROGRESS || errno == EAGAIN || errno == EINTR) {
        done = FALSE;
    } else {
        /* ENOENT (QEMU not started yet), ECONNREFUSED (QEMU gone), ... */
        client_fail_with(c, QMP_ERROR_DISCONNECTED,
                         "cannot connect to QMP socket %s: %s", c->socket_path,
                         bmc_strerror(errno));
        return;
    }

    c->fd = bmc_steal_fd(&fd);
    c->watch = bmc_watch_add(c->loop, c->fd, on_io, c);
    bmc_timer_start(c->loop, c->handshake_timer, c->opts.greeting_timeout_ms);
    if (done) {
        enter_greeting(c);
    } else {
        set_state(c, QMP_STATE_CONNECTING, NULL);
        update_watch(c);
    }
}

/* ---- Loop callbacks --------------------------------------------------- */

static void
on_io(int fd, BmcIoCondition cond, gpointer data)
{
    QmpClient *c = data;

    client_enter(c);
    if (c->state == QMP_STATE_CONNECTING) {
        /* A hang-up may be reported as readable only. */
        finish_connect(c);
    } else {
        if (cond & BMC_IO_OUT) {
            flush_output(c);
        }
        if ((cond & BMC_IO_IN) && c->fd >= 0 && !c->dying) {
            read_input(c);
        }
    }
    client_leave(c);
}

static void
on_reconnect(gpointer data)
{
    QmpClient *c = data;

    client_enter(c);
    if (c->state == QMP_STATE_DISCONNECTED && !c->dying) {
        start_connect(c);
    }
    client_leave(c);
}

static void
on_handshake_timeout(gpointer data)
{
    QmpClient *c = data;
    const char *what = "negotiating QMP capabilities";

    if (c->state == QMP_STATE_CONNECTING) {
        what = "connecting to QEMU";
    } else if (c->state == QMP_STATE_GREETING) {
        what = "waiting for the QMP greeting";
    }
    client_enter(c);
    client_fail_with(c, QMP_ERROR_TIMEOUT, "timed out %s on %s after %u ms",
                     what, c->socket_path, c->opts.greeting_timeout_ms);
    client_leave(c);
}

static void
on_command_timeout(gpointer data)
{
    QmpPending *p = data;
    QmpClient *c = p->client;
    g_autoptr(GError) error = NULL;

    client_enter(c);
    g_hash_table_steal(c->pending, &p->id);
    error = g_error_new(QMP_ERROR, QMP_ERROR_TIMEOUT,
                        "no reply to QMP command %s within %u ms", p->command,
                        c->opts.command_timeout_ms);
    pending_complete(p, NULL, error);
    client_leave(c);
}

static void
on_deferred(gpointer data)
{
    QmpClient *c = data;
    /* Only what was queued before this round: a callback that executes
     * again while disconnected waits for the next one, so a retrying
     * caller cannot starve the loop. */
    guint n = g_queue_get_length(&c->deferred);

    client_enter(c);
    while (n-- > 0 && !c->dying) {
        QmpPending *p = g_queue_pop_head(&c->deferred);
        g_autoptr(GError) error = g_steal_pointer(&p->error);

        pending_complete(p, NULL, error);
    }
    client_leave(c);
}

/* ---- Public API ------------------------------------------------------- */

QmpClient *
qmp_client_new(BmcLoop *loop, const char *socket_path,
               const QmpClientOptions *opts,
               const QmpClientCallbacks *callbacks, gpointer user_data)
{
    QmpClient *c;

    g_return_val_if_fail(loop && socket_path, NULL);

    c = g_new0(QmpClient, 1);
    c->loop = loop;
    c->socket_path = g_strdup(socket_path);
    if (opts) {
        c->opts = *opts;
    }
    /* Zero means "default", so callers can set only what they care about. */
    if (!c->opts.command_timeout_ms) {
        c->opts.command_timeout_ms = 5000;
    }
    if (!c->opts.greeting_timeout_ms) {
        c->opts.greeting_timeout_ms = 3000;
    }
    if (!c->opts.backoff_initial_ms) {
        c->opts.backoff_initial_ms = 50;
    }
    if (!c->opts.backoff_max_ms) {
        c->opts.backoff_max_ms = 1000;
    }
    c->opts.backoff_max_ms =
        MAX(c->opts.backoff_max_ms, c->opts.backoff_initial_ms);
    if (!c->opts.max_line) {
        c->opts.max_line = 1024 * 1024;
    }
    if (callbacks) {
        c->callbacks = *callbacks;
    }
    c->user_data = user_data;

    c->state = QMP_STATE_DISCONNECTED;
    c->fd = -1;
    c->in = qmp_line_buffer_new(c->opts.max_line);
    c->out = g_byte_array_new();
    c->handshake_timer = bmc_timer_new(loop, on_handshake_timeout, c);
    c->reconnect_timer = bmc_timer_new(loop, on_reconnect, c);
    c->deferred_timer = bmc_timer_new(loop, on_deferred, c);
    c->backoff_ms = c->opts.backoff_initial_ms;
    c->pending = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_queue_init(&c->deferred);
    return c;
}

void
qmp_client_free(QmpClient *c)
{
    if (!c || c->dying) {
        return;
    }
    c->dying = TRUE;
    disconnect(c);
    bmc_timer_stop(c->loop, c->reconnect_timer);
    bmc_timer_stop(c->loop, c->deferred_timer);
    cancel_all(c);
    if (c->busy == 0) {
        client_destroy(c);
    }
}

void
qmp_client_connect_now(QmpClient *c)
{
    g_return_if_fail(c);

    c->backoff_ms = c->opts.backoff_initial_ms;
    /* From the loop rather than right here: a failure or state change
     * must not call back into our caller. */
    if (c->state == QMP_STATE_DISCONNECTED && !c->dying) {
        bmc_timer_start(c->loop, c->reconnect_timer, 0);
    }
}

QmpState
qmp_client_get_state(QmpClient *c)
{
    return c->state;
}

guint64
qmp_client_execute(QmpClient *c, const char *command, JsonObject *args,
                   QmpReplyFunc func, gpointer data)
{
    QmpPending *p;

    g_return_val_if_fail(c && command && *command, 0);

    p = g_new0(QmpPending, 1);
    p->client = c;
    p->command = g_strdup(command);
    p->func = func;
    p->data = data;

    if (c->state != QMP_STATE_READY || c->dying) {
        GError *error;

        p->id = ++c->next_id;
        if (c->last_error) {
            error =
                g_error_new(QMP_ERROR, QMP_ERROR_DISCONNECTED,
                            "QMP not connected: %s", c->last_error->message);
        } else {
            error =
                g_error_new(QMP_ERROR, QMP_ERROR_DISCONNECTED,
                            "QMP not connected (%s)", qmp_state_name(c->state));
        }
        pending_defer(c, p, error);
        return p->id;
    }

    p->id = send_command(c, command, args);
    p->timer = bmc_timer_new(c->loop, on_command_timeout, p);
    bmc_timer_start(c->loop, p->timer, c->opts.command_timeout_ms);
    g_hash_table_insert(c->pending, &p->id, p);
    return p->id;
}
