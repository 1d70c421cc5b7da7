#!/bin/bash
# Every chassis power operation through ipmitool (lanplus, cipher suite 3),
# each checked against QEMU's own state and the guest's serial output.
. "$(dirname "$0")/lib.sh"
need ipmitool supervisord ipmi_sim qemu-system-x86_64

# output_has PATTERN IPMITOOL-ARGS...
output_has() {
    local pattern=$1
    shift
    ipmi "$@" | grep -qi -- "$pattern"
}

# new_qemu OLD_PID: a live QEMU with another PID.
new_qemu() {
    local p
    p=$(qemu_pid)
    [ -n "$p" ] && [ "$p" != "$1" ]
}

# sigterm_from PID: QEMU's last "terminating on signal 15" names PID.
sigterm_from() {
    grep "terminating on signal 15 from pid" "$RUN/qemu.log" | tail -n1 |
        grep -q "from pid $1 "
}

qemu_exited_cleanly() {
    local st
    # (supervisorctl status exits 3 for a program that is not running.)
    st=$(supervisorctl -c "$RUN/supervisord.conf" status qemu || true)
    [[ $st == *" EXITED "* ]] &&
        grep -E "(exited|stopped): qemu" "$RUN/supervisord.log" | tail -n1 |
        grep -q "exited: qemu (exit status 0; expected)"
}

guest_ensure
tap_plan 24
stack_start

check "power status is off at start" power_is off
check "no QEMU process at start" qemu_gone

check "power on is accepted" ipmi power on
check "power status reads on at once" power_is on
check "QEMU is running" wait_until 20 qemu_is running
check "the guest boots (banner on serial)" wait_console_count 1 "$BOOT_MARK" 90
check "chassis status shows System Power on" \
    output_has "System Power *: on" chassis status
check "restart cause is the chassis control command" \
    output_has "chassis power control" chassis restart_cause

# Every boot logs lines with "NMI" in them; only a delivered NMI says this.
nmis=$(count_in_console "NMI received")
check "power diag (NMI) is accepted" ipmi power diag
check "the NMI reaches the guest kernel" \
    wait_console_count $((nmis + 1)) "NMI received" 20

pid_before=$(qemu_pid)
check "power reset is accepted" ipmi power reset
check "the guest boots again after reset" wait_console_count 2 "$BOOT_MARK" 90
check "reset keeps the same QEMU process" test "$(qemu_pid)" = "$pid_before"

check "power cycle is accepted" ipmi power cycle
check "power cycle starts a new QEMU process" wait_until 30 new_qemu "$pid_before"
check "the guest boots again after the cycle" wait_console_count 3 "$BOOT_MARK" 90

check "power soft is accepted" ipmi power soft
check "the guest sees the ACPI power button" \
    wait_console_count 1 "QEMU-BMC-GUEST: power button" 30
check "the guest powers itself off: QEMU exits" wait_until 30 qemu_gone
check "power status follows to off" wait_until 2 power_is off

check "power on again" ipmi power on
wait_until 20 qemu_is running || true
ipmi power off >/dev/null
check "power off ends QEMU" wait_until 10 qemu_gone
# The BMC signals QEMU itself through a pidfd; QEMU names the sender.
check "the SIGTERM came from ipmi_sim (the plugin's pidfd), not supervisord" \
    sigterm_from "$(ipmi_sim_pid)"
check "supervisord saw QEMU exit cleanly (EXITED, expected)" \
    wait_until 5 qemu_exited_cleanly
