"""Each payload signature, fed packets built with scapy (and real TLS/QUIC stacks), decides the right class."""

from __future__ import annotations

import struct

from classify_helpers import CLIENT, SERVER, Ether, client_hello, handshake, only_flow, quic_initial, run, tcp, udp
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import ARP

from tui.classify import load_classifier


def test_tls_sni_names_flow_and_uses_name_rule():
    hello = client_hello("r4---sn-abc.googlevideo.com")
    eng = run([*handshake(), tcp(hello, dport=443)])
    f = only_flow(eng)
    assert (f.app, f.use_case, f.name) == ("TLS", "streaming", "r4---sn-abc.googlevideo.com")
    assert f.reason == "tls sni *.googlevideo.com"
    assert f.decided
    assert eng.snapshot().protocols["TLS"].packets == 4


def test_tls_client_hello_split_over_two_segments_is_reassembled():
    hello = client_hello("www.netflix.com")
    eng = run([*handshake(), tcp(hello[:40], dport=443), tcp(hello[40:], dport=443)])
    f = only_flow(eng)
    assert (f.use_case, f.name, f.reason) == ("streaming", "www.netflix.com", "tls sni *.netflix.com")


def test_tls_without_name_rule_is_web_and_on_993_is_mail():
    eng = run([*handshake(), tcp(client_hello("example.org"), dport=443)])
    f = only_flow(eng)
    assert (f.use_case, f.reason, f.name) == ("web", "tls sni", "example.org")
    eng = run([*handshake(dport=993), tcp(client_hello(None), dport=993)])
    f = only_flow(eng)
    assert (f.app, f.use_case) == ("TLS", "mail")
    assert f.reason == "tls, port 993/tcp"


def test_cleartext_http_on_another_protocols_port_stays_http():
    """A parsed HTTP request says what it is; SIP's port (5060) only decides for TLS, not HTTP."""
    req = b"GET /index.html HTTP/1.1\r\nHost: example.org\r\n\r\n"
    eng = run([*handshake(dport=5060), tcp(req, dport=5060)])
    f = only_flow(eng)
    assert (f.app, f.use_case) == ("HTTP", "web"), f.reason
    eng = run([*handshake(dport=5061), tcp(client_hello(None), dport=5061)])
    assert only_flow(eng).use_case == "voice"  # TLS on SIP-TLS's port: the port is all there is


def test_over_long_sni_is_ignored_not_raised():
    hello = bytearray(client_hello("a" * 60 + ".example.com"))
    # Point the name length past the end of the extension.
    i = hello.find(b"a" * 60)
    struct.pack_into("!H", hello, i - 2, 0xFFF0)
    eng = run([*handshake(), tcp(bytes(hello), dport=443)])
    f = only_flow(eng)
    assert f.app == "TLS" and f.name is None


def test_http_request_host_and_video_response():
    req = b"GET /v/seg1.ts HTTP/1.1\r\nHost: cdn.example.net\r\nUser-Agent: t\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: 3\r\n\r\nabc"
    eng = run([*handshake(dport=80), tcp(req, dport=80), tcp(resp, dport=80, reply=True)])
    f = only_flow(eng)
    assert (f.app, f.use_case, f.name) == ("HTTP", "streaming", "cdn.example.net")
    eng = run([*handshake(dport=8080), tcp(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", dport=8080)])
    assert (only_flow(eng).app, only_flow(eng).use_case, only_flow(eng).reason) == ("HTTP", "web", "http host")


def test_http_download_content_type_is_file_transfer():
    req = b"GET /f.bin HTTP/1.1\r\nHost: files.example\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
    f = only_flow(run([*handshake(dport=80), tcp(req, dport=80), tcp(resp, dport=80, reply=True)]))
    assert f.use_case == "file_transfer"


def test_dns_answer_teaches_name_for_later_flow():
    q = udp(bytes(DNS(id=1, rd=1, qd=DNSQR(qname="video.nflxvideo.net"))))
    a = udp(
        bytes(
            DNS(
                id=1,
                qr=1,
                qd=DNSQR(qname="video.nflxvideo.net"),
                an=DNSRR(rrname="video.nflxvideo.net", type="A", rdata="203.0.113.9"),
            )
        ),
        reply=True,
    )
    later = Ether() / IP(src=CLIENT, dst="203.0.113.9") / TCP(sport=41000, dport=443, flags="S")
    eng = run([q, a, later])
    flows = {f.dport: f for f in eng.table.flows.values()}
    dns = flows[53]
    assert (dns.app, dns.use_case, dns.name, dns.decided) == ("DNS", "name_resolution", "video.nflxvideo.net", True)
    web = flows[443]
    assert (web.use_case, web.name, web.reason) == ("streaming", "video.nflxvideo.net", "learned name *.nflxvideo.net")


def test_dns_compression_loop_and_lengths_past_end_do_not_raise():
    header = struct.pack("!HHHHHH", 7, 0x8180, 1, 1, 0, 0)
    loop = header + b"\xc0\x0c" + b"\x00\x01\x00\x01"  # name points at itself
    past = header + b"\x3fabc"  # label longer than the message
    answer_past = (
        header[:4] + struct.pack("!HHHH", 1, 1, 0, 0) + b"\x01a\x00\x00\x01\x00\x01" + b"\xc0\x0c\x00\x01\x00\x01"
    )
    answer_past += b"\x00\x00\x00\x10\xff\xff\x01\x02"  # rdlength 65535
    eng = run([udp(loop, reply=True), udp(past, sport=40001, reply=True), udp(answer_past, sport=40002, reply=True)])
    assert len(eng.table.flows) == 3
    for f in eng.table.flows.values():
        assert f.use_case == "name_resolution"  # by port, since the payload is not DNS we can read


def test_quic_initial_sni_is_decrypted():
    datagrams = quic_initial("www.youtube.com")
    eng = run([udp(d, sport=50000, dport=443) for d in datagrams])
    f = only_flow(eng)
    assert (f.app, f.use_case, f.name) == ("QUIC", "streaming", "www.youtube.com")
    assert f.reason == "quic sni *.youtube.com"


def test_quic_on_odd_port_and_truncated_initial():
    d = quic_initial("example.org")[0]
    f = only_flow(run([udp(d, sport=50000, dport=4433)]))
    assert (f.app, f.use_case, f.name) == ("QUIC", "web", "example.org")
    f = only_flow(run([udp(d[:300], sport=50000, dport=4433)]))
    assert f.app == "QUIC" and f.name is None  # header parses, payload does not decrypt


def test_banners_smtp_imap_pop3_ftp_ssh():
    cases = [
        (25, b"220 mx.example ESMTP ready\r\n", "SMTP", "mail"),
        (143, b"* OK IMAP4rev1 ready\r\n", "IMAP", "mail"),
        (110, b"+OK POP3 ready\r\n", "POP3", "mail"),
        (21, b"220 ProFTPD Server ready\r\n", "FTP", "file_transfer"),
        (22, b"SSH-2.0-OpenSSH_9.6\r\n", "SSH", "remote_access"),
        (40022, b"SSH-2.0-OpenSSH_9.6\r\n", "SSH", "remote_access"),  # any port: signature beats port
    ]
    for port, banner, app, uc in cases:
        f = only_flow(run([*handshake(dport=port), tcp(banner, dport=port, reply=True)]))
        assert (f.app, f.use_case) == (app, uc), (port, f.app, f.use_case, f.reason)


def test_ftp_pasv_announces_data_connection():
    pasv = b"227 Entering Passive Mode (198,51,100,20,195,80).\r\n"
    data_conn = tcp(sport=40100, dport=195 * 256 + 80, flags="S")
    eng = run(
        [
            *handshake(dport=21),
            tcp(b"220 FTP ready\r\n", dport=21, reply=True),
            tcp(pasv, dport=21, reply=True),
            data_conn,
        ]
    )
    flows = {f.dport: f for f in eng.table.flows.values()}
    assert flows[21].app == "FTP"
    d = flows[195 * 256 + 80]
    assert (d.app, d.use_case, d.reason) == ("FTP-DATA", "file_transfer", "ftp_data: announced by ftp control")


def test_bittorrent_handshake_and_dht():
    bt = b"\x13BitTorrent protocol" + bytes(8) + bytes(40)
    f = only_flow(run([*handshake(dport=51413), tcp(bt, dport=51413)]))
    assert (f.app, f.use_case) == ("BitTorrent", "file_transfer")
    dht = b"d1:ad2:id20:" + bytes(20) + b"e1:q4:ping1:t2:aa1:y1:qe"
    f = only_flow(run([udp(dht, dport=51413)]))
    assert (f.app, f.use_case) == ("BitTorrent", "file_transfer")


def test_stun_rtp_rtcp_sip():
    stun = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + bytes(12)
    assert (only_flow(run([udp(stun, dport=40404)])).app) == "STUN"
    rtp = [bytes([0x80, 0x00]) + struct.pack("!HII", i, i * 160, 0xDEADBEEF) + bytes(160) for i in range(3)]
    f = only_flow(run([udp(p, sport=30000, dport=30002) for p in rtp]))
    assert (f.app, f.use_case) == ("RTP", "voice")
    rtcp = bytes([0x80, 200]) + struct.pack("!H", 6) + bytes(24)
    assert only_flow(run([udp(rtcp, sport=30001, dport=30003)])).app == "RTCP"
    sip = b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n"
    f = only_flow(run([udp(sip, dport=5070)]))
    assert (f.app, f.use_case) == ("SIP", "voice")


def test_one_rtp_looking_packet_is_not_enough():
    p = bytes([0x80, 0x00]) + struct.pack("!HII", 1, 160, 1) + bytes(20)
    assert only_flow(run([udp(p, sport=30000, dport=30002)])).app is None


def test_mqtt_xmpp_rtsp_rtmp():
    mqtt = bytes([0x10, 16]) + b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x04test"
    assert only_flow(run([*handshake(dport=41883), tcp(mqtt, dport=41883)])).app == "MQTT"
    xmpp = b"<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client'>"
    assert only_flow(run([*handshake(dport=45222), tcp(xmpp, dport=45222)])).use_case == "messaging"
    rtsp = b"OPTIONS rtsp://cam.example/stream RTSP/1.0\r\nCSeq: 1\r\n\r\n"
    assert only_flow(run([*handshake(dport=40554), tcp(rtsp, dport=40554)])).app == "RTSP"
    rtmp = b"\x03" + bytes(4) + bytes(4) + bytes(1528)  # C0+C1; the server answers S0+S1
    f = only_flow(run([*handshake(dport=41935), tcp(rtmp, dport=41935), tcp(rtmp, dport=41935, reply=True)]))
    assert (f.app, f.use_case) == ("RTMP", "streaming")


def test_game_ports_and_query_signature():
    query = b"\xff\xff\xff\xffTSource Engine Query\x00"
    f = only_flow(run([udp(query, dport=27015)]))
    assert (f.app, f.use_case, f.reason) == ("Steam", "gaming", "payload Source Engine query")
    f = only_flow(run([udp(b"\x01\x02\x03\x04", dport=3074)] * 4))
    assert (f.use_case, f.reason) == ("gaming", "port 3074/udp")


def test_icmp_and_arp_are_network_control():
    eng = run([Ether() / IP(src=CLIENT, dst=SERVER) / ICMP(), Ether() / ARP(psrc=CLIENT, pdst=SERVER)])
    ucs = {f.proto: (f.use_case, f.decided) for f in eng.table.flows.values()}
    assert ucs == {"ICMP": ("network_control", True), "ARP": ("network_control", True)}
    assert eng.snapshot().use_cases["network_control"].packets == 2


def test_class_change_moves_counts():
    """Tentative class from the port, then the SNI: the engine moves counted packets."""
    eng = run([*handshake(), tcp(client_hello("www.twitch.tv"), dport=443)])
    snap = eng.snapshot()
    assert snap.use_cases["streaming"].packets == 4
    assert "web" not in snap.use_cases


def test_decides_within_a_few_payload_packets():
    eng = run([*handshake(dport=45000)] + [tcp(b"\x00\x01garbage", dport=45000) for _ in range(5)])
    f = only_flow(eng)
    assert f.decided and f.use_case == "unknown" and f.inspected <= 8


def test_classifier_instances_do_not_share_caches():
    a, b = load_classifier(None, use_default_user=False), load_classifier(None, use_default_user=False)
    a.names[b"\x01\x02\x03\x04"] = "x"
    assert not b.names


def test_http_media_by_content_type_manifests_are_web_attachments_are_downloads():
    def get(path: str, resp: bytes):
        req = f"GET {path} HTTP/1.1\r\nHost: media.example\r\n\r\n".encode()
        return only_flow(run([*handshake(dport=80), tcp(req, dport=80), tcp(resp, dport=80, reply=True)]))

    hls = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\n\r\n#EXTM3U\n"
    assert get("/live/index.m3u8", hls).use_case == "web"  # a manifest is text naming segments
    seg = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n\r\n"
    assert get("/live/seg7.m4s", seg).use_case == "streaming"
    page = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>"
    assert get("/promo.mp4", page).use_case == "web"  # the response's type outranks the path's guess
    att = b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="a.iso"\r\n\r\n'
    assert get("/get?id=3", att).use_case == "file_transfer"
