#!/usr/bin/env bash
# build-guest.sh OUTDIR -- build the qemu-bmc demo guest used by the
# integration tests: a Debian 12 cloud kernel plus a busybox initramfs.
#
# Produces OUTDIR/vmlinuz and OUTDIR/initrd.img (gzip'd newc cpio) and keeps
# the downloaded packages in OUTDIR/debs, so a re-run needs no network.
# Nothing is installed on the host: packages are fetched with
# `apt-get download` and unpacked with `dpkg-deb -x` into OUTDIR/work
# (scratch, removed after a successful build).
#
# Console markers printed by the guest (tests grep for them), in this order:
#   qemu-bmc demo guest: kernel <uname -r>
#   QEMU-BMC-GUEST: cmdline <contents of /proc/cmdline>
#   QEMU-BMC-GUEST: boot ok            (acpid is running, prompt follows)
#   QEMU-BMC-GUEST: power button       (ACPI power button -> poweroff -f)
# The shell on /dev/ttyS0 uses the prompt 'guest# '.
set -euo pipefail

die() { echo "build-guest.sh: $*" >&2; exit 1; }

[[ $# -eq 1 && -n $1 ]] || die "usage: build-guest.sh OUTDIR"
self=$(readlink -f "${BASH_SOURCE[0]}")
mkdir -p "$1"
OUTDIR=$(cd "$1" && pwd)
debs=$OUTDIR/debs
work=$OUTDIR/work

# Idempotence: outputs newer than this script mean there is nothing to do.
if [[ $OUTDIR/vmlinuz -nt $self && $OUTDIR/initrd.img -nt $self ]]; then
    exit 0
fi

# Host tools, each with the Debian package that provides it.
need() { command -v "$1" >/dev/null 2>&1 ||
    die "'$1' not found: install the Debian package '$2' (apt-get install $2)"; }
need cpio cpio
need gzip gzip
need dpkg-deb dpkg

# Packages already downloaded by an earlier run (newest version wins).
newest() {
    find "$debs" -maxdepth 1 -name "$1" 2>/dev/null | sort -V | tail -n 1 || true
}
kernel_deb=$(newest 'linux-image-[0-9]*-cloud-amd64_*_amd64.deb')
busybox_deb=$(newest 'busybox-static_*_amd64.deb')

# apt-get download writes into the current directory. As root, apt would try
# to drop to the _apt user, which may not be able to write to OUTDIR.
apt_download() {
    local opts=()
    [[ $(id -u) -eq 0 ]] && opts=(-o APT::Sandbox::User=root)
    (cd "$debs" && apt-get -q download "${opts[@]}" "$@" >/dev/null) ||
        die "'apt-get download $*' failed; has 'apt-get update' been run?"
}

if [[ -z $kernel_deb || -z $busybox_deb ]]; then
    need apt-get apt
    mkdir -p "$debs"
    if [[ -z $kernel_deb ]]; then
        # linux-image-cloud-amd64 is a metapackage; its Depends names the
        # real, versioned image package (linux-image-6.1.0-N-cloud-amd64).
        apt_download linux-image-cloud-amd64
        meta=$(newest 'linux-image-cloud-amd64_*.deb')
        [[ -n $meta ]] || die "no linux-image-cloud-amd64 .deb downloaded; run 'apt-get update'"
        dep=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' |
            sed -n 's/^ *\(linux-image-[0-9][^ ]*\) *(= *\([^)]*\)).*/\1=\2/p' | head -n 1)
        [[ -n $dep ]] || die "cannot find the kernel image in the Depends of $meta"
        apt_download "$dep"
        kernel_deb=$(newest 'linux-image-[0-9]*-cloud-amd64_*_amd64.deb')
    fi
    if [[ -z $busybox_deb ]]; then
        apt_download busybox-static
        busybox_deb=$(newest 'busybox-static_*_amd64.deb')
    fi
    [[ -n $kernel_deb && -n $busybox_deb ]] ||
        die "apt-get download found nothing; has 'apt-get update' been run?"
fi

rm -rf "$work"
mkdir -p "$work/root"
dpkg-deb -x "$kernel_deb" "$work/root"
dpkg-deb -x "$busybox_deb" "$work/root"

kver=$(find "$work/root/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | head -n 1)
[[ -n $kver && -f $work/root/boot/vmlinuz-$kver ]] || die "no kernel found in $kernel_deb"
mods=$work/root/lib/modules/$kver
ird=$work/initramfs
mkdir -p "$ird"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc/acpi/PWRF,var/log,run}
cp "$work/root/bin/busybox" "$ird/bin/busybox"

# --- kernel modules ---------------------------------------------------------
# The .deb ships no modules.dep (depmod runs in its postinst), so
# dependencies come from each module's own "depends=" modinfo field, which is
# what depmod would compute. Built-in drivers (modules.builtin) are skipped.
# The list in /etc/modules.load is in load order: dependencies first.
wanted="button evdev virtio_pci virtio_net virtio_blk"
declare -A seen=()
: >"$ird/etc/modules.load"
add_module() {
    local name=$1 alt=${1//_/-} ko rel dep
    [[ -n ${seen[$name]:-} ]] && return 0
    seen[$name]=1
    if grep -qE "/($name|$alt)\.ko$" "$mods/modules.builtin"; then
        return 0
    fi
    ko=$(find "$mods/kernel" \( -name "$name.ko" -o -name "$alt.ko" \) | head -n 1)
    [[ -n $ko ]] || die "module $name is neither built in nor shipped by $kernel_deb"
    for dep in $(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
        add_module "$dep"
    done
    rel=${ko#"$mods/"}
    mkdir -p "$ird/lib/modules/$kver/$(dirname "$rel")"
    cp "$ko" "$ird/lib/modules/$kver/$rel"
    echo "$rel" >>"$ird/etc/modules.load"
}
for m in $wanted; do add_module "$m"; done

# --- /init ------------------------------------------------------------------
cat >"$ird/init" <<'EOF'
#!/bin/busybox sh
# /init of the qemu-bmc demo guest (generated by tests/guest/build-guest.sh).
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp

# Kernel messages (e.g. an injected NMI) must reach the serial console, and
# an unknown NMI must not panic the guest.
echo 7 >/proc/sys/kernel/printk
for k in unknown_nmi_panic panic_on_unrecovered_nmi panic_on_io_nmi; do
    [ -w /proc/sys/kernel/$k ] && echo 0 >/proc/sys/kernel/$k
done

echo "qemu-bmc demo guest: kernel $(uname -r)"
echo "QEMU-BMC-GUEST: cmdline $(cat /proc/cmdline)"

while read -r m; do
    insmod "/lib/modules/$(uname -r)/$m" ||
        echo "qemu-bmc demo guest: warning: could not load $m"
done </etc/modules.load

# busybox acpid reads the power button from /dev/input/event* (evdev) and,
# with its built-in tables, runs /etc/acpi/PWRF/00000080 on KEY_POWER.
acpid -c /etc/acpi -l /tmp/acpid.log ||
    echo "qemu-bmc demo guest: warning: acpid did not start"

# Networking must not delay the prompt: DHCP runs in the background.
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
    ip link set eth0 up
    udhcpc -i eth0 -s /etc/udhcpc.sh -b -q -t 5 -T 2 >/dev/null 2>&1 &
fi

echo "QEMU-BMC-GUEST: boot ok"

# Interactive shell with job control on the serial port, respawned forever
# (PID 1 must never exit).
export PS1='guest# '
cd /
while :; do
    setsid -c sh -i </dev/ttyS0 >/dev/ttyS0 2>&1
    sleep 1
done
EOF

cat >"$ird/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
# Run by acpid when the ACPI power button is pressed (QMP system_powerdown).
echo "QEMU-BMC-GUEST: power button" >/dev/console
poweroff -f
EOF

cat >"$ird/etc/udhcpc.sh" <<'EOF'
#!/bin/sh
# Minimal udhcpc event script: configure address, route and DNS.
case "$1" in
deconfig) ifconfig "$interface" 0.0.0.0 up ;;
bound|renew)
    ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
    [ -n "$router" ] && route add default gw "${router%% *}" dev "$interface"
    for s in $dns; do echo "nameserver $s"; done >/etc/resolv.conf ;;
esac
exit 0
EOF
chmod 755 "$ird/init" "$ird/etc/acpi/PWRF/00000080" "$ird/etc/udhcpc.sh"

# --- pack -------------------------------------------------------------------
# The kernel needs /dev/console in the initramfs to give /init its stdio.
# Creating a device node needs root, so that one entry is written by hand as
# a second newc archive (the kernel unpacks concatenated archives).
newc_entry() { # NAME MODE(octal) RDEV_MAJOR RDEV_MINOR INODE
    local name=$1 size=$((${#1} + 1))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$5" "$((8#$2))" 0 0 1 0 0 0 0 "$3" "$4" "$size" 0
    printf '%s\0' "$name"
    head -c $(((4 - (110 + size) % 4) % 4)) /dev/zero
}
{
    (cd "$ird" && find . -mindepth 1 | LC_ALL=C sort |
        cpio -o -H newc -R 0:0 --quiet)
    newc_entry dev/console 020600 5 1 900001
    newc_entry TRAILER!!! 0 0 0 0
} | gzip -9n >"$OUTDIR/initrd.img.tmp"

cp "$work/root/boot/vmlinuz-$kver" "$OUTDIR/vmlinuz.tmp"
mv -f "$OUTDIR/vmlinuz.tmp" "$OUTDIR/vmlinuz"
mv -f "$OUTDIR/initrd.img.tmp" "$OUTDIR/initrd.img"
loaded=$(sed 's|.*/||; s|\.ko$||' "$ird/etc/modules.load" | tr '\n' ' ')
rm -rf "$work"
echo "build-guest.sh: built $OUTDIR/{vmlinuz,initrd.img}: kernel $kver, modules: ${loaded% }"
