#!/bin/bash
# Eight clients at once against one BMC: three ipmitool, three FreeIPMI and
# two pyghmi, each CONCURRENCY_OPS random operations (power on, off, cycle,
# reset and status, chassis status, persistent boot device set and get;
# tests/integration/concurrency-client).  No protocol error and no timeout;
# answers that say "not in the present state" (a reset or cycle while off)
# are counted apart and are correct answers, and "node busy"-type answers
# are counted apart too (see below).  Once the clients are done and the
# node has settled, QEMU's own state (process, run state, the bootindex of
# its devices) must be the effect of the last accepted command
# (tests/integration/concurrency-check), and ipmi_sim's fds and RSS what
# they were before.
#
# CONCURRENCY_OPS: operations per client; the default keeps `make check`
# short, the issue's run is CONCURRENCY_OPS=500.
. "$(dirname "$0")/lib.sh"
need ipmitool ipmipower ipmi-chassis ipmi-chassis-config supervisord \
    supervisorctl ipmi_sim qemu-system-x86_64
need_pyghmi

ops=${CONCURRENCY_OPS:-40}

guest_ensure
tap_plan 12
# Small stand-ins for a disk and a CD, so that QEMU has the three devices
# whose bootindex the BMC moves (the demo guest boots its kernel directly).
truncate -s 1M "$TEST_TMP/disk.img"
truncate -s 2M "$TEST_TMP/cd.iso"
stack_start VM_DISK="$TEST_TMP/disk.img" VM_CDROM="$TEST_TMP/cd.iso" DEBUG=false

sim_pid=$(ipmi_sim_pid)

# --- baseline, powered on ---------------------------------------------------
ipmi power on >/dev/null
check "power on before the clients start" wait_until 30 qemu_is running
sleep 2
fds0=$(proc_fds "$sim_pid")
rss0=$(proc_rss_kb "$sim_pid")

# --- eight clients ----------------------------------------------------------
kinds=(ipmitool freeipmi pyghmi ipmitool freeipmi pyghmi ipmitool freeipmi)
# How many sessions ipmi_sim holds (of its 63), once a second, for the log.
(
    while :; do
        { ipmi session info all 2>/dev/null || true; } |
            awk '/active sessions/ && !n { print $NF; n = 1 }'
        sleep 1
    done
) >"$TEST_TMP/sessions" &
sampler=$!
BG_PIDS+=("$sampler")
pids=()
t0=$SECONDS
for i in "${!kinds[@]}"; do
    $PY "$HELPERS/concurrency-client" "${kinds[$i]}" "$((i + 1))" "$ops" \
        "$IPMI_PORT" "$IPMI_PASS" "$TEST_TMP/ops.$i.log" \
        2>"$TEST_TMP/client.$i.err" &
    pids+=($!)
    BG_PIDS+=($!)
done
clients_ok=true
for p in "${pids[@]}"; do
    wait "$p" || clients_ok=false
done
kill "$sampler" 2>/dev/null || true
diag "8 clients x $ops operations in $((SECONDS - t0)) s; active sessions sampled each second: max $(sort -n "$TEST_TMP/sessions" | tail -1), $(tr '\n' ' ' <"$TEST_TMP/sessions" | cut -c1-200)"
check "every client ran to its end" $clients_ok
for f in "$TEST_TMP"/client.*.err; do
    [ ! -s "$f" ] || sed 's/^/#   /' "$f" | tail -5
done

# --- the node settles ------------------------------------------------------
# QEMU alive or not, stable for 3 s (a power action times out after 30 s).
qemu_presence() { if qemu_gone; then echo off; else echo on; fi; }
stable_for_3s() {
    local a b c
    a=$(qemu_presence); sleep 1.5; b=$(qemu_presence); sleep 1.5; c=$(qemu_presence)
    [ "$a" = "$b" ] && [ "$b" = "$c" ] && { [ "$c" = off ] || qemu_is running; }
}
check "the node settles" wait_until 45 stable_for_3s
power=$(qemu_presence)

# The device QEMU boots first: the lowest bootindex of disk0, cd0, net0.
qemu_first_device() {
    local dev idx best="" best_idx=99
    for dev in disk0 cd0 net0; do
        idx=$(qmp qom-get "{\"path\": \"/machine/peripheral/$dev\", \"property\": \"bootindex\"}") || return 1
        if [ "$idx" -ge 0 ] && [ "$idx" -lt "$best_idx" ]; then
            best=$dev best_idx=$idx
        fi
    done
    case $best in
    disk0) echo disk ;; cd0) echo cdrom ;; net0) echo pxe ;; *) return 1 ;;
    esac
}
# verdict POWER DEVICE: concurrency-check's judgement, kept in verdict.
verdict() {
    $PY "$HELPERS/concurrency-check" "$1" "$2" "$TEST_TMP"/ops.*.log \
        >"$TEST_TMP/verdict" 2>&1
}
value() { awk -v k="$1" '$1 == k { print $2 }' "$TEST_TMP/verdict"; }

check "power: QEMU's state ($power) is the effect of the last accepted command" \
    verdict "$power" -
check "IPMI power status agrees with QEMU" power_is "$power"

# The boot device is read from a live QEMU: power on if the last command
# left the node off (the launcher then starts QEMU with the boot order).
# Set while QEMU was still starting, the order reaches it 15 s after its
# QMP link came up: give it that long.
if [ "$power" = off ]; then
    ipmi power on >/dev/null
    wait_until 30 qemu_is running || true
fi
boot_matches() {
    local device
    device=$(qemu_first_device) || return 1
    verdict - "$device"
}
check "boot: QEMU's first boot device is the last accepted command's" \
    wait_until 20 boot_matches
device=$(qemu_first_device || echo none)
verdict "$power" "$device" || true
grep -v '^# \(error\|busy\)' "$TEST_TMP/verdict" | sed 's/^/# /' | head -20
grep '^# \(error\|busy\)' "$TEST_TMP/verdict" | head -20 || true
param5_device() {
    local out
    out=$(ipmi chassis bootparam get 5) || return 1
    case $device in
    pxe) grep -q "Force PXE" <<<"$out" ;;
    disk) grep -q "Force Boot from default Hard-Drive" <<<"$out" ;;
    cdrom) grep -q "Force Boot from CD/DVD" <<<"$out" ;;
    *) return 1 ;;
    esac && grep -q "Options apply to all future boots" <<<"$out"
}
check "IPMI boot flags agree with QEMU ($device, persistent)" param5_device

errors=$(value error)
busy=$(value busy)
refused=$(value refused)
diag "$(value operations) operations: $(value ok) accepted, $refused refused (not in present state), $busy busy, $errors errors; $(grep '^by_client' "$TEST_TMP/verdict")"
check "no protocol error or timeout" test "${errors:-x}" = 0
# "Node busy" / out-of-resources answers are answers, not errors; none is
# expected from this BMC (it queues actions and never says busy), so they
# are reported, and each kind of client must still have had its say.
accepted_by() { grep -h "\"result\": \"ok\"" "$TEST_TMP"/ops.*.log | grep -c "\"client\": \"$1-" || true; }
check "every kind of client had commands accepted" \
    test "$(accepted_by ipmitool)" -gt 0 -a "$(accepted_by freeipmi)" -gt 0 -a "$(accepted_by pyghmi)" -gt 0

# --- ipmi_sim did not grow -------------------------------------------------
# Same state as the baseline: powered on, QEMU on QMP.
wait_until 30 qemu_is running || true
sleep 2
fds1=$(proc_fds "$sim_pid")
rss1=$(proc_rss_kb "$sim_pid")
diag "ipmi_sim fds $fds0 -> $fds1, RSS $rss0 -> $rss1 kB"
check "ipmi_sim's fd count is flat" test "$fds1" -le "$fds0"
check "ipmi_sim's RSS is flat (within 2 MB)" test $((rss1 - rss0)) -le 2048
check "ipmi_sim is the one that started" test "$(ipmi_sim_pid)" = "$sim_pid"
