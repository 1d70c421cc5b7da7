/*
 * chassis-fixture.c - see chassis-fixture.h.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chassis-fixture.h"
#include "test-util.h"

static char *
process_info(int state, int pid)
{
    return g_strdup_printf(
        "<value><struct>"
        "<member><name>name</name><value><string>qemu</string></value>"
        "</member>"
        "<member><name>state</name><value><int>%d</int></value></member>"
        "<member><name>pid</name><value><int>%d</int></value></member>"
        "<member><name>exitstatus</name><value><int>0</int></value></member>"
        "<member><name>start</name><value><int>100</int></value></member>"
        "<member><name>stop</name><value><int>0</int></value></member>"
        "</struct></value>",
        state, pid);
}

void
expect_info(Fixture *f, int state, int pid)
{
    g_autofree char *xml = process_info(state, pid);

    fake_supervisor_expect_value(f->sup, "supervisor.getProcessInfo", PROC_ARG,
                                 xml);
    /* The machine polls as often as it needs: this is supervisord's answer
     * until the test scripts the next one. */
    fake_supervisor_repeat_last(f->sup);
}

static guint8
host_current_channel(gpointer data, gconstpointer msg)
{
    return ((Fixture *)data)->current_channel;
}

static gboolean
host_channel_info(gpointer data, guint8 channel, gboolean *is_lan)
{
    if (channel == 1) {
        *is_lan = TRUE;
        return TRUE;
    }
    if (channel == 15) {
        *is_lan = FALSE;
        return TRUE;
    }
    return FALSE;
}

/* Run the loop until both scripts are used up. */
gboolean
scripts_done(gpointer data)
{
    Fixture *f = data;

    return (!f->qmp || fake_qmp_script_done(f->qmp)) &&
           fake_supervisor_script_done(f->sup);
}

void
run_for(Fixture *f, gint64 ms)
{
    gint64 end = bmc_loop_now_ms(f->loop) + ms;

    while (bmc_loop_now_ms(f->loop) < end) {
        bmc_poll_loop_iterate(f->pl, 10);
    }
}

typedef struct {
    Fixture *f;
    gboolean want_on;
} PowerWait;

static gboolean
power_reached(gpointer data)
{
    PowerWait *w = data;

    return machine_is_powered_on(w->f->machine) == w->want_on;
}

gboolean
wait_power(Fixture *f, gboolean on, gint64 ms)
{
    PowerWait w = {f, on};

    return bmc_poll_loop_run_until(f->pl, power_reached, &w, ms);
}

gboolean
qmp_script_done(gpointer data)
{
    return fake_qmp_script_done(((Fixture *)data)->qmp);
}

/* Send one IPMI request; returns the completion code, fills @rsp. */
guint8
request(Fixture *f, guint8 netfn, guint8 cmd, const guint8 *data, gsize len,
        guint8 *rsp, gsize *rsp_len)
{
    const BmcCommand *c = bmc_command_find(netfn, cmd);
    BmcRequest req = {netfn, cmd, data, len, NULL};
    guint8 buf[IPMI_MAX_RSP];
    gsize n = 0;

    g_assert_nonnull(c);
    memset(buf, 0xa5, sizeof(buf)); /* unset bytes must not leak out */
    c->handler(&f->ctx, &req, buf, &n);
    g_assert_cmpuint(n, >=, 1);
    if (rsp) {
        memcpy(rsp, buf, n);
    }
    if (rsp_len) {
        *rsp_len = n;
    }
    return buf[0];
}

guint8
control(Fixture *f, guint8 action)
{
    return request(f, IPMI_NETFN_CHASSIS, 0x02, &action, 1, NULL, NULL);
}

guint8
status_byte(Fixture *f, gsize i)
{
    guint8 rsp[IPMI_MAX_RSP];
    gsize n;

    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x01, NULL, 0, rsp, &n), ==,
                     IPMI_CC_OK);
    g_assert_cmpuint(n, ==, 4);
    return rsp[i];
}

guint fixture_poll_ms;
gboolean fixture_qemu_alive;

static gboolean
fake_process_running(int pid)
{
    return pid > 0 && fixture_qemu_alive;
}

static int fixture_child_pid;

static int
fake_pidfd_open(int pid)
{
    if (pid <= 0 || pid != fixture_child_pid) {
        errno = ESRCH;
        return -1;
    }
    return pidfd_open(pid, 0);
}

void
spawn_qemu_standin(Fixture *f)
{
    int pid = fork();

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        /* Never outlive the test, stopped or not. */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
            pause();
        }
    }
    f->child = pid;
    fixture_child_pid = pid;
}

void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *state = NULL;
    g_autofree char *run = NULL;
    MachineConfig cfg = {0};

    f->dir = g_dir_make_tmp("test-chassis-XXXXXX", &error);
    g_assert_no_error(error);
    f->qmp_path = g_build_filename(f->dir, "qmp.sock", NULL);
    state = g_build_filename(f->dir, "state", NULL);
    run = g_build_filename(f->dir, "run", NULL);
    f->pl = bmc_poll_loop_new(TRUE);
    f->loop = bmc_poll_loop_get(f->pl);
    f->sup = fake_supervisor_new(f->loop, f->dir);

    cfg.qmp_socket = f->qmp_path;
    cfg.supervisor_socket = fake_supervisor_get_socket_path(f->sup);
    cfg.program = "qemu";
    cfg.state_dir = state;
    cfg.run_dir = run;
    cfg.restore_default = MACHINE_POLICY_ALWAYS_OFF;
    cfg.qmp_command_timeout_ms = 1000;
    /* Only polls caused by events: periodic ones would need scripting. */
    cfg.supervisor_poll_ms = fixture_poll_ms ? fixture_poll_ms : 3600 * 1000;
    cfg.process_running = fake_process_running;
    cfg.pidfd_open = fake_pidfd_open;
    f->machine = machine_new(f->loop, &cfg, &error);
    g_assert_no_error(error);

    f->current_channel = 1;
    f->host = (BmcHost){
        .data = f,
        .current_channel = host_current_channel,
        .channel_info = host_channel_info,
        .sol_present = TRUE,
        .bmc_address = 0x20,
    };
    f->ctx = (BmcContext){.machine = f->machine, .host = &f->host};

    /* Power starts off: supervisord says STOPPED and no QMP socket. */
    expect_info(f, 0, 0);
    machine_start(f->machine);
    g_assert_true(bmc_poll_loop_run_until(f->pl, scripts_done, f, 5000));
    run_for(f, 100);
}

void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_clear_pointer(&f->machine, machine_free);
    g_clear_pointer(&f->qmp, fake_qmp_free);
    g_clear_pointer(&f->sup, fake_supervisor_free);
    g_clear_pointer(&f->pl, bmc_poll_loop_free);
    if (f->child > 0) {
        (void)kill(f->child, SIGKILL);
        (void)waitpid(f->child, NULL, 0);
        f->child = 0;
    }
    fixture_child_pid = 0;
    test_remove_tree(f->dir);
    g_free(f->dir);
    g_free(f->qmp_path);
}

/* The machine puts the devices' boot order into QEMU (6 qom-set: every
 * device moved out of the way, then each to its place). */
void
expect_boot_order(Fixture *f)
{
    for (int i = 0; i < 6; i++) {
        fake_qmp_expect(f->qmp, "qom-set", NULL, "{}");
    }
}

/* Power on through supervisord; QEMU then appears on QMP. */
void
power_on(Fixture *f)
{
    power_on_pid(f, 4242);
}

void
power_on_pid(Fixture *f, int pid)
{
    fake_supervisor_expect_value(f->sup, "supervisor.startProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    expect_info(f, 20, pid);
    g_assert_cmpuint(control(f, 0x01), ==, IPMI_CC_OK);
    /* Power reads on at once: the action is in flight. */
    g_assert_cmpuint(status_byte(f, 1) & 0x01, ==, 0x01);

    f->qmp = fake_qmp_new(f->loop, f->qmp_path);
    fake_qmp_expect(f->qmp, "query-status", NULL,
                    "{\"status\": \"running\", \"running\": true}");
    /* Once the firmware has picked its boot device. */
    expect_boot_order(f);
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 30000));
    g_assert_true(fake_qmp_is_ready(f->qmp));
    run_for(f, 200);
    g_assert_true(machine_is_powered_on(f->machine));
}

/* QEMU goes away: its QMP link closes, supervisord then says EXITED. */
void
qemu_exits(Fixture *f)
{
    expect_info(f, 100, 0);
    fake_qmp_close(f->qmp);
    g_assert_true(wait_power(f, FALSE, 5000));
    g_assert_true(bmc_poll_loop_run_until(f->pl, scripts_done, f, 5000));
    g_clear_pointer(&f->qmp, fake_qmp_free);
}
