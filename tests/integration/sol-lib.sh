# sol-lib.sh - interactive console clients for the SOL tests (after lib.sh).
#
# ipmitool's and ipmiconsole's SOL clients need a terminal: term_start runs
# one on a pseudo-terminal (pty-run), records everything it shows in
# $TEST_TMP/NAME.out and types what term_type writes.  Each client is a
# background process stopped by PID at exit like the others.

declare -A TERM_PID TERM_FD

# term_start NAME COMMAND...
term_start() {
    local name=$1 fd
    shift
    rm -f "$TEST_TMP/$name.out" "$TEST_TMP/$name.out.status" "$TEST_TMP/$name.in"
    mkfifo "$TEST_TMP/$name.in"
    # Read-write, so that opening never blocks and typing never fails,
    # whether or not the client still runs.
    exec {fd}<>"$TEST_TMP/$name.in"
    TERM_FD[$name]=$fd
    : >"$TEST_TMP/$name.out"
    "$HELPERS/pty-run" "$TEST_TMP/$name.out" "$TEST_TMP/$name.in" -- "$@" \
        >>"$TEST_TMP/$name.err" 2>&1 &
    TERM_PID[$name]=$!
    BG_PIDS+=($!)
}

# term_type NAME TEXT: type TEXT (use $'...\r' for Enter).
term_type() {
    printf '%s' "$2" >&"${TERM_FD[$1]}"
}

# term_count NAME PATTERN: how many lines the client showed match.
term_count() {
    grep -a -c -- "$2" "$TEST_TMP/$1.out" 2>/dev/null || true
}

term_saw() { [ "$(term_count "$1" "$3")" -ge "$2" ]; }

# term_wait NAME N PATTERN SECONDS: until N lines matched.
term_wait() {
    wait_until "$4" term_saw "$1" "$2" "$3"
}

# type_until NAME TEXT N PATTERN SECONDS: type TEXT every 2 s until N lines
# match (after the bridge restarted, ipmi_sim reconnects within 10 s and
# drops what is typed before).
type_until() {
    local deadline=$((SECONDS + $5))
    while [ $SECONDS -lt $deadline ]; do
        term_type "$1" "$2"
        if term_wait "$1" "$3" "$4" 2; then
            return 0
        fi
    done
    return 1
}

term_running() { kill -0 "${TERM_PID[$1]}" 2>/dev/null; }
term_ended() { ! term_running "$1"; }

# term_kill NAME: end a client that cannot be told to quit.
term_kill() {
    kill -TERM "${TERM_PID[$1]}" 2>/dev/null || true
    wait_until 10 term_ended "$1" || kill -KILL "${TERM_PID[$1]}" 2>/dev/null || true
}

# The answer to the test's question, as the guest's shell prints it.
ANSWER=$'^42\r'

sol_bridge_pid() {
    supervisorctl -c "$RUN/supervisord.conf" pid sol-bridge 2>/dev/null || true
}

ipmi_sim_pid() {
    supervisorctl -c "$RUN/supervisord.conf" pid ipmi_sim 2>/dev/null || true
}
