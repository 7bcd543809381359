"""File transfer: BitTorrent's uTP (BEP 29), TFTP (RFC 1350), the BitTorrent HTTP tracker (BEP 3),
eDonkey, NFS and AFP openings, FLUTE's ALC/LCT packets (RFC 6726, 5775, 5651), UFTP 5, Lustre, Ceph's
messenger banners."""

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


# eDonkey/eMule (the eDonkey2000 protocol as documented by the eMule project, "eMule protocol
# specification", Kulbak & Bickson 2005): a packet is a protocol byte (0xE3 eDonkey, 0xC5 eMule
# extensions, 0xD4 zlib-packed), a 4-byte little-endian length of what follows, an opcode.
EDONKEY_PROTOCOLS = frozenset((0xE3, 0xC5, 0xD4))
# The first packet of a connection: HELLO (client to client or to a server: login) or HELLO
# ANSWER; both carry a 16-byte user hash, so at least 17 bytes follow the header.
_EDONKEY_OPENING = frozenset((0x01, 0x4C))
_I = struct.Struct("<I")


def edonkey_hello(pl: bytes) -> bool:
    n = len(pl)
    if n < 23 or pl[0] not in EDONKEY_PROTOCOLS or pl[5] not in _EDONKEY_OPENING:
        return False
    length = _I.unpack_from(pl, 1)[0]
    return 17 <= length <= 4096 and 5 + length <= n and (5 + length == n or pl[5 + length] in EDONKEY_PROTOCOLS)


# ONC RPC (RFC 5531): over TCP a record mark (last-fragment bit and 31-bit length), then xid,
# message type 0 (CALL), RPC version 2, program, version, procedure.  The programs of NFS
# (RFC 1813, 7530) and its helpers: nfs 100003, mount 100005, nlockmgr 100021, nfs_acl 100227.
NFS_PROGRAMS = frozenset((100003, 100005, 100021, 100227))
_RPC = struct.Struct("!IIIIII")  # record mark, xid, msg type, rpc version, program, version


def nfs_call(pl: bytes) -> bool:
    """An RPC call to an NFS program, in one TCP record (a record mark whose length fits)."""
    n = len(pl)
    if n < 44:
        return False
    mark, _xid, mtype, rpcvers, prog, vers = _RPC.unpack_from(pl, 0)
    if not mark & 0x80000000 or (mark & 0x7FFFFFFF) + 4 < 44 or mtype != 0 or rpcvers != 2:
        return False
    return prog in NFS_PROGRAMS and 1 <= vers <= 4


# AFP over TCP: the Data Stream Interface (Apple, "AFP Programming Guide", DSI header): flags
# (0 request, 1 reply), command (1 CloseSession, 2 Command, 3 GetStatus, 4 OpenSession,
# 5 Tickle, 6 Write, 8 Attention), request id, error code / data offset, total data length,
# 4 reserved zero bytes; 16 bytes, then the data.  A session opens with OpenSession or GetStatus.
_DSI = struct.Struct("!BBHIII")
_DSI_OPENING = frozenset((3, 4))


def dsi_opening(pl: bytes) -> bool:
    n = len(pl)
    if n < 16:
        return False
    flags, cmd, _rid, offset, total, reserved = _DSI.unpack_from(pl, 0)
    if flags > 1 or cmd not in _DSI_OPENING or reserved != 0 or total != n - 16:
        return False
    return flags == 1 or offset == 0  # a request's data offset is zero except for a Write


# FLUTE (RFC 6726): files over ALC (RFC 5775), whose packets open with an LCT header (RFC 5651 5.1)
LCT_FIRST = frozenset(range(0x10, 0x20))  # version 1 in the high nibble, then C and PSI
EXT_FDT = 192  # RFC 6726 3.4.1: the FDT Instance header extension (fixed 32 bits)
# FEC Encoding IDs (IANA "Reliable Multicast Transport (RMT) FEC Encoding IDs"), which ALC
# carries in the LCT codepoint: Compact No-Code, Raptor, Reed-Solomon (GF(2^m), GF(2^8)), LDPC
# Staircase/Triangle, RaptorQ; and the under-specified 128-130
FEC_ENCODINGS = frozenset((0, 1, 2, 3, 4, 5, 6, 128, 129, 130))


def lct_header(pl: bytes) -> tuple[int, int, bytes, bool] | None:
    """(flags, codepoint, TSI, FDT Instance) of an ALC/LCT packet, else None.

    RFC 5651 5.1: V = 1, C (congestion control info of 32*(C+1) bits), PSI, S/O/H (TSI of
    32*S+16*H bits, TOI of 32*O+16*H), two reserved bits that are 0, A and B, HDR_LEN (the whole
    LCT header in 32-bit words), codepoint; header extensions fill the rest exactly (HET < 128:
    HEL words, HEL > 0; HET >= 128: one word).  ALC (RFC 5775 4.1) needs a TSI; FLUTE (RFC 6726
    3.3) a TOI except in the packet that closes the session (A), and its FDT Instance is TOI 0
    with EXT_FDT (version 1 of RFC 3926 or 2 of RFC 6726).  After the header comes the FEC
    Payload ID (at least 32 bits) unless the session closes.
    """
    if len(pl) < 12:
        return None
    b0, b1, words, cp = pl[0], pl[1], pl[2], pl[3]
    if b0 >> 4 != 1 or b1 & 0x0C or cp not in FEC_ENCODINGS:
        return None
    half = 2 if b1 & 0x10 else 0
    tsi_len = 4 * (b1 >> 7) + half
    toi_len = 4 * ((b1 >> 5) & 3) + half
    close = b1 & 0x02
    if not tsi_len or (not toi_len and not close):
        return None
    i = 4 + 4 * (((b0 >> 2) & 3) + 1)
    end = 4 * words
    if i + tsi_len + toi_len > end or end + (0 if close else 4) > len(pl):
        return None
    tsi = pl[i : i + tsi_len]
    i += tsi_len
    toi = pl[i : i + toi_len]
    i += toi_len
    fdt = False
    while i < end:
        het = pl[i]
        if het < 128:
            hel = pl[i + 1]
            if not hel:
                return None
            i += 4 * hel
        else:
            if het == EXT_FDT and pl[i + 1] >> 4 in (1, 2) and not any(toi):
                fdt = True
            i += 4
    if i != end:
        return None
    return b0 & 0xFC | (b1 & 0xF0) << 8, cp, tsi, fdt


def lct_same_session(a: tuple[int, int, bytes, bool], b: tuple[int, int, bytes, bool]) -> bool:
    """Two LCT packets of one session: same field sizes, codepoint and TSI (RFC 5651 5.1)."""
    return a[:3] == b[:3]


# Gnutella 0.6 (RFC-Gnutella 0.6, 2.2): every message opens with a 23-byte header: Message ID
# (a 16-byte GUID), Payload Type, TTL, Hops, Payload Length (32 bits, little-endian)
GNUTELLA_TYPES = frozenset((0x00, 0x01, 0x02, 0x31, 0x32, 0x40, 0x80, 0x81))
# the smallest payload of each type: Pong (port, IP, files, kbytes), Bye (code, NUL-ended
# text), vendor messages (vendor, selector, version), Push (servent id, index, IP, port), Query
# (minimum speed, NUL-ended criteria), Query Hit (hits, port, IP, speed, servent id)
_GNUTELLA_MIN = {0x00: 0, 0x01: 14, 0x02: 3, 0x31: 8, 0x32: 8, 0x40: 26, 0x80: 3, 0x81: 27}


def gnutella_message(pl: bytes) -> bool:
    """One Gnutella message fills the datagram (GUESS and other UDP messages, 0.6).

    The Payload Length is the rest exactly and at least its type's fixed fields, the TTL is at
    least 1 (a servent forwards nothing with TTL 0) and TTL + Hops at most 16 (servents drop
    larger ones), the GUID is not all zero."""
    if len(pl) < 23:
        return False
    kind = pl[16]
    n = len(pl) - 23
    return (
        kind in GNUTELLA_TYPES
        and pl[17] >= 1
        and pl[17] + pl[18] <= 16
        and int.from_bytes(pl[19:23], "little") == n
        and n >= _GNUTELLA_MIN[kind]
        and any(pl[:16])
    )


# ---- issue 12: UFTP and Lustre

# UFTP 5, encrypted multicast file transfer (UFTP's protocol.txt; the Wireshark dissector
# packet-uftp5.c by UFTP's author): a 16-byte header (version 0x50, function, sequence number,
# source id, group id, group instance, GRTT, group size, a reserved byte), then the message body,
# which repeats the function byte and gives its own header length in 32-bit words.
UFTP_VERSION = 0x50
UFTP_HEADER = 16
# ANNOUNCE 1 .. CC_ACK 21; 16 (KEY_REQ) is obsolete and ENCRYPTED (18) hides its body
UFTP_FUNCTIONS = frozenset(range(1, 22)) - {16, 18}


def uftp_message(pl: bytes) -> bool:
    """A UFTP 5 message: header, reserved byte 0, the body's function byte the header's, the
    body's header length (at least one word) inside the datagram."""
    n = len(pl)
    if n < UFTP_HEADER + 4 or pl[0] != UFTP_VERSION or pl[15]:
        return False
    func = pl[1]
    return func in UFTP_FUNCTIONS and pl[16] == func and pl[17] > 0 and UFTP_HEADER + 4 * pl[17] <= n


# Lustre's LNet acceptor (Lustre source, lnet/include/uapi/linux/lnet/lnet-idl.h and
# lnet/lnet/acceptor.c): a TCP connection to the acceptor (port 988) opens with
# lnet_acceptor_connreq, the magic LNET_PROTO_ACCEPTOR_MAGIC 0xacce7100, the acceptor version 1
# and the NID of the node the client wants, in the sender's byte order (little-endian on the
# x86 and ARM nodes Lustre runs on); on a TCP network the NID's low 32 bits are the target's
# IPv4 address, so they must be the address the segment is sent to.
LNET_ACCEPTOR = b"\x00\x71\xce\xac\x01\x00\x00\x00"  # magic and version 1, little-endian


def lustre_connreq(pl: bytes, target: bytes) -> bool:
    """An LNet acceptor connection request to ``target`` (the receiver's IPv4 address)."""
    return len(pl) >= 16 and len(target) == 4 and pl.startswith(LNET_ACCEPTOR) and pl[8:12] == target[::-1]


# Ceph's messenger (Ceph documentation, "Messenger v2 protocol", docs.ceph.com/en/latest/dev/msgr2):
# both ends of a connection to a monitor or an OSD open with a banner, "ceph v2\n", a
# little-endian 16-bit length of what follows (16: the supported and required feature bits);
# the legacy messenger's banner is "ceph v027" (CEPH_BANNER in msgr.h), then entity addresses.
CEPH_V2 = b"ceph v2\n"
CEPH_V1 = b"ceph v027"


def ceph_banner(pl: bytes) -> bool:
    """A Ceph messenger banner: v2 with its payload length (at least the two feature words) inside
    the segment, or the legacy v1 banner."""
    if pl.startswith(CEPH_V2):
        if len(pl) < 10:
            return False
        length = pl[8] | pl[9] << 8
        return 16 <= length <= 1024 and len(pl) >= 10 + 16
    return pl.startswith(CEPH_V1)
