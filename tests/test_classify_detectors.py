"""Detectors written from the protocols' specifications, fed packets built from those specifications.

Each protocol is shown the way its RFC or vendor document describes it (both directions where
the handshake has two), on ports that say nothing, and next to look-alikes that must not match.
"""

from __future__ import annotations

import os
import struct

import pytest
from classify_helpers import CLIENT, SERVER, Ether, handshake, only_flow, run, tcp, udp
from scapy.layers.inet import IP, TCP, UDP

from tui.classify import RulesError, load_classifier
from tui.classify.detectors import filexfer, gaming, messaging, streaming, voice


def rtp(seq: int, ssrc: int = 0x1234ABCD, pt: int = 111, ts: int = 0, body: bytes = b"\x55" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, ts, ssrc) + body


def test_rtp_needs_the_same_senders_stream_to_continue():
    f = only_flow(run([udp(rtp(100), sport=40000, dport=41000), udp(rtp(101), sport=40000, dport=41000)]))
    assert (f.app, f.use_case, f.reason) == ("RTP", "voice", "rtp: rtp header")
    # a call: both ends send, their packets interleave, each keeps its own SSRC
    pkts = []
    for i in range(3):
        pkts.append(udp(rtp(500 + i, ssrc=1), sport=40000, dport=41000))
        pkts.append(udp(rtp(9000 + i, ssrc=2), sport=40000, dport=41000, reply=True))
    f = only_flow(run(pkts))
    assert (f.app, f.use_case) == ("RTP", "voice")


def test_rtp_lookalikes_are_not_rtp():
    # one packet only, or the SSRC changes, or the sequence jumps: no stream
    assert only_flow(run([udp(rtp(1), sport=40000, dport=41000)])).app is None
    f = only_flow(run([udp(rtp(1, ssrc=5), sport=40000, dport=41000), udp(rtp(2, ssrc=6), sport=40000, dport=41000)]))
    assert f.app is None
    f = only_flow(run([udp(rtp(1), sport=40000, dport=41000), udp(rtp(30000), sport=40000, dport=41000)]))
    assert f.app is None
    # random bytes with the version bits of RTP
    rnd = [bytes([0x80]) + os.urandom(171) for _ in range(4)]
    assert only_flow(run([udp(p, sport=40000, dport=41000) for p in rnd])).app is None


def test_rtp_header_rules():
    assert voice.rtp_header(rtp(7, pt=0)) == (0, 7, 0x1234ABCD)
    assert voice.rtp_header(rtp(7, pt=50)) is None  # neither static nor dynamic
    assert voice.rtp_header(bytes([0x8F]) + bytes(15)) is None  # 15 CSRCs do not fit in 16 bytes
    assert voice.rtp_follows((0, 65535, 1), (0, 0, 1))  # the sequence number wraps
    assert not voice.rtp_follows((0, 10, 1), (8, 11, 1))  # another payload type: another stream


def test_rtcp_sender_report():
    sr = struct.pack("!BBHI", 0x80, 200, 6, 0x1234ABCD) + bytes(20)
    f = only_flow(run([udp(sr, sport=40001, dport=41001)]))
    assert (f.app, f.use_case) == ("RTCP", "voice")
    assert not voice.rtcp(struct.pack("!BBHI", 0x80, 200, 60, 1) + bytes(20))  # says 244 bytes, has 28


def test_stun_over_tcp_and_framed():
    msg = struct.pack("!HHI", 0x0001, 8, voice.STUN_COOKIE) + os.urandom(12) + b"\x80\x22\x00\x04test"
    f = only_flow(run([*handshake(dport=40443), tcp(msg, dport=40443)]))
    assert (f.app, f.use_case) == ("STUN", "voice")
    framed = struct.pack("!H", len(msg)) + msg  # RFC 4571 framing (ICE-TCP)
    f = only_flow(run([*handshake(dport=40444), tcp(framed, dport=40444)]))
    assert f.app == "STUN"
    assert not voice.stun_message(b"\x00\x01\x00\x08" + bytes(24))  # no magic cookie


def test_turn_channel_data_on_a_stun_port():
    data = struct.pack("!HH", 0x4001, 100) + os.urandom(100)
    f = only_flow(run([udp(data, sport=40002, dport=3478)]))
    assert (f.app, f.use_case) == ("STUN", "voice")
    assert not voice.turn_channel_data(struct.pack("!HH", 0x4001, 90) + bytes(100))


def utp(kind: int, conn: int, ext: int = 0, body: bytes = b"") -> bytes:
    return struct.pack("!BBHIIIHH", (kind << 4) | 1, ext, conn, 1, 0, 1 << 20, 1, 0) + body


def test_utp_syn_and_state_on_any_port():
    f = only_flow(
        run([udp(utp(4, 7000), sport=40003, dport=51413), udp(utp(2, 7000), sport=40003, dport=51413, reply=True)])
    )
    assert (f.app, f.use_case, f.reason) == ("BitTorrent", "file_transfer", "bittorrent: utp")
    # data both ways: the two ends' ids differ by one
    f = only_flow(
        run(
            [
                udp(utp(0, 9001, body=b"x" * 900), sport=40004, dport=40005),
                udp(utp(2, 9000), sport=40004, dport=40005, reply=True),
            ]
        )
    )
    assert f.app == "BitTorrent"


def test_utp_lookalikes():
    # a DHCP request starts 01 01: on its own port it stays DHCP
    dhcp = b"\x01\x01\x06\x00" + os.urandom(4) + bytes(236) + b"\x63\x82\x53\x63\xff"
    f = only_flow(run([udp(dhcp, sport=68, dport=67), udp(dhcp, sport=68, dport=67)]))
    assert (f.app, f.use_case) == ("DHCP", "network_control")
    assert filexfer.utp_header(utp(4, 1, ext=1)) is None  # a SYN with an extension (here: not seen)
    assert filexfer.utp_header(utp(5, 1)) is None  # no type 5
    f = only_flow(
        run(
            [
                udp(utp(0, 100, body=b"x" * 50), sport=40006, dport=40007),
                udp(utp(0, 900, body=b"y" * 50), sport=40006, dport=40007, reply=True),
            ]
        )
    )
    assert f.app is None  # ids of two connections


def test_tftp_request_and_transfer_on_the_servers_new_port():
    rrq = b"\x00\x01boot/pxelinux.0\x00octet\x00blksize\x001468\x00"
    f = only_flow(run([udp(rrq, sport=40008, dport=69)]))
    assert (f.app, f.use_case, f.reason) == ("TFTP", "file_transfer", "tftp: tftp request")
    data = b"\x00\x03\x00\x01" + os.urandom(512)
    ack = b"\x00\x04\x00\x01"
    f = only_flow(run([udp(data, sport=52000, dport=40008), udp(ack, sport=52000, dport=40008, reply=True)]))
    assert (f.app, f.reason) == ("TFTP", "tftp: tftp data")
    assert not filexfer.tftp_request(b"\x00\x01name\x00binary\x00")  # no such mode
    assert not filexfer.tftp_answers((3, 1), (4, 7))


def test_bittorrent_http_tracker():
    req = (
        b"GET /announce?info_hash=%12%34&peer_id=-TR3000-abcdefghijkl&port=51413 HTTP/1.1\r\n"
        b"Host: tracker.example\r\n\r\n"
    )
    f = only_flow(run([*handshake(dport=6969), tcp(req, dport=6969)]))
    assert (f.app, f.use_case, f.reason) == ("BitTorrent", "file_transfer", "bittorrent: http tracker")
    f = only_flow(run([*handshake(dport=80), tcp(req.replace(b"6969", b"80"), dport=80)]))
    assert f.app == "BitTorrent"
    assert not filexfer.tracker_request("/announce/news?id=3")


def test_rtmp_handshake_both_ways_on_any_port():
    c0c1 = b"\x03" + struct.pack("!I", 1234) + b"\x80\x00\x07\x02" + os.urandom(1528)  # Flash writes its version
    s0s1 = b"\x03" + os.urandom(1536)
    f = only_flow(
        run(
            [
                *handshake(dport=40935),
                tcp(c0c1[:1460], dport=40935),
                tcp(c0c1[1460:], dport=40935),
                tcp(s0s1[:1460], dport=40935, reply=True),
            ]
        )
    )
    assert (f.app, f.use_case) == ("RTMP", "streaming")
    # a lone 0x03 block the server does not answer in kind
    f = only_flow(
        run(
            [*handshake(dport=40936), tcp(c0c1, dport=40936), tcp(b"HTTP/1.1 400 Bad\r\n\r\n", dport=40936, reply=True)]
        )
    )
    assert f.app != "RTMP"
    assert not streaming.rtmp_hello(b"\x03" + bytes(100))


def test_mpeg_ts_over_udp():
    ts = b"".join(b"\x47" + os.urandom(187) for _ in range(7))
    f = only_flow(run([udp(ts, sport=40009, dport=1234)]))
    assert (f.app, f.use_case) == ("MPEG-TS", "streaming")
    assert not streaming.mpeg_ts(ts[:-1])


def test_raknet_and_minecraft_handshakes():
    ping = b"\x01" + struct.pack("!Q", 123456) + gaming.RAKNET_MAGIC + os.urandom(8)
    f = only_flow(run([udp(ping, sport=40010, dport=19132)]))
    assert (f.app, f.use_case) == ("RakNet", "gaming")
    ocr = b"\x05" + gaming.RAKNET_MAGIC + b"\x0b" + bytes(1400)
    f = only_flow(run([udp(ocr, sport=40011, dport=50500)]))
    assert f.app == "RakNet"
    host = b"mc.example.org"
    body = b"\x00" + b"\xff\x05" + bytes([len(host)]) + host + struct.pack("!H", 25565) + b"\x02"
    hello = bytes([len(body)]) + body + b"\x10\x00\x0ePlayerOne"  # login start in the same segment
    f = only_flow(run([*handshake(dport=40565), tcp(hello, dport=40565)]))
    assert (f.app, f.use_case) == ("Minecraft", "gaming")
    assert not gaming.minecraft_handshake(bytes([len(body)]) + body[:-1] + b"\x09")


def test_whatsapp_prologue_and_mtproto():
    f = only_flow(run([*handshake(dport=5222), tcp(b"ED\x00\x01\x00\x00\x04\x08" + os.urandom(60), dport=5222)]))
    assert (f.app, f.use_case) == ("WhatsApp", "messaging")
    f = only_flow(run([*handshake(dport=443), tcp(b"WA\x01\x05" + os.urandom(40), dport=443)]))
    assert f.app == "WhatsApp"
    abridged = b"\xef" + bytes([16]) + os.urandom(64)
    f = only_flow(run([*handshake(dport=443), tcp(abridged, dport=443)]))
    assert (f.app, f.use_case) == ("Telegram", "messaging")
    assert messaging.mtproto(b"\xee\xee\xee\xee" + bytes(8))
    assert not messaging.mtproto(b"\xef" + bytes([200]) + bytes(64))  # says 800 bytes, has 64
    # on a port Telegram's clients do not use, 0xef is just a byte
    f = only_flow(run([*handshake(dport=40100), tcp(abridged, dport=40100)]))
    assert f.app != "Telegram"


def test_discord_ip_discovery_and_zoom_stun_attribute():
    req = b"\x00\x01\x00\x46" + struct.pack("!I", 42) + bytes(66)
    f = only_flow(run([udp(req, sport=40012, dport=50003)]))
    assert (f.app, f.use_case) == ("Discord", "messaging")
    assert not voice.discord_ip_discovery(req[:-1])
    attrs = struct.pack("!HH", 0x8022, 4) + b"test" + struct.pack("!HH", 0x0103, 2) + b"\x00\x01\x00\x00"
    msg = struct.pack("!HHI", 0x0001, len(attrs), voice.STUN_COOKIE) + os.urandom(12) + attrs
    f = only_flow(run([udp(msg, sport=40013, dport=8801)]))
    assert (f.app, f.use_case, f.reason) == ("STUN", "streaming", "stun_zoom: stun, zoom attribute")
    other = struct.pack("!HHI", 0x0001, 8, voice.STUN_COOKIE) + os.urandom(12) + attrs[:8]
    assert voice.stun_service(other) is None


def test_payload_rules_from_specs():
    lsd = b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\nInfohash: " + b"ab" * 20 + b"\r\n\r\n"
    f = only_flow(run([udp(lsd, sport=6771, dport=6771)]))
    assert (f.app, f.use_case) == ("BitTorrent", "file_transfer")
    f = only_flow(run([*handshake(dport=40873), tcp(b"@RSYNCD: 31.0\n", dport=40873, reply=True)]))
    assert (f.app, f.use_case) == ("rsync", "file_transfer")
    f = only_flow(
        run([*handshake(dport=40800), tcp(b"ICY 200 OK\r\nicy-name: Radio\r\n\r\n", dport=40800, reply=True)])
    )
    assert (f.app, f.use_case) == ("Icecast", "streaming")


def test_source_engine_connectionless_both_ways_and_steam_datagram():
    q = b"\xff\xff\xff\xffW"  # a challenge request, on a port that says nothing
    r = b"\xff\xff\xff\xffA" + os.urandom(4)
    f = only_flow(run([udp(q, sport=40017, dport=40018), udp(r, sport=40017, dport=40018, reply=True)]))
    assert (f.app, f.use_case) == ("Source Engine", "gaming")
    assert only_flow(run([udp(q, sport=40019, dport=40020)])).app is None  # one side only: not enough
    f = only_flow(run([udp(b"VS01" + os.urandom(40), sport=40021, dport=27036)]))
    assert (f.app, f.use_case) == ("Steam", "gaming")


def test_http_user_agent_names_the_client(tmp_path):
    req = (
        b"GET /depot/123/chunk/ab HTTP/1.1\r\nHost: cdn.example.net\r\nUser-Agent: Valve/Steam HTTP Client 1.0\r\n\r\n"
    )
    f = only_flow(run([*handshake(dport=80), tcp(req, dport=80)]))
    assert (f.app, f.use_case, f.reason) == ("Steam", "gaming", "http user-agent Steam client")
    rules = tmp_path / "r.toml"
    rules.write_text('[[agents]]\napp = "Updater"\nuse_case = "file_transfer"\nprefixes = ["MyUpdater/"]\n')
    c = load_classifier(str(rules), use_default_user=False)
    req = b"GET /x HTTP/1.1\r\nHost: a.example\r\nUser-Agent: myupdater/2\r\n\r\n"
    f = only_flow(run([*handshake(dport=80), tcp(req, dport=80)], c))
    assert (f.app, f.use_case) == ("Updater", "file_transfer")
    rules.write_text('[[agents]]\napp = "X"\nuse_case = "web"\nprefixes = []\n')
    with pytest.raises(RulesError, match="needs prefixes"):
        load_classifier(str(rules), use_default_user=False)


def test_bittorrent_peers_seen_before_name_later_flows():
    hs = b"\x13BitTorrent protocol" + bytes(8) + os.urandom(40)
    enc = os.urandom(96)  # an encrypted (MSE) connection to the same peer: nothing to read
    c = load_classifier(None, use_default_user=False)
    eng = run(
        [
            *handshake(dport=51413),
            tcp(hs, dport=51413),
            *handshake(sport=40200, dport=51413),
            tcp(enc, sport=40200, dport=51413),
        ],
        c,
    )
    by_port = {f.sport: f for f in eng.table.flows.values()}
    assert by_port[40000].app == "BitTorrent"
    assert (by_port[40200].use_case, by_port[40200].reason) == ("file_transfer", "bittorrent peer seen before")
    # a DHT get_peers answer lists peers (compact 6-byte address+port): a flow to one is BitTorrent
    peer = bytes([203, 0, 113, 7]) + struct.pack("!H", 6000)
    answer = b"d1:rd2:id20:" + bytes(20) + b"5:token8:abcdefgh6:valuesl6:" + peer + b"ee1:t2:aa1:y1:re"
    c = load_classifier(None, use_default_user=False)
    e = Ether()
    pkts = [
        e / IP(src=SERVER, dst=CLIENT) / UDP(sport=6881, dport=40300) / answer,
        e / IP(src=CLIENT, dst="203.0.113.7") / TCP(sport=40301, dport=6000, flags="S"),
        e / IP(src=CLIENT, dst="203.0.113.7") / TCP(sport=40301, dport=6000, flags="PA") / enc,
    ]
    flows = {f.dport: f for f in run(pkts, c).table.flows.values()}
    assert flows[6000].use_case == "file_transfer"
    assert filexfer.dht_peers(answer) == [(peer[:4], 6000)]
    # without that history the same bytes say nothing
    assert (
        only_flow(run([*handshake(sport=40400, dport=6000), tcp(enc, sport=40400, dport=6000)])).use_case == "unknown"
    )
