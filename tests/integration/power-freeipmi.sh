#!/bin/bash
# Every chassis power operation through FreeIPMI (ipmipower, ipmi-chassis;
# IPMI 2.0, cipher suite 3), each checked against QEMU's own state and the
# guest's serial output; the power restore policy against the state file.
. "$(dirname "$0")/lib.sh"
need ipmipower ipmi-chassis supervisord ipmi_sim qemu-system-x86_64

# FreeIPMI options for this stack.  ipmi_sim hashes the session keys with
# the Open Session privilege, so FreeIPMI needs -W opensesspriv ("privilege
# level cannot be obtained for this user" without it).  The port goes with
# the host (-h HOST:PORT); --config-file /dev/null keeps the host's
# freeipmi.conf out.
fipmi_opts() {
    fopts=(-D LAN_2_0 -W opensesspriv -I 3 --config-file /dev/null
           -h "127.0.0.1:$IPMI_PORT" -u admin -p "$IPMI_PASS")
}

# ipmipower_says WANT OPTION...: ipmipower succeeds and prints exactly
# "127.0.0.1: WANT".
ipmipower_says() {
    local want=$1 out rc=0
    shift
    out=$(ipmipower "${fopts[@]}" "$@" 2>&1) || rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] && [ "$out" = "127.0.0.1: $want" ]
}

# chassis_has PATTERN OPTION...: ipmi-chassis succeeds and prints a line
# matching PATTERN (extended regex).
chassis_has() {
    local pattern=$1 out rc=0
    shift
    out=$(ipmi-chassis "${fopts[@]}" "$@" 2>&1) || rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] && grep -Eq -- "$pattern" <<<"$out"
}

# new_qemu OLD_PID: a live QEMU with another PID.
new_qemu() {
    local p
    p=$(qemu_pid)
    [ -n "$p" ] && [ "$p" != "$1" ]
}

# The kernel's line for an NMI it did not expect.  (Plain "NMI" would also
# match boot lines such as "ACPI: LAPIC_NMI" and "NMI watchdog".)
NMI_MARK="NMI received"

guest_ensure
tap_plan 31
stack_start
fipmi_opts

check "ipmipower --stat says off at start" ipmipower_says off --stat
check "no QEMU process at start" qemu_gone
check "chassis status shows System Power off at start" \
    chassis_has "^System Power +: off" --get-chassis-status
check "chassis status prints the power restore policy" \
    chassis_has "^Power restore policy +: Always (off|on)|^Power restore policy +: Restore" \
    --get-chassis-status

check "ipmipower --on says ok" ipmipower_says ok --on
check "ipmipower --stat says on at once" ipmipower_says on --stat
check "QEMU is running" wait_until 20 qemu_is running
check "the guest boots (banner on serial)" wait_console_count 1 "$BOOT_MARK" 90
check "chassis status shows System Power on" \
    chassis_has "^System Power +: on" --get-chassis-status
check "restart cause is the chassis control command" \
    chassis_has "^Restart cause +: Chassis control command" \
    --get-system-restart-cause

nmi_before=$(count_in_console "$NMI_MARK")
check "ipmipower --pulse (diagnostic interrupt) says ok" \
    ipmipower_says ok --pulse
check "the NMI reaches the guest kernel" \
    wait_console_count $((nmi_before + 1)) "$NMI_MARK" 20

pid_before=$(qemu_pid)
check "ipmipower --reset says ok" ipmipower_says ok --reset
check "the guest boots again after reset" wait_console_count 2 "$BOOT_MARK" 90
check "reset keeps the same QEMU process" test "$(qemu_pid)" = "$pid_before"

check "ipmipower --cycle says ok" ipmipower_says ok --cycle
check "power cycle starts a new QEMU process" wait_until 30 new_qemu "$pid_before"
check "the guest boots again after the cycle" \
    wait_console_count 3 "$BOOT_MARK" 90

check "ipmipower --soft says ok" ipmipower_says ok --soft
check "the guest sees the ACPI power button" \
    wait_console_count 1 "QEMU-BMC-GUEST: power button" 30
check "the guest powers itself off: QEMU exits" wait_until 30 qemu_gone
check "ipmipower --stat follows to off" \
    wait_until 5 ipmipower_says off --stat
check "chassis status shows System Power off" \
    chassis_has "^System Power +: off" --get-chassis-status

check "set-power-restore-policy=always-on is accepted" \
    ipmi-chassis "${fopts[@]}" --set-power-restore-policy=always-on
check "chassis status shows the policy Always on" \
    chassis_has "^Power restore policy +: Always on" --get-chassis-status
check "the state file records restore-policy=always-on" \
    grep -qx "restore-policy=always-on" "$STATE/qemu-bmc.state"
check "the state file is mode 0600" \
    test "$(stat -c %a "$STATE/qemu-bmc.state")" = 600

check "ipmipower --on again says ok" ipmipower_says ok --on
check "QEMU is running again" wait_until 20 qemu_is running
check "ipmipower --off says ok" ipmipower_says ok --off
check "power off ends QEMU" wait_until 10 qemu_gone
