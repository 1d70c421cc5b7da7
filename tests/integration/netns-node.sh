#!/bin/bash
# A containerlab node emulated with network namespaces, run by
# container/run-local inside the node's namespace (the container itself is
# tested the same way in tests/container/container.sh):
#
# - it starts before eth1 and eth2 exist (CLAB_INTFS=2); they are attached
#   5 s later, and eth1's address comes later still, as a containerlab
#   `exec` would give it;
# - IPMI answers on eth1's address only (IPMI_INTERFACE=eth1), not on the
#   management address nor on 127.0.0.1;
# - eth2 is the VM's NIC (VM_NETWORKS=auto): the guest pings the peer, and
#   LLDP, LACP and VLAN-tagged frames cross unchanged both ways;
# - the node's own IP stack puts nothing on the data link;
# - the guest's MAC is the one derived from the node's name and eth2.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/net-lib.sh"
need ipmi_sim supervisord qemu-system-x86_64 ipmitool gcc cpio tc

tap_plan 16
guest_ensure
net_guest_initrd
net_setup

IPMI_PASS=t3st-pass
RUN=$TEST_TMP/run
STATE=$TEST_TMP/state
in_node env -u G_DEBUG IPMI_PORT=623 IPMI_USER=admin IPMI_PASS="$IPMI_PASS" \
    RUN_DIR="$RUN" STATE_DIR="$STATE" NODE_NAME=srv1 \
    IPMI_INTERFACE=eth1 CLAB_INTFS=2 VM_NETWORKS=auto INTERFACE_WAIT_TIMEOUT=60 \
    ENABLE_KVM=false VM_MEMORY=256 VM_CPUS=1 POWER_ON_AT_START=false \
    VM_KERNEL="$guest_dir/vmlinuz" VM_INITRD="$TEST_TMP/initrd-net.img" \
    VM_APPEND="console=ttyS0,115200 panic=-1" \
    QEMU_BMC_PLUGIN="$top_builddir/plugin/.libs/qemu-bmc.so" \
    "$top_srcdir/container/run-local" >"$TEST_TMP/run-local.log" 2>&1 &
STACK_PID=$!

# containerlab attaches the links after the node started.
sleep 5
check "the node waits for IPMI_INTERFACE" grep -q "waiting for IPMI_INTERFACE=eth1" "$TEST_TMP/run-local.log"
net_attach
sleep 1
in_node ip addr add "$IPMI_NODE_ADDR/24" dev eth1
if ! wait_until 30 grep -q "IPMI is answering" "$TEST_TMP/run-local.log"; then
    echo "Bail out! the node did not come up:"
    sed 's/^/#   /' "$TEST_TMP/run-local.log" | tail -20
    exit 1
fi
check "interfaces attached 5 s after the start are picked up" \
    grep -q "VM NIC 0: eth2 <-> qbmc-tap0" "$TEST_TMP/run-local.log"

check "IPMI answers on eth1's address" ipmi_at "$IPMI_NODE_ADDR" mc info
check "ipmi_sim is bound to eth1's address alone" \
    bash -c "ip netns exec $NODE_NS ss -Hulpn | grep ipmi_sim | grep -q ' $IPMI_NODE_ADDR:623 '"
check_fails "no IPMI on the management address" \
    in_peer $PY "$top_srcdir/container/ipmi-ping" "$MGMT_ADDR" 623 2
check_fails "no IPMI on 127.0.0.1 inside the node" \
    in_node $PY "$top_srcdir/container/ipmi-ping" 127.0.0.1 623 2

# Nothing from the node itself on the data link while the VM is off.
in_peer $PY "$FRAMES" recv d2 "" 1 3 >"$TEST_TMP/idle.out" 2>&1
check "the node adds no frame of its own to the data link" grep -qx "frames: done 0" "$TEST_TMP/idle.out"

mac=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["nics"][0]["mac"])' "$RUN/vm-nics.json")
want=$(cd "$top_srcdir/container" && $PY -c 'import qemubmc_net as q; print(q.derived_mac("srv1", "eth2"))')
other=$(cd "$top_srcdir/container" && $PY -c 'import qemubmc_net as q; print(q.derived_mac("srv2", "eth2"))')
check "the NIC's MAC comes from the node's name and eth2 ($mac)" test "$mac" = "$want" -a "$mac" != "$other"

check "power on" ipmi_at "$IPMI_NODE_ADDR" power on
if ! wait_console_count 1 "$BOOT_MARK" 60; then
    echo "Bail out! the guest did not boot"
    console_log | tail -20 | sed 's/^/#   /'
    exit 1
fi
sock=$RUN/console.sock
check "the guest has the MAC" guest_sh "$sock" "cat /sys/class/net/eth0/address" "$mac"
guest_sh "$sock" "killall udhcpc; ip addr add $GUEST_DATA_ADDR/24 dev eth0; ip link set eth0 up; echo net-ready" \
    "net-ready" >/dev/null 2>&1 || true
check "the guest pings the peer through eth2" \
    guest_sh "$sock" "ping -c 3 -W 2 $DATA_PEER_ADDR" "3 packets received" 20
frames_check "$sock" "$mac"
check "power off" ipmi_at "$IPMI_NODE_ADDR" power off
