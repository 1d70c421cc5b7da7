#!/bin/bash
# Network fuzzing of the running BMC: mutated and truncated RMCP/RMCP+
# datagrams, from real ipmitool and FreeIPMI sessions (rmcp-seeds/, made by
# rmcp-capture.sh), sent to ipmi_sim with the plugin on loopback
# (rmcp-fuzz); about a quarter of them are random commands and malformed
# payloads inside authenticated sessions, to reach the command handlers
# (ipmi_sim's and the plugin's).  Afterwards ipmi_sim is the same process,
# answers ipmitool, and its memory and fd count are flat.  First, the
# unauthenticated datagrams that crashed stock ipmi_sim 2.0.33 (rmcp-probe)
# must not.
#
# RMCP_FUZZ_PACKETS (default 100000), RMCP_FUZZ_SEED (default 1).
. "$(dirname "$0")/lib.sh"
need ipmitool ipmi_sim supervisord

PACKETS=${RMCP_FUZZ_PACKETS:-100000}
FUZZ_SEED=${RMCP_FUZZ_SEED:-1}
WARMUP=20000
# Growth of ipmi_sim's resident memory allowed over the measured run, after
# the warm-up: a leak of a few bytes per datagram would be megabytes.
RSS_SLACK_KB=256

tap_plan 15
stack_start

sim_pid() { supervisorctl -c "$RUN/supervisord.conf" pid ipmi_sim; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
fd_count() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
probe() { $PY "$HELPERS/rmcp-probe" "$IPMI_PORT" "$@"; }
fuzz() {
    $PY "$HELPERS/rmcp-fuzz" --port "$IPMI_PORT" --pid "$PID" --password "$IPMI_PASS" \
        --seeds "$top_srcdir/tests/integration/rmcp-seeds" "$@"
}
json() { $PY -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
same_process() { [ "$(sim_pid)" = "$PID" ] && kill -0 "$PID"; }
no_restart() { ! grep -q "exited: ipmi_sim" "$RUN/supervisord.log"; }

# ipmitool answers within SECONDS (sessions the fuzzer left in RAKP hold
# slots until the plugin's session guard closes them, 3-4 s).
answers_within() {
    local secs=$1
    shift
    wait_until "$secs" ipmi "$@"
}

PID=$(sim_pid)
diag "ipmi_sim PID $PID"
check "the plugin filters ipmi_sim's UDP socket" \
    grep -q "RMCP filter on 1 UDP socket" "$RUN/ipmi_sim.log"

# --- crashes of stock ipmi_sim, now prevented ------------------------------
probe activate-authtype admin 3 5 7 0x10 0xff >"$TEST_TMP/authtype.json"
diag "Activate Session with header auth types 3 5 7 16 255: $(cat "$TEST_TMP/authtype.json")"
all_sent() { [ "$(grep -o '"sent"' "$TEST_TMP/authtype.json" | wc -l)" = 5 ]; }
survives() { same_process && ipmi mc info; }
check "Activate Session with an undefined auth type: same ipmi_sim, answers" \
    eval 'all_sent && survives'
probe bad-seq 2000 >/dev/null
check "2000 datagrams with an RMCP sequence number other than 0xff: same ipmi_sim, answers" \
    survives

# --- warm-up, then the measured run ----------------------------------------
# (On a regression above, supervisord restarted ipmi_sim: go on with the
# new one, so that the rest still reports.)
wait_until 15 ipmi mc info || true
PID=$(sim_pid)
ipmi mc info >/dev/null
ipmi chassis power status >/dev/null
fuzz --packets "$WARMUP" --seed "$((FUZZ_SEED + 1000))" >"$TEST_TMP/warmup.json" ||
    { cat "$TEST_TMP/warmup.json"; }
answers_within 15 mc info >/dev/null || true
rss0=$(rss_kb)
fds0=$(fd_count)
diag "after a warm-up of $WARMUP datagrams: VmRSS $rss0 kB, $fds0 fds"

start=$SECONDS
rc=0
fuzz --packets "$PACKETS" --seed "$FUZZ_SEED" --dump "$TEST_TMP/last-datagrams.hex" \
    >"$TEST_TMP/fuzz.json" || rc=$?
diag "fuzz: $(cat "$TEST_TMP/fuzz.json")"
if [ "$rc" = 0 ]; then
    ok "fuzz: ipmi_sim answered throughout ($(json checks <"$TEST_TMP/fuzz.json") checks)"
else
    not_ok "fuzz: ipmi_sim stopped answering (last datagrams in $TEST_TMP/last-datagrams.hex)"
fi
sent=$(json sent <"$TEST_TMP/fuzz.json")
check "fuzz: $sent datagrams sent (wanted $PACKETS)" [ "$sent" -ge "$PACKETS" ]
authenticated=$(json authenticated <"$TEST_TMP/fuzz.json")
check "fuzz: $authenticated of them inside authenticated sessions" \
    [ "$authenticated" -ge $((PACKETS / 10)) ]
filtered=$(json filtered <"$TEST_TMP/fuzz.json")
dropped=$(json dropped <"$TEST_TMP/fuzz.json")
# The kernel counts the filter's drops on the socket; anything beyond them
# found ipmi_sim's queue full and never reached it.
drops_ok() { [ "$dropped" -ge "$filtered" ] && [ $((dropped - filtered)) -le $((PACKETS / 100)) ]; }
check "fuzz: the filter dropped its $filtered datagrams, at most 1% more were lost ($dropped dropped)" \
    drops_ok
check "same ipmi_sim process (PID $PID)" same_process
check "supervisord did not restart ipmi_sim" no_restart

t0=$SECONDS
check "ipmitool mc info answers" answers_within 15 mc info
diag "first ipmitool login $((SECONDS - t0)) s after the fuzz run"
check "ipmitool chassis power status answers" \
    eval 'ipmi chassis power status | grep -q "Chassis Power is off"'

rss1=$(rss_kb)
fds1=$(fd_count)
diag "after $sent datagrams in $(json seconds <"$TEST_TMP/fuzz.json") s ($(json rate <"$TEST_TMP/fuzz.json")/s, $(json replies <"$TEST_TMP/fuzz.json") replies): VmRSS $rss0 -> $rss1 kB, fds $fds0 -> $fds1"
check "fd count flat ($fds0 -> $fds1)" [ "$fds1" = "$fds0" ]
check "VmRSS flat within $RSS_SLACK_KB kB ($rss0 -> $rss1 kB)" \
    [ "$rss1" -le $((rss0 + RSS_SLACK_KB)) ]
diag "measured run: $((SECONDS - start)) s"

# The session guard closed what the fuzzer left in RAKP.
check "the session guard closed sessions left in RAKP" \
    grep -q "closed [0-9]* RMCP+ session(s) still in RAKP" "$RUN/ipmi_sim.log"
check_fails "ipmi_sim logged no crash" \
    grep -qi "segmentation\|core dumped" "$RUN/ipmi_sim.log"
