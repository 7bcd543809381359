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


# ---- issue 12: more game protocols, each from its published wire format


def hazel_hello(pl: bytes) -> int | None:
    """The packet id of a Hazel Hello, else None.

    Hazel (Innersloth's UDP library under Among Us, github.com/willardf/Hazel-Networking,
    UdpConnection): a datagram opens with its send option; Hello (8) carries a reliable id
    (big-endian u16), Hazel's version byte (0 or 1) and the handshake data.
    """
    if len(pl) < 4 or pl[0] != 0x08 or pl[3] > 1:
        return None
    return (pl[1] << 8) | pl[2]


def hazel_ack(pl: bytes, packet_id: int) -> bool:
    """Hazel's acknowledgement of ``packet_id``: send option 10, the id, a recent-packets mask."""
    return len(pl) == 4 and pl[0] == 0x0A and ((pl[1] << 8) | pl[2]) == packet_id


# Valve's Steam Networking Sockets over UDP (github.com/ValveSoftware/GameNetworkingSockets,
# steamnetworkingsockets_udp.cpp and steamnetworkingsockets_messages_udp.proto): CS2, Dota 2
# and other Steam games.  A message is its id byte then a protobuf; the client's
# ChallengeRequest (32) and ConnectRequest (34) are padded to 512 bytes behind a 3-byte header
# (id, little-endian protobuf length); the server answers 33 / 35 unpadded.  Every one of these
# protobufs opens with field 1, the client's fixed32 connection id (tag 0x0D).
SNS_REQUESTS = frozenset((0x20, 0x22))
_SNS_PADDED = 512


def sns_request(pl: bytes) -> bytes | None:
    """The client's connection id of a padded ChallengeRequest / ConnectRequest, else None."""
    if len(pl) < _SNS_PADDED or pl[0] not in SNS_REQUESTS or pl[3] != 0x0D:
        return None
    end = 3 + (pl[1] | (pl[2] << 8))
    if not 8 <= end <= len(pl) or any(pl[end:]):  # the padding is zeros
        return None
    return pl[4:8]


def sns_reply(pl: bytes, request_id: int, conn: bytes) -> bool:
    """The server's ChallengeReply / ConnectOK to a request: the next id, the same connection id."""
    return len(pl) >= 6 and pl[0] == request_id + 1 and pl[1] == 0x0D and pl[2:6] == conn


# miHoYo's handshake before its KCP session (Genshin Impact, Honkai: Star Rail), as the
# open-source server Grasscutter documents it (net/Handshake): 20 bytes, big-endian, a magic
# word, conversation id, token, data, closing magic word; connect, its answer, disconnect.
_KCP_MAGICS = {0x000000FF: 0xFFFFFFFF, 0x00000145: 0x14514545, 0x00000194: 0x19419494}


def mihoyo_handshake(pl: bytes) -> bool:
    if len(pl) != 20:
        return False
    close = _KCP_MAGICS.get(int.from_bytes(pl[:4], "big"))
    return close is not None and int.from_bytes(pl[16:20], "big") == close


# Nintendo's PIA (the peer-to-peer library of Nintendo Switch and 3DS/Wii U games): every
# datagram opens with the magic 32 AB 98 64 and a version byte (kinnay/NintendoClients wiki,
# "PIA Protocol").
PIA_MAGIC = b"\x32\xab\x98\x64"


def nintendo_pia(pl: bytes) -> bool:
    return len(pl) >= 16 and pl[:4] == PIA_MAGIC


# Battle.net's classic chat/game protocol (BNCS, StarCraft, Diablo II, Warcraft II/III) and
# Warcraft III's game protocol (W3GS), as BNETDocs documents them: a TCP connection opens with
# a protocol byte (1: game), then messages of [0xFF or 0xF7][id][little-endian u16 length of
# the whole message][data].
BNET_CLASSES = frozenset((0xFF, 0xF7))


def bnet_frames(pl: bytes, p: int = 0) -> bool:
    """Whether ``pl[p:]`` is whole BNCS/W3GS messages (at least one, at most 32)."""
    n = len(pl)
    if p >= n:
        return False
    for _ in range(32):
        if p + 4 > n or pl[p] not in BNET_CLASSES:
            return False
        size = pl[p + 2] | (pl[p + 3] << 8)
        if size < 4:
            return False
        p += size
        if p == n:
            return True
    return False
