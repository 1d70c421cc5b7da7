/*
 * fuzz-xmlrpc.c - a hostile or broken supervisord: the whole HTTP response
 * through xmlrpc_parse_http_response() and xmlrpc_parse_response(), then
 * every value reached the way supervisor-client.c reads it.
 *
 * A mutated body rarely keeps its Content-Length right, so most inputs
 * would stop at the HTTP layer.  When that layer refuses the input, the
 * bytes after its first CRLF CRLF still go to the XML-RPC parser on their
 * own: the XML grammar gets fuzzed either way.
 */
#include "config.h"

#include "fuzz-common.h"
#include "xmlrpc.h"

/* Names supervisor-client.c looks up, plus a few that are not there. */
static const char *const member_names[] = {
    "name",      "group",       "state",       "statename",  "pid",
    "start",     "stop",        "now",         "exitstatus", "spawnerr",
    "faultCode", "faultString", "description", "",           "nosuch",
};

static void
check_error(const GError *error)
{
    FUZZ_CHECK(error != NULL);
    FUZZ_CHECK(error->domain == XMLRPC_ERROR || error->domain == XMLRPC_FAULT);
    /* Logged by the plugin: GMarkup's quotes of bad bytes are made valid
     * in xmlrpc.c, and a faultString comes out of the (UTF-8) parser. */
    FUZZ_CHECK(g_utf8_validate(error->message, -1, NULL));
}

static guint
walk(const XmlRpcValue *value, guint depth)
{
    gint64 n = 0;
    gboolean b = FALSE;
    guint visited = 1;
    XmlRpcType type = xmlrpc_value_get_type(value);

    /* Each getter answers only for its own type. */
    FUZZ_CHECK(xmlrpc_value_get_int(value, &n) == (type == XMLRPC_TYPE_INT));
    FUZZ_CHECK(xmlrpc_value_get_boolean(value, &b) ==
               (type == XMLRPC_TYPE_BOOLEAN));
    FUZZ_CHECK((xmlrpc_value_get_string(value) != NULL) ==
               (type == XMLRPC_TYPE_STRING));
    if (type == XMLRPC_TYPE_STRING) {
        FUZZ_CHECK(g_utf8_validate(xmlrpc_value_get_string(value), -1, NULL));
    }
    if (type == XMLRPC_TYPE_BOOLEAN) {
        FUZZ_CHECK(b == TRUE || b == FALSE);
    }
    /* The tree cannot be deeper than the element nesting cap. */
    FUZZ_CHECK(depth < 64);

    if (type == XMLRPC_TYPE_ARRAY) {
        guint len = xmlrpc_value_get_length(value);

        for (guint i = 0; i < len; i++) {
            const XmlRpcValue *item = xmlrpc_value_get_index(value, i);

            FUZZ_CHECK(item != NULL);
            visited += walk(item, depth + 1);
        }
        FUZZ_CHECK(xmlrpc_value_get_index(value, len) == NULL);
        FUZZ_CHECK(xmlrpc_value_get_index(value, G_MAXUINT) == NULL);
    } else {
        FUZZ_CHECK(xmlrpc_value_get_length(value) == 0);
        FUZZ_CHECK(xmlrpc_value_get_index(value, 0) == NULL);
    }

    for (gsize i = 0; i < G_N_ELEMENTS(member_names); i++) {
        const XmlRpcValue *member = xmlrpc_value_lookup(value, member_names[i]);
        g_autoptr(GError) error = NULL;
        gboolean ok;

        if (type != XMLRPC_TYPE_STRUCT) {
            FUZZ_CHECK(member == NULL);
        }
        ok = xmlrpc_value_lookup_int(value, member_names[i], &n, &error);
        FUZZ_CHECK(
            ok == (member && xmlrpc_value_get_type(member) == XMLRPC_TYPE_INT));
        if (!ok) {
            check_error(error);
        }
        if (member) {
            visited += walk(member, depth + 1);
        }
    }
    return visited;
}

static void
parse_body(const char *body, gsize len)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlRpcValue) value = xmlrpc_parse_response(body, len, &error);

    if (!value) {
        check_error(error);
        return;
    }
    FUZZ_CHECK(error == NULL);
    walk(value, 0);
    /* Getters take NULL, as the chained lookups in the client rely on. */
    FUZZ_CHECK(xmlrpc_value_lookup(NULL, "pid") == NULL);
    FUZZ_CHECK(xmlrpc_value_get_string(NULL) == NULL);
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
    /* Exactly @size bytes on the heap: no NUL after them to lean on. */
    g_autofree char *copy = (char *)fuzz_exact_copy(data, size);
    g_autoptr(GError) error = NULL;
    const char *body = NULL;
    gsize body_len = 0;

    if (xmlrpc_parse_http_response(copy, size, &body, &body_len, &error)) {
        FUZZ_CHECK(error == NULL);
        FUZZ_CHECK(body >= copy && body <= copy + size);
        FUZZ_CHECK(body + body_len == copy + size);
        parse_body(body, body_len);
        return 0;
    }
    check_error(error);
    FUZZ_CHECK(error->domain == XMLRPC_ERROR);
    if (size > XMLRPC_MAX_RESPONSE) {
        FUZZ_CHECK(error->code == XMLRPC_ERROR_TOO_LARGE);
    }

    body = memmem(copy, size, "\r\n\r\n", 4);
    if (body) {
        body += 4;
        parse_body(body, copy + size - body);
    } else {
        parse_body(copy, size);
    }
    return 0;
}
