/*
 * qmp-client.h - asynchronous QMP client on a BmcLoop.
 *
 * DISCONNECTED -> CONNECTING -> GREETING -> NEGOTIATING -> READY.
 * Nothing is sent before the greeting; qmp_capabilities is sent by the
 * client itself.  Any failure (EOF, parse error, oversized line, greeting or
 * negotiation timeout) fails every pending command once, deferred so that
 * callbacks never re-enter the caller, and schedules a reconnect with capped
 * exponential backoff.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "loop.h"

#define QMP_ERROR (qmp_error_quark())
GQuark qmp_error_quark(void);

typedef enum {
    QMP_ERROR_DISCONNECTED, /* not READY, or the link was lost */
    QMP_ERROR_TIMEOUT,      /* no reply within the command timeout */
    QMP_ERROR_COMMAND,      /* QEMU answered {"error": ...}; message = desc */
    QMP_ERROR_PROTOCOL,     /* malformed or oversized input from the peer */
    QMP_ERROR_CANCELLED,    /* client freed with the command pending */
} QmpError;

typedef enum {
    QMP_STATE_DISCONNECTED,
    QMP_STATE_CONNECTING,
    QMP_STATE_GREETING,
    QMP_STATE_NEGOTIATING,
    QMP_STATE_READY,
} QmpState;

typedef struct QmpClient QmpClient;

/* @ret is the "return" member (NULL on error); @error is NULL on success.
 * Neither is owned by the callee. */
typedef void (*QmpReplyFunc)(QmpClient *client, JsonNode *ret,
                             const GError *error, gpointer data);

typedef struct {
    /* Each state change; @why says why the link went down (else NULL). */
    void (*state_changed)(QmpClient *client, QmpState state, const GError *why,
                          gpointer user_data);
    /* Each event line; @data may be NULL.  Not owned by the callee. */
    void (*event)(QmpClient *client, const char *name, JsonObject *data,
                  gpointer user_data);
} QmpClientCallbacks;

typedef struct {
    guint command_timeout_ms;  /* default 5000 */
    guint greeting_timeout_ms; /* greeting + negotiation; default 3000 */
    guint backoff_initial_ms;  /* default 50 */
    guint backoff_max_ms;      /* default 1000 */
    gsize max_line;            /* default 1 MiB */
} QmpClientOptions;

/* @opts may be NULL for defaults.  The client starts DISCONNECTED and
 * connects on the first qmp_client_connect_now() call; from then on it keeps
 * reconnecting until freed. */
QmpClient *qmp_client_new(BmcLoop *loop, const char *socket_path,
                          const QmpClientOptions *opts,
                          const QmpClientCallbacks *callbacks,
                          gpointer user_data);
/* Pending commands complete with QMP_ERROR_CANCELLED (synchronously). */
void qmp_client_free(QmpClient *client);

/* Connect at once (resetting the backoff) unless already connected or
 * connecting. */
void qmp_client_connect_now(QmpClient *client);
QmpState qmp_client_get_state(QmpClient *client);
const char *qmp_state_name(QmpState state);

/* Send {"execute": @command, "arguments": @args, "id": N}.  @args may be
 * NULL; it is not consumed.  Outside READY the command fails (deferred) with
 * QMP_ERROR_DISCONNECTED.  @func may be NULL.  Returns the id. */
guint64 qmp_client_execute(QmpClient *client, const char *command,
                           JsonObject *args, QmpReplyFunc func, gpointer data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QmpClient, qmp_client_free)
