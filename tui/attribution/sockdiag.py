"""The kernel's socket table through netlink sock_diag (pyroute2's DiagSocket).

One dump per family and protocol (TCP and UDP over IPv4 and IPv6) lists every socket of
the network namespace the diag socket was opened in, with its endpoints, state, uid and
inode.  ``SocketTable`` indexes a dump so a flow's endpoints find their socket: first the
exact connection, then a socket bound to the local address and port (listeners,
unconnected UDP), then one bound to the wildcard address on that port.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from pyroute2 import DiagSocket
from pyroute2.netlink.diag import SS_ALL

PROTOCOLS = (("TCP", socket.IPPROTO_TCP), ("UDP", socket.IPPROTO_UDP))
FAMILIES = (socket.AF_INET, socket.AF_INET6)
_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_ANY4 = b"\0" * 4
_ANY6 = b"\0" * 16

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


def is_any(addr: bytes) -> bool:
    return addr in (_ANY4, _ANY6)


class SockDiag:
    """A sock_diag netlink socket in the namespace of the thread that makes it."""

    def __init__(self) -> None:
        self._ds = DiagSocket()
        self._ds.bind()

    def dump(self) -> list[SockEntry]:
        """Every TCP and UDP socket, IPv4 and IPv6, in any state."""
        out: list[SockEntry] = []
        for proto, num in PROTOCOLS:
            for family in FAMILIES:
                for msg in self._ds.get_sock_stats(family=family, protocol=num, states=SS_ALL):
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
        return out

    def close(self) -> None:
        try:
            self._ds.close()
        except Exception:
            pass

    def __enter__(self) -> SockDiag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SocketTable:
    """A dump indexed for matching flow endpoints to sockets."""

    def __init__(self, entries: list[SockEntry]) -> None:
        self.entries = entries
        self.exact: dict[tuple, SockEntry] = {}
        self.bound: dict[tuple, SockEntry] = {}
        self.wild: dict[tuple, SockEntry] = {}
        for e in entries:
            if e.rport or not is_any(e.remote):
                key = (e.proto, e.local, e.lport, e.remote, e.rport)
                old = self.exact.get(key)
                if old is None or (not old.inode and e.inode):
                    self.exact[key] = e  # a live socket beats a time-wait ghost on the same tuple
            elif is_any(e.local):
                self.wild.setdefault((e.proto, e.lport, len(e.local)), e)
            else:
                self.bound.setdefault((e.proto, e.local, e.lport), e)

    def __len__(self) -> int:
        return len(self.entries)

    def connected(self, proto: str, local: bytes, lport: int, remote: bytes, rport: int) -> SockEntry | None:
        """The socket of exactly this connection, seen from ``local``."""
        return self.exact.get((proto, local, lport, remote, rport))

    def listening(self, proto: str, local: bytes, lport: int) -> SockEntry | None:
        """A socket bound to ``local``:``lport`` (or to the wildcard address on that port)."""
        e = self.bound.get((proto, local, lport))
        if e is None:
            e = self.wild.get((proto, lport, len(local)))
        if e is None and len(local) == 4:
            e = self.wild.get((proto, lport, 16))  # a dual-stack socket on :: takes IPv4 too
        return e
