"""Game engines' connection handshakes: RakNet (Minecraft Bedrock, Roblox and others), Minecraft Java."""

from __future__ import annotations

# RakNet's "offline message" magic: every unconnected ping/pong and open-connection
# request/reply carries these 16 bytes at a fixed place (RakNet's MessageIdentifiers.h and
# wiki.vg's Raknet Protocol page).
RAKNET_MAGIC = bytes.fromhex("00ffff00fefefefefdfdfdfd12345678")
_MAGIC_AT = {0x01: 9, 0x02: 9, 0x1C: 17, 0x05: 1, 0x06: 1, 0x07: 1, 0x08: 1, 0x19: 1}
RAKNET_IDS = frozenset(_MAGIC_AT)  # the message ids that carry the magic


def raknet_offline(pl: bytes) -> bool:
    off = _MAGIC_AT.get(pl[0]) if pl else None
    return off is not None and pl[off : off + 16] == RAKNET_MAGIC


def connectionless(pl: bytes) -> bool:
    """A Source/GoldSrc (and Quake-family) out-of-band packet: a header of four 0xFF bytes, then
    a one-byte type (Valve Developer Community, "Server queries"; the Quake III protocol)."""
    return len(pl) >= 5 and pl[:4] == b"\xff\xff\xff\xff"


def _varint(pl: bytes, p: int) -> tuple[int, int] | None:
    value = 0
    for i in range(5):
        if p >= len(pl):
            return None
        b = pl[p]
        value |= (b & 0x7F) << (7 * i)
        p += 1
        if not b & 0x80:
            return value, p
    return None


def minecraft_handshake(pl: bytes) -> bool:
    """Minecraft Java's first packet (wiki.vg Protocol, Handshaking): length, id 0, protocol
    version, server address (a string), port, next state 1 (status) or 2 (login)."""
    got = _varint(pl, 0)
    if got is None:
        return False
    length, p = got
    if not 7 <= length <= 300 or p + length > len(pl) or pl[p] != 0:
        return False
    end = p + length
    got = _varint(pl, p + 1)  # protocol version
    if got is None:
        return False
    got = _varint(pl, got[1])  # address length
    if got is None:
        return False
    alen, q = got
    if not 1 <= alen <= 255 or q + alen + 3 != end:
        return False
    return pl[end - 1] in (1, 2, 3)
