/*
 * qemu-exec.c - the boot plan applied to the rendered command line.
 *
 * RUN_DIR/qemu-argv is a list of NUL-terminated records, a kind letter and
 * its text (the format is described in container/qemu-launch, which writes
 * it); the first record is the magic.  Everything that can be decided when
 * the node starts is in it; what the BMC decides per boot is applied here:
 * which firmware's command line (BIOS or UEFI), the devices' bootindex in
 * the plan's order, setup's boot menu, and UEFI's variable store.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

#include "qemu-exec.h"

G_DEFINE_QUARK(qemu_bmc_qemu_exec_error, qemu_exec_error)

#define MAGIC "qemu-bmc-argv 1"

static const char *const devices[QEMU_EXEC_N_DEVICES] = {"disk0", "cd0",
                                                         "net0"};
static const char *const setup_args[] = {"-boot", "menu=on,splash-time=10000",
                                         NULL};

typedef struct {
    char kind;
    const char *text; /* into QemuTemplate.data */
} Record;

enum { FW_BIOS, FW_UEFI, N_FW };

struct QemuTemplate {
    char *data;
    char *default_order[QEMU_EXEC_N_DEVICES];
    gboolean default_uefi;
    GArray *section[N_FW]; /* of Record; NULL until its M record */
};

void
qemu_template_free(QemuTemplate *t)
{
    if (!t) {
        return;
    }
    for (int i = 0; i < QEMU_EXEC_N_DEVICES; i++) {
        g_free(t->default_order[i]);
    }
    for (int i = 0; i < N_FW; i++) {
        if (t->section[i]) {
            g_array_unref(t->section[i]);
        }
    }
    g_free(t->data);
    g_free(t);
}

static int
device_index(const char *name, gsize len)
{
    for (int i = 0; i < QEMU_EXEC_N_DEVICES; i++) {
        if (strlen(devices[i]) == len && strncmp(devices[i], name, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* "disk0,cd0,net0": each device once.  Fills @out (owned strings). */
static gboolean
parse_order(const char *text, char *out[QEMU_EXEC_N_DEVICES])
{
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);
    gboolean seen[QEMU_EXEC_N_DEVICES] = {FALSE};

    if (g_strv_length(parts) != QEMU_EXEC_N_DEVICES) {
        return FALSE;
    }
    for (int i = 0; i < QEMU_EXEC_N_DEVICES; i++) {
        int d = device_index(parts[i], strlen(parts[i]));

        if (d < 0 || seen[d]) {
            return FALSE;
        }
        seen[d] = TRUE;
    }
    for (int i = 0; i < QEMU_EXEC_N_DEVICES; i++) {
        out[i] = g_strdup(parts[i]);
    }
    return TRUE;
}

static gboolean
parse_firmware(const char *text, gboolean *uefi)
{
    if (g_str_equal(text, "bios") || g_str_equal(text, "uefi")) {
        *uefi = g_str_equal(text, "uefi");
        return TRUE;
    }
    return FALSE;
}

static gboolean G_GNUC_PRINTF(3, 4)
    bad(GError **error, guint n, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *what = NULL;

    va_start(ap, fmt);
    what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_TEMPLATE,
                "record %u: %s", n, what);
    return FALSE;
}

static gboolean
check_section(GArray *records, const char *name, GError **error)
{
    gboolean vars = FALSE, nvram = FALSE;

    if (!records) {
        g_set_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_TEMPLATE,
                    "no %s command line", name);
        return FALSE;
    }
    if (records->len == 0 || g_array_index(records, Record, 0).kind != 'A' ||
        !*g_array_index(records, Record, 0).text) {
        g_set_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_TEMPLATE,
                    "the %s command line does not start with a program", name);
        return FALSE;
    }
    for (guint i = 0; i < records->len; i++) {
        char kind = g_array_index(records, Record, i).kind;

        vars |= kind == 'V';
        nvram |= kind == 'N';
    }
    if (vars != nvram) {
        g_set_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_TEMPLATE,
                    "the %s command line has a variable store without its "
                    "template, or the reverse",
                    name);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_records(QemuTemplate *t, gsize len, GError **error)
{
    GArray *current = NULL;
    gboolean have_order = FALSE, have_firmware = FALSE;
    guint n = 1;

    if (len == 0 || t->data[len - 1] != '\0') {
        g_set_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_TEMPLATE,
                    "empty or truncated (no final NUL)");
        return FALSE;
    }
    if (!g_str_equal(t->data, MAGIC)) {
        g_set_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_TEMPLATE,
                    "not a '" MAGIC "' file");
        return FALSE;
    }
    for (gsize pos = strlen(t->data) + 1; pos < len; n++) {
        const char *rec = t->data + pos;
        const char *text = rec + 1;
        Record r = {rec[0], text};

        pos += strlen(rec) + 1;
        if (!g_utf8_validate(rec, -1, NULL)) {
            return bad(error, n, "not UTF-8");
        }
        switch (r.kind) {
        case 'O':
            if (have_order || !parse_order(text, t->default_order)) {
                return bad(error, n, "bad default order");
            }
            have_order = TRUE;
            continue;
        case 'F':
            if (have_firmware || !parse_firmware(text, &t->default_uefi)) {
                return bad(error, n, "bad default firmware");
            }
            have_firmware = TRUE;
            continue;
        case 'M': {
            gboolean uefi;

            if (!parse_firmware(text, &uefi) || t->section[uefi]) {
                return bad(error, n, "bad or repeated firmware section");
            }
            current = t->section[uefi] =
                g_array_new(FALSE, FALSE, sizeof(Record));
            continue;
        }
        case 'B': {
            const char *space = strchr(text, ' ');

            if (!space || device_index(text, space - text) < 0 || !space[1]) {
                return bad(error, n, "bad boot device argument");
            }
            break;
        }
        case 'A':
        case 'S':
        case 'V':
        case 'N':
            break;
        case '\0':
            return bad(error, n, "empty record");
        default:
            return bad(error, n, "unknown kind '%c'",
                       g_ascii_isprint(r.kind) ? r.kind : '?');
        }
        if (!current) {
            return bad(error, n, "an argument before any firmware section");
        }
        g_array_append_val(current, r);
    }
    if (!have_order || !have_firmware) {
        g_set_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_TEMPLATE,
                    "no default boot order or firmware");
        return FALSE;
    }
    return check_section(t->section[FW_BIOS], "BIOS", error) &&
           check_section(t->section[FW_UEFI], "UEFI", error);
}

QemuTemplate *
qemu_template_parse(const char *data, gsize len, GError **error)
{
    g_autoptr(QemuTemplate) t = g_new0(QemuTemplate, 1);

    t->data = g_memdup2(data, len);
    if (!parse_records(t, len, error)) {
        return NULL;
    }
    return g_steal_pointer(&t);
}

QemuTemplate *
qemu_template_load(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    QemuTemplate *t;

    if (!g_file_get_contents(path, &data, &len, error)) {
        return NULL;
    }
    t = qemu_template_parse(data, len, error);
    if (!t) {
        g_prefix_error(error, "%s: ", path);
    }
    return t;
}

void
qemu_plan_clear(QemuPlan *plan)
{
    for (int i = 0; i < QEMU_EXEC_N_DEVICES; i++) {
        g_clear_pointer(&plan->order[i], g_free);
    }
}

void
qemu_plan_init_default(QemuPlan *plan, const QemuTemplate *t)
{
    for (int i = 0; i < QEMU_EXEC_N_DEVICES; i++) {
        plan->order[i] = g_strdup(t->default_order[i]);
    }
    plan->uefi = t->default_uefi;
    plan->setup = FALSE;
}

gboolean
qemu_plan_read_state(QemuPlan *plan, const char *path, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GError) local = NULL;
    g_autofree char *order = NULL;
    g_autofree char *firmware = NULL;
    char *new_order[QEMU_EXEC_N_DEVICES] = {NULL};
    gboolean uefi = plan->uefi, setup = plan->setup;

    if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            return TRUE;
        }
        g_propagate_prefixed_error(error, g_steal_pointer(&local),
                                   "%s: ", path);
        return FALSE;
    }
    if (!g_key_file_has_group(kf, "next-boot")) {
        return TRUE;
    }
    /* All or nothing: a plan half applied would boot what nobody asked. */
    order = g_key_file_get_string(kf, "next-boot", "order", NULL);
    if (order && !parse_order(order, new_order)) {
        g_set_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_PLAN,
                    "%s: [next-boot] order '%s' is not an order of "
                    "disk0, cd0 and net0",
                    path, order);
        return FALSE;
    }
    firmware = g_key_file_get_string(kf, "next-boot", "firmware", NULL);
    if (firmware && !parse_firmware(firmware, &uefi)) {
        g_set_error(error, QEMU_EXEC_ERROR, QEMU_EXEC_ERROR_PLAN,
                    "%s: [next-boot] firmware '%s' is neither bios nor uefi",
                    path, firmware);
        goto fail;
    }
    if (g_key_file_has_key(kf, "next-boot", "setup", NULL)) {
        setup = g_key_file_get_boolean(kf, "next-boot", "setup", &local);
        if (local) {
            g_propagate_prefixed_error(error, g_steal_pointer(&local),
                                       "%s: [next-boot] setup: ", path);
            goto fail;
        }
    }
    if (order) {
        qemu_plan_clear(plan);
        memcpy(plan->order, new_order, sizeof(new_order));
    }
    plan->uefi = uefi;
    plan->setup = setup;
    return TRUE;

fail:
    for (int i = 0; i < QEMU_EXEC_N_DEVICES; i++) {
        g_free(new_order[i]);
    }
    return FALSE;
}

static guint
boot_index(const QemuPlan *plan, const char *dev, gsize len)
{
    for (int i = 0; i < QEMU_EXEC_N_DEVICES; i++) {
        if (strlen(plan->order[i]) == len &&
            strncmp(plan->order[i], dev, len) == 0) {
            return i + 1;
        }
    }
    g_assert_not_reached();
}

GStrv
qemu_template_expand(const QemuTemplate *t, const QemuPlan *plan, char **vars,
                     char **nvram)
{
    GArray *records = t->section[plan->uefi ? FW_UEFI : FW_BIOS];
    g_autoptr(GStrvBuilder) argv = g_strv_builder_new();

    if (vars) {
        *vars = NULL;
    }
    if (nvram) {
        *nvram = NULL;
    }
    for (guint i = 0; i < records->len; i++) {
        const Record *r = &g_array_index(records, Record, i);

        switch (r->kind) {
        case 'A':
            g_strv_builder_add(argv, r->text);
            break;
        case 'B': {
            const char *space = strchr(r->text, ' ');
            g_autofree char *arg =
                g_strdup_printf("%s,bootindex=%u", space + 1,
                                boot_index(plan, r->text, space - r->text));

            g_strv_builder_add(argv, arg);
            break;
        }
        case 'S':
            if (plan->setup) {
                g_strv_builder_addv(argv, (const char **)setup_args);
            }
            break;
        case 'V':
            if (vars) {
                g_free(*vars);
                *vars = g_strdup(r->text);
            }
            break;
        case 'N':
            if (nvram) {
                g_free(*nvram);
                *nvram = g_strdup(r->text);
            }
            break;
        default:
            g_assert_not_reached();
        }
    }
    return g_strv_builder_end(argv);
}

gboolean
qemu_exec_make_nvram(const char *vars, const char *nvram, GError **error)
{
    g_autofree char *data = NULL;
    g_autofree char *tmp = NULL;
    gsize len = 0;

    if (g_file_test(nvram, G_FILE_TEST_EXISTS)) {
        return TRUE;
    }
    if (!g_file_get_contents(vars, &data, &len, error)) {
        return FALSE;
    }
    tmp = g_strconcat(nvram, ".tmp", NULL);
    if (!g_file_set_contents_full(tmp, data, len, G_FILE_SET_CONTENTS_NONE,
                                  0600, error)) {
        return FALSE;
    }
    if (g_rename(tmp, nvram) < 0) {
        int err = errno;

        (void)g_unlink(tmp);
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "renaming %s: %s", tmp, g_strerror(err));
        return FALSE;
    }
    return TRUE;
}

/* Python's shlex.quote(): as is when made only of these (ASCII) bytes,
 * else in single quotes, each ' as '"'"'. */
static gboolean
shell_safe(const char *s)
{
    if (!*s) {
        return FALSE;
    }
    for (; *s; s++) {
        if (!g_ascii_isalnum(*s) && !strchr("_@%+=:,./-", *s)) {
            return FALSE;
        }
    }
    return TRUE;
}

char *
qemu_exec_shell_join(const char *const *argv)
{
    GString *out = g_string_new(NULL);

    for (gsize i = 0; argv[i]; i++) {
        if (i) {
            g_string_append_c(out, ' ');
        }
        if (shell_safe(argv[i])) {
            g_string_append(out, argv[i]);
            continue;
        }
        g_string_append_c(out, '\'');
        for (const char *p = argv[i]; *p; p++) {
            if (*p == '\'') {
                g_string_append(out, "'\"'\"'");
            } else {
                g_string_append_c(out, *p);
            }
        }
        g_string_append_c(out, '\'');
    }
    return g_string_free(out, FALSE);
}
