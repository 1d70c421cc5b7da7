/*
 * test-xmlrpc.c - XML-RPC request building and response parsing.
 *
 * xmlrpc.c does no I/O, so these tests need no sockets or temp dirs.  The
 * SUPERVISORD_* fixtures are whole HTTP responses captured from a real
 * supervisord (see supervisord-fixtures.h).
 */
#include "config.h"

#include <string.h>

#include "supervisord-fixtures.h"
#include "xmlrpc.h"

/* Parse a whole HTTP response down to its value. */
static XmlRpcValue *
parse_all(const char *response, GError **error)
{
    const char *body = NULL;
    gsize body_len = 0;

    if (!xmlrpc_parse_http_response(response, strlen(response), &body,
                                    &body_len, error)) {
        return NULL;
    }
    return xmlrpc_parse_response(body, body_len, error);
}

static XmlRpcValue *
parse_body(const char *body, GError **error)
{
    return xmlrpc_parse_response(body, strlen(body), error);
}

/* --- Requests --- */

static void
test_build_call_string(void)
{
    XmlRpcParam params[] = {XMLRPC_PARAM_STR("qemu")};
    g_autofree char *body =
        xmlrpc_build_call("supervisor.getProcessInfo", params, 1);

    g_assert_cmpstr(body, ==,
                    "<?xml version=\"1.0\"?>\n"
                    "<methodCall>\n"
                    "<methodName>supervisor.getProcessInfo</methodName>\n"
                    "<params>\n"
                    "<param><value><string>qemu</string></value></param>\n"
                    "</params>\n"
                    "</methodCall>\n");
}

static void
test_build_call_boolean(void)
{
    XmlRpcParam params[] = {
        XMLRPC_PARAM_STR("qemu"),
        XMLRPC_PARAM_BOOL(FALSE),
        XMLRPC_PARAM_BOOL(TRUE),
    };
    g_autofree char *body =
        xmlrpc_build_call("supervisor.startProcess", params, 3);

    g_assert_nonnull(
        strstr(body, "<param><value><string>qemu</string></value></param>\n"
                     "<param><value><boolean>0</boolean></value></param>\n"
                     "<param><value><boolean>1</boolean></value></param>\n"));
}

static void
test_build_call_no_params(void)
{
    g_autofree char *body = xmlrpc_build_call("supervisor.getState", NULL, 0);

    g_assert_nonnull(strstr(body, "<params>\n</params>\n"));
}

static void
test_build_call_escaping(void)
{
    XmlRpcParam params[] = {XMLRPC_PARAM_STR("a<b>&\"c'd")};
    g_autofree char *body = xmlrpc_build_call("x&y<z>", params, 1);

    g_assert_nonnull(strstr(body, "<methodName>x&amp;y&lt;z&gt;</methodName>"));
    g_assert_nonnull(
        strstr(body, "<string>a&lt;b&gt;&amp;&quot;c&apos;d</string>"));
    /* Whatever the caller passes, the document stays well-formed. */
    g_assert_true(g_utf8_validate(body, -1, NULL));
}

static void
test_build_call_invalid_utf8(void)
{
    XmlRpcParam params[] = {XMLRPC_PARAM_STR("q\xff"
                                             "emu")};
    g_autofree char *body = xmlrpc_build_call("m", params, 1);

    g_assert_true(g_utf8_validate(body, -1, NULL));
}

static void
test_build_http_request(void)
{
    g_autofree char *req = xmlrpc_build_http_request("<x>\xc3\xa9</x>\n");

    /* Content-Length counts bytes, not characters. */
    g_assert_cmpstr(req, ==,
                    "POST /RPC2 HTTP/1.0\r\n"
                    "Host: localhost\r\n"
                    "Content-Type: text/xml\r\n"
                    "Content-Length: 10\r\n"
                    "Connection: close\r\n"
                    "\r\n"
                    "<x>\xc3\xa9</x>\n");
}

/* --- HTTP framing --- */

static void
assert_http_error(const char *response, gsize len, int code)
{
    g_autoptr(GError) error = NULL;
    const char *body = NULL;
    gsize body_len = 0;

    g_assert_false(
        xmlrpc_parse_http_response(response, len, &body, &body_len, &error));
    g_assert_error(error, XMLRPC_ERROR, code);
    g_test_message("%s", error->message);
}

/* The first @len bytes of @response are a whole, well-framed response:
 * returns its body, @body_len bytes long. */
static const char *
assert_http_ok(const char *response, gsize len, gsize *body_len)
{
    g_autoptr(GError) error = NULL;
    const char *body = NULL;

    g_assert_true(
        xmlrpc_parse_http_response(response, len, &body, body_len, &error));
    g_assert_no_error(error);
    return body;
}

static void
test_http_ok(void)
{
    gsize body_len = 0;
    const char *body =
        assert_http_ok(SUPERVISORD_START, strlen(SUPERVISORD_START), &body_len);

    g_assert_cmpuint(body_len, ==, 129);
    g_assert_true(g_str_has_prefix(body, "<?xml version='1.0'?>\n"));
}

/* A well-framed response, for the test's data, and the body it frames. */
typedef struct {
    const char *response;
    const char *body;
} HttpCase;

static const HttpCase http_no_content_length = {
    "HTTP/1.0 200 OK\r\n"
    "content-type: text/xml\r\n"
    "\r\n"
    "<body/>",
    "<body/>",
};

static const HttpCase http_content_length_case = {
    "HTTP/1.1 200 OK\r\n"
    "content-LENGTH:   3  \r\n"
    "\r\n"
    "abc",
    "abc",
};

static void
test_http_body(gconstpointer data)
{
    const HttpCase *c = data;
    gsize body_len = 0;
    const char *body =
        assert_http_ok(c->response, strlen(c->response), &body_len);

    g_assert_cmpmem(body, body_len, c->body, strlen(c->body));
}

static void
test_http_status_500(void)
{
    static const char response[] = "HTTP/1.0 500 Internal Server Error\r\n"
                                   "Content-Length: 5\r\n"
                                   "\r\n"
                                   "oops\n";

    assert_http_error(response, strlen(response), XMLRPC_ERROR_HTTP_STATUS);
}

/* Each response of the NULL-terminated @data is badly framed. */
static void
test_http_bad_framing(gconstpointer data)
{
    for (const char *const *r = data; *r; r++) {
        assert_http_error(*r, strlen(*r), XMLRPC_ERROR_HTTP);
    }
}

static const char *const bad_status_lines[] = {
    "garbage\r\n\r\n",
    "HTTP/2 200 OK\r\n\r\n",
    "HTTP/1.0 20 OK\r\n\r\n",
    "HTTP/1.0 2000 OK\r\n\r\n",
    "HTTP/1.0 200OK\r\n\r\n",
    "\r\n\r\n",
    NULL,
};

static const char *const bad_headers[] = {
    "HTTP/1.0 200 OK\r\nno colon here\r\n\r\n",
    "HTTP/1.0 200 OK\r\nContent-Length: x\r\n\r\n",
    "HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n",
    "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
    "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    NULL,
};

static void
test_http_truncated_headers(void)
{
    gsize header_len =
        strstr(SUPERVISORD_START, "\r\n\r\n") - SUPERVISORD_START;

    assert_http_error(SUPERVISORD_START, header_len + 2, XMLRPC_ERROR_HTTP);
    assert_http_error(SUPERVISORD_START, 0, XMLRPC_ERROR_HTTP);
}

static void
test_http_truncated_body(void)
{
    /* The peer closed before sending all the body it announced. */
    assert_http_error(SUPERVISORD_START, strlen(SUPERVISORD_START) - 10,
                      XMLRPC_ERROR_HTTP);
}

static void
test_http_length_mismatch(void)
{
    g_autofree char *longer = g_strconcat(SUPERVISORD_START, "extra", NULL);

    assert_http_error(longer, strlen(longer), XMLRPC_ERROR_HTTP);
}

static void
test_http_oversized(void)
{
    gsize len = XMLRPC_MAX_RESPONSE + 1;
    g_autofree char *big = g_malloc(len);
    static const char head[] = "HTTP/1.0 200 OK\r\n\r\n";
    gsize body_len = 0;

    memset(big, 'x', len);
    memcpy(big, head, strlen(head));
    assert_http_error(big, len, XMLRPC_ERROR_TOO_LARGE);
    /* Exactly at the cap is still fine as far as size goes. */
    assert_http_ok(big, len - 1, &body_len);
    g_assert_cmpuint(body_len, ==, len - 1 - strlen(head));
}

/* --- Values --- */

static void
assert_member_int(const XmlRpcValue *st, const char *name, gint64 expected)
{
    g_autoptr(GError) error = NULL;
    gint64 n = -12345;

    g_assert_true(xmlrpc_value_lookup_int(st, name, &n, &error));
    g_assert_no_error(error);
    g_assert_cmpint(n, ==, expected);
}

static void
assert_member_string(const XmlRpcValue *st, const char *name,
                     const char *expected)
{
    g_assert_cmpstr(xmlrpc_value_get_string(xmlrpc_value_lookup(st, name)), ==,
                    expected);
}

static void
test_response_process_info(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlRpcValue) info = parse_all(SUPERVISORD_INFO_RUNNING, &error);
    gint64 n;

    g_assert_no_error(error);
    g_assert_nonnull(info);
    g_assert_cmpint(xmlrpc_value_get_type(info), ==, XMLRPC_TYPE_STRUCT);
    assert_member_string(info, "name", "qemu");
    assert_member_string(info, "group", "qemu");
    assert_member_string(info, "description", "pid 13295, uptime 0:00:02");
    assert_member_int(info, "start", 1795311240);
    assert_member_int(info, "stop", 1795311236);
    assert_member_int(info, "now", 1795311242);
    assert_member_int(info, "state", 20);
    assert_member_string(info, "statename", "RUNNING");
    assert_member_string(info, "spawnerr", "");
    assert_member_int(info, "exitstatus", 0);
    assert_member_string(info, "logfile",
                         "/tmp/supcheck/qemu-stdout---supervisor-hr39cmen.log");
    assert_member_string(info, "stdout_logfile",
                         "/tmp/supcheck/qemu-stdout---supervisor-hr39cmen.log");
    assert_member_string(info, "stderr_logfile",
                         "/tmp/supcheck/qemu-stderr---supervisor-yrgxgcfw.log");
    assert_member_int(info, "pid", 13295);

    g_assert_null(xmlrpc_value_lookup(info, "nosuch"));
    g_assert_false(xmlrpc_value_lookup_int(info, "nosuch", &n, &error));
    g_assert_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE);
    g_clear_error(&error);
    /* A member of another type is not an int. */
    g_assert_false(xmlrpc_value_lookup_int(info, "name", &n, &error));
    g_assert_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE);
}

static void
test_response_boolean_true(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlRpcValue) value = parse_all(SUPERVISORD_START, &error);
    gboolean b = FALSE;
    gint64 n;

    g_assert_no_error(error);
    g_assert_true(xmlrpc_value_get_boolean(value, &b));
    g_assert_true(b);
    g_assert_false(xmlrpc_value_get_int(value, &n));
    g_assert_null(xmlrpc_value_get_string(value));
}

static void
assert_fault(const char *response, int code, const char *string)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlRpcValue) value = parse_all(response, &error);

    g_assert_null(value);
    g_assert_error(error, XMLRPC_FAULT, code);
    g_assert_cmpstr(error->message, ==, string);
}

static void
test_response_faults(void)
{
    assert_fault(SUPERVISORD_FAULT_BAD_NAME, 10, "BAD_NAME: nosuch");
    assert_fault(SUPERVISORD_FAULT_ALREADY_STARTED, 60,
                 "ALREADY_STARTED: qemu");
    assert_fault(SUPERVISORD_FAULT_NOT_RUNNING, 70, "NOT_RUNNING: qemu");
}

static void
test_response_values(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlRpcValue) value = parse_body(
        "<?xml version='1.0'?>\n"
        "<methodResponse><params><param><value><array><data>\n"
        "  <value>bare &amp; text</value>\n"
        "  <value><i4> -42 </i4></value>\n"
        "  <value><boolean>0</boolean></value>\n"
        "  <value></value>\n"
        "  <value><string/></value>\n"
        "  <value><string> spaced </string></value>\n"
        "  <value><string><![CDATA[<raw>]]></string></value>\n"
        "  <value><array><data/></array></value>\n"
        "  <value><struct>\n"
        "    <member><name>a</name><value><int>1</int></value></member>\n"
        "    <member><name>a</name><value><int>2</int></value></member>\n"
        "  </struct></value>\n"
        "</data></array></value></param></params></methodResponse>\n",
        &error);
    gint64 n = 0;
    gboolean b = TRUE;

    g_assert_no_error(error);
    g_assert_cmpint(xmlrpc_value_get_type(value), ==, XMLRPC_TYPE_ARRAY);
    g_assert_cmpuint(xmlrpc_value_get_length(value), ==, 9);
    g_assert_cmpstr(xmlrpc_value_get_string(xmlrpc_value_get_index(value, 0)),
                    ==, "bare & text");
    g_assert_true(xmlrpc_value_get_int(xmlrpc_value_get_index(value, 1), &n));
    g_assert_cmpint(n, ==, -42);
    g_assert_true(
        xmlrpc_value_get_boolean(xmlrpc_value_get_index(value, 2), &b));
    g_assert_false(b);
    g_assert_cmpstr(xmlrpc_value_get_string(xmlrpc_value_get_index(value, 3)),
                    ==, "");
    g_assert_cmpstr(xmlrpc_value_get_string(xmlrpc_value_get_index(value, 4)),
                    ==, "");
    g_assert_cmpstr(xmlrpc_value_get_string(xmlrpc_value_get_index(value, 5)),
                    ==, " spaced ");
    g_assert_cmpstr(xmlrpc_value_get_string(xmlrpc_value_get_index(value, 6)),
                    ==, "<raw>");
    g_assert_cmpuint(xmlrpc_value_get_length(xmlrpc_value_get_index(value, 7)),
                     ==, 0);
    /* The first of duplicate members wins. */
    assert_member_int(xmlrpc_value_get_index(value, 8), "a", 1);
    g_assert_null(xmlrpc_value_get_index(value, 9));
}

static void
test_response_malformed(void)
{
    static const char *const bodies[] = {
        "",
        "not xml at all",
        "<methodResponse><params><param><value><int>1</int></value>",
        "<methodResponse><params><param><value><int>1</int></value>"
        "</param></params></methodResponse><extra/>",
        "<methodCall><params><param><value>x</value></param></params>"
        "</methodCall>",
        "<methodResponse></methodResponse>",
        "<methodResponse><params></params></methodResponse>",
        "<methodResponse><params><param></param></params></methodResponse>",
        "<methodResponse><params><param><value>1</value><value>2</value>"
        "</param></params></methodResponse>",
        "<methodResponse><params><param><int>1</int></param></params>"
        "</methodResponse>",
        "<methodResponse><params><param><value><double>1.5</double></value>"
        "</param></params></methodResponse>",
        "<methodResponse><params><param><value><boolean>2</boolean></value>"
        "</param></params></methodResponse>",
        "<methodResponse><params><param><value><int>12a</int></value>"
        "</param></params></methodResponse>",
        "<methodResponse><params><param><value><int></int></value>"
        "</param></params></methodResponse>",
        "<methodResponse><params><param><value>text<int>1</int></value>"
        "</param></params></methodResponse>",
        "<methodResponse><params><param><value><int>1</int><int>2</int>"
        "</value></param></params></methodResponse>",
        "<methodResponse><params><param><value><string><b/></string>"
        "</value></param></params></methodResponse>",
        "<methodResponse><params><param><value><struct><member>"
        "<value><int>1</int></value><name>a</name></member></struct>"
        "</value></param></params></methodResponse>",
        "<methodResponse><params><param><value><struct><member>"
        "<name>a</name></member></struct></value></param></params>"
        "</methodResponse>",
        "<methodResponse><params><param><value><array><value>1</value>"
        "</array></value></param></params></methodResponse>",
        "<methodResponse><params><param><value><array><data>x</data>"
        "</array></value></param></params></methodResponse>",
        "<methodResponse><fault><value><struct><member><name>faultString"
        "</name><value>no code</value></member></struct></value></fault>"
        "</methodResponse>",
        "<methodResponse><fault><value><struct><member><name>faultCode"
        "</name><value><int>1</int></value></member></struct></value>"
        "</fault></methodResponse>",
        "<methodResponse><fault><value><int>1</int></value></fault>"
        "</methodResponse>",
        "<methodResponse><fault><value><struct/></value></fault>"
        "<params/></methodResponse>",
        "<methodResponse><params><param><value><string>\xff</string>"
        "</value></param></params></methodResponse>",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bodies); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(XmlRpcValue) value = parse_body(bodies[i], &error);

        g_test_message("body %zu: %s", i, error ? error->message : "(none)");
        g_assert_null(value);
        g_assert_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE);
    }
}

static void
test_response_too_deep(void)
{
    g_autoptr(GString) body = g_string_new("<methodResponse><params><param>");
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlRpcValue) value = NULL;

    for (int i = 0; i < 100; i++) {
        g_string_append(body, "<value><array><data>");
    }
    for (int i = 0; i < 100; i++) {
        g_string_append(body, "</data></array></value>");
    }
    g_string_append(body, "</param></params></methodResponse>");

    value = xmlrpc_parse_response(body->str, body->len, &error);
    g_assert_null(value);
    g_assert_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE);
}

static void
test_response_truncated_body(void)
{
    const char *body = strstr(SUPERVISORD_INFO_RUNNING, "\r\n\r\n") + 4;
    g_autoptr(GError) error = NULL;
    g_autoptr(XmlRpcValue) value =
        xmlrpc_parse_response(body, strlen(body) / 2, &error);

    g_assert_null(value);
    g_assert_error(error, XMLRPC_ERROR, XMLRPC_ERROR_PARSE);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/xmlrpc/build/call-string", test_build_call_string);
    g_test_add_func("/xmlrpc/build/call-boolean", test_build_call_boolean);
    g_test_add_func("/xmlrpc/build/call-no-params", test_build_call_no_params);
    g_test_add_func("/xmlrpc/build/escaping", test_build_call_escaping);
    g_test_add_func("/xmlrpc/build/invalid-utf8", test_build_call_invalid_utf8);
    g_test_add_func("/xmlrpc/build/http-request", test_build_http_request);

    g_test_add_func("/xmlrpc/http/ok", test_http_ok);
    g_test_add_data_func("/xmlrpc/http/no-content-length",
                         &http_no_content_length, test_http_body);
    g_test_add_data_func("/xmlrpc/http/content-length-case",
                         &http_content_length_case, test_http_body);
    g_test_add_func("/xmlrpc/http/status-500", test_http_status_500);
    g_test_add_data_func("/xmlrpc/http/bad-status-line", bad_status_lines,
                         test_http_bad_framing);
    g_test_add_data_func("/xmlrpc/http/bad-headers", bad_headers,
                         test_http_bad_framing);
    g_test_add_func("/xmlrpc/http/truncated-headers",
                    test_http_truncated_headers);
    g_test_add_func("/xmlrpc/http/truncated-body", test_http_truncated_body);
    g_test_add_func("/xmlrpc/http/length-mismatch", test_http_length_mismatch);
    g_test_add_func("/xmlrpc/http/oversized", test_http_oversized);

    g_test_add_func("/xmlrpc/response/process-info",
                    test_response_process_info);
    g_test_add_func("/xmlrpc/response/boolean-true",
                    test_response_boolean_true);
    g_test_add_func("/xmlrpc/response/faults", test_response_faults);
    g_test_add_func("/xmlrpc/response/values", test_response_values);
    g_test_add_func("/xmlrpc/response/malformed", test_response_malformed);
    g_test_add_func("/xmlrpc/response/too-deep", test_response_too_deep);
    g_test_add_func("/xmlrpc/response/truncated-body",
                    test_response_truncated_body);

    return g_test_run();
}
