/*
 * qemu-bmc.c - the ipmi_sim glue: entry points, logging and command
 * registration.  Everything that knows ipmi_sim's types lives here or in
 * host-ipmisim.c.
 *
 * ipmi_sim calls, in order: ipmi_sim_module_init() after lan.conf (users,
 * channels, SOL) is read, then reads the .emu file (which creates the BMC
 * MC), then ipmi_sim_module_post_init(), then runs its loop.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <OpenIPMI/lanserv.h>
#include <OpenIPMI/mcserv.h>
#include <OpenIPMI/serv.h>

#include "bmc-config.h"
#include "compat.h"
#include "host-ipmisim.h"
#include "ipmi-cmd.h"
#include "machine.h"
#include "rmcp-filter.h"
#include "security.h"
#include "session-guard.h"

/* Channel medium type (IPMI 2.0 table 6-3). */
#define CHANNEL_MEDIUM_LAN 0x04

/* From libIPMIlanserv (resolved when ipmi_sim loads us). */
extern LanservSuite valid_cipher_suites[];
extern ipmi_payload_handler_cb payload_handlers[64];

/* RMCP+ payload type of RAKP message 1 (IPMI 2.0 table 13-16). */
#define PAYLOAD_RAKP1 0x12

/* ipmi_sim's own RAKP 1 handler, which the guard below runs after its
 * check. */
static ipmi_payload_handler_cb stock_rakp1;

int ipmi_sim_module_init(sys_data_t *sys, const char *initstr);
int ipmi_sim_module_print_version(sys_data_t *sys, const char *initstr);
void ipmi_sim_module_post_init(sys_data_t *sys);

typedef struct {
    sys_data_t *sys;
    BmcConfig config;
    BmcLoop *loop;
    Machine *machine;
    BmcHost host;
    BmcContext ctx;
    GPtrArray *session_guards;
} Plugin;

/* ipmi_sim offers no per-module data pointer to its entry points. */
static Plugin plugin;

static void
log_handler(const char *domain, GLogLevelFlags level, const char *message,
            gpointer data)
{
    Plugin *p = data;
    const char *tag = "info";
    int type = INFO;

    if ((level & G_LOG_LEVEL_MASK) > p->config.log_level &&
        !(level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))) {
        return;
    }
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
        tag = "error";
        type = OS_ERROR;
    } else if (level & G_LOG_LEVEL_WARNING) {
        tag = "warning";
        type = OS_ERROR;
    } else if (level & G_LOG_LEVEL_DEBUG) {
        tag = "debug";
        type = DEBUG;
    }
    /* stderr is what supervisord keeps; sys->log feeds ipmi_sim's own
     * consoles and syslog. */
    fprintf(stderr, "qemu-bmc: %s: %s\n", tag, message);
    fflush(stderr);
    if (p->sys) {
        p->sys->log(p->sys, type, NULL, "qemu-bmc: %s", message);
    }
}

static guint8
host_current_channel(gpointer data, gconstpointer host_msg)
{
    const msg_t *msg = host_msg;

    if (msg->orig_channel) {
        return (guint8)msg->orig_channel->channel_num;
    }
    return msg->channel;
}

static gboolean
host_channel_info(gpointer data, guint8 channel, gboolean *is_lan)
{
    Plugin *p = data;
    lmc_data_t *bmc = p->sys->ipmb_addrs[p->sys->bmc_ipmb];
    channel_t **channels;

    if (!bmc || channel >= IPMI_MAX_CHANNELS) {
        return FALSE;
    }
    channels = p->sys->mc_get_channelset(bmc);
    if (!channels[channel]) {
        return FALSE;
    }
    *is_lan = channels[channel]->medium_type == CHANNEL_MEDIUM_LAN &&
              channels[channel]->set_associated_mc != NULL;
    return TRUE;
}

/* The account's privilege limit from lanserv's user table (the one the
 * stock handler looks names up in; users changed over IPMI included). */
static guint
lanserv_user_privilege(const guint8 *name, gpointer data)
{
    lanserv_data_t *lan = data;

    if (!lan->users) {
        return 0;
    }
    for (int i = 1; i <= MAX_USERS; i++) {
        if (lan->users[i].valid &&
            memcmp(lan->users[i].username, name, 16) == 0) {
            return lan->users[i].privilege;
        }
    }
    return 0;
}

static void
guarded_rakp1(lanserv_data_t *lan, msg_t *msg)
{
    if (msg->len > 0 && bmc_rakp1_limit_role(msg->data, msg->len,
                                             lanserv_user_privilege, lan)) {
        g_message("RAKP 1 refused: a role above the account's privilege");
    }
    stock_rakp1(lan, msg);
}

/* One entry point for every command we own: msg_t in, rdata out. */
static void
dispatch(lmc_data_t *mc, msg_t *msg, unsigned char *rdata,
         unsigned int *rdata_len, void *cb_data)
{
    const BmcCommand *cmd = cb_data;
    BmcRequest req = {
        .netfn = msg->netfn,
        .cmd = msg->cmd,
        .data = msg->data,
        .len = msg->len,
        .host_msg = msg,
    };
    gsize len = 0;

    if (!plugin.machine) {
        rdata[0] = IPMI_CC_NODE_BUSY;
        *rdata_len = 1;
        return;
    }
    plugin.host.sol_present = plugin.sys->sol_present;
    cmd->handler(&plugin.ctx, &req, rdata, &len);
    *rdata_len = (unsigned int)len;
}

static int
register_commands(void)
{
    const BmcCommand *tables[] = {chassis_commands, app_commands};

    for (gsize t = 0; t < G_N_ELEMENTS(tables); t++) {
        for (const BmcCommand *c = tables[t]; c->handler; c++) {
            int rv = ipmi_emu_register_cmd_handler(c->netfn, c->cmd, dispatch,
                                                   (void *)c);
            if (rv) {
                g_critical("registering %s: %s", c->name, bmc_strerror(rv));
                return rv;
            }
        }
    }
    return 0;
}

int
ipmi_sim_module_print_version(sys_data_t *sys, const char *initstr)
{
    printf("qemu-bmc plugin version %s\n", PACKAGE_VERSION);
    return 0;
}

int
ipmi_sim_module_init(sys_data_t *sys, const char *initstr)
{
    g_autoptr(GError) error = NULL;
    MachineConfig mcfg;
    int rv;

    plugin.sys = sys;
    g_log_set_handler(G_LOG_DOMAIN, G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL,
                      log_handler, &plugin);

    /* ipmi_sim reports a failed init only as "Invalid argument": say what
     * was wrong on one line first. */
    if (!bmc_config_parse(&plugin.config, initstr, &error)) {
        fprintf(stderr, "qemu-bmc: bad init string: %s\n", error->message);
        return EINVAL;
    }
    if (!bmc_restrict_cipher_suites(valid_cipher_suites,
                                    plugin.config.cipher_suites, &error)) {
        fprintf(stderr, "qemu-bmc: %s\n", error->message);
        return ENOTSUP;
    }
    /* Caps each RMCP+ session at its account's privilege (security.h). */
    if (!payload_handlers[PAYLOAD_RAKP1]) {
        fprintf(stderr, "qemu-bmc: libIPMIlanserv has no RAKP 1 handler; "
                        "refusing to run without the privilege check\n");
        return ENOTSUP;
    }
    if (payload_handlers[PAYLOAD_RAKP1] != guarded_rakp1) {
        stock_rakp1 = payload_handlers[PAYLOAD_RAKP1];
        payload_handlers[PAYLOAD_RAKP1] = guarded_rakp1;
    }

    plugin.loop = bmc_host_loop_new(sys);
    mcfg = (MachineConfig){
        .qmp_socket = plugin.config.qmp_socket,
        .supervisor_socket = plugin.config.supervisor_socket,
        .program = plugin.config.program,
        .state_dir = plugin.config.state_dir,
        .run_dir = plugin.config.run_dir,
        .restore_default = plugin.config.restore_default,
        .boot_default = plugin.config.boot_default,
        .uefi = plugin.config.uefi,
        .qmp_command_timeout_ms = plugin.config.command_timeout_ms,
    };
    plugin.machine = machine_new(plugin.loop, &mcfg, &error);
    if (!plugin.machine) {
        fprintf(stderr, "qemu-bmc: %s\n", error->message);
        return EINVAL;
    }
    plugin.host = (BmcHost){
        .data = &plugin,
        .current_channel = host_current_channel,
        .channel_info = host_channel_info,
        .bmc_address = 0x20,
    };
    plugin.ctx = (BmcContext){.machine = plugin.machine, .host = &plugin.host};

    rv = register_commands();
    if (rv) {
        return rv;
    }
    g_message("plugin %s loaded: qmp=%s supervisor=%s program=%s state=%s",
              PACKAGE_VERSION, plugin.config.qmp_socket,
              plugin.config.supervisor_socket, plugin.config.program,
              plugin.config.state_dir);
    return 0;
}

/* The LAN channels' sockets are open once the .emu file has enabled the
 * BMC MC, that is by post_init. */
static void
protect_lan_channels(sys_data_t *sys)
{
    lmc_data_t *bmc = sys->ipmb_addrs[sys->bmc_ipmb];
    channel_t **channels = sys->mc_get_channelset(bmc);
    g_autoptr(GError) error = NULL;
    int n;

    n = rmcp_filter_attach_all(&error);
    if (n < 0) {
        g_critical("%s: ipmi_sim can be crashed by one unauthenticated "
                   "Activate Session",
                   error->message);
        g_clear_error(&error);
    } else if (n == 0) {
        g_warning("no UDP socket found for the RMCP filter");
    } else {
        g_message("RMCP filter on %d UDP socket(s)", n);
    }

    if (plugin.config.rakp_timeout_ms == 0) {
        return;
    }
    plugin.session_guards =
        g_ptr_array_new_with_free_func((GDestroyNotify)session_guard_free);
    for (guint i = 0; i < IPMI_MAX_CHANNELS; i++) {
        channel_t *chan = channels[i];
        SessionGuard *guard;

        if (!chan || chan->medium_type != CHANNEL_MEDIUM_LAN) {
            continue;
        }
        guard = session_guard_new(plugin.loop, chan->chan_info, sys,
                                  plugin.config.rakp_timeout_ms, &error);
        if (!guard) {
            /* Fail safe: stock behaviour, with the reason in the log. */
            g_warning("channel %u: no session guard: %s", i, error->message);
            g_clear_error(&error);
            continue;
        }
        g_ptr_array_add(plugin.session_guards, guard);
        g_message("channel %u: sessions still in RAKP after %u ms are closed",
                  i, plugin.config.rakp_timeout_ms);
    }
}

void
ipmi_sim_module_post_init(sys_data_t *sys)
{
    if (!sys->bmc_ipmb || !sys->ipmb_addrs[sys->bmc_ipmb]) {
        g_warning("no BMC MC configured in the .emu file");
        return;
    }
    plugin.host.bmc_address = sys->bmc_ipmb;
    protect_lan_channels(sys);
    machine_start(plugin.machine);
}
