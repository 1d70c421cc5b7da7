#!/bin/bash
# Boot device override with OVMF (VM_BOOT_MODE=uefi): Ironic's exact byte
# sequence, persistent against next-boot-only flags, a reboot from inside the
# guest, a switch to SeaBIOS and back (a new QEMU each time), and OVMF's
# setup.  Each boot is read from the guest's serial log (qbmc_medium=...);
# a reset or a cycle from QEMU's PID.
#
# IPMI semantics checked (IPMI 2.0 28.12, table 28-14, parameter 5): a Set
# of the boot flags replaces the previous flags as a whole, so a
# "next boot only" override set over a persistent one leaves nothing to
# return to once it is used: the boot after it is the VM's default.
. "$(dirname "$0")/lib.sh"
need ipmitool supervisord supervisorctl ipmi_sim qemu-system-x86_64 xorriso mcopy
OVMF_CODE=${OVMF_CODE:-/usr/share/OVMF/OVMF_CODE_4M.fd}
if [ ! -r "$OVMF_CODE" ]; then
    if [ "${CI:-}" = true ]; then
        echo "Bail out! $OVMF_CODE is missing (the ovmf package)"
        exit 1
    fi
    echo "1..0 # SKIP $OVMF_CODE is missing (the ovmf package)"
    exit 77
fi

# OVMF under TCG takes 11 to 20 s to boot here (up to 50 s seen on a loaded
# machine); a network boot that fails falls back after about 90 s.
BOOT_WAIT=180

media_ensure
tap_plan 51
stack_start_media VM_DISK="$TEST_TMP/disk-efi.img" VM_BOOT=disk VM_BOOT_MODE=uefi

# ipmitool's reading of parameter 5, captured whole (no early-exit pipe).
param5_has() {
    local out
    out=$(ipmi chassis bootparam get 5) || return 1
    echo "$out"
    grep -q -- "$1" <<<"$out"
}
# squeezed TEXT: REPLY = TEXT's words joined by single spaces (ipmitool's
# raw answers start with a space and wrap after 16 bytes).
squeezed() {
    local -a w
    read -r -d '' -a w <<<"$1" || true
    REPLY="${w[*]}"
}
# raw_is "01 03 08" BYTES...: a raw request answers exactly these bytes.
raw_is() {
    local want=$1 out
    shift
    out=$(ipmi raw "$@") || return 1
    echo "$out"
    squeezed "$out"
    [ "$REPLY" = "$want" ]
}
typed() { $PY "$HELPERS/console-send" "$RUN/console.sock" "$1"; }
# new_qemu OLD_PID: a live QEMU with another PID.
new_qemu() {
    local p
    p=$(qemu_pid)
    [ -n "$p" ] && [ "$p" != "$1" ]
}
# The QEMU command line the launcher printed last (into supervisord's log
# of the program, which may lag the process by a moment).
last_launch() { grep -a '^qemu-launch: ' "$RUN/qemu.log" | tail -n1; }
launched_with() {
    local l
    l=$(last_launch)
    [[ $l == *"$1"* ]]
}
launched_without() {
    local l
    l=$(last_launch)
    [ -n "$l" ] && [[ $l != *"$1"* ]]
}
# The guest's last word is its "boot ok" (a shell follows).  Not a count of
# them: a boot cut short by a power off may not have printed its own.
guest_up() {
    local l
    l=$(console_log | grep -a "QEMU-BMC-GUEST: " | tail -n1)
    [[ $l == *"$BOOT_MARK"* ]]
}
ironic_persistent_pxe() { ipmi raw 0x00 0x08 0x05 0xe0 0x04 0x00 0x00 0x00; }

# --- no override ---------------------------------------------------------
check "no override: power on" ipmi power on
check "OVMF boots the disk's EFI loader (disk-efi, VM_BOOT=disk)" \
    wait_until $BOOT_WAIT booted_from 1 disk-efi
check "the launcher ran OVMF" wait_until 10 launched_with "$(basename "$OVMF_CODE")"

# --- Ironic's UEFI sequence, set while the machine is off ------------------
check "power off" ipmi power off
check "...QEMU ends" wait_until 30 qemu_gone
check "Ironic: parameter 3 = 0x08 (keep the valid bit past 60 s)" \
    ipmi raw 0x00 0x08 0x03 0x08
check "Ironic: parameter 5 = e0 04 00 00 00 (valid, persistent, EFI, PXE)" \
    ironic_persistent_pxe
check "parameter 3 reads back 08" raw_is "01 03 08" 0x00 0x09 0x03 0x00 0x00
check "parameter 5 reads back the same bytes" \
    raw_is "01 05 e0 04 00 00 00" 0x00 0x09 0x05 0x00 0x00
check "bootparam get 5 says BIOS EFI boot" param5_has "BIOS EFI boot"
check "...all future boots" param5_has "Options apply to all future boots"
check "...Force PXE" param5_has "Boot Device Selector : Force PXE"
check "power on" ipmi power on
check "OVMF boots the network through iPXE (network-efi)" \
    wait_until $BOOT_WAIT booted_from 2 network-efi
pid=$(qemu_pid)
check "power reset" ipmi power reset
check "the persistent override boots the network again (network-efi)" \
    wait_until $BOOT_WAIT booted_from 3 network-efi
check "...in the same QEMU process (a reset, not a cycle)" test "$(qemu_pid)" = "$pid"
check "...and the override stays valid" param5_has "Boot Flag Valid"

# --- a reboot from inside the guest ---------------------------------------
check "bootdev disk options=efiboot" ipmi chassis bootdev disk options=efiboot
check "...reads back next boot only, EFI, disk (a0 08)" \
    raw_is "01 05 a0 08 00 00 00" 0x00 0x09 0x05 0x00 0x00
check "the guest is up at its shell" wait_until 60 guest_up
typed "reboot -f"
check "the guest's own reboot boots the disk (disk-efi), not the network" \
    wait_until $BOOT_WAIT booted_from 4 disk-efi
check "...in the same QEMU process" test "$(qemu_pid)" = "$pid"
check "...and uses the override up" param5_has "Boot Flag Invalid"

# --- next boot only over a persistent override ------------------------------
check "Ironic's persistent PXE again" ironic_persistent_pxe
check "raw a0 14 (valid, next boot only, EFI, CD) replaces it" \
    ipmi raw 0x00 0x08 0x05 0xa0 0x14 0x00 0x00 0x00
check "...bootparam get 5: next boot only" param5_has "Options apply to only next boot"
check "...Force Boot from CD/DVD" param5_has "Force Boot from CD/DVD"
check "power reset" ipmi power reset
check "OVMF boots the CD's EFI image (cdrom-efi)" \
    wait_until $BOOT_WAIT booted_from 5 cdrom-efi
check "the next-boot override is used up" param5_has "Boot Flag Invalid"
check "power reset" ipmi power reset
check "the boot after it is the default disk-efi (the persistent PXE was replaced)" \
    wait_until $BOOT_WAIT booted_from 6 disk-efi
check "all of it in one QEMU process" test "$(qemu_pid)" = "$pid"

# --- firmware switch: a legacy override on a UEFI VM ------------------------
check "bootdev cdrom without efiboot" ipmi chassis bootdev cdrom
check "...bootparam get 5 says legacy boot" \
    param5_has "BIOS PC Compatible (legacy) boot"
check "power reset" ipmi power reset
check "the BMC turns the reset into a cycle: a new QEMU process" \
    wait_until 60 new_qemu "$pid"
check "...started with SeaBIOS (no OVMF, machine pc)" \
    wait_until 10 launched_without "$(basename "$OVMF_CODE")"
check "SeaBIOS boots the CD's isolinux (cdrom)" \
    wait_until $BOOT_WAIT booted_from 7 cdrom
pid=$(qemu_pid)
check "power reset, no override" ipmi power reset
check "back to the VM's own firmware: another new QEMU process" \
    wait_until 60 new_qemu "$pid"
check "...started with OVMF" wait_until 10 launched_with "$(basename "$OVMF_CODE")"
check "...which boots the default disk-efi" \
    wait_until $BOOT_WAIT booted_from 8 disk-efi

# --- OVMF's setup ----------------------------------------------------------------
check "bootdev bios options=efiboot" ipmi chassis bootdev bios options=efiboot
check "...Force Boot into BIOS Setup" param5_has "Force Boot into BIOS Setup"
pid=$(qemu_pid)
check "power cycle" ipmi power cycle
check "a new QEMU process" wait_until 60 new_qemu "$pid"
setup_qemu_at=$SECONDS
check "...with the firmware's boot menu wait" \
    wait_until 10 launched_with "menu=on,splash-time=10000"
check "OVMF's setup (UiApp) is on the serial console" \
    wait_until $BOOT_WAIT console_count_at_least 1 "Boot Maintenance Manager"
# The BMC presses ESC for 20 s after QEMU comes up: setup must survive that
# (5 s more, for the presses still on their way).
stays_in_setup() {
    local left=$((setup_qemu_at + 25 - SECONDS))
    [ "$left" -le 0 ] || sleep "$left"
    [ "$(boots)" -eq 8 ]
}
check "...and stays there past the BMC's ESC presses: no medium boots" stays_in_setup
