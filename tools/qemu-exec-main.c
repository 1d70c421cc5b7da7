/*
 * qemu-exec-main.c - the qemu-exec program: supervisord's program "qemu".
 *
 *   qemu-exec      (environment: RUN_DIR, STATE_DIR)
 *
 * Each power on: read RUN_DIR/qemu-argv (written when the node started, by
 * container/qemu-launch --render) and the BMC's plan for this boot
 * (STATE_DIR/qemu-bmc.state, [next-boot]), make UEFI's variable store if
 * it is missing, print the command line ("qemu-launch: ARGV", quoted as
 * Python's shlex.join does: tools parse it from the qemu log) and exec
 * QEMU, so that QEMU is this process.  A bad state file boots the defaults
 * with a warning; a missing or bad template is one line on stderr and exit
 * 2; QEMU that cannot be run, exit 127.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qemu-exec.h"

static const char *
env_dir(const char *name, const char *fallback)
{
    const char *value = g_getenv(name);

    if (!value) {
        value = fallback;
    }
    if (!g_path_is_absolute(value)) {
        g_printerr("qemu-exec: %s='%s': expected an absolute path\n", name,
                   value);
        return NULL;
    }
    return value;
}

int
main(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(QemuTemplate) t = NULL;
    g_autofree char *template_path = NULL;
    g_autofree char *state_path = NULL;
    g_autofree char *vars = NULL;
    g_autofree char *nvram = NULL;
    g_autofree char *line = NULL;
    g_auto(GStrv) qemu = NULL;
    QemuPlan plan = {{NULL}};
    const char *run, *state;

    if (argc > 1) {
        g_printerr("qemu-exec: takes no arguments (RUN_DIR and STATE_DIR "
                   "come from the environment)\n");
        return 2;
    }
    run = env_dir("RUN_DIR", "/run/qemu-bmc");
    state = env_dir("STATE_DIR", "/var/lib/qemu-bmc");
    if (!run || !state) {
        return 2;
    }
    template_path = g_build_filename(run, "qemu-argv", NULL);
    t = qemu_template_load(template_path, &error);
    if (!t) {
        g_printerr("qemu-exec: %s (container/qemu-launch --render writes "
                   "it)\n",
                   error->message);
        return 2;
    }
    qemu_plan_init_default(&plan, t);
    state_path = g_build_filename(state, "qemu-bmc.state", NULL);
    if (!qemu_plan_read_state(&plan, state_path, &error)) {
        g_printerr("qemu-exec: warning: boot plan unreadable (%s); booting "
                   "with the defaults\n",
                   error->message);
        g_clear_error(&error);
    }
    qemu = qemu_template_expand(t, &plan, &vars, &nvram);
    qemu_plan_clear(&plan);
    if (nvram && !qemu_exec_make_nvram(vars, nvram, &error)) {
        g_printerr("qemu-exec: UEFI variable store %s: %s\n", nvram,
                   error->message);
        return 1;
    }
    line = qemu_exec_shell_join((const char *const *)qemu);
    printf("qemu-launch: %s\n", line);
    fflush(stdout);
    execvp(qemu[0], qemu);
    g_printerr("qemu-exec: cannot run %s: %s\n", qemu[0], g_strerror(errno));
    return 127;
}
