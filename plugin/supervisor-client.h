/*
 * supervisor-client.h - asynchronous supervisord XML-RPC client on a BmcLoop.
 *
 * One HTTP/1.0 request per call over supervisord's unix socket
 * (POST /RPC2, "Connection: close"), so no state is kept between calls.
 * Every call has a timeout and completes exactly once, deferred.
 */
#pragma once

#include "loop.h"

#define SUP_ERROR (sup_error_quark())
GQuark sup_error_quark(void);

typedef enum {
    SUP_ERROR_CONNECT,   /* socket missing or refused */
    SUP_ERROR_TIMEOUT,   /* no complete answer in time */
    SUP_ERROR_PROTOCOL,  /* not HTTP 200 or not a valid XML-RPC response */
    SUP_ERROR_FAULT,     /* XML-RPC <fault>; see SupReply.fault_code */
    SUP_ERROR_CANCELLED, /* client freed with the call pending */
} SupError;

/* supervisord's process state codes (supervisor/states.py). */
typedef enum {
    SUP_PROC_STOPPED = 0,
    SUP_PROC_STARTING = 10,
    SUP_PROC_RUNNING = 20,
    SUP_PROC_BACKOFF = 30,
    SUP_PROC_STOPPING = 40,
    SUP_PROC_EXITED = 100,
    SUP_PROC_FATAL = 200,
    SUP_PROC_UNKNOWN = 1000,
} SupProcState;

/* Fault codes we act on (supervisor/xmlrpc.py Faults). */
#define SUP_FAULT_BAD_NAME        10
#define SUP_FAULT_NOT_RUNNING     70
#define SUP_FAULT_ALREADY_STARTED 60
#define SUP_FAULT_SPAWN_ERROR     50

typedef struct {
    int fault_code; /* with SUP_ERROR_FAULT, else 0 */
    /* getProcessInfo only: */
    SupProcState state;
    int pid; /* 0 when not running */
    int exitstatus;
    gint64 start; /* seconds, supervisord's clock */
    gint64 stop;
} SupReply;

typedef struct SupervisorClient SupervisorClient;

/* @reply is valid on success and on SUP_ERROR_FAULT; never owned. */
typedef void (*SupReplyFunc)(SupervisorClient *client, const SupReply *reply,
                             const GError *error, gpointer data);

SupervisorClient *supervisor_client_new(BmcLoop *loop, const char *socket_path,
                                        guint timeout_ms);
/* Pending calls complete with SUP_ERROR_CANCELLED (synchronously). */
void supervisor_client_free(SupervisorClient *client);

/* supervisor.getProcessInfo(name) */
void supervisor_client_get_process_info(SupervisorClient *client,
                                        const char *name, SupReplyFunc func,
                                        gpointer data);
/* supervisor.startProcess(name, false): returns once the spawn is queued. */
void supervisor_client_start_process(SupervisorClient *client, const char *name,
                                     SupReplyFunc func, gpointer data);
/* supervisor.stopProcess(name, false) */
void supervisor_client_stop_process(SupervisorClient *client, const char *name,
                                    SupReplyFunc func, gpointer data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SupervisorClient, supervisor_client_free)
