/*
 * machine-boot.c - the boot path: which device and firmware the next boot
 * uses, and when a boot consumes a "next boot only" override.
 *
 *   chassis.c (Set/Get System Boot Options) -> machine_boot_set/get()
 *   -> boot-options.c (the bytes) -> here:
 *     - at power on: the plan for the launcher ([next-boot] in the state
 *       file: device order, firmware, setup) read by container/qemu-launch;
 *     - on a running QEMU: the devices' "bootindex" via QMP qom-set, so an
 *       IPMI reset or a reboot from inside the guest boots as asked.
 *
 * QEMU rebuilds the firmware's "bootorder" file at every machine reset, and
 * SeaBIOS resets the machine itself right after a reset: so after a boot
 * that consumed an override, the default order goes back into QEMU only
 * once the firmware has surely picked its device (RESTORE_DELAY_MS).
 */
#include "config.h"

#include <string.h>

#include "ipmi-cmd.h"
#include "machine-private.h"

#define VALID_RULE_MS    60000 /* IPMI 2.0 28.12: the 60-second rule */
#define RESTORE_DELAY_MS 15000
/* "BIOS setup": the launcher turns on the firmware's boot menu wait, and
 * ESC pressed during it opens OVMF's setup (SeaBIOS: its boot menu, the
 * nearest thing it has).  ESC every SETUP_KEY_MS for SETUP_KEYS_MS. */
#define SETUP_KEY_MS  300
#define SETUP_KEYS_MS 20000

/* QEMU device ids given by container/qemu-launch. */
static const char *const devices[] = {"disk0", "cd0", "net0"};
#define N_DEVICES G_N_ELEMENTS(devices)

typedef struct {
    const char *order[N_DEVICES];
    gboolean uefi;
    gboolean setup;
} BootPlan;

static const char *
override_device(BootDevice d)
{
    switch (d) {
    case BOOT_DEVICE_PXE:
        return "net0";
    case BOOT_DEVICE_DISK:
    case BOOT_DEVICE_DISK_SAFE:
    case BOOT_DEVICE_DIAG:
    case BOOT_DEVICE_REMOTE_DISK:
        return "disk0";
    case BOOT_DEVICE_CDROM:
    case BOOT_DEVICE_REMOTE_CDROM:
    case BOOT_DEVICE_PRIMARY_REMOTE:
        return "cd0";
    default:
        return NULL; /* no such device here: the default order */
    }
}

static gboolean
override_active(Machine *m)
{
    return boot_flags_valid(&m->boot);
}

/* The plan for a boot starting now, from the flags as they stand. */
static void
plan_boot(Machine *m, BootPlan *plan)
{
    static const char *const defaults[][N_DEVICES] = {
        [BOOT_ORDER_DISK] = {"disk0", "cd0", "net0"},
        [BOOT_ORDER_CDROM] = {"cd0", "disk0", "net0"},
        [BOOT_ORDER_NETWORK] = {"net0", "disk0", "cd0"},
    };
    const char *first = NULL;
    gsize n = 0;

    memset(plan, 0, sizeof(*plan));
    plan->uefi = m->uefi_default;
    if (override_active(m)) {
        first = override_device(boot_flags_device(&m->boot));
        plan->uefi = boot_flags_efi(&m->boot);
        plan->setup = boot_flags_device(&m->boot) == BOOT_DEVICE_SETUP;
    }
    if (first) {
        plan->order[n++] = first;
    }
    for (gsize i = 0; i < N_DEVICES; i++) {
        const char *d = defaults[m->boot_default][i];
        if (!first || !g_str_equal(d, first)) {
            plan->order[n++] = d;
        }
    }
}

static void
save(Machine *m)
{
    g_autoptr(GError) error = NULL;

    if (!machine_save_state(m, &error)) {
        g_warning("%s", error->message);
    }
}

static void
on_qom_set(QmpClient *qmp, JsonNode *ret, const GError *error, gpointer data)
{
    /* A VM without a CD-ROM or disk has no such device: expected. */
    if (error && !g_error_matches(error, QMP_ERROR, QMP_ERROR_CANCELLED)) {
        g_debug("boot: %s", error->message);
    }
}

static void
set_bootindex(Machine *m, const char *device, gint64 index)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *path = g_strdup_printf("/machine/peripheral/%s", device);

    json_object_set_string_member(args, "path", path);
    json_object_set_string_member(args, "property", "bootindex");
    json_object_set_int_member(args, "value", index);
    qmp_client_execute(m->qmp, "qom-set", args, on_qom_set, NULL);
}

/* Give the running QEMU the device order of @plan.  QEMU refuses two
 * devices with one bootindex, so all move out of the way first. */
static void
apply_to_qemu(Machine *m, const BootPlan *plan)
{
    if (!m->qmp_ready) {
        return;
    }
    for (gsize i = 0; i < N_DEVICES; i++) {
        set_bootindex(m, devices[i], 100 + (gint64)i);
    }
    for (gsize i = 0; i < N_DEVICES; i++) {
        set_bootindex(m, plan->order[i], (gint64)i + 1);
    }
    g_debug("boot order now %s,%s,%s", plan->order[0], plan->order[1],
            plan->order[2]);
}

/* The plan a QEMU started now would get (also by `supervisorctl start`). */
static void
set_next_plan(Machine *m, const BootPlan *plan)
{
    g_free(m->next_plan_order);
    m->next_plan_order = g_strdup_printf("%s,%s,%s", plan->order[0],
                                         plan->order[1], plan->order[2]);
    m->next_plan_uefi = plan->uefi;
    m->next_plan_setup = plan->setup;
}

/* QEMU's order and the launcher's plan follow the flags as they stand. */
static void
sync_now(Machine *m)
{
    BootPlan plan;

    bmc_timer_stop(m->loop, m->boot_restore_timer);
    plan_boot(m, &plan);
    set_next_plan(m, &plan);
    apply_to_qemu(m, &plan);
}

static void
on_restore(gpointer data)
{
    Machine *m = data;

    sync_now(m);
    save(m);
}

/* After a boot consumed the flags: let the firmware pick first. */
static void
sync_later(Machine *m)
{
    bmc_timer_start(m->loop, m->boot_restore_timer, RESTORE_DELAY_MS);
}

/* A boot is starting with the flags as they stand: a next-boot-only
 * override is used up, unless @keep (a parameter 3 bit) says otherwise.
 * TRUE if it was: the flags changed, and the caller saves them. */
static gboolean
use_up(Machine *m, gboolean keep)
{
    if (override_active(m) && !boot_flags_persistent(&m->boot) && !keep) {
        g_message("boot override used: cleared (it was for the next boot)");
        boot_flags_clear_valid(&m->boot);
        bmc_timer_stop(m->loop, m->boot_valid_timer);
        return TRUE;
    }
    return FALSE;
}

static void
consume(Machine *m, gboolean keep)
{
    if (use_up(m, keep)) {
        save(m);
    }
}

static void
on_valid_timeout(gpointer data)
{
    Machine *m = data;

    if (override_active(m)) {
        g_message("boot override expired: no chassis control command within "
                  "60 s of it");
        boot_flags_clear_valid(&m->boot);
        sync_now(m);
        save(m);
    }
}

void
machine_chassis_control_received(Machine *m)
{
    bmc_timer_stop(m->loop, m->boot_valid_timer);
}

/* The timers and QEMU's order follow the boot flags as they now stand. */
static void
flags_changed(Machine *m)
{
    if (override_active(m) && !(m->boot.clearing & BOOT_KEEP_PAST_60S)) {
        bmc_timer_start(m->loop, m->boot_valid_timer, VALID_RULE_MS);
    } else {
        bmc_timer_stop(m->loop, m->boot_valid_timer);
    }
    sync_now(m);
}

guint8
machine_boot_set(Machine *m, const guint8 *req, gsize len)
{
    BootOptions old = m->boot;
    guint8 cc = boot_options_set(&m->boot, req, len);
    guint8 param = len ? req[0] & 0x7f : 0xff;
    g_autoptr(GError) error = NULL;

    if (cc != IPMI_CC_OK) {
        return cc;
    }
    if (param == BOOT_PARAM_FLAGS) {
        BootPlan plan;

        plan_boot(m, &plan);
        g_message("boot override: %s, device %d (%s first), %s, %s",
                  override_active(m) ? "valid" : "not valid",
                  boot_flags_device(&m->boot), plan.order[0],
                  boot_flags_persistent(&m->boot) ? "persistent"
                                                  : "next boot only",
                  boot_flags_efi(&m->boot) ? "EFI" : "legacy");
        flags_changed(m);
    } else if (param == BOOT_PARAM_CLEARING &&
               (m->boot.clearing & BOOT_KEEP_PAST_60S)) {
        bmc_timer_stop(m->loop, m->boot_valid_timer);
    }
    if (param == BOOT_PARAM_SET_IN_PROGRESS || machine_save_state(m, &error)) {
        return IPMI_CC_OK;
    }
    /* Not kept (a full disk), so not done: a success would be a promise
     * that the next start of the node breaks.  The old options stay. */
    g_message("%s; boot options unchanged", error->message);
    m->boot = old;
    if (param == BOOT_PARAM_FLAGS || param == BOOT_PARAM_CLEARING) {
        flags_changed(m);
    }
    return IPMI_CC_UNSPECIFIED;
}

guint8
machine_boot_get(Machine *m, const guint8 *req, gsize len, guint8 *rsp,
                 gsize *rsp_len)
{
    return boot_options_get(&m->boot, req, len, rsp, rsp_len);
}

/* Whether the state file on disk holds the plan the BMC means for the next
 * boot: its [next-boot] as machine_boot_save() would write it now, which is
 * what the launcher reads.  Only asked after a failed save, so reading the
 * file here costs nothing on the usual path. */
static gboolean
launcher_reads_next_plan(Machine *m)
{
    g_autoptr(GKeyFile) want = g_key_file_new();
    g_autoptr(GKeyFile) disk = g_key_file_new();
    g_auto(GStrv) keys = NULL;

    machine_boot_save(m, want);
    keys = g_key_file_get_keys(want, "next-boot", NULL, NULL);
    if (!keys || !g_key_file_load_from_file(disk, m->state_path,
                                            G_KEY_FILE_NONE, NULL)) {
        return FALSE;
    }
    for (gsize i = 0; keys[i]; i++) {
        g_autofree char *a =
            g_key_file_get_value(want, "next-boot", keys[i], NULL);
        g_autofree char *b =
            g_key_file_get_value(disk, "next-boot", keys[i], NULL);

        if (g_strcmp0(a, b) != 0) {
            return FALSE;
        }
    }
    return TRUE;
}

gboolean
machine_boot_before_start(Machine *m, GError **error)
{
    BootOptions flags = m->boot;
    g_autoptr(GError) local = NULL;
    BootPlan plan;

    plan_boot(m, &plan);
    set_next_plan(m, &plan);
    /* One write for the plan, the override used up and "was on" (set by
     * the caller): the launcher reads the plan when supervisord spawns it. */
    use_up(m, FALSE);
    if (!machine_save_state(m, &local)) {
        if (!launcher_reads_next_plan(m)) {
            /* QEMU would boot with an older plan (say, a device the
             * operator has since changed or that has expired): a wrong
             * boot is worse than a refused power on.  Nothing is used up. */
            m->boot = flags;
            g_set_error(error, MACHINE_ERROR, MACHINE_ERROR_IO,
                        "power on refused: %s; the boot plan on disk is an "
                        "older one, which QEMU would boot with",
                        local->message);
            return FALSE;
        }
        g_warning("%s; powering on: the boot plan on disk is this one",
                  local->message);
    }
    m->running_uefi = plan.uefi;
    m->running_setup = plan.setup;
    return TRUE;
}

gboolean
machine_boot_before_reset(Machine *m)
{
    BootPlan plan;

    plan_boot(m, &plan);
    if (plan.uefi != m->running_uefi || plan.setup || m->running_setup) {
        return FALSE; /* another firmware, or its menu: a new QEMU */
    }
    apply_to_qemu(m, &plan);
    consume(m, FALSE);
    return TRUE;
}

gboolean
machine_boot_on_reset(Machine *m, gboolean guest)
{
    if (guest) {
        BootPlan plan;

        /* A reboot from inside the VM boots with the order QEMU has, which
         * follows the flags since they were set. */
        plan_boot(m, &plan);
        if (plan.uefi != m->running_uefi || plan.setup) {
            return FALSE;
        }
        consume(m, (m->boot.clearing & BOOT_KEEP_ON_SOFT_RESET) != 0);
    }
    sync_later(m);
    return TRUE;
}

static void
press_esc(Machine *m)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonObject) key = json_object_new();
    g_autoptr(JsonArray) keys = json_array_new();

    json_object_set_string_member(key, "type", "qcode");
    json_object_set_string_member(key, "data", "esc");
    json_array_add_object_element(keys, g_steal_pointer(&key));
    json_object_set_array_member(args, "keys", g_steal_pointer(&keys));
    qmp_client_execute(m->qmp, "send-key", args, on_qom_set, NULL);
}

static void
on_setup_key(gpointer data)
{
    Machine *m = data;

    if (!m->qmp_ready || !m->running_setup ||
        bmc_loop_now_ms(m->loop) - m->setup_keys_since > SETUP_KEYS_MS) {
        return;
    }
    press_esc(m);
    bmc_timer_start(m->loop, m->boot_setup_timer, SETUP_KEY_MS);
}

void
machine_boot_on_qmp_ready(Machine *m)
{
    if (m->running_setup) {
        g_message("boot override: entering firmware setup");
        m->setup_keys_since = bmc_loop_now_ms(m->loop);
        bmc_timer_start(m->loop, m->boot_setup_timer, 0);
    }
    sync_later(m);
}

void
machine_boot_save(Machine *m, GKeyFile *kf)
{
    boot_options_save(&m->boot, kf, "boot-options");
    if (m->next_plan_order) {
        g_key_file_set_string(kf, "next-boot", "order", m->next_plan_order);
        g_key_file_set_string(kf, "next-boot", "firmware",
                              m->next_plan_uefi ? "uefi" : "bios");
        g_key_file_set_boolean(kf, "next-boot", "setup", m->next_plan_setup);
    }
}

void
machine_boot_load(Machine *m, GKeyFile *kf)
{
    BootPlan plan;

    boot_options_load(&m->boot, kf, "boot-options");
    /* The plan follows the kept flags from the start: the next save (a
     * power change) would drop [next-boot] otherwise, and a QEMU started
     * behind the BMC's back would boot with the launcher's defaults. */
    plan_boot(m, &plan);
    set_next_plan(m, &plan);
}

void
machine_boot_init(Machine *m, const MachineConfig *cfg)
{
    boot_options_init(&m->boot);
    m->boot_default = cfg->boot_default;
    m->uefi_default = cfg->uefi;
    m->running_uefi = cfg->uefi;
    m->boot_valid_timer = bmc_timer_new(m->loop, on_valid_timeout, m);
    m->boot_restore_timer = bmc_timer_new(m->loop, on_restore, m);
    m->boot_setup_timer = bmc_timer_new(m->loop, on_setup_key, m);
}

void
machine_boot_free(Machine *m)
{
    bmc_timer_free(m->loop, m->boot_valid_timer);
    bmc_timer_free(m->loop, m->boot_restore_timer);
    bmc_timer_free(m->loop, m->boot_setup_timer);
    g_free(m->next_plan_order);
}
