"""Remote access: Telnet option negotiation (RFC 854/855), RDP's connection request (TPKT RFC 1006,
X.224 RFC 905, MS-RDPBCGR 2.2.1.1/2.2.1.2), TeamViewer's datagrams,
the SYN of RDP over UDP (MS-RDPEUDP), XDMCP (X Consortium XDMCP 1.1)."""

from __future__ import annotations

import struct

_H = struct.Struct("!H")
IAC = 0xFF
_WILL_WONT_DO_DONT = range(0xFB, 0xFF)  # RFC 854: WILL 251, WONT 252, DO 253, DONT 254
_SB, _SE = 0xFA, 0xF0
TELNET_MIN_COMMANDS = 2  # one 3-byte triple is too little to tell Telnet from random binary
TPKT_VERSION = 3
X224_CR, X224_CC = 0xE0, 0xD0  # connection request / confirm TPDU codes (X.224 13.3, 13.4)
# MS-RDPBCGR 2.2.1.1.1 / 2.2.1.2.1 / 2.2.1.2.2: RDP_NEG_REQ (type 1), RDP_NEG_RSP (2),
# RDP_NEG_FAILURE (3), each 8 bytes with length field 8
_NEG_TYPES = {X224_CR: (1,), X224_CC: (2, 3)}


def telnet_negotiation(pl: bytes) -> bool:
    """A segment that opens with Telnet option negotiation: IAC WILL/WONT/DO/DONT option
    triples or IAC SB ... IAC SE subnegotiations, at least two commands, well formed until
    the first byte that is not IAC (the text that may follow)."""
    n = len(pl)
    if n < 6 or pl[0] != IAC:
        return False
    p = 0
    commands = 0
    for _ in range(64):
        if p >= n or pl[p] != IAC:
            break
        if p + 2 >= n:
            return False
        cmd = pl[p + 1]
        if cmd in _WILL_WONT_DO_DONT:
            p += 3
        elif cmd == _SB:
            end = pl.find(b"\xff\xf0", p + 3)
            if end < 0 or end - p > 256:
                return False
            p = end + 2
        else:
            return False
        commands += 1
    return commands >= TELNET_MIN_COMMANDS


def rdp_connection(pl: bytes) -> bool:
    """An RDP X.224 Connection Request or Confirm inside TPKT.

    TPKT: version 3, reserved 0, a length that is the segment's; X.224: the length indicator
    covers the rest, CR (0xE0) or CC (0xD0) code, DST-REF/SRC-REF, class 0.  What makes it RDP
    rather than another ISO transport user (S7comm, H.225): a CR carries the routing token
    "Cookie: mstshash=" (or another "Cookie: ") or ends in an RDP_NEG_REQ; a CC ends in an
    RDP_NEG_RSP or RDP_NEG_FAILURE.
    """
    n = len(pl)
    if n < 11 or pl[0] != TPKT_VERSION or pl[1] != 0:
        return False
    if _H.unpack_from(pl, 2)[0] != n or pl[4] != n - 5:
        return False
    code = pl[5] & 0xF0
    types = _NEG_TYPES.get(code)
    if types is None or pl[10] & 0xF0:  # class 0 only (X.224 13.3.3: class in the high nibble)
        return False
    if code == X224_CR and pl.startswith(b"Cookie: ", 11):
        return True
    # the negotiation structure is the last 8 bytes: type, flags, length 8 (little endian)
    return n >= 19 and pl[n - 8] in types and pl[n - 6 : n - 4] == b"\x08\x00"


# TeamViewer: its TCP messages open with the protocol bytes 0x17 0x24 (or 0x11 0x30 in older
# versions); the UDP transport puts them after an 11-byte header whose first byte is 0.
TEAMVIEWER_MAGIC = (b"\x17\x24", b"\x11\x30")


def teamviewer_datagram(pl: bytes) -> bool:
    return len(pl) > 13 and pl[0] == 0 and pl[11:13] in TEAMVIEWER_MAGIC


# RDP's UDP transport (issue 12; [MS-RDPEUDP] 2.2.2.1 RDPUDP_FEC_HEADER, 2.2.2.5
# RDPUDP_SYNDATA_PAYLOAD, 3.1.5.1.1): the client's SYN datagram has snSourceAck -1, the SYN
# flag without ACK, an initial sequence number and up- and downstream MTUs of 1132-1232, and
# is zero-padded to 1232 bytes.
RDPUDP_SYN_SIZE = 1232
_RDPUDP_SYN, _RDPUDP_ACK = 0x0001, 0x0004
_RDPUDP = struct.Struct("!IHHIHH")
_RDPUDP_MTU = range(1132, 1233)


def rdpudp_syn(pl: bytes) -> bool:
    """The client's SYN of an RDP-UDP connection (MS-RDPEUDP 3.1.5.1.1)."""
    if len(pl) != RDPUDP_SYN_SIZE:
        return False
    ack, _window, flags, _isn, up, down = _RDPUDP.unpack_from(pl, 0)
    if ack != 0xFFFFFFFF or flags & (_RDPUDP_SYN | _RDPUDP_ACK) != _RDPUDP_SYN:
        return False
    return up in _RDPUDP_MTU and down in _RDPUDP_MTU


# XDMCP, the X Display Manager Control Protocol (X Consortium, "XDMCP" version 1.1, section 10):
# every packet opens with CARD16 version (1), CARD16 opcode (BroadcastQuery 1 .. Alive 14) and the
# CARD16 length of the data that follows, which fills the datagram; the three queries carry only an
# ARRAYofARRAY8 of authentication names (CARD8 count, then each name's CARD16 length and bytes).
XDMCP_QUERIES = (1, 2, 3)  # BroadcastQuery, Query, IndirectQuery
_XDMCP_OPCODES = range(1, 15)


def xdmcp_packet(pl: bytes) -> bool:
    """An XDMCP packet: version 1, a known opcode, the length the rest; a query's names fill it."""
    n = len(pl)
    if n < 7 or pl[0] or pl[1] != 1 or pl[2]:
        return False
    opcode = pl[3]
    if opcode not in _XDMCP_OPCODES or _H.unpack_from(pl, 4)[0] != n - 6:
        return False
    if opcode not in XDMCP_QUERIES:
        return True
    p = 7
    for _ in range(pl[6]):
        if p + 2 > n:
            return False
        p += 2 + _H.unpack_from(pl, p)[0]
    return p == n
