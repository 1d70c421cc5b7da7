#!/bin/bash
# System Boot Options from the other clients: FreeIPMI (ipmi-chassis-config,
# ipmi-chassis) and pyghmi, each set read back by the same client and by
# ipmitool; one real boot proves an override set with FreeIPMI is applied;
# Get of parameters 0, 3, 4 and of one the BMC does not have.
#
# FreeIPMI 1.6.10's `ipmi-chassis --set-boot-flags --boot-device=...` (a
# hidden, "legacy" option) cannot set a device: it takes every field it was
# given from the BMC's current flags and every other one from memory it never
# initialised (fails "invalid parameters" before sending anything; with all
# fields given, it writes the current device back).  ipmi-config
# (ipmi-chassis-config) is FreeIPMI's way to set them; ipmi-chassis
# --get-boot-flags reads them.
. "$(dirname "$0")/lib.sh"
need ipmitool ipmi-chassis ipmi-chassis-config supervisord supervisorctl ipmi_sim \
    qemu-system-x86_64 xorriso mcopy
need_pyghmi

media_ensure
tap_plan 46
stack_start_media VM_DISK="$TEST_TMP/disk-bios.img" VM_BOOT=disk VM_BOOT_MODE=bios

# FreeIPMI options for this stack: ipmi_sim hashes the session keys with the
# Open Session privilege (-W opensesspriv); the port goes with the host;
# --config-file /dev/null keeps the host's freeipmi.conf out.
fopts=(-D LAN_2_0 -W opensesspriv -I 3 --config-file /dev/null
       -h "127.0.0.1:$IPMI_PORT" -u admin -p "$IPMI_PASS")

# chassis_config_commit KEY=VALUE...: ipmi-chassis-config --commit of keys
# in section Chassis_Boot_Flags.
chassis_config_commit() {
    local kv e=()
    for kv in "$@"; do
        e+=(-e "Chassis_Boot_Flags:$kv")
    done
    ipmi-chassis-config "${fopts[@]}" --commit "${e[@]}"
}
# checkout_is KEY VALUE: --checkout of the section shows KEY with VALUE.
checkout_is() {
    local out
    out=$(ipmi-chassis-config "${fopts[@]}" --checkout -S Chassis_Boot_Flags) || return 1
    echo "$out"
    [ "$(awk -v k="$1" '$1 == k { print $2 }' <<<"$out")" = "$2" ]
}
# chassis_has PATTERN OPTION...: ipmi-chassis succeeds and prints a line
# matching PATTERN (extended regex).
chassis_has() {
    local pattern=$1 out
    shift
    out=$(ipmi-chassis "${fopts[@]}" "$@") || return 1
    echo "$out"
    grep -Eq -- "$pattern" <<<"$out"
}
# param5_is HEX PATTERN...: ipmitool's `chassis bootparam get 5` shows the
# data bytes HEX and a line matching each PATTERN.
param5_is() {
    local out p
    out=$(ipmi chassis bootparam get 5) || return 1
    echo "$out"
    grep -q "^Boot parameter data: $1\$" <<<"$out" || return 1
    shift
    for p in "$@"; do
        grep -q -- "$p" <<<"$out" || return 1
    done
}
# squeezed TEXT: REPLY = TEXT's words joined by single spaces (ipmitool's
# raw answers start with a space and wrap after 16 bytes).
squeezed() {
    local -a w
    read -r -d '' -a w <<<"$1" || true
    REPLY="${w[*]}"
}
# raw_is BYTES ARGS...: `ipmitool raw ARGS` answers exactly BYTES.
raw_is() {
    local want=$1 out
    shift
    out=$(ipmi raw "$@") || return 1
    echo "$out"
    squeezed "$out"
    [ "$REPLY" = "$want" ]
}
# raw_matches REGEX ARGS...: the answer (spaces squeezed) matches REGEX.
raw_matches() {
    local re=$1 out
    shift
    out=$(ipmi raw "$@") || return 1
    echo "$out"
    squeezed "$out"
    [[ $REPLY =~ $re ]]
}
# raw_fails_with CC ARGS...: the request fails with completion code CC.
raw_fails_with() {
    local cc=$1 out
    shift
    if out=$(ipmi raw "$@" 2>&1); then
        echo "succeeded: $out"
        return 1
    fi
    echo "$out"
    grep -q "rsp=$cc)" <<<"$out"
}

# pyghmi get | pyghmi set DEVICE PERSIST UEFI: one call in a fresh process
# (pyghmi shares sessions per process), its result as JSON.
pyghmi() {
    $PY - "$IPMI_PORT" "$IPMI_PASS" "$@" <<'EOF'
import json
import sys

from pyghmi.ipmi import command

port, password, action = int(sys.argv[1]), sys.argv[2], sys.argv[3]
c = command.Command(bmc="127.0.0.1", port=port, userid="admin",
                    password=password)
if action == "get":
    result = c.get_bootdev()
elif action == "set":
    result = c.set_bootdev(sys.argv[4], persist=sys.argv[5] == "persist",
                           uefiboot=sys.argv[6] == "uefi")
else:
    sys.exit("pyghmi: unknown action %s" % action)
print(json.dumps(result, sort_keys=True))
EOF
}
pyghmi_says() {
    local want=$1 out rc=0
    shift
    out=$(pyghmi "$@" 2>&1) || rc=$?
    echo "$out"
    [ "$rc" -eq 0 ] && [ "$out" = "$want" ]
}

# --- FreeIPMI: ipmi-chassis-config ------------------------------------------
# (Nothing has set parameter 3 yet: the 60-second rule applies to these.)
check "ipmi-chassis-config --checkout has Boot_Flags_Persistent" checkout_is Boot_Flags_Persistent No
check "...BIOS_Boot_Type" checkout_is BIOS_Boot_Type PC-COMPATIBLE
check "...Boot_Device" checkout_is Boot_Device NO-OVERRIDE
check "--commit persistent, EFI, PXE" chassis_config_commit \
    Boot_Flags_Persistent=Yes BIOS_Boot_Type=EFI Boot_Device=PXE
check "--checkout: Boot_Flags_Persistent Yes" checkout_is Boot_Flags_Persistent Yes
check "--checkout: BIOS_Boot_Type EFI" checkout_is BIOS_Boot_Type EFI
check "--checkout: Boot_Device PXE" checkout_is Boot_Device PXE
check "ipmitool agrees: valid, all future boots, EFI, PXE" param5_is e004000000 \
    "Boot Flag Valid" "Options apply to all future boots" "BIOS EFI boot" "Force PXE"
check "ipmi-chassis --get-boot-flags: EFI" \
    chassis_has "^BIOS boot type +: Extensible firmware Interface boot" --get-boot-flags
check "ipmi-chassis --get-boot-flags: PXE" \
    chassis_has "^Boot device selector +: Force PXE" --get-boot-flags
check "pyghmi get_bootdev agrees" \
    pyghmi_says '{"bootdev": "network", "persistent": true, "uefimode": true}' get

check "--commit next boot only, PC-compatible, CD-DVD" chassis_config_commit \
    Boot_Flags_Persistent=No BIOS_Boot_Type=PC-COMPATIBLE Boot_Device=CD-DVD
check "--checkout: Boot_Device CD-DVD" checkout_is Boot_Device CD-DVD
check "--checkout: Boot_Flags_Persistent No" checkout_is Boot_Flags_Persistent No
check "ipmi-chassis --get-boot-flags: CD/DVD" \
    chassis_has "^Boot device selector +: Force boot from default CD/DVD" --get-boot-flags
check "ipmi-chassis --get-boot-flags: PC compatible" \
    chassis_has "^BIOS boot type +: PC compatible boot" --get-boot-flags
check "ipmitool agrees: valid, next boot only, legacy, CD/DVD" param5_is 8014000000 \
    "Boot Flag Valid" "Options apply to only next boot" \
    "BIOS PC Compatible (legacy) boot" "Force Boot from CD/DVD"

# --- one real boot: the override FreeIPMI set is applied --------------------
check "power on (within 60 s of the set)" ipmi power on
check "SeaBIOS boots the CD, not the default disk (cdrom)" \
    wait_until 180 booted_from 1 cdrom
check "the override is used up" param5_is 0014000000 "Boot Flag Invalid"
check "pyghmi reads it as no override" \
    pyghmi_says '{"bootdev": "default", "persistent": true}' get

# --- pyghmi ------------------------------------------------------------------
check "pyghmi set_bootdev network, persist, uefiboot" \
    pyghmi_says '{"bootdev": "network"}' set network persist uefi
check "...get_bootdev reads it back" \
    pyghmi_says '{"bootdev": "network", "persistent": true, "uefimode": true}' get
check "...ipmitool agrees" param5_is e004000000 "Options apply to all future boots" \
    "BIOS EFI boot" "Force PXE"
check "...pyghmi set parameter 3 to 08 first (keep past 60 s)" \
    raw_is "01 03 08" 0x00 0x09 0x03 0x00 0x00
check "pyghmi set_bootdev hd" pyghmi_says '{"bootdev": "hd"}' set hd once legacy
check "...get_bootdev: hd, next boot, legacy" \
    pyghmi_says '{"bootdev": "hd", "persistent": false, "uefimode": false}' get
check "...ipmitool agrees" param5_is 8008000000 "Options apply to only next boot" \
    "Force Boot from default Hard-Drive"
check "pyghmi set_bootdev cdrom" pyghmi_says '{"bootdev": "cdrom"}' set cdrom once legacy
check "...get_bootdev: optical (pyghmi's name for it)" \
    pyghmi_says '{"bootdev": "optical", "persistent": false, "uefimode": false}' get
check "...ipmitool agrees" param5_is 8014000000 "Force Boot from CD/DVD"
check "pyghmi set_bootdev setup" pyghmi_says '{"bootdev": "setup"}' set setup once legacy
check "...get_bootdev: setup" \
    pyghmi_says '{"bootdev": "setup", "persistent": false, "uefimode": false}' get
check "...ipmitool agrees" param5_is 8018000000 "Force Boot into BIOS Setup"
check "pyghmi set_bootdev bios, uefiboot (its other name for setup)" \
    pyghmi_says '{"bootdev": "bios"}' set bios once uefi
check "...get_bootdev: setup, UEFI" \
    pyghmi_says '{"bootdev": "setup", "persistent": false, "uefimode": true}' get
check "...ipmitool agrees" param5_is a018000000 "BIOS EFI boot" "Force Boot into BIOS Setup"
check "pyghmi set_bootdev default (clears the override)" \
    pyghmi_says '{"bootdev": "default"}' set default once legacy
check "...get_bootdev: default" pyghmi_says '{"bootdev": "default", "persistent": true}' get
check "...ipmitool agrees: not valid" param5_is 0000000000 "Boot Flag Invalid"

# --- parameters by number ---------------------------------------------------
check "Get parameter 0x20 (not supported) fails with 0x80" \
    raw_fails_with 0x80 0x00 0x09 0x20 0x00 0x00
check "Set parameter 0x20 fails with 0x80 too" raw_fails_with 0x80 0x00 0x08 0x20 0x00
check "Get parameter 0 (set in progress): set complete" \
    raw_is "01 00 00" 0x00 0x09 0x00 0x00 0x00
check "Get parameter 3 (valid bit clearing)" raw_is "01 03 08" 0x00 0x09 0x03 0x00 0x00
check "Get parameter 4 (boot info acknowledge): two data bytes" \
    raw_matches "^01 04 [0-9a-f]{2} [0-9a-f]{2}$" 0x00 0x09 0x04 0x00 0x00
check "the guest is still running from the CD after all those sets" \
    test "$(last_medium)" = cdrom
