#!/bin/bash
# rmcp-capture.sh OUT_DIR: record real clients' RMCP/RMCP+ datagrams as fuzz
# seeds (tests/integration/rmcp-seeds/ was made with it).
#
# Starts the stack (IPMI 1.5 with MD5 enabled, so that `ipmitool -I lan`
# logs in), puts tests/integration/rmcp-relay in front of it and runs, through
# the relay: ipmitool -I lanplus -C 3, ipmitool -I lan (IPMI 1.5), FreeIPMI
# ipmipower and ipmi-chassis with -D LAN_2_0, each for `mc info` / power
# status.  One file per client session, one datagram per line ("> HEX" from
# the client, "< HEX" from the BMC).  Not a test: run it by hand when the
# clients or the stack change, and commit the result.
. "$(dirname "$0")/lib.sh"
need ipmitool ipmipower ipmi-chassis ipmi_sim supervisord

out=${1:?usage: rmcp-capture.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stack_start IPMI_1_5=md5

relay_port=$(free_port)

# through NAME CMD...: run CMD against the relay, recording to OUT/NAME.
through() {
    local name=$1
    shift
    rm -f "$out/$name.hex"
    $PY "$HELPERS/rmcp-relay" "$relay_port" "$IPMI_PORT" "$out/$name.hex" \
        >"$TEST_TMP/relay.out" 2>&1 &
    local relay=$!
    BG_PIDS+=("$relay")
    wait_until 10 grep -q ready "$TEST_TMP/relay.out"
    if "$@" >"$TEST_TMP/$name.out" 2>&1; then
        diag "$name: $(grep -c . "$out/$name.hex") datagrams"
    else
        diag "$name: the client failed:"
        sed 's/^/#   /' "$TEST_TMP/$name.out"
    fi
    kill "$relay"
    wait "$relay" 2>/dev/null || true
}

it=(-H 127.0.0.1 -p "$relay_port" -U admin -P "$IPMI_PASS")
fi=(--config-file /dev/null -h "127.0.0.1:$relay_port" -u admin -p "$IPMI_PASS")
through ipmitool-lanplus-mc-info ipmitool -I lanplus -C 3 "${it[@]}" mc info
through ipmitool-lanplus-power ipmitool -I lanplus -C 3 "${it[@]}" chassis power status
through ipmitool-lan-mc-info ipmitool -I lan -A MD5 "${it[@]}" mc info
through ipmitool-lan-power ipmitool -I lan -A MD5 "${it[@]}" chassis power status
through ipmipower-stat ipmipower -D LAN_2_0 -W opensesspriv -I 3 "${fi[@]}" --stat
through ipmi-chassis-status ipmi-chassis -D LAN_2_0 -W opensesspriv -I 3 "${fi[@]}" --get-status
