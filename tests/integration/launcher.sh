#!/bin/bash
# The QEMU launcher's two paths give the same command line: container/
# qemu-launch run at each boot (Python), and qemu-launch --render once per
# node start with tools/qemu-exec at each boot (what supervisord runs).
# QEMU_BINARY=true stands in for QEMU: only the printed line matters here.
. "$(dirname "$0")/lib.sh"

tap_plan 12

RUN=$TEST_TMP/run
STATE=$TEST_TMP/state
mkdir -p "$RUN" "$STATE"
truncate -s 1M "$TEST_TMP/disk.img"
printf 'QFI\373' >"$TEST_TMP/disk.qcow2"
: >"$TEST_TMP/cd.iso"
echo "variable store template" >"$TEST_TMP/vars.fd"

launch_env() {
    env -i PATH="$PATH" QEMU_BINARY=true RUN_DIR="$RUN" STATE_DIR="$STATE" \
        OVMF_VARS="$TEST_TMP/vars.fd" OVMF_CODE=/code.fd ENABLE_KVM=false "$@"
}

# same_line DESC VAR=value...: both paths print the same command line.
same_line() {
    local desc=$1
    shift
    rm -f "$RUN/qemu-argv" "$STATE/OVMF_VARS.fd"
    launch_env "$@" "$top_srcdir/container/qemu-launch" \
        >"$TEST_TMP/py.out" 2>"$TEST_TMP/py.err" || true
    rm -f "$STATE/OVMF_VARS.fd"
    launch_env "$@" "$top_srcdir/container/qemu-launch" --render \
        >"$TEST_TMP/render.out" 2>&1 || true
    launch_env "$@" "$QEMU_BMC_QEMU_EXEC" >"$TEST_TMP/c.out" 2>"$TEST_TMP/c.err" || true
    if grep -q '^qemu-launch: true ' "$TEST_TMP/py.out" &&
        cmp -s "$TEST_TMP/py.out" "$TEST_TMP/c.out"; then
        ok "$desc"
    else
        not_ok "$desc"
        for f in py.out py.err render.out c.out c.err; do
            sed "s/^/#   $f: /" "$TEST_TMP/$f"
        done
    fi
}

media=(VM_DISK="$TEST_TMP/disk.img" VM_CDROM="$TEST_TMP/cd.iso")
same_line "BIOS, disk first, no plan" "${media[@]}"
same_line "UEFI by VM_BOOT_MODE, CD first, VNC" "${media[@]}" VM_BOOT_MODE=uefi \
    VM_BOOT=cdrom VNC_PORT=5901
same_line "kernel, initrd, append and extra args with quotes" VM_KERNEL=/bin/true \
    VM_INITRD=/bin/true VM_APPEND="console=ttyS0 it's" \
    QEMU_EXTRA_ARGS="-foo 'bar baz' -x \$HOME" VM_BOOT=network VM_NET_TFTP="$TEST_TMP" \
    VM_NET_BOOTFILE=pxe.0 VM_NET_BOOTFILE_EFI=boot.efi
same_line "qcow2 disk" VM_DISK="$TEST_TMP/disk.qcow2"

printf '[chassis]\nlast-power-on=true\n\n[next-boot]\norder=net0,cd0,disk0\nfirmware=uefi\nsetup=true\n' \
    >"$STATE/qemu-bmc.state"
same_line "the BMC's plan: network first, UEFI, setup" "${media[@]}" \
    VM_NET_TFTP="$TEST_TMP" VM_NET_BOOTFILE=pxe.0 VM_NET_BOOTFILE_EFI=boot.efi
check "qemu-exec made the UEFI variable store from the template" \
    cmp "$TEST_TMP/vars.fd" "$STATE/OVMF_VARS.fd"
check "the variable store is private (0600)" \
    test "$(stat -c %a "$STATE/OVMF_VARS.fd")" = 600
check "the rendered template is private (0600)" \
    test "$(stat -c %a "$RUN/qemu-argv")" = 600

echo '{"nics":[{"tap":"qbmc-tap0","mac":"52:54:00:00:00:01"},{"tap":"qbmc-tap1","mac":"52:54:00:00:00:02"}]}' \
    >"$RUN/vm-nics.json"
printf '[next-boot]\norder=cd0,net0,disk0\nfirmware=bios\nsetup=false\n' >"$STATE/qemu-bmc.state"
same_line "NICs passed through by netsetup, CD first" "${media[@]}"
rm -f "$RUN/vm-nics.json"

printf 'garbage\n' >"$STATE/qemu-bmc.state"
same_line "an unreadable state file: the defaults" "${media[@]}"
check "qemu-exec warns about it, in one line" \
    test "$(grep -c '^qemu-exec: warning: boot plan unreadable' "$TEST_TMP/c.err")" = 1
rm -f "$STATE/qemu-bmc.state"

rc=0
launch_env "${media[@]}" VM_CPUS=0 "$top_srcdir/container/qemu-launch" --render \
    >"$TEST_TMP/bad.out" 2>&1 || rc=$?
if [ "$rc" = 2 ] && [ "$(wc -l <"$TEST_TMP/bad.out")" = 1 ] &&
    grep -q '^qemu-launch: VM_CPUS=' "$TEST_TMP/bad.out"; then
    ok "--render with a bad variable: one line, exit 2"
else
    not_ok "--render with a bad variable: one line, exit 2 (exit $rc)"
    sed 's/^/#   /' "$TEST_TMP/bad.out"
fi
