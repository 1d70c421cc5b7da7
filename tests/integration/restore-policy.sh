#!/bin/bash
# Power restore policy: applied when the node starts ("AC power applied"),
# never when only ipmi_sim restarts; persisted across restarts.
. "$(dirname "$0")/lib.sh"
need ipmitool supervisord supervisorctl ipmi_sim qemu-system-x86_64

guest_ensure
tap_plan 16

policy_is() { ipmi chassis status | grep -q "Power Restore Policy *: $1"; }
cause_has() { ipmi chassis restart_cause | grep -qi "$1"; }
# boot_flags_are A B: chassis bootparam get 5 shows both lines.
boot_flags_are() {
    local out
    out=$(ipmi chassis bootparam get 5) || return 1
    grep -q -- "$1" <<<"$out" && grep -q -- "$2" <<<"$out"
}

# POWER_ON_AT_START=true: no policy stored yet, so always-on applies.
stack_start POWER_ON_AT_START=true
check "POWER_ON_AT_START powers the machine on with no IPMI command" \
    wait_until 20 qemu_is running
check "restart cause names the always-on policy" cause_has "always"
pid=$(qemu_pid)

# ipmi_sim dies: supervisord restarts it; the machine is left alone.
kill -KILL "$(supervisorctl -c "$RUN/supervisord.conf" pid ipmi_sim)"
check "ipmi_sim comes back after SIGKILL" wait_until 20 power_is on
check "QEMU was not touched by the BMC restart" test "$(qemu_pid)" = "$pid"

# A persistent boot override survives both kinds of restart too.
check "set a persistent PXE override" ipmi chassis bootdev pxe options=persistent
kill -KILL "$(supervisorctl -c "$RUN/supervisord.conf" pid ipmi_sim)"
wait_until 20 power_is on || true
check "it survives an ipmi_sim restart" boot_flags_are "Force PXE" "all future boots"

# An explicit policy wins over POWER_ON_AT_START on the next start.
check "set policy always-off" ipmi chassis policy always-off
stack_stop
stack_start POWER_ON_AT_START=true
check "the stored policy survives a restart" policy_is always-off
check "the persistent override survives a node restart" \
    boot_flags_are "Force PXE" "all future boots"
check "...and is still valid" boot_flags_are "Boot Flag Valid" ""

sleep 2
check "always-off leaves the machine off at start" qemu_gone

# previous: on before the stop, so on after it.
check "set policy previous" ipmi chassis policy previous
ipmi power on >/dev/null
wait_until 20 qemu_is running || true
stack_stop
stack_start
check "previous powers on a machine that was on" wait_until 20 qemu_is running

# previous: off before the stop, so off after it.
ipmi power off >/dev/null
wait_until 20 qemu_gone || true
stack_stop
stack_start
check "previous keeps a machine off that was off" policy_is previous
sleep 2
check "...and QEMU stays off" qemu_gone
check "state file is private" test "$(stat -c %a "$STATE/qemu-bmc.state")" = 600
