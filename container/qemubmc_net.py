"""The network of a qemu-bmc node: the interface IPMI listens on, and the
interfaces passed through to the VM as its NICs.

Shared by netsetup (which waits for the interfaces and plumbs them) and
render-config and qemu-launch (which check the variables and read what
netsetup decided), so that every program reads the variables one way.  See
doc/configuration.md, "Networks".

A NIC passed through is a tap (TAP_PREFIX + index) joined to its interface
by two tc mirred redirects, ingress to egress both ways, with a u32 filter
that matches every frame: no bridge in between, so LLDP, LACP, STP and VLAN
tags go through as they came (vrnetlab does the same; `matchall` would do,
but it is not built into every kernel).
"""

import hashlib
import ipaddress
import json
import os
import re
import socket

from qemubmc_env import Collector, EnvError, integer

TAP_PREFIX = "qbmc-tap"
# What netsetup decided, for qemu-launch: RUN_DIR/vm-nics.json.
NICS_FILE = "vm-nics.json"
MAX_NICS = 16
# Interface names as the kernel takes them (IFNAMSIZ 16), minus oddities.
_IFNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
_MAC = re.compile(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}")
_ETH = re.compile(r"eth(\d+)")

DEFAULTS = {
    # A container's ethN (but eth0) come from containerlab for the VM; a
    # host's belong to the host, so run-local passes none unless told.
    "container": {"VM_NETWORKS": "auto"},
    "local": {"VM_NETWORKS": "none"},
}


def _words(raw):
    return [w for w in re.split(r"[\s,]+", raw.strip()) if w]


def ifname(env, name):
    raw = env.get(name) or ""
    if raw == "":
        return None
    if not _IFNAME.fullmatch(raw) or raw == "lo":
        raise EnvError(f"{name}={raw!r}: expected a network interface name "
                       f"such as eth1")
    return raw


def node_name(env):
    return env.get("NODE_NAME") or socket.gethostname()


def parse_mac(text, name):
    if not _MAC.fullmatch(text):
        raise EnvError(f"{name}: {text!r} is not a MAC address "
                       f"(52:54:00:12:34:56)")
    mac = text.lower()
    first = int(mac[:2], 16)
    if first & 1 or mac == "00:00:00:00:00:00":
        raise EnvError(f"{name}: {text!r} is not a unicast MAC address")
    return mac


def derived_mac(node, interface):
    """Stable across restarts (the node's name and the interface), unique
    across nodes.  52:54 (QEMU's locally administered prefix), then 32 bits
    of a hash: a 50-node lab with 4 NICs each has a 1 in 200,000 chance of
    a collision; VM_MACS sets them by hand."""
    seed = f"qemu-bmc-nic:{node}:{interface}".encode("utf-8", "surrogateescape")
    h = hashlib.sha256(seed).digest()
    return "52:54:" + ":".join(f"{b:02x}" for b in h[:4])


def read_net(env, mode="container", errors=None):
    """The network variables.  The first bad one raises EnvError; with a
    list, every bad one is appended to it (qemubmc_env.Collector)."""
    c = Collector(errors)

    net = {
        "ipmi_interface": c(ifname, env, "IPMI_INTERFACE"),
        "ipmi_interface_addr": None,
        "networks": None,
        "macs": [],
        "clab_intfs": c(integer, env, "CLAB_INTFS", None, 0, 4096),
        "wait": c(integer, env, "INTERFACE_WAIT_TIMEOUT", 300, 0, 3600),
        "node": node_name(env),
    }
    addr = env.get("IPMI_INTERFACE_ADDR") or ""
    if addr:
        try:
            if "/" not in addr:
                raise ValueError
            net["ipmi_interface_addr"] = ipaddress.ip_interface(addr)
        except ValueError:
            c.add(f"IPMI_INTERFACE_ADDR={addr!r}: expected an "
                          f"address with its prefix, such as 192.168.0.11/24")
        if not env.get("IPMI_INTERFACE"):
            c.add("IPMI_INTERFACE_ADDR is set but IPMI_INTERFACE "
                          "is not")
    if env.get("IPMI_INTERFACE") and env.get("IPMI_ADDR"):
        c.add("IPMI_ADDR and IPMI_INTERFACE are both set: IPMI "
                      "listens on IPMI_INTERFACE's address; set one")

    raw = env.get("VM_NETWORKS")
    if raw is None or raw.strip() == "":
        raw = DEFAULTS[mode]["VM_NETWORKS"]
    words = _words(raw)
    if words in (["auto"], ["none"]):
        net["networks"] = words[0]
    else:
        names = []
        for w in words:
            if not _IFNAME.fullmatch(w) or w in ("lo", "auto", "none"):
                c.add(f"VM_NETWORKS: {w!r} is not an interface name "
                              f"(a list such as eth2,eth3, or auto, or none)")
            elif w in names:
                c.add(f"VM_NETWORKS: {w} is listed twice")
            elif w == net["ipmi_interface"]:
                c.add(f"VM_NETWORKS: {w} is IPMI_INTERFACE; the VM "
                              f"cannot have it too")
            elif w.startswith(TAP_PREFIX):
                c.add(f"VM_NETWORKS: {w} is one of the node's own "
                              f"taps")
            else:
                names.append(w)
        if len(names) > MAX_NICS:
            c.add(f"VM_NETWORKS: {len(names)} interfaces; at most "
                          f"{MAX_NICS}")
        net["networks"] = names

    macs = []
    for w in _words(env.get("VM_MACS") or ""):
        mac = c(parse_mac, w, "VM_MACS")
        if mac is None:
            continue
        if mac in macs:
            c.add(f"VM_MACS: {mac} is listed twice")
        macs.append(mac)
    if isinstance(net["networks"], list) and len(macs) > len(net["networks"]):
        c.add(f"VM_MACS: {len(macs)} addresses for "
                      f"{len(net['networks'])} interfaces in VM_NETWORKS")
    if net["networks"] == "none" and macs:
        c.add("VM_MACS is set but VM_NETWORKS=none")
    net["macs"] = macs
    return net


def eth_number(name):
    m = _ETH.fullmatch(name)
    return int(m.group(1)) if m else None


def data_interfaces(names):
    """ethN with N >= 1, in numeric order: what containerlab attaches (eth0
    is the management network, which the container keeps)."""
    eth = [(eth_number(n), n) for n in names]
    return [n for k, n in sorted(e for e in eth if e[0] is not None and e[0] >= 1)]


def nics(net, interfaces):
    """The VM's NICs in order: [{"interface", "tap", "mac"}].  interfaces:
    the names present now (for VM_NETWORKS=auto)."""
    if net["networks"] == "none":
        return []
    if net["networks"] == "auto":
        chosen = [n for n in data_interfaces(interfaces)
                  if n != net["ipmi_interface"]][:MAX_NICS]
    else:
        chosen = net["networks"]
    out = []
    for i, name in enumerate(chosen):
        mac = net["macs"][i] if i < len(net["macs"]) else \
            derived_mac(net["node"], name)
        out.append({"interface": name, "tap": f"{TAP_PREFIX}{i}", "mac": mac})
    return out


def read_nics(run_dir):
    """The NICs netsetup set up for this run, or [] (none, or no netsetup:
    the VM then gets QEMU user networking)."""
    try:
        with open(os.path.join(run_dir, NICS_FILE)) as f:
            return json.load(f)["nics"]
    except FileNotFoundError:
        return []
