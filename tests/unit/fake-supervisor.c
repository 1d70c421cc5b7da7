/*
 * fake-supervisor.c - a scripted supervisord for unit tests.
 *
 * The fake reads each request independently of the code under test (its own
 * HTTP and methodCall parsing), so a client bug in building requests shows up
 * as a script mismatch rather than being mirrored.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>

#include "compat.h"
#include "fake-supervisor.h"
#include "test-util.h"

/* Far over what any client should buffer (ours caps at 64 KiB). */
#define FAKE_OVERSIZED_BODY (256 * 1024)

typedef enum {
    FAKE_ANSWER_BYTES, /* write the answer, then close */
    FAKE_ANSWER_HANG,
    FAKE_ANSWER_CLOSE,
} FakeAnswerKind;

typedef struct {
    char *method;
    char *params;
    FakeAnswerKind kind;
    GBytes *answer;
    gsize chunk;     /* 0: write all at once */
    gboolean repeat; /* answers any number of calls; see _repeat_last() */
    gboolean used;
} FakeItem;

typedef struct {
    FakeSupervisor *fake;
    int fd;
    BmcWatch *watch;
    GByteArray *in;
    gboolean got_request;
    GBytes *out; /* NULL until answering */
    gsize out_pos;
    gsize chunk;
} FakeConn;

struct FakeSupervisor {
    BmcLoop *loop;
    char *socket_path;
    int listen_fd;
    BmcWatch *listen_watch;
    GQueue script; /* FakeItem* */
    GList *conns;  /* FakeConn* */
    guint requests;
};

static void
fake_item_free(FakeItem *item)
{
    g_free(item->method);
    g_free(item->params);
    if (item->answer) {
        g_bytes_unref(item->answer);
    }
    g_free(item);
}

/* Fails the running test with "fake supervisord: ..." (see test-util.h). */
#define fake_fail(...) test_fail_printf("fake supervisord", __VA_ARGS__)

/* --- Connections --- */

static void
fake_conn_close(FakeConn *conn)
{
    FakeSupervisor *fake = conn->fake;

    fake->conns = g_list_remove(fake->conns, conn);
    bmc_watch_free(fake->loop, conn->watch);
    bmc_close_fd(&conn->fd);
    g_byte_array_unref(conn->in);
    if (conn->out) {
        g_bytes_unref(conn->out);
    }
    g_free(conn);
}

/* Returns FALSE when @conn was closed. */
static gboolean
fake_conn_flush(FakeConn *conn)
{
    gsize len;
    const char *data = g_bytes_get_data(conn->out, &len);

    while (conn->out_pos < len) {
        gsize n = len - conn->out_pos;
        ssize_t w;

        if (conn->chunk) {
            n = MIN(n, conn->chunk);
        }
        w = send(conn->fd, data + conn->out_pos, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            bmc_watch_set(conn->fake->loop, conn->watch,
                          BMC_IO_IN | BMC_IO_OUT);
            return TRUE;
        }
        if (w < 0) {
            /* The client gave up (say, over its size cap): not our call. */
            fake_conn_close(conn);
            return FALSE;
        }
        conn->out_pos += w;
        if (conn->chunk && conn->out_pos < len) {
            /* One chunk per loop round, so the client sees short reads. */
            bmc_watch_set(conn->fake->loop, conn->watch,
                          BMC_IO_IN | BMC_IO_OUT);
            return TRUE;
        }
    }
    /* HTTP/1.0 with "Connection: close": EOF ends the answer. */
    fake_conn_close(conn);
    return FALSE;
}

/* --- Request parsing --- */

typedef struct {
    GString *method;
    GPtrArray *params; /* char*, rendered */
    GString *text;
    char *type; /* typed element inside the current <value>, or NULL */
    gboolean in_value;
} FakeCallParse;

static void
call_start(GMarkupParseContext *ctx, const char *element,
           const char **attr_names, const char **attr_values,
           gpointer user_data, GError **error)
{
    FakeCallParse *p = user_data;

    if (strcmp(element, "value") == 0) {
        p->in_value = TRUE;
        g_string_truncate(p->text, 0);
        g_clear_pointer(&p->type, g_free);
    } else if (p->in_value) {
        g_free(p->type);
        p->type = g_strdup(element);
    }
}

static void
call_end(GMarkupParseContext *ctx, const char *element, gpointer user_data,
         GError **error)
{
    FakeCallParse *p = user_data;
    const char *t = p->text->str;

    if (strcmp(element, "value") != 0) {
        return;
    }
    p->in_value = FALSE;
    if (!p->type || strcmp(p->type, "string") == 0) {
        g_ptr_array_add(p->params, g_strdup_printf("\"%s\"", t));
    } else if (strcmp(p->type, "boolean") == 0 &&
               (strcmp(t, "0") == 0 || strcmp(t, "1") == 0)) {
        g_ptr_array_add(p->params, g_strdup(t[0] == '1' ? "true" : "false"));
    } else if (strcmp(p->type, "int") == 0 || strcmp(p->type, "i4") == 0) {
        g_ptr_array_add(p->params, g_strdup(t));
    } else {
        g_ptr_array_add(p->params, g_strdup_printf("<%s>%s", p->type, t));
    }
}

static void
call_text(GMarkupParseContext *ctx, const char *text, gsize len,
          gpointer user_data, GError **error)
{
    FakeCallParse *p = user_data;
    const char *element = g_markup_parse_context_get_element(ctx);

    if (element && strcmp(element, "methodName") == 0) {
        g_string_append_len(p->method, text, len);
    } else if (p->in_value) {
        g_string_append_len(p->text, text, len);
    }
}

static const GMarkupParser call_parser = {
    .start_element = call_start,
    .end_element = call_end,
    .text = call_text,
};

/* Render a methodCall as @method and "p1, p2". */
static gboolean
fake_parse_call(const char *body, gsize len, char **method, char **params,
                GError **error)
{
    FakeCallParse p = {
        .method = g_string_new(NULL),
        .params = g_ptr_array_new_with_free_func(g_free),
        .text = g_string_new(NULL),
    };
    g_autoptr(GMarkupParseContext) ctx =
        g_markup_parse_context_new(&call_parser, 0, &p, NULL);
    gboolean ok = g_markup_parse_context_parse(ctx, body, len, error) &&
                  g_markup_parse_context_end_parse(ctx, error);

    if (ok) {
        g_ptr_array_add(p.params, NULL);
        *method = g_strdup(p.method->str);
        *params = g_strjoinv(", ", (char **)p.params->pdata);
    }
    g_string_free(p.method, TRUE);
    g_ptr_array_unref(p.params);
    g_string_free(p.text, TRUE);
    g_free(p.type);
    return ok;
}

/*
 * Check the HTTP framing of a request.  Returns the body length once the
 * whole request is in @in (its body at @in + *body_off), 0 while more is
 * needed, -1 after failing the test.
 */
static gssize
fake_parse_request(GByteArray *in, gsize *body_off)
{
    const char *data = (const char *)in->data;
    g_autofree char *head = NULL;
    g_auto(GStrv) lines = NULL;
    const char *end = g_strstr_len(data, in->len, "\r\n\r\n");
    guint64 content_length = 0;
    gboolean has_host = FALSE, has_type = FALSE, has_close = FALSE;
    gboolean has_length = FALSE;

    if (!end) {
        return 0;
    }
    head = g_strndup(data, end - data);
    lines = g_strsplit(head, "\r\n", -1);
    if (strcmp(lines[0], "POST /RPC2 HTTP/1.0") != 0) {
        fake_fail("bad request line '%s'", lines[0]);
        return -1;
    }
    for (guint i = 1; lines[i]; i++) {
        if (strcmp(lines[i], "Host: localhost") == 0) {
            has_host = TRUE;
        } else if (strcmp(lines[i], "Content-Type: text/xml") == 0) {
            has_type = TRUE;
        } else if (strcmp(lines[i], "Connection: close") == 0) {
            has_close = TRUE;
        } else if (g_str_has_prefix(lines[i], "Content-Length: ") &&
                   g_ascii_string_to_unsigned(lines[i] + 16, 10, 1, 1 << 20,
                                              &content_length, NULL)) {
            has_length = TRUE;
        } else {
            fake_fail("unexpected request header '%s'", lines[i]);
            return -1;
        }
    }
    if (!has_host || !has_type || !has_close || !has_length) {
        fake_fail("request lacks Host, Content-Type, Connection or "
                  "Content-Length");
        return -1;
    }
    *body_off = end + 4 - data;
    if (in->len < *body_off + content_length) {
        return 0;
    }
    if (in->len > *body_off + content_length) {
        fake_fail("request body longer than its Content-Length");
        return -1;
    }
    return (gssize)content_length;
}

/* A whole request is in: match it against the script and answer. */
static gboolean
fake_conn_answer(FakeConn *conn, const char *body, gsize len)
{
    FakeSupervisor *fake = conn->fake;
    g_autoptr(GError) error = NULL;
    g_autofree char *method = NULL;
    g_autofree char *params = NULL;
    FakeItem *item;

    conn->got_request = TRUE;
    fake->requests++;
    if (!fake_parse_call(body, len, &method, &params, &error)) {
        fake_fail("malformed methodCall: %s", error->message);
        fake_conn_close(conn);
        return FALSE;
    }
    item = g_queue_peek_head(&fake->script);
    if (item && item->repeat && item->used) {
        /* A repeating item gives way as soon as its successor matches. */
        FakeItem *next = g_queue_peek_nth(&fake->script, 1);

        if (next && strcmp(next->method, method) == 0 &&
            strcmp(next->params, params) == 0) {
            fake_item_free(g_queue_pop_head(&fake->script));
            item = next;
        }
    }
    if (!item) {
        fake_fail("unexpected call %s(%s): the script is done", method, params);
        fake_conn_close(conn);
        return FALSE;
    }
    if (strcmp(item->method, method) != 0 ||
        strcmp(item->params, params) != 0) {
        fake_fail("unexpected call %s(%s), expected %s(%s)", method, params,
                  item->method, item->params);
        fake_conn_close(conn);
        return FALSE;
    }
    if (item->repeat) {
        item->used = TRUE;
        if (item->kind == FAKE_ANSWER_BYTES) {
            conn->out = g_bytes_ref(item->answer);
            conn->chunk = item->chunk;
            return fake_conn_flush(conn);
        }
        fake_fail("only value answers can repeat");
        return FALSE;
    }
    g_queue_pop_head(&fake->script);

    switch (item->kind) {
    case FAKE_ANSWER_HANG:
        fake_item_free(item);
        return TRUE;
    case FAKE_ANSWER_CLOSE:
        fake_item_free(item);
        fake_conn_close(conn);
        return FALSE;
    case FAKE_ANSWER_BYTES:
        conn->out = g_bytes_ref(item->answer);
        conn->chunk = item->chunk;
        fake_item_free(item);
        return fake_conn_flush(conn);
    }
    g_assert_not_reached();
}

/* Returns FALSE when @conn was closed. */
static gboolean
fake_conn_read(FakeConn *conn)
{
    for (;;) {
        guint8 buf[4096];
        ssize_t n = read(conn->fd, buf, sizeof(buf));
        gsize body_off = 0;
        gssize body_len;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return TRUE;
        }
        if (n <= 0) {
            /* The client closed (done, timed out or cancelled); a missing
             * request shows up as an unused script item. */
            fake_conn_close(conn);
            return FALSE;
        }
        if (conn->got_request) {
            fake_fail("client sent data after its request");
            fake_conn_close(conn);
            return FALSE;
        }
        g_byte_array_append(conn->in, buf, n);
        body_len = fake_parse_request(conn->in, &body_off);
        if (body_len < 0) {
            fake_conn_close(conn);
            return FALSE;
        }
        if (body_len > 0 &&
            !fake_conn_answer(conn, (const char *)conn->in->data + body_off,
                              body_len)) {
            return FALSE;
        }
    }
}

static void
fake_conn_cb(int fd, BmcIoCondition cond, gpointer data)
{
    FakeConn *conn = data;

    if ((cond & BMC_IO_IN) && !fake_conn_read(conn)) {
        return;
    }
    if ((cond & BMC_IO_OUT) && conn->out) {
        fake_conn_flush(conn);
    }
}

static void
fake_accept_cb(int fd, BmcIoCondition cond, gpointer data)
{
    FakeSupervisor *fake = data;

    for (;;) {
        bmc_autofd int cfd = accept(fd, NULL, NULL);
        FakeConn *conn;

        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                fake_fail("accept: %s", g_strerror(errno));
            }
            return;
        }
        if (!g_unix_set_fd_nonblocking(cfd, TRUE, NULL) ||
            fcntl(cfd, F_SETFD, FD_CLOEXEC) < 0) {
            fake_fail("cannot set up an accepted socket");
            return;
        }
        conn = g_new0(FakeConn, 1);
        conn->fake = fake;
        conn->fd = bmc_steal_fd(&cfd);
        conn->in = g_byte_array_new();
        conn->watch = bmc_watch_add(fake->loop, conn->fd, fake_conn_cb, conn);
        fake->conns = g_list_prepend(fake->conns, conn);
    }
}

/* --- Setup and script --- */

FakeSupervisor *
fake_supervisor_new(BmcLoop *loop, const char *dir)
{
    FakeSupervisor *fake = g_new0(FakeSupervisor, 1);

    fake->loop = loop;
    fake->socket_path = g_build_filename(dir, "supervisor.sock", NULL);
    g_queue_init(&fake->script);
    fake->listen_fd = test_listen_unix(fake->socket_path, 16);
    fake->listen_watch =
        bmc_watch_add(loop, fake->listen_fd, fake_accept_cb, fake);
    return fake;
}

void
fake_supervisor_free(FakeSupervisor *fake)
{
    FakeItem *item;

    if (!fake) {
        return;
    }
    while ((item = g_queue_pop_head(&fake->script))) {
        if (!item->used) {
            fake_fail("script item never used: %s(%s)", item->method,
                      item->params);
        }
        fake_item_free(item);
    }
    while (fake->conns) {
        fake_conn_close(fake->conns->data);
    }
    bmc_watch_free(fake->loop, fake->listen_watch);
    bmc_close_fd(&fake->listen_fd);
    (void)unlink(fake->socket_path);
    g_free(fake->socket_path);
    g_free(fake);
}

const char *
fake_supervisor_get_socket_path(FakeSupervisor *fake)
{
    return fake->socket_path;
}

guint
fake_supervisor_get_requests(FakeSupervisor *fake)
{
    return fake->requests;
}

guint
fake_supervisor_get_open_connections(FakeSupervisor *fake)
{
    return g_list_length(fake->conns);
}

static void
fake_push(FakeSupervisor *fake, const char *method, const char *params,
          FakeAnswerKind kind, char *answer)
{
    FakeItem *item = g_new0(FakeItem, 1);

    item->method = g_strdup(method);
    item->params = g_strdup(params);
    item->kind = kind;
    if (answer) {
        item->answer = g_bytes_new_take(answer, strlen(answer));
    }
    g_queue_push_tail(&fake->script, item);
}

/* An HTTP response: @head (status line and headers, each ending in "\r\n"),
 * then Content-Length and @body. */
static char *
http_response(const char *head, const char *body)
{
    return g_strdup_printf("%sContent-Length: %zu\r\n"
                           "\r\n"
                           "%s",
                           head, strlen(body), body);
}

static char *
http_200(const char *body)
{
    return http_response("HTTP/1.0 200 OK\r\n"
                         "Server: fake-supervisor\r\n"
                         "Content-Type: text/xml\r\n",
                         body);
}

void
fake_supervisor_expect_value(FakeSupervisor *fake, const char *method,
                             const char *params, const char *value_xml)
{
    g_autofree char *body =
        g_strdup_printf("<?xml version='1.0'?>\n<methodResponse>\n<params>\n"
                        "<param>\n%s\n</param>\n</params>\n"
                        "</methodResponse>\n",
                        value_xml);

    fake_push(fake, method, params, FAKE_ANSWER_BYTES, http_200(body));
}

void
fake_supervisor_expect_body(FakeSupervisor *fake, const char *method,
                            const char *params, const char *body)
{
    fake_push(fake, method, params, FAKE_ANSWER_BYTES, http_200(body));
}

void
fake_supervisor_expect_fault(FakeSupervisor *fake, const char *method,
                             const char *params, int code, const char *string)
{
    g_autofree char *escaped = g_markup_escape_text(string, -1);
    g_autofree char *body = g_strdup_printf(
        "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n"
        "<member>\n<name>faultCode</name>\n<value><int>%d</int></value>\n"
        "</member>\n<member>\n<name>faultString</name>\n"
        "<value><string>%s</string></value>\n</member>\n"
        "</struct></value>\n</fault>\n</methodResponse>\n",
        code, escaped);

    fake_push(fake, method, params, FAKE_ANSWER_BYTES, http_200(body));
}

void
fake_supervisor_expect_http_status(FakeSupervisor *fake, const char *method,
                                   const char *params, guint status)
{
    g_autofree char *head = g_strdup_printf("HTTP/1.0 %u Error\r\n"
                                            "Content-Type: text/plain\r\n",
                                            status);

    fake_push(fake, method, params, FAKE_ANSWER_BYTES,
              http_response(head, "fake supervisord error\n"));
}

void
fake_supervisor_expect_raw(FakeSupervisor *fake, const char *method,
                           const char *params, const char *raw)
{
    fake_push(fake, method, params, FAKE_ANSWER_BYTES, g_strdup(raw));
}

void
fake_supervisor_expect_oversized(FakeSupervisor *fake, const char *method,
                                 const char *params)
{
    g_autofree char *padding = g_strnfill(FAKE_OVERSIZED_BODY, 'x');
    g_autofree char *value =
        g_strdup_printf("<value><string>%s</string></value>", padding);

    fake_supervisor_expect_value(fake, method, params, value);
}

void
fake_supervisor_expect_hang(FakeSupervisor *fake, const char *method,
                            const char *params)
{
    fake_push(fake, method, params, FAKE_ANSWER_HANG, NULL);
}

void
fake_supervisor_expect_close(FakeSupervisor *fake, const char *method,
                             const char *params)
{
    fake_push(fake, method, params, FAKE_ANSWER_CLOSE, NULL);
}

void
fake_supervisor_split_last(FakeSupervisor *fake, gsize chunk)
{
    FakeItem *item = g_queue_peek_tail(&fake->script);

    g_assert_nonnull(item);
    g_assert_cmpint(item->kind, ==, FAKE_ANSWER_BYTES);
    item->chunk = chunk;
}

void
fake_supervisor_repeat_last(FakeSupervisor *fake)
{
    FakeItem *item = g_queue_peek_tail(&fake->script);

    g_assert_nonnull(item);
    item->repeat = TRUE;
}

gboolean
fake_supervisor_script_done(FakeSupervisor *fake)
{
    for (GList *l = fake->script.head; l; l = l->next) {
        FakeItem *item = l->data;

        if (!item->repeat || !item->used) {
            return FALSE;
        }
    }
    return TRUE;
}
