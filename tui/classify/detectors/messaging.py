"""Messaging: WhatsApp's chat connection, Telegram's MTProto transports, IRC, Threema's handshake."""

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


# IRC (RFC 1459 2.3, RFC 2812 2.3.1): CRLF-ended lines, "[:prefix SPACE] command params";
# the command is a word or a 3-digit numeric reply.  A client opens with NICK/USER (or PASS,
# CAP); a server's first lines are NOTICEs or numerics with its name as the prefix.
IRC_FIRST = frozenset(b":NUPC")
_IRC_SERVER_COMMANDS = frozenset((b"NOTICE", b"PRIVMSG", b"PING", b"JOIN", b"MODE", b"CAP", b"ERROR"))
_IRC_CLIENT_COMMANDS = frozenset((b"NICK", b"USER", b"PASS", b"CAP"))


def irc_line(pl: bytes) -> bool:
    """The first line of a segment is an IRC message a client or a server opens with."""
    end = pl.find(b"\n", 0, 512)
    if end < 4:
        return False
    line = pl[:end].rstrip(b"\r")
    if len(line) < 4 or not line.isascii():  # a run of CRs strips to nothing
        return False
    parts = line.split(b" ", 3)
    if line[0] == 0x3A:  # ":prefix command ..." from a server
        if len(parts) < 3 or len(parts[0]) < 2:
            return False
        cmd = parts[1]
        return (len(cmd) == 3 and cmd.isdigit()) or cmd in _IRC_SERVER_COMMANDS
    cmd = parts[0]
    if cmd not in _IRC_CLIENT_COMMANDS or len(parts) < 2 or not parts[1]:
        return False
    if cmd == b"USER":  # USER <user> <mode> <unused> :<realname>
        p = line.split(b" ", 4)
        return len(p) == 5 and p[4].startswith(b":")
    return True


# Threema's chat server protocol (issue 12; Threema's protocol documentation, threema-ch.github.io/
# threema-protocols, "Chat Server Protocol", handshake): the client opens with client-hello, its
# temporary public key (32 bytes) and client cookie (16), 48 bytes; the server answers
# server-hello, its cookie (16) and a box of its temporary key and the client's cookie (32 + 16 +
# a 16-byte tag), 80 bytes.  Both are random to look at: the exact sizes of the two first payloads,
# one from each end, on the ports Threema's clients reach its servers on (5222, 443 as fallback).
THREEMA_CLIENT_HELLO, THREEMA_SERVER_HELLO = 48, 80
THREEMA_PORTS = frozenset((5222, 443))
