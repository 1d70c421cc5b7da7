# shellcheck shell=bash
# net-lib.sh - a containerlab node emulated with network namespaces, for
# the NIC passthrough and IPMI interface tests.  Sourced after lib.sh.
#
#   NODE_NS  the node's namespace (the container's, or run-local's); it
#            starts with eth0 alone, as containerlab's management link
#   PEER_NS  the other ends: m0 (management), i1 (the IPMI network) and d2
#            (the data link), where the tests run ipmitool and send frames
#
# Addresses are documentation ranges inside namespaces made here (RFC 5737):
#   management  node eth0 192.0.2.11/24      peer m0 192.0.2.1/24
#   IPMI        node eth1 198.51.100.11/24   peer i1 198.51.100.1/24
#   data        node eth2 (the VM's NIC)     peer d2 203.0.113.1/24,
#                                            the guest 203.0.113.11/24
# The namespaces are removed on exit, after lib.sh's cleanup.

NODE_NS=qbmc-$$-node
PEER_NS=qbmc-$$-peer
MGMT_ADDR=192.0.2.11
IPMI_NODE_ADDR=198.51.100.11
IPMI_PEER_ADDR=198.51.100.1
DATA_PEER_ADDR=203.0.113.1
GUEST_DATA_ADDR=203.0.113.11
PEER_MAC=02:00:5e:10:00:01
FRAMES=$HELPERS/frames

net_cleanup() {
    local ns
    for ns in "$NODE_NS" "$PEER_NS"; do
        ip netns del "$ns" 2>/dev/null || true
    done
}
# lib.sh's cleanup (stop the stack, keep or remove TEST_TMP) first, so that
# nothing of ours still runs in the namespaces when they go.
trap 'rc=$?; (exit $rc); cleanup; net_cleanup' EXIT

in_node() { ip netns exec "$NODE_NS" "$@"; }
in_peer() { ip netns exec "$PEER_NS" "$@"; }

# net_setup: both namespaces and the management link.
net_setup() {
    ip netns add "$NODE_NS"
    ip netns add "$PEER_NS"
    in_node ip link set lo up
    in_peer ip link set lo up
    ip link add eth0 netns "$NODE_NS" type veth peer name m0 netns "$PEER_NS"
    in_node ip addr add "$MGMT_ADDR/24" dev eth0
    in_node ip link set eth0 up
    in_peer ip addr add 192.0.2.1/24 dev m0
    in_peer ip link set m0 up
}

# net_attach: what containerlab does after the node started: eth1 and
# eth2, up, with no address (the IPMI address comes from the node's
# IPMI_INTERFACE_ADDR or, with ADDR=1, from here, like a containerlab exec).
net_attach() {
    ip link add eth1 netns "$NODE_NS" type veth peer name i1 netns "$PEER_NS"
    ip link add eth2 netns "$NODE_NS" type veth peer name d2 netns "$PEER_NS"
    in_node ip link set eth1 up
    in_node ip link set eth2 up
    in_peer ip addr add "$IPMI_PEER_ADDR/24" dev i1
    in_peer ip link set i1 up
    in_peer ip link set d2 address "$PEER_MAC"
    in_peer ip addr add "$DATA_PEER_ADDR/24" dev d2
    in_peer ip link set d2 up
    if [ "${1:-}" = ADDR=1 ]; then
        in_node ip addr add "$IPMI_NODE_ADDR/24" dev eth1
    fi
}

# net_guest_initrd: the demo guest's initramfs plus pktdump (a second
# archive, which the kernel unpacks after the first), in TEST_TMP.
net_guest_initrd() {
    local d=$TEST_TMP/initrd-extra
    mkdir -p "$d/bin"
    gcc -static -Os -D_GNU_SOURCE -o "$d/bin/pktdump" "$HELPERS/pktdump.c"
    strip "$d/bin/pktdump"
    (cd "$d" && echo bin/pktdump | cpio -o -H newc -R 0:0 --quiet | gzip -1) \
        >"$TEST_TMP/extra.cpio.gz"
    cat "$guest_dir/initrd.img" "$TEST_TMP/extra.cpio.gz" >"$TEST_TMP/initrd-net.img"
}

# ipmi_at ADDR [ipmitool args]: IPMI from the peer, to one address.
ipmi_at() {
    local addr=$1
    shift
    in_peer ipmitool -I lanplus -C 3 -N 1 -R 1 -H "$addr" -p 623 \
        -U admin -P "$IPMI_PASS" "$@"
}

# guest_sh CONSOLE_SOCK COMMAND EXPECT [SECONDS]: type a command on the
# guest's console; pass when EXPECT shows up.
guest_sh() {
    $PY "$HELPERS/console-send" "$1" "$2" "$3" "${4:-15}"
}

# console_mark, then console_tail: the console log written since the mark.
CONSOLE_MARK=0
console_mark() { CONSOLE_MARK=$(console_log | wc -c); }
console_tail() { console_log | tail -c +$((CONSOLE_MARK + 1)) | tr -d '\r'; }
console_has() { grep -aq -- "$1" <<<"$(console_tail)"; }

# frames_check CONSOLE_SOCK GUEST_MAC: LLDP, LACP and a VLAN-tagged frame
# sent by the peer reach the guest byte for byte (three TAP lines); an LLDP
# frame sent by the guest reaches the peer byte for byte (one).
frames_check() {
    local sock=$1 guest_mac=$2 kinds=(lldp lacp vlan) sent=() kind i
    for kind in "${kinds[@]}"; do
        sent+=("$($PY "$FRAMES" make "$kind" "$PEER_MAC" "QBMC-FRAME-$kind")")
    done
    console_mark
    if ! guest_sh "$sock" "pktdump eth0 QBMC-FRAME 3 20" "pktdump: ready" 15 \
        >"$TEST_TMP/last.out" 2>&1; then
        sed 's/^/#   /' "$TEST_TMP/last.out"
    fi
    in_peer $PY "$FRAMES" send d2 "${sent[@]}"
    wait_until 25 console_has "pktdump: done" || true
    for i in 0 1 2; do
        if grep -aqx "FRAME ${sent[$i]}" <<<"$(console_tail)"; then
            ok "peer -> guest: ${kinds[$i]} frame arrives unchanged"
        else
            not_ok "peer -> guest: ${kinds[$i]} frame arrives unchanged"
            echo "#   sent FRAME ${sent[$i]}"
            console_tail | grep -a "FRAME\|pktdump" | sed 's/^/#   got /' | tail -5
        fi
    done

    local back rpid
    back=$($PY "$FRAMES" make lldp "$guest_mac" QBMC-FRAME-back)
    in_peer $PY "$FRAMES" recv d2 QBMC-FRAME-back 1 15 >"$TEST_TMP/peer.out" 2>&1 &
    rpid=$!
    BG_PIDS+=("$rpid")
    wait_until 5 grep -q "frames: ready" "$TEST_TMP/peer.out" || true
    guest_sh "$sock" "pktdump -s eth0 $back" "pktdump: sent" 10 >/dev/null 2>&1 || true
    wait "$rpid" || true
    if grep -qx "FRAME $back" "$TEST_TMP/peer.out"; then
        ok "guest -> peer: lldp frame arrives unchanged"
    else
        not_ok "guest -> peer: lldp frame arrives unchanged"
        sed 's/^/#   /' "$TEST_TMP/peer.out"
    fi
}
