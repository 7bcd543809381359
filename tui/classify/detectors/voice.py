"""Real-time media and its signalling: RTP/SRTP (RFC 3550, 3711), RTCP, STUN/TURN (RFC 8489, 8656).

RTP has no magic number: one packet with version 2 and a plausible payload type is a coin
toss, so a flow is RTP when two packets from the same sender carry the same SSRC with
sequence numbers that advance (RFC 3550 5.1: the SSRC names the source, the sequence number
counts its packets).  SRTP keeps the same header, so the rule holds for encrypted media.
"""

from __future__ import annotations

import struct

_RTP = struct.Struct("!BBHII")
_HH = struct.Struct("!HH")
STUN_COOKIE = 0x2112A442
SEQ_WINDOW = 64  # the same sender's next packet: a few lost or reordered, not a random number


def rtp_header(pl: bytes) -> tuple[int, int, int] | None:
    """(payload type, sequence number, SSRC) of a plausible RTP header, else None.

    Version 2; a static (0-34) or dynamic (96-127) payload type, so RTCP's 200-206 (72-76
    without the marker bit, RFC 5761 4) never pass; the CSRC list must fit in the packet.
    """
    n = len(pl)
    if n < 12:
        return None
    b0, b1, seq, _ts, ssrc = _RTP.unpack_from(pl, 0)
    if b0 & 0xC0 != 0x80 or 12 + 4 * (b0 & 0x0F) > n:
        return None
    pt = b1 & 0x7F
    if 34 < pt < 96:  # static types end at 34 (RFC 3551), dynamic ones begin at 96; 72-76 are RTCP's
        return None
    return pt, seq, ssrc


def rtp_follows(prev: tuple[int, int, int], cur: tuple[int, int, int]) -> bool:
    """Whether ``cur`` continues the stream ``prev`` began: same SSRC and payload type, sequence ahead."""
    return cur[2] == prev[2] and cur[0] == prev[0] and 0 < (cur[1] - prev[1]) & 0xFFFF <= SEQ_WINDOW


def rtcp(pl: bytes) -> bool:
    """A compound RTCP packet (RFC 3550 6.1): it starts with a sender or receiver report,
    or (reduced size, RFC 5506) any RTCP type 200-206; the first packet's length fits."""
    n = len(pl)
    if n < 8 or pl[0] & 0xC0 != 0x80 or not 200 <= pl[1] <= 206:
        return False
    return (_HH.unpack_from(pl, 2)[0] + 1) * 4 <= n


def stun_message(pl: bytes, stream: bool = False) -> bool:
    """A STUN message: class/method bits with the two top bits zero, length a multiple of 4,
    the magic cookie (or an RFC 3489 Binding on the classic ports, checked by the caller).
    Over a stream (TCP) a segment may hold several messages or a part of one."""
    n = len(pl)
    if n < 20:
        return False
    mtype, mlen = _HH.unpack_from(pl, 0)
    if mtype & 0xC000 or mlen & 3:
        return False
    if pl[4:8] != b"\x21\x12\xa4\x42":
        return False
    return mlen + 20 <= n if stream else mlen + 20 == n


# Comprehension-optional attributes (0x8000 and up, RFC 8489 14) are private by design; a few
# services also use unassigned ones in the comprehension-required range.  Zoom's clients send
# attribute 0x0103 in their STUN (seen in Zoom's traffic, and keyed on by nDPI too): it tells a
# Zoom meeting, which counts as video, from other calls.
SERVICE_ATTRIBUTES = {0x0103: "zoom"}


def stun_service(pl: bytes) -> str | None:
    """The service a STUN message's private attributes name, walking its TLV attributes."""
    n = len(pl)
    p = 20
    for _ in range(32):
        if p + 4 > n:
            return None
        attr, alen = _HH.unpack_from(pl, p)
        svc = SERVICE_ATTRIBUTES.get(attr)
        if svc is not None:
            return svc
        p += 4 + ((alen + 3) & ~3)
    return None


def discord_ip_discovery(pl: bytes) -> bool:
    """Discord's voice IP discovery (Discord developer docs, Voice Connections): type 1 (request)
    or 2 (response), length 70, SSRC, a 64-byte address, a port: 74 bytes in all."""
    return len(pl) == 74 and pl[0] == 0 and pl[1] in (1, 2) and pl[2:4] == b"\x00\x46"


def turn_channel_data(pl: bytes) -> bool:
    """TURN ChannelData (RFC 8656 12.4): channel 0x4000-0x4FFF, then the length of the data that follows."""
    n = len(pl)
    if n < 8 or pl[0] & 0xF0 != 0x40:
        return False
    length = _HH.unpack_from(pl, 0)[1]
    return length + 4 == n or (length + 4 + 3) & ~3 == n


# ---- signalling and media beside RTP (issue 12): each from its own specification

TS3_INIT = b"TS3INIT1"


def teamspeak3_init(pl: bytes) -> bool:
    """TeamSpeak 3's connection handshake (the protocol as documented by the TSDNS/ts3protocol
    reimplementations, e.g. ReSpeak's tsproto): unencrypted Init1 packets carry the literal
    "TS3INIT1" in the 8-byte MAC field, packet id 101 (0x65), then, from the client, a client
    id of 0 and the type byte 0x88 (Init1 with the unencrypted flag); the server's header has
    no client id, so its type byte comes two bytes earlier."""
    n = len(pl)
    if n < 11 or not pl.startswith(TS3_INIT) or pl[8:10] != b"\x00\x65":
        return False
    return (n >= 13 and pl[10:13] == b"\x00\x00\x88") or pl[10] == 0x88


# RFC 5456 8.2 frame types (1 DTMF .. 10 comfort noise) and 8.4 IAX subclasses (1 NEW .. 0x22)
IAX_IAX = 6
IAX_NEW = 1
IAX_POKE = 0x1E


def iax2_call_start(pl: bytes) -> bool:
    """An IAX2 full frame that opens a dialogue (RFC 5456 8.1.1, 6.2): F bit set, destination
    call number 0, both sequence numbers 0, frame type IAX with subclass NEW (or POKE), and
    its information elements (8.6: one byte type, one byte length) end exactly with the packet."""
    n = len(pl)
    if n < 12 or not pl[0] & 0x80 or pl[2] & 0x7F or pl[3] or pl[8] or pl[9] or pl[10] != IAX_IAX:
        return False
    if pl[11] not in (IAX_NEW, IAX_POKE) or not (pl[0] & 0x7F or pl[1]):  # a source call number is never 0
        return False
    p = 12
    for _ in range(64):
        if p == n:
            return pl[11] == IAX_POKE or p > 12  # NEW always carries IEs (version, called number)
        if p + 2 > n or not pl[p]:
            return False
        p += 2 + pl[p + 1]
    return False


# RFC 3435 2.3 (and 3.2.1): the MGCP command verbs; MESG from RFC 3991
MGCP_VERBS = frozenset((b"EPCF", b"CRCX", b"MDCX", b"DLCX", b"RQNT", b"NTFY", b"AUEP", b"AUCX", b"RSIP", b"MESG"))
MGCP_FIRST = frozenset(v[0] for v in MGCP_VERBS)


def mgcp_command(pl: bytes) -> bool:
    """An MGCP command line (RFC 3435 3.2.1): verb, transaction id (1-9 digits), endpoint name
    (local@domain, 2.1.1), then "MGCP 1.0"."""
    if len(pl) < 20 or pl[:4] not in MGCP_VERBS or pl[4] != 0x20:
        return False
    end = pl.find(b"\n", 5, 300)
    parts = (pl[5:end] if end > 0 else pl[5:300]).rstrip(b"\r").split(b" ")
    if len(parts) < 4 or not parts[0].isdigit() or len(parts[0]) > 9:
        return False
    return b"@" in parts[1] and parts[2].upper() == b"MGCP" and parts[3].startswith(b"1.")


def megaco_message(pl: bytes) -> bool:
    """A text-encoded Megaco/H.248 message (RFC 3525 B.2): "MEGACO/" or its compact form "!/",
    the version digit, then white space and the sender's mId."""
    if pl.startswith(b"MEGACO/"):
        p = 7
    elif pl.startswith(b"!/"):
        p = 2
    else:
        return False
    return len(pl) > p + 3 and 0x31 <= pl[p] <= 0x39 and pl[p + 1] in b" \t\r\n"


ZRTP_COOKIE = b"ZRTP"


def zrtp_packet(pl: bytes) -> bool:
    """A ZRTP packet (RFC 6189 5): version bits 0001 in the first byte, then the magic cookie
    "ZRTP" (0x5A525450) where RTP keeps its timestamp, and the message preamble 0x505A."""
    return len(pl) >= 16 and pl[0] == 0x10 and pl[4:8] == ZRTP_COOKIE and pl[12:14] == b"\x50\x5a"


def _x224(pl: bytes, n: int) -> bool:
    """Whether a TPKT frame carries an X.224 (ISO 8073) TPDU: RDP, ISO-TSAP and T.120 do."""
    li, code = pl[4], pl[5] & 0xF0
    if code == 0xF0:  # DT: length indicator 2
        return li == 2
    return code in (0xE0, 0xD0, 0x80, 0xC0, 0x70, 0x50, 0x60) and li >= 5 and li + 5 <= n


def tpkt_h323(pl: bytes) -> str | None:
    """H.323 over TPKT (RFC 1006: version 3, reserved 0, a 16-bit length of the whole frame;
    H.323 ITU-T H.225.0 / H.245 run over it): "q931" when the frame holds a Q.931 message
    (protocol discriminator 8, call reference of at most 2 bytes, H.225.0 7.2), "h245" when it
    holds no X.224 TPDU (the other users of TPKT: RDP, ISO-TSAP, T.120).  The frame length must
    match the segment or be followed by the next frame's header."""
    n = len(pl)
    if n < 7 or pl[0] != 3 or pl[1]:
        return None
    tlen = (pl[2] << 8) | pl[3]
    if tlen < 7 or (tlen != n and not (tlen + 4 <= n and pl[tlen] == 3 and pl[tlen + 1] == 0)):
        return None
    if pl[4] == 0x08 and pl[5] <= 2:
        return "q931"
    return None if _x224(pl, tlen) else "h245"


def skype_pair(first: bytes, cur: bytes) -> bool:
    """Two packets of Skype's UDP obfuscation layer (Biondi and Desclaux, "Silver Needle in the
    Skype", Black Hat Europe 2006: a 2-byte id, the function byte 0x02 for an obfuscated
    payload, a 4-byte IV, the 4-byte CRC32 of the clear text): the same CRC behind different
    IVs.  Two packets of one RTP stream (same first two bytes, sequence ahead), whose video
    frames also repeat bytes 7-10, are not it."""
    if len(first) < 11 or len(cur) < 11 or first[2] != 2 or cur[2] != 2:
        return False
    if first[7:11] != cur[7:11] or first[3:7] == cur[3:7]:
        return False
    if first[0] & 0xC0 == 0x80 and first[:2] == cur[:2]:
        step = (((cur[2] << 8) | cur[3]) - ((first[2] << 8) | first[3])) & 0xFFFF
        if 0 < step <= SEQ_WINDOW:
            return False
    return True


# BFCP, the Binary Floor Control Protocol of conferences (RFC 8855, RFC 4582): the first byte of
# its COMMON-HEADER is Ver (1: TCP/TLS, 2: UDP/DTLS), R, F and three reserved zero bits
BFCP_FIRST = frozenset((0x20, 0x40, 0x48, 0x50, 0x58))
_BFCP = struct.Struct("!BBHIHH")


def bfcp_message(pl: bytes) -> tuple[int, int] | None:
    """(conference id, transaction id) of BFCP messages that fill the payload exactly, else None.

    RFC 8855 5.1: Ver 1 or 2 (the R and F flags only in version 2), Res 0, Primitive 1-17,
    Payload Length in 32-bit words after the 12-byte header (the fragment fields of F come
    first), then attributes (5.2: 7-bit Type 1-25, M, Length in octets with its 2-byte header,
    padded to 32 bits) that end where the length says.  Over TCP several messages may share a
    segment: each is walked.
    """
    first = None
    i = 0
    n = len(pl)
    while i < n:
        if n - i < 12:
            return None
        b0, prim, words, conf, txn, _user = _BFCP.unpack_from(pl, i)
        ver = b0 >> 5
        if b0 & 0x07 or not 1 <= prim <= 17 or ver not in (1, 2) or (ver == 1 and b0 & 0x18):
            return None
        j = i + 12
        end = j + 4 * words
        if b0 & 0x08:  # fragment offset and length, then a fragment whose attributes are cut
            if end + 4 > n:
                return None
            i = end + 4
            first = first or (conf, txn)
            continue
        if end > n:
            return None
        while j < end:
            if end - j < 4:
                return None
            kind = pl[j] >> 1
            length = pl[j + 1]
            if not 1 <= kind <= 25 or length < 2:
                return None
            j += (length + 3) & ~3
        if j != end:
            return None
        first = first or (conf, txn)
        i = end
    return first


# Mumble's UDP ping (issue 12; Mumble's protocol documentation, "UDP Ping": mumble-protocol.
# readthedocs.io and wiki.mumble.info/wiki/Protocol): the client sends 12 bytes, a zero request
# type and an 8-byte ident; the server answers 24 bytes, its version (0x00 major minor patch,
# network order), the same ident, then connected users, maximum users and allowed bandwidth.
MUMBLE_PING, MUMBLE_PONG = 12, 24
_III = struct.Struct("!III")


def mumble_ping(pl: bytes) -> bytes | None:
    """The ident of a Mumble ping request, else None."""
    return pl[4:12] if len(pl) == MUMBLE_PING and pl.startswith(b"\x00\x00\x00\x00") else None


def mumble_pong(pl: bytes, ident: bytes) -> bool:
    """Whether ``pl`` is the server's answer to the ping with ``ident``: version 1.x or later
    (the top byte 0), the ident echoed, no more users than its maximum."""
    if len(pl) != MUMBLE_PONG or pl[0] or not pl[1] or pl[4:12] != ident:
        return False
    users, most, _bandwidth = _III.unpack_from(pl, 12)
    return users <= most
