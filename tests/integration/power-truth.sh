#!/bin/bash
# Power status tells the truth whoever changes QEMU, and the BMC keeps
# answering while its peers are frozen or gone.
. "$(dirname "$0")/lib.sh"
need ipmitool supervisord supervisorctl ipmi_sim qemu-system-x86_64

guest_ensure
tap_plan 20
stack_start

sup() { supervisorctl -c "$RUN/supervisord.conf" "$@"; }

# One request with a 1 s timeout and no retry: an answer, not silence.
answers() {
    ipmitool -I lanplus -C 3 -N 1 -R 1 -H 127.0.0.1 -p "$IPMI_PORT" \
        -U admin -P "$IPMI_PASS" "$@"
}

boot_guest() {
    ipmi power on >/dev/null
    wait_until 20 qemu_is running
}

# --- the guest powers itself off -------------------------------------------
boot_guest
check "guest boots" wait_console_count 1 "$BOOT_MARK" 90
"$HELPERS/console-send" "$RUN/console.sock" "poweroff -f" || true
check "guest poweroff ends QEMU" wait_until 20 qemu_gone
check "power status follows a guest poweroff" wait_until 2 power_is off

# --- QEMU killed with SIGKILL ----------------------------------------------
boot_guest
pid=$(qemu_pid)
kill -KILL "$pid"
check "power status follows a SIGKILL of QEMU" wait_until 2 power_is off
check "a killed QEMU is not restarted" sh -c "sleep 2; [ -z \"\$(supervisorctl -c $RUN/supervisord.conf pid qemu | grep -v '^0$')\" ]"

# --- supervisorctl behind the BMC's back -----------------------------------
check "supervisorctl start qemu" sup start qemu
check "power status follows supervisorctl start" wait_until 2 power_is on
check "QEMU started by supervisorctl runs" wait_until 20 qemu_is running
check "supervisorctl stop qemu" sup stop qemu
check "power status follows supervisorctl stop" wait_until 2 power_is off

# --- a paused QEMU is on ---------------------------------------------------
boot_guest
qmp stop >/dev/null
check "QEMU is paused" qemu_is paused
check "a paused QEMU reads as on" power_is on
qmp cont >/dev/null

# --- QEMU frozen with SIGSTOP ----------------------------------------------
pid=$(qemu_pid)
kill -STOP "$pid"
check "with QEMU frozen, power status is answered" answers power status
check "with QEMU frozen, chassis status is answered" answers chassis status
check "with QEMU frozen, a reset is answered" answers power reset
check "with QEMU frozen, power off is answered" answers power off
# supervisord sends SIGTERM, then SIGKILL after stopwaitsecs (5 s).
check "a frozen QEMU is powered off all the same" wait_until 20 qemu_gone
check "power status reads off after the frozen QEMU is gone" wait_until 2 power_is off

# --- supervisord frozen ----------------------------------------------------
sup_pid=$(cat "$RUN/supervisord.pid")
kill -STOP "$sup_pid"
check "with supervisord frozen, power on is answered" answers power on
kill -CONT "$sup_pid"
check "the queued power on happens once supervisord is back" wait_until 30 qemu_is running
