#!/bin/bash
# Secure by default: only cipher suites with confidentiality, no IPMI 1.5,
# no anonymous login, privileges enforced, secrets in private files.
. "$(dirname "$0")/lib.sh"
need ipmitool supervisord ipmi_sim qemu-system-x86_64

guest_ensure
tap_plan 24
IPMI_PASS=right-pass
stack_start IPMI_RO_USER=viewer IPMI_RO_PASS=viewer-pass

# as USER PASS SUITE ARGS...: one lanplus request.
as() {
    local user=$1 pass=$2 suite=$3
    shift 3
    ipmitool -I lanplus -C "$suite" -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" \
        -U "$user" -P "$pass" "$@"
}

check_fails "cipher suite 0 with a wrong password is refused" \
    as admin wrong 0 power status
check_fails "cipher suite 0 is refused even with the right password" \
    as admin right-pass 0 power status
for suite in 1 2 6 7 11; do
    check_fails "cipher suite $suite (no confidentiality) is refused" \
        as admin right-pass "$suite" power status
done
# 8 and 12 are opt-in (see plugin/bmc-config.c).
for suite in 8 12; do
    check_fails "cipher suite $suite is not offered by default" \
        as admin right-pass "$suite" power status
done
check "cipher suite 3 with the right password works" \
    as admin right-pass 3 power status
for suite in 3 8 12; do
    check_fails "cipher suite $suite with a wrong password is refused" \
        as admin wrong-pass "$suite" power status
done
check_fails "an empty password is refused" as admin "" 3 power status
check_fails "an unknown user is refused" as nobody right-pass 3 power status
check_fails "anonymous (empty user name) is refused" as "" "" 3 power status
check_fails "IPMI 1.5 is off by default" \
    ipmitool -I lan -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" -U admin -P right-pass power status

check "a USER-privilege account can read power status" \
    as viewer viewer-pass 3 -L USER power status
check_fails "a USER-privilege account cannot power on" \
    as viewer viewer-pass 3 -L USER power on
check "...and QEMU was not started" qemu_gone

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
