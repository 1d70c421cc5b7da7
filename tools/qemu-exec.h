/*
 * qemu-exec.h - the QEMU launcher's fast path: a template rendered once per
 * node start (container/qemu-launch --render) plus the BMC's boot plan
 * (STATE_DIR/qemu-bmc.state, [next-boot]) make the command line of a boot.
 */
#pragma once

#include <glib.h>

#define QEMU_EXEC_ERROR (qemu_exec_error_quark())
GQuark qemu_exec_error_quark(void);

typedef enum {
    QEMU_EXEC_ERROR_TEMPLATE, /* RUN_DIR/qemu-argv is missing or bad */
    QEMU_EXEC_ERROR_PLAN,     /* the state file's [next-boot] is bad */
} QemuExecError;

/* The devices whose bootindex follows the boot order. */
#define QEMU_EXEC_N_DEVICES 3

typedef struct {
    char *order[QEMU_EXEC_N_DEVICES]; /* "disk0", "cd0", "net0" in order */
    gboolean uefi;
    gboolean setup;
} QemuPlan;

typedef struct QemuTemplate QemuTemplate;

QemuTemplate *qemu_template_parse(const char *data, gsize len, GError **error);
QemuTemplate *qemu_template_load(const char *path, GError **error);
void qemu_template_free(QemuTemplate *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QemuTemplate, qemu_template_free)

void qemu_plan_clear(QemuPlan *plan);
/* The plan when the BMC left none: VM_BOOT's order, VM_BOOT_MODE. */
void qemu_plan_init_default(QemuPlan *plan, const QemuTemplate *t);
/* Apply [next-boot] from the state file at @path.  No file, or no such
 * group: the plan stays as it is, TRUE.  An unreadable file or a bad value:
 * the plan stays as it is, FALSE with @error (a warning for the caller). */
gboolean qemu_plan_read_state(QemuPlan *plan, const char *path, GError **error);

/* The command line of this boot.  @vars and @nvram (either may be NULL)
 * receive UEFI's variable store template and this VM's copy of it, or NULL
 * with BIOS. */
GStrv qemu_template_expand(const QemuTemplate *t, const QemuPlan *plan,
                           char **vars, char **nvram);

/* Copy @vars to @nvram (mode 0600, atomically) unless @nvram exists. */
gboolean qemu_exec_make_nvram(const char *vars, const char *nvram,
                              GError **error);

/* argv as Python's shlex.join() writes it: the launcher's log line. */
char *qemu_exec_shell_join(const char *const *argv);
