"""Issue 12: protocols a recent nDPI detects by payload in our use cases, fed bytes built from
their own specifications and reference implementations, each next to its near-misses.

Zoom's media encapsulation (Michel et al., IMC 2022, zoom.lua), Mumble's UDP ping (Mumble's
protocol documentation), Threema's handshake (Threema's protocol documentation), UFTP 5
(protocol.txt, packet-uftp5.c), Lustre's LNet acceptor request (lnet-idl.h), RDP over UDP
(MS-RDPEUDP).
"""

from __future__ import annotations

import os
import struct

from classify_helpers import SERVER, handshake, only_flow, run, tcp, udp

from tui.classify.detectors import filexfer, remote, streaming, voice

FREE = 40124  # a port no rule claims


def rtp(seq: int = 1, ssrc: int = 0x1234ABCD, pt: int = 112, version: int = 2) -> bytes:
    """RFC 3550 5.1: V=2, no padding, extension or CSRCs; payload type, sequence, timestamp, SSRC."""
    return struct.pack("!BBHII", version << 6, pt, seq, seq * 960, ssrc) + os.urandom(120)


# ---------------------------------------------------------------- Zoom (zoom.lua of Michel et al.)
def sfu(inner: bytes, direction: int = 0, seq: int = 7) -> bytes:
    """The SFU header: type 5, sequence number, 4 bytes, the direction (0 to Zoom, 4 from Zoom)."""
    return struct.pack("!BHIB", 5, seq, 0, direction) + inner


def media(kind: int, body: bytes, frame: bool = False) -> bytes:
    """A media header whose wrapped RTP starts where its type says: audio (15) at 19, video (16)
    at 20 or, with frame number and packet count (byte 20 = 2), at 24, P2P share (30) at 20."""
    at = {15: 19, 16: 20, 30: 20}[kind]
    head = bytearray(os.urandom(at))
    head[0] = kind
    if kind == 16:
        head[20:] = b""
        if frame:
            head += b"\x02\x00\x11\x03"
        elif body[0] == 2:
            raise ValueError("byte 20 would read as the frame flag")
    return bytes(head) + body


def zoom_rtcp(kind: int = 33) -> bytes:
    """Media types 33-35 wrap an RTCP packet at byte 16: here a receiver report (RFC 3550 6.4.2)."""
    rr = struct.pack("!BBHI", 0x81, 201, 7, 0x1234ABCD) + os.urandom(24)
    return bytes((kind,)) + os.urandom(15) + rr


def test_zoom_sfu_audio_video_and_rtcp():
    for inner in (media(15, rtp()), media(16, rtp()), media(16, rtp(), frame=True), zoom_rtcp(), zoom_rtcp(35)):
        f = only_flow(run([udp(sfu(inner), dport=FREE)]))
        assert (f.app, f.use_case, f.reason) == ("Zoom", "streaming", "zoom: zoom sfu media")
    # from Zoom's server (direction 4), and on Zoom's own port
    f = only_flow(run([udp(sfu(media(15, rtp()), direction=4), dport=FREE, reply=True)]))
    assert f.reason == "zoom: zoom sfu media"
    f = only_flow(run([udp(sfu(media(16, rtp())), dport=8801)]))
    assert f.reason == "zoom: zoom sfu media"


def test_zoom_peer_to_peer_needs_the_stream_to_continue():
    pkts = [udp(media(15, rtp(seq=s)), sport=50100, dport=50200) for s in (1, 2)]
    f = only_flow(run(pkts))
    assert (f.app, f.use_case, f.reason) == ("Zoom", "streaming", "zoom: zoom p2p media")
    pkts = [udp(media(30, rtp(seq=s)), sport=50100, dport=50200) for s in (5, 6)]
    assert only_flow(run(pkts)).reason == "zoom: zoom p2p media"


def test_zoom_near_misses():
    assert streaming.zoom_sfu(sfu(media(15, rtp())))
    assert not streaming.zoom_sfu(sfu(media(15, rtp()), direction=2))  # no such direction
    assert not streaming.zoom_sfu(sfu(media(15, rtp(version=1))))  # not RTP version 2
    assert not streaming.zoom_sfu(sfu(media(15, rtp(pt=80))))  # an RTCP-range payload type
    assert not streaming.zoom_sfu(sfu(b"\x0f" + media(15, rtp())[1:18] + rtp()))  # RTP a byte early
    assert not streaming.zoom_sfu(sfu(bytes((21,)) + os.urandom(18) + rtp()))  # a type with no RTP
    assert not streaming.zoom_sfu(sfu(bytes((33,)) + os.urandom(15) + rtp()))  # RTP where RTCP belongs
    assert not streaming.zoom_sfu(sfu(media(15, rtp()))[:39])  # cut short
    # peer-to-peer packets of two streams (SSRCs), or one packet alone, are no evidence
    pkts = [udp(media(15, rtp(seq=s, ssrc=s)), sport=50100, dport=50200) for s in (1, 2)]
    assert only_flow(run(pkts)).app != "Zoom"
    assert only_flow(run([udp(media(15, rtp()), sport=50100, dport=50200)])).app != "Zoom"
    # a service's own port keeps its verdict
    assert only_flow(run([udp(sfu(media(15, rtp())), dport=69)])).app == "TFTP"


# ---------------------------------------------------------------- Mumble (UDP ping)
IDENT = struct.pack("!Q", 0x0123456789ABCDEF)


def ping(ident: bytes = IDENT) -> bytes:
    return b"\x00\x00\x00\x00" + ident


def pong(ident: bytes = IDENT, users: int = 3, most: int = 100, version: int = 0x010400) -> bytes:
    return struct.pack("!I", version) + ident + struct.pack("!III", users, most, 72000)


def test_mumble_ping_answered():
    f = only_flow(run([udp(ping(), dport=FREE), udp(pong(), dport=FREE, reply=True)]))
    assert (f.app, f.use_case, f.reason) == ("Mumble", "voice", "mumble: mumble ping answered")


def test_mumble_near_misses():
    assert voice.mumble_ping(ping()) == IDENT
    assert voice.mumble_ping(b"\x00\x00\x00\x01" + IDENT) is None  # request type 1
    assert voice.mumble_ping(ping() + b"\x00") is None
    assert voice.mumble_pong(pong(), IDENT)
    assert not voice.mumble_pong(pong(ident=b"\x01" * 8), IDENT)  # another ping's ident
    assert not voice.mumble_pong(pong(users=101), IDENT)  # more users than the maximum
    assert not voice.mumble_pong(pong(version=0x01010400), IDENT)  # the version's top byte is 0
    assert not voice.mumble_pong(pong(version=0x000004), IDENT)  # major version 0
    # the same end twice is no answer, and an answer without a ping is nothing
    f = only_flow(run([udp(ping(), dport=FREE), udp(pong(), dport=FREE)]))
    assert f.app != "Mumble"
    f = only_flow(run([udp(pong(), dport=FREE, reply=True)]))
    assert f.app != "Mumble"


# ---------------------------------------------------------------- Threema (chat server handshake)
def test_threema_handshake():
    for port in (5222, 443):
        hello = [tcp(os.urandom(48), dport=port), tcp(os.urandom(80), dport=port, reply=True)]
        f = only_flow(run([*handshake(dport=port), *hello]))
        assert (f.app, f.use_case, f.reason) == (
            "Threema",
            "messaging",
            "threema: threema client-hello and server-hello",
        ), port


def test_threema_near_misses():
    for client, server, port in ((48, 81, 5222), (47, 80, 5222), (48, 80, FREE)):
        pkts = [tcp(os.urandom(client), dport=port), tcp(os.urandom(server), dport=port, reply=True)]
        f = only_flow(run([*handshake(dport=port), *pkts]))
        assert f.app != "Threema", (client, server, port)
    # the client again instead of the server's answer
    pkts = [tcp(os.urandom(48), dport=5222), tcp(os.urandom(80), dport=5222)]
    assert only_flow(run([*handshake(dport=5222), *pkts])).app != "Threema"


# ---------------------------------------------------------------- UFTP 5
def uftp(func: int = 1, body_func: int | None = None, hlen: int = 3, version: int = 0x50, reserved: int = 0) -> bytes:
    """Header (version, func, seq, src_id, group_id, group_inst, grtt, gsize, reserved), then the
    body: its function byte, its header length in words, the rest of that header."""
    head = struct.pack("!BBHIIBBBB", version, func, 1, 0x0A000001, 0x5EED, 0, 20, 4, reserved)
    body = bytes((func if body_func is None else body_func, hlen)) + os.urandom(4 * hlen - 2)
    return head + body


def test_uftp_announce_on_any_port():
    f = only_flow(run([udp(uftp(), dport=FREE)]))
    assert (f.app, f.use_case, f.reason) == ("UFTP", "file_transfer", "uftp: uftp 5 message")
    f = only_flow(run([udp(uftp(func=9, hlen=2) + os.urandom(1024), dport=1044)]))  # FILESEG
    assert f.reason == "uftp: uftp 5 message"


def test_uftp_near_misses():
    assert filexfer.uftp_message(uftp())
    assert not filexfer.uftp_message(uftp(version=0x40))  # UFTP 4 has another header
    assert not filexfer.uftp_message(uftp(reserved=1))
    assert not filexfer.uftp_message(uftp(body_func=2))  # the body names another function
    assert not filexfer.uftp_message(uftp(func=18))  # ENCRYPTED: its body is not read
    assert not filexfer.uftp_message(uftp(func=22))
    assert not filexfer.uftp_message(uftp(hlen=3)[:-1])  # the body's header runs past the datagram
    assert not filexfer.uftp_message(uftp()[:17] + b"\x00" + bytes(10))  # a body header of 0 words


# ---------------------------------------------------------------- Lustre (LNet acceptor)
def connreq(target: str = SERVER, magic: int = 0xACCE7100, version: int = 1) -> bytes:
    """lnet_acceptor_connreq, little-endian: magic, version, the target NID (address, then net
    number 0 and network type SOCKLND 2)."""
    addr = int.from_bytes(bytes(int(x) for x in target.split(".")), "big")
    return struct.pack("<III", magic, version, addr) + struct.pack("<HH", 0, 2)


def test_lustre_acceptor_request():
    for port in (988, FREE):
        f = only_flow(run([*handshake(dport=port), tcp(connreq(), dport=port)]))
        assert (f.app, f.use_case, f.reason) == ("Lustre", "file_transfer", "lustre: lnet acceptor connection request")


def test_lustre_near_misses():
    target = bytes((198, 51, 100, 20))
    assert filexfer.lustre_connreq(connreq(), target)
    assert not filexfer.lustre_connreq(connreq(target="198.51.100.21"), target)  # another node's NID
    assert not filexfer.lustre_connreq(connreq(version=2), target)
    assert not filexfer.lustre_connreq(connreq(magic=0x45726963), target)  # a socklnd hello, not the acceptor
    assert not filexfer.lustre_connreq(connreq()[:15], target)
    f = only_flow(run([*handshake(dport=FREE), tcp(connreq(target="198.51.100.21"), dport=FREE)]))
    assert f.app != "Lustre"


# ---------------------------------------------------------------- RDP over UDP (MS-RDPEUDP)
def rdp_syn(ack: int = 0xFFFFFFFF, flags: int = 0x0001, up: int = 1232, down: int = 1232, size: int = 1232) -> bytes:
    """RDPUDP_FEC_HEADER (snSourceAck, uReceiveWindowSize, uFlags), RDPUDP_SYNDATA_PAYLOAD
    (snInitialSequenceNumber, uUpStreamMtu, uDownStreamMtu), zero padding to 1232 bytes."""
    head = struct.pack("!IHHIHH", ack, 64, flags, 0x2A2A2A2A, up, down)
    return head + bytes(size - len(head))


def test_rdp_udp_syn():
    for port in (3389, FREE):
        f = only_flow(run([udp(rdp_syn(flags=0x0001 | 0x0800), dport=port)]))
        assert (f.app, f.use_case, f.reason) == ("RDP", "remote_access", "rdp: rdp-udp syn"), port


def test_rdp_udp_near_misses():
    assert remote.rdpudp_syn(rdp_syn(up=1132))
    assert not remote.rdpudp_syn(rdp_syn(size=1231))
    assert not remote.rdpudp_syn(rdp_syn(flags=0x0005))  # SYN+ACK: the server's
    assert not remote.rdpudp_syn(rdp_syn(ack=7))
    assert not remote.rdpudp_syn(rdp_syn(up=1000))
    assert not remote.rdpudp_syn(rdp_syn(down=1400))
    # a Source engine query is still one
    assert only_flow(run([udp(b"\xff\xff\xff\xffTSource Engine Query\x00", dport=27015)])).use_case == "gaming"


# ---------------------------------------------------------------- Ceph (messenger banners)
def test_ceph_banners_from_either_end_on_any_port():
    v2 = b"ceph v2\n" + struct.pack("<HQQ", 16, 0x3F, 0)
    for pl, reply, port in ((v2, True, 6800), (v2, False, 3300), (b"ceph v027" + os.urandom(136), False, FREE)):
        f = only_flow(run([*handshake(dport=port), tcp(pl, dport=port, reply=reply)]))
        assert (f.app, f.use_case, f.reason) == ("Ceph", "file_transfer", "ceph: ceph messenger banner"), port


def test_ceph_near_misses():
    assert filexfer.ceph_banner(b"ceph v2\n" + struct.pack("<HQQ", 16, 0x3F, 0))
    assert not filexfer.ceph_banner(b"ceph v2\n" + struct.pack("<H", 8) + bytes(16))  # shorter than the features
    assert not filexfer.ceph_banner(b"ceph v2\n" + struct.pack("<H", 16) + bytes(8))  # cut before them
    assert not filexfer.ceph_banner(b"ceph v3\n" + struct.pack("<HQQ", 16, 0x3F, 0))
    assert not filexfer.ceph_banner(b"ceph v02")
    f = only_flow(run([*handshake(dport=FREE), tcp(b"ceph rules\r\n", dport=FREE)]))
    assert f.app != "Ceph"


# ---------------------------------------------------------------- VMware authd's greeting
AUTHD = b"220 VMware Authentication Daemon Version 1.10: SSL Required, ServerDaemonProtocol:SOAP\r\n"


def test_vmware_authd_is_remote_access_not_smtp():
    for port in (902, FREE):
        f = only_flow(run([*handshake(dport=port), tcp(AUTHD, dport=port, reply=True)]))
        assert (f.app, f.use_case, f.reason) == ("VMware", "remote_access", "vmware: vmware authd banner"), port
    # a mail server's greeting stays SMTP, and one that only mentions VMware later too
    for banner in (
        b"220 mx.example.org ESMTP Postfix\r\n",
        b"220 mx.example.org ESMTP (VMware Authentication Daemon)\r\n",
    ):
        f = only_flow(run([*handshake(dport=25), tcp(banner, dport=25, reply=True)]))
        assert (f.app, f.use_case) == ("SMTP", "mail")


# ---------------------------------------------------------------- XDMCP (X Consortium XDMCP 1.1)
def xdmcp(opcode: int, data: bytes, version: int = 1, length: int | None = None) -> bytes:
    """Header: CARD16 version, CARD16 opcode, CARD16 length of the data that follows."""
    return struct.pack("!HHH", version, opcode, len(data) if length is None else length) + data


def auth_names(*names: bytes) -> bytes:
    """ARRAYofARRAY8: CARD8 count, then each ARRAY8 (CARD16 length, bytes)."""
    return bytes((len(names),)) + b"".join(struct.pack("!H", len(n)) + n for n in names)


def test_xdmcp_query_and_answers():
    query = xdmcp(2, auth_names())
    willing = xdmcp(5, struct.pack("!H", 0) + struct.pack("!H", 8) + b"host.lan" + struct.pack("!H", 4) + b"Load")
    for port in (177, FREE):
        f = only_flow(run([udp(query, dport=port), udp(willing, dport=port, reply=True)]))
        assert (f.app, f.use_case, f.reason) == ("XDMCP", "remote_access", "xdmcp: xdmcp packet"), port
    f = only_flow(run([udp(xdmcp(1, auth_names(b"MIT-MAGIC-COOKIE-1")), dport=FREE)]))  # BroadcastQuery
    assert f.reason == "xdmcp: xdmcp packet"


def test_xdmcp_near_misses():
    assert remote.xdmcp_packet(xdmcp(3, auth_names(b"XDM-AUTHORIZATION-1", b"MIT-MAGIC-COOKIE-1")))
    assert not remote.xdmcp_packet(xdmcp(2, auth_names(), version=2))
    assert not remote.xdmcp_packet(xdmcp(15, auth_names()))  # no opcode 15
    assert not remote.xdmcp_packet(xdmcp(2, auth_names(), length=2))  # the length is not the rest
    assert not remote.xdmcp_packet(xdmcp(2, auth_names(b"MIT")) + b"\x00")
    assert not remote.xdmcp_packet(xdmcp(2, b"\x02\x00\x03MIT"))  # two names announced, one there
    # a TFTP read request (opcode 1 too) stays TFTP
    f = only_flow(run([udp(b"\x00\x01pxelinux.0\x00octet\x00", dport=69)]))
    assert f.app == "TFTP"


# ---------------------------------------------------------------- random bytes behind the new gates
def test_random_datagrams_behind_the_new_first_bytes_are_not_matched():
    """Datagrams that open with the first bytes the new UDP detectors act on (Zoom's 5, 15, 16, 30;
    UFTP's 0x50; Mumble's and XDMCP's 0; RDP-UDP's 0xFF at 1232 bytes): their structure turns away
    random bytes, two packets of a flow included."""
    hits = 0
    for b0 in (0x05, 0x0F, 0x10, 0x1E, 0x50, 0x00, 0xFF):
        for _ in range(60):
            size = 1232 if b0 == 0xFF else 12 + os.urandom(1)[0] % 200
            pkts = [udp(bytes((b0,)) + os.urandom(size - 1), dport=FREE, reply=bool(k)) for k in range(2)]
            f = only_flow(run(pkts))
            hits += f.app in ("Zoom", "UFTP", "Mumble", "XDMCP", "RDP")
    assert hits == 0
