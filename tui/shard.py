"""Which worker a frame belongs to, when a capture is split over several engines.

Every frame of a flow must reach the same worker, and so should the flows that teach each
other: the classifier learns names across flows (a DNS answer names the address a later TLS
or QUIC flow goes to; an FTP control session announces its data connections), and a worker
only knows what its own flows taught it.  Hashing the whole 5-tuple (the kernel's
PACKET_FANOUT_HASH) would scatter a client's DNS query and its next connection over
different workers.  So the key is the flow's *client* address, the same for both directions:

* TCP, UDP, SCTP, UDP-Lite with ports: the endpoint with the higher port (the ephemeral side;
  a server listens on the lower one).  Equal ports: the lower address.
* Everything else with IP addresses (ICMP, fragments after the first, other protocols): the
  lower address of the pair.  IPv6 extension headers are walked as tui.decode walks them
  (the BPF program for live capture reads a fragment header only; see fanout_program).
* Frames without IP (ARP, LLDP, STP...): worker 0.

A host's DNS lookups, its connections and its FTP data flows then land in one worker, as on a
single engine.  What can still differ from one engine: a name one client taught (its SNI) used
by another client's flow to the same server, and peer-to-peer flows between two high ports.

The same function exists twice: ``route`` in Python for file replay (each worker reads the
file and keeps its own frames) and ``fanout_program`` as a classic BPF program the kernel runs
per packet for live capture (PACKET_FANOUT_CBPF): the socket of the group it returns gets the
packet.  ``tests/test_parallel.py`` checks that the two agree.
"""

from __future__ import annotations

import struct

from tui import linktypes as lt

MIX = 0x9E3779B1  # Knuth's multiplicative hash constant (32-bit)
_PORTS = frozenset({6, 17, 132, 136})  # TCP, UDP, SCTP, UDP-Lite
_VLAN = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})  # as tui.decode, which reads up to 4 tags
_HH = struct.Struct("!HH")
_I4 = struct.Struct("!IIII")


def mix(x: int, n: int) -> int:
    """Worker of a 32-bit address value: what the BPF program computes (32-bit arithmetic)."""
    return (((x * MIX) & 0xFFFFFFFF) >> 16) % n


def _value(addr: bytes) -> int:
    if len(addr) == 4:
        return int.from_bytes(addr, "big")
    a, b, c, d = _I4.unpack_from(addr)
    return a ^ b ^ c ^ d


def _ip_offset(data: bytes, linktype: int) -> int:
    """Offset of the IP header of a frame (as tui.decode finds it), or -1 when it carries none."""
    n = len(data)
    if linktype == lt.ETHERNET:
        if n < 14:
            return -1
        et = (data[12] << 8) | data[13]
        off = 14
        for _ in range(4):
            if et not in _VLAN or off + 4 > n:
                break
            et = (data[off + 2] << 8) | data[off + 3]
            off += 4
    elif linktype == lt.LINUX_SLL:
        if n < 16:
            return -1
        et, off = (data[14] << 8) | data[15], 16
    elif linktype == lt.LINUX_SLL2:
        if n < 20:
            return -1
        et, off = (data[0] << 8) | data[1], 20
    elif linktype in lt.RAW_IP:
        return 0
    elif linktype in (lt.NULL, lt.LOOP):
        return 4
    else:
        return -1
    return off if et in (0x0800, 0x86DD) else -1


def route(data: bytes, linktype: int, n: int) -> int:
    """The worker (0 .. n-1) of a frame; see the module docstring for the rule."""
    return route_teach(data, linktype, n) & ~TEACHES if n > 1 else 0


TEACHES = 1 << 16  # flag in route_teach's answer: the frame may teach the classifier a name
NAME_PORTS = frozenset({53, 5353, 5355, 21})  # DNS, mDNS, LLMNR answers; FTP control announces data flows
_HTTP_FIRST = frozenset(b"GPHDOCT")
_IP6_EXT = frozenset({0, 43, 60, 135, 139, 140, 253, 254})  # as tui.decode: skipped to reach the transport
_IP6_WALK = _IP6_EXT | {44, 51}  # ... with the fragment header and AH
_MAX_EXT = 8
_L4_HEADER = {6: 20, 17: 8, 136: 8, 132: 12}  # bytes tui.decode needs before it reads the ports
# The common frames, from byte 16 of an Ethernet frame: IPv4 without options (total length,
# fragment field, protocol, addresses, ports) and, from byte 18, IPv6 (payload length, next
# header, addresses as words, ports).
_E4 = struct.Struct("!H2xHxB2xIIHH")
_E6 = struct.Struct("!HB1x8IHH")


def route_teach(data: bytes, linktype: int, n: int) -> int:
    """``route`` plus the TEACHES flag for frames that may teach names across flows.

    Those are DNS on its ports, FTP control, TCP payloads that open with a TLS handshake
    record or an HTTP line, and QUIC long-header (Initial) datagrams: everything the
    classifier learns addresses and names from.  A superset is fine (it costs time only).
    """
    size = len(data)
    if linktype == 1 and size >= 38:  # fast paths, one unpack each; route_general gives the same
        if data[12] == 8 and data[13] == 0 and data[14] == 0x45:
            total, frag, proto, a, b, sport, dport = _E4.unpack_from(data, 16)
            q = 34
            end = 14 + total if 14 + total < size else size
            if total < 20 or frag & 0x1FFF:
                q = -1
        elif data[12] == 0x86 and data[13] == 0xDD and size >= 58 and data[14] >> 4 == 6 and data[20] not in _IP6_WALK:
            plen, proto, a1, a2, a3, a4, b1, b2, b3, b4, sport, dport = _E6.unpack_from(data, 18)
            a = a1 ^ a2 ^ a3 ^ a4
            b = b1 ^ b2 ^ b3 ^ b4
            q = 54
            end = 54 + plen if plen and 54 + plen < size else size
        else:
            q = 0
        if q:
            need = _L4_HEADER.get(proto)
            if q < 0 or need is None or q + need > end:
                return (((a if a <= b else b) * MIX & 0xFFFFFFFF) >> 16) % n
            if sport == dport:
                k = (((a if a <= b else b) * MIX & 0xFFFFFFFF) >> 16) % n
            else:
                k = (((a if sport > dport else b) * MIX & 0xFFFFFFFF) >> 16) % n
            return k | _teaches(data, proto, q, sport, dport, size)
    return route_general(data, linktype, n)


def _teaches(data: bytes, proto: int, p: int, sport: int, dport: int, size: int) -> int:
    if sport in NAME_PORTS or dport in NAME_PORTS:
        return TEACHES
    if proto == 6:
        if p + 13 <= size:
            q = p + (data[p + 12] >> 4) * 4
            if q < size and (data[q] == 0x16 or data[q] in _HTTP_FIRST):
                return TEACHES
    elif proto == 17:
        q = p + 8
        if (q < size and data[q] & 0xC0 == 0xC0) or data[q + 9 : q + 11] == b"Q0":
            return TEACHES
    return 0


def route_general(data: bytes, linktype: int, n: int) -> int:
    """route_teach without its fast paths: every link type, header fields read as tui.decode reads them.

    A frame decode gives no ports (cut short, a later fragment, no transport it knows) takes
    the pair rule, as decode keys its flow without ports; one without addresses, worker 0.
    """
    size = len(data)
    off = _ip_offset(data, linktype)
    if off < 0 or off >= size:
        return 0
    ver = data[off] >> 4
    if ver == 4:
        if off + 20 > size:
            return 0
        a = int.from_bytes(data[off + 12 : off + 16], "big")
        b = int.from_bytes(data[off + 16 : off + 20], "big")
        ihl = (data[off] & 15) * 4
        total = (data[off + 2] << 8) | data[off + 3]
        p = off + ihl
        end = min(off + total, size)
        proto = data[off + 9]
        ports = ihl >= 20 and total >= ihl and p <= size and not ((data[off + 6] << 8) | data[off + 7]) & 0x1FFF
    elif ver == 6:
        if off + 40 > size:
            return 0
        a = _value(data[off + 8 : off + 24])
        b = _value(data[off + 24 : off + 40])
        proto = data[off + 6]
        p = off + 40
        plen = (data[off + 4] << 8) | data[off + 5]
        end = min(p + plen, size) if plen else size
        ports = True
        for _ in range(_MAX_EXT + 1):  # extension headers as tui.decode walks them
            if proto in _IP6_EXT:
                if p + 2 > end:
                    ports = False
                    break
                proto, p = data[p], p + (data[p + 1] + 1) * 8
            elif proto == 44:
                if p + 8 > end or ((data[p + 2] << 8) | data[p + 3]) & 0xFFF8:
                    ports = False  # cut short, or a later fragment: no transport header
                    break
                proto, p = data[p], p + 8
            elif proto == 51:
                if p + 2 > end:
                    ports = False
                    break
                proto, p = data[p], p + (data[p + 1] + 2) * 4
            else:
                break
        else:
            ports = False
    else:
        return 0
    need = _L4_HEADER.get(proto)
    if not ports or need is None or p + need > end:
        return mix(a if a <= b else b, n)
    sport, dport = _HH.unpack_from(data, p)
    k = mix((a if a <= b else b) if sport == dport else (a if sport > dport else b), n)
    return k | _teaches(data, proto, p, sport, dport, size)


# ------------------------------------------------------------------ live: classic BPF
SKF_AD_OFF = -0x1000
SKF_AD_PROTOCOL = 0
SKF_NET_OFF = -0x100000
_LD, _LDX, _ST, _STX, _ALU, _JMP, _RET, _MISC = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
_W, _H, _B = 0x00, 0x08, 0x10
_ABS, _IND, _MEM, _IMM = 0x20, 0x40, 0x60, 0x00
_K, _X, _A = 0x00, 0x08, 0x10
_ADD, _MUL, _DIV, _AND, _LSH, _RSH, _MOD, _XOR = 0x00, 0x20, 0x30, 0x50, 0x60, 0x70, 0x90, 0xA0
_JEQ, _JGT, _JGE, _JSET, _JA = 0x10, 0x20, 0x30, 0x40, 0x00
_TAX, _TXA = 0x00, 0x80


class _Asm:
    """A tiny assembler for classic BPF with labels (jumps are forward only, as BPF wants)."""

    def __init__(self) -> None:
        self.code: list[list] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int = 0, jt: str | int = 0, jf: str | int = 0) -> None:
        self.code.append([code, jt, jf, k & 0xFFFFFFFF])

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def build(self) -> list[tuple[int, int, int, int]]:
        out = []
        for i, (code, jt, jf, k) in enumerate(self.code):
            jt = self.labels[jt] - i - 1 if isinstance(jt, str) else jt
            jf = self.labels[jf] - i - 1 if isinstance(jf, str) else jf
            if code == _JMP | _JA:
                k, jt, jf = jt, 0, 0
            if not (0 <= jt < 256 and 0 <= jf < 256):
                raise ValueError("BPF jump out of range")
            out.append((code, jt, jf, k))
        return out


def fanout_program(n: int) -> list[tuple[int, int, int, int]]:
    """The rule of ``route`` as a classic BPF program for PACKET_FANOUT_CBPF.

    The kernel runs it on each packet before any socket sees it and gives the packet to
    member ``return value % n`` of the group.  Loads are relative to the network header
    (SKF_NET_OFF) and the ethertype comes from the packet's metadata, so the same program
    works on received and sent packets, with VLAN tags stripped by the NIC or not.
    """
    a = _Asm()
    net = SKF_NET_OFF
    a.op(_LD | _H | _ABS, SKF_AD_OFF + SKF_AD_PROTOCOL)
    a.op(_JMP | _JEQ | _K, 0x0800, "v4", 0)
    a.op(_JMP | _JEQ | _K, 0x86DD, "v6", "zero")
    # ---- IPv4: M[0] = src, M[1] = dst
    a.label("v4")
    a.op(_LD | _W | _ABS, net + 12)
    a.op(_ST, 0)
    a.op(_LD | _W | _ABS, net + 16)
    a.op(_ST, 1)
    a.op(_LD | _H | _ABS, net + 6)
    a.op(_JMP | _JSET | _K, 0x1FFF, "pair", 0)
    a.op(_LD | _B | _ABS, net + 9)
    a.op(_JMP | _JEQ | _K, 6, "v4ports", 0)
    a.op(_JMP | _JEQ | _K, 17, "v4ports", 0)
    a.op(_JMP | _JEQ | _K, 132, "v4ports", 0)
    a.op(_JMP | _JEQ | _K, 136, "v4ports", "pair")
    a.label("v4ports")
    a.op(_LD | _B | _ABS, net + 0)
    a.op(_ALU | _AND | _K, 0x0F)
    a.op(_ALU | _LSH | _K, 2)
    a.op(_MISC | _TAX)
    a.op(_JMP | _JA, 0, "ports", 0)
    # ---- IPv6: addresses folded to 32 bits (XOR of the four words), no extension headers
    a.label("v6")
    for slot, base in ((0, 8), (1, 24)):
        a.op(_LD | _W | _ABS, net + base)
        for w in (4, 8, 12):
            a.op(_ST, 2)
            a.op(_LD | _W | _ABS, net + base + w)
            a.op(_LDX | _W | _MEM, 2)
            a.op(_ALU | _XOR | _X)
        a.op(_ST, slot)
    a.op(_LD | _B | _ABS, net + 6)
    a.op(_JMP | _JEQ | _K, 6, "v6ports", 0)
    a.op(_JMP | _JEQ | _K, 17, "v6ports", 0)
    a.op(_JMP | _JEQ | _K, 132, "v6ports", 0)
    a.op(_JMP | _JEQ | _K, 136, "v6ports", "v6odd")
    a.label("v6ports")
    a.op(_LDX | _W | _IMM, 40)
    a.op(_JMP | _JA, 0, "ports", 0)
    # A fragment header right after the IPv6 header (fragmented UDP, the usual case): the
    # first fragment has the ports 8 bytes further.  Other extension headers take the pair
    # rule here, where files walk them (route_general): such rare packets may go to
    # another worker live than in a file split.
    a.label("v6odd")
    a.op(_JMP | _JEQ | _K, 44, 0, "pair")
    a.op(_LD | _H | _ABS, net + 42)
    a.op(_JMP | _JSET | _K, 0xFFF8, "pair", 0)
    a.op(_LD | _B | _ABS, net + 40)
    a.op(_JMP | _JEQ | _K, 6, "v6frag", 0)
    a.op(_JMP | _JEQ | _K, 17, "v6frag", 0)
    a.op(_JMP | _JEQ | _K, 132, "v6frag", 0)
    a.op(_JMP | _JEQ | _K, 136, "v6frag", "pair")
    a.label("v6frag")
    a.op(_LDX | _W | _IMM, 48)
    a.op(_JMP | _JA, 0, "ports", 0)
    # ---- ports at X: sport -> M[2], dport in A
    a.label("ports")
    a.op(_LD | _H | _IND, net + 0)
    a.op(_ST, 2)
    a.op(_LD | _H | _IND, net + 2)
    a.op(_LDX | _W | _MEM, 2)  # X = sport, A = dport
    a.op(_JMP | _JEQ | _X, 0, "pair", 0)  # equal ports: the pair rule
    a.op(_JMP | _JGT | _X, 0, "dsthigh", 0)  # dport > sport: the client is dst
    a.op(_LD | _W | _MEM, 0)  # sport > dport: src
    a.op(_JMP | _JA, 0, "hash", 0)
    a.label("dsthigh")
    a.op(_LD | _W | _MEM, 1)
    a.op(_JMP | _JA, 0, "hash", 0)
    # ---- the lower address of the pair (IPv6: of the folded values, as route() compares them)
    a.label("pair")
    a.op(_LD | _W | _MEM, 0)
    a.op(_LDX | _W | _MEM, 1)
    a.op(_JMP | _JGT | _X, 0, "takex", "hash")  # src > dst: take dst
    a.label("takex")
    a.op(_MISC | _TXA)
    a.label("hash")
    a.op(_ALU | _MUL | _K, MIX)
    a.op(_ALU | _RSH | _K, 16)
    a.op(_ALU | _MOD | _K, n)
    a.op(_RET | _A)
    a.label("zero")
    a.op(_RET | _K, 0)
    return a.build()
