#!/usr/bin/python3
"""fuzz-env: container/qemubmc_env.py's read_vm() and read_bmc() against
random and mutated environments.

    fuzz-env.py [--iterations N] [--seconds S] [--seed N] [--replay I]

qemubmc_env promises that every bad value raises EnvError whose message is
one line naming the variable.  So each call must either return or raise
EnvError with a one-line message that names a variable; any other
exception is a failure.  Environments are what os.environ can hold: str
values without NUL, where bytes that are not UTF-8 arrive as lone
surrogates (U+DC80-U+DCFF, Python's surrogateescape).

Deterministic: iteration I of seed N is always the same environment, and
--replay I prints it and runs it alone.  Each distinct failure (exception
type and the function raising it) is reported once, with the environment
shrunk to the variables that matter.  A failure named in
QEMU_BMC_FUZZ_ALLOW (comma separated, as for the C targets) is counted but
does not fail the run.  Stdlib only.
"""

import argparse
import importlib.machinery
import importlib.util
import os
import random
import re
import sys
import tempfile
import time
import traceback

# Read the sources, write nothing into the tree (no __pycache__).
sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(os.path.dirname(os.path.dirname(HERE)), "container")
sys.path.insert(0, CONTAINER)
import qemubmc_env as qe  # noqa: E402


def load_render_defaults():
    """render-config's DEFAULTS, so that both stay in step."""
    path = os.path.join(CONTAINER, "render-config")
    loader = importlib.machinery.SourceFileLoader("render_config", path)
    spec = importlib.util.spec_from_loader("render_config", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.DEFAULTS


VM_VARS = ["VM_MEMORY", "VM_CPUS", "VM_DISK", "VM_CDROM", "VM_KERNEL",
           "VM_INITRD", "VM_APPEND", "VM_BOOT", "VM_BOOT_MODE", "VM_NET_TFTP",
           "VM_NET_BOOTFILE", "VM_NET_BOOTFILE_EFI", "ENABLE_KVM", "VNC_PORT",
           "QEMU_EXTRA_ARGS"]
BMC_VARS = ["IPMI_ADDR", "IPMI_PORT", "IPMI_USER", "IPMI_PASS", "IPMI_1_5",
            "POWER_ON_AT_START", "DEBUG", "STATE_DIR", "RUN_DIR", "NODE_NAME",
            "IPMI_RO_USER", "IPMI_RO_PASS"]
ALL_VARS = VM_VARS + BMC_VARS

# Characters an environment value may hold, weighted towards trouble.
CHARSETS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\xa0\u3000",
    "\"'\\$`;&|<>(){}[]*?!#%=,:/.-_~@^+",
    "".join(chr(c) for c in range(1, 32)) + "\x7f",
    "\u00e9\u00df\u00ff\u0100\u4e2d\u6587\U0001f600\u202e\ufeff\ufffd",
    "\uff10\uff11\uff15\uff19\u0660\u0663\u0669\u0966\u00b2\u2167",
    "".join(chr(c) for c in range(0xDC80, 0xDD00)),  # non-UTF-8 bytes
]

INTERESTING = [
    "", " ", "0", "1", "-1", "+5", "01", "64", "63", "255", "256", "5900",
    "5899", "65535", "65536", "623", "1024", "1048576", "1048577",
    "99999999999999999999", "1" * 5000, "9" * 4301, "0x10", "1e3", "1_000",
    "\uff15\uff19\uff10\uff10", "\u0663", "\u00b2", " 12 ", "2048M", "4G",
    "4GiB", "512mb", "64m", "1024G", "1025G", "0G", "2048K", "true", "TRUE",
    " yes ", "on", "off", "no", "false", "maybe", "127.0.0.1", "0.0.0.0",
    "::1", "::", "fe80::1%eth0", "1.2.3", "256.1.1.1", "localhost",
    "/", "/tmp", "/nonexistent", "relative/path", "./x", "~", "disk",
    "cdrom", "network", "bios", "uefi", "md5", "admin", "password",
    "a" * 16, "a" * 17, "a" * 20, "a" * 21, "\u00e9" * 8, "\u00e9" * 9,
    "\"", "'", "a\"b", "a\nb", "\udcff", "adm\udce9n", "\ud800",
    "-cpu host", "'unterminated", "\"unterminated", "trailing\\", "a b c",
    "-device e1000,netdev=n0 -netdev user,id=n0",
]


def random_value(rng):
    if rng.random() < 0.4:
        return rng.choice(INTERESTING)
    n = rng.choice([0, 1, 2, 3, 5, 8, 16, 17, 20, 21, 40, 200])
    out = []
    for _ in range(n):
        out.append(rng.choice(rng.choice(CHARSETS)))
    return "".join(out)


def mutate(rng, value):
    chars = list(value)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        pos = rng.randint(0, len(chars))
        c = rng.choice(rng.choice(CHARSETS))
        if op == 0 or not chars:
            chars.insert(pos, c)
        elif op == 1:
            del chars[min(pos, len(chars) - 1)]
        elif op == 2:
            chars[min(pos, len(chars) - 1)] = c
        else:
            chars[pos:pos] = list(rng.choice(INTERESTING))
    return "".join(chars)


class Fuzzer:
    def __init__(self, seed, scratch):
        self.seed = seed
        self.defaults = load_render_defaults()
        disk = os.path.join(scratch, "disk.img")
        kernel = os.path.join(scratch, "vmlinuz")
        for path in (disk, kernel):
            with open(path, "w"):
                pass
        tftp = os.path.join(scratch, "tftp")
        os.mkdir(tftp)
        # A node that passes: mutations start from here to get deep.
        self.base = {
            "VM_MEMORY": "1024", "VM_CPUS": "2", "VM_DISK": disk,
            "VM_BOOT": "disk", "VM_BOOT_MODE": "bios", "ENABLE_KVM": "false",
            "IPMI_USER": "admin", "IPMI_PASS": "secret", "NODE_NAME": "n1",
        }
        self.paths = [disk, kernel, tftp, scratch, disk + "x"]

    def environment(self, i):
        rng = random.Random(f"{self.seed}:{i}")
        env = {} if rng.random() < 0.1 else dict(self.base)
        for _ in range(rng.randint(1, 4)):
            name = rng.choice(ALL_VARS)
            r = rng.random()
            if r < 0.1:
                env.pop(name, None)
            elif r < 0.2:
                env[name] = rng.choice(self.paths)
            elif r < 0.5 and env.get(name):
                env[name] = mutate(rng, env[name])
            else:
                env[name] = random_value(rng)
        if rng.random() < 0.05:
            env["UNRELATED_" + str(i)] = random_value(rng)
        return env, rng.choice(sorted(self.defaults))

    @staticmethod
    def bad_result(what, result):
        """The first field of a returned dict its consumers cannot use."""
        def int_in(value, lo, hi):
            return isinstance(value, int) and lo <= value <= hi

        if what == "read_vm":
            checks = [
                ("memory", int_in(result["memory"], 64, 1024 * 1024)),
                # qemu-launch: "-smp", str(vm["cpus"])
                ("cpus", int_in(result["cpus"], 1, 255)),
                ("vnc_port", result["vnc_port"] is None or
                 int_in(result["vnc_port"], 5900, 65535)),
                ("extra", isinstance(result["extra"], list)),
            ]
        else:
            checks = [
                # render-config: "addr @IPMI_ADDR@ @IPMI_PORT@" in lan.conf
                ("ipmi_port", int_in(result["ipmi_port"], 1, 65535)),
                ("state_dir", result["state_dir"].startswith("/")),
                ("run_dir", result["run_dir"].startswith("/")),
            ]
        for field, ok in checks:
            if not ok:
                return field
        return None

    def run_one(self, env, defaults_name):
        """None if the contract held, else (signature, detail)."""
        calls = [("read_vm", lambda: qe.read_vm(env)),
                 ("read_bmc",
                  lambda: qe.read_bmc(env, self.defaults[defaults_name]))]
        for what, call in calls:
            try:
                result = call()
                field = self.bad_result(what, result)
                if field:
                    return (f"env-{what}-result-{field}",
                            f"{what} returned {field}={result[field]!r}")
            except qe.EnvError as e:
                msg = str(e)
                if not msg or len(msg.splitlines()) != 1 or \
                        "\n" in msg or "\r" in msg:
                    return (f"env-{what}-EnvError-not-one-line",
                            f"{what}: message {msg!r}")
                if not any(v in msg for v in ALL_VARS):
                    return (f"env-{what}-EnvError-names-no-variable",
                            f"{what}: message {msg!r}")
            except Exception as e:  # the finding
                tb = traceback.extract_tb(e.__traceback__)
                frames = [f for f in tb if f.filename.endswith(
                    "qemubmc_env.py")] or tb
                where = frames[-1]
                # The message's first words tell causes apart.
                words = re.sub(r"[^a-z ]", "", str(e).lower()).split()[:3]
                sig = f"env-{where.name}-{type(e).__name__}-{'-'.join(words)}"
                detail = (f"{what}: {type(e).__name__}: {e} at "
                          f"{os.path.basename(where.filename)}:{where.lineno}"
                          f" ({where.name}): {where.line}")
                return sig, detail
        return None

    def shrink(self, env, defaults_name, sig):
        """Drop or reset variables while the same failure remains."""
        env = dict(env)
        for name in sorted(env):
            for candidate in ("drop", "base"):
                trial = dict(env)
                if candidate == "drop":
                    del trial[name]
                elif name in self.base and trial[name] != self.base[name]:
                    trial[name] = self.base[name]
                else:
                    continue
                got = self.run_one(trial, defaults_name)
                if got and got[0] == sig:
                    env = trial
                    break
        return env


def clip(text, limit=300):
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=0,
                    help="stop earlier after this long (0: no limit)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--replay", type=int, default=None)
    args = ap.parse_args()
    allowed = set(filter(None, os.environ.get("QEMU_BMC_FUZZ_ALLOW",
                                              "").split(",")))

    with tempfile.TemporaryDirectory(prefix="fuzz-env-") as scratch:
        fz = Fuzzer(args.seed, scratch)
        if args.replay is not None:
            env, dname = fz.environment(args.replay)
            print(f"defaults={dname} env={env!r}")
            print(fz.run_one(env, dname) or "contract held")
            return 0
        start = time.monotonic()
        found = {}
        counts = {}
        outcomes = {"ok": 0, "failed": 0}
        done = 0
        for i in range(args.iterations):
            if args.seconds and time.monotonic() - start > args.seconds:
                break
            env, dname = fz.environment(i)
            got = fz.run_one(env, dname)
            done += 1
            if not got:
                outcomes["ok"] += 1
                continue
            outcomes["failed"] += 1
            sig, detail = got
            counts[sig] = counts.get(sig, 0) + 1
            if sig not in found:
                small = fz.shrink(env, dname, sig)
                found[sig] = (i, detail, small, dname)
        elapsed = time.monotonic() - start

    bad = False
    for sig, (i, detail, small, dname) in sorted(found.items()):
        tag = "allowed" if sig in allowed else "FAILURE"
        bad = bad or sig not in allowed
        print(f"{tag} {sig}: {counts[sig]} of {done} iterations; first at "
              f"--seed {args.seed} --replay {i}")
        print(f"  {clip(detail)}")
        print(f"  shrunk environment (defaults={dname}): {clip(repr(small))}")
    print(f"{done} environments in {elapsed:.1f} s "
          f"({done / max(elapsed, 1e-9):.0f}/s), seed {args.seed}, "
          f"{len(found)} distinct failure(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
