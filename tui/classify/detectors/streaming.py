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
