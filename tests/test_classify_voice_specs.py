"""Voice and streaming detectors of issue 12, fed packets built from each protocol's specification.

Every protocol is shown on ports that say nothing (so the detector, not a port rule, decides),
next to near-misses that differ in one field the specification fixes and must not match.
"""

from __future__ import annotations

import os
import struct

from classify_helpers import handshake, only_flow, run, tcp, udp

from tui.classify.detectors import streaming, voice

# ---------------------------------------------------------------- TeamSpeak 3


def ts3_client_init() -> bytes:
    # MAC field "TS3INIT1", packet id 101, client id 0, type 0x88, then the Init1 step 0 body
    return b"TS3INIT1" + struct.pack("!HHB", 101, 0, 0x88) + bytes.fromhex("06bb8b1a") + b"\x00" + os.urandom(4 + 8)


def ts3_server_init() -> bytes:
    return b"TS3INIT1" + struct.pack("!HB", 101, 0x88) + b"\x01" + os.urandom(16) + bytes(4)


def test_teamspeak3_init_both_directions():
    assert voice.teamspeak3_init(ts3_client_init())
    assert voice.teamspeak3_init(ts3_server_init())
    f = only_flow(run([udp(ts3_client_init(), sport=40000, dport=41987)]))
    assert (f.app, f.use_case, f.reason) == ("TeamSpeak", "voice", "teamspeak: teamspeak 3 init")


def test_teamspeak3_near_misses():
    good = ts3_client_init()
    assert not voice.teamspeak3_init(b"TS3INIT2" + good[8:])  # another MAC text
    assert not voice.teamspeak3_init(good[:8] + b"\x00\x66" + good[10:])  # packet id 102
    assert not voice.teamspeak3_init(good[:10] + b"\x00\x00\x02" + good[13:])  # type 2 (voice), not init
    assert not voice.teamspeak3_init(b"TS3INIT1\x00")  # too short
    assert only_flow(run([udp(b"TS3INIT1" + bytes(20), sport=40000, dport=41987)])).app is None


# ---------------------------------------------------------------- IAX2 (RFC 5456)


def iax_full(scall: int, dcall: int, ftype: int, sub: int, ies: bytes, oseq: int = 0, iseq: int = 0) -> bytes:
    return struct.pack("!HHIBBBB", 0x8000 | scall, dcall, 3, oseq, iseq, ftype, sub) + ies


def iax_ie(kind: int, value: bytes) -> bytes:
    return bytes((kind, len(value))) + value


NEW_IES = iax_ie(0x0B, b"\x00\x02") + iax_ie(0x01, b"100") + iax_ie(0x02, b"alice") + iax_ie(0x09, b"\x00\x00\x00\x04")


def test_iax2_new_opens_a_call():
    pkt = iax_full(0x1234, 0, 6, 1, NEW_IES)
    assert voice.iax2_call_start(pkt)
    assert voice.iax2_call_start(iax_full(7, 0, 6, 0x1E, b""))  # POKE, no IEs
    f = only_flow(run([udp(pkt, sport=40000, dport=41569)]))
    assert (f.app, f.use_case, f.reason) == ("IAX", "voice", "iax: iax2 call start")


def test_iax2_near_misses():
    assert not voice.iax2_call_start(iax_full(0x1234, 0, 6, 1, NEW_IES[:-1]))  # IEs overrun the packet
    assert not voice.iax2_call_start(iax_full(0x1234, 0, 6, 1, b""))  # NEW without IEs
    assert not voice.iax2_call_start(iax_full(0x1234, 5, 6, 1, NEW_IES))  # answers a call: not a start
    assert not voice.iax2_call_start(iax_full(0x1234, 0, 6, 1, NEW_IES, oseq=3))
    assert not voice.iax2_call_start(iax_full(0x1234, 0, 2, 1, NEW_IES))  # a voice frame
    assert not voice.iax2_call_start(iax_full(0, 0, 6, 1, NEW_IES))  # source call number 0
    mini = struct.pack("!HH", 0x1234, 99) + bytes(40)  # a mini frame: F bit clear
    assert not voice.iax2_call_start(mini)


# ---------------------------------------------------------------- MGCP (RFC 3435), Megaco (RFC 3525)

CRCX = b"CRCX 1204 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nC: A3C47F21456789F0\r\nL: p:10, a:PCMU\r\nM: sendrecv\r\n"


def test_mgcp_commands():
    assert voice.mgcp_command(CRCX)
    assert voice.mgcp_command(b"RQNT 1201 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\nN: ca@ca1.whatever.net:5678\r\n")
    f = only_flow(run([udp(CRCX, sport=40000, dport=42427)]))
    assert (f.app, f.use_case) == ("MGCP", "voice")
    f = only_flow(run([udp(b"RSIP 5200 aaln/1@rgw.example.net MGCP 1.0\r\nRM: restart\r\n", sport=40000, dport=42427)]))
    assert f.app == "MGCP"


def test_mgcp_near_misses():
    assert not voice.mgcp_command(b"CRCX 1204 aaln/1@rgw MGCP\r\n\r\n")  # no version
    assert not voice.mgcp_command(b"CRCX abc aaln/1@rgw-2567.whatever.net MGCP 1.0\r\n")  # transaction id not digits
    assert not voice.mgcp_command(b"CRCX 1204 aaln/1.rgw-2567.whatever.net MGCP 1.0\r\n")  # endpoint without @
    assert not voice.mgcp_command(b"XXXX 1204 aaln/1@rgw-2567.whatever.net MGCP 1.0\r\n")  # no such verb
    assert not voice.mgcp_command(b"CRCX 1204 aaln/1@rgw-2567.whatever.net SIP 2.0\r\n")


def test_megaco_text_messages():
    full = b"MEGACO/1 [124.124.124.222]:55555\nTransaction = 9998 {\n Context = - {\n ServiceChange = ROOT {}}}\n"
    compact = b"!/1 [124.124.124.222]:55555 T=9998{C=-{SC=ROOT{}}}"
    assert voice.megaco_message(full) and voice.megaco_message(compact)
    f = only_flow(run([udp(full, sport=40000, dport=42944)]))
    assert (f.app, f.use_case) == ("Megaco", "voice")
    assert not voice.megaco_message(b"MEGACO/x [1.2.3.4]")  # version not a digit
    assert not voice.megaco_message(b"MEGACO/12[1.2.3.4]")  # no space after the version
    assert not voice.megaco_message(b"!/1")  # nothing after


# ---------------------------------------------------------------- ZRTP (RFC 6189)


def zrtp_hello() -> bytes:
    header = struct.pack("!BBH", 0x10, 0, 1) + b"ZRTP" + struct.pack("!I", 0xDEADBEEF)
    return header + b"\x50\x5a" + bytes(2) + b"Hello   "


def test_zrtp_hello_and_near_misses():
    assert voice.zrtp_packet(zrtp_hello())
    f = only_flow(run([udp(zrtp_hello() + bytes(64), sport=40000, dport=41000)]))
    assert (f.app, f.use_case) == ("ZRTP", "voice")
    h = zrtp_hello()
    assert not voice.zrtp_packet(b"\x90" + h[1:])  # RTP's version bits
    assert not voice.zrtp_packet(h[:4] + b"ZRTQ" + h[8:])  # no magic cookie
    assert not voice.zrtp_packet(h[:12] + b"\x00\x00" + h[14:])  # no message preamble


# ---------------------------------------------------------------- H.323 over TPKT (RFC 1006)


def tpkt(body: bytes) -> bytes:
    return struct.pack("!BBH", 3, 0, 4 + len(body)) + body


# Q.931 SETUP: discriminator 8, call reference length 2, reference, message type 5, then IEs
Q931_SETUP = bytes.fromhex("080277f405") + bytes.fromhex("0403 8090a5") + bytes.fromhex("7e0010") + os.urandom(16)


def test_h225_setup_and_h245_over_tpkt():
    assert voice.tpkt_h323(tpkt(Q931_SETUP)) == "q931"
    assert voice.tpkt_h323(tpkt(bytes.fromhex("0270010600088175000780138000"))) == "h245"
    f = only_flow(run([*handshake(dport=41720), tcp(tpkt(Q931_SETUP), dport=41720)]))
    assert (f.app, f.use_case) == ("H323", "voice")
    f = only_flow(run([*handshake(dport=41232), tcp(tpkt(bytes.fromhex("218001")), dport=41232)]))
    assert (f.app, f.use_case, f.reason) == ("H323", "voice", "h323: h.245 over tpkt")
    # two frames in one segment
    assert voice.tpkt_h323(tpkt(b"\x21\x80\x01") + tpkt(b"\x02\x30\x01")) == "h245"


def test_tpkt_of_other_protocols_is_not_h323():
    # RDP's X.224 Connection Request (MS-RDPBCGR 2.2.1.1): LI 14, code 0xE0
    x224_cr = tpkt(bytes.fromhex("0ee000000000000100080003000000"))
    assert voice.tpkt_h323(x224_cr) is None
    # ISO-TSAP data: LI 2, DT 0xF0, EOT
    assert voice.tpkt_h323(tpkt(bytes.fromhex("02f080") + b"\x32\x01" + bytes(8))) is None
    assert voice.tpkt_h323(struct.pack("!BBH", 3, 0, 99) + Q931_SETUP) is None  # length does not match
    assert voice.tpkt_h323(struct.pack("!BBH", 2, 0, 8) + b"\x08\x02\x00\x00") is None  # TPKT version 2
    f = only_flow(run([*handshake(dport=3389), tcp(x224_cr, dport=3389)]))
    assert f.use_case == "remote_access"


# ---------------------------------------------------------------- streaming: RTSP interleaved, MMS, Spotify


def rtp(seq: int, ssrc: int = 0x1234ABCD, pt: int = 96) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, ssrc) + os.urandom(160)


def interleaved(channel: int, data: bytes) -> bytes:
    return struct.pack("!BBH", 0x24, channel, len(data)) + data


def test_rtsp_interleaved_rtp():
    seg = interleaved(0, rtp(1)) + interleaved(1, rtp(2))
    assert streaming.rtsp_interleaved(seg) and streaming.rtsp_interleaved(interleaved(0, rtp(3)))
    f = only_flow(run([*handshake(dport=48554), tcp(seg, dport=48554, reply=True)]))
    assert (f.app, f.use_case) == ("RTSP", "streaming")
    assert not streaming.rtsp_interleaved(interleaved(0, b"\x40" + rtp(1)[1:]))  # not RTP version 2
    assert not streaming.rtsp_interleaved(interleaved(0, rtp(1)) + b"\x00junk")  # trailing bytes not a frame
    assert not streaming.rtsp_interleaved(struct.pack("!BBH", 0x24, 0, 400) + rtp(1))  # length overruns a short segment


def mms_message(command: int = 0x01, body: bytes = bytes(32)) -> bytes:
    # [MS-MMSP] TcpMessageHeader: rep, version, versionMinor, padding, sessionId, messageLength, seal,
    # chunkCount, seq, MBZ, timeSent, then the command's chunk
    rest = struct.pack("<HHIdI", (len(body) + 16) // 8, 0, 0, 0.0, 0) + struct.pack("<HH", command, 0x0003) + body
    return struct.pack("<BBBBI", 1, 0, 0, 0, 0xB00BFACE) + struct.pack("<I", len(rest) + 4) + b"MMS " + rest


def test_mms_tcp_message():
    assert streaming.mms_tcp(mms_message())
    f = only_flow(run([*handshake(dport=41755), tcp(mms_message(), dport=41755)]))
    assert (f.app, f.use_case) == ("MMS", "streaming")
    good = mms_message()
    assert not streaming.mms_tcp(good[:4] + b"\xce\xfa\x0b\xb1" + good[8:])  # another session id
    assert not streaming.mms_tcp(good[:12] + b"MMSX" + good[16:])  # no seal
    assert not streaming.mms_tcp(b"\x02" + good[1:])  # rep must be 1


def spotify_client_hello() -> bytes:
    # protobuf ClientHello: build_info (field 10) {product 0, platform 0, version}, then more fields
    build_info = b"\x08\x00\x10\x00\x18\xb0\xdb\x06"
    body = b"\x52" + bytes((len(build_info),)) + build_info + b"\x50\x00" + b"\xa0\x01\x01" + os.urandom(120)
    return struct.pack("!HI", 4, 6 + len(body)) + body


def test_spotify_access_point_hello():
    hello = spotify_client_hello()
    assert streaming.spotify_hello(hello)
    f = only_flow(run([*handshake(dport=44070), tcp(hello, dport=44070)]))
    assert (f.app, f.use_case) == ("Spotify", "streaming")
    assert not streaming.spotify_hello(b"\x00\x03" + hello[2:])  # another version
    assert not streaming.spotify_hello(hello[:2] + struct.pack("!I", len(hello) + 7) + hello[6:])  # length lies
    assert not streaming.spotify_hello(hello[:6] + b"\x0a" + hello[7:])  # first field not build_info


# ---------------------------------------------------------------- rules.toml: ports and prefixes


def test_vendor_ports_and_request_prefixes():
    f = only_flow(run([udp(os.urandom(120), sport=40000, dport=16393)]))
    assert (f.app, f.use_case) == ("FaceTime", "voice")
    f = only_flow(run([udp(os.urandom(120), sport=40000, dport=9000)]))
    assert (f.app, f.use_case) == ("Webex", "voice")
    invite = b"INVITE sips:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/TLS client.atlanta.example.com\r\n"
    f = only_flow(run([udp(invite, sport=40000, dport=41000)]))
    assert (f.app, f.use_case) == ("SIP", "voice")
    teardown = b"TEARDOWN rtsp://example.com/fizzle/foo RTSP/1.0\r\nCSeq: 892\r\nSession: 12345678\r\n\r\n"
    f = only_flow(run([*handshake(dport=48000), tcp(teardown, dport=48000)]))
    assert (f.app, f.use_case) == ("RTSP", "streaming")


def test_garbage_never_raises():
    for n in range(0, 40):
        blob = os.urandom(n)
        for b0 in (0x03, 0x01, 0x00, 0x10, 0x24, 0x54, 0x80, 0x4D, 0x21, 0x43):
            pl = bytes((b0,)) + blob
            voice.teamspeak3_init(pl)
            voice.iax2_call_start(pl)
            voice.mgcp_command(pl)
            voice.megaco_message(pl)
            voice.zrtp_packet(pl)
            voice.tpkt_h323(pl)
            streaming.rtsp_interleaved(pl)
            streaming.mms_tcp(pl)
            streaming.spotify_hello(pl)


def test_meet_ppstream_ports_and_shoutcast_reply():
    f = only_flow(run([udp(os.urandom(100), sport=40000, dport=19306)]))
    assert (f.app, f.use_case) == ("Google Meet", "voice")
    f = only_flow(run([udp(os.urandom(100), sport=40000, dport=19305)]))
    assert f.app == "STUN"  # STUN's own port keeps its rule
    f = only_flow(run([udp(os.urandom(60), sport=17788, dport=40001)]))
    assert (f.app, f.use_case) == ("PPStream", "streaming")
    ok2 = b"OK2\r\nicy-caps:11\r\n\r\n"
    f = only_flow(run([*handshake(dport=48001), tcp(b"hackme\r\n", dport=48001), tcp(ok2, dport=48001, reply=True)]))
    assert (f.app, f.use_case) == ("ShoutCast", "streaming")
    f = only_flow(run([*handshake(dport=48001), tcp(b"OK\r\n", dport=48001, reply=True)]))
    assert f.app is None


# ---------------------------------------------------------------- Skype's UDP obfuscation layer


def skype_udp(crc: bytes, body_len: int = 40) -> bytes:
    # id (2), function 0x02 (obfuscated payload), IV (4), CRC32 of the clear text (4), RC4 bytes
    return os.urandom(2) + b"\x02" + os.urandom(4) + crc + os.urandom(body_len)


def test_skype_two_packets_same_crc():
    crc = b"\x9a\x1b\x2c\x3d"
    first, second = skype_udp(crc), skype_udp(crc)
    assert voice.skype_pair(first, second)
    f = only_flow(run([udp(first, sport=40000, dport=41000), udp(second, sport=40000, dport=41000, reply=True)]))
    assert (f.app, f.use_case) == ("Skype", "voice")


def test_skype_near_misses():
    crc = b"\x9a\x1b\x2c\x3d"
    assert not voice.skype_pair(skype_udp(crc), skype_udp(b"\x00\x1b\x2c\x3d"))  # another CRC
    same = skype_udp(crc)
    assert not voice.skype_pair(same, same)  # a repeated packet: the IV would differ
    # RTP video: packets of one frame share timestamp and SSRC (bytes 4-11), sequence 0x02xx
    v1 = struct.pack("!BBHII", 0x80, 96, 0x0210, 90000, 0x11223344) + os.urandom(100)
    v2 = struct.pack("!BBHII", 0x80, 96, 0x0211, 90000, 0x11223344) + os.urandom(100)
    assert not voice.skype_pair(v1, v2)
    f = only_flow(run([udp(v1, sport=40000, dport=41000), udp(v2, sport=40000, dport=41000)]))
    assert (f.app, f.use_case) == ("RTP", "voice")
    # the same pair to a multicast group, or on a service's port, is not Skype
    a, b = skype_udp(crc), skype_udp(crc)
    pkts = [udp(a, sport=40000, dport=41000), udp(b, sport=40000, dport=41000)]
    for p in pkts:
        p["IP"].dst = "239.1.2.3"
    assert only_flow(run(pkts)).app != "Skype"
    f = only_flow(run([udp(a, sport=40000, dport=5353), udp(b, sport=40000, dport=5353)]))
    assert f.app != "Skype"
