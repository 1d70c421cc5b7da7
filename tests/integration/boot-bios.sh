#!/bin/bash
# Boot device override with SeaBIOS, set with ipmitool, applied at the next
# boot whichever way it comes, read from the guest's serial log.
. "$(dirname "$0")/lib.sh"
need ipmitool supervisord ipmi_sim qemu-system-x86_64 xorriso mcopy

media_ensure
tap_plan 23
stack_start_media VM_DISK="$TEST_TMP/disk-bios.img" VM_BOOT=disk VM_BOOT_MODE=bios

param5() { ipmi chassis bootparam get 5; }
param5_has() { param5 | grep -q -- "$1"; }
param5_lacks() { ! param5 | grep -q -- "$1"; }
typed() { "$HELPERS/console-send" "$RUN/console.sock" "$1"; }

check "no override: power on boots the disk (VM_BOOT=disk)" ipmi power on
check "...from the disk" wait_until 90 booted_from 1 disk

check "bootdev cdrom is accepted" ipmi chassis bootdev cdrom
check "bootparam 5 reads back valid" param5_has "Boot Flag Valid"
check "bootparam 5 reads back the CD/DVD" param5_has "Force Boot from CD/DVD"
check "next boot only" param5_has "Options apply to only next boot"
check "power cycle" ipmi power cycle
check "the cycle boots the CD" wait_until 120 booted_from 2 cdrom
check "the override is used up" param5_has "Boot Flag Invalid"
check "power reset" ipmi power reset
check "the boot after falls back to the disk" wait_until 120 booted_from 3 disk

check "bootdev pxe" ipmi chassis bootdev pxe
check "power reset boots the network" ipmi power reset
check "...from the network" wait_until 120 booted_from 4 network

check "bootdev cdrom, then a reboot from inside the guest" ipmi chassis bootdev cdrom
wait_until 30 console_count_at_least 4 "$BOOT_MARK" || true
typed "reboot -f"
check "the guest's own reboot boots the CD" wait_until 120 booted_from 5 cdrom

check "bootdev disk persistent" ipmi chassis bootdev disk options=persistent
check "bootparam 5 says all future boots" param5_has "Options apply to all future boots"
ipmi power off >/dev/null
wait_until 20 qemu_gone || true
ipmi power on >/dev/null
check "power off + on boots the disk" wait_until 120 booted_from 6 disk
ipmi power reset >/dev/null
check "a persistent override stays for the next boot too" wait_until 120 booted_from 7 disk
check "...and stays valid" param5_has "Boot Flag Valid"

check "bootdev bios (firmware setup)" ipmi chassis bootdev bios
ipmi power cycle >/dev/null
check "SeaBIOS stops in its boot menu" \
    wait_until 60 console_count_at_least 1 "Select boot device"
