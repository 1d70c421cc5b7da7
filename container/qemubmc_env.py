"""Environment of a qemu-bmc node: validation and derived values.

Shared by render-config (which writes lan.conf, the .emu file and
supervisord.conf) and qemu-launch (which turns the VM variables into a QEMU
command line), so that both read every variable the same way.  Each bad value
raises EnvError with one line that names the variable; nothing is started
before all of them pass.
"""

import hashlib
import os
import re
import shlex
import socket


class EnvError(Exception):
    """One bad variable: str(e) is the line to print."""


def _show(raw):
    """A value as the one-line error shows it: quoted, and short."""
    text = repr(raw)
    return text if len(text) <= 42 else text[:39] + "..."


def _get(env, name, default=None):
    value = env.get(name)
    if value is None:
        return default
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # os.environ carries undecodable bytes as lone surrogates.
        raise EnvError(f"{name}: not valid UTF-8") from None
    return value


def boolean(env, name, default):
    raw = _get(env, name)
    if raw is None or raw == "":
        return default
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise EnvError(f"{name}={_show(raw)}: expected true or false")


def memory_mib(env, name="VM_MEMORY", default="2048"):
    raw = _get(env, name, default)
    # ASCII digits only (\d also takes other scripts' digits), and few of
    # them: int() refuses more than 4300.
    m = re.fullmatch(r" *([0-9]{1,9}) *([MmGg]?)[iI]?[bB]? *", raw or "")
    if not m:
        raise EnvError(f"{name}={_show(raw)}: expected a size in MiB such as 2048, "
                       f"512M or 4G")
    mib = int(m.group(1)) * (1024 if m.group(2).lower() == "g" else 1)
    if not 64 <= mib <= 1024 * 1024:
        raise EnvError(f"{name}={_show(raw)}: must be between 64M and 1024G")
    return mib


def integer(env, name, default, lo, hi):
    raw = _get(env, name)
    if raw is None or raw == "":
        if default is None:
            return None
        raw = str(default)  # unset or empty: the default, checked alike
    digits = raw.strip(" ")
    if not re.fullmatch(r"[0-9]{1,9}", digits):
        raise EnvError(f"{name}={_show(raw)}: expected a whole number "
                       f"from {lo} to {hi}")
    n = int(digits)
    if not lo <= n <= hi:
        raise EnvError(f"{name}={_show(raw)}: must be from {lo} to {hi}")
    return n


def existing_file(env, name):
    raw = _get(env, name, "")
    if raw == "":
        return None
    if not os.path.isfile(raw):
        raise EnvError(f"{name}={_show(raw)}: no such file")
    return os.path.abspath(raw)


def existing_dir(env, name):
    raw = _get(env, name, "")
    if raw == "":
        return None
    if not os.path.isdir(raw):
        raise EnvError(f"{name}={_show(raw)}: no such directory")
    return os.path.abspath(raw)


def choice(env, name, default, choices):
    raw = _get(env, name, default)
    if raw not in choices:
        raise EnvError(f"{name}={_show(raw)}: expected one of {', '.join(choices)}")
    return raw


def ipmi_credential(env, name, default, maxlen):
    raw = _get(env, name, default)
    if raw is None or raw == "":
        raise EnvError(f"{name} is empty: set a non-empty value")
    if len(raw.encode()) > maxlen:
        raise EnvError(f"{name}: at most {maxlen} bytes (IPMI limit)")
    if '"' in raw or "\n" in raw or not raw.isprintable():
        raise EnvError(f"{name}: must be printable and contain no '\"'")
    return raw


def ip_address(env, name, default):
    raw = _get(env, name, default)
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, raw)
            return raw
        except (OSError, TypeError):
            pass
    raise EnvError(f"{name}={_show(raw)}: expected an IP address")


def absolute_dir(env, name, default):
    raw = _get(env, name, default)
    if not raw or not raw.startswith("/"):
        raise EnvError(f"{name}={_show(raw)}: expected an absolute path")
    return raw


def extra_args(env, name="QEMU_EXTRA_ARGS"):
    raw = _get(env, name, "")
    try:
        return shlex.split(raw)
    except ValueError as e:
        raise EnvError(f"{name}: cannot split: {e}") from None


class Collector:
    """Reads variables with the functions below.  c(fn, env, name, ...)
    returns the value.  Without a list, the first bad variable raises its
    EnvError (one line); with one (render-config --check), each error is
    appended to it and the value is None, so that a user sees every
    mistake at once, not one per try."""

    def __init__(self, errors=None):
        self.errors = errors

    def __call__(self, fn, *args):
        try:
            return fn(*args)
        except EnvError as e:
            self.add(str(e))
            return None

    def add(self, line):
        if self.errors is None:
            raise EnvError(line)
        self.errors.append(line)


DEFAULT_PASSWORD = "password"


def read_vm(env, errors=None):
    """The VM variables, as qemu-launch needs them.  The first bad one
    raises EnvError; with a list, every bad one is appended to it."""
    c = Collector(errors)
    vm = {
        "memory": c(memory_mib, env),
        "cpus": c(integer, env, "VM_CPUS", 2, 1, 255),
        "disk": c(existing_file, env, "VM_DISK"),
        "cdrom": c(existing_file, env, "VM_CDROM"),
        "kernel": c(existing_file, env, "VM_KERNEL"),
        "initrd": c(existing_file, env, "VM_INITRD"),
        "append": _get(env, "VM_APPEND", ""),
        "boot": c(choice, env, "VM_BOOT", "disk",
                  ("disk", "cdrom", "network")),
        "boot_mode": c(choice, env, "VM_BOOT_MODE", "bios", ("bios", "uefi")),
        "net_tftp": c(existing_dir, env, "VM_NET_TFTP"),
        "net_bootfile": _get(env, "VM_NET_BOOTFILE", ""),
        "net_bootfile_efi": _get(env, "VM_NET_BOOTFILE_EFI", ""),
        "kvm": c(boolean, env, "ENABLE_KVM", True),
        "vnc_port": c(integer, env, "VNC_PORT", None, 5900, 65535),
        "extra": c(extra_args, env),
    }
    # From the environment: a medium that is set but bad has its own line.
    if not any(_get(env, v) for v in ("VM_DISK", "VM_CDROM", "VM_KERNEL")):
        c.add("nothing to boot: set VM_DISK, VM_CDROM or VM_KERNEL")
    if _get(env, "VM_INITRD") and not _get(env, "VM_KERNEL"):
        c.add("VM_INITRD is set but VM_KERNEL is not")
    return vm


def read_bmc(env, defaults, errors=None):
    """The BMC variables, as render-config needs them.  The first bad one
    raises EnvError; with a list, every bad one is appended to it."""
    c = Collector(errors)
    bmc = {
        "ipmi_addr": c(ip_address, env, "IPMI_ADDR", defaults["IPMI_ADDR"]),
        "ipmi_port": c(integer, env, "IPMI_PORT", defaults["IPMI_PORT"],
                       1, 65535),
        "user": c(ipmi_credential, env, "IPMI_USER", "admin", 16),
        "password": c(ipmi_credential, env, "IPMI_PASS", DEFAULT_PASSWORD, 20),
        "ipmi15": c(choice, env, "IPMI_1_5", "off", ("off", "md5")),
        "power_on_at_start": c(boolean, env, "POWER_ON_AT_START", True),
        "debug": c(boolean, env, "DEBUG", False),
        "shutdown_timeout": c(integer, env, "VM_SHUTDOWN_TIMEOUT",
                              defaults.get("VM_SHUTDOWN_TIMEOUT", 0), 0, 3600),
        "state_dir": c(absolute_dir, env, "STATE_DIR", defaults["STATE_DIR"]),
        "run_dir": c(absolute_dir, env, "RUN_DIR", defaults["RUN_DIR"]),
        "node": _get(env, "NODE_NAME", "") or socket.gethostname(),
    }
    ro_user = _get(env, "IPMI_RO_USER", "")
    if ro_user:
        bmc["ro_user"] = c(ipmi_credential, env, "IPMI_RO_USER", None, 16)
        bmc["ro_password"] = c(ipmi_credential, env, "IPMI_RO_PASS", None, 20)
        if bmc["ro_user"] and bmc["ro_user"] == bmc["user"]:
            c.add("IPMI_RO_USER must differ from IPMI_USER")
    return bmc


def node_guid(node):
    """A stable GUID per node name (RMCP+ needs one)."""
    return hashlib.sha256(("qemu-bmc:" + node).encode()).hexdigest()[:32]


def node_serial(node):
    return "QBMC-" + hashlib.sha256(node.encode()).hexdigest()[:10].upper()


def _fru_field(text):
    data = text.encode("ascii", "replace")[:63]
    return bytes([0xC0 | len(data)]) + data


def _zero_checksum(data):
    return (-sum(data)) & 0xFF


def fru_bytes(manufacturer, product, serial, part="qemu-bmc"):
    """A FRU with a common header and a product info area."""
    area = bytearray([0x01, 0x00, 0x00])  # version, length (later), English
    for text in (manufacturer, product, part, "1.0", serial, "", ""):
        area += _fru_field(text)
    area.append(0xC1)  # end of fields
    while (len(area) + 1) % 8:
        area.append(0)
    area[1] = (len(area) + 1) // 8
    area.append(_zero_checksum(area))
    header = bytearray([0x01, 0, 0, 0, 1, 0, 0])  # product area at 8
    header.append(_zero_checksum(header))
    return bytes(header + area)
