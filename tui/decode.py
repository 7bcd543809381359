"""Fast header decoding: raw frame bytes -> a flat tuple of what accounting needs.

This runs once per packet on the capture path, so it uses ``struct.unpack_from``
on the original buffer and returns a plain tuple (no objects, no scapy).  It never
raises on bad bytes: a frame whose headers are cut short is marked ``TRUNCATED``, one
whose header fields are impossible is marked ``MALFORMED``, and decoding stops at the
last layer that made sense.  ``PacketMeta`` gives the same fields names for code
that is not on the hot path.
"""

from __future__ import annotations

from struct import Struct
from typing import NamedTuple

from tui import linktypes as lt
from tui import tunnels

# Result status.
OK = 0
TRUNCATED = 1
MALFORMED = 2

# Indices into the decode() tuple.
STACK, FAMILY, SRC, DST, L4, SPORT, DPORT, TCPFLAGS, PAYLOAD_OFF, STATUS, FRAG = range(11)

# Tunnels nested deeper than this are not followed (the frame keeps the decode so far).
MAX_TUNNELS = 4

# Protocols whose flows carry ports.
PORT_PROTOCOLS = frozenset({"TCP", "UDP", "SCTP", "UDP-Lite"})


class PacketMeta(NamedTuple):
    """Named view of a decode() result, for code off the hot path."""

    stack: tuple[str, ...]  # protocol names, outermost first ("Ethernet", "IPv4", "TCP")
    family: int  # 4, 6, or 0 for a non-IP frame
    src: bytes  # network source (IP address bytes, or MAC for non-IP frames)
    dst: bytes
    l4: str  # the innermost protocol name that identifies the flow ("TCP", "ICMP", "ARP"...)
    sport: int  # 0 where the protocol has no ports
    dport: int
    tcp_flags: int
    payload_off: int  # offset of the transport payload in the frame, -1 if none
    status: int  # OK, TRUNCATED or MALFORMED
    # None, or for an IP fragment (family, src, dst, id, protocol), fragment offset in
    # bytes, more-fragments flag, start and end of the fragment's data in the frame, and
    # the offset of its IP header (see tui.fragments).
    frag: tuple | None


_H = Struct("!H")
_HH = Struct("!HH")
_HI = Struct("!HI")
_I = Struct("!I")
_ETH = Struct("!6s6sH")
_IP4 = Struct("!BBHHHBBH4s4s")
_IP6 = Struct("!IHBB16s16s")
_TCP = Struct("!HHIIBB")
_NULL_LE = Struct("<I")
_NULL_BE = Struct(">I")

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
ETH_VLAN = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
ETH_PPPOE_SESSION = 0x8864
ETH_PPPOE_DISCOVERY = 0x8863
ETH_MPLS = frozenset({0x8847, 0x8848})

ETHERTYPE_NAMES = {
    0x0806: "ARP",
    0x8035: "RARP",
    0x88CC: "LLDP",
    0x888E: "EAPOL",
    0x8863: "PPPoE-Discovery",
    0x88F7: "PTP",
    0x8906: "FCoE",
    0x88E5: "MACsec",
    0x893A: "IEEE1905",
    0x9000: "Loopback",
    0x88B8: "GOOSE",
    0x88BA: "SV",
    0x8892: "PROFINET",
    0x88A4: "EtherCAT",
    0x22F0: "AVTP",
    0x0842: "WoL",
    0x22EA: "SRP",
    0x8100: "VLAN",
}

IP_PROTO_NAMES = {
    1: "ICMP",
    2: "IGMP",
    4: "IPIP",
    6: "TCP",
    17: "UDP",
    41: "IPv6-in-IPv4",
    47: "GRE",
    50: "ESP",
    51: "AH",
    58: "ICMPv6",
    88: "EIGRP",
    89: "OSPF",
    103: "PIM",
    112: "VRRP",
    115: "L2TP",
    132: "SCTP",
    136: "UDP-Lite",
}

# IPv6 extension headers that we walk through to find the transport header.
_IP6_EXT = frozenset({0, 43, 60, 135, 139, 140, 253, 254})
_IP6_FRAG = 44
_IP6_AH = 51
_IP6_NONE = 59
_MAX_EXT = 8

PPP_PROTOCOLS = {0x0021: 4, 0x0057: 6}
PPP_MPLS = frozenset({0x0281, 0x0283})
PPP_NAMES = {0xC021: "LCP", 0x8021: "IPCP", 0x8057: "IPv6CP", 0xC023: "PAP", 0xC223: "CHAP", 0x8281: "MPLSCP"}

# Precomputed stacks for the common paths, so the hot path allocates nothing for them.
_STACKS: dict[tuple[tuple[str, ...], str, str], tuple[str, ...]] = {}


def _stack(link: tuple[str, ...], net: str, l4: str) -> tuple[str, ...]:
    key = (link, net, l4)
    st = _STACKS.get(key)
    if st is None:
        st = link + ((net,) if net else ()) + ((l4,) if l4 else ())
        if len(_STACKS) < 4096:
            _STACKS[key] = st
    return st


def _ip_proto_name(p: int) -> str:
    name = IP_PROTO_NAMES.get(p)
    return name if name is not None else f"IP-{p}"


def decode_ip(data: bytes, off: int, link: tuple[str, ...]) -> tuple:
    """Decode an IPv4 or IPv6 packet starting at ``off`` (version from the first nibble)."""
    n = len(data)
    if off >= n:
        return (link, 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
    ver = data[off] >> 4
    if ver == 4:
        return _decode_ipv4(data, off, link, n)
    if ver == 6:
        return _decode_ipv6(data, off, link, n)
    return (link, 0, b"", b"", "", 0, 0, 0, -1, MALFORMED, None)


def _decode_ipv4(data: bytes, off: int, link: tuple[str, ...], n: int) -> tuple:
    if off + 20 > n:
        return (link + ("IPv4",), 4, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
    vihl, _tos, total, _id, frag, _ttl, proto, _sum, src, dst = _IP4.unpack_from(data, off)
    ihl = (vihl & 15) * 4
    if ihl < 20 or total < ihl:
        return (link + ("IPv4",), 4, src, dst, "", 0, 0, 0, -1, MALFORMED, None)
    l4off = off + ihl
    if l4off > n:
        return (link + ("IPv4",), 4, src, dst, "", 0, 0, 0, -1, TRUNCATED, None)
    # The transport layer ends where the IP datagram says, not at the end of the frame
    # (Ethernet pads short frames).
    end = off + total
    if end > n:
        end = n
    if frag & 0x3FFF:  # a fragment (more to come, or not the first)
        fi = ((4, src, dst, _id, proto), (frag & 0x1FFF) * 8, frag & 0x2000, l4off, end, off)
        if frag & 0x1FFF:  # not the first: no transport header here
            name = _ip_proto_name(proto)
            return (_stack(link, "IPv4", name), 4, src, dst, name, 0, 0, 0, -1, OK, fi)
        return _decode_l4(data, l4off, end, proto, link, "IPv4", 4, src, dst, fi)
    return _decode_l4(data, l4off, end, proto, link, "IPv4", 4, src, dst)


def _decode_ipv6(data: bytes, off: int, link: tuple[str, ...], n: int) -> tuple:
    if off + 40 > n:
        return (link + ("IPv6",), 6, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
    _vtf, plen, nxt, _hop, src, dst = _IP6.unpack_from(data, off)
    p = off + 40
    end = p + plen if plen else n  # jumbograms carry 0 here
    if end > n:
        end = n
    for _ in range(_MAX_EXT + 1):
        if nxt in _IP6_EXT:
            if p + 2 > end:
                return (link + ("IPv6",), 6, src, dst, "", 0, 0, 0, -1, TRUNCATED, None)
            nxt, hlen = data[p], (data[p + 1] + 1) * 8
            p += hlen
        elif nxt == _IP6_FRAG:
            if p + 8 > end:
                return (link + ("IPv6",), 6, src, dst, "", 0, 0, 0, -1, TRUNCATED, None)
            fnext = data[p]
            fword, ident = _HI.unpack_from(data, p + 2)
            p += 8
            fi = ((6, src, dst, ident, fnext), fword & 0xFFF8, fword & 1, p, end, off)
            if fword & 0xFFF8:
                name = _ip_proto_name(fnext)
                return (_stack(link, "IPv6", name), 6, src, dst, name, 0, 0, 0, -1, OK, fi)
            if fword & 1:  # the first of several
                if fnext in _IP6_EXT or fnext == _IP6_FRAG or fnext == _IP6_AH or fnext == _IP6_NONE:
                    # Headers after the fragment header: read them once reassembled.
                    name = _ip_proto_name(fnext)
                    return (_stack(link, "IPv6", name), 6, src, dst, name, 0, 0, 0, -1, OK, fi)
                if p > end:
                    return (link + ("IPv6",), 6, src, dst, "", 0, 0, 0, -1, TRUNCATED, None)
                return _decode_l4(data, p, end, fnext, link, "IPv6", 6, src, dst, fi)
            nxt = fnext  # an atomic fragment (RFC 6946): a whole packet
        elif nxt == _IP6_AH:
            if p + 2 > end:
                return (link + ("IPv6",), 6, src, dst, "", 0, 0, 0, -1, TRUNCATED, None)
            nxt, hlen = data[p], (data[p + 1] + 2) * 4
            p += hlen
        else:
            break
    else:  # more extension headers than any real packet carries
        return (link + ("IPv6",), 6, src, dst, "", 0, 0, 0, -1, MALFORMED, None)
    if nxt == _IP6_NONE:
        return (link + ("IPv6",), 6, src, dst, "", 0, 0, 0, -1, OK, None)
    if p > end:
        return (link + ("IPv6",), 6, src, dst, "", 0, 0, 0, -1, TRUNCATED, None)
    return _decode_l4(data, p, end, nxt, link, "IPv6", 6, src, dst)


def _decode_l4(
    data: bytes,
    p: int,
    end: int,
    proto: int,
    link: tuple[str, ...],
    net: str,
    fam: int,
    src: bytes,
    dst: bytes,
    frag: tuple | None = None,
) -> tuple:
    """The transport header at ``p``; a tunnel's inner packet when it carries one.

    ``frag`` is set for the first fragment of a datagram: its tunnel (if any) is not
    followed, since the rest of it is in other frames.
    """
    if proto == 6:
        if p + 20 > end:
            return (_stack(link, net, "TCP"), fam, src, dst, "TCP", 0, 0, 0, -1, TRUNCATED, frag)
        sport, dport, _seq, _ack, doff, flags = _TCP.unpack_from(data, p)
        hl = (doff >> 4) * 4
        if hl < 20:
            return (_stack(link, net, "TCP"), fam, src, dst, "TCP", sport, dport, flags, -1, MALFORMED, frag)
        if p + hl > end:
            return (_stack(link, net, "TCP"), fam, src, dst, "TCP", sport, dport, flags, -1, TRUNCATED, frag)
        return (_stack(link, net, "TCP"), fam, src, dst, "TCP", sport, dport, flags, p + hl, OK, frag)
    if proto == 17 or proto == 136:
        name = "UDP" if proto == 17 else "UDP-Lite"
        if p + 8 > end:
            return (_stack(link, net, name), fam, src, dst, name, 0, 0, 0, -1, TRUNCATED, frag)
        sport, dport = _HH.unpack_from(data, p)
        if (dport in _UDP_TUNNELS or sport in _UDP_TUNNELS) and frag is None and proto == 17:
            inner = tunnels.udp(data, p + 8, end, sport, dport)
            if inner is not None:
                outer = (_stack(link, net, name), fam, src, dst, name, sport, dport, 0, p + 8, OK, None)
                return _decap(data, inner, link + (net, name), outer)
        return (_stack(link, net, name), fam, src, dst, name, sport, dport, 0, p + 8, OK, frag)
    if proto == 1 or proto == 58:
        name = "ICMP" if proto == 1 else "ICMPv6"
        if p + 4 > end:
            return (_stack(link, net, name), fam, src, dst, name, 0, 0, 0, -1, TRUNCATED, frag)
        return (_stack(link, net, name), fam, src, dst, name, 0, 0, 0, p + 4, OK, frag)
    if proto == 132:
        if p + 12 > end:
            return (_stack(link, net, "SCTP"), fam, src, dst, "SCTP", 0, 0, 0, -1, TRUNCATED, frag)
        sport, dport = _HH.unpack_from(data, p)
        return (_stack(link, net, "SCTP"), fam, src, dst, "SCTP", sport, dport, 0, p + 12, OK, frag)
    name = _ip_proto_name(proto)
    if frag is None and proto in _IP_TUNNELS:
        outer = (_stack(link, net, name), fam, src, dst, name, 0, 0, 0, p, OK, None)
        if proto == 47:
            return _decap(data, tunnels.gre(data, p, end), link + (net,), outer)
        # IP-in-IP (RFC 2003), IPv6-in-IPv4 (RFC 4213) and the same inside IPv6 (RFC 2473).
        ver = data[p] >> 4 if p < end else 0
        if ver != (4 if proto == 4 else 6):
            return outer[:9] + ((TRUNCATED if p >= end else MALFORMED), None)
        layer = _IP_IN_IP[(net, proto)]
        return _decap(data, (tunnels.IP, p, layer), link + (net,), outer)
    return (_stack(link, net, name), fam, src, dst, name, 0, 0, 0, p, OK, frag)


_UDP_TUNNELS = tunnels.UDP_PORTS
_IP_TUNNELS = frozenset({4, 41, 47})
_IP_IN_IP = {("IPv4", 4): ("IPIP",), ("IPv4", 41): ("6in4",), ("IPv6", 4): ("4in6",), ("IPv6", 41): ("6in6",)}


def _decap(data: bytes, inner: tuple, link: tuple[str, ...], outer: tuple) -> tuple:
    """Decode a tunnel's inner packet (see tui.tunnels); keep ``outer`` when there is none.

    The stack shows the tunnel: ``link`` (the layers up to the tunnel) plus its layers,
    then the inner packet's.  A tunnel header cut short or impossible leaves the outer
    decode marked TRUNCATED or MALFORMED; an inner packet whose network header cannot be
    read does the same.  Tunnels nested deeper than MAX_TUNNELS are not followed.
    """
    kind, off, layers = inner
    link = link + layers
    if kind == tunnels.STOP or sum(name in tunnels.LAYER_NAMES for name in link) > MAX_TUNNELS:
        st = _stack(link, "", "")
        return (st, *outer[1:9], off if kind == tunnels.STOP else OK, None)
    if kind == tunnels.IP:
        m = decode_ip(data, off, link)
    elif kind == tunnels.ETHERNET:
        m = _decode_ether_at(data, off, link + _LINK_ETH)
    elif kind == tunnels.WLAN:
        m = _decode_wlan(data, off, link + _LINK_WLAN)
    elif kind == tunnels.PPP:
        m = _decode_ppp(data, off, link + _LINK_PPP)
    else:
        m = _decode_mpls(data, off, link + ("MPLS",), b"", b"")
    if not m[2] and not m[3]:  # nothing of the inner packet's addresses could be read
        return (m[0], *outer[1:9], m[9] or MALFORMED, None)
    return m


def _decode_ether_at(data: bytes, off: int, link: tuple[str, ...]) -> tuple:
    """An Ethernet frame starting at ``off`` (inside a tunnel)."""
    if off + 14 > len(data):
        return (link, 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
    dst, src, etype = _ETH.unpack_from(data, off)
    return _decode_ethertype(data, off + 14, etype, link, src, dst)


def _decode_wlan(data: bytes, off: int, link: tuple[str, ...]) -> tuple:
    """An IEEE 802.11 frame starting at ``off``: its LLC/SNAP payload, else its MAC addresses."""
    status, p, etype, sa, da = tunnels.wlan(data, off, len(data))
    if etype >= 0:
        return _decode_ethertype(data, p, etype, link, sa, da)
    if etype == -3:
        st = _stack(link, "", "Encrypted")
        return (st, 0, sa, da, "802.11", 0, 0, 0, p, OK, None)
    return (link, 0, sa, da, "802.11", 0, 0, 0, p, status, None)


def _decode_ethertype(data: bytes, off: int, etype: int, link: tuple[str, ...], src: bytes, dst: bytes) -> tuple:
    """Continue after an Ethernet-style type field (also used by Linux cooked headers)."""
    n = len(data)
    for _ in range(4):  # VLAN tags (802.1Q, QinQ)
        if etype not in ETH_VLAN:
            break
        if off + 4 > n:
            return (link + ("VLAN",), 0, src, dst, "VLAN", 0, 0, 0, -1, TRUNCATED, None)
        link = link + ("VLAN",) if link[-1] != "VLAN" else link
        etype = _H.unpack_from(data, off + 2)[0]
        off += 4
    if etype == ETH_IPV4 or etype == ETH_IPV6:
        return decode_ip(data, off, link)
    if etype == ETH_ARP:
        st = _stack(link, "", "ARP")
        if off + 28 > n:
            return (st, 0, src, dst, "ARP", 0, 0, 0, -1, TRUNCATED, None)
        return (st, 0, src, dst, "ARP", 0, 0, 0, off, OK, None)
    if etype == ETH_PPPOE_SESSION:
        if off + 8 > n:
            return (link + ("PPPoE",), 0, src, dst, "PPPoE", 0, 0, 0, -1, TRUNCATED, None)
        ppp = _H.unpack_from(data, off + 6)[0]
        return _decode_ppp_proto(data, off + 8, ppp, link + ("PPPoE", "PPP"), src, dst)
    if etype in ETH_MPLS:
        return _decode_mpls(data, off, link + ("MPLS",), src, dst)
    if etype < 0x0600:
        # 802.3 length field: LLC follows (STP, CDP, NetBIOS...).
        name = _llc_name(data, off)
        return (_stack(link, "", name), 0, src, dst, name, 0, 0, 0, off, OK, None)
    name = ETHERTYPE_NAMES.get(etype) or f"EtherType-0x{etype:04x}"
    return (_stack(link, "", name), 0, src, dst, name, 0, 0, 0, off, OK, None)


# Cisco's protocols behind an LLC/SNAP header (OUI 00:00:0c + protocol id).
_CISCO_SNAP = {
    b"\x00\x00\x0c\x20\x00": "CDP",
    b"\x00\x00\x0c\x01\x0b": "STP",  # PVST+
    b"\x00\x00\x0c\x20\x03": "VTP",
    b"\x00\x00\x0c\x20\x04": "DTP",
    b"\x00\x00\x0c\x01\x11": "UDLD",
}


def _llc_name(data: bytes, off: int) -> str:
    if off + 3 > len(data):
        return "LLC"
    dsap = data[off]
    if dsap == 0x42:
        return "STP"
    if dsap == 0xAA and off + 8 <= len(data):
        # SNAP: Cisco's CDP/VTP/DTP or an ethertype.
        name = _CISCO_SNAP.get(data[off + 3 : off + 8])
        return name if name is not None else "SNAP"
    if dsap == 0xF0:
        return "NetBIOS"
    if dsap == 0xE0:
        return "IPX"
    return "LLC"


def _decode_mpls(data: bytes, off: int, link: tuple[str, ...], src: bytes, dst: bytes) -> tuple:
    n = len(data)
    for _ in range(16):
        if off + 4 > n:
            return (link, 0, src, dst, "MPLS", 0, 0, 0, -1, TRUNCATED, None)
        bottom = data[off + 2] & 1
        off += 4
        if bottom:
            if off < n and data[off] >> 4 in (4, 6):
                return decode_ip(data, off, link)
            return (link, 0, src, dst, "MPLS", 0, 0, 0, off, OK, None)
    return (link, 0, src, dst, "MPLS", 0, 0, 0, -1, MALFORMED, None)


_LINK_SLL = ("Linux cooked",)
_LINK_NULL = ("Loopback",)
_LINK_RAW: tuple[str, ...] = ()
_LINK_PPP = ("PPP",)
_LINK_WLAN = ("802.11",)


# Fast path: Ethernet + IPv4 without options or Ethernet + IPv6 without extension headers,
# then TCP, UDP or ICMP -- nearly every frame on a real link.  One struct call reads the
# fields of all three headers; anything else (or anything short) takes the general path
# below, which gives the same answer for these frames.
_E4_TCP = Struct("!16xH2xH4x4s4sHH8xBB")  # total, frag, src, dst, sport, dport, doff, flags
_E4_UDP = Struct("!16xH2xH4x4s4sHH")
_E4_ANY = Struct("!16xH2xH4x4s4s")
_E6_TCP = Struct("!18xH2x16s16sHH8xBB")  # payload length, src, dst, sport, dport, doff, flags
_E6_UDP = Struct("!18xH2x16s16sHH")
_E6_ANY = Struct("!18xH2x16s16s")
_LINK_ETH = ("Ethernet",)
_ST_E4_TCP = _STACKS[(_LINK_ETH, "IPv4", "TCP")] = ("Ethernet", "IPv4", "TCP")
_ST_E4_UDP = _STACKS[(_LINK_ETH, "IPv4", "UDP")] = ("Ethernet", "IPv4", "UDP")
_ST_E4_ICMP = _STACKS[(_LINK_ETH, "IPv4", "ICMP")] = ("Ethernet", "IPv4", "ICMP")
_ST_E6_TCP = _STACKS[(_LINK_ETH, "IPv6", "TCP")] = ("Ethernet", "IPv6", "TCP")
_ST_E6_UDP = _STACKS[(_LINK_ETH, "IPv6", "UDP")] = ("Ethernet", "IPv6", "UDP")
_ST_E6_ICMP = _STACKS[(_LINK_ETH, "IPv6", "ICMPv6")] = ("Ethernet", "IPv6", "ICMPv6")


def decode(data: bytes, linktype: int = lt.ETHERNET) -> tuple:
    """Decode one frame of the given pcap link type; see PacketMeta for the fields."""
    if linktype == 1:
        n = len(data)
        if n >= 42 and data[12] == 8 and data[13] == 0 and data[14] == 0x45:
            proto = data[23]
            if proto == 6:
                if n >= 54:
                    total, frag, src, dst, sport, dport, doff, flags = _E4_TCP.unpack_from(data)
                    hl = (doff >> 4) << 2
                    if not frag & 0x3FFF and hl >= 20 and 34 + hl <= 14 + total and 34 + hl <= n:
                        return (_ST_E4_TCP, 4, src, dst, "TCP", sport, dport, flags, 34 + hl, OK, None)
            elif proto == 17:
                total, frag, src, dst, sport, dport = _E4_UDP.unpack_from(data)
                if not frag & 0x3FFF and total >= 28 and dport not in _UDP_TUNNELS and sport not in _UDP_TUNNELS:
                    return (_ST_E4_UDP, 4, src, dst, "UDP", sport, dport, 0, 42, OK, None)
            elif proto == 1:
                total, frag, src, dst = _E4_ANY.unpack_from(data)
                if not frag & 0x3FFF and total >= 24:
                    return (_ST_E4_ICMP, 4, src, dst, "ICMP", 0, 0, 0, 38, OK, None)
        elif n >= 62 and data[12] == 0x86 and data[13] == 0xDD and data[14] >> 4 == 6:
            nxt = data[20]
            if nxt == 6:
                if n >= 74:
                    plen, src, dst, sport, dport, doff, flags = _E6_TCP.unpack_from(data)
                    hl = (doff >> 4) << 2
                    end = 54 + plen if plen and 54 + plen < n else n
                    if hl >= 20 and 54 + hl <= end:
                        return (_ST_E6_TCP, 6, src, dst, "TCP", sport, dport, flags, 54 + hl, OK, None)
            elif nxt == 17:
                plen, src, dst, sport, dport = _E6_UDP.unpack_from(data)
                if (plen >= 8 or plen == 0) and dport not in _UDP_TUNNELS and sport not in _UDP_TUNNELS:
                    return (_ST_E6_UDP, 6, src, dst, "UDP", sport, dport, 0, 62, OK, None)
            elif nxt == 58:
                plen, src, dst = _E6_ANY.unpack_from(data)
                if plen >= 4 or plen == 0:
                    return (_ST_E6_ICMP, 6, src, dst, "ICMPv6", 0, 0, 0, 58, OK, None)
    return decode_general(data, linktype)


def decode_general(data: bytes, linktype: int = lt.ETHERNET) -> tuple:
    """decode() without its fast path: every link type and every odd case (same answers)."""
    if linktype == 1:
        if len(data) < 14:
            return (_LINK_ETH, 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
        dst, src, etype = _ETH.unpack_from(data, 0)
        if etype == ETH_IPV4 or etype == ETH_IPV6:  # the common case first
            return decode_ip(data, 14, _LINK_ETH)
        return _decode_ethertype(data, 14, etype, _LINK_ETH, src, dst)
    if linktype in lt.RAW_IP:
        return decode_ip(data, 0, _LINK_RAW)
    if linktype == lt.LINUX_SLL:
        if len(data) < 16:
            return (_LINK_SLL, 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
        etype = _H.unpack_from(data, 14)[0]
        alen = min(_H.unpack_from(data, 4)[0], 8)
        return _decode_ethertype(data, 16, etype, _LINK_SLL, data[6 : 6 + alen], b"")
    if linktype == lt.LINUX_SLL2:
        if len(data) < 20:
            return (_LINK_SLL, 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
        etype = _H.unpack_from(data, 0)[0]
        alen = min(data[11], 8)
        return _decode_ethertype(data, 20, etype, _LINK_SLL, data[12 : 12 + alen], b"")
    if linktype == lt.NULL or linktype == lt.LOOP:
        if len(data) < 4:
            return (_LINK_NULL, 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
        if linktype == lt.LOOP:
            fam = _NULL_BE.unpack_from(data, 0)[0]
        else:
            fam = _NULL_LE.unpack_from(data, 0)[0]
            if fam > 0xFFFF:  # written by a big-endian host
                fam = _NULL_BE.unpack_from(data, 0)[0]
        if fam == 2 or fam in (24, 28, 30, 10):
            return decode_ip(data, 4, _LINK_NULL)
        return (_LINK_NULL, 0, b"", b"", f"AF-{fam}", 0, 0, 0, 4, OK, None)
    if linktype == lt.PPP or linktype == lt.PPP_HDLC:
        return _decode_ppp(data)
    if linktype == lt.IEEE802_11:
        return _decode_wlan(data, 0, _LINK_WLAN)
    if linktype == lt.IEEE802_11_RADIOTAP:
        if len(data) < 4:
            return (("Radiotap",), 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
        rlen = data[2] | data[3] << 8
        if rlen < 8 or rlen > len(data):
            return (("Radiotap",), 0, b"", b"", "", 0, 0, 0, -1, MALFORMED if rlen < 8 else TRUNCATED, None)
        return _decode_wlan(data, rlen, ("Radiotap", "802.11"))
    if linktype == lt.IPNET:
        if len(data) < 24:
            return (("IPNET",), 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
        return decode_ip(data, 24, ("IPNET",))
    name = lt.NAMES.get(linktype, f"DLT-{linktype}")
    return ((name,), 0, b"", b"", name, 0, 0, 0, 0, OK, None)


def _decode_ppp(data: bytes, off: int = 0, link: tuple[str, ...] = _LINK_PPP) -> tuple:
    """A PPP frame at ``off`` (a PPP link, or PPTP's GRE payload)."""
    n = len(data)
    if off + 2 <= n and data[off] == 0xFF:  # HDLC address and control bytes (control is 0x03)
        off += 2
    if off + 1 > n:
        return (link, 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
    if data[off] & 1:  # protocol field compressed to one byte
        proto = data[off]
        off += 1
    else:
        if off + 2 > n:
            return (link, 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
        proto = _H.unpack_from(data, off)[0]
        off += 2
    return _decode_ppp_proto(data, off, proto, link, b"", b"")


def _decode_ppp_proto(data: bytes, off: int, proto: int, link: tuple[str, ...], src: bytes, dst: bytes) -> tuple:
    """Continue after a PPP protocol field (PPP links and PPPoE sessions)."""
    if proto in PPP_PROTOCOLS:
        return decode_ip(data, off, link)
    if proto in PPP_MPLS:
        return _decode_mpls(data, off, link + ("MPLS",), src, dst)
    name = PPP_NAMES.get(proto)
    if name is None:
        return (link, 0, src, dst, link[-1], 0, 0, 0, off, OK, None)
    return (_stack(link, "", name), 0, src, dst, name, 0, 0, 0, off, OK, None)


_NOT_A_TUNNEL = ((0, b"", b"", 0, 0), 0, 0, 0, 0, 0)  # a frag marker: _decode_l4 then follows no tunnel


def decode_datagram(data: bytes) -> tuple:
    """A reassembled IP datagram (see tui.fragments), from its IP header; tunnels not followed.

    The engine counts a fragmented datagram on the flow its first fragment showed; this
    gives the classifier the same flow's view of the whole datagram.
    """
    n = len(data)
    ver = data[0] >> 4 if n else 0
    if ver == 4 and n >= 20:
        ihl = (data[0] & 15) * 4
        end = min(_H.unpack_from(data, 2)[0], n)
        if ihl < 20 or ihl > end:
            return (("IPv4",), 4, b"", b"", "", 0, 0, 0, -1, MALFORMED, None)
        m = _decode_l4(data, ihl, end, data[9], (), "IPv4", 4, data[12:16], data[16:20], _NOT_A_TUNNEL)
    elif ver == 6 and n >= 40:
        m = _decode_l4(data, 40, n, data[6], (), "IPv6", 6, data[8:24], data[24:40], _NOT_A_TUNNEL)
    else:
        return ((), 0, b"", b"", "", 0, 0, 0, -1, TRUNCATED, None)
    return (*m[:10], None)


def decode_meta(data: bytes, linktype: int = lt.ETHERNET) -> PacketMeta:
    """decode() with named fields."""
    return PacketMeta._make(decode(data, linktype))


def socket_kind(l4: str) -> str:
    """The socket kind a packet belongs to: TCP is a stream, UDP a datagram, the rest raw."""
    if l4 == "TCP":
        return "stream"
    if l4 == "UDP" or l4 == "UDP-Lite":
        return "datagram"
    return "raw"
