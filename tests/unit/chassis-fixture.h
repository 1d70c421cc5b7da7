/*
 * chassis-fixture.h - a real Machine and the IPMI chassis handlers, with
 * their peers scripted (fake supervisord, fake QMP) on a poll loop with a
 * fake clock.  Shared by test-chassis.c and test-hostile-qmp.c.
 */
#pragma once

#include "fake-qmp.h"
#include "fake-supervisor.h"
#include "ipmi-cmd.h"
#include "machine.h"

#define PROC_ARG   "\"qemu\""
#define ACTION_ARG "\"qemu\", false"

typedef struct {
    char *dir;
    char *qmp_path;
    BmcPollLoop *pl;
    BmcLoop *loop;
    FakeSupervisor *sup;
    FakeQmp *qmp;
    Machine *machine;
    BmcHost host;
    BmcContext ctx;
    guint8 current_channel;
    int child; /* a real process standing in for QEMU, or 0 */
} Fixture;

/* supervisord's answer to getProcessInfo from now on (repeated). */
void expect_info(Fixture *f, int state, int pid);
/* Loop predicates: both scripts used up; the QMP script used up. */
gboolean scripts_done(gpointer data);
gboolean qmp_script_done(gpointer data);
void run_for(Fixture *f, gint64 ms);
gboolean wait_power(Fixture *f, gboolean on, gint64 ms);
/* Send one IPMI request; returns the completion code, fills @rsp. */
guint8 request(Fixture *f, guint8 netfn, guint8 cmd, const guint8 *data,
               gsize len, guint8 *rsp, gsize *rsp_len);
guint8 control(Fixture *f, guint8 action);
/* Byte @i of a Get Chassis Status reply (which must succeed). */
guint8 status_byte(Fixture *f, gsize i);
/* Set before fixture_setup(): supervisord's poll period (0: none but
 * those events cause), and what the machine sees in /proc of the pid
 * supervisord gives (FALSE: no such process). */
extern guint fixture_poll_ms;
extern gboolean fixture_qemu_alive;
/* Power starts off: supervisord says STOPPED and no QMP socket. */
void fixture_setup(Fixture *f, gconstpointer data);
void fixture_teardown(Fixture *f, gconstpointer data);
/* The 6 qom-set that put the devices' boot order into QEMU. */
void expect_boot_order(Fixture *f);
/* Power on through supervisord; QEMU then appears on QMP. */
void power_on(Fixture *f);
/* The same, with supervisord reporting QEMU as @pid. */
void power_on_pid(Fixture *f, int pid);
/* A real child process that only waits for signals, in f->child: the
 * machine gets a pidfd for that pid and no other (fake pids such as 4242
 * get ESRCH, whatever runs under them on this machine).  Teardown kills
 * and reaps it. */
void spawn_qemu_standin(Fixture *f);
/* QEMU goes away: its QMP link closes, supervisord then says EXITED. */
void qemu_exits(Fixture *f);
