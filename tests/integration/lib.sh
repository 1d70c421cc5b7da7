# lib.sh - shared code for the integration tests (TAP, bash).
#
# Each test sources this, calls tap_plan, starts a real stack with
# stack_start (supervisord + ipmi_sim + plugin, QEMU on power on, the demo
# guest), and checks effects: QEMU's state over the operators' QMP socket,
# the guest's serial log, processes by PID.  Everything runs on 127.0.0.1
# with ports picked at run time.  On exit every process the test started is
# stopped by PID; the test directory is kept when a check failed.
set -euo pipefail

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
PY=/usr/bin/python3
HELPERS=$top_srcdir/tests/integration
# What the build made lives in the build tree (not the source tree, in a
# VPATH build such as make distcheck).
export QEMU_BMC_PLUGIN=$top_builddir/plugin/.libs/qemu-bmc.so
export QEMU_BMC_SOL_BRIDGE=$top_builddir/tools/sol-bridge
export QEMU_BMC_QEMU_EXEC=$top_builddir/tools/qemu-exec

TEST_NAME=$(basename "$0" .sh)
# Short paths: unix socket names are limited to 108 bytes.
TEST_TMP=$(mktemp -d "/tmp/qbmc-$TEST_NAME.XXXXXX")
TAP_N=0
TAP_FAILED=0
STACK_PID=
BG_PIDS=()

tap_plan() { echo "1..$1"; }

ok() {
    TAP_N=$((TAP_N + 1))
    echo "ok $TAP_N - $*"
}

not_ok() {
    TAP_N=$((TAP_N + 1))
    TAP_FAILED=$((TAP_FAILED + 1))
    echo "not ok $TAP_N - $*"
}

diag() { echo "# $*"; }

# check DESC CMD...: one TAP line from CMD's exit status.
check() {
    local desc=$1
    shift
    if "$@" >"$TEST_TMP/last.out" 2>&1; then
        ok "$desc"
    else
        not_ok "$desc"
        sed 's/^/#   /' "$TEST_TMP/last.out" | tail -20
    fi
}

# check_fails DESC CMD...: passes when CMD fails.
check_fails() {
    local desc=$1
    shift
    if "$@" >"$TEST_TMP/last.out" 2>&1; then
        not_ok "$desc (unexpectedly succeeded)"
        sed 's/^/#   /' "$TEST_TMP/last.out" | tail -20
    else
        ok "$desc"
    fi
}

# A missing tool skips the test locally but fails it in CI, where
# tools/install-deps --test must have installed it.
need() {
    local t
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            if [ "${CI:-}" = true ]; then
                echo "Bail out! $t is not installed (tools/install-deps --test)"
                exit 1
            fi
            echo "1..0 # SKIP $t is not installed"
            exit 77
        fi
    done
}

# pyghmi is a module of the system interpreter, not a command: the same
# rule as need(), a skip locally and a failure in CI.
need_pyghmi() {
    if ! $PY -c 'import pyghmi.ipmi.command' >/dev/null 2>&1; then
        if [ "${CI:-}" = true ]; then
            echo "Bail out! pyghmi is not installed (tools/install-deps --test)"
            exit 1
        fi
        echo "1..0 # SKIP pyghmi (python3-pyghmi) is not installed"
        exit 77
    fi
}

# ipmi_sim's PID, open fds and RSS (kB), for the tests that check it does
# not grow.
ipmi_sim_pid() { supervisorctl -c "$RUN/supervisord.conf" pid ipmi_sim; }
proc_fds() { ls "/proc/$1/fd" | wc -l; }
proc_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# rng_seed NAME: seed $RANDOM from the variable NAME (default: the clock)
# and print the seed, so that a run of a randomized test can be replayed.
rng_seed() {
    local seed=${!1:-$(($(date +%s%N) % 32768))}
    RANDOM=$seed
    diag "$1=$seed (set it to replay this run)"
}

free_port() {
    $PY -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_until SECONDS CMD...: poll CMD every 0.1 s.
wait_until() {
    local deadline=$((SECONDS + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.1
    done
}

guest_dir=$top_builddir/guest-cache

# Build (once, shared by all tests) the demo guest from Debian packages.
guest_ensure() {
    mkdir -p "$guest_dir"
    (
        flock 9
        "$top_srcdir/tests/guest/build-guest.sh" "$guest_dir" >"$guest_dir/build.log" 2>&1
    ) 9>"$guest_dir/.lock" || {
        echo "Bail out! building the demo guest failed: see $guest_dir/build.log"
        exit 1
    }
}

# stack_start [VAR=value ...]: run container/run-local in the background
# with the demo guest, TCG, and fresh ports and directories.
#
# STACK_PID_NS=true: run-local is PID 1 of a PID namespace of its own, as
# the entrypoint is in the container: when supervisord dies, so does every
# process of the node.  PIDs that supervisorctl reports are then the
# namespace's, not the host's: use stack_child_pid.
stack_start() {
    local wrap=()
    [ "${STACK_PID_NS:-false}" != true ] || wrap=(unshare --pid --fork)
    IPMI_PORT=$(free_port)
    IPMI_PASS=${IPMI_PASS:-t3st-pass}
    RUN=$TEST_TMP/run
    STATE=$TEST_TMP/state
    # G_DEBUG=fatal-warnings is for the unit tests: a warning the BMC logs
    # (a peer not up yet) must not kill it here.
    env -u G_DEBUG IPMI_ADDR=127.0.0.1 IPMI_PORT="$IPMI_PORT" IPMI_USER=admin \
        IPMI_PASS="$IPMI_PASS" RUN_DIR="$RUN" STATE_DIR="$STATE" \
        ENABLE_KVM=false VM_MEMORY=256 VM_CPUS=1 POWER_ON_AT_START=false \
        VM_KERNEL="$guest_dir/vmlinuz" VM_INITRD="$guest_dir/initrd.img" \
        VM_APPEND="console=ttyS0,115200 panic=-1" DEBUG=true \
        QEMU_BMC_PLUGIN="$top_builddir/plugin/.libs/qemu-bmc.so" \
        "$@" "${wrap[@]}" \
        "$top_srcdir/container/run-local" >"$TEST_TMP/run-local.log" 2>&1 &
    STACK_PID=$!
    if ! wait_until 30 grep -q "IPMI is answering" "$TEST_TMP/run-local.log"; then
        echo "Bail out! the stack did not come up:"
        sed 's/^/#   /' "$TEST_TMP/run-local.log" | tail -20
        exit 1
    fi
}

# stack_run_local_pid: run-local's PID (on the host).
stack_run_local_pid() {
    if [ "${STACK_PID_NS:-false}" = true ]; then
        # unshare's only child (and unshare it must be: not a reused PID).
        [ "$(ps -o comm= -p "$STACK_PID" 2>/dev/null)" = unshare ] || return 0
        pgrep -P "$STACK_PID" || true
    else
        echo "$STACK_PID"
    fi
}

# stack_child_pid NAME: the host PID of supervisord (NAME=supervisord) or of
# one of its programs, by its process name (ipmi_sim, sol-bridge,
# qemu-system-x86), or empty.
stack_child_pid() {
    local rl sup
    [ -n "$STACK_PID" ] || return 0
    rl=$(stack_run_local_pid)
    [ -n "$rl" ] || return 0
    sup=$(pgrep -P "$rl" -f "supervisord -c $RUN/" || true)
    if [ "$1" = supervisord ] || [ -z "$sup" ]; then
        echo "$sup"
    else
        pgrep -P "$sup" -x "$1" || true
    fi
}

stack_stop() {
    local target
    if [ -n "$STACK_PID" ] && kill -0 "$STACK_PID" 2>/dev/null; then
        target=$(stack_run_local_pid)
        kill -TERM "${target:-$STACK_PID}" 2>/dev/null || true
        local i
        for i in $(seq 100); do
            kill -0 "$STACK_PID" 2>/dev/null || break
            sleep 0.1
        done
    fi
    if [ "${STACK_PID_NS:-false}" = true ]; then
        # The end of run-local, PID 1 there, ends every process of the node
        # (and supervisord.pid holds a PID of the namespace: not for here).
        [ -z "$STACK_PID" ] || kill -KILL "$(stack_run_local_pid)" 2>/dev/null || true
        wait "$STACK_PID" 2>/dev/null || true
        STACK_PID=
        return 0
    fi
    # run-local stops supervisord, which stops its programs; anything left
    # (a test that froze a process) goes by PID.
    [ -n "${RUN:-}" ] || return 0
    local pidfile=$RUN/supervisord.pid pid
    if [ -f "$pidfile" ] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null; then
        for child in $(pgrep -P "$pid" || true); do
            kill -CONT "$child" 2>/dev/null || true
            kill -KILL "$child" 2>/dev/null || true
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$STACK_PID" 2>/dev/null || true
    STACK_PID=
}

cleanup() {
    local rc=$?
    local p
    for p in "${BG_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    stack_stop
    if [ "$TAP_FAILED" -gt 0 ] || [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        echo "# logs kept in $TEST_TMP"
    else
        rm -rf "$TEST_TMP"
    fi
}
trap cleanup EXIT

ipmi() {
    ipmitool -I lanplus -C 3 -N 2 -R 2 -H 127.0.0.1 -p "$IPMI_PORT" \
        -U admin -P "$IPMI_PASS" "$@"
}

power_is() {
    [ "$(ipmi power status 2>/dev/null)" = "Chassis Power is $1" ]
}

# The operators' QMP socket, so the tests see QEMU's own view.
qmp() {
    $PY "$HELPERS/qmp-ops" "$RUN/qmp-ops.sock" "$@"
}

# QEMU's run state ("running", "paused", ...) or "absent".
qemu_status() {
    qmp query-status 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null || echo absent
}

qemu_is() { [ "$(qemu_status)" = "$1" ]; }

# PID of the QEMU process supervisord runs, or empty.
qemu_pid() {
    local p
    p=$(supervisorctl -c "$RUN/supervisord.conf" pid qemu 2>/dev/null || true)
    if [ -n "$p" ] && [ "$p" != 0 ] && kill -0 "$p" 2>/dev/null; then
        echo "$p"
    fi
}

qemu_gone() { [ -z "$(qemu_pid)" ]; }

# The serial log kept by the sol-bridge, oldest rotated file first.
console_log() {
    local n
    for n in $(seq 99 -1 1); do
        [ ! -f "$STATE/console.log.$n" ] || cat "$STATE/console.log.$n"
    done
    cat "$STATE/console.log" 2>/dev/null || true
}
# (grep -a: the log holds terminal escapes and may hold NULs.)

# count_in_console PATTERN: how many serial lines match.
count_in_console() {
    console_log | grep -a -c -- "$1" || true
}

# console_count_at_least N PATTERN
console_count_at_least() {
    [ "$(count_in_console "$2")" -ge "$1" ]
}

# wait_console_count N PATTERN SECONDS
wait_console_count() {
    wait_until "$3" console_count_at_least "$1" "$2"
}

BOOT_MARK="QEMU-BMC-GUEST: boot ok"

# --- boot media (tests/guest/build-media.sh) -------------------------------
media_dir=$top_builddir/guest-cache/media

media_ensure() {
    guest_ensure
    (
        flock 9
        "$top_srcdir/tests/guest/build-media.sh" "$guest_dir" "$media_dir" \
            >"$guest_dir/media.log" 2>&1
    ) 9>"$guest_dir/.media-lock" || {
        echo "Bail out! building the boot media failed: see $guest_dir/media.log"
        exit 1
    }
}

# stack_start_media [VAR=value ...]: a VM with the test disk, CD-ROM and
# network boot (no direct kernel boot), disks copied so a test owns them.
stack_start_media() {
    cp "$media_dir/disk-bios.img" "$TEST_TMP/disk-bios.img"
    cp "$media_dir/disk-efi.img" "$TEST_TMP/disk-efi.img"
    stack_start VM_KERNEL= VM_INITRD= VM_APPEND= VM_CDROM="$media_dir/cdrom.iso" \
        VM_NET_TFTP="$media_dir/tftp" VM_NET_BOOTFILE=boot.ipxe \
        VM_NET_BOOTFILE_EFI=boot.ipxe "$@"
}

# The medium of the last boot that reached the guest ("disk", "cdrom",
# "network", "disk-efi", ...), from its kernel command line.
last_medium() {
    console_log | grep -a "QEMU-BMC-GUEST: cmdline" | tail -n1 |
        sed -n 's/.*qbmc_medium=\([a-z-]*\).*/\1/p'
}

boots() { count_in_console "QEMU-BMC-GUEST: cmdline"; }

# booted_from N MEDIUM: boot number N (or later) reached the guest from MEDIUM.
booted_from() {
    [ "$(boots)" -ge "$1" ] && [ "$(last_medium)" = "$2" ]
}
