#!/usr/bin/env bash
# build-media.sh GUESTDIR OUTDIR -- build the boot media used by the qemu-bmc
# boot-device tests, all booting the demo guest of build-guest.sh
# (GUESTDIR/vmlinuz + GUESTDIR/initrd.img) with a per-medium kernel command
# line "console=ttyS0,115200 panic=-1 qbmc_medium=NAME qbmc_loader=LOADER".
# The guest echoes it as "QEMU-BMC-GUEST: cmdline ...", so the serial log
# tells which medium booted; each boot loader also prints
# "QEMU-BMC-MEDIUM: NAME" before it loads the kernel.
#
# Outputs (in OUTDIR):
#   disk-bios.img  raw disk: MBR (syslinux mbr.bin) + active FAT partition
#                  with syslinux                   -> qbmc_medium=disk
#   disk-efi.img   raw disk: MBR + EFI System Partition (type 0xef) with
#                  GRUB as EFI/BOOT/BOOTX64.EFI    -> qbmc_medium=disk-efi
#                  (SeaBIOS: "Missing operating system.", then next device)
#   cdrom.iso      El Torito ISO, not hybrid: isolinux -> qbmc_medium=cdrom
#                  under SeaBIOS, and an EFI image with GRUB
#                  -> qbmc_medium=cdrom-efi under OVMF
#   tftp/          root for QEMU user networking's tftp= option:
#     boot.ipxe      iPXE script, for the virtio-net NIC's iPXE ROM under
#                    both firmwares -> qbmc_medium=network (SeaBIOS) or
#                    qbmc_medium=network-efi (OVMF), qbmc_loader=ipxe
#     pxelinux.0     pxelinux (SeaBIOS only), with ldlinux.c32 and
#                    pxelinux.cfg/default -> qbmc_medium=network
#     grubnetx64.efi GRUB (OVMF only; also works with romfile= , i.e. with
#                    OVMF's own PXE client) -> qbmc_medium=network-efi
#     vmlinuz, initrd.img
# Every GRUB image is standalone: its grub.cfg is in an embedded memdisk.
#
# QEMU (TCG, -nodefaults -display none, serial on COM1):
#   SeaBIOS: add -fw_cfg name=etc/sercon-port,file=F (F holds the bytes f8 03)
#     or firmware and boot loader text never reaches the serial port.
#   OVMF: -drive if=pflash,format=raw,readonly=on,file=OVMF_CODE_4M.fd
#     -drive if=pflash,format=raw,file=COPY-OF-OVMF_VARS_4M.fd; -M pc or q35.
#   disk:  -drive if=none,id=d0,file=disk-bios.img|disk-efi.img,format=raw
#          -device virtio-blk-pci,drive=d0,bootindex=N
#   CD:    -drive if=none,id=cd0,media=cdrom,file=cdrom.iso,readonly=on
#          -device ide-cd,drive=cd0,bootindex=N
#   net:   -netdev user,id=n0,tftp=OUTDIR/tftp,bootfile=boot.ipxe
#          -device virtio-net-pci,netdev=n0,bootindex=N
#   The lowest bootindex boots first on both firmwares; a device that fails
#   falls through to the next one.
# Serial markers: "QEMU-BMC-MEDIUM: NAME" (boot loader; SeaBIOS's copy of
# the BIOS console may insert ESC[row;colH sequences into it, so strip
# them first) and "QEMU-BMC-GUEST: cmdline ... qbmc_medium=NAME ..." (guest).
#
# Boot loaders come from Debian packages (syslinux, syslinux-common, isolinux,
# pxelinux, grub-efi-amd64-bin, grub-common) fetched with `apt-get download`
# into OUTDIR/debs and unpacked with `dpkg-deb -x`; the unpacked syslinux
# installer and grub-mkimage are run from there. Host tools needed: mtools,
# xorriso, tar, dpkg (and apt to download). No root, no loop mounts.
# Scratch space is OUTDIR/media-work, removed after a successful build.
# Re-running is a no-op while every output is newer than this script and the
# guest files. Not safe to run twice at once on the same OUTDIR (use flock).
set -euo pipefail

die() { echo "build-media.sh: $*" >&2; exit 1; }

[[ $# -eq 2 && -n $1 && -n $2 ]] || die "usage: build-media.sh GUESTDIR OUTDIR"
self=$(readlink -f "${BASH_SOURCE[0]}")
[[ -d $1 ]] || die "GUESTDIR $1 is not a directory"
GUESTDIR=$(cd "$1" && pwd)
kernel=$GUESTDIR/vmlinuz
initrd=$GUESTDIR/initrd.img
[[ -f $kernel && -f $initrd ]] ||
    die "no $kernel or $initrd: run tests/guest/build-guest.sh $GUESTDIR first"
mkdir -p "$2"
OUTDIR=$(cd "$2" && pwd)
debs=$OUTDIR/debs
work=$OUTDIR/media-work

outputs=(disk-bios.img disk-efi.img cdrom.iso tftp/vmlinuz tftp/initrd.img
    tftp/boot.ipxe tftp/pxelinux.0 tftp/ldlinux.c32 tftp/pxelinux.cfg/default
    tftp/grubnetx64.efi)
uptodate=1
for o in "${outputs[@]}"; do
    if ! [[ $OUTDIR/$o -nt $self && $OUTDIR/$o -nt $kernel && $OUTDIR/$o -nt $initrd ]]; then
        uptodate=0
        break
    fi
done
[[ $uptodate -eq 1 ]] && exit 0

# Host tools, each with the Debian package that provides it.
need() { command -v "$1" >/dev/null 2>&1 ||
    die "'$1' not found: install the Debian package '$2' (apt-get install $2)"; }
need mformat mtools
need mcopy mtools
need mmd mtools
need mattrib mtools # run by the syslinux installer, with mcopy and mmove
need mmove mtools
need xorriso xorriso
need tar tar
need dpkg-deb dpkg

# Packages already downloaded by an earlier run (newest version wins).
newest() {
    find "$debs" -maxdepth 1 -name "$1" 2>/dev/null | sort -V | tail -n 1 || true
}
apt_download() {
    local opts=()
    [[ $(id -u) -eq 0 ]] && opts=(-o APT::Sandbox::User=root)
    (cd "$debs" && apt-get -q download "${opts[@]}" "$@" >/dev/null) ||
        die "'apt-get download $*' failed; has 'apt-get update' been run?"
}
pkgs=(syslinux syslinux-common isolinux pxelinux grub-efi-amd64-bin grub-common)
missing=()
for p in "${pkgs[@]}"; do
    [[ -n $(newest "${p}_*.deb") ]] || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    need apt-get apt
    mkdir -p "$debs"
    apt_download "${missing[@]}"
fi

rm -rf "$work"
mkdir -p "$work/root" "$work/media"
for p in "${pkgs[@]}"; do
    deb=$(newest "${p}_*.deb")
    [[ -n $deb ]] || die "no $p .deb in $debs; has 'apt-get update' been run?"
    dpkg-deb -x "$deb" "$work/root"
done
R=$work/root
syslinux_bin=$R/usr/bin/syslinux
mbr_bin=$R/usr/lib/SYSLINUX/mbr.bin
ldlinux_c32=$R/usr/lib/syslinux/modules/bios/ldlinux.c32
isolinux_bin=$R/usr/lib/ISOLINUX/isolinux.bin
pxelinux_0=$R/usr/lib/PXELINUX/pxelinux.0
grub_mkimage=$R/usr/bin/grub-mkimage
grub_dir=$R/usr/lib/grub/x86_64-efi
for f in "$syslinux_bin" "$mbr_bin" "$ldlinux_c32" "$isolinux_bin" "$pxelinux_0" \
    "$grub_mkimage" "$grub_dir/moddep.lst"; do
    [[ -e $f ]] || die "${f#"$R"} not found in the unpacked packages"
done
# The unpacked binaries use the host's shared libraries.
for b in "$syslinux_bin" "$grub_mkimage"; do
    if ! "$b" --version >/dev/null 2>&1 && ! "$b" --help >/dev/null 2>&1; then
        lib=$(ldd "$b" 2>/dev/null | sed -n 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | head -n 1)
        case $lib in
        libdevmapper.so.1.02.1) lp=libdevmapper1.02.1 ;;
        liblzma.so.5) lp=liblzma5 ;;
        libselinux.so.1) lp=libselinux1 ;;
        libudev.so.1) lp=libudev1 ;;
        libpcre2-8.so.0) lp=libpcre2-8-0 ;;
        *) lp= ;;
        esac
        [[ -n $lp ]] && die "${b##*/} needs $lib: install the Debian package '$lp' (apt-get install $lp)"
        die "the unpacked ${b##*/} does not run on this host${lib:+ (missing $lib)}"
    fi
done

export MTOOLS_SKIP_CHECK=1 MTOOLS_NO_VFAT=1
kbytes=$(($(stat -c %s "$kernel") + $(stat -c %s "$initrd")))
APPEND_BASE="console=ttyS0,115200 panic=-1"

# le32 N: N as 4 little-endian bytes, in printf %b escapes.
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) \
    $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }

# mkdisk IMG TYPE(hex) BOOTFLAG(hex) SIG(4 chars) MB: an empty raw disk of
# MB MiB with syslinux's MBR boot code (which prints "Missing operating
# system." and returns to the BIOS when no partition is active), disk
# signature SIG and one partition from 1 MiB to the end, FAT-formatted.
# Prints the partition's byte offset.
mkdisk() {
    local img=$1 type=$2 flag=$3 sig=$4 mb=$5 start=2048 n
    n=$((mb * 2048 - start))
    rm -f "$img"
    truncate -s "${mb}M" "$img"
    dd if="$mbr_bin" of="$img" bs=440 count=1 conv=notrunc status=none
    printf '%s\0\0' "$sig" |
        dd of="$img" bs=1 seek=440 conv=notrunc status=none
    printf "%b" "\\x$flag\\xfe\\xff\\xff\\x$type\\xfe\\xff\\xff$(le32 $start)$(le32 $n)" |
        dd of="$img" bs=1 seek=446 conv=notrunc status=none
    printf "%b" "\\x55\\xaa" | dd of="$img" bs=1 seek=510 conv=notrunc status=none
    mformat -i "$img@@$((start * 512))" -T "$n" -h 64 -s 32 -H "$start" -v QBMC :: >&2
    echo $((start * 512))
}
# Size in MiB of a disk holding the guest plus EXTRA bytes, with slack.
disk_mb() { echo $(((kbytes + $1) / 1048576 + 8)); }

# grub_efi OUT CFG MODULES...: a standalone GRUB EFI image whose grub.cfg
# (CFG) lives in an embedded memdisk, so it needs no files besides itself.
# Without a display GRUB's linux loader prints "error: no suitable video mode
# found." and "Booting in blind mode": harmless.
grub_efi() {
    local out=$1 cfg=$2 md=$work/memdisk
    shift 2
    rm -rf "$md"
    mkdir -p "$md/boot/grub"
    cp "$cfg" "$md/boot/grub/grub.cfg"
    tar -C "$md" --owner=0 --group=0 -cf "$work/memdisk.tar" boot
    "$grub_mkimage" -d "$grub_dir" -O x86_64-efi -o "$out" \
        -m "$work/memdisk.tar" -p "(memdisk)/boot/grub" \
        memdisk tar normal echo test linux search search_fs_file \
        part_msdos part_gpt fat iso9660 "$@" ||
        die "grub-mkimage failed for $out"
}

# grub_cfg NAME: a grub.cfg that finds the medium by its marker file
# /qbmc/NAME and boots the guest from it.
grub_cfg() {
    cat <<EOF
search --no-floppy --file --set=root /qbmc/$1
echo "QEMU-BMC-MEDIUM: $1"
linux /vmlinuz $APPEND_BASE qbmc_medium=$1 qbmc_loader=grub
initrd /initrd.img
boot
EOF
}

# syslinux_cfg NAME LOADER DIR: the config of syslinux, isolinux or pxelinux,
# loading DIR/vmlinuz (relative names are relative to the config's own
# directory on disk and CD, to the TFTP root for pxelinux).
# Its output goes through the BIOS console, which SeaBIOS copies to COM1 when
# etc/sercon-port is set. (SERIAL 0 would print everything twice, and
# CONSOLE 0 does not stop that.) SeaBIOS may insert cursor-position escapes
# (ESC [ row ; col H) anywhere in that copy: strip them before matching.
syslinux_cfg() {
    cat <<EOF
SAY QEMU-BMC-MEDIUM: $1
DEFAULT qbmc
PROMPT 0
TIMEOUT 1
LABEL qbmc
  LINUX $3vmlinuz
  INITRD $3initrd.img
  APPEND $APPEND_BASE qbmc_medium=$1 qbmc_loader=$2
EOF
}

M=$work/media
: >"$work/empty"

# --- disk-bios.img: MBR + FAT + syslinux ---------------------------------------
img=$M/disk-bios.img
off=$(mkdisk "$img" 0e 80 QBMB "$(disk_mb 0)")
"$syslinux_bin" --offset "$off" --install "$img" || die "syslinux failed on $img"
syslinux_cfg disk syslinux / >"$work/syslinux.cfg"
mmd -i "$img@@$off" ::/qbmc
# (the installer has written ldlinux.sys and ldlinux.c32)
mcopy -i "$img@@$off" "$work/syslinux.cfg" "$kernel" "$initrd" ::/
mcopy -i "$img@@$off" "$work/empty" ::/qbmc/disk

# --- disk-efi.img: MBR + ESP + GRUB ---------------------------------------------
grub_cfg disk-efi >"$work/grub-disk-efi.cfg"
grub_efi "$work/bootx64-disk.efi" "$work/grub-disk-efi.cfg"
img=$M/disk-efi.img
off=$(mkdisk "$img" ef 00 QBME "$(disk_mb "$(stat -c %s "$work/bootx64-disk.efi")")")
mmd -i "$img@@$off" ::/EFI ::/EFI/BOOT ::/qbmc
mcopy -i "$img@@$off" "$work/bootx64-disk.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$img@@$off" "$kernel" "$initrd" ::/
mcopy -i "$img@@$off" "$work/empty" ::/qbmc/disk-efi

# --- cdrom.iso: isolinux (BIOS) + GRUB in an El Torito EFI image (UEFI) --------
iso=$work/iso
mkdir -p "$iso/isolinux" "$iso/boot" "$iso/qbmc"
cp "$kernel" "$initrd" "$iso/"
cp "$isolinux_bin" "$ldlinux_c32" "$iso/isolinux/"
syslinux_cfg cdrom isolinux / >"$iso/isolinux/isolinux.cfg"
: >"$iso/qbmc/cdrom"
: >"$iso/qbmc/cdrom-efi"
grub_cfg cdrom-efi >"$work/grub-cdrom-efi.cfg"
grub_efi "$work/bootx64-cdrom.efi" "$work/grub-cdrom-efi.cfg"
efimg=$iso/boot/efiboot.img
sectors=$((($(stat -c %s "$work/bootx64-cdrom.efi") / 1048576 + 2) * 2048))
truncate -s $((sectors * 512)) "$efimg"
mformat -i "$efimg" -T "$sectors" -h 64 -s 32 -v QBMCEFI ::
mmd -i "$efimg" ::/EFI ::/EFI/BOOT
mcopy -i "$efimg" "$work/bootx64-cdrom.efi" ::/EFI/BOOT/BOOTX64.EFI
xorriso -as mkisofs -o "$M/cdrom.iso" -r -J -V QBMC_CDROM \
    -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table \
    -eltorito-alt-boot -e boot/efiboot.img -no-emul-boot \
    "$iso" >"$work/xorriso.log" 2>&1 || {
    cat "$work/xorriso.log" >&2
    die "xorriso failed"
}

# --- tftp/: iPXE script, pxelinux, GRUB for OVMF PXE ------------------------------
T=$M/tftp
mkdir -p "$T/pxelinux.cfg"
cp "$kernel" "$initrd" "$pxelinux_0" "$ldlinux_c32" "$T/"
syslinux_cfg network pxelinux "" >"$T/pxelinux.cfg/default"
# The same script serves the NIC's iPXE ROM under SeaBIOS (platform pcbios)
# and under OVMF (platform efi: QEMU's efi-virtio.rom holds both builds, and
# OVMF boots the NIC through iPXE). Under EFI the kernel's EFI stub loads the
# initrd named by initrd= from iPXE's virtual file system.
cat >"$T/boot.ipxe" <<EOF
#!ipxe
iseq \${platform} efi && set qbmc_medium network-efi || set qbmc_medium network
echo QEMU-BMC-MEDIUM: \${qbmc_medium}
kernel vmlinuz initrd=initrd.img $APPEND_BASE qbmc_medium=\${qbmc_medium} qbmc_loader=ipxe
initrd initrd.img
boot
EOF
# Booted by OVMF's PXE client: efinet takes the address from the firmware's
# DHCP answer; "(tftp)" is the TFTP server it came from.
cat >"$work/grub-net.cfg" <<EOF
if [ -z "\$net_default_server" ]; then net_bootp; fi
echo "QEMU-BMC-MEDIUM: network-efi"
linux (tftp)/vmlinuz $APPEND_BASE qbmc_medium=network-efi qbmc_loader=grub
initrd (tftp)/initrd.img
boot
EOF
grub_efi "$T/grubnetx64.efi" "$work/grub-net.cfg" net efinet tftp

# --- install ----------------------------------------------------------------------
mv -f "$M/disk-bios.img" "$OUTDIR/disk-bios.img"
mv -f "$M/disk-efi.img" "$OUTDIR/disk-efi.img"
mv -f "$M/cdrom.iso" "$OUTDIR/cdrom.iso"
rm -rf "$OUTDIR/tftp"
mv "$T" "$OUTDIR/tftp"
rm -rf "$work"
echo "build-media.sh: built $OUTDIR/{disk-bios.img,disk-efi.img,cdrom.iso,tftp/}"
