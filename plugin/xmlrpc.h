/*
 * xmlrpc.h - XML-RPC over HTTP/1.0 framing and parsing, with no I/O.
 *
 * Just enough of XML-RPC for supervisord: calls take string and boolean
 * parameters; responses carry int/i4, boolean, string, array and struct
 * values, or a fault.  The caller owns the socket and hands in the whole
 * response once the peer has closed the connection.
 */
#pragma once

#include <glib.h>

/* Malformed or unexpected input; codes are XmlRpcError. */
#define XMLRPC_ERROR (xmlrpc_error_quark())
GQuark xmlrpc_error_quark(void);

/* A well-formed <fault>: the GError code is the faultCode and the message
 * the faultString, so callers can g_error_matches() a fault code. */
#define XMLRPC_FAULT (xmlrpc_fault_quark())
GQuark xmlrpc_fault_quark(void);

typedef enum {
    XMLRPC_ERROR_HTTP_STATUS, /* a status other than 200 */
    XMLRPC_ERROR_HTTP,        /* bad status line, headers or framing */
    XMLRPC_ERROR_TOO_LARGE,   /* over XMLRPC_MAX_RESPONSE */
    XMLRPC_ERROR_PARSE,       /* malformed XML or not a methodResponse */
} XmlRpcError;

/*
 * Cap on a whole HTTP response, headers included.  supervisord's largest
 * answer we ask for (a getProcessInfo struct) is about 1.5 KiB; the cap
 * bounds what a broken or wrong peer can make the single-threaded host
 * buffer.  Readers should stop reading once they hold more than this.
 */
#define XMLRPC_MAX_RESPONSE (64 * 1024)

/* --- Requests --- */

typedef enum {
    XMLRPC_PARAM_STRING,
    XMLRPC_PARAM_BOOLEAN,
} XmlRpcParamType;

typedef struct {
    XmlRpcParamType type;
    const char *string;
    gboolean boolean;
} XmlRpcParam;

#define XMLRPC_PARAM_STR(s)                                                    \
    ((XmlRpcParam){.type = XMLRPC_PARAM_STRING, .string = (s)})
#define XMLRPC_PARAM_BOOL(b)                                                   \
    ((XmlRpcParam){.type = XMLRPC_PARAM_BOOLEAN, .boolean = (b)})

/* The <methodCall> document for @method(@params...), XML-escaped. */
char *xmlrpc_build_call(const char *method, const XmlRpcParam *params,
                        gsize n_params);
/* "POST /RPC2 HTTP/1.0" carrying @body, with Content-Length and
 * "Connection: close" so that the peer's EOF ends the response. */
char *xmlrpc_build_http_request(const char *body);

/* --- Responses --- */

typedef enum {
    XMLRPC_TYPE_INT, /* <int> or <i4> */
    XMLRPC_TYPE_BOOLEAN,
    XMLRPC_TYPE_STRING, /* <string> or bare <value>text</value> */
    XMLRPC_TYPE_ARRAY,
    XMLRPC_TYPE_STRUCT,
} XmlRpcType;

typedef struct XmlRpcValue XmlRpcValue;

void xmlrpc_value_free(XmlRpcValue *value);
XmlRpcType xmlrpc_value_get_type(const XmlRpcValue *value);
/* Each getter returns FALSE (or NULL) when @value has another type. */
gboolean xmlrpc_value_get_int(const XmlRpcValue *value, gint64 *out);
gboolean xmlrpc_value_get_boolean(const XmlRpcValue *value, gboolean *out);
const char *xmlrpc_value_get_string(const XmlRpcValue *value);
/* Arrays: 0 for a non-array. */
guint xmlrpc_value_get_length(const XmlRpcValue *value);
const XmlRpcValue *xmlrpc_value_get_index(const XmlRpcValue *value,
                                          guint index);
/* Structs: the first member called @name, or NULL. */
const XmlRpcValue *xmlrpc_value_lookup(const XmlRpcValue *value,
                                       const char *name);
/* Struct member @name as an int; an error names the missing member. */
gboolean xmlrpc_value_lookup_int(const XmlRpcValue *value, const char *name,
                                 gint64 *out, GError **error);

/*
 * Split a complete HTTP response into its body: the status must be 200, the
 * headers end at CRLF CRLF, and a Content-Length, when present, must match
 * the body exactly.  @body points into @data.
 */
gboolean xmlrpc_parse_http_response(const char *data, gsize len,
                                    const char **body, gsize *body_len,
                                    GError **error);
/*
 * Parse a <methodResponse> body.  Returns its single value, or NULL with
 * @error: XMLRPC_FAULT for a fault, XMLRPC_ERROR otherwise.
 */
XmlRpcValue *xmlrpc_parse_response(const char *body, gsize len, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(XmlRpcValue, xmlrpc_value_free)
