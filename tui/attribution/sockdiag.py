"""The kernel's socket table through netlink sock_diag (pyroute2's DiagSocket).

One dump per family and protocol (TCP and UDP over IPv4 and IPv6) lists every socket of
the network namespace the diag socket was opened in, with its endpoints, state, uid and
inode.  The attributor indexes a dump (``attributor.entry_key``) so a flow's endpoints find
their socket: first the exact connection, then a socket bound to the local address and port
(listeners, unconnected UDP), then one bound to the wildcard address on that port.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

from pyroute2 import DiagSocket
from pyroute2.netlink.diag import SS_ALL

PROTOCOLS = (("TCP", socket.IPPROTO_TCP), ("UDP", socket.IPPROTO_UDP))
FAMILIES = (socket.AF_INET, socket.AF_INET6)
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"

TCP_STATES = {
    1: "established",
    2: "syn-sent",
    3: "syn-recv",
    4: "fin-wait-1",
    5: "fin-wait-2",
    6: "time-wait",
    7: "close",
    8: "close-wait",
    9: "last-ack",
    10: "listen",
    11: "closing",
}


@dataclass(frozen=True, slots=True)
class SockEntry:
    """One socket from a dump; addresses as packed bytes (IPv4-mapped IPv6 folded to IPv4)."""

    proto: str  # "TCP" | "UDP"
    local: bytes
    lport: int
    remote: bytes
    rport: int
    state: int
    uid: int
    inode: int  # 0 for sockets no file holds (time-wait, orphans)

    @property
    def state_name(self) -> str:
        return TCP_STATES.get(self.state, str(self.state)) if self.proto == "TCP" else ""


def pack_address(text: str) -> bytes:
    """Packed bytes of an address as pyroute2 prints it; IPv4-mapped IPv6 becomes IPv4."""
    if ":" in text:
        raw = socket.inet_pton(socket.AF_INET6, text)
        return raw[12:] if raw.startswith(_V4_MAPPED) else raw
    return socket.inet_pton(socket.AF_INET, text)


NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
# Time-wait and syn-recv entries hold no file (inode 0): nothing to attribute, and a busy
# server has tens of thousands of them, so they are not asked for.
STATES = SS_ALL & ~((1 << 6) | (1 << 3))
_NLMSG = struct.Struct("=IHHII")
_REQ = struct.Struct("=BBBBI4x32sI8s")  # inet_diag_req_v2 (ports zero: a dump takes all)
_UID_INODE = struct.Struct("=II")
_PORTS = struct.Struct("!HH")


class SockDiag:
    """A sock_diag netlink socket in the namespace of the thread that makes it.

    ``fast`` (the default) reads the kernel's replies with ``struct`` straight from a
    netlink socket; pyroute2's DiagSocket (``fast=False``) decodes every attribute of every
    socket into objects, about 40 µs a socket — 90 ms a dump for 2,000 sockets, too much
    for a refresher that runs twice a second beside the capture.  Tests check that both
    give the same sockets.
    """

    def __init__(self, fast: bool = True) -> None:
        self.fast = fast
        self._seq = 0
        if fast:
            self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
            self._sock.settimeout(5.0)
            self._sock.bind((0, 0))
            self._buf = bytearray(1 << 16)
        else:
            self._ds = DiagSocket()
            self._ds.bind()

    def dump(self) -> list[SockEntry]:
        """Every TCP and UDP socket, IPv4 and IPv6, in every state that has a file."""
        out: list[SockEntry] = []
        for proto, num in PROTOCOLS:
            for family in FAMILIES:
                if self.fast:
                    self._dump_fast(family, proto, num, out)
                else:
                    self._dump_pyroute2(family, proto, num, out)
        return out

    def _dump_fast(self, family: int, proto: str, num: int, out: list[SockEntry]) -> None:
        self._seq += 1
        seq = self._seq
        body = _REQ.pack(family, num, 0, 0, STATES, b"", 0, b"\xff" * 8)
        self._sock.send(
            _NLMSG.pack(_NLMSG.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body
        )
        buf = self._buf
        view = memoryview(buf)
        alen = 4 if family == socket.AF_INET else 16
        append = out.append
        while True:
            n = self._sock.recv_into(view)
            off = 0
            while off + 16 <= n:
                length, mtype, _flags, mseq, _pid = _NLMSG.unpack_from(buf, off)
                if length < 16 or off + length > n:
                    break
                if mseq == seq:
                    if mtype == NLMSG_DONE:
                        return
                    if mtype == NLMSG_ERROR:
                        err = -struct.unpack_from("=i", buf, off + 16)[0]
                        if err:
                            raise OSError(err, f"sock_diag: {os.strerror(err)}")
                        return
                    if mtype == SOCK_DIAG_BY_FAMILY and length >= 16 + 72:
                        o = off + 16
                        sport, dport = _PORTS.unpack_from(buf, o + 4)
                        src = bytes(buf[o + 8 : o + 8 + alen])
                        dst = bytes(buf[o + 24 : o + 24 + alen])
                        if alen == 16:
                            if src[:12] == _V4_MAPPED:
                                src = src[12:]
                            if dst[:12] == _V4_MAPPED:
                                dst = dst[12:]
                        uid, inode = _UID_INODE.unpack_from(buf, o + 64)
                        append(SockEntry(proto, src, sport, dst, dport, buf[o + 1], uid, inode))
                off += (length + 3) & ~3

    def _dump_pyroute2(self, family: int, proto: str, num: int, out: list[SockEntry]) -> None:
        for msg in self._ds.get_sock_stats(family=family, protocol=num, states=STATES):
            try:
                out.append(
                    SockEntry(
                        proto,
                        pack_address(msg["idiag_src"]),
                        msg["idiag_sport"],
                        pack_address(msg["idiag_dst"]),
                        msg["idiag_dport"],
                        msg["idiag_state"],
                        msg["idiag_uid"],
                        msg["idiag_inode"],
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a message we cannot read is one socket less, not a failure

    def close(self) -> None:
        try:
            if self.fast:
                self._sock.close()
            else:
                self._ds.close()
        except Exception:
            pass

    def __enter__(self) -> SockDiag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
