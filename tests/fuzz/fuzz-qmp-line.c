/*
 * fuzz-qmp-line.c - the QMP byte stream from a hostile QEMU: framing
 * (QmpLineBuffer) in arbitrary chunks, then each line through the
 * classifier (qmp_message_parse).
 *
 * Input: byte 0 bit 7 set = the client's real cap (1 MiB); clear = a small
 *        cap ((byte 0 & 0x7f) << 8 | byte 1) + 1, to reach the oversized
 *        path; byte 2 seeds the chunk sizes; the rest is the stream.
 *
 * The line buffer is checked against a plain model (the accepted bytes
 * split on "\n", a trailing "\r" dropped; an append refused exactly when a
 * line would pass the cap); each message against the promises of
 * qmp-proto.h.
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <sanitizer/lsan_interface.h>

#include "fuzz-common.h"
#include "qmp-proto.h"

#define REAL_MAX_LINE (1024 * 1024) /* qmp-client.c's default */

typedef struct {
    GByteArray *pending; /* accepted, not yet popped */
    gsize tail;          /* bytes of its last line that has no "\n" yet */
    gsize max_line;
} Model;

/* The tail length after @data, or G_MAXSIZE if a line passes the cap. */
static gsize
model_tail_after(const Model *model, const guint8 *data, gsize len)
{
    gsize line = model->tail;

    for (gsize i = 0; i < len; i++) {
        if (data[i] == '\n') {
            line = 0;
        } else if (++line > model->max_line) {
            return G_MAXSIZE;
        }
    }
    return line;
}

/* Strings from the peer go to the log and into new commands: UTF-8, as
 * xmlrpc.c makes GMarkup's messages.  json-glib lets a lone surrogate
 * escape ("\ud800") through as bytes that are not. */
static void
check_utf8(const char *what, const char *s)
{
    if (s && !g_utf8_validate(s, -1, NULL)) {
        fuzz_fail("qmp-invalid-utf8", "%s is not valid UTF-8", what);
    }
}

/* json-glib 1.6's scanner reads "\\u" as up to 4 hex digits, stopping at
 * (and eating) the first other character; that is what this does at @p. */
static gunichar
scan_unichar(const char **p, const char *end)
{
    gunichar u = 0;

    for (int i = 0; i < 4 && *p < end; i++) {
        int v = g_ascii_xdigit_value(*(*p)++);

        if (v < 0) {
            break;
        }
        u += (gunichar)v << ((3 - i) * 4);
    }
    return u;
}

/* TRUE if @line holds what makes json-glib 1.6 leak a GString: a "\\u"
 * surrogate, then "\\u" and anything but the pair's other half
 * (json-scanner.c, JSON_ERR_MALFORMED_SURROGATE_PAIR sets the string to
 * NULL without freeing it; fixed in json-glib 1.9.2).  String context is
 * ignored: this may say TRUE for a line that does not leak, never FALSE
 * for one that does. */
static gboolean
jsonglib_leaks_on(const char *line, gsize len)
{
    const char *end = line + len;

    for (const char *p = line; p + 2 < end; p++) {
        const char *q = p + 2;
        gunichar hi, lo;

        if (p[0] != '\\' || p[1] != 'u' || !g_ascii_isxdigit(p[2])) {
            continue;
        }
        hi = scan_unichar(&q, end);
        if (hi < 0xd800 || hi > 0xdfff || end - q < 2 || q[0] != '\\' ||
            q[1] != 'u') {
            continue;
        }
        q += 2;
        lo = scan_unichar(&q, end);
        if (!(hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff)) {
            return TRUE;
        }
    }
    return FALSE;
}

static QmpMessage *
parse(const char *line, gsize len, GError **error)
{
    QmpMessage *msg;

    /* A known leak in json-glib, not ours: when allowed, LSan ignores
     * what this one parse allocates - and only this one. */
    if (!jsonglib_leaks_on(line, len) ||
        !fuzz_allowed("jsonglib-surrogate-leak")) {
        return qmp_message_parse(line, len, error);
    }
    __lsan_disable();
    msg = qmp_message_parse(line, len, error);
    __lsan_enable();
    return msg;
}

static void
check_message(const char *line, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(QmpMessage) msg = parse(line, len, &error);

    if (!msg) {
        FUZZ_CHECK(error != NULL);
        FUZZ_CHECK(
            g_error_matches(error, QMP_PROTO_ERROR, QMP_PROTO_ERROR_INVALID));
        /* It ends up in ipmi_sim's log, on one line. */
        check_utf8("error message", error->message);
        if (strpbrk(error->message, "\r\n")) {
            fuzz_fail("qmp-error-multiline",
                      "error message holds a line break from the peer");
        }
        return;
    }
    FUZZ_CHECK(error == NULL);
    FUZZ_CHECK(msg->root && JSON_NODE_HOLDS_OBJECT(msg->root));
    FUZZ_CHECK(strcmp(qmp_message_kind_name(msg->kind), "unknown") != 0);
    switch (msg->kind) {
    case QMP_MESSAGE_GREETING:
        FUZZ_CHECK(msg->greeting != NULL);
        break;
    case QMP_MESSAGE_EVENT:
        FUZZ_CHECK(msg->event != NULL);
        check_utf8("event name", msg->event);
        break;
    case QMP_MESSAGE_RETURN:
        FUZZ_CHECK(msg->ret != NULL);
        FUZZ_CHECK(!msg->has_id || msg->id <= G_MAXINT64);
        break;
    case QMP_MESSAGE_ERROR:
        FUZZ_CHECK(msg->error_class != NULL && msg->error_desc != NULL);
        check_utf8("error class", msg->error_class);
        check_utf8("error desc", msg->error_desc);
        FUZZ_CHECK(!msg->has_id || msg->id <= G_MAXINT64);
        break;
    }

    /* Whatever the peer put in a name or an object, a command built from
     * it is one line that parses back. */
    if (msg->kind == QMP_MESSAGE_EVENT && msg->event[0]) {
        gsize out_len = 0;
        g_autofree char *cmd = qmp_command_serialize(
            msg->event, msg->data, msg->has_id ? msg->id : 0, &out_len);
        g_autoptr(JsonParser) parser = json_parser_new();

        FUZZ_CHECK(cmd != NULL && out_len == strlen(cmd) && out_len > 0);
        FUZZ_CHECK(cmd[out_len - 1] == '\n');
        FUZZ_CHECK(memchr(cmd, '\n', out_len - 1) == NULL);
        if (!json_parser_load_from_data(parser, cmd, out_len, NULL)) {
            /* Only strings json-glib let through undecodable may fail. */
            if (g_utf8_validate(cmd, out_len, NULL)) {
                fuzz_fail(NULL, "command built from an event does not parse");
            }
            fuzz_fail("qmp-invalid-utf8",
                      "command built from an event is not valid UTF-8");
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_common_init();
    return 0;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    FuzzInput in = {data, size};
    guint8 mode = 0, fine = 0, seed = 0;
    g_autoptr(QmpLineBuffer) lb = NULL;
    Model model;
    guint32 rng;
    gsize max_chunk;

    if (!fuzz_byte(&in, &mode) || !fuzz_byte(&in, &fine) ||
        !fuzz_byte(&in, &seed)) {
        return 0;
    }
    model.max_line =
        (mode & 0x80) ? REAL_MAX_LINE : ((gsize)(mode & 0x7f) << 8 | fine) + 1;
    model.pending = g_byte_array_new();
    model.tail = 0;
    lb = qmp_line_buffer_new(model.max_line);
    max_chunk = (gsize)1 << (seed % 13); /* 1 to 4096 */
    rng = 0x9e3779b9u ^ seed;

    while (in.left > 0) {
        const guint8 *chunk;
        gsize want, n;
        gsize tail;
        g_autoptr(GError) error = NULL;
        gboolean ok;

        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        want = 1 + rng % max_chunk;
        n = fuzz_bytes(&in, want, &chunk);

        tail = model_tail_after(&model, chunk, n);
        ok = qmp_line_buffer_append(lb, (const char *)chunk, n, &error);
        FUZZ_CHECK(ok == (tail != G_MAXSIZE));
        if (!ok) {
            FUZZ_CHECK(g_error_matches(error, QMP_PROTO_ERROR,
                                       QMP_PROTO_ERROR_OVERSIZED));
            /* What the client does: drop the connection's buffer. */
            qmp_line_buffer_reset(lb);
            g_byte_array_set_size(model.pending, 0);
            model.tail = 0;
            FUZZ_CHECK(qmp_line_buffer_get_pending(lb) == 0);
            continue;
        }
        g_byte_array_append(model.pending, chunk, n);
        model.tail = tail;
        FUZZ_CHECK(qmp_line_buffer_get_pending(lb) == model.pending->len);

        for (;;) {
            gsize len = G_MAXSIZE;
            g_autofree char *line = qmp_line_buffer_pop(lb, &len);
            const guint8 *nl =
                memchr(model.pending->data, '\n', model.pending->len);
            gsize want_len;

            if (!line) {
                FUZZ_CHECK(nl == NULL);
                break;
            }
            FUZZ_CHECK(nl != NULL);
            want_len = nl - model.pending->data;
            if (want_len > 0 && model.pending->data[want_len - 1] == '\r') {
                want_len--;
            }
            FUZZ_CHECK(len == want_len);
            FUZZ_CHECK(len <= model.max_line);
            FUZZ_CHECK(memcmp(line, model.pending->data, len) == 0);
            FUZZ_CHECK(line[len] == '\0');
            g_byte_array_remove_range(model.pending, 0,
                                      nl - model.pending->data + 1);
            FUZZ_CHECK(qmp_line_buffer_get_pending(lb) == model.pending->len);

            check_message(line, len);
        }
    }
    g_byte_array_unref(model.pending);
    return 0;
}
