#!/bin/bash
# Chassis power through pyghmi (python3-pyghmi, the library behind
# OpenStack's IPMI drivers), each operation checked against QEMU's own
# state and the guest's serial output.
. "$(dirname "$0")/lib.sh"
need supervisord ipmi_sim qemu-system-x86_64
need_pyghmi

# pyghmi get | pyghmi set STATE [WAIT]: one pyghmi call in a fresh process
# (pyghmi shares sessions per process), printing its result as JSON.
# pyghmi offers no cipher suite choice: it opens the session with suite 17
# (SHA-256) and, when the BMC refuses it as ours does, falls back to suite 3.
pyghmi() {
    $PY - "$IPMI_PORT" "$IPMI_PASS" "$@" <<'EOF'
import json
import sys

from pyghmi.ipmi import command

port, password, action = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = command.Command(bmc="127.0.0.1", port=port, userid="admin",
                    password=password)
if action == "get":
    result = c.get_power()
elif action == "set":
    wait = int(sys.argv[5]) if len(sys.argv) > 5 else False
    result = c.set_power(sys.argv[4], wait=wait)
else:
    sys.exit("pyghmi: unknown action %s" % action)
print(json.dumps(result, sort_keys=True))
EOF
}

# pyghmi_says JSON ARGS...: the call succeeds and prints exactly JSON.
pyghmi_says() {
    local want=$1 out rc=0
    shift
    out=$(pyghmi "$@" 2>&1) || rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] && [ "$out" = "$want" ]
}

# The kernel's line for an NMI it did not expect.  (Plain "NMI" would also
# match boot lines such as "ACPI: LAPIC_NMI" and "NMI watchdog".)
NMI_MARK="NMI received"

guest_ensure
tap_plan 20
stack_start

check "get_power reads off at start" pyghmi_says '{"powerstate": "off"}' get
check "no QEMU process at start" qemu_gone

# set_power(wait=N) polls Get Chassis Status until the state is reached.
check "set_power on (wait) reaches on" \
    pyghmi_says '{"powerstate": "on"}' set on 30
check "QEMU is running" wait_until 20 qemu_is running
check "the guest boots (banner on serial)" wait_console_count 1 "$BOOT_MARK" 90
check "get_power reads on" pyghmi_says '{"powerstate": "on"}' get

pid_before=$(qemu_pid)
check "set_power reset is accepted" \
    pyghmi_says '{"pendingpowerstate": "reset"}' set reset
check "the guest boots again after reset" wait_console_count 2 "$BOOT_MARK" 90
check "reset keeps the same QEMU process" test "$(qemu_pid)" = "$pid_before"

nmi_before=$(count_in_console "$NMI_MARK")
check "set_power diag is accepted" \
    pyghmi_says '{"pendingpowerstate": "diag"}' set diag
check "the NMI reaches the guest kernel" \
    wait_console_count $((nmi_before + 1)) "$NMI_MARK" 20

check "set_power shutdown is accepted" \
    pyghmi_says '{"pendingpowerstate": "shutdown"}' set shutdown
check "the guest sees the ACPI power button" \
    wait_console_count 1 "QEMU-BMC-GUEST: power button" 30
check "the guest powers itself off: QEMU exits" wait_until 30 qemu_gone
check "get_power follows to off" \
    wait_until 5 pyghmi_says '{"powerstate": "off"}' get

check "set_power on again is accepted" \
    pyghmi_says '{"pendingpowerstate": "on"}' set on
check "QEMU is running again" wait_until 20 qemu_is running
check "set_power off is accepted" \
    pyghmi_says '{"pendingpowerstate": "off"}' set off
check "power off ends QEMU" wait_until 10 qemu_gone
check "get_power reads off at the end" pyghmi_says '{"powerstate": "off"}' get
