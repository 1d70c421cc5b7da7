/*
 * app.c - application commands (netfn 0x06) that stock ipmi_sim gets wrong.
 *
 * Get Channel Payload Support: ipmi_sim 2.0.33 indexes its channel table
 * with the raw channel byte, so FreeIPMI's ipmiconsole, which asks about
 * channel 0x0E ("this channel"), dereferences NULL and kills the BMC.  It
 * also reports SOL as bit 2 instead of bit 1.
 */
#include "config.h"

#include <string.h>

#include "ipmi-cmd.h"

#define CHANNEL_CURRENT 0x0e

/* 24.8 Get Channel Payload Support */
static void
get_channel_payload_support(BmcContext *ctx, const BmcRequest *req, guint8 *rsp,
                            gsize *rsp_len)
{
    const BmcHost *host = ctx->host;
    guint8 channel;
    gboolean is_lan = FALSE;

    if (req->len < 1) {
        rsp[0] = IPMI_CC_REQ_LEN_INVALID;
        *rsp_len = 1;
        return;
    }
    channel = req->data[0] & 0x0f;
    if (channel == CHANNEL_CURRENT) {
        channel = host->current_channel(host->data, req->host_msg);
    }
    if (!host->channel_info(host->data, channel, &is_lan)) {
        rsp[0] = IPMI_CC_INVALID_DATA_FIELD;
        *rsp_len = 1;
        return;
    }
    memset(rsp, 0, 9);
    rsp[0] = IPMI_CC_OK;
    /* Standard payloads: bit 0 IPMI messages, bit 1 SOL. */
    rsp[1] = is_lan ? (0x01 | (host->sol_present ? 0x02 : 0x00)) : 0x00;
    /* Session setup payloads: Open Session request/response, RAKP 1-4. */
    rsp[3] = is_lan ? 0x3f : 0x00;
    *rsp_len = 9;
}

const BmcCommand app_commands[] = {
    {IPMI_NETFN_APP, 0x4e, "Get Channel Payload Support",
     get_channel_payload_support},
    {0, 0, NULL, NULL},
};
