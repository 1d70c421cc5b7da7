/*
 * fake-qmp.c - a scripted QMP server for unit tests.
 *
 * Deliberately shares no code with plugin/qmp-proto.c: a framing or
 * serialisation bug there must not be mirrored here and go unnoticed.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "compat.h"
#include "fake-qmp.h"
#include "test-util.h"

#define FAKE_QMP_GREETING_LINE                                                 \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "         \
    "\"major\": 7}, \"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}\n"

typedef enum {
    ITEM_EXPECT,
    ITEM_EVENT,
    ITEM_RAW,
    ITEM_CLOSE,
    ITEM_WAIT_CONNECTION,
} FakeItemKind;

typedef enum {
    REPLY_RETURN,
    REPLY_ERROR,
    REPLY_NONE,
    REPLY_CLOSE,
    REPLY_PARTIAL_CLOSE, /* the first @partial bytes of the reply, then close */
} FakeReplyKind;

typedef struct {
    FakeItemKind kind;
    char *name;     /* EXPECT: command; EVENT: event name */
    JsonNode *args; /* EXPECT: NULL for any */
    FakeReplyKind reply;
    JsonNode *value; /* EXPECT: "return" value; EVENT: "data" or NULL */
    char *error_class;
    char *error_desc;
    guint delay_ms;
    gsize chunk;   /* > 0: the reply goes out @chunk bytes per @delay_ms */
    gsize partial; /* REPLY_PARTIAL_CLOSE */
    GBytes *raw;
    gboolean started; /* WAIT_CONNECTION: has reached the head */
    guint serial;     /* WAIT_CONNECTION: the connection to beat */
} FakeItem;

typedef struct {
    FakeQmp *fq;
    guint serial; /* the connection it is for */
    char *line;
    BmcTimer *timer;
} FakeDelayed;

/* A reply going out in pieces.  They go one after another, in the order
 * the commands came, as a real server's replies would. */
typedef struct {
    guint serial;
    char *line;
    gsize sent;
    gsize chunk;
    guint gap_ms;
} FakeSplit;

struct FakeQmp {
    BmcLoop *loop;
    char *path;
    int listen_fd;
    BmcWatch *listen_watch;
    FakeQmpGreeting greeting;
    gboolean auto_negotiate;

    /* The current connection. */
    int fd;
    BmcWatch *watch;
    FakeQmpGreeting conn_greeting;
    GString *in;
    GByteArray *out;
    gboolean negotiated;
    gboolean closing; /* close once the output is flushed */
    guint serial;     /* counts connections */

    GQueue script;  /* FakeItem* */
    GList *delayed; /* FakeDelayed* */
    GQueue splits;  /* FakeSplit*, the head being sent */
    BmcTimer *split_timer;
    GArray *accept_times;
    guint commands;
};

/* Fails the running test with "fake-qmp: ..." (see test-util.h). */
#define fake_fail(...) test_fail_printf("fake-qmp", __VA_ARGS__)

static void
item_free(FakeItem *item)
{
    g_free(item->name);
    g_clear_pointer(&item->args, json_node_unref);
    g_clear_pointer(&item->value, json_node_unref);
    g_free(item->error_class);
    g_free(item->error_desc);
    g_clear_pointer(&item->raw, g_bytes_unref);
    g_free(item);
}

static char *
item_describe(FakeItem *item)
{
    switch (item->kind) {
    case ITEM_EXPECT:
        return g_strdup_printf("expect command %s", item->name);
    case ITEM_EVENT:
        return g_strdup_printf("send event %s", item->name);
    case ITEM_RAW:
        return g_strdup_printf("send %" G_GSIZE_FORMAT " raw bytes",
                               g_bytes_get_size(item->raw));
    case ITEM_CLOSE:
        return g_strdup("close the connection");
    case ITEM_WAIT_CONNECTION:
        return g_strdup("wait for a new connection");
    }
    return g_strdup("?");
}

/* Test scripts are code: bad JSON in them is a bug in the test. */
static JsonNode *
parse_json(const char *json)
{
    g_autoptr(GError) error = NULL;
    JsonNode *node = json_from_string(json, &error);

    g_assert_no_error(error);
    g_assert_nonnull(node);
    return node;
}

static char *
node_to_line(JsonNode *node)
{
    g_autofree char *text = json_to_string(node, FALSE);

    return g_strconcat(text, "\n", NULL);
}

/* ---- Connection ------------------------------------------------------- */

static gboolean
conn_ready(FakeQmp *fq)
{
    if (fq->fd < 0 || fq->closing) {
        return FALSE;
    }
    return fq->conn_greeting != FAKE_QMP_GREETING_NORMAL ||
           !fq->auto_negotiate || fq->negotiated;
}

static void
conn_close(FakeQmp *fq)
{
    bmc_watch_free(fq->loop, fq->watch);
    fq->watch = NULL;
    bmc_close_fd(&fq->fd);
    g_string_truncate(fq->in, 0);
    g_byte_array_set_size(fq->out, 0);
    fq->negotiated = FALSE;
    fq->closing = FALSE;
}

static void
conn_update_watch(FakeQmp *fq)
{
    BmcIoCondition cond = fq->closing ? 0 : BMC_IO_IN;

    if (fq->out->len > 0) {
        cond |= BMC_IO_OUT;
    }
    bmc_watch_set(fq->loop, fq->watch, cond);
}

static void
conn_flush(FakeQmp *fq)
{
    while (fq->out->len > 0) {
        ssize_t n = send(fq->fd, fq->out->data, fq->out->len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn_update_watch(fq);
                return;
            }
            /* The client hung up on us, e.g. after an oversized line. */
            conn_close(fq);
            return;
        }
        g_byte_array_remove_range(fq->out, 0, n);
    }
    if (fq->closing) {
        conn_close(fq);
        return;
    }
    conn_update_watch(fq);
}

static void
conn_queue(FakeQmp *fq, const void *data, gsize len)
{
    if (fq->fd < 0) {
        return;
    }
    g_byte_array_append(fq->out, data, len);
    conn_update_watch(fq);
}

static void
conn_queue_line(FakeQmp *fq, const char *line)
{
    conn_queue(fq, line, strlen(line));
}

static void
conn_start_closing(FakeQmp *fq)
{
    if (fq->fd < 0) {
        return;
    }
    fq->closing = TRUE;
    if (fq->out->len == 0) {
        conn_close(fq);
    } else {
        conn_update_watch(fq);
    }
}

/* ---- Script ----------------------------------------------------------- */

/* Run the "send" items at the head of the script, as far as we can. */
static void
run_script(FakeQmp *fq)
{
    FakeItem *item;

    while ((item = g_queue_peek_head(&fq->script))) {
        if (item->kind == ITEM_EXPECT) {
            return;
        }
        if (item->kind == ITEM_WAIT_CONNECTION) {
            if (!item->started) {
                item->started = TRUE;
                item->serial = fq->serial;
            }
            if (fq->serial == item->serial || !conn_ready(fq)) {
                return;
            }
        } else if (!conn_ready(fq)) {
            return;
        }
        g_queue_pop_head(&fq->script);

        if (item->kind == ITEM_EVENT) {
            g_autoptr(JsonObject) event = json_object_new();
            g_autoptr(JsonObject) ts = json_object_new();
            g_autoptr(JsonNode) root = NULL;
            g_autofree char *line = NULL;
            gint64 now = bmc_loop_now_ms(fq->loop);

            json_object_set_string_member(event, "event", item->name);
            if (item->value) {
                json_object_set_member(event, "data",
                                       json_node_copy(item->value));
            }
            json_object_set_int_member(ts, "seconds", now / 1000);
            json_object_set_int_member(ts, "microseconds", now % 1000 * 1000);
            json_object_set_object_member(event, "timestamp",
                                          json_object_ref(ts));
            root = json_node_init_object(json_node_alloc(), event);
            line = node_to_line(root);
            conn_queue_line(fq, line);
        } else if (item->kind == ITEM_RAW) {
            gsize len;
            const void *data = g_bytes_get_data(item->raw, &len);

            conn_queue(fq, data, len);
        } else if (item->kind == ITEM_CLOSE) {
            conn_start_closing(fq);
        }
        item_free(item);
    }
}

static void
script_push(FakeQmp *fq, FakeItem *item)
{
    g_queue_push_tail(&fq->script, item);
    run_script(fq);
}

static FakeItem *
expect_item(const char *command, const char *args_json, FakeReplyKind reply)
{
    FakeItem *item = g_new0(FakeItem, 1);

    item->kind = ITEM_EXPECT;
    item->name = g_strdup(command);
    item->args = args_json ? parse_json(args_json) : NULL;
    item->reply = reply;
    return item;
}

/* ---- Commands --------------------------------------------------------- */

static char *
reply_return_line(JsonNode *id, JsonNode *value)
{
    g_autoptr(JsonObject) obj = json_object_new();
    g_autoptr(JsonNode) root = NULL;

    json_object_set_member(obj, "return",
                           value ? json_node_copy(value) : parse_json("{}"));
    json_object_set_member(obj, "id", json_node_copy(id));
    root = json_node_init_object(json_node_alloc(), obj);
    return node_to_line(root);
}

static char *
reply_error_line(JsonNode *id, const char *error_class, const char *desc)
{
    g_autoptr(JsonObject) obj = json_object_new();
    g_autoptr(JsonObject) err = json_object_new();
    g_autoptr(JsonNode) root = NULL;

    json_object_set_string_member(err, "class", error_class);
    json_object_set_string_member(err, "desc", desc);
    json_object_set_object_member(obj, "error", json_object_ref(err));
    json_object_set_member(obj, "id", json_node_copy(id));
    root = json_node_init_object(json_node_alloc(), obj);
    return node_to_line(root);
}

static const char *
get_string(JsonObject *obj, const char *name)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (!node || json_node_get_value_type(node) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(node);
}

static gboolean
args_match(JsonNode *expected, JsonNode *actual)
{
    if (!actual) {
        return JSON_NODE_HOLDS_OBJECT(expected) &&
               json_object_get_size(json_node_get_object(expected)) == 0;
    }
    return json_node_equal(expected, actual);
}

static void
on_delayed(gpointer data)
{
    FakeDelayed *d = data;
    FakeQmp *fq = d->fq;

    /* The answer is for the connection that asked, not a later one. */
    if (fq->serial == d->serial) {
        conn_queue_line(fq, d->line);
    }
    fq->delayed = g_list_remove(fq->delayed, d);
    bmc_timer_free(fq->loop, d->timer);
    g_free(d->line);
    g_free(d);
}

static void
reply_later(FakeQmp *fq, char *line, guint delay_ms)
{
    FakeDelayed *d = g_new0(FakeDelayed, 1);

    d->fq = fq;
    d->serial = fq->serial;
    d->line = line;
    d->timer = bmc_timer_new(fq->loop, on_delayed, d);
    bmc_timer_start(fq->loop, d->timer, delay_ms);
    fq->delayed = g_list_prepend(fq->delayed, d);
}

static void
split_free(FakeSplit *sp)
{
    g_free(sp->line);
    g_free(sp);
}

/* One piece of the head reply; the next piece (or reply) @gap_ms later. */
static void
on_split(gpointer data)
{
    FakeQmp *fq = data;
    FakeSplit *sp;

    while ((sp = g_queue_peek_head(&fq->splits))) {
        gsize len = strlen(sp->line);
        gsize n = MIN(sp->chunk, len - sp->sent);

        if (sp->serial != fq->serial) {
            split_free(g_queue_pop_head(&fq->splits)); /* link gone */
            continue;
        }
        conn_queue(fq, sp->line + sp->sent, n);
        sp->sent += n;
        if (sp->sent == len) {
            split_free(g_queue_pop_head(&fq->splits));
        }
        if (!g_queue_is_empty(&fq->splits)) {
            sp = g_queue_peek_head(&fq->splits);
            bmc_timer_start(fq->loop, fq->split_timer, sp->gap_ms);
        }
        return;
    }
}

static void
reply_split(FakeQmp *fq, char *line, gsize chunk, guint gap_ms)
{
    FakeSplit *sp = g_new0(FakeSplit, 1);

    sp->serial = fq->serial;
    sp->line = line;
    sp->chunk = chunk;
    sp->gap_ms = gap_ms;
    g_queue_push_tail(&fq->splits, sp);
    if (fq->splits.length == 1) {
        on_split(fq); /* the first piece at once */
    }
}

static void
handle_command(FakeQmp *fq, const char *line)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) root = json_from_string(line, &error);
    g_autofree char *reply = NULL;
    JsonObject *obj;
    JsonNode *id;
    JsonNode *args;
    const char *execute;
    FakeItem *item;

    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        fake_fail("client sent a line that is not a JSON object: '%s'", line);
        return;
    }
    obj = json_node_get_object(root);
    execute = get_string(obj, "execute");
    id = json_object_get_member(obj, "id");
    args = json_object_get_member(obj, "arguments");
    if (!execute) {
        fake_fail("no \"execute\" in '%s'", line);
        return;
    }
    if (!id || json_node_get_value_type(id) != G_TYPE_INT64) {
        fake_fail("command %s without a numeric id", execute);
        return;
    }
    fq->commands++;

    if (fq->conn_greeting == FAKE_QMP_GREETING_NORMAL && fq->auto_negotiate &&
        !fq->negotiated) {
        if (strcmp(execute, "qmp_capabilities") != 0) {
            fake_fail("%s before qmp_capabilities", execute);
            reply = reply_error_line(id, "CommandNotFound",
                                     "Expecting capabilities negotiation "
                                     "with 'qmp_capabilities'");
        } else {
            fq->negotiated = TRUE;
            reply = reply_return_line(id, NULL);
        }
        conn_queue_line(fq, reply);
        run_script(fq);
        return;
    }

    item = g_queue_peek_head(&fq->script);
    if (!item || item->kind != ITEM_EXPECT ||
        strcmp(item->name, execute) != 0) {
        g_autofree char *what = item ? item_describe(item) : NULL;

        fake_fail("unexpected command %s (script: %s)", execute,
                  what ? what : "at its end");
        reply = reply_error_line(id, "CommandNotFound", "unexpected command");
        conn_queue_line(fq, reply);
        return;
    }
    if (item->args && !args_match(item->args, args)) {
        g_autofree char *want = json_to_string(item->args, FALSE);
        g_autofree char *got = args ? json_to_string(args, FALSE) : NULL;

        fake_fail("%s with arguments %s, expected %s", execute,
                  got ? got : "(none)", want);
    }
    g_queue_pop_head(&fq->script);

    switch (item->reply) {
    case REPLY_RETURN:
        reply = reply_return_line(id, item->value);
        break;
    case REPLY_ERROR:
        reply = reply_error_line(id, item->error_class, item->error_desc);
        break;
    case REPLY_NONE:
        break;
    case REPLY_CLOSE:
        conn_start_closing(fq);
        break;
    case REPLY_PARTIAL_CLOSE: {
        g_autofree char *whole = reply_return_line(id, item->value);

        conn_queue(fq, whole, MIN(item->partial, strlen(whole) - 1));
        conn_start_closing(fq);
        break;
    }
    }
    if (reply && item->chunk > 0) {
        reply_split(fq, g_steal_pointer(&reply), item->chunk, item->delay_ms);
    } else if (reply && item->delay_ms > 0) {
        reply_later(fq, g_steal_pointer(&reply), item->delay_ms);
    } else if (reply) {
        conn_queue_line(fq, reply);
    }
    item_free(item);
    run_script(fq);
}

static void
conn_read(FakeQmp *fq)
{
    char buf[65536];
    ssize_t n = recv(fq->fd, buf, sizeof(buf), MSG_DONTWAIT);
    char *nl;

    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }
    if (n <= 0) {
        conn_close(fq);
        return;
    }
    g_string_append_len(fq->in, buf, n);
    while (fq->fd >= 0 && !fq->closing &&
           (nl = memchr(fq->in->str, '\n', fq->in->len))) {
        g_autofree char *line = g_strndup(fq->in->str, nl - fq->in->str);

        g_string_erase(fq->in, 0, nl - fq->in->str + 1);
        handle_command(fq, line);
    }
}

static void
on_conn_io(int fd, BmcIoCondition cond, gpointer data)
{
    FakeQmp *fq = data;

    if (cond & BMC_IO_OUT) {
        conn_flush(fq);
    }
    if ((cond & BMC_IO_IN) && fq->fd >= 0 && !fq->closing) {
        conn_read(fq);
    }
}

static void
on_accept(int fd, BmcIoCondition cond, gpointer data)
{
    FakeQmp *fq = data;
    int conn = accept4(fq->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    gint64 now = bmc_loop_now_ms(fq->loop);

    if (conn < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            fake_fail("accept: %s", g_strerror(errno));
        }
        return;
    }
    /* The client only reconnects once it has given up on the old link. */
    conn_close(fq);
    fq->fd = conn;
    fq->serial++;
    g_array_append_val(fq->accept_times, now);
    fq->conn_greeting = fq->greeting;
    fq->watch = bmc_watch_add(fq->loop, fq->fd, on_conn_io, fq);
    conn_update_watch(fq);

    switch (fq->conn_greeting) {
    case FAKE_QMP_GREETING_NORMAL:
        conn_queue_line(fq, FAKE_QMP_GREETING_LINE);
        break;
    case FAKE_QMP_GREETING_GARBAGE:
        conn_queue_line(fq, "Welcome to QEMU, no JSON here\n");
        break;
    case FAKE_QMP_GREETING_NONE:
        break;
    case FAKE_QMP_GREETING_CLOSE:
        conn_close(fq);
        break;
    }
    run_script(fq);
}

/* ---- Public API ------------------------------------------------------- */

FakeQmp *
fake_qmp_new(BmcLoop *loop, const char *socket_path)
{
    FakeQmp *fq = g_new0(FakeQmp, 1);

    fq->loop = loop;
    fq->path = g_strdup(socket_path);
    fq->listen_fd = test_listen_unix(socket_path, 4);
    fq->listen_watch = bmc_watch_add(loop, fq->listen_fd, on_accept, fq);
    bmc_watch_set(loop, fq->listen_watch, BMC_IO_IN);
    fq->greeting = FAKE_QMP_GREETING_NORMAL;
    fq->auto_negotiate = TRUE;
    fq->fd = -1;
    fq->in = g_string_new(NULL);
    fq->out = g_byte_array_new();
    g_queue_init(&fq->script);
    g_queue_init(&fq->splits);
    fq->split_timer = bmc_timer_new(loop, on_split, fq);
    fq->accept_times = g_array_new(FALSE, FALSE, sizeof(gint64));
    return fq;
}

void
fake_qmp_free(FakeQmp *fq)
{
    FakeItem *item;

    if (!fq) {
        return;
    }
    while ((item = g_queue_pop_head(&fq->script))) {
        g_autofree char *what = item_describe(item);

        fake_fail("script item left unused: %s", what);
        item_free(item);
    }
    while (fq->delayed) {
        FakeDelayed *d = fq->delayed->data;

        fq->delayed = g_list_delete_link(fq->delayed, fq->delayed);
        bmc_timer_free(fq->loop, d->timer);
        g_free(d->line);
        g_free(d);
    }
    g_queue_clear_full(&fq->splits, (GDestroyNotify)split_free);
    bmc_timer_free(fq->loop, fq->split_timer);
    conn_close(fq);
    bmc_watch_free(fq->loop, fq->listen_watch);
    bmc_close_fd(&fq->listen_fd);
    (void)g_unlink(fq->path);
    g_string_free(fq->in, TRUE);
    g_byte_array_unref(fq->out);
    g_array_unref(fq->accept_times);
    g_free(fq->path);
    g_free(fq);
}

void
fake_qmp_set_greeting(FakeQmp *fq, FakeQmpGreeting greeting)
{
    fq->greeting = greeting;
}

void
fake_qmp_set_auto_negotiate(FakeQmp *fq, gboolean auto_negotiate)
{
    fq->auto_negotiate = auto_negotiate;
}

void
fake_qmp_set_accepting(FakeQmp *fq, gboolean accepting)
{
    bmc_watch_set(fq->loop, fq->listen_watch, accepting ? BMC_IO_IN : 0);
}

void
fake_qmp_expect(FakeQmp *fq, const char *command, const char *args_json,
                const char *return_json)
{
    FakeItem *item = expect_item(command, args_json, REPLY_RETURN);

    item->value = parse_json(return_json ? return_json : "{}");
    script_push(fq, item);
}

void
fake_qmp_expect_error(FakeQmp *fq, const char *command, const char *args_json,
                      const char *error_class, const char *desc)
{
    FakeItem *item = expect_item(command, args_json, REPLY_ERROR);

    item->error_class = g_strdup(error_class);
    item->error_desc = g_strdup(desc);
    script_push(fq, item);
}

void
fake_qmp_expect_delayed(FakeQmp *fq, const char *command, const char *args_json,
                        const char *return_json, guint delay_ms)
{
    FakeItem *item = expect_item(command, args_json, REPLY_RETURN);

    item->value = parse_json(return_json ? return_json : "{}");
    item->delay_ms = delay_ms;
    script_push(fq, item);
}

void
fake_qmp_expect_split(FakeQmp *fq, const char *command, const char *args_json,
                      const char *return_json, gsize chunk, guint gap_ms)
{
    FakeItem *item = expect_item(command, args_json, REPLY_RETURN);

    g_return_if_fail(chunk > 0);
    item->value = parse_json(return_json ? return_json : "{}");
    item->chunk = chunk;
    item->delay_ms = gap_ms;
    script_push(fq, item);
}

void
fake_qmp_expect_partial_close(FakeQmp *fq, const char *command,
                              const char *args_json, const char *return_json,
                              gsize partial)
{
    FakeItem *item = expect_item(command, args_json, REPLY_PARTIAL_CLOSE);

    item->value = parse_json(return_json ? return_json : "{}");
    item->partial = partial;
    script_push(fq, item);
}

void
fake_qmp_expect_no_reply(FakeQmp *fq, const char *command,
                         const char *args_json)
{
    script_push(fq, expect_item(command, args_json, REPLY_NONE));
}

void
fake_qmp_expect_close(FakeQmp *fq, const char *command, const char *args_json)
{
    script_push(fq, expect_item(command, args_json, REPLY_CLOSE));
}

void
fake_qmp_send_event(FakeQmp *fq, const char *name, const char *data_json)
{
    FakeItem *item = g_new0(FakeItem, 1);

    item->kind = ITEM_EVENT;
    item->name = g_strdup(name);
    item->value = data_json ? parse_json(data_json) : NULL;
    script_push(fq, item);
}

void
fake_qmp_send_raw(FakeQmp *fq, const char *bytes, gssize len)
{
    FakeItem *item = g_new0(FakeItem, 1);

    item->kind = ITEM_RAW;
    item->raw = g_bytes_new(bytes, len < 0 ? strlen(bytes) : (gsize)len);
    script_push(fq, item);
}

void
fake_qmp_close(FakeQmp *fq)
{
    FakeItem *item = g_new0(FakeItem, 1);

    item->kind = ITEM_CLOSE;
    script_push(fq, item);
}

void
fake_qmp_wait_connection(FakeQmp *fq)
{
    FakeItem *item = g_new0(FakeItem, 1);

    item->kind = ITEM_WAIT_CONNECTION;
    script_push(fq, item);
}

gboolean
fake_qmp_script_done(FakeQmp *fq)
{
    return g_queue_is_empty(&fq->script);
}

gboolean
fake_qmp_is_ready(FakeQmp *fq)
{
    return conn_ready(fq);
}

guint
fake_qmp_get_connections(FakeQmp *fq)
{
    return fq->serial;
}

GArray *
fake_qmp_get_accept_times(FakeQmp *fq)
{
    return fq->accept_times;
}

guint
fake_qmp_get_commands(FakeQmp *fq)
{
    return fq->commands;
}
