#!/bin/bash
# The console path around SOL: the console log keeps the first boot with
# nobody attached, from the firmware's first byte, capped and rotated, and
# on stdout when asked; the operators' socket; Ironic's socat wrapper; the
# sol-bridge killed with SIGKILL; a stalled SOL client during a flood; the
# bridge stopped with SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/sol-lib.sh"
need ipmitool supervisord supervisorctl ipmi_sim qemu-system-x86_64 socat

guest_ensure
tap_plan 30
stack_start CONSOLE_LOG_SIZE=256K CONSOLE_LOG_FILES=2 CONSOLE_TO_STDOUT=true

sol_cmd() {
    echo ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$IPMI_PORT" -U admin \
        -P "$IPMI_PASS"
}
sup() { supervisorctl -c "$RUN/supervisord.conf" "$@"; }

# --- the first boot, nobody attached ------------------------------------------
ipmi power on >/dev/null
check "the guest boots with no SOL client attached" \
    wait_console_count 1 "$BOOT_MARK" 120
check "the console log has the first boot's firmware banner" \
    console_count_at_least 1 "SeaBIOS (version"
check "... and its kernel messages" console_count_at_least 1 "Linux version"
check "the console log starts with the firmware's first byte (ESC c)" \
    sh -c "head -c 2 '$STATE/console.log' | od -An -c | grep -q '033   c'"
check "the console log is private (0600)" \
    sh -c "[ \"\$(stat -c %a '$STATE/console.log')\" = 600 ]"
check "CONSOLE_TO_STDOUT: the console is on the bridge's stdout" \
    grep -a -q "$BOOT_MARK" "$RUN/sol-bridge.log"

# --- the operators' socket ----------------------------------------------------
check "console.sock: typing echo \$((6*7)) shows 42" \
    "$HELPERS/console-send" "$RUN/console.sock" 'echo $((6*7))' $'\n42\r' 20

# --- Ironic's console wrapper -------------------------------------------------
port=$(free_port)
socat "TCP4-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,max-children=1" \
    EXEC:"$(sol_cmd) sol activate",pty,stderr >"$TEST_TMP/socat.log" 2>&1 &
BG_PIDS+=($!)
wait_until 10 sh -c "ss -ltn | grep -q '127.0.0.1:$port '" || true
term_start ironic socat -,raw,echo=0 "TCP:127.0.0.1:$port"
check "Ironic's socat wrapper: a client on its port gets the SOL session" \
    term_wait ironic 1 "SOL Session operational" 20
term_type ironic $'echo $((6*7))\r'
check "... sees the console and can type" term_wait ironic 1 "$ANSWER" 30
term_type ironic $'\r~.'
check "... and ~. ends it" wait_until 15 term_ended ironic

# --- sol-bridge killed with SIGKILL during a session ------------------------------
term_start s2 $(sol_cmd) sol activate
term_wait s2 1 "SOL Session operational" 20 || true
term_type s2 $'echo $((6*7))\r'
check "a SOL session before the kill" term_wait s2 1 "$ANSWER" 30
old=$(sol_bridge_pid)
sim=$(ipmi_sim_pid)
connects=$(grep -c "QEMU serial connected" "$RUN/sol-bridge.log" || true)
kill -KILL "$old"
check "supervisord restarts a killed sol-bridge" \
    wait_until 15 sh -c "p=\$(supervisorctl -c '$RUN/supervisord.conf' pid sol-bridge); [ -n \"\$p\" ] && [ \"\$p\" != 0 ] && [ \"\$p\" != '$old' ]"
check "the restarted bridge is attached to the running QEMU again" \
    wait_until 10 sh -c "[ \$(grep -c 'QEMU serial connected' '$RUN/sol-bridge.log') -gt $connects ]"
check "SOL resumes in the same session once ipmi_sim reconnects (10 s)" \
    type_until s2 $'echo $((6*7))\r' 2 "$ANSWER" 40
term_type s2 $'\r~.'
check "~. ends it" wait_until 15 term_ended s2
term_start s3 $(sol_cmd) sol activate
check "a new activate works after the kill" term_wait s3 1 "SOL Session operational" 20
term_type s3 $'echo $((6*7))\r'
check "... and the console works in it" term_wait s3 1 "$ANSWER" 30
term_type s3 $'\r~.'
wait_until 15 term_ended s3 || term_kill s3
check "ipmi_sim did not restart" sh -c "[ \"\$(supervisorctl -c '$RUN/supervisord.conf' pid ipmi_sim)\" = '$sim' ]"

# --- ipmi_sim frozen while the guest floods the serial line -------------------
# About 116 KB/s leave the guest's serial port under TCG: 1 MB takes 9 s.
flood() {
    "$HELPERS/console-send" "$RUN/console.sock" \
        "head -c 1000000 /dev/zero | tr '\\0' x; echo; echo flood-\$((1+$1))-done" \
        "flood-$((1 + $1))-done" 120 >/dev/null 2>&1
}
bridge_pid=$(sol_bridge_pid)
sim=$(ipmi_sim_pid)
kill -STOP "$sim"
flood 1 || true
check "with ipmi_sim frozen during a flood, the bridge keeps serving" \
    "$HELPERS/console-send" "$RUN/console.sock" 'echo $((6*7))' $'\n42\r' 30
check "... the log has all of the flood" console_count_at_least 1 "^flood-2-done"
check "... the bridge counts what it dropped for ipmi_sim" \
    wait_until 15 grep -q "dropped for a slow SOL client" "$RUN/sol-bridge.log"
check "... the bridge is the same process" \
    sh -c "[ \"\$(supervisorctl -c '$RUN/supervisord.conf' pid sol-bridge)\" = '$bridge_pid' ]"
check "the log is capped and rotated: console.log.1 exists" \
    test -f "$STATE/console.log.1"
check "... no file is over 256K and only 2 rotated files are kept" \
    sh -c "[ \$(stat -c %s '$STATE/console.log') -le 262144 ] &&
           [ \$(stat -c %s '$STATE/console.log.1') -le 262144 ] &&
           [ ! -e '$STATE/console.log.3' ]"
kill -CONT "$sim"
term_start s4 $(sol_cmd) sol activate
term_wait s4 1 "SOL Session operational" 20 || true
check "ipmi_sim thawed: SOL works" type_until s4 $'\recho $((6*7))\r' 1 "$ANSWER" 30
term_type s4 $'\r~.'
wait_until 15 term_ended s4 || term_kill s4

# --- a SOL client stopped during a flood ----------------------------------------
term_start s5 $(sol_cmd) sol activate
term_wait s5 1 "SOL Session operational" 20 || true
check "a SOL session for the flood" \
    type_until s5 $'\recho $((6*7))\r' 1 "$ANSWER" 30
ipmitool_pid=$(pgrep -P "${TERM_PID[s5]}" ipmitool || true)
kill -STOP "$ipmitool_pid"
flood 2 || true
sleep 6  # ipmi_sim gives up on the stopped client
kill -CONT "$ipmitool_pid"
term_type s5 $'\r~.'
wait_until 15 term_ended s5 || term_kill s5
term_start s6 $(sol_cmd) sol activate
term_wait s6 1 "SOL Session operational" 20 || true
check "after a client stalled during a flood, a new session gets output" \
    type_until s6 $'\recho $((6*7))\r' 1 "$ANSWER" 30
term_type s6 $'\r~.'
wait_until 15 term_ended s6 || term_kill s6
term_start h1 $(sol_cmd) sol activate instance=2
check "ipmi_sim keeps the last 64 KiB: sol activate instance=2 replays the flood" \
    term_wait h1 1 "flood-3-done" 30
term_type h1 $'\r~.'
wait_until 15 term_ended h1 || term_kill h1

# --- SIGTERM: flush and a clean exit ------------------------------------------
check "supervisorctl stop sol-bridge (SIGTERM)" sup stop sol-bridge
check "... it exits 0 after flushing the log" \
    sh -c "grep -q 'stopped: sol-bridge (exit status 0)' '$RUN/supervisord.log' &&
           grep -q 'stopping: flushing the console log' '$RUN/sol-bridge.log'"
