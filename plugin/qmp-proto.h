/*
 * qmp-proto.h - QMP framing and message classification, with no I/O.
 *
 * QMP is one JSON object per line.  QmpLineBuffer turns the byte stream
 * into lines; qmp_message_parse() sorts one line into greeting, event,
 * return or error; qmp_command_serialize() builds one command line.  The
 * connection, ids and timeouts live in qmp-client.c.
 */
#pragma once

#include <json-glib/json-glib.h>

#define QMP_PROTO_ERROR (qmp_proto_error_quark())
GQuark qmp_proto_error_quark(void);

typedef enum {
    QMP_PROTO_ERROR_OVERSIZED, /* a line longer than the buffer's cap */
    QMP_PROTO_ERROR_INVALID,   /* not JSON, or not a QMP message */
} QmpProtoError;

/* ---- Framing ---------------------------------------------------------- */

typedef struct QmpLineBuffer QmpLineBuffer;

/* @max_line caps the length of one line (without its "\n"). */
QmpLineBuffer *qmp_line_buffer_new(gsize max_line);
void qmp_line_buffer_free(QmpLineBuffer *lb);
/* Forget everything buffered, e.g. when the connection is dropped. */
void qmp_line_buffer_reset(QmpLineBuffer *lb);
/* Append bytes as read from the peer.  Fails with QMP_PROTO_ERROR_OVERSIZED
 * (and buffers nothing of @data) if a line, complete or not, would exceed
 * the cap; the stream cannot be resynchronised then, so reset or drop the
 * buffer. */
gboolean qmp_line_buffer_append(QmpLineBuffer *lb, const char *data, gsize len,
                                GError **error);
/* The next complete line without its "\n" or a trailing "\r", NUL
 * terminated, length in @len (may be NULL); NULL if no full line yet. */
char *qmp_line_buffer_pop(QmpLineBuffer *lb, gsize *len);
/* Bytes buffered and not yet returned by qmp_line_buffer_pop(). */
gsize qmp_line_buffer_get_pending(QmpLineBuffer *lb);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpLineBuffer, qmp_line_buffer_free)

/* ---- Messages --------------------------------------------------------- */

typedef enum {
    QMP_MESSAGE_GREETING, /* {"QMP": {...}} */
    QMP_MESSAGE_EVENT,    /* {"event": "NAME", "data": {...}, ...} */
    QMP_MESSAGE_RETURN,   /* {"return": ..., "id": N} */
    QMP_MESSAGE_ERROR,    /* {"error": {"class": ..., "desc": ...}, "id": N} */
} QmpMessageKind;

/* Pointers are borrowed from @root and live as long as the message. */
typedef struct {
    QmpMessageKind kind;
    JsonNode *root;

    JsonObject *greeting; /* GREETING: the "QMP" member */

    const char *event; /* EVENT: its name */
    JsonObject *data;  /* EVENT: "data", or NULL when absent */

    gboolean has_id; /* RETURN/ERROR: "id" is an unsigned integer */
    guint64 id;
    JsonNode *ret;           /* RETURN: the "return" member */
    const char *error_class; /* ERROR */
    const char *error_desc;  /* ERROR */
} QmpMessage;

/* Parse and classify one line.  Anything else - bad JSON, trailing data, a
 * non-object, too deep a nesting, an unknown shape - returns NULL with
 * QMP_PROTO_ERROR_INVALID. */
QmpMessage *qmp_message_parse(const char *line, gsize len, GError **error);
void qmp_message_free(QmpMessage *msg);
const char *qmp_message_kind_name(QmpMessageKind kind);

/* A peer's text made safe for one log line: valid UTF-8, control
 * characters, quotes and backslashes escaped.  Free with g_free(). */
char *qmp_sanitize_text(const char *text);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpMessage, qmp_message_free)

/* {"execute": @command, "arguments": @args, "id": @id} followed by "\n".
 * @args may be NULL and is not consumed.  Never contains another newline,
 * since JSON escapes them inside strings. */
char *qmp_command_serialize(const char *command, JsonObject *args, guint64 id,
                            gsize *len);
