"""Messaging: WhatsApp's chat connection and Telegram's MTProto transports."""

from __future__ import annotations

# WhatsApp opens its chat connection with a 4-byte prologue before the Noise handshake:
# "WA" and the protocol version, or "ED" and a routing header (WhatsApp's security
# whitepaper, "Noise Pipes"; the same bytes nDPI keys on).
WHATSAPP_PROLOGUES = (b"WA\x01\x05", b"WA\x02\x01", b"ED\x00\x01")


def whatsapp(pl: bytes) -> bool:
    return len(pl) >= 4 and pl[:4] in WHATSAPP_PROLOGUES


def mtproto(pl: bytes) -> bool:
    """An MTProto transport opening (core.telegram.org/mtproto/mtproto-transports): the abridged
    transport's 0xef, then the first packet's length in 4-byte words (0x7f: a 3-byte length);
    or the intermediate (0xeeeeeeee) or padded intermediate (0xdddddddd) tag."""
    n = len(pl)
    if n < 8:
        return False
    if pl[0] == 0xEF:
        return n > 56 and (pl[1] == 0x7F or 0 < pl[1] * 4 <= n - 2)
    return pl[:4] in (b"\xee\xee\xee\xee", b"\xdd\xdd\xdd\xdd")
