# shellcheck shell=bash
# lib.sh - a real container engine for the container test and benchmark.
#
# Rootful podman from Debian 12 with everything it keeps under one
# temporary directory (PM_DIR): storage (--root/--runroot, storage.conf),
# containers.conf, registries.conf, volumes, its tmp dir.  runc (crun fails
# on this machine's hybrid cgroup layout), cgroupfs, no systemd or journald.
#
# The base image is Debian 12 from `debootstrap --variant=minbase`, cached
# as a tarball in the build tree (guest-cache/container/) with the .deb
# files the image builds downloaded, so that later runs need no debootstrap
# and download only the package lists.
#
# Sourced by tests/container/container.sh and bench/bench-container; the
# caller sets top_srcdir and top_builddir, calls pm_setup, and pm_teardown
# on exit (it removes every container and image made here, then PM_DIR).

PM_CACHE=$top_builddir/guest-cache/container
# Bump when the recipe of the base changes, so that caches are rebuilt.
PM_BASE_TAR=$PM_CACHE/bookworm-minbase-v2.tar
PM_BASE_IMAGE=localhost/qemu-bmc-base:bookworm
PM_IMAGE=localhost/qemu-bmc:test
PM_DIR=
# Podman 4.3 keeps two things outside its root whatever the options:
# its blob info cache and netavark's run directory.  Removed at the end if
# they were not there before.
PM_SYSTEM_DIRS=(/var/lib/containers /run/containers)
PM_CREATED=()

# pm ARGS...: podman on our private storage and configuration.
pm() {
    CONTAINERS_CONF=$PM_DIR/containers.conf \
        CONTAINERS_STORAGE_CONF=$PM_DIR/storage.conf \
        CONTAINERS_REGISTRIES_CONF=$PM_DIR/registries.conf \
        podman --root "$PM_DIR/root" --runroot "$PM_DIR/run" "$@"
}

pm_setup() {
    local d
    for d in "${PM_SYSTEM_DIRS[@]}"; do
        [ -e "$d" ] || PM_CREATED+=("$d")
    done
    # Short: conmon's attach socket lives below the run root (108 bytes).
    PM_DIR=$(mktemp -d /tmp/qbmc-pm.XXXXXX)
    mkdir -p "$PM_DIR"/{root,run,tmp,volumes,networks}
    cat >"$PM_DIR/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PM_DIR/events.log"
tmp_dir = "$PM_DIR/tmp"
volume_path = "$PM_DIR/volumes"

[network]
network_backend = "netavark"
network_config_dir = "$PM_DIR/networks"
EOF
    cat >"$PM_DIR/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$PM_DIR/root"
runroot = "$PM_DIR/run"
EOF
    # Nothing is pulled: every image is local.
    echo 'unqualified-search-registries = []' >"$PM_DIR/registries.conf"
}

# pm_teardown: remove what was made here, by the names we gave, then the
# storage (after unmounting anything podman left mounted below it).
pm_teardown() {
    [ -n "$PM_DIR" ] && [ -d "$PM_DIR" ] || return 0
    local c
    for c in $(pm ps -a --format '{{.Names}}' 2>/dev/null || true); do
        pm rm -f -t 0 "$c" >/dev/null 2>&1 || true
    done
    pm volume prune -f >/dev/null 2>&1 || true
    pm rmi -a -f >/dev/null 2>&1 || true
    local m
    for m in $(findmnt -rn -o TARGET | grep "^$PM_DIR/" | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$PM_DIR"
    PM_DIR=
    for m in "${PM_CREATED[@]}"; do
        rm -rf "$m"
    done
}

# pm_base_tar: the cached debootstrap tarball (built once, under a lock).
pm_base_tar() {
    mkdir -p "$PM_CACHE"
    (
        flock 9
        [ -s "$PM_BASE_TAR" ] && exit 0
        local rootfs=$PM_CACHE/rootfs
        rm -rf "$rootfs"
        debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
            >"$PM_CACHE/debootstrap.log" 2>&1 || exit 1
        # As the Debian slim images: updates and security, and no
        # documentation (what debootstrap installed, and what comes later).
        cat >"$rootfs/etc/apt/sources.list" <<EOF
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
        cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<EOF
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
        find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
        rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* \
            "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/var/cache/apt/*.bin
        tar -C "$rootfs" --numeric-owner -cf "$PM_BASE_TAR.tmp" . &&
            mv "$PM_BASE_TAR.tmp" "$PM_BASE_TAR" && rm -rf "$rootfs"
    ) 9>"$PM_CACHE/.lock"
}

# pm_build [podman build options...]: import the base and build
# container/Dockerfile as PM_IMAGE.  The .deb files go to the cache through
# a bind mount, which is not part of the image.
pm_build() {
    pm_base_tar || return 1
    pm import -q "$PM_BASE_TAR" "$PM_BASE_IMAGE" >/dev/null || return 1
    mkdir -p "$PM_CACHE/apt-archives/partial"
    pm build --network=host --format docker --layers=false \
        -v "$PM_CACHE/apt-archives:/var/cache/apt/archives" \
        --build-arg BASE_IMAGE="$PM_BASE_IMAGE" \
        -f "$top_srcdir/container/Dockerfile" -t "$PM_IMAGE" "$@" "$top_srcdir"
}
