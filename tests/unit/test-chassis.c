/*
 * test-chassis.c - the IPMI chassis and app handlers on a real Machine whose
 * peers are scripted: a fake supervisord and a fake QMP server, on a poll
 * loop with a fake clock.  Each test walks a power story and checks both
 * the IPMI bytes and what the peers were asked to do.
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chassis-fixture.h"

static void
test_status_off(Fixture *f, gconstpointer data)
{
    g_assert_cmpuint(status_byte(f, 1), ==, 0x00); /* off, always-off */
    g_assert_cmpuint(status_byte(f, 2), ==, 0x00);
    g_assert_cmpuint(status_byte(f, 3), ==, 0x40); /* identify off */
}

static void
test_capabilities(Fixture *f, gconstpointer data)
{
    guint8 rsp[IPMI_MAX_RSP];
    gsize n;
    const guint8 want[] = {0x00, 0x04, 0x20, 0x20, 0x20, 0x20};

    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x00, NULL, 0, rsp, &n), ==,
                     IPMI_CC_OK);
    g_assert_cmpmem(rsp, n, want, sizeof(want));
}

static void
test_power_on_off(Fixture *f, gconstpointer data)
{
    guint8 rsp[IPMI_MAX_RSP];
    gsize n;

    power_on(f);
    g_assert_cmpuint(status_byte(f, 2) & 0x10, ==, 0x10); /* on via IPMI */
    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x07, NULL, 0, rsp, &n), ==,
                     IPMI_CC_OK);
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpuint(rsp[1], ==, MACHINE_CAUSE_CHASSIS_CONTROL);
    g_assert_cmpuint(rsp[2], ==, 1);

    /* A second power on is a no-op: nothing scripted, nothing sent. */
    g_assert_cmpuint(control(f, 0x01), ==, IPMI_CC_OK);
    run_for(f, 200);

    fake_supervisor_expect_value(f->sup, "supervisor.stopProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    g_assert_cmpuint(control(f, 0x00), ==, IPMI_CC_OK);
    qemu_exits(f);
    g_assert_cmpuint(status_byte(f, 1) & 0x01, ==, 0x00);
}

static void
test_qmp_actions(Fixture *f, gconstpointer data)
{
    power_on(f);
    expect_boot_order(f); /* a reset boots with the current order */
    fake_qmp_expect(f->qmp, "system_reset", NULL, "{}");
    fake_qmp_expect(f->qmp, "inject-nmi", NULL, "{}");
    fake_qmp_expect(f->qmp, "system_powerdown", NULL, "{}");
    g_assert_cmpuint(control(f, 0x03), ==, IPMI_CC_OK);
    g_assert_cmpuint(control(f, 0x04), ==, IPMI_CC_OK);
    g_assert_cmpuint(control(f, 0x05), ==, IPMI_CC_OK);
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 5000));
    /* The guest obeys the power button: QEMU exits. */
    fake_qmp_send_event(f->qmp, "SHUTDOWN",
                        "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
    qemu_exits(f);
}

/* Members of the wrong type from QEMU (json-glib 1.6 fails a check on
 * them in its *_with_default accessors: a critical, fatal here). */
static void
test_mistyped_event_members(Fixture *f, gconstpointer data)
{
    power_on(f);
    fake_qmp_send_event(f->qmp, "RESET", "{\"guest\": {\"x\": 1}}");
    fake_qmp_send_event(f->qmp, "SHUTDOWN", "{\"guest\": [], \"reason\": 7}");
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 5000));
    run_for(f, 100);
    g_assert_true(machine_is_powered_on(f->machine));
}

static void
test_refused_when_off(Fixture *f, gconstpointer data)
{
    g_assert_cmpuint(control(f, 0x02), ==, IPMI_CC_NOT_IN_PRESENT_STATE);
    g_assert_cmpuint(control(f, 0x03), ==, IPMI_CC_NOT_IN_PRESENT_STATE);
    g_assert_cmpuint(control(f, 0x04), ==, IPMI_CC_NOT_IN_PRESENT_STATE);
    /* Off and soft off while off: nothing to do, success. */
    g_assert_cmpuint(control(f, 0x00), ==, IPMI_CC_OK);
    g_assert_cmpuint(control(f, 0x05), ==, IPMI_CC_OK);
    g_assert_cmpuint(control(f, 0x06), ==, IPMI_CC_INVALID_DATA_FIELD);
    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x02, NULL, 0, NULL, NULL),
                     ==, IPMI_CC_REQ_LEN_INVALID);
    run_for(f, 200);
}

static void
test_power_cycle(Fixture *f, gconstpointer data)
{
    power_on(f);
    fake_supervisor_expect_value(f->sup, "supervisor.stopProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    /* Right after the link drops supervisord has not reaped QEMU yet: the
     * cycle must wait for it instead of asking for a second start (which
     * the script would reject as an unexpected call). */
    expect_info(f, 40, 4242);
    g_assert_cmpuint(control(f, 0x02), ==, IPMI_CC_OK);
    fake_qmp_close(f->qmp);
    g_assert_true(wait_power(f, FALSE, 5000));
    g_clear_pointer(&f->qmp, fake_qmp_free);
    run_for(f, 500);
    g_assert_false(machine_is_powered_on(f->machine));

    expect_info(f, 100, 0);
    fake_supervisor_expect_value(f->sup, "supervisor.startProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    expect_info(f, 20, 4343);
    g_assert_true(wait_power(f, TRUE, 5000));
    f->qmp = fake_qmp_new(f->loop, f->qmp_path);
    fake_qmp_expect(f->qmp, "query-status", NULL, "{\"status\": \"running\"}");
    expect_boot_order(f);
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 30000));
    run_for(f, 200);
    g_assert_true(machine_is_powered_on(f->machine));
}

static void
test_frozen_qemu_still_answers(Fixture *f, gconstpointer data)
{
    power_on(f);
    /* QEMU stops answering: commands time out, IPMI answers regardless. */
    expect_boot_order(f);
    fake_qmp_expect_no_reply(f->qmp, "system_reset", NULL);
    /* While expectations are set GLib aborts on any other message. */
    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_MESSAGE, "hard reset");
    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_WARNING,
                          "hard reset: *system_reset*");
    g_assert_cmpuint(control(f, 0x03), ==, IPMI_CC_OK);
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 5000));
    run_for(f, 1500); /* past the 1 s command timeout */
    g_test_assert_expected_messages();
    g_assert_cmpuint(status_byte(f, 1) & 0x01, ==, 0x01);
    fake_supervisor_expect_value(f->sup, "supervisor.stopProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    g_assert_cmpuint(control(f, 0x00), ==, IPMI_CC_OK);
    qemu_exits(f);
}

/* Block (real time, at most 5 s) until the stand-in has exited, then reap
 * it; returns its wait status. */
static int
reap_standin(Fixture *f)
{
    int fd = pidfd_open(f->child, 0);
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int status = 0;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(poll(&pfd, 1, 5000), ==, 1);
    close(fd);
    g_assert_cmpint(waitpid(f->child, &status, 0), ==, f->child);
    f->child = 0;
    return status;
}

static void
stop_standin(Fixture *f)
{
    int status = 0;

    g_assert_cmpint(kill(f->child, SIGSTOP), ==, 0);
    g_assert_cmpint(waitpid(f->child, &status, WUNTRACED), ==, f->child);
    g_assert_true(WIFSTOPPED(status));
}

static void
fence_fired(gpointer data)
{
}

/* run_for() lets idle fake time jump to the next timer, even one after the
 * end: a timer due at the end holds it there. */
static void
run_no_further(Fixture *f, guint ms)
{
    BmcTimer *fence = bmc_timer_new(f->loop, fence_fired, NULL);

    bmc_timer_start(f->loop, fence, ms);
    run_for(f, ms);
    bmc_timer_free(f->loop, fence);
}

/* A hard off signals QEMU itself, through a pidfd: supervisord only learns
 * of the exit (and reaps QEMU) when the machine asks, once QEMU is gone. */
static void
test_power_off_pidfd(Fixture *f, gconstpointer data)
{
    int status;
    gint64 t0;

    spawn_qemu_standin(f);
    power_on_pid(f, f->child);
    /* Stopped, the stand-in keeps the SIGTERM pending: no stop may reach
     * supervisord meanwhile (the script has only the polls' answer, and
     * the fake fails the test on any other call). */
    stop_standin(f);
    t0 = bmc_loop_now_ms(f->loop);
    g_assert_cmpuint(control(f, 0x00), ==, IPMI_CC_OK);
    run_no_further(f, 200);
    g_assert_cmpint(bmc_loop_now_ms(f->loop) - t0, ==, 200);
    g_assert_cmpuint(status_byte(f, 1) & 0x01, ==, 0x01);

    /* Gone: one poll (it wakes supervisord to reap), and no stop. */
    expect_info(f, 100, 0); /* EXITED */
    g_assert_cmpint(kill(f->child, SIGCONT), ==, 0);
    status = reap_standin(f);
    g_assert_true(WIFSIGNALED(status));
    g_assert_cmpint(WTERMSIG(status), ==, SIGTERM);
    fake_qmp_close(f->qmp);
    g_assert_true(wait_power(f, FALSE, 5000));
    g_assert_true(bmc_poll_loop_run_until(f->pl, scripts_done, f, 5000));
    /* The exit, not the 250 ms fallback, ended the power off. */
    g_assert_cmpint(bmc_loop_now_ms(f->loop) - t0, <, 250);
    g_clear_pointer(&f->qmp, fake_qmp_free);
    run_for(f, 500);
    g_assert_false(machine_is_powered_on(f->machine));
}

/* QEMU frozen: SIGTERM does nothing, so after a while supervisord is asked
 * to stop it (supervisord escalates to SIGKILL, done here by the test). */
static void
test_power_off_frozen_pidfd(Fixture *f, gconstpointer data)
{
    gint64 t0;

    spawn_qemu_standin(f);
    power_on_pid(f, f->child);
    stop_standin(f);
    fake_supervisor_expect_value(f->sup, "supervisor.stopProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    expect_info(f, 40, f->child); /* STOPPING */
    t0 = bmc_loop_now_ms(f->loop);
    g_assert_cmpuint(control(f, 0x00), ==, IPMI_CC_OK);
    g_assert_true(bmc_poll_loop_run_until(f->pl, scripts_done, f, 5000));
    g_assert_cmpint(bmc_loop_now_ms(f->loop) - t0, >=, 250);
    g_assert_true(machine_is_powered_on(f->machine));

    expect_info(f, 0, 0);
    g_assert_cmpint(kill(f->child, SIGKILL), ==, 0);
    (void)reap_standin(f);
    fake_qmp_close(f->qmp);
    g_assert_true(wait_power(f, FALSE, 5000));
    g_assert_true(bmc_poll_loop_run_until(f->pl, scripts_done, f, 5000));
    g_clear_pointer(&f->qmp, fake_qmp_free);
}

static void
test_restore_policy(Fixture *f, gconstpointer data)
{
    guint8 rsp[IPMI_MAX_RSP];
    gsize n;
    guint8 req = 0x02; /* always on */
    guint8 bad = 0x04;
    guint8 query = 0x03;
    g_autofree char *path =
        g_build_filename(f->dir, "state", "qemu-bmc.state", NULL);
    g_autofree char *text = NULL;
    GStatBuf st;

    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x06, &req, 1, rsp, &n), ==,
                     IPMI_CC_OK);
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpuint(rsp[1], ==, 0x07);
    g_assert_cmpuint((status_byte(f, 1) >> 5) & 0x03, ==, 2);
    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    g_assert_nonnull(strstr(text, "restore-policy=always-on"));
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpuint(st.st_mode & 0777, ==, 0600);

    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x06, &query, 1, rsp, &n),
                     ==, IPMI_CC_OK);
    g_assert_cmpuint((status_byte(f, 1) >> 5) & 0x03, ==, 2);
    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x06, &bad, 1, rsp, &n), ==,
                     IPMI_CC_INVALID_DATA_FIELD);
}

static void
test_identify(Fixture *f, gconstpointer data)
{
    const guint8 ten[] = {10};
    const guint8 force[] = {0, 1};
    const guint8 off[] = {0};

    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x04, ten, 1, NULL, NULL),
                     ==, IPMI_CC_OK);
    g_assert_cmpuint((status_byte(f, 3) >> 4) & 0x03, ==, 1);
    run_for(f, 11000);
    g_assert_cmpuint((status_byte(f, 3) >> 4) & 0x03, ==, 0);
    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x04, force, 2, NULL, NULL),
                     ==, IPMI_CC_OK);
    g_assert_cmpuint((status_byte(f, 3) >> 4) & 0x03, ==, 2);
    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x04, off, 1, NULL, NULL),
                     ==, IPMI_CC_OK);
    g_assert_cmpuint((status_byte(f, 3) >> 4) & 0x03, ==, 0);
}

static void
test_payload_support(Fixture *f, gconstpointer data)
{
    guint8 rsp[IPMI_MAX_RSP];
    gsize n;
    const guint8 current[] = {0x0e};
    const guint8 lan[] = {0x01};
    const guint8 missing[] = {0x05};
    const guint8 want[] = {0x00, 0x03, 0x00, 0x3f, 0, 0, 0, 0, 0};

    /* FreeIPMI's ipmiconsole asks about 0x0E, "this channel". */
    g_assert_cmpuint(request(f, IPMI_NETFN_APP, 0x4e, current, 1, rsp, &n), ==,
                     IPMI_CC_OK);
    g_assert_cmpmem(rsp, n, want, sizeof(want));
    g_assert_cmpuint(request(f, IPMI_NETFN_APP, 0x4e, lan, 1, rsp, &n), ==,
                     IPMI_CC_OK);
    g_assert_cmpmem(rsp, n, want, sizeof(want));
    g_assert_cmpuint(request(f, IPMI_NETFN_APP, 0x4e, missing, 1, rsp, &n), ==,
                     IPMI_CC_INVALID_DATA_FIELD);
    g_assert_cmpuint(request(f, IPMI_NETFN_APP, 0x4e, NULL, 0, rsp, &n), ==,
                     IPMI_CC_REQ_LEN_INVALID);
}

static guint8
boot_set(Fixture *f, const guint8 *req, gsize len)
{
    return request(f, IPMI_NETFN_CHASSIS, 0x08, req, len, NULL, NULL);
}

/* Byte 1 of parameter 5 as Get System Boot Options reads it. */
static guint8
boot_flags_byte(Fixture *f)
{
    const guint8 req[] = {0x05, 0x00, 0x00};
    guint8 rsp[IPMI_MAX_RSP];
    gsize n;

    g_assert_cmpuint(request(f, IPMI_NETFN_CHASSIS, 0x09, req, 3, rsp, &n), ==,
                     IPMI_CC_OK);
    g_assert_cmpuint(n, ==, 8);
    return rsp[3];
}

static char *
state_text(Fixture *f)
{
    g_autofree char *path =
        g_build_filename(f->dir, "state", "qemu-bmc.state", NULL);
    char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    return text;
}

/* The order qom-set gives QEMU: three devices out of the way, then each
 * to its place. */
static void
expect_order(Fixture *f, const char *first, const char *second,
             const char *third)
{
    const char *order[] = {first, second, third};

    for (int i = 0; i < 3; i++) {
        fake_qmp_expect(f->qmp, "qom-set", NULL, "{}");
    }
    for (int i = 0; i < 3; i++) {
        g_autofree char *args = g_strdup_printf(
            "{\"path\": \"/machine/peripheral/%s\", \"property\": "
            "\"bootindex\", \"value\": %d}",
            order[i], i + 1);
        fake_qmp_expect(f->qmp, "qom-set", args, "{}");
    }
}

/* A next-boot-only CD-ROM override: the launcher's plan has it first, the
 * boot uses it up, and QEMU gets the default order back afterwards. */
static void
test_boot_next_only(Fixture *f, gconstpointer data)
{
    const guint8 cdrom[] = {0x05, 0x80, 0x14, 0x00, 0x00, 0x00};
    g_autofree char *text = NULL;

    g_assert_cmpuint(boot_set(f, cdrom, sizeof(cdrom)), ==, IPMI_CC_OK);
    g_assert_cmpuint(boot_flags_byte(f), ==, 0x80);
    power_on(f); /* expects the default order back, 15 s after */
    text = state_text(f);
    g_assert_nonnull(strstr(text, "order=disk0,cd0,net0"));
    g_assert_cmpuint(boot_flags_byte(f), ==, 0x00); /* used up */
}

static void
test_boot_plan_for_launcher(Fixture *f, gconstpointer data)
{
    const guint8 pxe_efi[] = {0x05, 0xa0, 0x04, 0x00, 0x00, 0x00};
    g_autofree char *text = NULL;

    g_assert_cmpuint(boot_set(f, pxe_efi, sizeof(pxe_efi)), ==, IPMI_CC_OK);
    fake_supervisor_expect_value(f->sup, "supervisor.startProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    expect_info(f, 20, 4242);
    g_assert_cmpuint(control(f, 0x01), ==, IPMI_CC_OK);
    /* Read before QEMU shows up: what the launcher sees. */
    text = state_text(f);
    g_assert_nonnull(strstr(text, "order=net0,disk0,cd0"));
    g_assert_nonnull(strstr(text, "firmware=uefi"));
    g_assert_true(bmc_poll_loop_run_until(f->pl, scripts_done, f, 5000));
    run_for(f, 100);
}

static void
test_boot_persistent(Fixture *f, gconstpointer data)
{
    const guint8 pxe[] = {0x05, 0xc0, 0x04, 0x00, 0x00, 0x00};

    g_assert_cmpuint(boot_set(f, pxe, sizeof(pxe)), ==, IPMI_CC_OK);
    fake_supervisor_expect_value(f->sup, "supervisor.startProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    expect_info(f, 20, 4242);
    g_assert_cmpuint(control(f, 0x01), ==, IPMI_CC_OK);
    f->qmp = fake_qmp_new(f->loop, f->qmp_path);
    fake_qmp_expect(f->qmp, "query-status", NULL, "{\"status\": \"running\"}");
    expect_order(f, "net0", "disk0", "cd0"); /* still the override */
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 30000));
    g_assert_cmpuint(boot_flags_byte(f), ==, 0xc0);
    /* A reset keeps it too. */
    expect_order(f, "net0", "disk0", "cd0");
    fake_qmp_expect(f->qmp, "system_reset", NULL, "{}");
    g_assert_cmpuint(control(f, 0x03), ==, IPMI_CC_OK);
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 5000));
    g_assert_cmpuint(boot_flags_byte(f), ==, 0xc0);
}

/* Set while running: QEMU's order changes at once, so that a reboot from
 * inside the guest boots as asked; the reboot uses the override up. */
static void
test_boot_guest_reboot(Fixture *f, gconstpointer data)
{
    const guint8 cdrom[] = {0x05, 0x80, 0x14, 0x00, 0x00, 0x00};

    power_on(f);
    expect_order(f, "cd0", "disk0", "net0");
    g_assert_cmpuint(boot_set(f, cdrom, sizeof(cdrom)), ==, IPMI_CC_OK);
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 5000));
    run_for(f, 5000); /* past the firmware's own resets after boot */
    fake_qmp_send_event(f->qmp, "RESET",
                        "{\"guest\": true, \"reason\": \"guest-reset\"}");
    expect_order(f, "disk0", "cd0", "net0"); /* back, once it has booted */
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 30000));
    g_assert_cmpuint(boot_flags_byte(f), ==, 0x00);
}

/* Without a Chassis Control command the valid bit goes after 60 s, unless
 * parameter 3 says to keep it. */
static void
test_boot_60s_rule(Fixture *f, gconstpointer data)
{
    const guint8 disk[] = {0x05, 0x80, 0x08, 0x00, 0x00, 0x00};
    const guint8 keep[] = {0x03, 0x08};

    g_assert_cmpuint(boot_set(f, disk, sizeof(disk)), ==, IPMI_CC_OK);
    run_for(f, 59000);
    g_assert_cmpuint(boot_flags_byte(f), ==, 0x80);
    run_for(f, 2000);
    g_assert_cmpuint(boot_flags_byte(f), ==, 0x00);

    g_assert_cmpuint(boot_set(f, keep, sizeof(keep)), ==, IPMI_CC_OK);
    g_assert_cmpuint(boot_set(f, disk, sizeof(disk)), ==, IPMI_CC_OK);
    run_for(f, 120000);
    g_assert_cmpuint(boot_flags_byte(f), ==, 0x80);
}

static void
test_boot_60s_met_by_control(Fixture *f, gconstpointer data)
{
    const guint8 disk[] = {0x05, 0x80, 0x08, 0x00, 0x00, 0x00};

    g_assert_cmpuint(boot_set(f, disk, sizeof(disk)), ==, IPMI_CC_OK);
    run_for(f, 30000);
    /* Any chassis control command counts, even a refused one. */
    g_assert_cmpuint(control(f, 0x03), ==, IPMI_CC_NOT_IN_PRESENT_STATE);
    run_for(f, 60000);
    g_assert_cmpuint(boot_flags_byte(f), ==, 0x80);
}

/* An EFI override on a SeaBIOS machine: a reset cannot switch firmware,
 * so it becomes a power cycle. */
static void
test_boot_firmware_switch_cycles(Fixture *f, gconstpointer data)
{
    const guint8 efi_disk[] = {0x05, 0xa0, 0x08, 0x00, 0x00, 0x00};

    power_on(f);
    expect_order(f, "disk0", "cd0", "net0");
    g_assert_cmpuint(boot_set(f, efi_disk, sizeof(efi_disk)), ==, IPMI_CC_OK);
    g_assert_true(bmc_poll_loop_run_until(f->pl, qmp_script_done, f, 5000));
    fake_supervisor_expect_value(f->sup, "supervisor.stopProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    g_assert_cmpuint(control(f, 0x03), ==, IPMI_CC_OK);
    expect_info(f, 100, 0);
    fake_supervisor_expect_value(f->sup, "supervisor.startProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    expect_info(f, 20, 4343);
    fake_qmp_close(f->qmp);
    g_assert_true(bmc_poll_loop_run_until(f->pl, scripts_done, f, 10000));
    g_clear_pointer(&f->qmp, fake_qmp_free);
    g_assert_true(wait_power(f, TRUE, 5000));
    {
        g_autofree char *text = state_text(f);
        g_assert_nonnull(strstr(text, "firmware=uefi"));
    }
}

/* Saves fail from now on (a full disk; here a directory where the new
 * state file would be written).  Returns its path, for g_rmdir(). */
static char *
block_saves(Fixture *f)
{
    char *tmp = g_build_filename(f->dir, "state", "qemu-bmc.state.tmp", NULL);

    g_assert_cmpint(g_mkdir(tmp, 0700), ==, 0);
    return tmp;
}

/* A setting that cannot be kept (a full disk: block_saves()) is refused
 * with an error, and the old one stays in force and on disk; once the disk
 * takes writes, it works. */
static void
test_unsaved_setting_refused(Fixture *f, gconstpointer data)
{
    const guint8 pxe[] = {0x05, 0xc0, 0x04, 0x00, 0x00, 0x00};
    const guint8 cdrom[] = {0x05, 0xc0, 0x14, 0x00, 0x00, 0x00};
    guint8 rsp[IPMI_MAX_RSP];
    gsize n;
    guint8 always_on = 0x02;
    g_autofree char *tmp = NULL;
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    g_autofree char *last = NULL;

    g_assert_cmpuint(boot_set(f, pxe, sizeof(pxe)), ==, IPMI_CC_OK);
    before = state_text(f);
    tmp = block_saves(f);

    g_assert_cmpuint(boot_set(f, cdrom, sizeof(cdrom)), ==,
                     IPMI_CC_UNSPECIFIED);
    g_assert_cmpuint(
        request(f, IPMI_NETFN_CHASSIS, 0x06, &always_on, 1, rsp, &n), ==,
        IPMI_CC_UNSPECIFIED);
    after = state_text(f);
    g_assert_cmpstr(after, ==, before);
    g_assert_nonnull(strstr(after, "boot-flags=c004000000"));
    /* What the BMC answers is what it kept. */
    g_assert_cmpuint(boot_flags_byte(f), ==, 0xc0);
    g_assert_cmpuint((status_byte(f, 1) >> 5) & 0x03, ==, 0);

    g_assert_cmpint(g_rmdir(tmp), ==, 0);
    g_assert_cmpuint(boot_set(f, cdrom, sizeof(cdrom)), ==, IPMI_CC_OK);
    last = state_text(f);
    g_assert_nonnull(strstr(last, "boot-flags=c014000000"));
}

/* A next-boot-only PXE override, saved (the launcher's plan has PXE
 * first); then saves fail.  Returns block_saves()' path. */
static char *
pxe_saved_then_full(Fixture *f)
{
    const guint8 pxe[] = {0x05, 0x80, 0x04, 0x00, 0x00, 0x00};
    g_autofree char *text = NULL;

    g_assert_cmpuint(boot_set(f, pxe, sizeof(pxe)), ==, IPMI_CC_OK);
    text = state_text(f);
    g_assert_nonnull(strstr(text, "order=net0,disk0,cd0"));
    return block_saves(f);
}

/* The override expires while the disk is full: the file still holds its
 * plan (PXE first), so the launcher would boot from the network.  Power on
 * is refused rather than boot the wrong device; nothing is started, and
 * once the disk takes writes it powers on with the right plan. */
static void
test_power_on_refused_old_plan(Fixture *f, gconstpointer data)
{
    g_autofree char *tmp = pxe_saved_then_full(f);
    g_autofree char *before = state_text(f);
    g_autofree char *after = NULL;
    g_autofree char *last = NULL;

    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_MESSAGE,
                          "boot override expired*");
    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_WARNING, "saving state: *");
    run_for(f, 61000);
    g_test_assert_expected_messages();

    /* Nothing scripted on the fake supervisord: a startProcess fails. */
    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_MESSAGE, "power on");
    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_MESSAGE,
                          "power on refused: saving state: *older one*");
    g_assert_cmpuint(control(f, 0x01), ==, IPMI_CC_UNSPECIFIED);
    run_for(f, 500);
    g_test_assert_expected_messages();
    g_assert_cmpuint(status_byte(f, 1) & 0x01, ==, 0x00);
    after = state_text(f);
    g_assert_cmpstr(after, ==, before);

    g_assert_cmpint(g_rmdir(tmp), ==, 0);
    power_on(f);
    last = state_text(f);
    g_assert_nonnull(strstr(last, "order=disk0,cd0,net0"));
    g_assert_nonnull(strstr(last, "last-power-on=true"));
}

/* With the disk full but the plan on disk the one meant (the override was
 * saved when it was set), power on goes ahead: the launcher boots it. */
static void
test_power_on_unsaved_same_plan(Fixture *f, gconstpointer data)
{
    g_autofree char *tmp = pxe_saved_then_full(f);
    g_autofree char *text = NULL;

    fake_supervisor_expect_value(f->sup, "supervisor.startProcess", ACTION_ARG,
                                 "<value><boolean>1</boolean></value>");
    expect_info(f, 20, 4242);
    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_MESSAGE, "power on");
    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_MESSAGE,
                          "boot override used*");
    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_WARNING,
                          "saving state: *the boot plan on disk is this one");
    g_test_expect_message("qemu-bmc", G_LOG_LEVEL_MESSAGE, "power is on");
    g_assert_cmpuint(control(f, 0x01), ==, IPMI_CC_OK);
    g_test_assert_expected_messages();
    text = state_text(f);
    g_assert_nonnull(strstr(text, "order=net0,disk0,cd0"));
    g_assert_cmpint(g_rmdir(tmp), ==, 0);
    g_assert_true(bmc_poll_loop_run_until(f->pl, scripts_done, f, 5000));
    g_assert_cmpuint(boot_flags_byte(f), ==, 0x00); /* used up */
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn)                                                          \
    g_test_add("/chassis/" path, Fixture, NULL, fixture_setup, fn,             \
               fixture_teardown)
    ADD("status-off", test_status_off);
    ADD("capabilities", test_capabilities);
    ADD("power-on-off", test_power_on_off);
    ADD("qmp-actions", test_qmp_actions);
    ADD("refused-when-off", test_refused_when_off);
    ADD("mistyped-event-members", test_mistyped_event_members);
    ADD("power-cycle", test_power_cycle);
    ADD("frozen-qemu-still-answers", test_frozen_qemu_still_answers);
    ADD("power-off-pidfd", test_power_off_pidfd);
    ADD("power-off-frozen-pidfd", test_power_off_frozen_pidfd);
    ADD("restore-policy", test_restore_policy);
    ADD("identify", test_identify);
    ADD("payload-support", test_payload_support);
    ADD("boot/next-boot-only", test_boot_next_only);
    ADD("boot/plan-for-launcher", test_boot_plan_for_launcher);
    ADD("boot/persistent", test_boot_persistent);
    ADD("boot/guest-reboot", test_boot_guest_reboot);
    ADD("boot/60s-rule", test_boot_60s_rule);
    ADD("boot/60s-met-by-control", test_boot_60s_met_by_control);
    ADD("boot/firmware-switch-cycles", test_boot_firmware_switch_cycles);
    ADD("unsaved-setting-refused", test_unsaved_setting_refused);
    ADD("boot/power-on-refused-old-plan", test_power_on_refused_old_plan);
    ADD("boot/power-on-unsaved-same-plan", test_power_on_unsaved_same_plan);
    return g_test_run();
}
