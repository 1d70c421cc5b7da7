#!/bin/bash
# Serial over LAN with FreeIPMI's ipmiconsole (-W opensesspriv,solpayloadsize:
# it asks Get Channel Payload Support about channel 0x0E, which crashes
# stock ipmi_sim and is answered by the plugin): output and typing work, the
# session lives across a power cycle, &. leaves, ipmi_sim does not crash.
. "$(dirname "$0")/lib.sh"
. "$HELPERS/sol-lib.sh"
need ipmitool ipmiconsole supervisord supervisorctl ipmi_sim qemu-system-x86_64

guest_ensure
tap_plan 9

# ipmiconsole 1.6.10 takes no port above 32767 ("hostname invalid"), and
# free ports from the kernel are above that: pick one below, free for UDP
# (IPMI) and TCP (SOL_PORT defaults to the same number).
low_port() {
    $PY -c '
import random, socket
for _ in range(200):
    p = random.randint(20000, 32767)
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            s.bind(("127.0.0.1", p))
            s.close()
    except OSError:
        continue
    print(p)
    break
'
}
port=$(low_port)
stack_start IPMI_PORT="$port"
IPMI_PORT=$port

console_cmd() {
    echo ipmiconsole -h "127.0.0.1:$IPMI_PORT" -u admin -p "$IPMI_PASS" -I 3 \
        -W opensesspriv,solpayloadsize
}

ipmi power on >/dev/null
check "the guest boots" wait_console_count 1 "$BOOT_MARK" 120
sim=$(ipmi_sim_pid)

term_start c1 $(console_cmd)
check "ipmiconsole establishes SOL" term_wait c1 1 "SOL established" 30
term_type c1 $'\r'
sleep 1
term_type c1 $'echo $((6*7))\r'
check "typing echo \$((6*7)) prints 42" term_wait c1 1 "$ANSWER" 30

ipmi power cycle >/dev/null
check "power cycle: the new boot's banner arrives in the same session" \
    term_wait c1 1 "$BOOT_MARK" 120
term_wait c1 1 "guest# " 60 || true
term_type c1 $'echo $((6*7))\r'
check "typing works after the cycle" term_wait c1 2 "$ANSWER" 30

term_type c1 $'\r&.'
check "&. ends ipmiconsole" wait_until 15 term_ended c1
check "... with status 0" grep -qx 0 "$TEST_TMP/c1.out.status"

check "ipmi_sim did not crash" sh -c "[ \"\$(supervisorctl -c '$RUN/supervisord.conf' pid ipmi_sim)\" = '$sim' ]"
check "IPMI still answers" ipmi power status
