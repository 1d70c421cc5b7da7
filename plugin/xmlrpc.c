/*
 * xmlrpc.c - XML-RPC over HTTP/1.0 framing and parsing, with no I/O.
 *
 * Responses are parsed in two steps: GMarkup builds a small element tree,
 * then the tree is checked against the XML-RPC grammar and turned into
 * XmlRpcValues.  Keeping the grammar out of the GMarkup callbacks lets each
 * rule be written once, where the whole element is known.
 */
#include "config.h"

#include <string.h>

#include "xmlrpc.h"

G_DEFINE_QUARK(qemu_bmc_xmlrpc_error, xmlrpc_error)
G_DEFINE_QUARK(qemu_bmc_xmlrpc_fault, xmlrpc_fault)

/*
 * Deepest element nesting accepted.  supervisord's answers nest at most
 * about 8 deep; the cap keeps the recursive tree walk's stack use small
 * whatever the peer sends.
 */
#define XMLRPC_MAX_DEPTH 32

/* --- Requests --- */

static void
append_escaped(GString *out, const char *text)
{
    /* A request must be well-formed XML whatever the caller passes in. */
    g_autofree char *valid = g_utf8_make_valid(text, -1);
    g_autofree char *escaped = g_markup_escape_text(valid, -1);

    g_string_append(out, escaped);
}

char *
xmlrpc_build_call(const char *method, const XmlRpcParam *params, gsize n_params)
{
    GString *out = g_string_new("<?xml version=\"1.0\"?>\n<methodCall>\n");

    g_string_append(out, "<methodName>");
    append_escaped(out, method);
    g_string_append(out, "</methodName>\n<params>\n");
    for (gsize i = 0; i < n_params; i++) {
        g_string_append(out, "<param><value>");
        switch (params[i].type) {
        case XMLRPC_PARAM_STRING:
            g_string_append(out, "<string>");
            append_escaped(out, params[i].string ? params[i].string : "");
            g_string_append(out, "</string>");
            break;
        case XMLRPC_PARAM_BOOLEAN:
            g_string_append_printf(out, "<boolean>%d</boolean>",
                                   params[i].boolean ? 1 : 0);
            break;
        }
        g_string_append(out, "</value></param>\n");
    }
    g_string_append(out, "</params>\n</methodCall>\n");
    return g_string_free(out, FALSE);
}

char *
xmlrpc_build_http_request(const char *body)
{
    return g_strdup_printf("POST /RPC2 HTTP/1.0\r\n"
                           "Host: localhost\r\n"
                           "Content-Type: text/xml\r\n"
                           "Content-Length: %zu\r\n"
                           "Connection: close\r\n"
                           "\r\n"
                           "%s",
                           strlen(body), body);
}

/* --- HTTP responses --- */

/* The blank line ending the headers in [p, end), or NULL. */
static const char *
find_headers_end(const char *p, const char *end)
{
    for (; end - p >= 4; p++) {
        if (memcmp(p, "\r\n\r\n", 4) == 0) {
            return p;
        }
    }
    return NULL;
}

/* The first CRLF in [p, end), or NULL. */
static const char *
find_crlf(const char *p, const char *end)
{
    for (; p + 1 < end; p++) {
        if (p[0] == '\r' && p[1] == '\n') {
            return p;
        }
    }
    return NULL;
}

static gboolean
parse_status_line(const char *line, gsize len, GError **error)
{
    guint status = 0;

    /* "HTTP/1.x NNN reason" */
    if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
        !g_ascii_isdigit(line[7]) || line[8] != ' ' ||
        !g_ascii_isdigit(line[9]) || !g_ascii_isdigit(line[10]) ||
        !g_ascii_isdigit(line[11]) || (len > 12 && line[12] != ' ')) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_HTTP,
                    "Not an HTTP/1.x status line");
        return FALSE;
    }
    for (int i = 9; i < 12; i++) {
        status = status * 10 + (guint)(line[i] - '0');
    }
    if (status != 200) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_HTTP_STATUS,
                    "HTTP status %u", status);
        return FALSE;
    }
    return TRUE;
}

/* Parse one "Name: value" header line, noting Content-Length. */
static gboolean
parse_header(const char *line, gsize len, gssize *content_length,
             GError **error)
{
    const char *colon = memchr(line, ':', len);
    g_autofree char *name = NULL;
    g_autofree char *value = NULL;

    if (!colon || colon == line) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_HTTP,
                    "Malformed HTTP header line");
        return FALSE;
    }
    name = g_strndup(line, colon - line);
    value = g_strstrip(g_strndup(colon + 1, len - (colon + 1 - line)));

    if (g_ascii_strcasecmp(name, "Content-Length") == 0) {
        guint64 n;

        if (*content_length >= 0) {
            g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_HTTP,
                        "Duplicate Content-Length header");
            return FALSE;
        }
        if (!g_ascii_string_to_unsigned(value, 10, 0, G_MAXSSIZE, &n, NULL)) {
            g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_HTTP,
                        "Invalid Content-Length header");
            return FALSE;
        }
        *content_length = (gssize)n;
    } else if (g_ascii_strcasecmp(name, "Transfer-Encoding") == 0) {
        /* Not used in answers to HTTP/1.0 requests; refuse rather than
         * misread a chunked body. */
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_HTTP,
                    "Unsupported Transfer-Encoding in HTTP response");
        return FALSE;
    }
    return TRUE;
}

gboolean
xmlrpc_parse_http_response(const char *data, gsize len, const char **body,
                           gsize *body_len, GError **error)
{
    const char *end = data + len;
    const char *headers_end;
    const char *line;
    const char *eol;
    gssize content_length = -1;
    gsize avail;

    if (len > XMLRPC_MAX_RESPONSE) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_TOO_LARGE,
                    "HTTP response larger than %d bytes", XMLRPC_MAX_RESPONSE);
        return FALSE;
    }
    headers_end = find_headers_end(data, end);
    if (!headers_end) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_HTTP,
                    len ? "HTTP response ends inside its headers"
                        : "Empty HTTP response");
        return FALSE;
    }

    eol = find_crlf(data, headers_end + 2);
    if (!parse_status_line(data, eol - data, error)) {
        return FALSE;
    }
    for (line = eol + 2; line < headers_end + 2; line = eol + 2) {
        eol = find_crlf(line, headers_end + 2);
        if (!parse_header(line, eol - line, &content_length, error)) {
            return FALSE;
        }
    }

    *body = headers_end + 4;
    avail = end - *body;
    if (content_length >= 0 && (gsize)content_length != avail) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_HTTP,
                    avail < (gsize)content_length
                        ? "HTTP body truncated: %zu of %zd bytes"
                        : "HTTP body is %zu bytes, Content-Length says %zd",
                    avail, content_length);
        return FALSE;
    }
    *body_len = avail;
    return TRUE;
}

/* --- Values --- */

struct XmlRpcValue {
    XmlRpcType type;
    gint64 integer;
    gboolean boolean;
    char *string;
    GPtrArray *items;   /* XmlRpcValue*, arrays */
    GPtrArray *members; /* XmlRpcMember*, structs, in document order */
};

typedef struct {
    char *name;
    XmlRpcValue *value;
} XmlRpcMember;

static void
xmlrpc_member_free(gpointer p)
{
    XmlRpcMember *member = p;

    g_free(member->name);
    xmlrpc_value_free(member->value);
    g_free(member);
}

static XmlRpcValue *
xmlrpc_value_new(XmlRpcType type)
{
    XmlRpcValue *value = g_new0(XmlRpcValue, 1);

    value->type = type;
    if (type == XMLRPC_TYPE_ARRAY) {
        value->items =
            g_ptr_array_new_with_free_func((GDestroyNotify)xmlrpc_value_free);
    } else if (type == XMLRPC_TYPE_STRUCT) {
        value->members = g_ptr_array_new_with_free_func(xmlrpc_member_free);
    }
    return value;
}

void
xmlrpc_value_free(XmlRpcValue *value)
{
    if (!value) {
        return;
    }
    g_free(value->string);
    if (value->items) {
        g_ptr_array_unref(value->items);
    }
    if (value->members) {
        g_ptr_array_unref(value->members);
    }
    g_free(value);
}

XmlRpcType
xmlrpc_value_get_type(const XmlRpcValue *value)
{
    return value->type;
}

gboolean
xmlrpc_value_get_int(const XmlRpcValue *value, gint64 *out)
{
    if (!value || value->type != XMLRPC_TYPE_INT) {
        return FALSE;
    }
    *out = value->integer;
    return TRUE;
}

gboolean
xmlrpc_value_get_boolean(const XmlRpcValue *value, gboolean *out)
{
    if (!value || value->type != XMLRPC_TYPE_BOOLEAN) {
        return FALSE;
    }
    *out = value->boolean;
    return TRUE;
}

const char *
xmlrpc_value_get_string(const XmlRpcValue *value)
{
    if (!value || value->type != XMLRPC_TYPE_STRING) {
        return NULL;
    }
    return value->string;
}

guint
xmlrpc_value_get_length(const XmlRpcValue *value)
{
    if (!value || value->type != XMLRPC_TYPE_ARRAY) {
        return 0;
    }
    return value->items->len;
}

const XmlRpcValue *
xmlrpc_value_get_index(const XmlRpcValue *value, guint index)
{
    if (index >= xmlrpc_value_get_length(value)) {
        return NULL;
    }
    return g_ptr_array_index(value->items, index);
}

const XmlRpcValue *
xmlrpc_value_lookup(const XmlRpcValue *value, const char *name)
{
    if (!value || value->type != XMLRPC_TYPE_STRUCT) {
        return NULL;
    }
    for (guint i = 0; i < value->members->len; i++) {
        XmlRpcMember *member = g_ptr_array_index(value->members, i);
        if (strcmp(member->name, name) == 0) {
            return member->value;
        }
    }
    return NULL;
}

gboolean
xmlrpc_value_lookup_int(const XmlRpcValue *value, const char *name, gint64 *out,
                        GError **error)
{
    if (!xmlrpc_value_get_int(xmlrpc_value_lookup(value, name), out)) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC struct has no int member '%s'", name);
        return FALSE;
    }
    return TRUE;
}

/* --- XML element tree --- */

typedef struct XmlNode XmlNode;
struct XmlNode {
    char *name;
    GString *text;
    GPtrArray *children; /* XmlNode*, owned */
    XmlNode *parent;
    guint depth;
};

static XmlNode *
xml_node_new(const char *name, XmlNode *parent)
{
    XmlNode *node = g_new0(XmlNode, 1);

    node->name = g_strdup(name);
    node->text = g_string_new(NULL);
    node->children = g_ptr_array_new();
    node->parent = parent;
    node->depth = parent ? parent->depth + 1 : 0;
    if (parent) {
        g_ptr_array_add(parent->children, node);
    }
    return node;
}

static void
xml_node_free(XmlNode *node)
{
    if (!node) {
        return;
    }
    for (guint i = 0; i < node->children->len; i++) {
        xml_node_free(g_ptr_array_index(node->children, i));
    }
    g_ptr_array_unref(node->children);
    g_string_free(node->text, TRUE);
    g_free(node->name);
    g_free(node);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XmlNode, xml_node_free)

static void
tree_start_element(GMarkupParseContext *ctx, const char *element,
                   const char **attr_names, const char **attr_values,
                   gpointer user_data, GError **error)
{
    XmlNode **current = user_data;

    if ((*current)->depth >= XMLRPC_MAX_DEPTH) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC response nested deeper than %d elements",
                    XMLRPC_MAX_DEPTH);
        return;
    }
    *current = xml_node_new(element, *current);
}

static void
tree_end_element(GMarkupParseContext *ctx, const char *element,
                 gpointer user_data, GError **error)
{
    XmlNode **current = user_data;

    *current = (*current)->parent;
}

static void
tree_text(GMarkupParseContext *ctx, const char *text, gsize len,
          gpointer user_data, GError **error)
{
    XmlNode **current = user_data;

    g_string_append_len((*current)->text, text, len);
}

static const GMarkupParser tree_parser = {
    .start_element = tree_start_element,
    .end_element = tree_end_element,
    .text = tree_text,
};

/* Parse @body into a tree under a nameless document node. */
static XmlNode *
xml_parse_tree(const char *body, gsize len, GError **error)
{
    g_autoptr(XmlNode) doc = xml_node_new("", NULL);
    XmlNode *current = doc;
    g_autoptr(GMarkupParseContext) ctx = g_markup_parse_context_new(
        &tree_parser, G_MARKUP_TREAT_CDATA_AS_TEXT, &current, NULL);
    g_autoptr(GError) local = NULL;

    if (!g_markup_parse_context_parse(ctx, body, len, &local) ||
        !g_markup_parse_context_end_parse(ctx, &local)) {
        if (local->domain == XMLRPC_ERROR) {
            g_propagate_error(error, g_steal_pointer(&local));
        } else {
            /* GMarkup quotes offending bytes, which may not be UTF-8. */
            g_autofree char *why = g_utf8_make_valid(local->message, -1);

            g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                        "Malformed XML-RPC response: %s", why);
        }
        return NULL;
    }
    return g_steal_pointer(&doc);
}

/* --- Tree to values --- */

static gboolean
only_whitespace(const GString *text)
{
    for (gsize i = 0; i < text->len; i++) {
        if (!g_ascii_isspace(text->str[i])) {
            return FALSE;
        }
    }
    return TRUE;
}

/* @node must be a <@name> element whose text is only whitespace. */
static gboolean
check_container(const XmlNode *node, const char *name, GError **error)
{
    if (strcmp(node->name, name) != 0) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: expected <%s>, found <%s>", name, node->name);
        return FALSE;
    }
    if (!only_whitespace(node->text)) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: unexpected text in <%s>", name);
        return FALSE;
    }
    return TRUE;
}

/* The single child of @node, which must be a <@name> container. */
static const XmlNode *
only_child(const XmlNode *node, const char *name, GError **error)
{
    const XmlNode *child;

    if (node->children->len != 1) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: <%s> must hold exactly one <%s>",
                    node->name[0] ? node->name : "document", name);
        return NULL;
    }
    child = g_ptr_array_index(node->children, 0);
    if (!check_container(child, name, error)) {
        return NULL;
    }
    return child;
}

static gboolean
check_leaf(const XmlNode *node, GError **error)
{
    if (node->children->len != 0) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: <%s> must not hold elements", node->name);
        return FALSE;
    }
    return TRUE;
}

static XmlRpcValue *value_from_node(const XmlNode *node, GError **error);

static XmlRpcValue *
int_from_node(const XmlNode *node, GError **error)
{
    g_autofree char *text = g_strstrip(g_strdup(node->text->str));
    XmlRpcValue *value;
    gint64 n;

    /* XML-RPC ints are 32 bits; wider values are accepted like Python's
     * xmlrpc.client does, since they are unambiguous. */
    if (!check_leaf(node, error)) {
        return NULL;
    }
    if (!g_ascii_string_to_signed(text, 10, G_MININT64, G_MAXINT64, &n, NULL)) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: invalid <%s> value", node->name);
        return NULL;
    }
    value = xmlrpc_value_new(XMLRPC_TYPE_INT);
    value->integer = n;
    return value;
}

static XmlRpcValue *
boolean_from_node(const XmlNode *node, GError **error)
{
    g_autofree char *text = g_strstrip(g_strdup(node->text->str));
    XmlRpcValue *value;

    if (!check_leaf(node, error)) {
        return NULL;
    }
    if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: <boolean> must be 0 or 1");
        return NULL;
    }
    value = xmlrpc_value_new(XMLRPC_TYPE_BOOLEAN);
    value->boolean = text[0] == '1';
    return value;
}

static XmlRpcValue *
string_from_node(const XmlNode *node, GError **error)
{
    XmlRpcValue *value;

    if (!check_leaf(node, error)) {
        return NULL;
    }
    value = xmlrpc_value_new(XMLRPC_TYPE_STRING);
    value->string = g_strdup(node->text->str);
    return value;
}

static XmlRpcValue *
array_from_node(const XmlNode *node, GError **error)
{
    const XmlNode *data;
    g_autoptr(XmlRpcValue) array = NULL;

    if (!check_container(node, "array", error) ||
        !(data = only_child(node, "data", error))) {
        return NULL;
    }
    array = xmlrpc_value_new(XMLRPC_TYPE_ARRAY);
    for (guint i = 0; i < data->children->len; i++) {
        XmlRpcValue *item = value_from_node(data->children->pdata[i], error);
        if (!item) {
            return NULL;
        }
        g_ptr_array_add(array->items, item);
    }
    return g_steal_pointer(&array);
}

static XmlRpcValue *
struct_from_node(const XmlNode *node, GError **error)
{
    g_autoptr(XmlRpcValue) st = NULL;

    if (!check_container(node, "struct", error)) {
        return NULL;
    }
    st = xmlrpc_value_new(XMLRPC_TYPE_STRUCT);
    for (guint i = 0; i < node->children->len; i++) {
        const XmlNode *member = node->children->pdata[i];
        const XmlNode *name;
        XmlRpcMember *m;
        XmlRpcValue *value;

        if (!check_container(member, "member", error)) {
            return NULL;
        }
        if (member->children->len != 2 ||
            strcmp(((XmlNode *)member->children->pdata[0])->name, "name") !=
                0) {
            g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                        "XML-RPC: <member> must hold <name> then <value>");
            return NULL;
        }
        name = member->children->pdata[0];
        if (!check_leaf(name, error)) {
            return NULL;
        }
        value = value_from_node(member->children->pdata[1], error);
        if (!value) {
            return NULL;
        }
        m = g_new0(XmlRpcMember, 1);
        m->name = g_strdup(name->text->str);
        m->value = value;
        g_ptr_array_add(st->members, m);
    }
    return g_steal_pointer(&st);
}

static XmlRpcValue *
value_from_node(const XmlNode *node, GError **error)
{
    const XmlNode *typed;

    if (strcmp(node->name, "value") != 0) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: expected <value>, found <%s>", node->name);
        return NULL;
    }
    if (node->children->len == 0) {
        return string_from_node(node, error);
    }
    if (node->children->len != 1 || !only_whitespace(node->text)) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: <value> must hold one typed element or text");
        return NULL;
    }
    typed = g_ptr_array_index(node->children, 0);
    if (strcmp(typed->name, "int") == 0 || strcmp(typed->name, "i4") == 0) {
        return int_from_node(typed, error);
    } else if (strcmp(typed->name, "boolean") == 0) {
        return boolean_from_node(typed, error);
    } else if (strcmp(typed->name, "string") == 0) {
        return string_from_node(typed, error);
    } else if (strcmp(typed->name, "array") == 0) {
        return array_from_node(typed, error);
    } else if (strcmp(typed->name, "struct") == 0) {
        return struct_from_node(typed, error);
    }
    g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                "XML-RPC: unsupported value type <%s>", typed->name);
    return NULL;
}

/* Turn a <fault><value><struct> into an XMLRPC_FAULT error. */
static void
set_fault(const XmlNode *fault, GError **error)
{
    const XmlNode *value_node;
    g_autoptr(XmlRpcValue) value = NULL;
    const char *message;
    gint64 code;

    if (!(value_node = only_child(fault, "value", error)) ||
        !(value = value_from_node(value_node, error))) {
        return;
    }
    message =
        xmlrpc_value_get_string(xmlrpc_value_lookup(value, "faultString"));
    if (!xmlrpc_value_lookup_int(value, "faultCode", &code, error)) {
        return;
    }
    if (!message || code < G_MININT || code > G_MAXINT) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: malformed <fault>");
        return;
    }
    g_set_error_literal(error, XMLRPC_FAULT, (gint)code, message);
}

XmlRpcValue *
xmlrpc_parse_response(const char *body, gsize len, GError **error)
{
    g_autoptr(XmlNode) doc = xml_parse_tree(body, len, error);
    const XmlNode *response;
    const XmlNode *node;

    if (!doc || !(response = only_child(doc, "methodResponse", error))) {
        return NULL;
    }
    if (response->children->len == 1 &&
        strcmp(((XmlNode *)response->children->pdata[0])->name, "fault") == 0) {
        node = response->children->pdata[0];
        if (check_container(node, "fault", error)) {
            set_fault(node, error);
        }
        return NULL;
    }
    if (!(node = only_child(response, "params", error)) ||
        !(node = only_child(node, "param", error))) {
        return NULL;
    }
    if (node->children->len != 1) {
        g_set_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE,
                    "XML-RPC: <param> must hold exactly one <value>");
        return NULL;
    }
    return value_from_node(node->children->pdata[0], error);
}
