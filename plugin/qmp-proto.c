/*
 * qmp-proto.c - QMP framing and message classification, with no I/O.
 */
#include "config.h"

#ifndef G_LOG_DOMAIN
#define G_LOG_DOMAIN "qemu-bmc"
#endif

#include <math.h>
#include <string.h>

#include "qmp-proto.h"

/* json-glib's parser recurses once per nesting level, so a peer sending a
 * line of a million '[' would overflow our stack - inside ipmi_sim.  QEMU's
 * own JSON parser stops at the same depth (MAX_NESTING). */
#define QMP_MAX_NESTING 1024

/* How much of a bad line to quote in an error message. */
#define QMP_EXCERPT_LEN 60

G_DEFINE_QUARK(qemu_bmc_qmp_proto_error, qmp_proto_error)

/* ---- Framing ---------------------------------------------------------- */

struct QmpLineBuffer {
    GByteArray *buf;
    gsize start;    /* first byte not yet returned by pop() */
    gsize line_len; /* bytes of the trailing line that has no "\n" yet */
    gsize max_line;
};

QmpLineBuffer *
qmp_line_buffer_new(gsize max_line)
{
    QmpLineBuffer *lb;

    g_return_val_if_fail(max_line > 0, NULL);

    lb = g_new0(QmpLineBuffer, 1);
    lb->buf = g_byte_array_new();
    lb->max_line = max_line;
    return lb;
}

void
qmp_line_buffer_free(QmpLineBuffer *lb)
{
    if (!lb) {
        return;
    }
    g_byte_array_unref(lb->buf);
    g_free(lb);
}

void
qmp_line_buffer_reset(QmpLineBuffer *lb)
{
    g_byte_array_set_size(lb->buf, 0);
    lb->start = 0;
    lb->line_len = 0;
}

gsize
qmp_line_buffer_get_pending(QmpLineBuffer *lb)
{
    return lb->buf->len - lb->start;
}

gboolean
qmp_line_buffer_append(QmpLineBuffer *lb, const char *data, gsize len,
                       GError **error)
{
    /* The cap is what keeps a peer that never sends "\n" (or a 2 GiB
     * reply) from growing this buffer until ipmi_sim - and with it every
     * BMC on the host - is killed for running out of memory.  QMP replies
     * we care about are small; 1 MiB by default leaves room for large
     * query results. */
    const char *p = data;
    const char *end = data + len;
    gsize line_len = lb->line_len;

    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        gsize seg = (nl ? nl : end) - p;

        if (seg > lb->max_line - line_len) {
            g_set_error(error, QMP_PROTO_ERROR, QMP_PROTO_ERROR_OVERSIZED,
                        "QMP line longer than %" G_GSIZE_FORMAT " bytes",
                        lb->max_line);
            return FALSE;
        }
        line_len = nl ? 0 : line_len + seg;
        p = nl ? nl + 1 : end;
    }

    /* Drop what pop() has returned before growing, so the buffer never
     * holds more than the unread lines. */
    if (lb->start > 0) {
        g_byte_array_remove_range(lb->buf, 0, lb->start);
        lb->start = 0;
    }
    g_byte_array_append(lb->buf, (const guint8 *)data, len);
    lb->line_len = line_len;
    return TRUE;
}

char *
qmp_line_buffer_pop(QmpLineBuffer *lb, gsize *len)
{
    const char *line = (const char *)lb->buf->data + lb->start;
    gsize pending = lb->buf->len - lb->start;
    const char *nl;
    gsize n;
    char *out;

    /* Only the unterminated tail is buffered: no need to scan it again. */
    if (pending == lb->line_len) {
        if (pending == 0 && lb->start > 0) {
            qmp_line_buffer_reset(lb);
        }
        return NULL;
    }
    nl = memchr(line, '\n', pending);
    g_assert(nl);

    n = nl - line;
    lb->start += n + 1;
    if (n > 0 && line[n - 1] == '\r') {
        n--;
    }
    /* Not g_strndup(): a stray NUL must reach the parser, not cut the
     * line short into something that might parse. */
    out = g_malloc(n + 1);
    memcpy(out, line, n);
    out[n] = '\0';
    if (len) {
        *len = n;
    }
    return out;
}

/* ---- Messages --------------------------------------------------------- */

static gboolean invalid(GError **error, const char *line, gsize len,
                        const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* Always FALSE, so that checks can "return invalid(...)". */
static gboolean
invalid(GError **error, const char *line, gsize len, const char *fmt, ...)
{
    g_autofree char *raw_why = NULL;
    g_autofree char *why = NULL;
    g_autofree char *head = NULL;
    g_autofree char *quoted = NULL;
    va_list ap;

    va_start(ap, fmt);
    raw_why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* json-glib quotes the peer's decoded text: no newline or invalid
     * UTF-8 from a peer may reach our logs. */
    why = qmp_sanitize_text(raw_why);

    head = g_strndup(line, MIN(len, QMP_EXCERPT_LEN));
    quoted = g_strescape(head, NULL);
    g_set_error(error, QMP_PROTO_ERROR, QMP_PROTO_ERROR_INVALID,
                "invalid QMP message (%s): \"%s%s\"", why, quoted,
                len > QMP_EXCERPT_LEN ? "..." : "");
    return FALSE;
}

char *
qmp_sanitize_text(const char *text)
{
    g_autofree char *valid = g_utf8_make_valid(text, -1);
    char keep[129];

    /* Escape control characters (and quotes, backslashes); keep UTF-8. */
    for (int i = 0; i < 128; i++) {
        keep[i] = (char)(0x80 + i);
    }
    keep[128] = '\0';
    return g_strescape(valid, keep);
}

/* A \uXXXX escape at @p (pointing at the 'u'); -1 if not 4 hex digits. */
static int
unicode_escape(const char *p, const char *end)
{
    int v = 0;

    if (end - p < 5) {
        return -1;
    }
    for (int i = 1; i <= 4; i++) {
        int d = g_ascii_xdigit_value(p[i]);
        if (d < 0) {
            return -1;
        }
        v = v * 16 + d;
    }
    return v;
}

/* json-glib 1.6 leaks on a malformed UTF-16 surrogate pair and lets a lone
 * one through as invalid UTF-8: only whole pairs may pass.  It also reads
 * a short escape ("\ud80\") as the digits it got, eating the next byte,
 * so an escape without 4 hex digits is refused here too.  @p points at
 * the 'u' of an escape.  Returns how many bytes after the backslash the
 * escape (or pair) spans, -1 for a malformed escape or a lone surrogate. */
static int
surrogate_escape_len(const char *p, const char *end)
{
    int hi = unicode_escape(p, end);
    int lo;

    if (hi < 0) {
        return -1;
    }
    if (hi < 0xd800 || hi > 0xdfff) {
        return 1;
    }
    if (hi >= 0xdc00 || end - p < 7 || p[5] != '\\' || p[6] != 'u') {
        return -1;
    }
    lo = unicode_escape(p + 6, end);
    return lo >= 0xdc00 && lo <= 0xdfff ? 11 : -1;
}

static gboolean
is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* What json-glib does not check for us: one object per line (it silently
 * takes the last of "{}{}"), and a bounded nesting depth (see above). */
static gboolean
check_shape(const char *line, gsize len, GError **error)
{
    gsize i = 0;
    guint depth = 0;
    gboolean in_string = FALSE;

    while (i < len && is_json_space(line[i])) {
        i++;
    }
    if (i == len || line[i] != '{') {
        return invalid(error, line, len, "not a JSON object");
    }
    for (; i < len; i++) {
        char c = line[i];

        if (in_string) {
            if (c == '\\') {
                int skip = 1;

                if (i + 1 < len && line[i + 1] == 'u') {
                    skip = surrogate_escape_len(line + i + 1, line + len);
                    if (skip < 0) {
                        return invalid(error, line, len,
                                       "a malformed \\u escape or a lone "
                                       "UTF-16 surrogate");
                    }
                }
                i += (gsize)skip;
            } else if (c == '"') {
                in_string = FALSE;
            }
        } else if (c == '"') {
            in_string = TRUE;
        } else if (c == '{' || c == '[') {
            if (++depth > QMP_MAX_NESTING) {
                return invalid(error, line, len, "nested deeper than %d",
                               QMP_MAX_NESTING);
            }
        } else if (c == '}' || c == ']') {
            /* Unbalanced brackets are json-glib's to report. */
            if (depth > 0 && --depth == 0) {
                break;
            }
        }
    }
    for (i++; i < len; i++) {
        if (!is_json_space(line[i])) {
            return invalid(error, line, len, "data after the JSON object");
        }
    }
    return TRUE;
}

/* Whether every number below @node is finite.  json-glib reads 1e400 as
 * infinity and would write it back as "inf.0", which is not JSON; QEMU
 * never sends such a number.  Nesting is bounded by check_shape(). */
static gboolean
all_finite(JsonNode *node)
{
    if (JSON_NODE_HOLDS_OBJECT(node)) {
        JsonObjectIter iter;
        JsonNode *member;

        json_object_iter_init(&iter, json_node_get_object(node));
        while (json_object_iter_next(&iter, NULL, &member)) {
            if (!all_finite(member)) {
                return FALSE;
            }
        }
    } else if (JSON_NODE_HOLDS_ARRAY(node)) {
        JsonArray *array = json_node_get_array(node);

        for (guint i = 0; i < json_array_get_length(array); i++) {
            if (!all_finite(json_array_get_element(array, i))) {
                return FALSE;
            }
        }
    } else if (JSON_NODE_HOLDS_VALUE(node) &&
               json_node_get_value_type(node) == G_TYPE_DOUBLE) {
        return isfinite(json_node_get_double(node));
    }
    return TRUE;
}

/* QMP event and error class names: letters, digits, '_' and '-'. */
static gboolean
is_identifier(const char *s)
{
    if (!*s) {
        return FALSE;
    }
    for (; *s; s++) {
        if (!g_ascii_isalnum(*s) && *s != '_' && *s != '-') {
            return FALSE;
        }
    }
    return TRUE;
}

/* NULL unless @obj has a string member @name. */
static const char *
get_string(JsonObject *obj, const char *name)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (!node || json_node_get_value_type(node) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(node);
}

/* NULL unless @obj has an object member @name. */
static JsonObject *
get_object(JsonObject *obj, const char *name)
{
    JsonNode *node = json_object_get_member(obj, name);

    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        return NULL;
    }
    return json_node_get_object(node);
}

static void
parse_id(JsonObject *obj, QmpMessage *msg)
{
    JsonNode *node = json_object_get_member(obj, "id");

    /* We only ever send unsigned integer ids; any other id is not ours
     * and the caller treats it like an unknown one. */
    if (node && json_node_get_value_type(node) == G_TYPE_INT64 &&
        json_node_get_int(node) >= 0) {
        msg->has_id = TRUE;
        msg->id = (guint64)json_node_get_int(node);
    }
}

QmpMessage *
qmp_message_parse(const char *line, gsize len, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(QmpMessage) msg = NULL;
    g_autoptr(GError) local_error = NULL;
    JsonObject *obj;

    if (!check_shape(line, len, error)) {
        return NULL;
    }
    parser = json_parser_new();
    if (!json_parser_load_from_data(parser, line, len, &local_error)) {
        invalid(error, line, len, "%s", local_error->message);
        return NULL;
    }

    msg = g_new0(QmpMessage, 1);
    msg->root = json_parser_steal_root(parser);
    if (!msg->root || !JSON_NODE_HOLDS_OBJECT(msg->root)) {
        invalid(error, line, len, "not a JSON object");
        return NULL;
    }
    if (!all_finite(msg->root)) {
        invalid(error, line, len, "a number out of range");
        return NULL;
    }
    obj = json_node_get_object(msg->root);

    if (json_object_has_member(obj, "QMP")) {
        msg->kind = QMP_MESSAGE_GREETING;
        msg->greeting = get_object(obj, "QMP");
        if (!msg->greeting) {
            invalid(error, line, len, "\"QMP\" is not an object");
            return NULL;
        }
    } else if (json_object_has_member(obj, "event")) {
        JsonNode *data = json_object_get_member(obj, "data");

        msg->kind = QMP_MESSAGE_EVENT;
        msg->event = get_string(obj, "event");
        if (!msg->event || !is_identifier(msg->event)) {
            invalid(error, line, len, "\"event\" is not a QMP event name");
            return NULL;
        }
        if (data && !JSON_NODE_HOLDS_NULL(data)) {
            msg->data = get_object(obj, "data");
            if (!msg->data) {
                invalid(error, line, len, "event \"data\" is not an object");
                return NULL;
            }
        }
    } else if (json_object_has_member(obj, "return")) {
        msg->kind = QMP_MESSAGE_RETURN;
        msg->ret = json_object_get_member(obj, "return");
        parse_id(obj, msg);
    } else if (json_object_has_member(obj, "error")) {
        JsonObject *err = get_object(obj, "error");

        msg->kind = QMP_MESSAGE_ERROR;
        msg->error_class = err ? get_string(err, "class") : NULL;
        msg->error_desc = err ? get_string(err, "desc") : NULL;
        if (!msg->error_class || !msg->error_desc ||
            !is_identifier(msg->error_class)) {
            invalid(error, line, len,
                    "\"error\" lacks a string \"class\" or \"desc\"");
            return NULL;
        }
        parse_id(obj, msg);
    } else {
        invalid(error, line, len,
                "neither a greeting, an event, a return nor an error");
        return NULL;
    }
    return g_steal_pointer(&msg);
}

void
qmp_message_free(QmpMessage *msg)
{
    if (!msg) {
        return;
    }
    if (msg->root) {
        json_node_unref(msg->root);
    }
    g_free(msg);
}

const char *
qmp_message_kind_name(QmpMessageKind kind)
{
    switch (kind) {
    case QMP_MESSAGE_GREETING:
        return "greeting";
    case QMP_MESSAGE_EVENT:
        return "event";
    case QMP_MESSAGE_RETURN:
        return "return";
    case QMP_MESSAGE_ERROR:
        return "error";
    }
    return "unknown";
}

char *
qmp_command_serialize(const char *command, JsonObject *args, guint64 id,
                      gsize *len)
{
    g_autoptr(JsonObject) cmd = json_object_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    char *line;

    g_return_val_if_fail(command && *command, NULL);
    g_return_val_if_fail(id <= G_MAXINT64, NULL);

    json_object_set_string_member(cmd, "execute", command);
    if (args) {
        json_object_set_object_member(cmd, "arguments", json_object_ref(args));
    }
    json_object_set_int_member(cmd, "id", (gint64)id);
    root = json_node_init_object(json_node_alloc(), cmd);

    text = json_to_string(root, FALSE);
    line = g_strconcat(text, "\n", NULL);
    if (len) {
        *len = strlen(line);
    }
    return line;
}
