#!/bin/bash
# Faults on the real stack: kill -9 of QEMU, ipmi_sim, the sol-bridge and
# supervisord at random moments during power operations and the boots they
# start, QEMU frozen (SIGSTOP) during a power off, and a full state
# directory while settings are written.  The node runs as in the container:
# run-local is PID 1 of a PID namespace, so that supervisord's death ends
# the node, which the test then starts again.  Invariants:
#
# - never two QEMU processes for this test's disk (watched every 0.1 s for
#   the whole test);
# - once the fault is over (ipmi_sim answers, supervisord is not between
#   two states), power status tells the truth within 1 s (checked with 2 s
#   of slack: two shared cores running TCG guests);
# - the persisted settings (restore policy, a persistent boot device, the
#   IPMI password set over IPMI) are intact after every fault; a node
#   restart keeps the first two (the environment's password is the one
#   again: doc/configuration.md); a full disk makes the BMC refuse a setting
#   with an error and leaves the old state file whole;
# - SOL works again at the end.
#
# Victims take turns from a random start; operations and moments come from
# a seeded RNG: FAULT_SEED (default: from the clock; printed).
# FAULT_ITERATIONS: 5 by default (each victim once, about 2 minutes).  The
# operations follow the machine's state, so a seed replays the same choices
# only as far as the timing allows.  The state directory is a 2 MB tmpfs,
# so that it can be filled in a moment.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/sol-lib.sh"
need ipmitool supervisord supervisorctl ipmi_sim qemu-system-x86_64 qemu-img unshare
if [ "$(id -u)" != 0 ]; then
    why="root is needed (a tmpfs mount, a PID namespace)"
    [ "${CI:-}" != true ] || { echo "Bail out! $why"; exit 1; }
    echo "1..0 # SKIP $why"
    exit 77
fi

ITERATIONS=${FAULT_ITERATIONS:-5}
guest_ensure
tap_plan $((ITERATIONS * 2 + 31))
diag "FAULT_ITERATIONS=$ITERATIONS"
rng_seed FAULT_SEED

# The state directory on a small tmpfs of its own, removed at the end after
# the stack that uses it.
STACK_PID_NS=true
mkdir -p "$TEST_TMP/state"
mount -t tmpfs -o size=2m,mode=0700 qbmc-fault-state "$TEST_TMP/state"
trap 'rc=$?; stack_stop; umount "$TEST_TMP/state" 2>/dev/null; (exit $rc); cleanup' EXIT

DISK=$TEST_TMP/disk.qcow2
qemu-img create -q -f qcow2 "$DISK" 64M

sup() { supervisorctl -c "$RUN/supervisord.conf" "$@"; }

# One request with a 1 s timeout and one retry.
answers() {
    ipmitool -I lanplus -C 3 -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" \
        -U admin -P "$IPMI_PASS" "$@"
}

# --- never two QEMU for one disk ----------------------------------------------
# disk_qemus: the PIDs of the QEMU processes whose command line names $DISK.
disk_qemus() {
    local p
    for p in $(pgrep -x qemu-system-x86 || true); do
        if grep -a -q -F -- "file=$DISK," "/proc/$p/cmdline" 2>/dev/null; then
            echo "$p"
        fi
    done
}

# Every 0.1 s: the QEMU processes whose command line names $DISK.  The most
# seen at once goes to qemu-max (so that a watch that never saw QEMU fails).
qemu_watch() {
    local pids n max=0
    while :; do
        pids=$(disk_qemus | tr '\n' ' ')
        n=$(wc -w <<<"$pids")
        if [ "$n" -gt "$max" ]; then
            max=$n
            echo "$max" >"$TEST_TMP/qemu-max"
        fi
        if [ "$n" -gt 1 ]; then
            echo "$(date +%T.%N) $n QEMU: $pids" >>"$TEST_TMP/two-qemu.log"
            ps -o pid,ppid,stat,args -p "${pids// /,}" >>"$TEST_TMP/two-qemu.log" 2>&1 || true
        fi
        sleep 0.1
    done
}
echo 0 >"$TEST_TMP/qemu-max"
qemu_watch &
BG_PIDS+=($!)
disown $! # ended by PID at exit, without a "Killed" notice

# --- the truth ------------------------------------------------------------------
# supervisord's view of the machine: on, off, or moving (starting, stopping).
truth() {
    local s
    s=$(sup status qemu 2>/dev/null | awk '{print $2}' || true)
    case $s in
    RUNNING) echo on ;;
    STOPPED | EXITED | FATAL) echo off ;;
    *) echo moving ;;
    esac
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# power_truth: the fault is over at the first request that ipmi_sim answers
# while supervisord is in a steady state; from then on, power status must
# read what supervisord says within the bound (the request that agrees must
# have started at most 1 s + slack after that first one).  The time a
# request itself takes (a RMCP+ session: 4 round trips; supervisorctl
# starting Python) is not counted.
WORST_MS=0
power_truth() {
    local deadline=$((SECONDS + 30)) t0='' t a t2 start ms
    while [ $SECONDS -lt $deadline ]; do
        t=$(truth)
        if [ "$t" = moving ]; then
            sleep 0.1
            continue
        fi
        start=$(now_ms)
        a=$(answers power status 2>&1) || {
            sleep 0.1
            continue
        }
        t2=$(truth)
        [ -n "$t0" ] || t0=$start
        ms=$((start - t0))
        if [ "$t" = "$t2" ] && [ "$a" = "Chassis Power is $t" ]; then
            echo "agreed $ms ms after the fault was over" >>"$TEST_TMP/truth.log"
            [ "$ms" -le "$WORST_MS" ] || WORST_MS=$ms
            [ "$ms" -le 3000 ] && return 0
            echo "too late: $ms ms"
            return 1
        fi
        echo "$(date +%T.%N) at +$ms ms: supervisord: $t then $t2, BMC: $a" >>"$TEST_TMP/truth.log"
    done
    echo "no agreement in 30 s: supervisord: $(truth), BMC: $(answers power status 2>&1)"
    tail -5 "$TEST_TMP/truth.log"
    return 1
}

# --- the settings that must survive -----------------------------------------------
stack_start VM_DISK="$DISK" CONSOLE_LOG_SIZE=256K CONSOLE_LOG_FILES=1
STATE_FILE=$STATE/qemu-bmc.state
USERS_FILE=$STATE/ipmi_sim/qemu-bmc/users.mc20
NEW_PASS=f4ult-pass-1

policy_is() { answers chassis status | grep -q "Power Restore Policy *: $1"; }
bootdev_is() {
    local out
    out=$(answers chassis bootparam get 5) || return 1
    grep -q "Force Boot from default Hard-Drive" <<<"$out" &&
        grep -q "all future boots" <<<"$out"
}
state_has() { grep -q "^$1$" "$STATE_FILE"; }
# The state file is whole: both settings, and every group it writes.
settings_kept() {
    state_has restore-policy=previous && state_has boot-flags=c008000000 &&
        state_has "\[next-boot\]" && state_has "setup=\(true\|false\)" || {
        cat "$STATE_FILE"
        return 1
    }
}
password_kept() {
    grep -a -q "$NEW_PASS" "$USERS_FILE" && answers power status >/dev/null
}

check "set policy previous" ipmi chassis policy previous
check "set a persistent boot device (disk)" ipmi chassis bootdev disk options=persistent
check "set the admin password over IPMI" ipmi user set password 2 "$NEW_PASS"
IPMI_PASS=$NEW_PASS
# ipmi_sim writes its users file on its next 1 s tick.
check "ipmi_sim persisted it" wait_until 5 grep -a -q "$NEW_PASS" "$USERS_FILE"
check "the state file has both settings" settings_kept

# --- kill -9 and SIGSTOP at random moments ------------------------------------------
# pick N: a number in 0..N-1 from the seeded RNG.
pick() { echo $((RANDOM % $1)); }

victim_pid() {
    case $1 in
    qemu | freeze-qemu) stack_child_pid qemu-system-x86 ;;
    *) stack_child_pid "$1" ;;
    esac
}

# The node's PID 1 died with supervisord: everything of it must be gone;
# then it starts again, as a container engine would restart it.
node_restart() {
    wait_until 10 sh -c "! kill -0 $STACK_PID 2>/dev/null" || {
        echo "run-local outlived supervisord"
        return 1
    }
    [ -z "$(disk_qemus)" ] || {
        echo "a QEMU outlived the node: $(disk_qemus)"
        return 1
    }
    stack_stop
    # The environment's password again (doc/configuration.md); the one
    # set over IPMI is set again for the checks that follow.
    IPMI_PASS=t3st-pass
    stack_start VM_DISK="$DISK" CONSOLE_LOG_SIZE=256K CONSOLE_LOG_FILES=1
    answers user set password 2 "$NEW_PASS" >/dev/null &&
        IPMI_PASS=$NEW_PASS &&
        wait_until 5 grep -a -q "$NEW_PASS" "$USERS_FILE"
}

# Each victim in turn from a random start, each with a random operation and
# a random moment (0 to 3.9 s after the operation was sent).
VICTIMS=(qemu ipmi_sim sol-bridge supervisord freeze-qemu)
first=$(pick ${#VICTIMS[@]})
after_fault() { $fault_ok && power_truth; }
declare -A FAULTS=()
for i in $(seq "$ITERATIONS"); do
    victim=${VICTIMS[$(((first + i) % ${#VICTIMS[@]}))]}
    if [ "$victim" = freeze-qemu ]; then
        # QEMU frozen during a power off: it must run first.
        [ "$(truth)" = on ] || { ipmi power on >/dev/null 2>&1 || true; }
        wait_until 20 qemu_is running || true
        ops=(off)
    elif [ "$(truth)" = on ]; then
        ops=(off cycle reset soft)
    else
        ops=(on)
    fi
    op=${ops[$(pick ${#ops[@]})]}
    delay=$(pick 4).$(pick 10)
    fault_ok=true
    if [ "$victim" = freeze-qemu ]; then
        # QEMU frozen, then (0 to 0.4 s later) powered off: the power off
        # meets a QEMU that neither answers QMP nor dies of SIGTERM.
        delay=0.$(pick 5)
        pid=$(victim_pid "$victim")
        what="SIGSTOP of QEMU, then after $delay s $op"
        [ -z "$pid" ] || kill -STOP "$pid"
        sleep "$delay"
        ipmi power "$op" >"$TEST_TMP/op.out" 2>&1 || {
            what+=" (not done: $(tail -1 "$TEST_TMP/op.out"))"
            fault_ok=false
        }
        # While frozen, the BMC answers; supervisord kills QEMU after
        # stopwaitsecs (5 s).
        answers power status >/dev/null || {
            what+=" (no answer while frozen)"
            fault_ok=false
        }
        if [ -z "$pid" ]; then
            what+=" (no QEMU to freeze)"
            fault_ok=false
        elif ! wait_until 15 sh -c "! kill -0 $pid 2>/dev/null"; then
            what+=" (the frozen QEMU was not powered off)"
            fault_ok=false
            kill -CONT "$pid"
        fi
        op_pid=
    else
        # The operation runs in the background: the fault may hit it
        # mid-way, and then it may fail; only what follows is checked.
        ipmi power "$op" >"$TEST_TMP/op.out" 2>&1 &
        op_pid=$!
        sleep "$delay"
        pid=$(victim_pid "$victim")
        what="$op, then after $delay s"
        if [ -z "$pid" ]; then
            what+=" no $victim to hit"
        else
            kill -KILL "$pid"
            what+=" kill -9 of $victim"
        fi
    fi
    FAULTS[$victim]=$((${FAULTS[$victim]:-0} + 1))
    [ -z "$op_pid" ] || wait "$op_pid" 2>/dev/null || true
    if [ "$victim" = supervisord ] && [ -n "$pid" ]; then
        node_restart >"$TEST_TMP/restart.out" 2>&1 || {
            what+=" (the node did not end and restart: $(tail -1 "$TEST_TMP/restart.out"))"
            fault_ok=false
        }
        what+=", node restarted"
    fi
    check "$i: $what: power status is true" after_fault
    diag "$(tail -n1 "$TEST_TMP/truth.log" 2>/dev/null)"
    check "$i: ... the state file is whole, with both settings" settings_kept
done
diag "faults: $(for v in "${!FAULTS[@]}"; do printf '%s=%s ' "$v" "${FAULTS[$v]}"; done)"
diag "slowest agreement after a fault: $WORST_MS ms"
check "the password set over IPMI survived the ipmi_sim restarts" password_kept
check "the BMC reports the policy it kept" policy_is previous
check "... and the boot device" bootdev_is

# --- a full state directory ------------------------------------------------------------
# Power off, so that nothing but the settings write there (no console).
no_qemu() { [ -z "$(disk_qemus)" ]; }
ipmi power off >/dev/null 2>&1 || true
wait_until 20 no_qemu || true
# fill: take every free block (again: a refused write may free one).
n_fill=0
fill() {
    n_fill=$((n_fill + 1))
    dd if=/dev/zero of="$STATE/filler.$n_fill" bs=4k 2>/dev/null || true
    dd if=/dev/zero of="$STATE/filler.$n_fill.b" bs=512 2>/dev/null || true
    [ "$(df --output=avail -B1 "$STATE" | tail -1)" -eq 0 ]
}
cp "$STATE_FILE" "$TEST_TMP/state.before"
check "the state directory is full" fill
check_fails "full: set policy always-on is refused" answers chassis policy always-on
fill || true
# (raw: `chassis bootdev` prints the error but exits 0.)
check_fails "full: a boot device change is refused" \
    answers raw 0x00 0x08 0x05 0xc0 0x04 0x00 0x00 0x00
check "full: the BMC keeps answering" answers power status
check "full: the state file is the old one, whole" cmp "$STATE_FILE" "$TEST_TMP/state.before"
check "full: the BMC still reports the old policy" policy_is previous
check "full: ... and the old boot device" bootdev_is
# ipmi_sim's own users file (OpenIPMI lanserv/persist.c, write_persist):
# it ignores the failed write and renames the empty file over the old one.
# Not ours to fix: a known failure (TAP TODO), reported, not hidden.
todo() {
    TAP_N=$((TAP_N + 1))
    echo "not ok $TAP_N - $1 # TODO $2"
}
fill || true
answers user set password 2 f4ult-pass-2 >"$TEST_TMP/pw.out" 2>&1 && pw_rc=0 || pw_rc=$?
sleep 2 # ipmi_sim's tick writes the users file
if [ "$pw_rc" -ne 0 ]; then
    ok "full: a password change is refused"
else
    todo "full: a password change is refused" "ipmi_sim answers success (OpenIPMI)"
    IPMI_PASS=f4ult-pass-2
fi
if grep -a -q "$NEW_PASS\|f4ult-pass-2" "$USERS_FILE"; then
    ok "full: ipmi_sim's users file is whole"
else
    todo "full: ipmi_sim's users file is whole" \
        "OpenIPMI's write_persist renamed a truncated file over it ($(stat -c %s "$USERS_FILE") bytes)"
fi
rm -f "$STATE"/filler.*
check "space freed: set policy always-on works" ipmi chassis policy always-on
check "... and is kept" state_has restore-policy=always-on
check "... set policy previous again" ipmi chassis policy previous

# --- SOL resumes -------------------------------------------------------------------
ipmi power on >/dev/null || true
check "the guest boots after the faults" wait_console_count 1 "$BOOT_MARK" 120
term_start s1 ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$IPMI_PORT" -U admin \
    -P "$IPMI_PASS" sol activate
check "SOL: a session opens" term_wait s1 1 "SOL Session operational" 20
check "SOL: the guest's console answers through it" \
    type_until s1 $'\recho $((6*7))\r' 1 "$ANSWER" 40
term_type s1 $'\r~.'
wait_until 15 term_ended s1 || term_kill s1

# --- a node restart ----------------------------------------------------------------
stack_stop
check "no QEMU is left after the node stops" no_qemu
IPMI_PASS=t3st-pass
stack_start VM_DISK="$DISK" CONSOLE_LOG_SIZE=256K CONSOLE_LOG_FILES=1
check "node restart: the policy is kept" policy_is previous
check "node restart: the boot device is kept" bootdev_is
check "node restart: the state file is whole" settings_kept
check "node restart: previous powers the machine on (it was on)" wait_until 20 qemu_is running
check "node restart: IPMI_PASS is the password again (doc/configuration.md)" \
    answers power status

# --- the watch -----------------------------------------------------------------------
check "never two QEMU processes for the disk" test ! -s "$TEST_TMP/two-qemu.log"
check "... (the watch saw QEMU: at most $(cat "$TEST_TMP/qemu-max") at once)" \
    test "$(cat "$TEST_TMP/qemu-max")" -ge 1
