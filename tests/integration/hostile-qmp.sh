#!/bin/bash
# A hostile QEMU: the real ipmi_sim, plugin and supervisord, with a QMP
# server on the plugin's qmp.sock that sends garbage, lines in pieces, a
# 10 MB line, no greeting, late or no answers, closes in the middle of a
# reply and floods events (tests/integration/hostile-qmp-server).
# Meanwhile ipmitool and ipmipower keep asking: every request is answered
# (each client gets one try of 1 s, no retry), the time ipmi_sim takes per
# request is measured on the loopback interface (the bound is 100 ms; the
# test fails only past 1 s, a retry or a lost answer, and reports the
# maximum), the plugin gets its link back after each phase, and ipmi_sim's
# fd count and RSS are the same after the last round as after the first.
#
# The server stands in for QEMU on RUN_DIR/qmp.sock (where render-config
# points the plugin); QEMU itself is never started, so no power on/off here.
# HOSTILE_ROUNDS (default 2) rounds of every phase.
. "$(dirname "$0")/lib.sh"
need ipmitool ipmipower supervisord ipmi_sim qemu-system-x86_64

rounds=${HOSTILE_ROUNDS:-2}
# HOSTILE_PHASES="NAME:SECONDS ..." replaces the phases of a round (for
# experiments; the checks of round 1 expect them all).
# shellcheck disable=SC2206 # words on purpose
phases=(${HOSTILE_PHASES:-normal:1 garbage:2 partial:2 huge:2 nogreeting:4
    late:7 never:2 closemid:2 flood:2 normal:1})

tap_plan $((2 * rounds + 7))
# DEBUG off: a flood of events would be a flood of debug lines.
stack_start DEBUG=false

sim_pid=$(ipmi_sim_pid)
fds() { proc_fds "$sim_pid"; }
rss_kb() { proc_rss_kb "$sim_pid"; }

$PY "$HELPERS/udp-latency" "$IPMI_PORT" "$TEST_TMP/latency" &
sniffer=$!
BG_PIDS+=("$sniffer")
wait_until 5 test -f "$TEST_TMP/latency.ready"

fopts=(-D LAN_2_0 -W opensesspriv -I 3 --config-file /dev/null
    -h "127.0.0.1:$IPMI_PORT" -u admin -p "$IPMI_PASS"
    --session-timeout=1000 --retransmission-timeout=1000)
once() {
    ipmitool -I lanplus -C 3 -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" \
        -U admin -P "$IPMI_PASS" "$@"
}

# One client loop: each operation in turn until $TEST_TMP/stop exists;
# one line per request: "OP RESULT".  A refused reset (no QMP link at that
# moment: "not in present state") is an answer; a timeout is not.
client() {
    local n=0 out rc
    local -a ops=("chassis power status" "chassis status"
        "chassis bootparam get 5" "chassis power reset" "ipmipower --stat")
    while [ ! -e "$TEST_TMP/stop" ]; do
        local op=${ops[$((n % ${#ops[@]}))]}
        n=$((n + 1))
        rc=0
        if [ "$op" = "ipmipower --stat" ]; then
            out=$(ipmipower "${fopts[@]}" --stat 2>&1) || rc=$?
        else
            # shellcheck disable=SC2086 # the words of the operation
            out=$(once $op 2>&1) || rc=$?
        fi
        if [ "$op" = "ipmipower --stat" ] && grep -Eq ': (on|off)$' <<<"$out"; then
            echo "$op ok"
        elif [ "$op" != "ipmipower --stat" ] && [ $rc -eq 0 ]; then
            echo "$op ok"
        elif grep -qi "present state" <<<"$out"; then
            echo "$op refused"
        else
            echo "$op FAILED: $(tr '\n' ' ' <<<"$out")"
        fi
    done
}

for round in $(seq "$rounds"); do
    $PY "$HELPERS/hostile-qmp-server" "$RUN/qmp.sock" "${phases[@]}" \
        >"$TEST_TMP/server.$round.log" 2>&1 &
    server=$!
    BG_PIDS+=("$server")
    rm -f "$TEST_TMP/stop"
    client >"$TEST_TMP/client.$round.a" &
    c1=$!
    client >"$TEST_TMP/client.$round.b" &
    c2=$!
    BG_PIDS+=("$c1" "$c2")
    total=0
    for p in "${phases[@]}"; do total=$((total + ${p#*:})); done
    # Every phase, then the plugin back on a well-behaved peer.
    check "round $round: the plugin is back on QMP after every phase" \
        wait_until $((total + 15)) grep -q settled "$TEST_TMP/server.$round.log"
    touch "$TEST_TMP/stop"
    wait "$c1" "$c2" || true
    if [ "$round" = 1 ]; then
        fds1=$(fds)
        rss1=$(rss_kb)
    fi
    bad=$(cat "$TEST_TMP"/client.$round.* | grep -c FAILED || true)
    answered=$(cat "$TEST_TMP"/client.$round.* | grep -c -v FAILED || true)
    refused=$(cat "$TEST_TMP"/client.$round.* | grep -c refused || true)
    diag "round $round: $answered requests answered ($refused resets refused for want of a QMP link), $bad failed"
    check "round $round: every client request answered" test "$bad" = 0
    grep FAILED "$TEST_TMP"/client.$round.* | head -5 | sed 's/^/# /' || true
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
done

# Each phase met the plugin (all but nogreeting get as far as negotiation).
negotiated_all() {
    local p
    for p in normal garbage partial huge late never closemid flood; do
        grep -q " $p: negotiated" "$TEST_TMP/server.1.log" || return 1
    done
}
check "round 1: the plugin met every phase" negotiated_all
check "round 1: the flood reached the plugin" \
    grep -Eq "flood: [1-9][0-9]{6,} bytes" "$TEST_TMP/server.1.log"

kill -TERM "$sniffer"
wait "$sniffer" || true
read -r _ requests _ answered _ unanswered _ max_ms _ p99_ms <"$TEST_TMP/latency"
diag "ipmi_sim: $requests UDP requests, $answered answered, max ${max_ms} ms, p99 ${p99_ms} ms"
# Each slow answer with the server's phase at that moment.
$PY - "$TEST_TMP/latency" "$TEST_TMP"/server.*.log <<'EOF' | sed 's/^/# /'
import sys
phases = []
for path in sys.argv[2:]:
    for line in open(path):
        w = line.split()
        if len(w) == 3 and w[1] == "phase":
            phases.append((float(w[0]), w[2]))
phases.sort()
for line in open(sys.argv[1]):
    if line.startswith("slow"):
        at = float(line.split()[-1])
        name = ([p for t, p in phases if t <= at] or ["?"])[-1]
        print(line.strip(), "in phase", name)
EOF
check "every UDP request got an answer" test "$unanswered" = 0
check "no answer took over 1 s (bound: 100 ms)" \
    $PY -c "import sys; sys.exit(0 if float('$max_ms') < 1000 else 1)"

# A well-behaved peer again, connected: the same state as after round 1.
$PY "$HELPERS/hostile-qmp-server" "$RUN/qmp.sock" >"$TEST_TMP/server.end.log" 2>&1 &
BG_PIDS+=("$!")
wait_until 10 grep -q settled "$TEST_TMP/server.end.log" || true
fds2=$(fds)
rss2=$(rss_kb)
diag "ipmi_sim fds: $fds1 after round 1, $fds2 after round $rounds; RSS: $rss1 kB, $rss2 kB"
check "ipmi_sim's fd count is flat" test "$fds2" -le "$fds1"
# glibc keeps freed memory; a leak per phase and round would show as
# several MB (each round sends 10 MB lines and megabytes of events).
check "ipmi_sim's RSS is flat (within 1 MB)" test $((rss2 - rss1)) -le 1024
check "ipmi_sim is the one that started" \
    test "$(ipmi_sim_pid)" = "$sim_pid"
