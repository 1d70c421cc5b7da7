#!/bin/bash
# Serial over LAN with ipmitool: one session that lives across power on,
# cycle, reset, off/on and a reboot from the guest, each new boot's banner
# arriving in it; typing, ~., deactivate, one session at a time, sol set
# and sol info.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/sol-lib.sh"
need ipmitool supervisord supervisorctl ipmi_sim qemu-system-x86_64

guest_ensure
tap_plan 29
stack_start

sol_cmd() {
    echo ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$IPMI_PORT" -U admin \
        -P "$IPMI_PASS"
}

sol_info_has() { ipmi sol info 2>/dev/null | grep -q -- "$1"; }

# --- parameters --------------------------------------------------------------
check "sol info answers" ipmi sol info
check "sol info reports SOL enabled" sol_info_has "Enabled  *: true"
check "sol info reports the configured 115.2 kbps" \
    sol_info_has "Non-Volatile Bit Rate (kbps) *: 115.2"
check "sol set non-volatile-bit-rate 57.6" ipmi sol set non-volatile-bit-rate 57.6
check "sol info shows the rate set" sol_info_has "Non-Volatile Bit Rate (kbps) *: 57.6"
ipmi sol set non-volatile-bit-rate 115.2 >/dev/null 2>&1 || true
check "sol set enabled false" ipmi sol set enabled false
check "a disabled SOL payload cannot be activated" \
    sh -c "timeout 20 $(sol_cmd) sol activate </dev/null 2>&1 | grep -q 'SOL payload disabled'"
check "sol set enabled true" ipmi sol set enabled true

# --- a session opened while the machine is off --------------------------------
term_start s1 $(sol_cmd) sol activate
check "sol activate with the machine off" term_wait s1 1 "SOL Session operational" 20
term_type s1 $'echo typed-while-off\r'
sleep 1
ipmi power on >/dev/null
check "power on: the firmware banner arrives in the session" \
    term_wait s1 1 "SeaBIOS (version" 60
check "the guest's boot message arrives" term_wait s1 1 "$BOOT_MARK" 120
check "the shell prompt arrives" term_wait s1 1 "guest# " 60
check "what was typed while QEMU was off never reached the guest" \
    sh -c "! grep -a -q typed-while-off '$TEST_TMP/s1.out' && ! grep -a -q typed-while-off '$STATE/console.log'"
term_type s1 $'echo $((6*7))\r'
check "typing echo \$((6*7)) prints 42" term_wait s1 1 "$ANSWER" 30

check "a second activate is refused: SOL payload already active" \
    sh -c "timeout 20 $(sol_cmd) sol activate </dev/null 2>&1 | grep -q 'SOL payload already active'"

# --- the same session across power changes ---------------------------------
ipmi power cycle >/dev/null
check "power cycle: the new boot's banner arrives in the same session" \
    term_wait s1 2 "$BOOT_MARK" 120
check "... from the firmware's first line" term_wait s1 2 "SeaBIOS (version" 10

ipmi power reset >/dev/null
check "power reset: the new boot's banner arrives in the same session" \
    term_wait s1 3 "$BOOT_MARK" 120

ipmi power off >/dev/null
check "power off ends QEMU" wait_until 20 qemu_gone
sleep 2
ipmi power on >/dev/null
check "power off + on: the new boot's banner arrives in the same session" \
    term_wait s1 4 "$BOOT_MARK" 120

term_wait s1 4 "guest# " 60 || true
term_type s1 $'reboot -f\r'
check "reboot from the guest: the new boot's banner arrives in the same session" \
    term_wait s1 5 "$BOOT_MARK" 120

term_wait s1 5 "guest# " 60 || true
term_type s1 $'echo $((6*7))\r'
check "typing still works after all that" term_wait s1 2 "$ANSWER" 30
check "the session is the one opened at the start" term_running s1

# --- leaving: ~. and sol deactivate -----------------------------------------
term_type s1 $'\r~.'
check "~. ends the session" wait_until 15 term_ended s1
check "... and ipmitool exits 0" grep -qx 0 "$TEST_TMP/s1.out.status"

term_start s2 $(sol_cmd) sol activate
check "a new session after ~." term_wait s2 1 "SOL Session operational" 20
check "sol deactivate" ipmi sol deactivate
# ipmi_sim 2.0.33 does not tell the client; the payload is free again.
term_kill s2
term_start s3 $(sol_cmd) sol activate
check "after sol deactivate a new session can start" \
    term_wait s3 1 "SOL Session operational" 20
# (ipmi_sim 2.0.33 takes a new session's first packet for a repeat of the
# last session's when their sequence numbers match: start with an Enter.)
term_type s3 $'\r'
sleep 1
term_type s3 $'echo $((6*7))\r'
check "... and works" term_wait s3 1 "$ANSWER" 30
term_type s3 $'\r~.'
wait_until 15 term_ended s3 || true
