/*
 * chassis.c - the IPMI chassis command set (netfn 0x00), to IPMI 2.0 ch. 28.
 *
 * Replaces ipmi_sim's built-in handlers, which leave reply bytes unset
 * (Get Chassis Capabilities, Chassis Identify), poll forever on a power
 * cycle and lack diag interrupt, restore policy and restart cause.  Each
 * handler answers at once from the machine's cached state.
 */
#include "config.h"

#include "ipmi-cmd.h"

static gboolean
check_len(const BmcRequest *req, gsize min, guint8 *rsp, gsize *rsp_len)
{
    if (req->len < min) {
        rsp[0] = IPMI_CC_REQ_LEN_INVALID;
        *rsp_len = 1;
        return FALSE;
    }
    return TRUE;
}

/* A refused action's error becomes its completion code. */
static guint8
action_cc(gboolean ok, GError *error)
{
    if (ok) {
        return IPMI_CC_OK;
    }
    g_message("%s", error->message);
    if (g_error_matches(error, MACHINE_ERROR, MACHINE_ERROR_STATE)) {
        return IPMI_CC_NOT_IN_PRESENT_STATE;
    }
    if (g_error_matches(error, MACHINE_ERROR, MACHINE_ERROR_BUSY)) {
        return IPMI_CC_NODE_BUSY;
    }
    return IPMI_CC_UNSPECIFIED;
}

static guint8
request_channel(BmcContext *ctx, const BmcRequest *req)
{
    return ctx->host->current_channel(ctx->host->data, req->host_msg);
}

/* 28.1 Get Chassis Capabilities */
static void
get_chassis_capabilities(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                         gsize *rsp_len)
{
    guint8 addr = ctx->host->bmc_address;

    rsp[0] = IPMI_CC_OK;
    rsp[1] = 0x04; /* diagnostic interrupt (NMI) is provided */
    rsp[2] = addr; /* FRU info device */
    rsp[3] = addr; /* SDR device */
    rsp[4] = addr; /* SEL device */
    rsp[5] = addr; /* system management device */
    *rsp_len = 6;
}

/* 28.2 Get Chassis Status */
static void
get_chassis_status(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                   gsize *rsp_len)
{
    Machine *m = ctx->machine;

    rsp[0] = IPMI_CC_OK;
    rsp[1] = (machine_is_powered_on(m) ? 0x01 : 0x00) |
             (guint8)(machine_get_restore_policy(m) << 5);
    rsp[2] = machine_get_last_power_event(m);
    /* bit 6: identify state is reported; bits 5:4 the state. */
    rsp[3] = 0x40 | (guint8)(machine_identify_state(m) << 4);
    *rsp_len = 4;
}

/* 28.3 Chassis Control */
static void
chassis_control(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                gsize *rsp_len)
{
    Machine *m = ctx->machine;
    g_autoptr(GError) error = NULL;
    gboolean ok;

    if (!check_len(req, 1, rsp, rsp_len)) {
        return;
    }
    machine_chassis_control_received(m);
    switch (req->data[0] & 0x0f) {
    case 0x0:
        ok = machine_power_off(m, &error);
        break;
    case 0x1:
        ok = machine_power_on(m, request_channel(ctx, req), &error);
        break;
    case 0x2:
        ok = machine_power_cycle(m, request_channel(ctx, req), &error);
        break;
    case 0x3:
        ok = machine_reset(m, request_channel(ctx, req), &error);
        break;
    case 0x4:
        ok = machine_diag_interrupt(m, &error);
        break;
    case 0x5:
        ok = machine_soft_off(m, &error);
        break;
    default:
        rsp[0] = IPMI_CC_INVALID_DATA_FIELD;
        *rsp_len = 1;
        return;
    }
    rsp[0] = action_cc(ok, error);
    *rsp_len = 1;
}

/* 28.5 Chassis Identify: no data = 15 s; byte 2 bit 0 forces it on. */
static void
chassis_identify(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                 gsize *rsp_len)
{
    guint seconds = req->len >= 1 ? req->data[0] : 15;
    gboolean forever = req->len >= 2 && (req->data[1] & 0x01);

    machine_identify(ctx->machine, seconds, forever);
    rsp[0] = IPMI_CC_OK;
    *rsp_len = 1;
}

/* 28.8 Set Power Restore Policy */
static void
set_power_restore_policy(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                         gsize *rsp_len)
{
    guint8 policy;

    if (!check_len(req, 1, rsp, rsp_len)) {
        return;
    }
    policy = req->data[0] & 0x07;
    if (policy > 3) {
        rsp[0] = IPMI_CC_INVALID_DATA_FIELD;
        *rsp_len = 1;
        return;
    }
    if (policy != 3) { /* 3 = no change: just report what is supported */
        g_autoptr(GError) error = NULL;

        if (!machine_set_restore_policy(ctx->machine, (MachinePolicy)policy,
                                        &error)) {
            rsp[0] = action_cc(FALSE, error);
            *rsp_len = 1;
            return;
        }
    }
    rsp[0] = IPMI_CC_OK;
    rsp[1] = 0x07; /* always-off, previous and always-on are supported */
    *rsp_len = 2;
}

/* 28.11 Get System Restart Cause */
static void
get_system_restart_cause(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                         gsize *rsp_len)
{
    guint8 channel = 0;

    rsp[0] = IPMI_CC_OK;
    rsp[1] = machine_get_restart_cause(ctx->machine, &channel);
    rsp[2] = channel;
    *rsp_len = 3;
}

/* 28.12 Set System Boot Options */
static void
set_system_boot_options(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                        gsize *rsp_len)
{
    rsp[0] = machine_boot_set(ctx->machine, req->data, req->len);
    *rsp_len = 1;
}

/* 28.13 Get System Boot Options */
static void
get_system_boot_options(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                        gsize *rsp_len)
{
    gsize n = 0;

    rsp[0] = machine_boot_get(ctx->machine, req->data, req->len, rsp + 1, &n);
    *rsp_len = rsp[0] == IPMI_CC_OK ? 1 + n : 1;
}

const BmcCommand chassis_commands[] = {
    {IPMI_NETFN_CHASSIS, 0x00, "Get Chassis Capabilities",
     get_chassis_capabilities},
    {IPMI_NETFN_CHASSIS, 0x01, "Get Chassis Status", get_chassis_status},
    {IPMI_NETFN_CHASSIS, 0x02, "Chassis Control", chassis_control},
    {IPMI_NETFN_CHASSIS, 0x04, "Chassis Identify", chassis_identify},
    {IPMI_NETFN_CHASSIS, 0x06, "Set Power Restore Policy",
     set_power_restore_policy},
    {IPMI_NETFN_CHASSIS, 0x07, "Get System Restart Cause",
     get_system_restart_cause},
    {IPMI_NETFN_CHASSIS, 0x08, "Set System Boot Options",
     set_system_boot_options},
    {IPMI_NETFN_CHASSIS, 0x09, "Get System Boot Options",
     get_system_boot_options},
    {0, 0, NULL, NULL},
};

const BmcCommand *
bmc_command_find(guint8 netfn, guint8 cmd)
{
    const BmcCommand *tables[] = {chassis_commands, app_commands};

    for (gsize t = 0; t < G_N_ELEMENTS(tables); t++) {
        for (const BmcCommand *c = tables[t]; c->handler; c++) {
            if (c->netfn == netfn && c->cmd == cmd) {
                return c;
            }
        }
    }
    return NULL;
}
