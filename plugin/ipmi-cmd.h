/*
 * ipmi-cmd.h - IPMI commands as bytes in, bytes out.
 *
 * The handlers in chassis.c and app.c know nothing of ipmi_sim: qemu-bmc.c
 * turns ipmi_sim's msg_t into a BmcRequest and back, and unit tests call
 * the handlers directly.
 */
#pragma once

#include <glib.h>

#include "machine.h"

/* Completion codes (IPMI 2.0 table 5-2). */
#define IPMI_CC_OK                   0x00
#define IPMI_CC_NODE_BUSY            0xc0
#define IPMI_CC_INVALID_CMD          0xc1
#define IPMI_CC_REQ_LEN_INVALID      0xc7
#define IPMI_CC_PARAM_OUT_OF_RANGE   0xc9
#define IPMI_CC_NOT_PRESENT          0xcb
#define IPMI_CC_INVALID_DATA_FIELD   0xcc
#define IPMI_CC_NOT_IN_PRESENT_STATE 0xd5
#define IPMI_CC_UNSPECIFIED          0xff

#define IPMI_NETFN_CHASSIS 0x00
#define IPMI_NETFN_APP     0x06

/* What a handler may ask of the host about channels. */
typedef struct {
    gpointer data;
    /* Channel number of the channel the request came in on. */
    guint8 (*current_channel)(gpointer data, gconstpointer host_msg);
    /* TRUE when @channel exists; *is_lan tells whether it is a LAN one. */
    gboolean (*channel_info)(gpointer data, guint8 channel, gboolean *is_lan);
    gboolean sol_present;
    guint8 bmc_address;
} BmcHost;

typedef struct {
    Machine *machine;
    const BmcHost *host;
} BmcContext;

typedef struct {
    guint8 netfn;
    guint8 cmd;
    const guint8 *data;
    gsize len;
    gconstpointer host_msg; /* the host's message, for host callbacks */
} BmcRequest;

/* @rsp has room for IPMI_MAX_RSP bytes; rsp[0] is the completion code. */
#define IPMI_MAX_RSP 255
typedef void (*BmcHandler)(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                           gsize *rsp_len);

typedef struct {
    guint8 netfn;
    guint8 cmd;
    const char *name;
    BmcHandler handler;
} BmcCommand;

/* Tables end with a NULL handler. */
extern const BmcCommand chassis_commands[];
extern const BmcCommand app_commands[];

/* Look a command up in the tables above; NULL if we do not own it. */
const BmcCommand *bmc_command_find(guint8 netfn, guint8 cmd);
