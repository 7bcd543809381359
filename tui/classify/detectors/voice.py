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
