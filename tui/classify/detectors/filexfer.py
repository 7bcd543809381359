"""File transfer: BitTorrent's uTP (BEP 29), TFTP (RFC 1350), the BitTorrent HTTP tracker (BEP 3)."""

from __future__ import annotations

import struct

_UTP = struct.Struct("!BBH")
_HH = struct.Struct("!HH")
TFTP_MODES = (b"octet", b"netascii", b"mail")


def utp_header(pl: bytes) -> tuple[int, int] | None:
    """(packet type, connection id) of a uTP header, else None.

    BEP 29: version 1 in the low nibble and type 0-4 (DATA, FIN, STATE, RESET, SYN) in the
    high one, an extension byte (0 none, 1 selective ack, 2 extension bits), 20 bytes at least.
    """
    if len(pl) < 20:
        return None
    b0, ext, conn = _UTP.unpack_from(pl, 0)
    if b0 & 0x0F != 1 or b0 >> 4 > 4 or ext > 2:
        return None
    if b0 >> 4 == 4 and (ext != 0 or len(pl) != 20):  # a SYN carries no data and, here, no extension
        return None
    return b0 >> 4, conn


def utp_pair(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two uTP packets of one connection: the ids the two ends use differ by at most one (BEP 29)."""
    return abs(a[1] - b[1]) <= 1


def dht_peers(pl: bytes) -> list[tuple[bytes, int]]:
    """Peers a DHT get_peers answer lists (BEP 5: "values", a list of 6-byte compact IPv4
    address+port strings), at most 64."""
    i = pl.find(b"6:valuesl")
    if i < 0:
        return []
    out = []
    p = i + 9
    while len(out) < 64 and pl.startswith(b"6:", p) and p + 8 <= len(pl):
        raw = pl[p + 2 : p + 8]
        out.append((bytes(raw[:4]), (raw[4] << 8) | raw[5]))
        p += 8
    return out


def tftp_request(pl: bytes) -> bool:
    """A read or write request: opcode 1/2, a file name, NUL, a transfer mode, NUL."""
    if len(pl) < 9 or pl[0] != 0 or pl[1] not in (1, 2) or pl[-1] != 0:
        return False
    parts = pl[2:-1].split(b"\x00")
    return len(parts) >= 2 and bool(parts[0]) and parts[1].lower() in TFTP_MODES


def tftp_transfer(pl: bytes) -> tuple[int, int] | None:
    """(opcode, block) of a DATA (3, at most 512 bytes of data) or ACK (4, exactly 4 bytes) packet."""
    n = len(pl)
    if n < 4 or pl[0] != 0:
        return None
    op, block = _HH.unpack_from(pl, 0)
    if op == 3 and n <= 516:
        return op, block
    if op == 4 and n == 4:
        return op, block
    return None


def tftp_answers(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """DATA block k answered by ACK k (or the other way round), or DATA k then DATA k+1."""
    if a[0] != b[0]:
        return a[1] == b[1]
    return a[0] == 3 and (b[1] - a[1]) & 0xFFFF == 1


def tracker_request(target: str) -> bool:
    """An HTTP tracker announce or scrape (BEP 3, BEP 48): /announce?info_hash=... ."""
    path, _, query = target.partition("?")
    return path.endswith(("/announce", "/scrape", "/announce.php", "/scrape.php")) and "info_hash=" in query
