"""rmcp.py: just enough RMCP / RMCP+ framing for the network tests.

Builds the few unauthenticated packets the tests need (IPMI 1.5 sessionless
requests, Get Session Challenge, Activate Session, RMCP+ Open Session and
RAKP 1) and parses the replies far enough to read completion and status
codes; Session logs in with cipher suite 3 and wraps commands.  Written
from the IPMI 2.0 specification (sections 13.6, 13.17, 13.20-13.32,
22.15-22.17).  AES comes from python3-cryptography (a dependency of
pyghmi), imported only when a session needs it.
"""

import hashlib
import hmac
import os
import select
import socket
import struct
import time

RMCP_HDR = bytes([0x06, 0x00, 0xFF, 0x07])  # version 6, no ack, class IPMI
AUTH_NONE = 0
AUTH_RMCP_PLUS = 6
PAYLOAD_IPMI = 0x00
PAYLOAD_OPEN_SESSION = 0x10
PAYLOAD_OPEN_SESSION_RSP = 0x11
PAYLOAD_RAKP1 = 0x12
PAYLOAD_RAKP2 = 0x13
BMC_ADDR = 0x20
SWID = 0x81


def checksum(data):
    return (-sum(data)) & 0xFF


def ipmi_msg(netfn, cmd, data=b"", rq_seq=1):
    """An IPMB-style request: rsAddr netFn/LUN chk rqAddr rqSeq cmd data chk."""
    head = bytes([BMC_ADDR, netfn << 2])
    body = bytes([SWID, (rq_seq & 0x3F) << 2, cmd]) + bytes(data)
    return head + bytes([checksum(head)]) + body + bytes([checksum(body)])


def lan15(msg, authtype=AUTH_NONE, seq=0, sid=0, authcode=None):
    """IPMI 1.5 session wrapper (13.6)."""
    pkt = RMCP_HDR + bytes([authtype]) + struct.pack("<II", seq, sid)
    if authtype != AUTH_NONE:
        pkt += authcode if authcode is not None else bytes(16)
    return pkt + bytes([len(msg)]) + msg


def lan20(payload_type, payload, sid=0, seq=0):
    """IPMI 2.0 (RMCP+) session wrapper, unauthenticated, unencrypted."""
    return (RMCP_HDR + bytes([AUTH_RMCP_PLUS, payload_type & 0x3F])
            + struct.pack("<IIH", sid, seq, len(payload)) + payload)


def get_channel_auth_caps(rq_seq=1):
    # Channel 0x0E (this one), privilege admin, IPMI 2.0 data bit set.
    return lan15(ipmi_msg(0x06, 0x38, bytes([0x8E, 0x04]), rq_seq))


def get_session_challenge(user, authtype=2):
    name = user.encode()[:16].ljust(16, b"\0")
    return lan15(ipmi_msg(0x06, 0x39, bytes([authtype]) + name))


def activate_session(temp_sid, challenge, authtype, hdr_authtype):
    """Activate Session (22.17) on the temporary session id from a challenge.

    hdr_authtype is the session header's authentication type, which stock
    lanserv uses as an index into its authentication table."""
    data = bytes([authtype, 0x04]) + challenge + struct.pack("<I", 1)
    return lan15(ipmi_msg(0x06, 0x3A, data), authtype=hdr_authtype, seq=0,
                 sid=temp_sid)


def open_session(tag, console_sid, priv=4, auth=1, integ=1, conf=1):
    """RMCP+ Open Session Request (13.17), cipher suite 3 by default."""
    body = bytes([tag, priv, 0, 0]) + struct.pack("<I", console_sid)
    body += bytes([0, 0, 0, 8, auth, 0, 0, 0])
    body += bytes([1, 0, 0, 8, integ, 0, 0, 0])
    body += bytes([2, 0, 0, 8, conf, 0, 0, 0])
    return lan20(PAYLOAD_OPEN_SESSION, body)


def rakp1(tag, bmc_sid, user, priv=0x14, rand=None):
    """RAKP Message 1 (13.20)."""
    name = user.encode()[:16]
    body = bytes([tag, 0, 0, 0]) + struct.pack("<I", bmc_sid)
    body += rand if rand is not None else os.urandom(16)
    body += bytes([priv, 0, 0, len(name)]) + name
    return lan20(PAYLOAD_RAKP1, body)


def parse_lan15_response(pkt, cmd=None, rq_seq=None):
    """(completion code, data) of an IPMI 1.5 reply (to @cmd with @rq_seq,
    if given), or None."""
    if len(pkt) < 14 or pkt[:4] != RMCP_HDR or pkt[4] == AUTH_RMCP_PLUS:
        return None
    off = 5 + 8 + (16 if pkt[4] != AUTH_NONE else 0)
    if off >= len(pkt):
        return None
    n = pkt[off]
    msg = pkt[off + 1:off + 1 + n]
    if len(msg) < 8:
        return None
    if cmd is not None and msg[5] != cmd:
        return None
    if rq_seq is not None and msg[4] >> 2 != rq_seq:
        return None
    return msg[6], msg[7:-1]


def parse_lan20(pkt):
    """(payload type, payload) of an RMCP+ packet, or None."""
    if len(pkt) < 16 or pkt[:4] != RMCP_HDR or pkt[4] != AUTH_RMCP_PLUS:
        return None
    n = struct.unpack_from("<H", pkt, 14)[0]
    return pkt[5] & 0x3F, pkt[16:16 + n]


class Client:
    """A UDP socket to the BMC with request/response helpers."""

    def __init__(self, host, port, timeout=1.0):
        self.addr = (host, port)
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(self.addr)

    def close(self):
        self.sock.close()

    def send(self, pkt):
        try:
            self.sock.send(pkt)
        except OSError:
            pass  # ECONNREFUSED from an earlier ICMP error, ENOBUFS

    def drain(self):
        """Read every queued reply; returns how many there were."""
        n = 0
        while True:
            try:
                self.sock.recv(65536)
                n += 1
            except BlockingIOError:
                return n
            except OSError:
                continue

    def recv(self, timeout=None, want=None):
        """The next reply for which want(pkt) is true, or None."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            try:
                pkt = self.sock.recv(65536)
            except OSError:
                continue
            if want is None or want(pkt):
                return pkt

    def call(self, pkt, want=None, tries=3):
        for _ in range(tries):
            self.send(pkt)
            rsp = self.recv(want=want)
            if rsp is not None:
                return rsp
        return None

    def alive(self):
        """True when the BMC answers Get Channel Authentication Capabilities."""
        self.drain()
        # Replies to datagrams still queued at the BMC may come first: take
        # only the one to this request (rqSeq 0x3b is this helper's).
        want = (lambda p: parse_lan15_response(p, 0x38, 0x3B) is not None)
        rsp = self.call(get_channel_auth_caps(rq_seq=0x3B), want=want)
        return rsp is not None and parse_lan15_response(rsp)[0] == 0

    def open_session(self, console_sid, tag=0):
        """Status code of an Open Session request, or None without reply."""
        rsp = self.call(open_session(tag, console_sid), want=lambda p: (
            parse_lan20(p) or (None,))[0] == PAYLOAD_OPEN_SESSION_RSP)
        if rsp is None:
            return None, 0
        payload = parse_lan20(rsp)[1]
        if len(payload) < 2:
            return None, 0
        bmc_sid = (struct.unpack_from("<I", payload, 8)[0]
                   if payload[1] == 0 and len(payload) >= 12 else 0)
        return payload[1], bmc_sid


class Session:
    """An RMCP+ session with cipher suite 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96,
    AES-CBC-128), written from IPMI 2.0 sections 13.28-13.32, so that the
    fuzzer can reach the command handlers behind authentication."""

    def __init__(self, client, user, password, console_sid=0x0A0B0C0D):
        self.c = client
        self.user = user.encode()
        self.kuid = password.encode().ljust(20, b"\0")
        self.console_sid = console_sid
        self.sid = 0
        self.seq = 0
        self.rq_seq = 0

    def login(self):
        """True once RAKP 4 has come back; the session is then open."""
        status, sid = self.c.open_session(self.console_sid)
        if status != 0:
            return False
        rm = os.urandom(16)
        role = 0x14  # administrator, name-only lookup
        rsp = self.c.call(rakp1(0, sid, self.user.decode(), priv=role,
                                rand=rm),
                          want=lambda p: (parse_lan20(p) or (None,))[0]
                          == PAYLOAD_RAKP2)
        if rsp is None:
            return False
        p = parse_lan20(rsp)[1]
        if len(p) < 40 or p[1] != 0:
            return False
        rc = p[8:24]
        name = bytes([role, len(self.user)]) + self.user
        sik = hmac.new(self.kuid, rm + rc + name, hashlib.sha1).digest()
        self.k1 = hmac.new(sik, b"\x01" * 20, hashlib.sha1).digest()
        self.k2 = hmac.new(sik, b"\x02" * 20, hashlib.sha1).digest()[:16]
        auth = hmac.new(self.kuid, rc + struct.pack("<I", self.console_sid)
                        + name, hashlib.sha1).digest()
        body = bytes([0, 0, 0, 0]) + struct.pack("<I", sid) + auth
        rsp = self.c.call(lan20(0x14, body),
                          want=lambda p: (parse_lan20(p) or (None,))[0]
                          == 0x15)
        if rsp is None or parse_lan20(rsp)[1][1:2] != b"\0":
            return False
        self.sid = sid
        return True

    def wrap(self, msg, pad=None, payload_type=PAYLOAD_IPMI):
        """@msg (an IPMI request, or another payload) encrypted and
        authenticated; @pad replaces the confidentiality pad length byte
        (to send a bad one)."""
        from cryptography.hazmat.primitives.ciphers import (Cipher,
                                                            algorithms,
                                                            modes)
        n = (16 - (len(msg) + 1) % 16) % 16
        plain = msg + bytes(range(1, n + 1)) + bytes([n if pad is None
                                                      else pad])
        iv = os.urandom(16)
        enc = Cipher(algorithms.AES(self.k2), modes.CBC(iv)).encryptor()
        return self.wrap_raw(iv + enc.update(plain) + enc.finalize(),
                             payload_type)

    def wrap_raw(self, payload, payload_type=PAYLOAD_IPMI):
        """@payload as the encrypted payload of a datagram with a valid
        session header and AuthCode."""
        self.seq += 1
        head = (bytes([AUTH_RMCP_PLUS, 0xC0 | payload_type])
                + struct.pack("<IIH", self.sid, self.seq, len(payload)))
        body = head + payload
        pad = (4 - (len(body) + 2) % 4) % 4
        body += b"\xff" * pad + bytes([pad, 0x07])
        code = hmac.new(self.k1, body, hashlib.sha1).digest()[:12]
        return RMCP_HDR + body + code

    def request(self, netfn, cmd, data=b""):
        self.rq_seq = (self.rq_seq + 1) & 0x3F
        return self.wrap(ipmi_msg(netfn, cmd, data, self.rq_seq))

    def unwrap(self, pkt):
        """The IPMI response inside an encrypted reply, or None."""
        from cryptography.hazmat.primitives.ciphers import (Cipher,
                                                            algorithms,
                                                            modes)
        p = parse_lan20(pkt)
        if p is None or len(p[1]) < 32 or len(p[1]) % 16:
            return None
        dec = Cipher(algorithms.AES(self.k2),
                     modes.CBC(p[1][:16])).decryptor()
        plain = dec.update(p[1][16:]) + dec.finalize()
        return plain[:len(plain) - 1 - plain[-1]]

    def call(self, netfn, cmd, data=b""):
        """(completion code, data) of a command, or None without reply."""
        pkt = self.request(netfn, cmd, data)
        seq = self.rq_seq

        def mine(p):
            m = self.unwrap(p)
            return m is not None and len(m) >= 7 and m[4] >> 2 == seq

        rsp = self.c.call(pkt, want=mine)
        if rsp is None:
            return None
        m = self.unwrap(rsp)
        return m[6], m[7:-1]
