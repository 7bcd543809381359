"""Streaming: the RTMP handshake (Adobe RTMP specification 5.2), MPEG transport streams (ISO 13818-1)."""

from __future__ import annotations

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
