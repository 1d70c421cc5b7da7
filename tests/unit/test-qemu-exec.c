/*
 * test-qemu-exec.c - the launcher's fast path: the rendered template, the
 * boot plan from the state file, and the qemu-exec program itself.
 */
#include "config.h"

#include <sys/stat.h>

#include "qemu-exec.h"
#include "test-util.h"

typedef struct {
    char *dir;
    char *state_path;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    f->dir = test_tmpdir_new("test-qemu-exec-XXXXXX");
    f->state_path = g_build_filename(f->dir, "qemu-bmc.state", NULL);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    static const char *const names[] = {
        "qemu-bmc.state", "qemu-argv", "vars.fd", "nvram.fd", "out", "err"};

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *path = g_build_filename(f->dir, names[i], NULL);

        (void)g_unlink(path);
    }
    g_free(f->state_path);
    test_tmpdir_free(f->dir);
}

/* A template as container/qemu-launch --render writes it: records joined,
 * each ending in NUL.  @records ends with NULL. */
static GBytes *
template_bytes(const char *const *records)
{
    GByteArray *out = g_byte_array_new();

    for (gsize i = 0; records[i]; i++) {
        g_byte_array_append(out, (const guint8 *)records[i],
                            strlen(records[i]) + 1);
    }
    return g_byte_array_free_to_bytes(out);
}

static const char *const good[] = {
    "qemu-bmc-argv 1",
    "Odisk0,cd0,net0",
    "Fbios",
    "Mbios",
    "Aqemu",
    "A-machine",
    "Apc",
    "A-device",
    "Bdisk0 virtio-blk-pci,id=disk0",
    "A-device",
    "Bcd0 ide-cd,id=cd0",
    "S",
    "A-device",
    "Bnet0 virtio-net-pci,id=net0",
    "Muefi",
    "Aqemu",
    "A-machine",
    "Aq35",
    "V/vars template",
    "N/state/OVMF_VARS.fd",
    "A-device",
    "Bdisk0 virtio-blk-pci,id=disk0",
    "A-device",
    "Bcd0 ide-cd,id=cd0",
    "S",
    "A-device",
    "Bnet0 virtio-net-pci,id=net0",
    NULL,
};

static QemuTemplate *
parse_good(void)
{
    g_autoptr(GBytes) bytes = template_bytes(good);
    g_autoptr(GError) error = NULL;
    gsize len = 0;
    const char *data = g_bytes_get_data(bytes, &len);
    QemuTemplate *t = qemu_template_parse(data, len, &error);

    g_assert_no_error(error);
    g_assert_nonnull(t);
    return t;
}

static char *
joined(const QemuTemplate *t, const QemuPlan *plan, char **vars, char **nvram)
{
    g_auto(GStrv) argv = qemu_template_expand(t, plan, vars, nvram);

    return g_strjoinv(" ", argv);
}

static void
write_file(const char *path, const char *text)
{
    g_autoptr(GError) error = NULL;

    g_file_set_contents(path, text, -1, &error);
    g_assert_no_error(error);
}

static void
test_default_plan(void)
{
    g_autoptr(QemuTemplate) t = parse_good();
    g_autofree char *vars = NULL;
    g_autofree char *nvram = NULL;
    g_autofree char *line = NULL;
    QemuPlan plan = {{NULL}};

    qemu_plan_init_default(&plan, t);
    line = joined(t, &plan, &vars, &nvram);
    g_assert_cmpstr(line, ==,
                    "qemu -machine pc "
                    "-device virtio-blk-pci,id=disk0,bootindex=1 "
                    "-device ide-cd,id=cd0,bootindex=2 "
                    "-device virtio-net-pci,id=net0,bootindex=3");
    g_assert_null(vars);
    g_assert_null(nvram);
    qemu_plan_clear(&plan);
}

static void
test_plan_from_state(Fixture *f, gconstpointer data)
{
    g_autoptr(QemuTemplate) t = parse_good();
    g_autoptr(GError) error = NULL;
    g_autofree char *vars = NULL;
    g_autofree char *nvram = NULL;
    g_autofree char *line = NULL;
    QemuPlan plan = {{NULL}};

    /* As plugin/machine-boot.c writes it, with the rest of the file. */
    write_file(f->state_path, "[chassis]\nlast-power-on=true\n\n"
                              "[next-boot]\norder=net0,cd0,disk0\n"
                              "firmware=uefi\nsetup=true\n");
    qemu_plan_init_default(&plan, t);
    g_assert_true(qemu_plan_read_state(&plan, f->state_path, &error));
    g_assert_no_error(error);
    line = joined(t, &plan, &vars, &nvram);
    g_assert_cmpstr(line, ==,
                    "qemu -machine q35 "
                    "-device virtio-blk-pci,id=disk0,bootindex=3 "
                    "-device ide-cd,id=cd0,bootindex=2 "
                    "-boot menu=on,splash-time=10000 "
                    "-device virtio-net-pci,id=net0,bootindex=1");
    g_assert_cmpstr(vars, ==, "/vars template");
    g_assert_cmpstr(nvram, ==, "/state/OVMF_VARS.fd");
    qemu_plan_clear(&plan);
}

/* No state file, or one without a plan: the defaults, no warning. */
static void
test_no_plan(Fixture *f, gconstpointer data)
{
    g_autoptr(QemuTemplate) t = parse_good();
    QemuPlan plan = {{NULL}};

    qemu_plan_init_default(&plan, t);
    g_assert_true(qemu_plan_read_state(&plan, f->state_path, NULL));
    write_file(f->state_path, "[chassis]\nlast-power-on=false\n");
    g_assert_true(qemu_plan_read_state(&plan, f->state_path, NULL));
    g_assert_cmpstr(plan.order[0], ==, "disk0");
    g_assert_false(plan.uefi);
    g_assert_false(plan.setup);
    qemu_plan_clear(&plan);
}

/* A bad file or value: FALSE with a one-line message, and nothing of the
 * plan applied, not even its good keys. */
static void
test_bad_plan(Fixture *f, gconstpointer data)
{
    static const struct {
        const char *text;
        const char *message;
    } cases[] = {
        {"garbage\n", "qemu-bmc.state"},
        {"[next-boot]\norder=disk0,disk0,net0\nfirmware=uefi\n",
         "order 'disk0,disk0,net0'"},
        {"[next-boot]\norder=disk0,cd0\nfirmware=uefi\n", "order"},
        {"[next-boot]\norder=net0,cd0,disk0\nfirmware=efi\n", "firmware 'efi'"},
        {"[next-boot]\norder=net0,cd0,disk0\nfirmware=uefi\nsetup=maybe\n",
         "setup"},
        {"[next-boot]\norder=net0,cd0,disk0\n\xff\xfe\n", "qemu-bmc.state"},
    };
    g_autoptr(QemuTemplate) t = parse_good();

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        QemuPlan plan = {{NULL}};

        write_file(f->state_path, cases[i].text);
        qemu_plan_init_default(&plan, t);
        g_assert_false(qemu_plan_read_state(&plan, f->state_path, &error));
        g_assert_nonnull(error);
        g_test_message("case %zu: %s", i, error->message);
        g_assert_nonnull(strstr(error->message, cases[i].message));
        g_assert_null(strchr(error->message, '\n'));
        g_assert_cmpstr(plan.order[0], ==, "disk0");
        g_assert_cmpstr(plan.order[2], ==, "net0");
        g_assert_false(plan.uefi);
        g_assert_false(plan.setup);
        qemu_plan_clear(&plan);
    }
}

/* Each bad template: NULL and one line that says what is wrong. */
static void
test_bad_template(void)
{
    static const struct {
        const char *records[10];
        const char *message;
    } cases[] = {
        {{NULL}, "empty"},
        {{"qemu-bmc-argv 2", "Odisk0,cd0,net0", NULL}, "not a"},
        {{"qemu-bmc-argv 1", "Odisk0,cd0", NULL}, "bad default order"},
        {{"qemu-bmc-argv 1", "Odisk0,cd0,net0", "Fefi", NULL},
         "bad default firmware"},
        {{"qemu-bmc-argv 1", "Odisk0,cd0,net0", "Fbios", "Aqemu", NULL},
         "before any firmware section"},
        {{"qemu-bmc-argv 1", "Odisk0,cd0,net0", "Fbios", "Mbios", "Aqemu",
          "Bfloppy0 x", NULL},
         "bad boot device"},
        {{"qemu-bmc-argv 1", "Odisk0,cd0,net0", "Fbios", "Mbios", "Aqemu",
          "Xwhat", NULL},
         "unknown kind 'X'"},
        {{"qemu-bmc-argv 1", "Odisk0,cd0,net0", "Fbios", "Mbios", "Aqemu",
          NULL},
         "no UEFI command line"},
        {{"qemu-bmc-argv 1", "Odisk0,cd0,net0", "Fbios", "Mbios", "Aqemu",
          "Muefi", "Aqemu", "N/nvram", NULL},
         "variable store"},
        {{"qemu-bmc-argv 1", "Odisk0,cd0,net0", "Fbios", "Mbios", "S", "Muefi",
          "Aqemu", NULL},
         "does not start with a program"},
        {{"qemu-bmc-argv 1", "Fbios", "Mbios", "Aqemu", "Muefi", "Aqemu", NULL},
         "no default boot order"},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GBytes) bytes = template_bytes(cases[i].records);
        g_autoptr(GError) error = NULL;
        gsize len = 0;
        const char *data = g_bytes_get_data(bytes, &len);

        g_assert_null(qemu_template_parse(data, len, &error));
        g_assert_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_TEMPLATE);
        g_test_message("case %zu: %s", i, error->message);
        g_assert_nonnull(strstr(error->message, cases[i].message));
        g_assert_null(strchr(error->message, '\n'));
    }

    /* Truncated: the last record has no NUL. */
    {
        g_autoptr(GBytes) bytes = template_bytes(good);
        g_autoptr(GError) error = NULL;
        gsize len = 0;
        const char *data = g_bytes_get_data(bytes, &len);

        g_assert_null(qemu_template_parse(data, len - 1, &error));
        g_assert_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_TEMPLATE);
    }
}

static void
test_shell_join(void)
{
    /* What Python's shlex.join() gives for the same list. */
    const char *argv[] = {
        "qemu", "a,b=c:d/e.f-g+h@i%j_k", "", "two words", "it's", "$HOME", "é",
        NULL};

    g_autofree char *line = qemu_exec_shell_join(argv);

    g_assert_cmpstr(line, ==,
                    "qemu a,b=c:d/e.f-g+h@i%j_k '' 'two words' "
                    "'it'\"'\"'s' '$HOME' 'é'");
}

static void
test_make_nvram(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *vars = g_build_filename(f->dir, "vars.fd", NULL);
    g_autofree char *nvram = g_build_filename(f->dir, "nvram.fd", NULL);
    g_autofree char *text = NULL;
    struct stat st;

    write_file(vars, "template");
    g_assert_true(qemu_exec_make_nvram(vars, nvram, &error));
    g_assert_no_error(error);
    g_assert_true(g_file_get_contents(nvram, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "template");
    g_assert_cmpint(g_stat(nvram, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);

    /* The VM's own store is kept: its variables are the VM's settings. */
    write_file(nvram, "the VM's variables");
    write_file(vars, "a newer template");
    g_assert_true(qemu_exec_make_nvram(vars, nvram, &error));
    g_clear_pointer(&text, g_free);
    g_assert_true(g_file_get_contents(nvram, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "the VM's variables");

    /* No template: an error, and no file left behind. */
    g_assert_cmpint(g_unlink(nvram), ==, 0);
    g_assert_cmpint(g_unlink(vars), ==, 0);
    g_assert_false(qemu_exec_make_nvram(vars, nvram, &error));
    g_assert_nonnull(error);
    g_assert_false(g_file_test(nvram, G_FILE_TEST_EXISTS));
}

/* ---- the program ---------------------------------------------------------
 * qemu-exec as supervisord runs it, on templates whose "QEMU" is echo. */

typedef struct {
    int status;
    char *out;
    char *err;
} Run;

static void
run_clear(Run *r)
{
    g_free(r->out);
    g_free(r->err);
}

static void
run_exec(Fixture *f, const char *run_dir, Run *r)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *prog = g_build_filename(
        g_getenv("top_builddir") ? g_getenv("top_builddir") : ".", "tools",
        "qemu-exec", NULL);
    const char *argv[] = {prog, NULL};
    g_auto(GStrv) env = g_get_environ();

    env = g_environ_setenv(env, "RUN_DIR", run_dir, TRUE);
    env = g_environ_setenv(env, "STATE_DIR", f->dir, TRUE);
    g_spawn_sync(NULL, (char **)argv, env, G_SPAWN_DEFAULT, NULL, NULL, &r->out,
                 &r->err, &r->status, &error);
    g_assert_no_error(error);
    g_test_message("exit %d, out: %s, err: %s", r->status, r->out, r->err);
}

static void
write_template(Fixture *f, const char *const *records)
{
    g_autoptr(GBytes) bytes = template_bytes(records);
    g_autoptr(GError) error = NULL;
    g_autofree char *path = g_build_filename(f->dir, "qemu-argv", NULL);
    gsize len = 0;
    const char *data = g_bytes_get_data(bytes, &len);

    g_file_set_contents(path, data, len, &error);
    g_assert_no_error(error);
}

static const char *const echo_template[] = {
    "qemu-bmc-argv 1",
    "Ocd0,disk0,net0",
    "Fbios",
    "Mbios",
    "Aecho",
    "Abios",
    "Bdisk0 disk",
    "S",
    "Muefi",
    "Aecho",
    "Auefi",
    "Bdisk0 disk",
    "Bnet0 two words",
    "S",
    NULL,
};

static void
test_program_execs(Fixture *f, gconstpointer data)
{
    Run r = {0};

    write_template(f, echo_template);
    run_exec(f, f->dir, &r);
    g_assert_true(g_spawn_check_wait_status(r.status, NULL));
    g_assert_cmpstr(r.out, ==,
                    "qemu-launch: echo bios disk,bootindex=2\n"
                    "bios disk,bootindex=2\n");
    g_assert_cmpstr(r.err, ==, "");
    run_clear(&r);

    write_file(f->state_path, "[next-boot]\norder=net0,disk0,cd0\n"
                              "firmware=uefi\nsetup=true\n");
    run_exec(f, f->dir, &r);
    g_assert_true(g_spawn_check_wait_status(r.status, NULL));
    g_assert_cmpstr(r.out, ==,
                    "qemu-launch: echo uefi disk,bootindex=2 "
                    "'two words,bootindex=1' -boot menu=on,splash-time=10000\n"
                    "uefi disk,bootindex=2 two words,bootindex=1 "
                    "-boot menu=on,splash-time=10000\n");
    run_clear(&r);
}

static void
test_program_bad_plan(Fixture *f, gconstpointer data)
{
    Run r = {0};

    write_template(f, echo_template);
    write_file(f->state_path, "[next-boot]\nfirmware=uefi\nsetup=1x\n");
    run_exec(f, f->dir, &r);
    g_assert_true(g_spawn_check_wait_status(r.status, NULL));
    g_assert_true(g_str_has_prefix(r.err, "qemu-exec: warning: "));
    g_assert_nonnull(strstr(r.err, "booting with the defaults\n"));
    g_assert_cmpstr(strchr(r.err, '\n'), ==, "\n");
    g_assert_true(
        g_str_has_prefix(r.out, "qemu-launch: echo bios disk,bootindex=2\n"));
    run_clear(&r);
}

static void
test_program_bad_template(Fixture *f, gconstpointer data)
{
    static const char *const bad_records[] = {"qemu-bmc-argv 1", "Mbios",
                                              "Aecho", NULL};
    Run r = {0};
    g_autofree char *missing = g_build_filename(f->dir, "nowhere", NULL);

    /* No template at all (qemu-launch --render never ran). */
    run_exec(f, missing, &r);
    g_assert_true(WIFEXITED(r.status));
    g_assert_cmpint(WEXITSTATUS(r.status), ==, 2);
    g_assert_cmpstr(r.out, ==, "");
    g_assert_true(g_str_has_prefix(r.err, "qemu-exec: "));
    g_assert_nonnull(strstr(r.err, "qemu-argv"));
    g_assert_cmpstr(strchr(r.err, '\n'), ==, "\n");
    run_clear(&r);

    write_template(f, bad_records);
    run_exec(f, f->dir, &r);
    g_assert_true(WIFEXITED(r.status));
    g_assert_cmpint(WEXITSTATUS(r.status), ==, 2);
    g_assert_cmpstr(r.out, ==, "");
    g_assert_nonnull(strstr(r.err, "no default boot order"));
    g_assert_cmpstr(strchr(r.err, '\n'), ==, "\n");
    run_clear(&r);

    run_exec(f, "relative/run", &r);
    g_assert_cmpint(WEXITSTATUS(r.status), ==, 2);
    g_assert_cmpstr(r.err, ==,
                    "qemu-exec: RUN_DIR='relative/run': expected an "
                    "absolute path\n");
    run_clear(&r);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-exec/default-plan", test_default_plan);
    g_test_add("/qemu-exec/plan-from-state", Fixture, NULL, fixture_set_up,
               test_plan_from_state, fixture_tear_down);
    g_test_add("/qemu-exec/no-plan", Fixture, NULL, fixture_set_up,
               test_no_plan, fixture_tear_down);
    g_test_add("/qemu-exec/bad-plan", Fixture, NULL, fixture_set_up,
               test_bad_plan, fixture_tear_down);
    g_test_add_func("/qemu-exec/bad-template", test_bad_template);
    g_test_add_func("/qemu-exec/shell-join", test_shell_join);
    g_test_add("/qemu-exec/make-nvram", Fixture, NULL, fixture_set_up,
               test_make_nvram, fixture_tear_down);
    g_test_add("/qemu-exec/program-execs", Fixture, NULL, fixture_set_up,
               test_program_execs, fixture_tear_down);
    g_test_add("/qemu-exec/program-bad-plan", Fixture, NULL, fixture_set_up,
               test_program_bad_plan, fixture_tear_down);
    g_test_add("/qemu-exec/program-bad-template", Fixture, NULL, fixture_set_up,
               test_program_bad_template, fixture_tear_down);
    return g_test_run();
}
