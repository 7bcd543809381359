"""Issue 12 audit: nDPI protocols in our use cases that had no rule, fed bytes built from the specs.

FLUTE (RFC 6726) packets are ALC (RFC 5775) packets with an LCT header (RFC 5651 5.1), built
field by field here: the FDT Instance (TOI 0 with EXT_FDT) and file objects' packets, next to
near-misses.  Also the ports, names and ALPN IDs the audit added.
"""

from __future__ import annotations

import os
import random
import struct

from classify_helpers import CLIENT, Ether, client_hello, handshake, only_flow, run, tcp, udp
from scapy.layers.inet import IP, UDP

from tui.classify.detectors import filexfer, voice

FREE = 40124  # a port no rule claims
GROUP = "233.252.0.7"  # MCAST-TEST-NET (RFC 5771): a FLUTE session's group


def ext_fdt(instance: int, version: int = 2) -> bytes:
    """RFC 6726 3.4.1: HET 192, FLUTE version (4 bits), FDT Instance ID (20 bits)."""
    return struct.pack("!I", 192 << 24 | version << 20 | instance)


def ext_fti(transfer_length: int, symbol_length: int = 1428, max_block: int = 64) -> bytes:
    """RFC 5445 (Compact No-Code FEC) EXT_FTI: HET 64, HEL 4, 48-bit transfer length, 16 reserved
    bits, encoding symbol length, maximum source block length."""
    return (
        bytes((64, 4)) + transfer_length.to_bytes(6, "big") + b"\x00\x00" + struct.pack("!HI", symbol_length, max_block)
    )


def lct(
    toi: int,
    exts: bytes = b"",
    tsi: int = 7,
    cp: int = 0,
    c: int = 0,
    res: int = 0,
    close: bool = False,
    words: int | None = None,
    body: bytes = b"\x00\x00\x00\x01" + b"\xa5" * 200,
) -> bytes:
    """An ALC packet: LCT header (S=1, O=1, H=0: 32-bit TSI and TOI), then FEC Payload ID and symbols."""
    b0 = 1 << 4 | c << 2
    b1 = 1 << 7 | 1 << 5 | res << 2 | (2 if close else 0)
    rest = bytes(4 * (c + 1)) + struct.pack("!II", tsi, toi) + exts
    n = (4 + len(rest)) // 4 if words is None else words
    return bytes((b0, b1, n, cp)) + rest + body


def mcast(payload: bytes, sport: int = 40100, dport: int = FREE):
    return Ether() / IP(src=CLIENT, dst=GROUP) / UDP(sport=sport, dport=dport) / payload


FDT_XML = b'<?xml version="1.0" encoding="UTF-8"?><FDT-Instance Expires="3900000000"><File TOI="1"/></FDT-Instance>'


# ---------------------------------------------------------------- FLUTE (RFC 6726)
def test_flute_fdt_instance_alone():
    f = only_flow(run([mcast(lct(0, ext_fdt(1) + ext_fti(len(FDT_XML)), body=b"\x00\x00\x00\x00" + FDT_XML))]))
    assert (f.app, f.use_case, f.reason) == ("FLUTE", "file_transfer", "flute: fdt instance")


def test_flute_rfc3926_version_and_wider_fields():
    f = only_flow(run([mcast(lct(0, ext_fdt(5, version=1), c=1, body=b"\x00" * 4 + FDT_XML))]))
    assert f.reason == "flute: fdt instance"


def test_flute_file_packets_of_one_session():
    pkts = [mcast(lct(3, body=struct.pack("!HH", 0, i) + os.urandom(1428))) for i in range(2)]
    f = only_flow(run(pkts))
    assert (f.app, f.use_case, f.reason) == ("FLUTE", "file_transfer", "flute: alc/lct packets of one session")


def test_flute_parser_fields():
    h = filexfer.lct_header(lct(0, ext_fdt(9)))
    assert h is not None and h[1] == 0 and h[2] == struct.pack("!I", 7) and h[3]
    # EXT_FDT only names the FDT Instance on TOI 0
    assert filexfer.lct_header(lct(4, ext_fdt(9)))[3] is False
    # the packet that closes the session may carry no TOI and no payload
    closing = bytes((0x10, 0x80 | 0x02, 3, 0)) + bytes(4) + struct.pack("!I", 7)
    assert filexfer.lct_header(closing) is not None


def test_flute_near_misses():
    assert filexfer.lct_header(lct(0, ext_fdt(1), res=1)) is None  # reserved bits set
    assert filexfer.lct_header(lct(0, ext_fdt(1), cp=7)) is None  # no such FEC Encoding ID
    assert filexfer.lct_header(lct(0, ext_fdt(1), words=9)) is None  # HDR_LEN past the extensions
    assert filexfer.lct_header(lct(0, ext_fdt(1), words=3)) is None  # HDR_LEN inside the TOI
    assert filexfer.lct_header(lct(0, b"\x40\x00\x00\x00")) is None  # an extension of 0 words
    assert filexfer.lct_header(lct(0, bytes((64, 5)) + bytes(14))) is None  # HEL past HDR_LEN
    assert filexfer.lct_header(lct(1, body=b"")) is None  # no FEC Payload ID
    no_tsi = bytes((0x10, 0x20, 3, 0)) + bytes(4) + struct.pack("!I", 1) + bytes(8)
    assert filexfer.lct_header(no_tsi) is None  # ALC needs a TSI
    assert filexfer.lct_header(bytes((0x20,)) + lct(0, ext_fdt(1))[1:]) is None  # version 2
    zrtp = struct.pack("!BBH", 0x10, 0, 1) + b"ZRTP" + struct.pack("!I", 0xDEADBEEF) + b"\x50\x5a\x00\x00Hello   "
    assert filexfer.lct_header(zrtp) is None


def test_flute_two_sessions_or_a_service_port_are_not_flute():
    # packets of two different sessions (TSIs) are no evidence
    f = only_flow(run([mcast(lct(3, tsi=1)), mcast(lct(3, tsi=2))]))
    assert f.app != "FLUTE"
    # a port of another use case keeps its own verdict (SIP)
    f = only_flow(run([mcast(lct(0, ext_fdt(1)), dport=5060)]))
    assert f.app == "SIP"
    # random datagrams that open with 0x1X: the header's own consistency turns (almost) all away
    parsed = 0
    for _ in range(300):
        pl = bytes((0x10 | os.urandom(1)[0] & 0x0F,)) + os.urandom(60)
        parsed += filexfer.lct_header(pl) is not None
        f = only_flow(run([udp(pl, dport=FREE), udp(os.urandom(60), dport=FREE)]))
        assert f.app != "FLUTE"
    assert parsed < 5


# ---------------------------------------------------------------- ports, names, ALPN
def test_audit_ports():
    f = only_flow(run([*handshake(dport=22067), tcp(b"\x9e\x79\xbc\x40" + bytes(12), dport=22067)]))
    assert (f.app, f.use_case) == ("Syncthing", "file_transfer")
    rtp = struct.pack("!BBHII", 0x80, 96, 1, 160, 0x1234ABCD) + b"\x01" * 160
    rtp2 = struct.pack("!BBHII", 0x80, 96, 2, 320, 0x1234ABCD) + b"\x01" * 160
    # the server's RTP stream from a GeForce NOW port: gaming, not a call
    f = only_flow(run([udp(p, sport=50000, dport=49004, reply=True) for p in (rtp, rtp2)]))
    assert (f.app, f.use_case) == ("GeForceNow", "gaming")
    # a Syncthing relay session on any port: JoinSessionRequest (XDR: a 32-byte key)
    join = struct.pack("!III", 0x9E79BC40, 3, 36) + struct.pack("!I", 32) + os.urandom(32)
    f = only_flow(run([*handshake(dport=443), tcp(join, dport=443)]))
    assert (f.app, f.use_case) == ("Syncthing", "file_transfer")
    # ports nDPI guesses by (benchmarks/ndpi_port_guesses.py) that IANA or the vendor registers
    for pl, dport, app in ((b"\x01" * 8, 7987, "Viber"), (b"\x01" * 8, 1720, "H323"), (b"\x01" * 8, 548, "AFP")):
        f = only_flow(run([udp(pl, dport=dport)]))
        assert f.app == app, (dport, f.app)
    f = only_flow(run([*handshake(dport=4569), tcp(b"\x01" * 8, dport=4569)]))
    assert (f.app, f.use_case) == ("IAX", "voice")
    f = only_flow(run([*handshake(dport=1352), tcp(b"\x00" * 8, dport=1352)]))
    assert (f.app, f.use_case) == ("LotusNotes", "messaging")


def test_audit_names_and_alpn():
    for name, use in (
        ("web.kick.com", "streaming"),
        ("cdn.rumble.com", "streaming"),
        ("prod.nvidiagrid.net", "gaming"),
        ("mtu1xp-mim.vivox.com", "voice"),
        ("www.paltalk.com", "messaging"),
        ("dl.4shared.com", "file_transfer"),
        # names nDPI 4.2 files under these use cases (benchmarks/ndpi_host_names.py)
        ("audio-ak-spotify-com.akamaized.net", "streaming"),
        ("im.qq.com", "messaging"),
        ("v.qq.com", "streaming"),  # the more specific rule still wins
        ("media-fra3-1.cdn.whatsapp.net", "file_transfer"),
        ("a.fuzemeeting.com", "voice"),
    ):
        f = only_flow(run([*handshake(), tcp(client_hello(name), dport=443)]))
        assert (f.name, f.use_case) == (name, use)
    f = only_flow(run([*handshake(dport=FREE), tcp(client_hello(None, alpn=("bep/1.0",)), dport=FREE)]))
    assert (f.use_case, f.reason) == ("file_transfer", "tls alpn bep/1.0")


# ---------------------------------------------------------------- BFCP (RFC 8855, RFC 4582)
def bfcp_attr(kind: int, value: bytes, mandatory: bool = True) -> bytes:
    """RFC 8855 5.2: Type (7 bits), M, Length (octets with this 2-byte header), padded to 32 bits."""
    raw = bytes((kind << 1 | mandatory, 2 + len(value))) + value
    return raw + bytes(-len(raw) % 4)


def bfcp(prim: int, attrs: bytes = b"", ver: int = 2, responder: bool = False, conf: int = 4711, txn: int = 9) -> bytes:
    """RFC 8855 5.1 COMMON-HEADER: Ver, R, F=0, Res 0, Primitive, Payload Length (words), Conference ID,
    Transaction ID, User ID; then the attributes."""
    b0 = ver << 5 | (0x10 if responder else 0)
    return struct.pack("!BBHIHH", b0, prim, len(attrs) // 4, conf, txn, 2) + attrs


HELLO = bfcp(11)  # Hello: the header alone
# HelloAck: SUPPORTED-PRIMITIVES (21) and SUPPORTED-ATTRIBUTES (20)
HELLO_ACK = bfcp(12, bfcp_attr(21, bytes(range(1, 18))) + bfcp_attr(20, bytes((2, 4, 6, 8))), responder=True)
# FloorRequest with FLOOR-ID (2) 1
FLOOR_REQUEST = bfcp(1, bfcp_attr(2, b"\x00\x01"), txn=10)


def test_bfcp_over_udp_both_ways():
    pkts = [udp(HELLO, dport=FREE), udp(HELLO_ACK, dport=FREE, reply=True)]
    f = only_flow(run(pkts))
    assert (f.app, f.use_case, f.reason) == ("BFCP", "streaming", "bfcp: floor control messages both ways")


def test_bfcp_over_tcp_version_1_and_two_messages_in_a_segment():
    hello, ack = bfcp(11, ver=1), bfcp(12, bfcp_attr(21, bytes(range(1, 18))), ver=1)
    pkts = [*handshake(dport=FREE), tcp(hello + bfcp(1, bfcp_attr(2, b"\x00\x01"), ver=1), dport=FREE)]
    f = only_flow(run([*pkts, tcp(ack, dport=FREE, reply=True)]))
    assert (f.app, f.reason) == ("BFCP", "bfcp: floor control messages both ways")


def test_bfcp_parser_and_near_misses():
    assert voice.bfcp_message(FLOOR_REQUEST) == (4711, 10)
    assert voice.bfcp_message(HELLO_ACK + FLOOR_REQUEST) == (4711, 9)
    assert voice.bfcp_message(FLOOR_REQUEST[:-1]) is None  # shorter than its Payload Length
    assert voice.bfcp_message(FLOOR_REQUEST + b"\x00") is None  # a trailing byte
    assert voice.bfcp_message(bfcp(18)) is None  # no primitive 18
    assert voice.bfcp_message(bfcp(11, ver=3)) is None
    assert voice.bfcp_message(bfcp(11, ver=1, responder=True)) is None  # R is version 2's
    assert voice.bfcp_message(bytes((0x41,)) + HELLO[1:]) is None  # reserved bits
    assert voice.bfcp_message(bfcp(1, bfcp_attr(26, b"\x00\x01"))) is None  # no attribute type 26
    assert voice.bfcp_message(bfcp(1, b"\x04\x01\x00\x00")) is None  # an attribute shorter than its header
    assert voice.bfcp_message(bfcp(1, b"\x04\x09\x00\x01")) is None  # an attribute past the message


def test_bfcp_needs_both_ends_of_one_conference():
    # the other end answers for another conference: no evidence
    f = only_flow(run([udp(HELLO, dport=FREE), udp(bfcp(12, conf=1, responder=True), dport=FREE, reply=True)]))
    assert f.app != "BFCP"
    # one end alone
    f = only_flow(run([udp(HELLO, dport=FREE), udp(FLOOR_REQUEST, dport=FREE)]))
    assert f.app != "BFCP"


# ---------------------------------------------------------------- Gnutella over UDP (0.6)
def gnutella(kind: int, payload: bytes, ttl: int = 1, hops: int = 0) -> bytes:
    """RFC-Gnutella 0.6 2.2: GUID (byte 8 0xff, byte 15 0 for a modern servent), type, TTL, hops, length."""
    guid = os.urandom(8) + b"\xff" + os.urandom(6) + b"\x00"
    return guid + bytes((kind, ttl, hops)) + struct.pack("<I", len(payload)) + payload


def test_gnutella_ping_pong_and_query_over_udp():
    pong = struct.pack("<H4sII", 6346, bytes((203, 0, 113, 5)), 120, 4096)
    for pl in (gnutella(0x00, b""), gnutella(0x01, pong), gnutella(0x80, b"\x00\x00ubuntu iso\x00")):
        f = only_flow(run([udp(pl, dport=FREE)]))
        assert (f.app, f.use_case, f.reason) == ("Gnutella", "file_transfer", "gnutella: gnutella message")


def test_gnutella_whatever_the_guid_begins_with():
    """The GUID is random: its first byte may look like RTP (0x80-0xBF) or QUIC (0xC0-0xFF)."""
    rng = random.Random(12)
    for _ in range(200):
        first = rng.randrange(0x80, 0x100)
        pl = bytes((first,)) + rng.randbytes(7) + gnutella(0x00, b"")[8:]
        f = only_flow(run([udp(pl, dport=FREE)]))
        assert (f.app, f.use_case) == ("Gnutella", "file_transfer"), pl[:8].hex()


def test_gnutella_near_misses():
    assert filexfer.gnutella_message(gnutella(0x80, b"\x00\x00x\x00"))
    assert not filexfer.gnutella_message(gnutella(0x80, b"\x00\x00x\x00") + b"\x00")  # length is not the rest
    assert not filexfer.gnutella_message(gnutella(0x03, b""))  # no payload type 3
    assert not filexfer.gnutella_message(gnutella(0x00, b"", ttl=0))  # nothing travels with TTL 0
    assert not filexfer.gnutella_message(gnutella(0x00, b"", ttl=12, hops=6))
    assert not filexfer.gnutella_message(gnutella(0x01, b"\x00" * 10))  # a Pong shorter than its fields
    assert not filexfer.gnutella_message(bytes(23))  # an all-zero GUID
    # on a port of another use case (DNS answers its own way; here SIP's)
    f = only_flow(run([udp(gnutella(0x00, b""), dport=5060)]))
    assert f.app == "SIP"


def test_checkmk_agent_output_and_smpp_port():
    """nDPI's DataTransfer/Download protocols: Checkmk's agent output (on any port), SMPP's port."""
    out = b"<<<check_mk>>>\nVersion: 2.2.0\nAgentOS: linux\n"
    f = only_flow(run([*handshake(sport=40000, dport=FREE), tcp(out, sport=40000, dport=FREE, reply=True)]))
    assert (f.app, f.use_case) == ("Checkmk", "file_transfer")
    f = only_flow(run([*handshake(sport=40000, dport=FREE), tcp(out[3:], sport=40000, dport=FREE, reply=True)]))
    assert f.app != "Checkmk"  # the section header is the rule, not any text after it
    bind = struct.pack("!IIII", 16 + 9, 0x00000009, 0, 1) + b"esme\x00pw\x00\x00"  # bind_transceiver
    f = only_flow(run([*handshake(sport=40001, dport=2775), tcp(bind, sport=40001, dport=2775)]))
    assert (f.app, f.use_case) == ("SMPP", "file_transfer")
