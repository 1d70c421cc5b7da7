#!/bin/bash
# Secure by default: no IPMI 1.5, secrets in private files, a password
# changed over IPMI takes effect.  Cipher suites, passwords, users and
# privileges are auth-matrix.sh's.
. "$(dirname "$0")/lib.sh"
need ipmitool supervisord ipmi_sim qemu-system-x86_64

guest_ensure
tap_plan 5
IPMI_PASS=right-pass
stack_start IPMI_RO_USER=viewer IPMI_RO_PASS=viewer-pass

# as USER PASS SUITE ARGS...: one lanplus request.
as() {
    local user=$1 pass=$2 suite=$3
    shift 3
    ipmitool -I lanplus -C "$suite" -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" \
        -U "$user" -P "$pass" "$@"
}

check_fails "IPMI 1.5 is off by default" \
    ipmitool -I lan -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" -U admin -P right-pass power status

mode() { stat -c %a "$1"; }
check "lan.conf (holds the password) is private" test "$(mode "$RUN/lan.conf")" = 600
as admin right-pass 3 chassis policy always-on >/dev/null
check "the plugin's state file is private" test "$(mode "$STATE/qemu-bmc.state")" = 600
as admin right-pass 3 user set password 3 viewer-new >/dev/null
check "a password changed over IPMI takes effect" \
    as viewer viewer-new 3 -L USER power status
users=$STATE/ipmi_sim/qemu-bmc/users.mc20
wait_until 5 test -f "$users" || true # ipmi_sim writes it on its next tick
check "the users file ipmi_sim persists is private" test "$(mode "$users")" = 600
