/*
 * supervisor-client.c - asynchronous supervisord XML-RPC client on a BmcLoop.
 *
 * Each call owns one connection and walks
 * CONNECTING -> SENDING -> RECEIVING -> DONE.  Every way out (answer, fault,
 * I/O error, timeout) goes through sup_call_finish(), which drops the socket,
 * keeps the result and re-arms the call's timer for 0 ms; the timer then
 * delivers the result.  So a call completes exactly once, and never inside
 * the supervisor_client_*() call that started it or inside an I/O callback.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "compat.h"
#include "supervisor-client.h"
#include "xmlrpc.h"

G_DEFINE_QUARK(qemu_bmc_sup_error, sup_error)

#define SUP_DEFAULT_TIMEOUT_MS 2000

typedef enum {
    SUP_METHOD_GET_PROCESS_INFO,
    SUP_METHOD_START_PROCESS,
    SUP_METHOD_STOP_PROCESS,
} SupMethod;

static const char *const sup_method_names[] = {
    [SUP_METHOD_GET_PROCESS_INFO] = "supervisor.getProcessInfo",
    [SUP_METHOD_START_PROCESS] = "supervisor.startProcess",
    [SUP_METHOD_STOP_PROCESS] = "supervisor.stopProcess",
};

typedef enum {
    SUP_CALL_CONNECTING, /* non-blocking connect under way */
    SUP_CALL_SENDING,    /* request partly written */
    SUP_CALL_RECEIVING,  /* reading the answer until EOF */
    SUP_CALL_DONE,       /* result kept; the 0 ms timer delivers it */
} SupCallState;

typedef struct {
    SupervisorClient *client;
    SupMethod method;
    char *what; /* "supervisor.startProcess(qemu)", for messages */
    SupCallState state;
    SupReplyFunc func;
    gpointer data;

    int fd;
    BmcWatch *watch;
    BmcTimer *timer; /* the call's timeout, then its deferred completion */
    char *request;
    gsize request_len;
    gsize request_sent;
    GByteArray *response;

    SupReply reply;
    GError *error;
} SupCall;

struct SupervisorClient {
    BmcLoop *loop;
    char *socket_path;
    guint timeout_ms;
    GQueue calls; /* SupCall*, every call not yet delivered */
    gboolean freeing;
};

static void sup_call_timer_cb(gpointer data);
static void sup_call_io_cb(int fd, BmcIoCondition cond, gpointer data);

/* Release everything but the SupCall itself, which completion still needs. */
static void
sup_call_release_io(SupCall *call)
{
    BmcLoop *loop = call->client->loop;

    bmc_watch_free(loop, call->watch);
    call->watch = NULL;
    /* After the watch: the loop must never poll a closed fd. */
    bmc_close_fd(&call->fd);
    g_clear_pointer(&call->request, g_free);
    if (call->response) {
        g_byte_array_unref(g_steal_pointer(&call->response));
    }
}

static void
sup_call_free(SupCall *call)
{
    sup_call_release_io(call);
    bmc_timer_free(call->client->loop, call->timer);
    g_clear_error(&call->error);
    g_free(call->what);
    g_free(call);
}

/* The single exit of a call: keep @error (owned; NULL on success) and
 * deliver from the loop.  Calls already DONE are left alone. */
static void
sup_call_finish(SupCall *call, GError *error)
{
    if (call->state == SUP_CALL_DONE) {
        g_clear_error(&error);
        return;
    }
    call->state = SUP_CALL_DONE;
    call->error = error;
    sup_call_release_io(call);
    bmc_timer_start(call->client->loop, call->timer, 0);
}

G_GNUC_PRINTF(3, 4)
static void
sup_call_fail(SupCall *call, SupError code, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    sup_call_finish(call,
                    g_error_new(SUP_ERROR, code, "%s: %s", call->what, msg));
}

static SupProcState
sup_proc_state_from_code(gint64 code)
{
    switch (code) {
    case SUP_PROC_STOPPED:
    case SUP_PROC_STARTING:
    case SUP_PROC_RUNNING:
    case SUP_PROC_BACKOFF:
    case SUP_PROC_STOPPING:
    case SUP_PROC_EXITED:
    case SUP_PROC_FATAL:
        return (SupProcState)code;
    default:
        return SUP_PROC_UNKNOWN;
    }
}

static gboolean
sup_fill_process_info(SupReply *reply, const XmlRpcValue *info, GError **error)
{
    gint64 state, pid, exitstatus;

    if (!xmlrpc_value_lookup_int(info, "state", &state, error) ||
        !xmlrpc_value_lookup_int(info, "pid", &pid, error) ||
        !xmlrpc_value_lookup_int(info, "exitstatus", &exitstatus, error) ||
        !xmlrpc_value_lookup_int(info, "start", &reply->start, error) ||
        !xmlrpc_value_lookup_int(info, "stop", &reply->stop, error)) {
        return FALSE;
    }
    if (pid < 0 || pid > G_MAXINT || exitstatus < G_MININT ||
        exitstatus > G_MAXINT) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "pid or exitstatus out of range");
        return FALSE;
    }
    reply->state = sup_proc_state_from_code(state);
    reply->pid = (int)pid;
    reply->exitstatus = (int)exitstatus;
    return TRUE;
}

/* The peer closed: the response is complete. */
static void
sup_call_parse(SupCall *call)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlRpcValue) value = NULL;
    const char *body;
    gsize body_len;
    gboolean ok;

    if (!xmlrpc_parse_http_response((const char *)call->response->data,
                                    call->response->len, &body, &body_len,
                                    &error) ||
        !(value = xmlrpc_parse_response(body, body_len, &error))) {
        if (error->domain == XMLRPC_FAULT) {
            call->reply.fault_code = error->code;
            sup_call_fail(call, SUP_ERROR_FAULT, "fault %d: %s", error->code,
                          error->message);
        } else {
            sup_call_fail(call, SUP_ERROR_PROTOCOL, "%s", error->message);
        }
        return;
    }

    if (call->method == SUP_METHOD_GET_PROCESS_INFO) {
        if (!sup_fill_process_info(&call->reply, value, &error)) {
            sup_call_fail(call, SUP_ERROR_PROTOCOL, "%s", error->message);
            return;
        }
    } else if (!xmlrpc_value_get_boolean(value, &ok) || !ok) {
        /* With wait=false supervisord answers true or a fault; anything
         * else means we do not know what happened. */
        sup_call_fail(call, SUP_ERROR_PROTOCOL, "expected boolean true");
        return;
    }
    sup_call_finish(call, NULL);
}

/* Write what the socket takes; switch to reading once all is sent. */
static void
sup_call_send(SupCall *call)
{
    BmcLoop *loop = call->client->loop;

    while (call->request_sent < call->request_len) {
        ssize_t n = send(call->fd, call->request + call->request_sent,
                         call->request_len - call->request_sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                bmc_watch_set(loop, call->watch, BMC_IO_IN | BMC_IO_OUT);
                return;
            }
            sup_call_fail(call, SUP_ERROR_PROTOCOL, "send: %s",
                          bmc_strerror(errno));
            return;
        }
        call->request_sent += n;
    }
    call->state = SUP_CALL_RECEIVING;
    bmc_watch_set(loop, call->watch, BMC_IO_IN);
}

static void
sup_call_receive(SupCall *call)
{
    for (;;) {
        guint8 buf[4096];
        ssize_t n = read(call->fd, buf, sizeof(buf));

        if (n > 0) {
            g_byte_array_append(call->response, buf, n);
            if (call->response->len > XMLRPC_MAX_RESPONSE) {
                sup_call_fail(call, SUP_ERROR_PROTOCOL,
                              "response larger than %d bytes",
                              XMLRPC_MAX_RESPONSE);
                return;
            }
        } else if (n == 0) {
            sup_call_parse(call);
            return;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return;
        } else {
            sup_call_fail(call, SUP_ERROR_PROTOCOL, "read: %s",
                          bmc_strerror(errno));
            return;
        }
    }
}

static void
sup_call_io_cb(int fd, BmcIoCondition cond, gpointer data)
{
    SupCall *call = data;

    if (call->state == SUP_CALL_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            err = errno;
        }
        if (err) {
            sup_call_fail(call, SUP_ERROR_CONNECT, "connect to %s: %s",
                          call->client->socket_path, bmc_strerror(err));
            return;
        }
        call->state = SUP_CALL_SENDING;
        cond |= BMC_IO_OUT;
    }
    if (call->state == SUP_CALL_SENDING && (cond & BMC_IO_OUT)) {
        sup_call_send(call);
    }
    /* Read while still sending too: a peer that answers early and closes
     * must not leave us waiting for writability until the timeout. */
    if ((call->state == SUP_CALL_SENDING ||
         call->state == SUP_CALL_RECEIVING) &&
        (cond & BMC_IO_IN)) {
        sup_call_receive(call);
    }
}

static void
sup_call_connect(SupCall *call)
{
    SupervisorClient *client = call->client;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    bmc_autofd int fd = -1;

    if (strlen(client->socket_path) >= sizeof(addr.sun_path)) {
        sup_call_fail(call, SUP_ERROR_CONNECT, "socket path too long: %s",
                      client->socket_path);
        return;
    }
    strcpy(addr.sun_path, client->socket_path);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sup_call_fail(call, SUP_ERROR_CONNECT, "socket: %s",
                      bmc_strerror(errno));
        return;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
        call->state = SUP_CALL_SENDING;
    } else if (errno == EINPROGRESS) {
        call->state = SUP_CALL_CONNECTING;
    } else {
        /* This includes EAGAIN: on Linux an AF_UNIX connect refused for a
         * full listen queue does not go on in the background, and poll()
         * reports such a socket writable at once, so waiting for
         * writability would spin.  supervisord listens with a backlog of
         * 1024, so a full queue means it is not accepting at all. */
        sup_call_fail(call, SUP_ERROR_CONNECT, "connect to %s: %s",
                      client->socket_path, bmc_strerror(errno));
        return;
    }

    call->fd = bmc_steal_fd(&fd);
    call->watch = bmc_watch_add(client->loop, call->fd, sup_call_io_cb, call);
    /* Connected or not, the next thing to wait for is writability. */
    bmc_watch_set(client->loop, call->watch, BMC_IO_OUT);
}

static void
sup_call_timer_cb(gpointer data)
{
    SupCall *call = data;
    SupervisorClient *client = call->client;
    SupReplyFunc func = call->func;
    gpointer func_data = call->data;
    g_autoptr(GError) error = NULL;
    SupReply reply;

    if (call->state != SUP_CALL_DONE) {
        sup_call_fail(call, SUP_ERROR_TIMEOUT, "no answer from %s in %u ms",
                      client->socket_path, client->timeout_ms);
        return;
    }

    /* Free the call before the callback, which may free the client. */
    g_queue_remove(&client->calls, call);
    reply = call->reply;
    error = g_steal_pointer(&call->error);
    sup_call_free(call);

    if (!func) {
        return;
    }
    if (!error || g_error_matches(error, SUP_ERROR, SUP_ERROR_FAULT)) {
        func(client, &reply, error, func_data);
    } else {
        func(client, NULL, error, func_data);
    }
}

static void
sup_call_start(SupervisorClient *client, SupMethod method, const char *name,
               SupReplyFunc func, gpointer data)
{
    SupCall *call = g_new0(SupCall, 1);
    XmlRpcParam params[] = {
        XMLRPC_PARAM_STR(name),
        XMLRPC_PARAM_BOOL(FALSE), /* wait: answer once queued */
    };
    gsize n_params = method == SUP_METHOD_GET_PROCESS_INFO ? 1 : 2;
    g_autofree char *body =
        xmlrpc_build_call(sup_method_names[method], params, n_params);

    call->client = client;
    call->method = method;
    call->what = g_strdup_printf("%s(%s)", sup_method_names[method], name);
    call->func = func;
    call->data = data;
    call->fd = -1;
    call->request = xmlrpc_build_http_request(body);
    call->request_len = strlen(call->request);
    call->response = g_byte_array_new();
    call->timer = bmc_timer_new(client->loop, sup_call_timer_cb, call);
    g_queue_push_tail(&client->calls, call);

    if (client->freeing) {
        /* Started from a cancellation callback: supervisor_client_free()
         * cancels it too, so do not open a socket. */
        return;
    }
    bmc_timer_start(client->loop, call->timer, client->timeout_ms);
    sup_call_connect(call);
}

SupervisorClient *
supervisor_client_new(BmcLoop *loop, const char *socket_path, guint timeout_ms)
{
    SupervisorClient *client = g_new0(SupervisorClient, 1);

    client->loop = loop;
    client->socket_path = g_strdup(socket_path);
    client->timeout_ms = timeout_ms ? timeout_ms : SUP_DEFAULT_TIMEOUT_MS;
    g_queue_init(&client->calls);
    return client;
}

void
supervisor_client_free(SupervisorClient *client)
{
    SupCall *call;

    if (!client) {
        return;
    }
    g_return_if_fail(!client->freeing);
    client->freeing = TRUE;

    /* Popping one at a time also catches calls started by the callbacks. */
    while ((call = g_queue_pop_head(&client->calls))) {
        SupReplyFunc func = call->func;
        gpointer data = call->data;
        g_autoptr(GError) error = g_error_new(SUP_ERROR, SUP_ERROR_CANCELLED,
                                              "%s: cancelled", call->what);

        sup_call_free(call);
        if (func) {
            func(client, NULL, error, data);
        }
    }
    g_free(client->socket_path);
    g_free(client);
}

void
supervisor_client_get_process_info(SupervisorClient *client, const char *name,
                                   SupReplyFunc func, gpointer data)
{
    sup_call_start(client, SUP_METHOD_GET_PROCESS_INFO, name, func, data);
}

void
supervisor_client_start_process(SupervisorClient *client, const char *name,
                                SupReplyFunc func, gpointer data)
{
    sup_call_start(client, SUP_METHOD_START_PROCESS, name, func, data);
}

void
supervisor_client_stop_process(SupervisorClient *client, const char *name,
                               SupReplyFunc func, gpointer data)
{
    sup_call_start(client, SUP_METHOD_STOP_PROCESS, name, func, data);
}
