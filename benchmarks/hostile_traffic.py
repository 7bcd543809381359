"""Attack and soak traffic as raw Ethernet frames, and a bounded sender for test namespaces.

Frames are built with ``struct`` (scapy is far too slow for floods).  Addresses inside
the frames are random (that is the attack), but they are only ever sent out of the
inside end of a test veth pair, so they reach nothing but the capture under test.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Iterator

ETH_HDR = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")


def _ip4(proto: int, src: bytes, dst: bytes, payload_len: int, ident: int = 1, frag: int = 0) -> bytes:
    return _IP4.pack(0x45, 0, 20 + payload_len, ident, frag, 64, proto, 0, src, dst)


def tcp_frame(src: bytes, sport: int, dst: bytes, dport: int, flags: int = 0x02, payload: bytes = b"") -> bytes:
    l4 = _TCP.pack(sport, dport, 1, 0, 0x50, flags, 65535, 0, 0) + payload
    return ETH_HDR + _ip4(6, src, dst, len(l4)) + l4


def udp_frame(src: bytes, sport: int, dst: bytes, dport: int, payload: bytes) -> bytes:
    l4 = _UDP.pack(sport, dport, 8 + len(payload), 0) + payload
    return ETH_HDR + _ip4(17, src, dst, len(l4)) + l4


def icmp_echo(src: bytes, dst: bytes, seq: int) -> bytes:
    l4 = struct.pack("!BBHHH", 8, 0, 0, 1, seq & 0xFFFF) + b"x" * 32
    return ETH_HDR + _ip4(1, src, dst, len(l4)) + l4


def dns_response(name: str, qid: int, addr: bytes) -> bytes:
    """A DNS answer for ``name`` giving A ``addr`` (what teaches the classifier a name)."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return (
        struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0)
        + qname
        + b"\x00\x01\x00\x01"
        + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04"
        + addr
    )


def _rand_ip(rnd: random.Random) -> bytes:
    return rnd.getrandbits(32).to_bytes(4, "big")


def syn_flood(n: int, dst: bytes, rnd: random.Random) -> Iterator[bytes]:
    """SYNs from random sources and ports to random ports of ``dst``: a new flow each."""
    for _ in range(n):
        yield tcp_frame(_rand_ip(rnd), rnd.randrange(1024, 65536), dst, rnd.randrange(1, 65536))


def dns_flood(n: int, server: bytes, client: bytes | None, rnd: random.Random) -> Iterator[bytes]:
    """DNS answers with random names and addresses (name caches must stay bounded).

    ``client`` None: a random client address per answer too, so each answer is a new flow.
    """
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    for i in range(n):
        name = "".join(rnd.choice(letters) for _ in range(12)) + ".flood.example"
        to = client or _rand_ip(rnd)
        yield udp_frame(server, 53, to, rnd.randrange(1024, 65536), dns_response(name, i & 0xFFFF, _rand_ip(rnd)))


def tiny_fragments(n: int, dst: bytes, rnd: random.Random) -> Iterator[bytes]:
    """8-byte IPv4 fragments (first, middle and last pieces) with random sources and ids, never completed."""
    for i in range(n):
        offset = rnd.randrange(0, 8000) // 8
        more = 0x2000 if i % 3 else 0
        frag = more | offset
        payload = rnd.getrandbits(64).to_bytes(8, "big")
        yield ETH_HDR + _ip4(17, _rand_ip(rnd), dst, 8, ident=rnd.randrange(65536), frag=frag) + payload


def mixed(n_flows: int, client: bytes, server: bytes, rnd: random.Random) -> list[bytes]:
    """A fixed pool of ordinary frames over ``n_flows`` flows: web, DNS, QUIC-ish UDP, ICMP, plain TCP."""
    pool: list[bytes] = []
    get = b"GET / HTTP/1.1\r\nHost: soak.example\r\n\r\n"
    for i in range(n_flows):
        sport = 20000 + i
        kind = i % 5
        if kind == 0:
            pool.append(tcp_frame(client, sport, server, 80, 0x18, get))
            pool.append(tcp_frame(server, 80, client, sport, 0x18, b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 400))
        elif kind == 1:
            name = f"host{i % 500}.soak.example"
            pool.append(udp_frame(server, 53, client, sport, dns_response(name, i & 0xFFFF, server)))
        elif kind == 2:
            pool.append(udp_frame(client, sport, server, 443, b"\x40" + rnd.randbytes(1000)))
        elif kind == 3:
            pool.append(icmp_echo(client, server, i))
        else:
            pool.append(tcp_frame(client, sport, server, 5001, 0x10, rnd.randbytes(1200)))
    return pool


class RawSender:
    """An AF_PACKET socket bound to ``iface`` (create it inside the namespace) sending whole frames."""

    def __init__(self, iface: str) -> None:
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.bind((iface, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sent = 0
        self.failed = 0

    def send(self, frames, pps: float | None = None, deadline: float | None = None) -> int:
        """Send ``frames`` (bounded by their count and by ``deadline``), paced to ``pps`` if given."""
        start = time.monotonic()
        n = 0
        for frame in frames:
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                self.sock.send(frame)
                self.sent += 1
            except OSError:  # ENOBUFS under load, ENETDOWN while a link flaps: counted, not fatal
                self.failed += 1
            n += 1
            if pps and n % 64 == 0:
                ahead = n / pps - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        return n

    def close(self) -> None:
        self.sock.close()
