#!/bin/bash
# Bad input gets one clear line and a non-zero exit, before anything starts.
. "$(dirname "$0")/lib.sh"
need ipmi_sim supervisord

tap_plan 23

# run_local_rejects DESC PATTERN VAR=value...: run-local exits 2, prints one
# line matching PATTERN, and started nothing.
run_local_rejects() {
    local desc=$1 pattern=$2
    shift 2
    local dir out rc=0
    dir=$(mktemp -d "$TEST_TMP/rl.XXXXXX")
    out=$dir/out
    env IPMI_PASS=ok-pass VM_KERNEL=/bin/true RUN_DIR="$dir/run" \
        STATE_DIR="$dir/state" IPMI_PORT="$(free_port)" "$@" \
        timeout 20 "$top_srcdir/container/run-local" >"$out" 2>&1 || rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$out")" = 1 ] && grep -q -- "$pattern" "$out" &&
        [ ! -e "$dir/run/supervisord.pid" ]; then
        ok "$desc"
    else
        not_ok "$desc (exit $rc)"
        sed 's/^/#   /' "$out"
    fi
}

run_local_rejects "VM_MEMORY=abc" "VM_MEMORY" VM_MEMORY=abc
run_local_rejects "VM_MEMORY too small" "VM_MEMORY" VM_MEMORY=1M
run_local_rejects "VM_CPUS=0" "VM_CPUS" VM_CPUS=0
run_local_rejects "VM_DISK missing" "VM_DISK.*no such file" VM_DISK=/nonexistent/disk.qcow2
run_local_rejects "VM_CDROM missing" "VM_CDROM.*no such file" VM_CDROM=/nonexistent.iso
run_local_rejects "nothing to boot" "nothing to boot" VM_KERNEL=
run_local_rejects "VM_BOOT=floppy" "VM_BOOT" VM_BOOT=floppy
run_local_rejects "ENABLE_KVM=maybe" "ENABLE_KVM" ENABLE_KVM=maybe
run_local_rejects "VNC_PORT=80" "VNC_PORT" VNC_PORT=80
run_local_rejects "IPMI_PASS empty" "IPMI_PASS is empty" IPMI_PASS=
run_local_rejects "IPMI_PASS too long" "IPMI_PASS" IPMI_PASS=123456789012345678901
run_local_rejects "IPMI_USER with a quote" "IPMI_USER" 'IPMI_USER=a"b'
run_local_rejects "IPMI_PORT=70000" "IPMI_PORT" IPMI_PORT=70000
run_local_rejects "IPMI_ADDR=not-an-ip" "IPMI_ADDR" IPMI_ADDR=not-an-ip
run_local_rejects "QEMU_EXTRA_ARGS unbalanced quote" "QEMU_EXTRA_ARGS" "QEMU_EXTRA_ARGS=-foo 'bar"
run_local_rejects "VM_NETWORKS lists eth2 twice" "VM_NETWORKS: eth2 is listed twice" VM_NETWORKS=eth2,eth2
run_local_rejects "VM_MACS=zz" "VM_MACS: 'zz' is not a MAC address" VM_MACS=zz
run_local_rejects "IPMI_INTERFACE and IPMI_ADDR" "IPMI_ADDR and IPMI_INTERFACE are both set" \
    IPMI_INTERFACE=eth1 IPMI_ADDR=127.0.0.1
run_local_rejects "IPMI_INTERFACE_ADDR without a prefix" "IPMI_INTERFACE_ADDR" \
    IPMI_INTERFACE=eth1 IPMI_INTERFACE_ADDR=10.0.0.1
run_local_rejects "VM_SHUTDOWN_TIMEOUT=soon" "VM_SHUTDOWN_TIMEOUT" VM_SHUTDOWN_TIMEOUT=soon

# Every bad variable at once, one line each.
dir=$(mktemp -d "$TEST_TMP/rl.XXXXXX")
rc=0
env IPMI_PASS=ok-pass VM_KERNEL=/bin/true RUN_DIR="$dir/run" STATE_DIR="$dir/state" \
    IPMI_PORT="$(free_port)" VM_CPUS=0 VM_BOOT=floppy CLAB_INTFS=x \
    timeout 20 "$top_srcdir/container/run-local" >"$dir/out" 2>&1 || rc=$?
if [ "$rc" = 2 ] && [ "$(wc -l <"$dir/out")" = 3 ] && grep -q VM_CPUS "$dir/out" &&
    grep -q VM_BOOT "$dir/out" && grep -q CLAB_INTFS "$dir/out"; then
    ok "three bad variables: three lines"
else
    not_ok "three bad variables: three lines (exit $rc)"
    sed 's/^/#   /' "$dir/out"
fi

# A bad init string makes ipmi_sim exit non-zero, naming the key.
plugin=$top_builddir/plugin/.libs/qemu-bmc.so
cat >"$TEST_TMP/lan.conf" <<EOF
name "bad"
loadlib "$plugin" "qmp=$TEST_TMP/q.sock bogus=1"
EOF
rc=0
ipmi_sim -n -c "$TEST_TMP/lan.conf" -f /dev/null -s "$TEST_TMP/st" \
    >"$TEST_TMP/sim.out" 2>&1 </dev/null || rc=$?
if [ $rc -ne 0 ] && grep -q "qemu-bmc: bad init string: unknown key 'bogus'" "$TEST_TMP/sim.out"; then
    ok "ipmi_sim refuses an unknown init key"
else
    not_ok "ipmi_sim refuses an unknown init key (exit $rc)"
    sed 's/^/#   /' "$TEST_TMP/sim.out"
fi

cat >"$TEST_TMP/lan.conf" <<EOF
name "bad"
loadlib "$plugin" "restore=sometimes"
EOF
rc=0
ipmi_sim -n -c "$TEST_TMP/lan.conf" -f /dev/null -s "$TEST_TMP/st" \
    >"$TEST_TMP/sim.out" 2>&1 </dev/null || rc=$?
if [ $rc -ne 0 ] && grep -q "qemu-bmc: bad init string: restore=sometimes" "$TEST_TMP/sim.out"; then
    ok "ipmi_sim refuses a bad init value"
else
    not_ok "ipmi_sim refuses a bad init value (exit $rc)"
    sed 's/^/#   /' "$TEST_TMP/sim.out"
fi
