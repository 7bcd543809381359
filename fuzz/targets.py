"""What the fuzzers feed and how: one place for the atheris harnesses and the hypothesis tests.

Two targets, each a function of one byte string that must never raise:

- ``decode_target``: byte 0 picks a link type, the rest is a frame; it is decoded and
  then accounted by an Engine with the real classifier (decode, flows, counters, ring).
- ``classify_target``: byte 0 picks a signature seed (transport and ports that steer
  the classifier to one payload signature), byte 1 the direction pattern, the rest is
  split on ``SEP`` into the payloads of consecutive packets of one flow; each is framed
  (Ethernet/IPv4/TCP or UDP) and run through the Engine, and every parser in
  tui.classify.wire / quic is also called on it directly.

Seeds (``decode_seeds``, ``classify_seeds``) are real frames from ../shared/pcaps when
present and a valid example of every signature, so coverage-guided fuzzing starts deep.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from benchmarks.synth import client_hello
from tui import linktypes as lt
from tui.classify import load_classifier, quic, wire
from tui.classify.classifier import _SIGNATURES
from tui.classify.detectors import alpn, filexfer, gaming, messaging, remote, streaming, tls, voice, x509
from tui.decode import decode
from tui.engine import Engine

LINKTYPES = sorted(set(lt.NAMES) | set(lt.RAW_IP) | {lt.LINUX_SLL2, 7, 147})
SEP = b"\xf0\x9f\x92\xa5"  # splits a classify input into packets (an unlikely byte run)
FLOW_CAP = 2_000
RING = 500
SHARED_PCAPS = Path(__file__).resolve().parent.parent.parent / "shared" / "pcaps"

# (signature, transport, client port, server port, a valid first payload from the client)
_HTTP = b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: fuzz\r\n\r\n"
_DNS_Q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01"
_DNS_R = (
    b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01"
    b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc6\x33\x64\x07"
)


_CN = b"\x06\x03\x55\x04\x03"  # the commonName OID, as a certificate carries it


def _quic_initial(name: str) -> bytes:
    try:
        from aioquic.quic.configuration import QuicConfiguration
        from aioquic.quic.connection import QuicConnection
    except ImportError:  # aioquic is a test dependency; a hand-made long header still reaches the parser
        return b"\xc3\x00\x00\x00\x01\x08" + b"\x11" * 8 + b"\x00\x00\x44\xd0" + b"\x00" * 1200
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=name)
    conn = QuicConnection(configuration=cfg)
    conn.connect(("198.51.100.20", 443), now=0.0)
    return conn.datagrams_to_send(now=0.0)[0][0]


def signature_seeds() -> list[tuple[str, str, int, int, list[bytes]]]:
    """One valid exchange per built-in signature and per [[payloads]] rule (packets alternate c->s, s->c)."""
    hello = client_hello("fuzz.example.com")
    seeds: list[tuple[str, str, int, int, list[bytes]]] = [
        ("http", "TCP", 40000, 80, [_HTTP, b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n\r\n"]),
        ("http_proxy", "TCP", 40000, 3128, [b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"]),
        ("http_connect", "TCP", 40000, 3128, [b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n"]),
        ("http_video", "TCP", 40000, 80, [b"GET /a.m3u8 HTTP/1.1\r\nHost: v.example\r\n\r\n"]),
        ("http_download", "TCP", 40000, 80, [_HTTP, b"HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\n\r\n"]),
        ("tls", "TCP", 40000, 443, [hello]),
        ("tls_split", "TCP", 40000, 443, [hello[:40], b"", hello[40:]]),
        ("tls_server", "TCP", 443, 40000, [b"\x16\x03\x03\x00\x04\x02\x00\x00\x00"]),
        ("dtls", "UDP", 40000, 4433, [b"\x16\xfe\xfd" + b"\x00" * 11 + b"\x01"]),
        ("quic", "UDP", 40000, 443, [_quic_initial("fuzz.example.com")]),
        ("gquic", "UDP", 40000, 443, [b"\x0d" + b"\x01" * 8 + b"Q043" + b"\x01" + b"CHLO" + b"\x00" * 40]),
        ("dns", "UDP", 40000, 53, [_DNS_Q, _DNS_R]),
        ("dns_tcp", "TCP", 40000, 53, [struct.pack("!H", len(_DNS_Q)) + _DNS_Q]),
        ("mdns", "UDP", 5353, 5353, [_DNS_R]),
        ("llmnr", "UDP", 40000, 5355, [_DNS_Q]),
        ("netbios_ns", "UDP", 137, 137, [_DNS_Q]),
        ("smtp", "TCP", 25, 40000, [b"220 mail.example.com ESMTP ready\r\n"]),
        ("smtp_cmd", "TCP", 40000, 25, [b"EHLO client.example\r\n"]),
        ("greeting_220", "TCP", 2121, 40000, [b"220 Welcome\r\n", b"USER anonymous\r\n"]),
        ("imap", "TCP", 143, 40000, [b"* OK IMAP4rev1 ready\r\n"]),
        ("pop3", "TCP", 110, 40000, [b"+OK POP3 ready\r\n"]),
        (
            "ftp",
            "TCP",
            21,
            40000,
            [b"220 FTP server ready\r\n", b"PASV\r\n", b"227 Entering Passive Mode (192,0,2,1,4,1)\r\n"],
        ),
        ("ftp_port", "TCP", 40000, 21, [b"USER anonymous\r\n", b"", b"PORT 192,0,2,10,7,138\r\n"]),
        ("ftp_data", "TCP", 40000, 1025, [b"data"]),
        ("bittorrent_dht", "UDP", 40000, 6881, [b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"]),
        ("stun", "UDP", 40000, 3478, [b"\x00\x01\x00\x00\x21\x12\xa4\x42" + b"\x01" * 12]),
        ("rtp", "UDP", 40000, 5004, [b"\x80\x00\x00\x01" + b"\x00" * 4 + b"\x11\x22\x33\x44" + b"\x00" * 160] * 2),
        ("rtcp", "UDP", 40000, 5005, [b"\x80\xc8\x00\x06" + b"\x00" * 24]),
        ("mqtt", "TCP", 40000, 1883, [b"\x10\x12\x00\x04MQTT\x04\x02\x00\x3c\x00\x06client"]),
        ("rtmp", "TCP", 40000, 1935, [b"\x03" + b"\x00" * 1536]),
        ("ssdp", "UDP", 40000, 1900, [b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n"]),
        (
            "cert",
            "TCP",
            443,
            40000,
            [b"\x16\x03\x03\x01\x00\x0b" + b"\x00" * 20 + b"\x06\x03\x55\x04\x03\x0c\x0bexample.com"],
        ),
    ]
    for pr in load_classifier(None, use_default_user=False).rules.payloads:
        transport = "UDP" if pr.transport.upper() == "UDP" else "TCP"
        port = min(pr.ports) if pr.ports else 40001
        seeds.append((f"payload:{pr.rule.app}", transport, 40000, port, [b"\x00" * pr.offset + pr.prefix + b"x"]))
    seeds += _detector_seeds()
    names = {s[0] for s in seeds}
    missing = [s for s in _SIGNATURES if s not in names]
    assert not missing, f"signatures without a fuzz seed: {missing}"
    return seeds


def _detector_seeds() -> list[tuple[str, str, int, int, list[bytes]]]:
    """The spec-written detectors of tui/classify/detectors (appended, so older seeds keep their index)."""
    utp = struct.pack("!BBHIIIHH", 0x41, 0, 7000, 1, 0, 1 << 20, 1, 0)
    state = struct.pack("!BBHIIIHH", 0x21, 0, 7000, 2, 5, 1 << 20, 9, 1)
    stun_zoom = b"\x00\x01\x00\x08\x21\x12\xa4\x42" + b"\x01" * 12 + b"\x01\x03\x00\x02\x00\x01\x00\x00"
    mc_host = b"mc.example.org"
    mc_body = b"\x00\xff\x05" + bytes([len(mc_host)]) + mc_host + b"\x63\xdd\x02"
    tracker = b"GET /announce?info_hash=%12%34 HTTP/1.1\r\nHost: t.example\r\n\r\n"
    return [
        ("bittorrent", "UDP", 40000, 40002, [utp, state]),
        ("bittorrent_tracker", "TCP", 40000, 6969, [tracker]),
        ("tftp", "UDP", 40000, 69, [b"\x00\x01boot.img\x00octet\x00"]),
        ("tftp_data", "UDP", 40000, 53000, [b"\x00\x04\x00\x01", b"\x00\x03\x00\x02" + b"\x01" * 512]),
        ("whatsapp", "TCP", 40000, 5222, [b"ED\x00\x01\x00\x00\x04\x08" + b"\x01" * 40]),
        ("telegram", "TCP", 40000, 443, [b"\xef\x10" + b"\x01" * 64]),
        ("mpegts", "UDP", 40000, 1234, [(b"\x47" + b"\x01" * 187) * 7]),
        ("raknet", "UDP", 40000, 19132, [b"\x01" + b"\x00" * 8 + gaming.RAKNET_MAGIC + b"\x00" * 8]),
        ("minecraft", "TCP", 40000, 25565, [bytes([len(mc_body)]) + mc_body]),
        ("stun_zoom", "UDP", 40000, 8801, [stun_zoom]),
        ("discord", "UDP", 40000, 50001, [b"\x00\x01\x00\x46" + b"\x00" * 70]),
        ("source_engine", "UDP", 40000, 40003, [b"\xff\xff\xff\xffW", b"\xff\xff\xff\xffA\x01\x02\x03\x04"]),
        ("rtmp_answered", "TCP", 40000, 1935, [b"\x03" + b"\x01" * 1536, b"\x03" + b"\x02" * 1536]),
        *_msgfile_seeds(),
        *_gaming_seeds(),
        *_voice_seeds(),
        *_audit_seeds(),
        *_recent_seeds(),
    ]


def _recent_seeds() -> list[tuple[str, str, int, int, list[bytes]]]:
    """Detectors for recent nDPI's dissectors (issue 12): Zoom SFU media (audio, RTP at byte 19 of
    the media header), Mumble's ping and pong, Threema's hellos, UFTP 5 ANNOUNCE, LNet's acceptor
    request (to the fuzz server 198.51.100.20), RDP-UDP's SYN, Ceph's msgr2 banner, VMware authd's
    greeting, an XDMCP Query."""
    rtp = struct.pack("!BBHII", 0x80, 112, 1, 160, 0x1234ABCD) + b"\x01" * 40
    zoom = b"\x05\x00\x01\x00\x00\x00\x00\x00" + b"\x0f" + bytes(18) + rtp
    pong = b"\x00\x01\x04\x00" + b"\x07" * 8 + struct.pack("!III", 1, 100, 72000)
    uftp = bytes((0x50, 1)) + bytes(13) + b"\x00" + bytes((1, 3)) + bytes(10)
    lnet = b"\x00\x71\xce\xac\x01\x00\x00\x00" + bytes((0x14, 0x64, 0x33, 0xC6)) + b"\x00\x00\x02\x00"
    syn = struct.pack("!IHHIHH", 0xFFFFFFFF, 64, 1, 42, 1232, 1232)
    return [
        ("zoom", "UDP", 40000, 40043, [zoom]),
        ("mumble", "UDP", 40000, 40044, [b"\x00" * 4 + b"\x07" * 8, pong]),
        ("threema", "TCP", 40000, 5222, [b"\x01" * 48, b"\x02" * 80]),
        ("uftp", "UDP", 40000, 40045, [uftp]),
        ("lustre", "TCP", 40000, 988, [lnet]),
        ("rdp_udp", "UDP", 40000, 40046, [syn + bytes(1232 - len(syn))]),
        ("ceph", "TCP", 40000, 6800, [b"ceph v2\n" + struct.pack("<HQQ", 16, 0x3F, 0)]),
        ("xdmcp", "UDP", 40000, 177, [b"\x00\x01\x00\x02\x00\x01\x00"]),
        ("vmware", "TCP", 40000, 902, [b"220 VMware Authentication Daemon Version 1.10: SSL Required\r\n"]),
    ]


def _audit_seeds() -> list[tuple[str, str, int, int, list[bytes]]]:
    """Detectors of the issue 12 audit: FLUTE's FDT Instance (RFC 6726: LCT header, TOI 0, EXT_FDT),
    a Gnutella Ping, BFCP's Hello and HelloAck (RFC 8855)."""
    fdt = bytes((0x10, 0xA0, 5, 0)) + bytes(4) + struct.pack("!III", 7, 0, 192 << 24 | 2 << 20 | 1)
    hello_ack = struct.pack("!BBHIHH", 0x50, 12, 2, 4711, 9, 2) + bytes((42, 6, 1, 2, 11, 12, 0, 0))
    return [
        ("flute", "UDP", 40000, 40040, [fdt + b"\x00" * 4 + b"<?xml version='1.0'?><FDT-Instance/>"]),
        ("gnutella", "UDP", 40000, 40042, [b"\x01" * 16 + b"\x00\x01\x00" + bytes(4)]),
        ("bfcp", "UDP", 40000, 40041, [struct.pack("!BBHIHH", 0x40, 11, 0, 4711, 9, 2), hello_ack]),
    ]


def _voice_seeds() -> list[tuple[str, str, int, int, list[bytes]]]:
    """Voice and streaming signalling of detectors/voice.py and streaming.py (issue 12)."""
    ts3 = b"TS3INIT1" + struct.pack("!HHB", 101, 0, 0x88) + bytes.fromhex("06bb8b1a") + b"\x00" + b"\x01" * 12
    ies = b"\x0b\x02\x00\x02\x01\x03100\x02\x05alice\x09\x04\x00\x00\x00\x04"
    iax = struct.pack("!HHIBBBB", 0x8000 | 0x1234, 0, 3, 0, 0, 6, 1) + ies
    crcx = b"CRCX 1204 aaln/1@rgw-2567.example.net MGCP 1.0\r\nC: A3C47F21456789F0\r\nM: sendrecv\r\n"
    megaco = b"!/1 [192.0.2.1]:55555 T=9998{C=-{SC=ROOT{}}}"
    zrtp = struct.pack("!BBH", 0x10, 0, 1) + b"ZRTP" + struct.pack("!I", 0xDEADBEEF) + b"\x50\x5a\x00\x00Hello   "
    setup = bytes.fromhex("080277f40504038090a57e0010") + b"\x01" * 16
    rtp = struct.pack("!BBHII", 0x80, 96, 1, 160, 0x1234ABCD) + b"\x01" * 160
    mms_rest = struct.pack("<HHIdI", 6, 0, 0, 0.0, 0) + struct.pack("<HH", 0x01, 0x0003) + bytes(32)
    mms = struct.pack("<BBBBI", 1, 0, 0, 0, 0xB00BFACE) + struct.pack("<I", len(mms_rest) + 4) + b"MMS " + mms_rest
    build_info = b"\x08\x00\x10\x00\x18\xb0\xdb\x06"
    sp_body = b"\x52" + bytes((len(build_info),)) + build_info + b"\x50\x00\xa0\x01\x01" + b"\x01" * 120
    spotify = struct.pack("!HI", 4, 6 + len(sp_body)) + sp_body
    skype = b"\x11\x22\x02\x01\x02\x03\x04\x9a\x1b\x2c\x3d" + b"\x01" * 40
    skype2 = b"\x33\x44\x02\x05\x06\x07\x08\x9a\x1b\x2c\x3d" + b"\x02" * 40
    return [
        ("teamspeak", "UDP", 40000, 40030, [ts3]),
        ("iax", "UDP", 40000, 40031, [iax]),
        ("mgcp", "UDP", 40000, 40032, [crcx]),
        ("megaco", "UDP", 40000, 40033, [megaco]),
        ("zrtp", "UDP", 40000, 40034, [zrtp]),
        ("h323", "TCP", 40000, 40035, [struct.pack("!BBH", 3, 0, 4 + len(setup)) + setup]),
        ("rtsp", "TCP", 40000, 40036, [struct.pack("!BBH", 0x24, 0, len(rtp)) + rtp]),
        ("mms", "TCP", 40000, 40037, [mms]),
        ("spotify", "TCP", 40000, 40038, [spotify]),
        ("skype", "UDP", 40000, 40039, [skype, skype2]),
    ]


def _gaming_seeds() -> list[tuple[str, str, int, int, list[bytes]]]:
    """Game handshakes of tui/classify/detectors/gaming.py (issue 12), one direction each."""
    hazel = b"\x08\x00\x01\x00" + struct.pack("<i", 50518400) + b"\x06Player"
    sns_body = b"\x0d\x11\x22\x33\x44\x19" + struct.pack("<Q", 123456789) + b"\x20\x0b"
    sns = b"\x20" + struct.pack("<H", len(sns_body)) + sns_body + bytes(512 - 3 - len(sns_body))
    mihoyo = struct.pack("!IIIII", 0xFF, 0, 0, 1234567890, 0xFFFFFFFF)
    bncs = b"\xff\x50" + struct.pack("<H", 8) + b"\x00" * 4
    return [
        ("among_us", "UDP", 40000, 40020, [hazel, b"\x0a\x00\x01\xff"]),
        ("steam_sockets", "UDP", 40000, 40021, [sns]),
        ("nintendo_pia", "UDP", 40000, 40022, [gaming.PIA_MAGIC + b"\x02" + b"\x01" * 60]),
        ("mihoyo", "UDP", 40000, 40023, [mihoyo]),
        ("battle_net", "TCP", 40000, 40024, [b"\x01" + bncs, bncs]),
    ]


def _msgfile_seeds() -> list[tuple[str, str, int, int, list[bytes]]]:
    """Messaging, file transfer and remote access detectors (issue 12)."""
    rdp = b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x03\x00\x00\x00"
    edonkey = b"\xe3" + struct.pack("<I", 18) + b"\x01\x10" + b"\x01" * 16
    rpc = struct.pack("!IIIIIIIIIIII", 0x80000028, 1, 0, 2, 100003, 3, 0, 0, 0, 0, 0, 0)
    dsi = struct.pack("!BBHIII", 0, 4, 1, 0, 6, 0) + b"\x01\x04\x00\x00\x04\x00"
    tv = b"\x00" * 10 + b"\x03\x17\x24" + b"\x01" * 20
    anydesk = b"\x16\x03\x03\x01\x00\x0b" + b"\x00" * 20 + b"\x06\x03\x55\x04\x03\x0c\x0eAnyDesk Client"
    return [
        ("telnet", "TCP", 40000, 40010, [b"\xff\xfd\x18\xff\xfd\x20\xff\xfb\x01"]),
        ("rdp", "TCP", 40000, 40011, [rdp]),
        ("edonkey", "TCP", 40000, 40012, [edonkey]),
        ("nfs", "TCP", 40000, 40013, [rpc]),
        ("afp", "TCP", 40000, 40014, [dsi]),
        ("teamviewer", "UDP", 40000, 40015, [tv, tv]),
        ("irc", "TCP", 40000, 40016, [b":irc.example.net 001 nick :Welcome\r\n"]),
        ("anydesk", "TCP", 40000, 40017, [anydesk]),
    ]


SEEDS = signature_seeds()


def frame(transport: str, src: bytes, sport: int, dst: bytes, dport: int, payload: bytes) -> bytes:
    """An Ethernet/IPv4/TCP-or-UDP frame with consistent lengths (checksums left zero)."""
    if transport == "TCP":
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 0x50, 0x18, 65535, 0, 0) + payload
        proto = 6
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        proto = 17
    total = 20 + len(l4)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total & 0xFFFF, 1, 0, 64, proto, 0, src, dst)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + l4


class Targets:
    """The two fuzz targets with their own engine (bounded, so memory stays flat over millions of inputs)."""

    def __init__(self) -> None:
        self.engine = Engine(
            classifier=load_classifier(None, use_default_user=False),
            flow_cap=FLOW_CAP,
            idle_timeout=None,
            ring_size=RING,
        )
        self.n = 0
        self.keys_cache: dict = {}

    def _ts(self) -> int:
        self.n += 1
        return 1_700_000_000_000_000_000 + self.n * 1_000_000

    def decode_target(self, data: bytes) -> None:
        if not data:
            return
        linktype = LINKTYPES[data[0] % len(LINKTYPES)]
        frame_bytes = data[1:]
        m = decode(frame_bytes, linktype)
        if len(m) != 11 or m[9] not in (0, 1, 2) or m[8] > len(frame_bytes):
            raise AssertionError(f"decode returned a bad tuple: {m!r}")
        self.engine.process([(self._ts(), 1, self.n & 1, len(frame_bytes), frame_bytes, linktype)])

    def classify_target(self, data: bytes) -> None:
        if len(data) < 2:
            return
        _name, transport, sport, dport, _ = SEEDS[data[0] % len(SEEDS)]
        pattern = data[1]
        payloads = data[2:].split(SEP)[:12]
        # A fresh client address per input, so each input is a new flow the classifier has not decided.
        self.n += 1
        client = struct.pack("!I", 0x0A000000 | self.n % 0xFFFFFF)
        server = b"\xc6\x33\x64\x14"
        frames = []
        for i, pl in enumerate(payloads):
            reply = bool(pattern >> (i % 8) & 1)
            if reply:
                f = frame(transport, server, dport, client, sport, pl)
            else:
                f = frame(transport, client, sport, server, dport, pl)
            frames.append((self._ts(), 1, int(reply), len(f), f, lt.ETHERNET))
            _parsers(pl, self.keys_cache)
        self.engine.process(frames)
        if len(self.keys_cache) > 64:
            self.keys_cache.clear()


def _parsers(pl: bytes, keys_cache: dict) -> None:
    """Every payload parser of the classifier, called directly on hostile bytes."""
    for off in (0, 2):
        wire.tls_record_len(pl, off)
        wire.tls_app_record(pl, off)
        wire.dns_message(pl, off)
        wire.dns_name(pl, off, off)
        wire.http_request(pl, off)
        wire.http_response(pl, off)
        wire.stun(pl, off)
        wire.rtp(pl, off)
        wire.mqtt_connect(pl, off)
        wire.bencoded_dht(pl, off)
        wire.rtmp_handshake(pl, off)
        wire.ssdp(pl, off)
        wire.cert_host(pl, off)
        quic.long_header(pl, off)
        quic.initial_crypto(pl, off, keys_cache)
        quic.gquic_sni(pl, off)
    if len(pl) >= 12:
        wire.rtp_ssrc(pl, 0)
    got = wire.tls_handshake(pl)
    if got is not None:
        wire.client_hello_body(got[0])
    wire.client_hello_body(pl)
    wire.ftp_endpoint(pl[:200])
    for detect in (
        voice.rtp_header, voice.rtcp, voice.stun_message, voice.stun_service, voice.discord_ip_discovery,
        voice.turn_channel_data, filexfer.utp_header, filexfer.tftp_request, filexfer.tftp_transfer,
        filexfer.dht_peers, streaming.rtmp_hello, streaming.mpeg_ts, messaging.whatsapp, messaging.mtproto,
        gaming.raknet_offline, gaming.minecraft_handshake, gaming.connectionless,
        remote.telnet_negotiation, remote.rdp_connection, remote.teamviewer_datagram,
        filexfer.edonkey_hello, filexfer.nfs_call, filexfer.dsi_opening, messaging.irc_line,
        gaming.hazel_hello, gaming.sns_request, gaming.nintendo_pia, gaming.mihoyo_handshake,
        streaming.zoom_sfu, voice.mumble_ping, filexfer.uftp_message, remote.rdpudp_syn,
        filexfer.lct_header, filexfer.gnutella_message, gaming.bnet_frames, streaming.rtsp_interleaved,
        streaming.mms_tcp, streaming.spotify_hello, tls.server_flight, tls.dtls_client_hello,
        voice.teamspeak3_init, voice.iax2_call_start, voice.mgcp_command, voice.megaco_message,
        voice.zrtp_packet, voice.tpkt_h323, voice.bfcp_message, x509.cert_names,
    ):  # fmt: skip
        detect(pl)
    n = len(pl)
    gaming.hazel_ack(pl, pl[1] if n > 1 else 0)
    gaming.sns_reply(pl, n, pl[:8])
    voice.skype_pair(pl[:16], pl)
    alpn.protocol_list(pl, 0, n)
    alpn.hello_alpn(pl, 0, n)
    x509.tlv(pl, 0, n)
    tls.dtls_server_flight(pl, {}, tls.ServerFlight())
    streaming.zoom_media_rtp(pl, 0)
    voice.mumble_pong(pl, pl[4:12])
    filexfer.lustre_connreq(pl, pl[8:12])
    filexfer.ceph_banner(pl)
    remote.xdmcp_packet(pl)
    voice.stun_message(pl, stream=True)
    filexfer.tracker_request(pl[:300].decode("latin-1"))
    wire.text_name(pl[:300])
    quic.crypto_frames(pl)


def decode_seeds(limit_per_file: int = 20) -> Iterator[bytes]:
    """Inputs for decode_target: real frames of every sample capture, with their link type byte."""
    index = {t: i for i, t in enumerate(LINKTYPES)}
    if SHARED_PCAPS.is_dir():
        from tui.sources.pcapfile import PcapSource

        for path in sorted(SHARED_PCAPS.rglob("*")):
            if path.suffix not in (".pcap", ".pcapng", ".cap"):
                continue
            try:
                yield from _file_frames(PcapSource, path, index, limit_per_file)
            except Exception:  # a damaged sample still gave what it had
                continue
    for transport, pl in (("TCP", _HTTP), ("UDP", _DNS_R)):
        yield bytes([index[lt.ETHERNET]]) + frame(transport, b"\xc0\x00\x02\x0a", 40000, b"\xc6\x33\x64\x14", 80, pl)


def _file_frames(source_cls, path: Path, index: dict[int, int], limit: int) -> Iterator[bytes]:
    import threading

    src = source_cls(str(path))
    n = 0
    try:
        for batch in src.batches(threading.Event()):
            for fr in batch:
                if fr[5] in index:
                    yield bytes([index[fr[5]]]) + bytes(fr[4])
                    n += 1
                    if n >= limit:
                        return
    finally:
        src.close()


def classify_seeds() -> Iterator[bytes]:
    """Inputs for classify_target: each signature's valid exchange (client first, then server)."""
    for i, (_name, _t, _s, _d, payloads) in enumerate(SEEDS):
        pattern = 0b10101010  # packet 0 from the client, 1 from the server, ...
        yield bytes([i, pattern]) + SEP.join(payloads)
