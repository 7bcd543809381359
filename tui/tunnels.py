"""Tunnel headers: where the inner packet of an encapsulation starts, read from the specs.

Each parser looks at one tunnel header in ``data[off:end]`` and answers with a triple
``(kind, value, layers)``: ``kind`` says what follows (an Ethernet frame, an IP packet, a
PPP frame, MPLS, an 802.11 frame) and ``value`` is the offset where it starts; or ``kind``
is ``STOP`` and ``value`` a decode status (OK: a valid header carrying no user packet,
such as a GTP echo or a DTLS-protected CAPWAP message; TRUNCATED/MALFORMED: a header cut
short or impossible).  ``layers`` are the names the layer stack shows for the tunnel.
The decoder (tui.decode) continues with the inner packet; on ``STOP`` it keeps the outer
decode.  Nothing here raises on hostile bytes: every read is bounds-checked first.
"""

from __future__ import annotations

from struct import Struct

# What follows a tunnel header.
STOP, ETHERNET, IP, PPP, MPLS, WLAN = range(6)

# Decode statuses (the same numbers as tui.decode's OK/TRUNCATED/MALFORMED).
_OK, _TRUNCATED, _MALFORMED = 0, 1, 2

# UDP ports of the tunnels decapsulated, and which of them a source port alone may name.
VXLAN_PORTS = frozenset({4789, 8472})  # IANA (RFC 7348) and the Linux kernel's historical default
GENEVE_PORT = 6081  # RFC 8926
GTPU_PORT = 2152  # 3GPP TS 29.281
CAPWAP_DATA_PORT = 5247  # RFC 5415
UDP_PORTS = frozenset({*VXLAN_PORTS, GENEVE_PORT, GTPU_PORT, CAPWAP_DATA_PORT})

# Names the stack shows for each tunnel layer (also how the decoder counts nesting).
LAYER_NAMES = frozenset({"VXLAN", "GENEVE", "GTP-U", "CAPWAP", "GRE", "ERSPAN", "IPIP", "6in4"})

_H = Struct("!H")
_HH = Struct("!HH")
_I = Struct("!I")

# EtherTypes a tunnel names its payload by (GRE protocol type, GENEVE protocol type).
_ETH_BRIDGING = 0x6558  # transparent Ethernet bridging
_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_PPP = 0x880B  # PPTP's enhanced GRE (RFC 2637)
_ETH_ERSPAN2 = 0x88BE  # ERSPAN type I (no header) and type II
_ETH_ERSPAN3 = 0x22EB
_ETH_MPLS = frozenset({0x8847, 0x8848})

_VXLAN = ("VXLAN",)
_GENEVE = ("GENEVE",)
_GTPU = ("GTP-U",)
_CAPWAP = ("CAPWAP",)
_GRE = ("GRE",)
_GRE_ERSPAN = ("GRE", "ERSPAN")


def udp(data: bytes, off: int, end: int, sport: int, dport: int) -> tuple | None:
    """The tunnel a UDP payload at ``off`` carries, by port; None when the ports name none.

    VXLAN and GENEVE are recognised by destination port only (their source port is a flow
    hash, so any value); GTP-U and CAPWAP by either port, since the answers of the
    controller or gateway come from the well-known port to an arbitrary one.
    """
    if dport in VXLAN_PORTS:
        return vxlan(data, off, end)
    if dport == GENEVE_PORT:
        return geneve(data, off, end)
    if dport == GTPU_PORT or sport == GTPU_PORT:
        return gtpu(data, off, end)
    if dport == CAPWAP_DATA_PORT or sport == CAPWAP_DATA_PORT:
        return capwap(data, off, end)
    return None


def vxlan(data: bytes, off: int, end: int) -> tuple:
    """RFC 7348: 8 bytes, the I flag (0x08) set, a 24-bit VNI; an Ethernet frame follows."""
    if off + 8 > end:
        return (STOP, _TRUNCATED, _VXLAN)
    if not data[off] & 0x08:
        return (STOP, _MALFORMED, _VXLAN)
    return (ETHERNET, off + 8, _VXLAN)


def geneve(data: bytes, off: int, end: int) -> tuple:
    """RFC 8926: version 0, options length in 4-byte words, a protocol type (EtherType)."""
    if off + 8 > end:
        return (STOP, _TRUNCATED, _GENEVE)
    b0 = data[off]
    if b0 >> 6:  # only version 0 is defined
        return (STOP, _MALFORMED, _GENEVE)
    inner = off + 8 + (b0 & 0x3F) * 4
    if inner > end:
        return (STOP, _TRUNCATED, _GENEVE)
    if data[off + 1] & 0x80:  # O bit: a control message, not a tunnelled packet
        return (STOP, _OK, _GENEVE)
    ptype = _H.unpack_from(data, off + 2)[0]
    if ptype == _ETH_BRIDGING:
        return (ETHERNET, inner, _GENEVE)
    if ptype == _ETH_IPV4 or ptype == _ETH_IPV6:
        return (IP, inner, _GENEVE)
    return (STOP, _OK, _GENEVE)


_GTP_GPDU = 0xFF  # G-PDU: the message type that carries a user packet (T-PDU)


def gtpu(data: bytes, off: int, end: int) -> tuple:
    """3GPP TS 29.281 section 5: version 1, PT 1, the E/S/PN flags and extension headers.

    If any of E, S or PN is set, the sequence number, N-PDU number and next extension
    header type are all present (4 bytes).  Each extension header gives its length in
    4-byte units in its first byte and the next header's type in its last; type 0 ends
    the chain.  Only a G-PDU carries a user packet.
    """
    if off + 8 > end:
        return (STOP, _TRUNCATED, _GTPU)
    flags, mtype = data[off], data[off + 1]
    if flags >> 5 != 1 or not flags & 0x10:  # version 1, protocol type GTP (not GTP')
        return (STOP, _MALFORMED, _GTPU)
    p = off + 8
    if flags & 0x07:
        if p + 4 > end:
            return (STOP, _TRUNCATED, _GTPU)
        nxt = data[p + 3]
        p += 4
        if flags & 0x04:
            for _ in range(16):
                if not nxt:
                    break
                if p + 1 > end:
                    return (STOP, _TRUNCATED, _GTPU)
                ln = data[p] * 4
                if not ln:
                    return (STOP, _MALFORMED, _GTPU)
                if p + ln > end:
                    return (STOP, _TRUNCATED, _GTPU)
                nxt = data[p + ln - 1]
                p += ln
            else:
                return (STOP, _MALFORMED, _GTPU)
    if mtype != _GTP_GPDU:
        return (STOP, _OK, _GTPU)  # echo, error indication, end marker...
    if p >= end:
        return (STOP, _TRUNCATED, _GTPU)
    if data[p] >> 4 not in (4, 6):
        return (STOP, _MALFORMED, _GTPU)
    return (IP, p, _GTPU)


def capwap(data: bytes, off: int, end: int) -> tuple:
    """RFC 5415 section 4.3: the preamble, then HLEN (whole header, in 4-byte words).

    Preamble type 1 means a DTLS record follows (encrypted: nothing to read).  T set: the
    payload is in the binding's native format (WBID 1: an IEEE 802.11 frame, RFC 5416);
    T clear: an IEEE 802.3 frame.  F with a non-zero fragment offset: a later CAPWAP
    fragment, without the inner headers.  K: a keep-alive, no payload.  The optional
    radio MAC (M) and wireless information (W) fields are inside HLEN, so skipping HLEN
    words skips them.
    """
    if off + 8 > end:
        return (STOP, _TRUNCATED, _CAPWAP)
    word = _I.unpack_from(data, off)[0]
    if word >> 28:  # version 0 is the only one
        return (STOP, _MALFORMED, _CAPWAP)
    if (word >> 24) & 0x0F:  # DTLS-protected
        return (STOP, _OK, _CAPWAP)
    hlen = (word >> 19) & 0x1F
    if hlen < 2:
        return (STOP, _MALFORMED, _CAPWAP)
    inner = off + hlen * 4
    if inner > end:
        return (STOP, _TRUNCATED, _CAPWAP)
    if word & 0x08:  # K: keep-alive
        return (STOP, _OK, _CAPWAP)
    if word & 0x80 and _H.unpack_from(data, off + 6)[0] >> 3:  # F and a fragment offset
        return (STOP, _OK, _CAPWAP)
    if inner >= end:
        return (STOP, _OK, _CAPWAP)
    if word & 0x100:  # T: native frame of the wireless binding
        wbid = (word >> 9) & 0x1F
        if wbid == 1:
            return (WLAN, inner, _CAPWAP)
        return (STOP, _OK, _CAPWAP)
    return (ETHERNET, inner, _CAPWAP)


def gre(data: bytes, off: int, end: int) -> tuple:
    """RFC 2784 with RFC 2890's key and sequence number; version 1 is PPTP's (RFC 2637).

    The header is 4 bytes, plus 4 for checksum/offset (C, or RFC 1701's R), 4 for the
    key (K), 4 for the sequence number (S) and, in version 1, 4 for the acknowledgement
    (A).  RFC 1701 source routing (R) is not followed: such a packet keeps its GRE decode.
    """
    if off + 4 > end:
        return (STOP, _TRUNCATED, _GRE)
    flags, ptype = _HH.unpack_from(data, off)
    ver = flags & 7
    p = off + 4
    if flags & 0xC000:
        p += 4
    if flags & 0x2000:
        p += 4
    if flags & 0x1000:
        p += 4
    if ver == 1:
        if ptype != _ETH_PPP or not flags & 0x2000:
            return (STOP, _MALFORMED, _GRE)
        if flags & 0x0080:
            p += 4
    elif ver:
        return (STOP, _MALFORMED, _GRE)
    if p > end:
        return (STOP, _TRUNCATED, _GRE)
    if flags & 0x4000:  # source routing entries: not followed
        return (STOP, _OK, _GRE)
    if p >= end:
        return (STOP, _OK, _GRE)  # e.g. a keepalive without payload
    if ptype == _ETH_IPV4 or ptype == _ETH_IPV6:
        return (IP, p, _GRE)
    if ptype == _ETH_BRIDGING:
        return (ETHERNET, p, _GRE)
    if ptype == _ETH_PPP:
        return (PPP, p, _GRE)
    if ptype in _ETH_MPLS:
        return (MPLS, p, _GRE)
    if ptype == _ETH_ERSPAN2:
        if not flags & 0x1000:  # type I: no ERSPAN header, the mirrored frame follows
            return (ETHERNET, p, _GRE_ERSPAN)
        return _erspan2(data, p, end)
    if ptype == _ETH_ERSPAN3:
        return _erspan3(data, p, end)
    return (STOP, _OK, _GRE)


def _erspan2(data: bytes, p: int, end: int) -> tuple:
    """ERSPAN type II (draft-foschiano-erspan): 8 bytes, version 1, then the mirrored frame."""
    if p + 8 > end:
        return (STOP, _TRUNCATED, _GRE_ERSPAN)
    if data[p] >> 4 != 1:
        return (STOP, _MALFORMED, _GRE_ERSPAN)
    return (ETHERNET, p + 8, _GRE_ERSPAN)


def _erspan3(data: bytes, p: int, end: int) -> tuple:
    """ERSPAN type III: 12 bytes, version 2, plus an 8-byte platform subheader if O is set.

    The frame type FT says what is mirrored: 0 an Ethernet frame, 2 an IP packet.
    """
    if p + 12 > end:
        return (STOP, _TRUNCATED, _GRE_ERSPAN)
    if data[p] >> 4 != 2:
        return (STOP, _MALFORMED, _GRE_ERSPAN)
    tail = _H.unpack_from(data, p + 10)[0]  # P(1) FT(5) HW ID(6) D(1) Gra(2) O(1)
    inner = p + 12 + (8 if tail & 1 else 0)
    if inner > end:
        return (STOP, _TRUNCATED, _GRE_ERSPAN)
    ft = (tail >> 10) & 0x1F
    if ft == 0:
        return (ETHERNET, inner, _GRE_ERSPAN)
    if ft == 2:
        return (IP, inner, _GRE_ERSPAN)
    return (STOP, _OK, _GRE_ERSPAN)


_LLC_SNAP = b"\xaa\xaa\x03\x00\x00\x00"
_LLC_SNAP_BRIDGE = b"\xaa\xaa\x03\x00\x00\xf8"  # 802.1H bridge tunnel encapsulation


def wlan(data: bytes, off: int, end: int) -> tuple:
    """An IEEE 802.11 frame: ``(status, payload offset, ethertype, source, destination)``.

    Data frames have a 24-byte header, 30 with both To DS and From DS (a fourth address),
    2 more with QoS, 4 more with an HT control field (Order bit on a QoS frame); an
    LLC/SNAP header then names the payload by EtherType.  A protected frame is encrypted:
    its payload is not read.  ``ethertype`` is -1 for management and control frames,
    -2 for a payload that is not LLC/SNAP, -3 for a protected one.
    """
    if off + 10 > end:
        return (_TRUNCATED, -1, -1, b"", b"")
    fc0, fc1 = data[off], data[off + 1]
    if fc0 & 3 and not fc1 & 3:
        # Protocol version not 0: Cisco's controllers send the frame control field with
        # its two bytes swapped (Wireshark has a CAPWAP setting for it); read it so.
        fc0, fc1 = fc1, fc0
    ftype = (fc0 >> 2) & 3
    a1 = data[off + 4 : off + 10]
    if ftype != 2:  # management, control, extension
        a2 = data[off + 10 : off + 16] if off + 16 <= end else b""
        return (_OK, -1, -1, a2, a1)
    if fc0 & 3:  # protocol version must be 0
        return (_MALFORMED, -1, -1, b"", b"")
    ds = fc1 & 3
    hl = 30 if ds == 3 else 24
    if fc0 & 0x80:  # QoS subtypes
        hl += 2
        if fc1 & 0x80:
            hl += 4
    p = off + hl
    if p > end:
        return (_TRUNCATED, -1, -1, b"", b"")
    a2 = data[off + 10 : off + 16]
    a3 = data[off + 16 : off + 22]
    if ds == 0:
        sa, da = a2, a1
    elif ds == 1:  # to the distribution system
        sa, da = a2, a3
    elif ds == 2:  # from it
        sa, da = a3, a1
    else:
        sa, da = data[off + 24 : off + 30], a3
    if fc0 & 0x40:  # "null" data subtypes carry no payload
        return (_OK, -1, -1, sa, da)
    if fc1 & 0x40:
        return (_OK, p, -3, sa, da)
    if p + 8 > end:
        return (_OK if p == end else _TRUNCATED, p, -2, sa, da)
    snap = data[p : p + 6]
    if snap != _LLC_SNAP and snap != _LLC_SNAP_BRIDGE:
        return (_OK, p, -2, sa, da)
    return (_OK, p + 8, _H.unpack_from(data, p + 6)[0], sa, da)
