/*
 * fuzz-ipmi-handlers.c - IPMI request bytes from any LAN client through
 * the chassis and app handlers (chassis.c, app.c) of a real Machine, and
 * the System Boot Options bytes straight through boot-options.c.
 *
 * Input:
 *   byte 0   host: bits 3:0 the request's channel (1 is LAN, 15 the
 *            system interface, others do not exist), bit 4 SOL present,
 *            bit 5 UEFI by default, bits 7:6 VM_BOOT (mod 3)
 *   byte 1   bits 1:0 the default restore policy (mod 3)
 *   then records [k][len][len bytes of data] until the input ends; k mod
 *   (number of commands + 2) picks:
 *     0 .. n-1  chassis_commands[] then app_commands[], data as request
 *     n         let fake time pass: data = milliseconds (2 bytes, LE)
 *     n + 1     boot_options_set() then _get() on a BootOptions of its own
 *
 * The Machine's supervisord and QMP sockets point at paths that do not
 * exist: every call to them fails (deferred, on the loop) as when QEMU and
 * supervisord are down, which is a state the BMC must handle anyway.
 *
 * A new loop and Machine for each input (in one temporary directory made
 * once, state file removed each time): the Machine persists its state, and
 * one that lived across inputs would make a crash depend on inputs
 * libFuzzer did not save.
 */
#include "config.h"

#include <glib/gstdio.h>

#include "boot-options.h"
#include "fuzz-common.h"
#include "../unit/test-util.h"
#include "ipmi-cmd.h"
#include "loop.h"
#include "machine.h"

#define MAX_COMMANDS 32
/* Fake time one input may let pass: past the 60-second rule and the
 * 30-second action timeout a few times.  Bounded because with supervisord
 * down a power-off polls it every 10 ms (REAP_POLL_MS) for the whole
 * 30-second action timeout, a socket each time. */
#define MAX_FAKE_MS (4 * 60 * 1000)

static const BmcCommand *commands[MAX_COMMANDS];
static gsize n_commands;
static char *dir;
static char *state_dir;
static char *run_dir;
static char *qmp_socket;
static char *sup_socket;

typedef struct {
    guint8 channel;
    BmcPollLoop *pl;
    BmcLoop *loop;
    Machine *machine;
    BmcHost host;
    BmcContext ctx;
    gint64 fake_ms_left;
} Fixture;

static guint8
host_current_channel(gpointer data, gconstpointer msg)
{
    return ((Fixture *)data)->channel;
}

static gboolean
host_channel_info(gpointer data, guint8 channel, gboolean *is_lan)
{
    /* Whatever the handler passes must be a 4-bit channel number. */
    FUZZ_CHECK(channel <= 0x0f);
    if (channel == 1 || channel == 15) {
        *is_lan = channel == 1;
        return TRUE;
    }
    return FALSE;
}

/* Deferred failures and 0 ms timers, without letting time pass. */
static void
settle(Fixture *f)
{
    for (int i = 0; i < 4; i++) {
        bmc_poll_loop_advance(f->pl, 0);
    }
}

static void
let_time_pass(Fixture *f, const guint8 *data, gsize len)
{
    gint64 ms = 0;
    gint64 end;

    for (gsize i = 0; i < MIN(len, 2); i++) {
        ms |= (gint64)data[i] << (8 * i);
    }
    ms = MIN(ms, f->fake_ms_left);
    f->fake_ms_left -= ms;
    end = bmc_loop_now_ms(f->loop) + ms;
    /* With nothing to poll, each iteration jumps to the next timer. */
    for (int i = 0; i < 100000 && bmc_loop_now_ms(f->loop) < end; i++) {
        if (!bmc_poll_loop_iterate(f->pl, 0)) {
            break;
        }
    }
}

static gboolean
valid_cc(guint8 cc)
{
    /* IPMI 2.0 table 5-2: OK, command-specific 80h-BEh, generic C0h-D6h,
     * unspecified FFh. */
    return cc == 0x00 || (cc >= 0x80 && cc <= 0xbe) ||
           (cc >= 0xc0 && cc <= 0xd6) || cc == 0xff;
}

/* One handler call into a response buffer of exactly IPMI_MAX_RSP bytes
 * (so ASan sees a write past it), pre-filled with @canary. */
static guint8 *
run_handler(Fixture *f, const BmcCommand *c, const guint8 *data, gsize len,
            guint8 canary, gsize *rsp_len)
{
    guint8 *req_data = fuzz_exact_copy(data, len);
    BmcRequest req = {c->netfn, c->cmd, req_data, len, NULL};
    guint8 *rsp = malloc(IPMI_MAX_RSP);

    memset(rsp, canary, IPMI_MAX_RSP);
    *rsp_len = G_MAXSIZE;
    c->handler(&f->ctx, &req, rsp, rsp_len);
    free(req_data);

    if (*rsp_len < 1 || *rsp_len > IPMI_MAX_RSP) {
        fuzz_fail(NULL, "%s: rsp_len %zu outside [1, %d]", c->name, *rsp_len,
                  IPMI_MAX_RSP);
    }
    if (!valid_cc(rsp[0])) {
        fuzz_fail(NULL, "%s: completion code %02x", c->name, rsp[0]);
    }
    if (rsp[0] != IPMI_CC_OK && *rsp_len != 1) {
        fuzz_fail(NULL, "%s: completion code %02x with %zu bytes", c->name,
                  rsp[0], *rsp_len);
    }
    return rsp;
}

static void
request(Fixture *f, const BmcCommand *c, const guint8 *data, gsize len)
{
    gsize n1, n2;
    guint8 *r1 = run_handler(f, c, data, len, 0xa5, &n1);

    /* A Get has no side effects, so it can run again over another canary:
     * a reply byte the handler did not set shows up as a difference. */
    if (g_str_has_prefix(c->name, "Get ")) {
        guint8 *r2 = run_handler(f, c, data, len, 0x5a, &n2);

        if (n1 != n2 || memcmp(r1, r2, n1) != 0) {
            fuzz_fail(NULL,
                      "%s: reply depends on the buffer's old contents "
                      "(unset bytes)",
                      c->name);
        }
        free(r2);
    }
    free(r1);
}

/* Data length of each boot parameter as read back (IPMI 2.0 28-14). */
static const gsize boot_param_len[BOOT_PARAM_COUNT] = {1, 1, 1, 1, 2, 5, 9, 17};

static guint8
boot_get(const BootOptions *bo, guint8 param, guint8 setsel, guint8 *rsp,
         gsize *n)
{
    const guint8 req[3] = {param, setsel, 0};
    guint8 *exact = fuzz_exact_copy(req, sizeof(req));
    guint8 cc;

    /* What chassis.c gives it: the response buffer after its cc byte. */
    memset(rsp, 0xa5, IPMI_MAX_RSP - 1);
    *n = 0;
    cc = boot_options_get(bo, exact, sizeof(req), rsp, n);
    free(exact);
    return cc;
}

/* Set the raw bytes; if accepted, Get must return what was set. */
static void
boot_roundtrip(BootOptions *bo, const guint8 *data, gsize len)
{
    guint8 *req = fuzz_exact_copy(data, len);
    guint8 *rsp = malloc(IPMI_MAX_RSP - 1);
    guint8 ack_before = 0;
    guint8 in_progress_before = 0;
    BootOptions before = *bo;
    guint8 cc, param;
    gsize n = 0;

    /* The same bytes as a Get request, as a client might send them. */
    memset(rsp, 0xa5, IPMI_MAX_RSP - 1);
    cc = boot_options_get(bo, req, len, rsp, &n);
    FUZZ_CHECK(valid_cc(cc));
    if (cc == IPMI_CC_OK) {
        FUZZ_CHECK(len >= 3);
        FUZZ_CHECK((data[0] & 0x7f) < BOOT_PARAM_COUNT);
        FUZZ_CHECK(n == 2 + boot_param_len[data[0] & 0x7f]);
    }

    param = len ? data[0] & 0x7f : 0;
    if (param == BOOT_PARAM_ACK &&
        boot_get(bo, BOOT_PARAM_ACK, 0, rsp, &n) == IPMI_CC_OK) {
        ack_before = rsp[3];
    }
    if (param == BOOT_PARAM_SET_IN_PROGRESS &&
        boot_get(bo, 0, 0, rsp, &n) == IPMI_CC_OK) {
        in_progress_before = rsp[2];
    }

    cc = boot_options_set(bo, req, len);
    FUZZ_CHECK(valid_cc(cc));
    if (cc != IPMI_CC_OK) {
        /* A refused Set must change nothing, its "locked" bit included. */
        if (memcmp(&before, bo, sizeof(before)) != 0) {
            fuzz_fail("boot-refused-set-changes-lock",
                      "Set System Boot Options parameter %u refused with "
                      "%02x but changed the stored options",
                      param, cc);
            *bo = before; /* go on from a consistent state */
        }
        goto out;
    }
    FUZZ_CHECK(len >= 1 && param < BOOT_PARAM_COUNT);

    FUZZ_CHECK(boot_get(bo, param, param == 7 ? data[1] : 0, rsp, &n) ==
               IPMI_CC_OK);
    FUZZ_CHECK(n == 2 + boot_param_len[param]);
    FUZZ_CHECK(rsp[0] == 0x01);
    FUZZ_CHECK(rsp[1] == (param | (data[0] & 0x80)));
    switch (param) {
    case BOOT_PARAM_SET_IN_PROGRESS: {
        guint8 state = data[1] & 0x03;

        FUZZ_CHECK(state != 0x03);
        FUZZ_CHECK(!(state == 0x01 && in_progress_before == 0x01));
        FUZZ_CHECK(rsp[2] == (state == 0x01 ? 0x01 : 0x00));
        break;
    }
    case 1:
    case 2:
        FUZZ_CHECK(rsp[2] == data[1]);
        break;
    case BOOT_PARAM_CLEARING:
        FUZZ_CHECK(rsp[2] == (data[1] & 0x1f));
        break;
    case BOOT_PARAM_ACK:
        FUZZ_CHECK(rsp[2] == 0x00);
        FUZZ_CHECK(rsp[3] ==
                   (guint8)((ack_before & ~data[1]) | (data[2] & data[1])));
        break;
    case BOOT_PARAM_FLAGS:
        /* What ipmitool and Ironic check: the 5 bytes, valid bit included. */
        FUZZ_CHECK(memcmp(rsp + 2, data + 1, 5) == 0);
        FUZZ_CHECK(boot_flags_valid(bo) == !!(data[1] & 0x80));
        FUZZ_CHECK(boot_flags_persistent(bo) == !!(data[1] & 0x40));
        FUZZ_CHECK(boot_flags_efi(bo) == !!(data[1] & 0x20));
        FUZZ_CHECK(boot_flags_device(bo) == ((data[2] >> 2) & 0x0f));
        break;
    case 6:
        FUZZ_CHECK(memcmp(rsp + 2, data + 1, 9) == 0);
        break;
    case 7:
        FUZZ_CHECK(data[1] < BOOT_MAILBOX_BLOCKS);
        FUZZ_CHECK(rsp[2] == data[1]);
        FUZZ_CHECK(memcmp(rsp + 3, data + 2, len - 2) == 0);
        for (gsize i = len - 2; i < 16; i++) {
            FUZZ_CHECK(rsp[3 + i] == 0);
        }
        break;
    default:
        FUZZ_CHECK(!"unreachable parameter");
    }

    /* Persisted and loaded again, the options are the same. */
    {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        BootOptions loaded;

        boot_options_save(bo, kf, "boot-options");
        boot_options_init(&loaded);
        boot_options_load(&loaded, kf, "boot-options");
        /* Parameter 0 is volatile by design. */
        loaded.set_in_progress = bo->set_in_progress;
        FUZZ_CHECK(memcmp(&loaded, bo, sizeof(loaded)) == 0);
    }
out:
    free(rsp);
    free(req);
}

static void
cleanup(void)
{
    if (dir) {
        test_remove_tree(dir);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const guint8 *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const BmcCommand *tables[] = {chassis_commands, app_commands};
    g_autoptr(GError) error = NULL;

    fuzz_common_init();
    for (gsize t = 0; t < G_N_ELEMENTS(tables); t++) {
        for (const BmcCommand *c = tables[t]; c->handler; c++) {
            g_assert(n_commands < MAX_COMMANDS);
            /* The lookup the plugin registers with finds each entry. */
            g_assert(bmc_command_find(c->netfn, c->cmd) == c);
            commands[n_commands++] = c;
        }
    }

    dir = g_dir_make_tmp("fuzz-ipmi-handlers-XXXXXX", &error);
    g_assert_no_error(error);
    state_dir = g_build_filename(dir, "state", NULL);
    run_dir = g_build_filename(dir, "run", NULL);
    /* Nothing listens here: the peers are down. */
    qmp_socket = g_build_filename(dir, "no-qmp.sock", NULL);
    sup_socket = g_build_filename(dir, "no-supervisor.sock", NULL);
    atexit(cleanup);
    return 0;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, size_t size)
{
    FuzzInput in = {data, size};
    guint8 host = 0, policy = 0;
    g_autoptr(GError) error = NULL;
    g_autofree char *state_file = NULL;
    g_autofree char *marker = NULL;
    MachineConfig cfg = {0};
    BootOptions bo;
    Fixture f = {0};
    guint8 k;

    if (!fuzz_byte(&in, &host) || !fuzz_byte(&in, &policy)) {
        return 0;
    }

    /* A fresh start: no state file, no restore marker. */
    state_file = g_build_filename(state_dir, "qemu-bmc.state", NULL);
    marker = g_build_filename(run_dir, "qemu-bmc.restored", NULL);
    g_unlink(state_file);
    g_unlink(marker);

    f.channel = host & 0x0f;
    f.pl = bmc_poll_loop_new(TRUE);
    f.loop = bmc_poll_loop_get(f.pl);
    f.fake_ms_left = MAX_FAKE_MS;
    cfg.qmp_socket = qmp_socket;
    cfg.supervisor_socket = sup_socket;
    cfg.program = "qemu";
    cfg.state_dir = state_dir;
    cfg.run_dir = run_dir;
    cfg.restore_default = (MachinePolicy)((policy & 0x03) % 3);
    cfg.boot_default = (BootOrder)((host >> 6) % 3);
    cfg.uefi = (host & 0x20) != 0;
    cfg.qmp_command_timeout_ms = 1000;
    f.machine = machine_new(f.loop, &cfg, &error);
    g_assert_no_error(error);
    f.host = (BmcHost){
        .data = &f,
        .current_channel = host_current_channel,
        .channel_info = host_channel_info,
        .sol_present = (host & 0x10) != 0,
        .bmc_address = 0x20,
    };
    f.ctx = (BmcContext){.machine = f.machine, .host = &f.host};
    machine_start(f.machine);
    settle(&f);
    boot_options_init(&bo);

    while (fuzz_byte(&in, &k)) {
        guint8 len = 0;
        const guint8 *req;
        gsize n;

        (void)fuzz_byte(&in, &len);
        n = fuzz_bytes(&in, len, &req);
        if (n >= 2) {
            /* The lookup the plugin registers with, on any netfn/cmd. */
            const BmcCommand *c = bmc_command_find(req[0], req[1]);

            FUZZ_CHECK(!c || (c->netfn == req[0] && c->cmd == req[1]));
        }
        k %= n_commands + 2;
        if (k < n_commands) {
            request(&f, commands[k], req, n);
        } else if (k == n_commands) {
            let_time_pass(&f, req, n);
        } else {
            boot_roundtrip(&bo, req, n);
        }
        settle(&f);
    }

    machine_free(f.machine);
    /* Compact the timers the machine freed, then drop the loop. */
    bmc_poll_loop_iterate(f.pl, 0);
    bmc_poll_loop_free(f.pl);
    return 0;
}
