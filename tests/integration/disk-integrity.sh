#!/bin/bash
# The VM's qcow2 disk survives hard power offs and SIGKILLs of QEMU while the
# guest writes to it: after each, `qemu-img check` finds no corruption; the
# clusters a kill leaks are repaired at the next start of the node
# (container/disk-check, run by run-local as by the entrypoint), before any
# QEMU opens the disk.
#
# The guest writes with dd (conv=fsync) 64 KiB at a time at random offsets
# of a 16 GiB virtual disk, so that nearly every write allocates a cluster
# (and now and then an L2 table or a refcount block): qcow2 metadata changes
# all the time, in every iteration of a long run (on a small disk, every
# cluster is allocated after a few iterations and then nothing changes).  The faults alternate: `chassis power off`
# (hard), then kill -9 of QEMU.  DISK_POWEROFFS faults: 6 by default (about
# 3 minutes), 100 for the full run (DISK_POWEROFFS=100 make check TESTS=...).
# DISK_SEED replays the moments of a run.
. "$(dirname "$0")/lib.sh"
need ipmitool supervisord supervisorctl ipmi_sim qemu-system-x86_64 qemu-img

N=${DISK_POWEROFFS:-6}
guest_ensure
tap_plan $((N + 9))
diag "DISK_POWEROFFS=$N"
rng_seed DISK_SEED

DISK=$TEST_TMP/disk.qcow2
qemu-img create -q -f qcow2 "$DISK" 16G
stack_start VM_DISK="$DISK"

# qcow2_report: qemu-img check's JSON (exit 2: corruption, 3: leaks only).
qcow2_report() {
    qemu-img check -f qcow2 --output=json "$DISK" 2>"$TEST_TMP/check.err" || true
}
field() { $PY -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$1"; }

# no_corruption: the image as QEMU left it, read-only.
no_corruption() {
    local report
    report=$(qcow2_report)
    echo "$report" >"$TEST_TMP/check.json"
    [ -n "$report" ] || { cat "$TEST_TMP/check.err"; return 1; }
    [ "$(field corruptions <<<"$report")" = 0 ] &&
        [ "$(field check-errors <<<"$report")" = 0 ] || {
        echo "$report"
        return 1
    }
}

writes() { count_in_console "^qbmc-write "; }
writes_more_than() { [ "$(writes)" -gt "$1" ]; }

# The writer: one 64 KiB cluster at a time at a random place of the disk's
# 262144 (an LCG seeded from /dev/urandom: busybox sh may have no $RANDOM).
WRITER='s=$(od -An -N4 -tu4 /dev/urandom); i=0; while :; do s=$(( (s * 1103515245 + 12345) % 2147483648 )); dd if=/dev/urandom of=/dev/vda bs=64k count=1 seek=$(( s % 262144 )) conv=notrunc,fsync 2>/dev/null; echo qbmc-write $i; i=$((i+1)); done'

leaked_max=0
kills=0
offs=0
for i in $(seq "$N"); do
    boots_before=$(count_in_console "$BOOT_MARK")
    t_on=$SECONDS
    ipmi power on >/dev/null || true
    if ! wait_console_count $((boots_before + 1)) "$BOOT_MARK" 90; then
        not_ok "$i: the guest boots"
        continue
    fi
    diag "$i: booted after $((SECONDS - t_on)) s"
    before=$(writes)
    "$HELPERS/console-send" "$RUN/console.sock" "$WRITER" >/dev/null 2>&1 || true
    if ! wait_until 30 writes_more_than "$((before + 1))"; then
        not_ok "$i: the guest writes to its disk"
        continue
    fi
    # A random moment among the writes: 0 to 1.9 s more.
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"
    if [ $((i % 2)) = 1 ]; then
        ipmi power off >/dev/null || true
        fault="chassis power off"
        offs=$((offs + 1))
    else
        pid=$(qemu_pid)
        [ -z "$pid" ] || kill -KILL "$pid"
        fault="kill -9 of QEMU"
        kills=$((kills + 1))
    fi
    wait_until 20 qemu_gone || true
    n=$(($(writes) - before))
    if no_corruption >"$TEST_TMP/last.out" 2>&1; then
        leaks=$(field leaks <"$TEST_TMP/check.json")
        alloc=$(field allocated-clusters <"$TEST_TMP/check.json")
        [ "$leaks" -le "$leaked_max" ] || leaked_max=$leaks
        ok "$i: $fault after $n writes: qemu-img check finds no corruption ($alloc clusters, $leaks leaked)"
    else
        not_ok "$i: $fault after $n writes: qemu-img check finds no corruption"
        sed 's/^/#   /' "$TEST_TMP/last.out" | tail -20
    fi
done
diag "$offs power offs, $kills kills; most leaked clusters seen: $leaked_max"

check "QEMU was gone after each fault (nothing else has the disk)" qemu_gone
check "the guest wrote: $(writes) writes in all" writes_more_than "$N"

# --- the next start of the node repairs what the kills leaked ---------------------
report=$(qcow2_report)
leaks=$(field leaks <<<"$report")
diag "before the restart: $leaks leaked clusters"
stack_stop
stack_start VM_DISK="$DISK"
if [ "$leaks" -gt 0 ]; then
    check "the node start repaired the $leaks leaked clusters" \
        grep -q "repaired $leaks leaked cluster" "$TEST_TMP/run-local.log"
else
    check "the node start found the image clean" \
        grep -q "qcow2 image clean" "$TEST_TMP/run-local.log"
fi
check "... before QEMU opened it: no leaks left" \
    test "$(qcow2_report | field leaks)" = 0
check "... and no corruption" no_corruption

# --- the guest boots from the repaired disk and still writes ----------------------
boots_before=$(count_in_console "$BOOT_MARK")
ipmi power on >/dev/null || true
check "the guest boots after the repair" \
    wait_console_count $((boots_before + 1)) "$BOOT_MARK" 90
check "the guest reads its disk (256 MiB)" \
    "$HELPERS/console-send" "$RUN/console.sock" \
    'dd if=/dev/vda of=/dev/null bs=1M count=256 2>&1 | grep -c records; echo qbmc-read-$((1+1))' \
    "qbmc-read-2" 60
check "a clean power off" ipmi power off
wait_until 20 qemu_gone || true
check "after it, qemu-img check is clean: no leaks, no corruption" \
    sh -c "test \"\$1\" = 0 && qemu-img check -q -f qcow2 '$DISK'" _ "$(qcow2_report | field leaks)"
