"""A synthetic traffic mix for the benchmarks: N frames over F flows, built with ``struct``.

The mix is what a busy host or a small office uplink carries: TLS and HTTP over TCP (IPv4
and IPv6) with real ClientHellos and Host headers, bulk TCP on unknown ports, DNS queries
and answers, QUIC-port and RTP datagrams, unknown UDP, ICMP and ICMPv6 echoes.  Flows are
short and long (2 to 40 packets) and overlap in time (see ``_arrivals``), so the flow table
holds every flow at once at the end.  Addresses come from the benchmarking range
198.18.0.0/15 and the documentation ranges (203.0.113.0/24, 2001:db8::/32): these frames
are never sent anywhere but a test namespace.

Deterministic (seeded): the same arguments give the same frames, so runs compare.
"""

from __future__ import annotations

import random
import ssl
import struct
from collections.abc import Iterable

T0_NS = 1_700_000_000 * 10**9
SPACING_NS = 10_000  # 100,000 frames per second of capture time

_MAC_C = bytes.fromhex("020000000001")
_MAC_S = bytes.fromhex("020000000002")
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_IP6 = struct.Struct("!IHBB16s16s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")

SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def ether(src_mac: bytes, dst_mac: bytes, ethertype: int) -> bytes:
    return dst_mac + src_mac + ethertype.to_bytes(2, "big")


def ip_checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``, for headers that tools check."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: bytes, dst: bytes, proto: int, payload: bytes) -> bytes:
    return _IP4.pack(0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0, src, dst) + payload


def ipv6(src: bytes, dst: bytes, proto: int, payload: bytes) -> bytes:
    return _IP6.pack(0x60000000, len(payload), proto, 64, src, dst) + payload


def tcp(sport: int, dport: int, flags: int, data: bytes = b"", seq: int = 1) -> bytes:
    return _TCP.pack(sport, dport, seq, 1, 0x50, flags, 65535, 0, 0) + data


def udp(sport: int, dport: int, data: bytes) -> bytes:
    return _UDP.pack(sport, dport, 8 + len(data), 0) + data


def icmp_echo(v6: bool, reply: bool, ident: int, data: bytes) -> bytes:
    kind = (129 if reply else 128) if v6 else (0 if reply else 8)
    return struct.pack("!BBHHH", kind, 0, 0, ident, 1) + data


def client_hello(name: str) -> bytes:
    """A real TLS ClientHello for ``name`` (made by Python's ssl, never sent)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def dns_message(name: str, answer: bytes | None, ident: int) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00\x00\x01\x00\x01"
    if answer is None:
        return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + q
    rr = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + answer
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + q + rr


NAMES = (
    "www.example.com",
    "r3---sn-abc.googlevideo.com",
    "imap.example.net",
    "cdn.discordapp.com",
    "api.steampowered.com",
    "ipv4-c001.nflxvideo.net",
    "outlook.office365.com",
    "static.example.org",
)

# (kind, share of flows)
KINDS = (
    ("tls4", 0.22),
    ("http4", 0.06),
    ("tls6", 0.08),
    ("bulk4", 0.10),
    ("bulk6", 0.04),
    ("dns4", 0.14),
    ("dns6", 0.03),
    ("quic4", 0.07),
    ("rtp4", 0.05),
    ("udp6", 0.05),
    ("icmp4", 0.10),
    ("icmp6", 0.06),
)


class _Flow:
    """The frames one flow sends: its first packets, then data repeating each way."""

    __slots__ = ("data", "first")

    def __init__(self, first: list[tuple[bytes, int]], data: list[tuple[bytes, int]]) -> None:
        self.first = first
        self.data = data

    def frame(self, k: int) -> tuple[bytes, int]:
        if k < len(self.first):
            return self.first[k]
        return self.data[(k - len(self.first)) % len(self.data)]


def _build_flow(i: int, kind: str, rng: random.Random, hellos: dict[str, bytes]) -> _Flow:
    c4 = bytes((198, 18 + (i >> 16 & 1), i >> 8 & 255, i & 255))
    s4 = bytes((203, 0, 113, 1 + i % 200))
    c6 = b"\x20\x01\x0d\xb8\x00\x01" + bytes(6) + i.to_bytes(4, "big")
    s6 = b"\x20\x01\x0d\xb8\x00\x02" + bytes(9) + bytes((1 + i % 200,))
    sport = 1024 + (i * 7) % 60000
    v6 = kind.endswith("6")
    if v6:
        e_cs, e_sc = ether(_MAC_C, _MAC_S, 0x86DD), ether(_MAC_S, _MAC_C, 0x86DD)

        def cs(proto: int, pl: bytes) -> tuple[bytes, int]:
            return (e_cs + ipv6(c6, s6, proto, pl), 1)

        def sc(proto: int, pl: bytes) -> tuple[bytes, int]:
            return (e_sc + ipv6(s6, c6, proto, pl), 0)
    else:
        e_cs, e_sc = ether(_MAC_C, _MAC_S, 0x0800), ether(_MAC_S, _MAC_C, 0x0800)

        def cs(proto: int, pl: bytes) -> tuple[bytes, int]:
            return (e_cs + ipv4(c4, s4, proto, pl), 1)

        def sc(proto: int, pl: bytes) -> tuple[bytes, int]:
            return (e_sc + ipv4(s4, c4, proto, pl), 0)

    size = rng.choice((40, 100, 200, 500, 1200))
    if kind in ("tls4", "tls6", "http4", "bulk4", "bulk6"):
        dport = {"tls4": 443, "tls6": 443, "http4": 80}.get(kind, 9000 + i % 1000)
        first = [cs(6, tcp(sport, dport, SYN)), sc(6, tcp(dport, sport, SYN | ACK)), cs(6, tcp(sport, dport, ACK))]
        if kind.startswith("tls"):
            name = NAMES[i % len(NAMES)]
            first.append(cs(6, tcp(sport, dport, PSH | ACK, hellos[name])))
            first.append(sc(6, tcp(dport, sport, PSH | ACK, b"\x16\x03\x03\x00\x7a\x02" + bytes(120))))
            rec = b"\x17\x03\x03" + (size - 5).to_bytes(2, "big") + bytes(size - 5)
            data = [sc(6, tcp(dport, sport, PSH | ACK, rec)), cs(6, tcp(sport, dport, ACK))]
        elif kind == "http4":
            host = NAMES[i % len(NAMES)]
            req = f"GET /p/{i} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bench\r\n\r\n".encode()
            first.append(cs(6, tcp(sport, dport, PSH | ACK, req)))
            resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9000\r\n\r\n"
            first.append(sc(6, tcp(dport, sport, PSH | ACK, resp + bytes(size))))
            data = [sc(6, tcp(dport, sport, ACK, bytes(size))), cs(6, tcp(sport, dport, ACK))]
        else:
            data = [sc(6, tcp(dport, sport, ACK, bytes(size))), cs(6, tcp(sport, dport, ACK))]
        return _Flow(first, data)
    if kind in ("dns4", "dns6"):
        name = f"h{i % 5000}.{NAMES[i % len(NAMES)]}"
        q = cs(17, udp(sport, 53, dns_message(name, None, i & 0xFFFF)))
        a = sc(17, udp(53, sport, dns_message(name, bytes((203, 0, 113, 1 + i % 200)), i & 0xFFFF)))
        return _Flow([q, a], [q, a])
    if kind == "quic4":
        pl = bytes((0x40 | i & 0x3F,)) + bytes(size)  # short-header QUIC: the port decides
        return _Flow([], [cs(17, udp(sport, 443, pl)), sc(17, udp(443, sport, pl))])
    if kind == "rtp4":
        frames = []
        for k in range(4):
            rtp = bytes((0x80, 0)) + struct.pack("!HII", k, k * 160, i) + bytes(160)
            frames.append(cs(17, udp(16384 + i % 16000, 16384 + (i * 3) % 16000, rtp)))
        return _Flow([], frames)
    if kind == "udp6":
        port = 30000 + i % 9000
        return _Flow([], [cs(17, udp(sport, port, bytes(size))), sc(17, udp(port, sport, b"ok"))])
    # icmp4 / icmp6
    proto = 58 if v6 else 1
    return _Flow(
        [],
        [cs(proto, icmp_echo(v6, False, i & 0xFFFF, bytes(56))), sc(proto, icmp_echo(v6, True, i & 0xFFFF, bytes(56)))],
    )


def _counts(flows: int, frames: int, rng: random.Random) -> list[int]:
    """Packets per flow: many short flows, some long ones, summing to ``frames``."""
    counts = []
    for _ in range(flows):
        r = rng.random()
        counts.append(rng.randint(2, 4) if r < 0.5 else rng.randint(6, 14) if r < 0.9 else rng.randint(20, 40))
    total = sum(counts)
    scaled = [max(1, c * frames // total) for c in counts]
    short = frames - sum(scaled)
    k = 0
    while short != 0:  # spread the rounding over the flows
        j = k % flows
        if short > 0:
            scaled[j] += 1
            short -= 1
        elif scaled[j] > 1:
            scaled[j] -= 1
            short += 1
        k += 1
    return scaled


def _arrivals(counts: list[int], frames: int, spread: bool, rng: random.Random) -> list[int]:
    """The flow of each frame, in capture order.

    As on a real link, a flow's packets come close together: each flow starts at a random
    point and lasts a span that grows with its length (a DNS exchange within ~100 frames, a
    long transfer over up to ~50,000).  Flows overlap, and none ends before the capture does,
    so the table still holds every one of them at the end.  ``spread`` is the worst case
    for caches instead: every flow's packets scattered uniformly over the whole capture.
    """
    if spread:
        order = [i for i, c in enumerate(counts) for _ in range(c)]
        rng.shuffle(order)
        return order
    events: list[tuple[float, int]] = []
    for i, c in enumerate(counts):
        span = rng.uniform(2, 100) if c <= 4 else rng.uniform(100, 5_000) if c <= 14 else rng.uniform(1_000, 50_000)
        start = rng.uniform(0, frames)
        events.extend((start + rng.random() * span, i) for _ in range(c))
    events.sort()
    return [i for _pos, i in events]


def synthetic_mix(frames: int = 1_000_000, flows: int = 100_000, seed: int = 8, spread: bool = False) -> list[tuple]:
    """``frames`` engine frames (ts_ns, ifindex, direction, wire_len, data, linktype) over ``flows`` flows."""
    flows = max(1, min(flows, frames))
    rng = random.Random(seed)
    hellos = {n: client_hello(n) for n in NAMES}
    kinds: list[str] = []
    for kind, share in KINDS:
        kinds += [kind] * round(share * flows)
    kinds = (kinds + ["tls4"] * flows)[:flows]
    rng.shuffle(kinds)
    built = [_build_flow(i, kinds[i], rng, hellos) for i in range(flows)]
    order = _arrivals(_counts(flows, frames, rng), frames, spread, rng)
    seen = [0] * flows
    out = []
    append = out.append
    ts = T0_NS
    for i in order:
        k = seen[i]
        seen[i] = k + 1
        data, direction = built[i].frame(k)
        append((ts, 1, direction, len(data), data, 1))
        ts += SPACING_NS
    return out


def distinct_flows(n: int, start: int = 0) -> Iterable[tuple]:
    """``n`` frames, each a new UDP flow (a scan or a flood of new conversations)."""
    e = ether(_MAC_C, _MAC_S, 0x0800)
    pl = bytes(18)
    ts = T0_NS
    for i in range(start, start + n):
        src = bytes((198, 18 + (i >> 24 & 1), i >> 16 & 255, i >> 8 & 255))
        data = e + ipv4(src, bytes((203, 0, 113, i & 255)), 17, udp(1024 + (i & 0x7FFF), 53000, pl))
        yield (ts, 1, 1, len(data), data, 1)
        ts += SPACING_NS


_PCAP_HDR = struct.Struct("<IHHiIII")
_REC_HDR = struct.Struct("<IIII")


def write_pcap(path: str, frames: Iterable[tuple], linktype: int = 1) -> int:
    """Write frames as a classic microsecond pcap (for tcpdump -r / tshark -r); returns bytes written."""
    with open(path, "wb") as fh:
        fh.write(_PCAP_HDR.pack(0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        chunk = []
        n = 24
        for ts, _if, _d, wlen, data, _lt in frames:
            sec, ns = divmod(ts, 1_000_000_000)
            chunk.append(_REC_HDR.pack(sec, ns // 1000, len(data), wlen))
            chunk.append(data)
            n += 16 + len(data)
            if len(chunk) >= 8192:
                fh.write(b"".join(chunk))
                chunk.clear()
        fh.write(b"".join(chunk))
    return n
