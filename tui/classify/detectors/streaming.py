"""Streaming: the RTMP handshake (Adobe RTMP specification 5.2), MPEG transport streams (ISO 13818-1),
RTSP interleaving, MMS, Spotify, and Zoom's media encapsulation (Michel et al., IMC 2022)."""

from __future__ import annotations

from tui.classify.detectors import voice

RTMP_VERSIONS = (3, 6)  # 3 plain, 6 encrypted (RTMPE)
RTMP_C1 = 1536  # bytes of the C1/S1 handshake chunk after the version byte
MTS_PACKET = 188


def rtmp_hello(pl: bytes) -> bool:
    """C0+C1 (or S0+S1): the version byte, then the 1536-byte chunk, possibly cut by the MSS.

    A segment at least as long as a typical MSS counts; the spec's zero field (bytes 5-8) is
    not checked, since Flash Player writes its version there.
    """
    return len(pl) >= 1000 and pl[0] in RTMP_VERSIONS and (len(pl) >= 1 + RTMP_C1 or len(pl) in range(1000, 1461))


def mpeg_ts(pl: bytes) -> bool:
    """Whole 188-byte transport stream packets, each starting with the sync byte 0x47."""
    n = len(pl)
    if n < MTS_PACKET or n % MTS_PACKET:
        return False
    return all(pl[i] == 0x47 for i in range(0, n, MTS_PACKET))


# ---- issue 12: RTSP interleaving, MMS, Spotify's access point handshake


def rtsp_interleaved(pl: bytes) -> bool:
    """RTP/RTCP interleaved in an RTSP connection (RFC 2326 10.12, RFC 7826 14): "$", a channel
    byte, a 16-bit length, then that many bytes of an RTP or RTCP packet (version 2); the next
    frame, if the segment holds one, starts with "$" again."""
    n = len(pl)
    if n < 16 or pl[0] != 0x24 or pl[4] & 0xC0 != 0x80:
        return False
    flen = (pl[2] << 8) | pl[3]
    if flen < 12:
        return False
    end = 4 + flen
    return end == n or (end < n and pl[end] == 0x24) or (end > n and n >= 1000)


MMS_SESSION = b"\xce\xfa\x0b\xb0"  # 0xB00BFACE, little-endian


def mms_tcp(pl: bytes) -> bool:
    """A Microsoft Media Server message over TCP ([MS-MMSP] 2.2.3 TcpMessageHeader): rep 0x01,
    the session id 0xB00BFACE, the message length, then the seal "MMS "."""
    return len(pl) >= 16 and pl[0] == 1 and pl[4:8] == MMS_SESSION and pl[12:16] == b"MMS "


def spotify_hello(pl: bytes) -> bool:
    """The first message of a Spotify client to its access point (the protocol as documented by
    librespot, core/src/connection: handshake.rs and keyexchange.proto): the version 0x0004, a
    32-bit length of the whole message, then a protobuf ClientHello whose first field is
    build_info (field 10, length-delimited: tag 0x52)."""
    n = len(pl)
    if n < 16 or pl[0] or pl[1] != 4 or pl[6] != 0x52:
        return False
    mlen = int.from_bytes(pl[2:6], "big")
    return 16 <= mlen <= 8192 and (mlen == n or (mlen > n >= 1000)) and pl[7] + 8 <= mlen


# ---- Zoom's media encapsulation (issue 12, recent nDPI's Zoom dissector keys on it too): the
# format as documented by the Wireshark dissector of Michel et al., "Enabling Passive
# Measurement of Zoom Performance in Production Networks" (IMC 2022), github.com/
# Princeton-Cabernet/zoom-analysis, wireshark/zoom.lua.  Packets to and from Zoom's servers
# carry an 8-byte SFU header (type 5, a sequence number, the direction in byte 7: 0 to Zoom,
# 4 from Zoom), then the media header; peer-to-peer packets start with the media header.  The
# media header's type says where the RTP (or RTCP) packet it wraps begins.
ZOOM_SFU = 0x05
ZOOM_SFU_LEN = 8
_ZOOM_DIRECTIONS = (0x00, 0x04)
ZOOM_AUDIO, ZOOM_VIDEO, ZOOM_P2P_SHARE, ZOOM_SHARE = 15, 16, 30, 13
_ZOOM_RTP_AT = {ZOOM_AUDIO: 19, ZOOM_P2P_SHARE: 20, 1: 26}  # video: 20, or 24 with the frame fields
_ZOOM_RTCP = (33, 34, 35)  # RTCP at byte 16 of the media header
ZOOM_P2P_FIRST = frozenset((ZOOM_AUDIO, ZOOM_VIDEO, ZOOM_P2P_SHARE))  # P2P media a flow opens with


def zoom_media_rtp(pl: bytes, i: int) -> tuple[int, int, int] | None:
    """The RTP header (payload type, sequence, SSRC) that the Zoom media header at ``i`` wraps."""
    n = len(pl)
    if n < i + 32:
        return None
    t = pl[i]
    if t == ZOOM_VIDEO:
        at = 24 if pl[i + 20] == 0x02 else 20  # byte 20 is 2 when frame number and count follow
    elif t == ZOOM_SHARE:
        if pl[i + 7] != 0x1E:  # only the server's screen-share subtype carries RTP
            return None
        at = 27
    else:
        at = _ZOOM_RTP_AT.get(t)
        if at is None:
            return None
    return voice.rtp_header(pl[i + at : i + at + 12 + 60])


def zoom_sfu(pl: bytes) -> bool:
    """A Zoom packet to or from its servers: the SFU header, then a media header whose RTP
    (version 2, a payload type RTP uses) or RTCP packet starts where its type says."""
    if len(pl) < ZOOM_SFU_LEN + 32 or pl[0] != ZOOM_SFU or pl[7] not in _ZOOM_DIRECTIONS:
        return False
    if pl[ZOOM_SFU_LEN] in _ZOOM_RTCP:
        return voice.rtcp(pl[ZOOM_SFU_LEN + 16 :])
    return zoom_media_rtp(pl, ZOOM_SFU_LEN) is not None
