#!/bin/bash
# The image, built from container/Dockerfile and run by a real engine
# (rootful podman from Debian, storage and configuration in a temporary
# directory: tests/container/lib.sh), as a containerlab node emulated with
# network namespaces (tests/integration/net-lib.sh):
#
# - bad input: each invalid variable gives its line and exit 2; an
#   IPMI_INTERFACE that never appears gives a clear timeout;
# - the node: interfaces attached 5 s after the start are picked up, IPMI
#   answers on eth1's address only, the guest pings the peer through eth2
#   and LLDP/LACP/VLAN frames cross unchanged; the health check;
# - kill -9 of QEMU, ipmi_sim and the sol-bridge: supervisord restarts
#   ipmi_sim and the sol-bridge, never QEMU (that is the BMC's to do);
# - SIGTERM (podman stop): ACPI shutdown of the guest, then the end;
# - SIGKILL of the whole container during disk writes, then a start: the
#   disk is checked and repaired, the guest boots, qemu-img check is clean;
# - a new container on the same state directory: the new IPMI_PASS works,
#   the old one and one set over IPMI do not.
#
# Every container, image and namespace made here is removed at the end, and
# podman's temporary directory with them.
. "$(dirname "$0")/../integration/lib.sh"
. "$HELPERS/net-lib.sh"
. "$top_srcdir/tests/container/lib.sh"
need podman runc debootstrap ipmitool qemu-img gcc cpio tc

trap 'rc=$?; pm_teardown; net_cleanup; (exit $rc); cleanup' EXIT

tap_plan 62
guest_ensure
net_guest_initrd

pm_setup
t0=$SECONDS
if ! pm_build >"$TEST_TMP/build.log" 2>&1; then
    echo "Bail out! the image did not build:"
    tail -20 "$TEST_TMP/build.log" | sed 's/^/#   /'
    exit 1
fi
ok "the image builds from container/Dockerfile ($((SECONDS - t0)) s)"
diag "image size: $(pm image inspect --format '{{.Size}}' "$PM_IMAGE" | awk '{printf "%d MB", $1/1e6}')"

fmt='{{.Config.StopSignal}} {{json .Config.Healthcheck.Test}} {{json .Config.Volumes}} {{json .Config.ExposedPorts}}'
meta=$(pm image inspect --format "$fmt" "$PM_IMAGE")
check "STOPSIGNAL, HEALTHCHECK, volumes and ports are in the image" \
    bash -c 'm=$1; for w in SIGTERM healthcheck "\"/vm\"" "\"/iso\"" "\"/var/lib/qemu-bmc\"" 623/udp 5900/tcp; do
        case $m in *"$w"*) ;; *) echo "missing $w in: $m"; exit 1 ;; esac; done' _ "$meta"

# --- bad input -------------------------------------------------------------
# rejects DESC PATTERN VAR=value...: the container exits 2 with one line,
# matching PATTERN, before anything starts.
rejects() {
    local desc=$1 pattern=$2 args=() v rc=0
    shift 2
    for v in "$@"; do args+=(-e "$v"); done
    pm run --rm --network=none --no-healthcheck -e IPMI_PASS=ok-pass \
        -e VM_KERNEL=/etc/hostname "${args[@]}" "$PM_IMAGE" >"$TEST_TMP/bad.out" 2>&1 || rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$TEST_TMP/bad.out")" = 1 ] &&
        grep -q -- "$pattern" "$TEST_TMP/bad.out"; then
        ok "bad input: $desc"
    else
        not_ok "bad input: $desc (exit $rc)"
        sed 's/^/#   /' "$TEST_TMP/bad.out"
    fi
}
rejects "VM_MEMORY=lots" "^qemu-bmc: VM_MEMORY='lots'" VM_MEMORY=lots
rejects "VM_CPUS=0" "^qemu-bmc: VM_CPUS='0'" VM_CPUS=0
rejects "VM_DISK missing" "^qemu-bmc: VM_DISK=.*no such file" VM_DISK=/vm/none.qcow2
rejects "VM_CDROM missing" "^qemu-bmc: VM_CDROM=.*no such file" VM_CDROM=/iso/none.iso
rejects "VM_BOOT=floppy" "^qemu-bmc: VM_BOOT='floppy'" VM_BOOT=floppy
rejects "VM_BOOT_MODE=efi" "^qemu-bmc: VM_BOOT_MODE='efi'" VM_BOOT_MODE=efi
rejects "VM_NETWORKS lists eth2 twice" "^qemu-bmc: VM_NETWORKS: eth2 is listed twice" VM_NETWORKS=eth2,eth2
rejects "VM_MACS multicast" "^qemu-bmc: VM_MACS: '01:00:5e:00:00:01' is not a unicast" VM_MACS=01:00:5e:00:00:01
rejects "IPMI_USER too long" "^qemu-bmc: IPMI_USER: at most 16 bytes" IPMI_USER=abcdefghijklmnopq
rejects "IPMI_PASS empty" "^qemu-bmc: IPMI_PASS is empty" IPMI_PASS=
rejects "IPMI_INTERFACE with a space" "^qemu-bmc: IPMI_INTERFACE='eth 1'" "IPMI_INTERFACE=eth 1"
rejects "ENABLE_KVM=maybe" "^qemu-bmc: ENABLE_KVM='maybe'" ENABLE_KVM=maybe
rejects "VNC_PORT=80" "^qemu-bmc: VNC_PORT='80'" VNC_PORT=80
rejects "POWER_ON_AT_START=soon" "^qemu-bmc: POWER_ON_AT_START='soon'" POWER_ON_AT_START=soon
rejects "QEMU_EXTRA_ARGS unbalanced" "^qemu-bmc: QEMU_EXTRA_ARGS: cannot split" "QEMU_EXTRA_ARGS=-foo 'bar"
rejects "DEBUG=loud" "^qemu-bmc: DEBUG='loud'" DEBUG=loud
rejects "CLAB_INTFS=two" "^qemu-bmc: CLAB_INTFS='two'" CLAB_INTFS=two

rc=0
pm run --rm --network=none --no-healthcheck -e IPMI_PASS=ok-pass -e VM_KERNEL=/etc/hostname \
    -e VM_CPUS=0 -e VM_BOOT=floppy -e IPMI_USER= "$PM_IMAGE" >"$TEST_TMP/bad.out" 2>&1 || rc=$?
check "three bad variables: three lines, exit 2" \
    test "$rc" = 2 -a "$(grep -c '^qemu-bmc: ' "$TEST_TMP/bad.out")" = 3

rc=0
pm run --rm --network=none --no-healthcheck -e IPMI_PASS=ok-pass -e VM_KERNEL=/etc/hostname \
    -e IPMI_INTERFACE=eth1 -e INTERFACE_WAIT_TIMEOUT=2 "$PM_IMAGE" >"$TEST_TMP/bad.out" 2>&1 || rc=$?
check "an IPMI_INTERFACE that never appears: a clear timeout, exit 1" \
    test "$rc" = 1 -a "$(grep -c '^qemu-bmc: IPMI_INTERFACE=eth1 did not appear within 2 s (INTERFACE_WAIT_TIMEOUT)$' "$TEST_TMP/bad.out")" = 1
[ "$TAP_FAILED" = 0 ] || sed 's/^/#   /' "$TEST_TMP/bad.out"

# (grep -q on a pipe would end the writer early: with pipefail, a failure.)
logs_of() { grep -q -- "$2" <<<"$(pm logs "$1" 2>&1)"; }

# The defaults: IPMI on every address, the default password warned about.
pm run -d --name "qbmc-ct-$$-defaults" --network=none -e VM_KERNEL=/etc/hostname \
    -e POWER_ON_AT_START=false "$PM_IMAGE" >/dev/null 2>&1
check "with the default password: a warning" wait_until 20 \
    logs_of "qbmc-ct-$$-defaults" "warning: IPMI_PASS is the default password"
check "with the defaults: healthy (IPMI on 0.0.0.0:623)" wait_until 20 pm healthcheck run "qbmc-ct-$$-defaults"
pm rm -f -t 0 "qbmc-ct-$$-defaults" >/dev/null 2>&1

# --- the node --------------------------------------------------------------
net_setup
NODE=qbmc-ct-$$
IPMI_PASS=t3st-pass
STATE=$TEST_TMP/state
VMDIR=$TEST_TMP/vm
mkdir -p "$STATE" "$VMDIR"
cp "$TEST_TMP/initrd-net.img" "$VMDIR/initrd.img"
cp "$guest_dir/vmlinuz" "$VMDIR/vmlinuz"
qemu-img create -q -f qcow2 "$VMDIR/disk.qcow2" 512M
# Where the console socket of the container's run directory is seen here.
CRUN=$TEST_TMP/crun
mkdir -p "$CRUN"

# node_run IPMI_PASS: the container, as containerlab would start it.
node_run() {
    pm run -d --name "$NODE" --hostname srv1 --network "ns:/run/netns/$NODE_NS" \
        --cap-add NET_ADMIN --device /dev/net/tun \
        -v "$VMDIR:/vm" -v "$STATE:/var/lib/qemu-bmc" -v "$CRUN:/run/qemu-bmc" \
        -e IPMI_PASS="$1" -e IPMI_INTERFACE=eth1 -e IPMI_INTERFACE_ADDR="$IPMI_NODE_ADDR/24" \
        -e CLAB_INTFS=2 -e INTERFACE_WAIT_TIMEOUT=60 -e ENABLE_KVM=false \
        -e VM_MEMORY=256 -e VM_CPUS=1 -e VM_DISK=/vm/disk.qcow2 \
        -e VM_KERNEL=/vm/vmlinuz -e VM_INITRD=/vm/initrd.img \
        -e VM_APPEND="console=ttyS0,115200 panic=-1" \
        "$PM_IMAGE" >"$TEST_TMP/run.out" 2>&1
}
node_logs() { pm logs "$NODE" 2>&1; }
in_ct() { pm exec "$NODE" "$@"; }
sup_pid() { in_ct supervisorctl -c /run/qemu-bmc/supervisord.conf pid "$1" 2>/dev/null; }
sup_state() { in_ct supervisorctl -c /run/qemu-bmc/supervisord.conf status "$1" 2>/dev/null | awk '{print $2}'; }
sup_state_is() { [ "$(sup_state "$1")" = "$2" ]; }
ipmi_up() { ipmi_at "$IPMI_NODE_ADDR" mc info; }
ipmi_power_is() { [ "$(ipmi_at "$IPMI_NODE_ADDR" power status 2>/dev/null)" = "Chassis Power is $1" ]; }
sock=$CRUN/console.sock

logs_have() { grep -q -- "$1" <<<"$(node_logs)"; }
# log_mark, then new_logs_have PATTERN: in what the container logged since
# (its log goes on across restarts).
LOG_MARK=0
log_mark() { LOG_MARK=$(node_logs | wc -l); }
new_logs_have() { grep -q -- "$1" <<<"$(node_logs | tail -n +$((LOG_MARK + 1)))"; }
ct_says() { grep -q -- "$2" <<<"$(in_ct "$1" 2>&1)"; }
console_shows() { grep -aq -- "$1" <<<"$(console_log)"; }
# pid_changed PROGRAM OLD_PID: supervisord runs PROGRAM again, as a new process.
pid_changed() {
    local p
    p=$(sup_pid "$1")
    [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$2" ]
}
# stays_exited PROGRAM: EXITED now and 2 s later (not restarted).
stays_exited() {
    [ "$(sup_state "$1")" = EXITED ] && sleep 2 && [ "$(sup_state "$1")" = EXITED ]
}
boots() { count_in_console "$BOOT_MARK"; }
# leak_one_cluster IMAGE: write the first cluster (qemu-io), then drop the
# L2 entry that points at it: allocated, referenced by nothing, the way an
# interrupted QEMU leaves clusters.
leak_one_cluster() {
    qemu-io -f qcow2 -c "write -P 0x5a 0 64k" "$1" >/dev/null
    $PY - "$1" <<'EOF'
import struct, sys
OFFSET = 0x00fffffffffffe00  # bits 9-55 of an L1 or L2 entry
with open(sys.argv[1], "r+b") as f:
    f.seek(40)  # l1_table_offset
    (l1,) = struct.unpack(">Q", f.read(8))
    f.seek(l1)
    l2 = struct.unpack(">Q", f.read(8))[0] & OFFSET
    f.seek(l2)
    f.write(b"\0" * 8)
EOF
}

t0=$SECONDS
node_run "$IPMI_PASS" || { sed 's/^/#   /' "$TEST_TMP/run.out"; exit 1; }
sleep 5
check "the container waits for its interfaces" logs_have "waiting for IPMI_INTERFACE=eth1"
net_attach
if ! wait_until 60 ipmi_up; then
    echo "Bail out! IPMI did not come up in the container:"
    node_logs | tail -20 | sed 's/^/#   /'
    exit 1
fi
ok "interfaces attached 5 s after the start are picked up; IPMI is up $((SECONDS - t0)) s after the start"
check "eth2 is the VM's NIC" logs_have "VM NIC 0: eth2 <-> qbmc-tap0"
check "ipmi_sim is bound to eth1's address alone" \
    bash -c "ip netns exec $NODE_NS ss -Hulpn | grep ipmi_sim | grep -q ' $IPMI_NODE_ADDR:623 '"
check_fails "no IPMI on the management address" \
    in_peer $PY "$top_srcdir/container/ipmi-ping" "$MGMT_ADDR" 623 2
check_fails "no default-password warning when IPMI_PASS is set" logs_have "default password"
check "POWER_ON_AT_START=true: the guest boots" wait_console_count 1 "$BOOT_MARK" 60
check "health check: healthy" pm healthcheck run "$NODE"
check "the health check asks IPMI on eth1's address" \
    ct_says /usr/lib/qemu-bmc/container/healthcheck "^healthy: IPMI on $IPMI_NODE_ADDR:623"

mac=$(in_ct cat /run/qemu-bmc/vm-nics.json | $PY -c 'import json,sys; print(json.load(sys.stdin)["nics"][0]["mac"])')
guest_sh "$sock" "killall udhcpc; ip addr add $GUEST_DATA_ADDR/24 dev eth0; ip link set eth0 up; echo net-ready" \
    "net-ready" >/dev/null 2>&1 || true
check "the guest pings the peer through eth2" \
    guest_sh "$sock" "ping -c 3 -W 2 $DATA_PEER_ADDR" "3 packets received" 20
frames_check "$sock" "$mac"

# --- a hard power off over IPMI ---------------------------------------------
# The plugin sends QEMU its SIGTERM through a pidfd (doc/design.md): that
# must work under podman's default seccomp filter, and QEMU names the sender.
sim=$(sup_pid ipmi_sim)
check "power off over IPMI" ipmi_at "$IPMI_NODE_ADDR" power off
check "power off: QEMU has exited, and supervisord saw it (EXITED)" \
    wait_until 10 sup_state_is qemu EXITED
check "power off: QEMU's SIGTERM came from ipmi_sim (pid $sim) itself" \
    logs_have "terminating on signal 15 from pid $sim ("
n=$(boots)
check "power on over IPMI" ipmi_at "$IPMI_NODE_ADDR" power on
check "the guest boots again" wait_console_count $((n + 1)) "$BOOT_MARK" 60

# --- kill -9 of each program -----------------------------------------------
q=$(sup_pid qemu)
in_ct bash -c "kill -9 $q"
check "kill -9 of QEMU: the BMC reports power off" wait_until 10 ipmi_power_is off
check "kill -9 of QEMU: supervisord does not restart it" \
    stays_exited qemu
old=$(sup_pid ipmi_sim)
in_ct bash -c "kill -9 $old"
check "kill -9 of ipmi_sim: supervisord restarts it" \
    wait_until 15 pid_changed ipmi_sim "$old"
check "... and IPMI answers again" wait_until 15 ipmi_up
old=$(sup_pid sol-bridge:sol-bridge)
in_ct bash -c "kill -9 $old"
check "kill -9 of the sol-bridge: supervisord restarts it" \
    wait_until 15 pid_changed sol-bridge:sol-bridge "$old"
n=$(boots)
check "power on after all that" ipmi_at "$IPMI_NODE_ADDR" power on
check "the guest boots, its console through the new sol-bridge" wait_console_count $((n + 1)) "$BOOT_MARK" 60

# --- SIGTERM: the guest shuts down ------------------------------------------
t0=$SECONDS
log_mark
pm stop -t 30 "$NODE" >/dev/null 2>&1
check "podman stop: the guest sees the ACPI power button" \
    console_shows "QEMU-BMC-GUEST: power button"
check "podman stop: vm-shutdown waited for the guest" new_logs_have "vm-shutdown: the guest shut down in"
check "podman stop took less than the engine's 10 s ($((SECONDS - t0)) s)" test $((SECONDS - t0)) -lt 10
check "the disk is clean after podman stop" qemu-img check -q "$VMDIR/disk.qcow2"

# --- SIGKILL during disk writes ---------------------------------------------
n=$(boots)
pm start "$NODE" >/dev/null 2>&1
check "podman start: the guest boots again" wait_console_count $((n + 1)) "$BOOT_MARK" 90
guest_sh "$sock" "dd if=/dev/zero of=/dev/vda bs=64k count=8000 oflag=direct & sleep 2; echo writing" \
    "writing" >/dev/null 2>&1 || true
pm kill -s KILL "$NODE" >/dev/null 2>&1
rc=0
qemu-img check "$VMDIR/disk.qcow2" >"$TEST_TMP/check.out" 2>&1 || rc=$?
diag "after SIGKILL: qemu-img check exit $rc: $(grep -m1 -i 'leak\|corrupt\|no errors' "$TEST_TMP/check.out")"
# Whether a SIGKILL leaks clusters depends on where it lands; one leak
# made by hand makes sure the repair runs.
leak_one_cluster "$VMDIR/disk.qcow2"
rc=0
qemu-img check "$VMDIR/disk.qcow2" >/dev/null 2>&1 || rc=$?
check "a leaked cluster, for the repair (qemu-img check exit 3)" test "$rc" = 3
n=$(boots)
log_mark
pm start "$NODE" >/dev/null 2>&1
check "the start after SIGKILL repairs the disk before QEMU opens it" \
    wait_until 30 new_logs_have "VM_DISK=/vm/disk.qcow2: repaired [0-9]* leaked cluster"
check "the guest boots after the SIGKILL" wait_console_count $((n + 1)) "$BOOT_MARK" 90
pm stop -t 30 "$NODE" >/dev/null 2>&1
check "qemu-img check is clean" qemu-img check "$VMDIR/disk.qcow2"

# --- the environment wins over the state directory --------------------------
pm start "$NODE" >/dev/null 2>&1
wait_until 60 ipmi_up || true
check "a password set over IPMI" ipmi_at "$IPMI_NODE_ADDR" user set password 2 0ver-ipmi
pm rm -f -t 30 "$NODE" >/dev/null 2>&1
node_run n3w-pass || { sed 's/^/#   /' "$TEST_TMP/run.out"; exit 1; }
IPMI_PASS=n3w-pass
check "a new container on the same state: the new IPMI_PASS works" wait_until 60 ipmi_up
IPMI_PASS=t3st-pass
check_fails "... the old one does not" ipmi_up
IPMI_PASS=0ver-ipmi
check_fails "... nor the one set over IPMI" ipmi_up
IPMI_PASS=n3w-pass
