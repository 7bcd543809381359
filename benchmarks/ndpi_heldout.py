"""An extra held-out check against nDPI: captures no rule was written from, judged by ndpiReader.

Two sets of captures, neither in ../shared/pcaps/ndpi:
  * spec: flows this script builds from the protocols' specifications (RTP calls, STUN,
    uTP, TFTP, RTMP, MPEG-TS, RakNet, SIP, an HTTP tracker, TLS with and without SNI, ...;
    and issue 12's game, voice, streaming, remote access, file transfer, ALPN, certificate and
    DTLS openings, from the unit tests' builders), written to a pcap with proper TCP handshakes
    and sequence numbers, each conversation with a server address of its own;
  * tcpdump: the captures of ../shared/pcaps/tcpdump (tcpdump's own test suite).
Each is read by ndpiReader (Debian's libndpi-bin, nDPI 4.2: ``apt-get install libndpi-bin``)
and by sockscope's engine; nDPI's verdicts are mapped onto use cases as
../shared/pcaps/README describes for truth.tsv, flows matched by transport and endpoints.
Prints agreement per set and every disagreement.  nDPI 4.2 is older than the nDPI that made
truth.tsv and knows fewer protocols: a flow it calls Unknown is no row.

    .venv/bin/python benchmarks/ndpi_heldout.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

from tui.classify import load_classifier  # noqa: E402
from tui.engine import Engine  # noqa: E402
from tui.flows import address_text  # noqa: E402
from tui.sources.pcapfile import PcapSource  # noqa: E402

TCPDUMP = ROOT.parent / "shared" / "pcaps" / "tcpdump"
NAME_RES = {"DNS", "MDNS", "LLMNR", "DNScrypt", "NetBIOS"}
FILES = {"SMB", "SMBv1", "SMBv23", "FTP_CONTROL", "FTP_DATA", "TFTP", "NFS", "AFP", "RSYNC"}
HOUSE = {"ICMP", "ICMPV6", "DHCP", "DHCPV6", "NTP", "IGMP", "SNMP", "SSDP", "BGP", "OSPF", "VRRP", "Syslog"}
HOUSE |= {"LLDP", "CDP", "STP", "NAT-PMP", "RIP", "IPsec"}
CATEGORIES = {
    "Web": "web", "SocialNetwork": "web", "Shopping": "web", "Advertisement": "web", "Email": "mail",
    "Download": "file_transfer", "DataTransfer": "file_transfer", "Chat": "messaging", "Media": "streaming",
    "Video": "streaming", "Streaming": "streaming", "Music": "streaming", "Game": "gaming", "VoIP": "voice",
    "RemoteAccess": "remote_access",
}  # fmt: skip
_LINE = re.compile(r"^\t\d+\t(\S+) (\S+) <?->? (\S+) .*?\[proto: [\d.]+/([^\]]+)\].*?(?:\[cat: (\w+)/\d+\])?")


def use_case(names: str, category: str | None) -> str | None:
    """nDPI's 'MASTER.APP' and category as a sockscope use case, as truth.tsv maps them (None: no row)."""
    parts = set(names.split("."))
    if parts & NAME_RES:
        return "name_resolution"
    if parts & FILES:
        return "file_transfer"
    if "RTP" in parts:
        return "voice"
    if category in CATEGORIES:
        return CATEGORIES[category]
    if category in ("Network", "System") and parts & HOUSE:
        return "network_control"
    return None


def ndpi_flows(path: Path) -> list[tuple[str, frozenset, str, str]]:
    out = subprocess.run(["ndpiReader", "-i", str(path), "-v", "2"], capture_output=True, text=True, timeout=120)
    flows = []
    for line in out.stdout.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        l4, a, b, names, cat = m.groups()
        uc = use_case(names, cat or _category(line))
        if uc is not None:
            flows.append((l4, frozenset((_ep(a), _ep(b))), names, uc))
    return flows


def _category(line: str) -> str | None:
    m = re.search(r"\[cat: (\w+)/\d+\]", line)
    return m.group(1) if m else None


def _ep(text: str) -> tuple[str, int]:
    addr, _, port = text.rpartition(":")
    return addr.strip("[]"), int(port)


def our_flows(path: Path) -> dict:
    engine = Engine(classifier=load_classifier(None, use_default_user=False), idle_timeout=None)
    engine.run(PcapSource(str(path)))
    out = {}
    for f in engine.table.flows.values():
        key = (
            f.proto.upper(),
            frozenset(((address_text(f.src, f.family), f.sport), (address_text(f.dst, f.family), f.dport))),
        )
        out[key] = f
    return out


# ---------------------------------------------------------------------------- spec-built flows
C, S = "192.0.2.10", "198.51.100.20"


def _conv(sport: int, dport: int, steps: list[tuple[bool, bytes]], server: str = S) -> list:
    """A TCP conversation: handshake, then (from_client, payload) steps with real sequence numbers."""
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    cs, ss = 1000, 5000
    pk = [
        e / IP(src=C, dst=server) / TCP(sport=sport, dport=dport, flags="S", seq=cs - 1),
        e / IP(src=server, dst=C) / TCP(sport=dport, dport=sport, flags="SA", seq=ss - 1, ack=cs),
        e / IP(src=C, dst=server) / TCP(sport=sport, dport=dport, flags="A", seq=cs, ack=ss),
    ]
    for from_client, data in steps:
        if from_client:
            pk.append(e / IP(src=C, dst=server) / TCP(sport=sport, dport=dport, flags="PA", seq=cs, ack=ss) / data)
            cs += len(data)
            pk.append(e / IP(src=server, dst=C) / TCP(sport=dport, dport=sport, flags="A", seq=ss, ack=cs))
        else:
            pk.append(e / IP(src=server, dst=C) / TCP(sport=dport, dport=sport, flags="PA", seq=ss, ack=cs) / data)
            ss += len(data)
            pk.append(e / IP(src=C, dst=server) / TCP(sport=sport, dport=dport, flags="A", seq=cs, ack=ss))
    return pk


def _dgrams(sport: int, dport: int, steps: list[tuple[bool, bytes]], server: str = S) -> list:
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    return [
        e
        / (
            IP(src=C, dst=server) / UDP(sport=sport, dport=dport)
            if c
            else IP(src=server, dst=C) / UDP(sport=dport, dport=sport)
        )
        / d
        for c, d in steps
    ]


def spec_packets() -> list:
    from classify_helpers import client_hello

    rnd = os.urandom
    rtp = [
        (
            i % 2 == 0,
            struct.pack("!BBHII", 0x80, 0 if i % 2 == 0 else 8, 100 + i // 2, 160 * i, 0xAB00 + i % 2) + rnd(160),
        )
        for i in range(12)
    ]
    stun_req = struct.pack("!HHI", 1, 8, 0x2112A442) + rnd(12) + b"\x80\x22\x00\x04test"
    stun_resp = (
        struct.pack("!HHI", 0x0101, 12, 0x2112A442)
        + stun_req[8:20]
        + b"\x00\x20\x00\x08\x00\x01\x12\x34\xe1\x12\xa4\x42"
    )
    utp = [
        (True, struct.pack("!BBHIIIHH", 0x41, 0, 7000, 1, 0, 1 << 20, 1, 0)),
        (False, struct.pack("!BBHIIIHH", 0x21, 0, 7000, 2, 5, 1 << 20, 9, 1)),
    ]
    utp += [(True, struct.pack("!BBHIIIHH", 0x01, 0, 7001, 3, 5, 1 << 20, 2, 9) + rnd(1000)) for _ in range(3)]
    tftp = [(True, b"\x00\x01pxelinux.0\x00octet\x00")]
    tftp_data = [
        (False, b"\x00\x03\x00\x01" + rnd(512)),
        (True, b"\x00\x04\x00\x01"),
        (False, b"\x00\x03\x00\x02" + rnd(100)),
        (True, b"\x00\x04\x00\x02"),
    ]
    c0c1 = b"\x03" + rnd(1536)
    s0s1s2 = b"\x03" + rnd(3072)
    sip = (
        b"INVITE sip:bob@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776\r\n"
        b"From: <sip:alice@example.org>;tag=1\r\nTo: <sip:bob@example.org>\r\nCall-ID: a84b4c76e66710\r\n"
        b"CSeq: 314159 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    ts = b"".join(b"\x47" + rnd(187) for _ in range(7))
    raknet = b"\x01" + struct.pack("!Q", 1) + bytes.fromhex("00ffff00fefefefefdfdfdfd12345678") + rnd(8)
    tracker = (
        b"GET /announce?info_hash=%12%34%56&peer_id=-TR3000-abcdefghijkl&port=51413&uploaded=0 HTTP/1.1\r\n"
        b"Host: tracker.example.org\r\nUser-Agent: Transmission/3.00\r\n\r\n"
    )
    http_video = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 1000\r\n\r\n" + rnd(1000)
    http_get = b"GET /movie.mp4 HTTP/1.1\r\nHost: media.example.org\r\nUser-Agent: VLC/3.0\r\n\r\n"
    http_zip = b"HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: 1000\r\n\r\n" + rnd(1000)
    pk: list = []
    pk += _dgrams(40000, 41000, rtp)
    pk += _dgrams(40002, 3478, [(True, stun_req), (False, stun_resp)])
    pk += _dgrams(40004, 51413, utp)
    pk += _dgrams(40006, 69, tftp)
    pk += _dgrams(40006, 53000, tftp_data)
    pk += _dgrams(5060, 5060, [(True, sip)])
    pk += _dgrams(40008, 1234, [(True, ts), (True, ts)])
    pk += _dgrams(40010, 19132, [(True, raknet)])
    pk += _conv(40100, 1935, [(True, c0c1), (False, s0s1s2)])
    pk += _conv(40102, 6969, [(True, tracker)])
    pk += _conv(40104, 80, [(True, http_get), (False, http_video)])
    pk += _conv(40106, 80, [(True, b"GET /f.zip HTTP/1.1\r\nHost: files.example.org\r\n\r\n"), (False, http_zip)])
    pk += _conv(40108, 443, [(True, client_hello("www.netflix.com"))])
    pk += _conv(40110, 443, [(True, client_hello("r3---sn-abc.googlevideo.com"))])
    pk += _conv(40112, 443, [(True, client_hello("web.whatsapp.com"))])
    pk += _conv(40114, 873, [(False, b"@RSYNCD: 31.0\n"), (True, b"@RSYNCD: 31.0\n")])
    pk += _conv(
        40116,
        5222,
        [
            (
                True,
                b"<?xml version='1.0'?><stream:stream to='example.org' xmlns='jabber:client' "
                b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
            )
        ],
    )
    pk += _conv(40118, 6667, [(True, b"NICK alice\r\nUSER alice 0 * :Alice\r\n")])
    pk += _conv(
        40120,
        554,
        [
            (True, b"OPTIONS rtsp://cam.example.org/live RTSP/1.0\r\nCSeq: 1\r\n\r\n"),
            (False, b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n"),
        ],
    )
    pk = _own_servers(pk + issue12_packets() + recent_packets())
    for i, p in enumerate(pk):
        p.time = 1_700_000_000 + i * 0.01
    return pk


def _own_servers(pk: list) -> list:
    """Give each conversation (keyed by the client's port) a server address of its own.

    Both judges carry state across flows by address: nDPI 4.2 files every later flow of a host
    pair it once saw BitTorrent on under BitTorrent ("DPI (cache)"), sockscope learns a server's
    name from its certificate.  One server answering fifty protocols is no real network.
    """
    seen: dict[int, str] = {}
    for p in pk:
        ip = p[IP]
        client_port = ip.payload.sport if ip.src == C else ip.payload.dport
        n = seen.setdefault(client_port, len(seen))
        addr = f"198.51.100.{20 + n}" if n < 200 else f"203.0.113.{n - 199}"
        if ip.src == S:
            ip.src = addr
        else:
            ip.dst = addr
    return pk


def issue12_packets() -> list:
    """Flows of issue 12's spec detectors, on each protocol's usual port, from the unit tests' builders."""
    import test_classify_gaming_specs as g
    import test_classify_msgfile_specs as m
    import test_classify_tls_names as t
    import test_classify_voice_specs as v

    from tui.classify.detectors.gaming import PIA_MAGIC

    rnd = os.urandom
    mihoyo_connect = struct.pack("!IIIII", 0xFF, 0, 0, 1234567890, 0xFFFFFFFF)
    mihoyo_answer = struct.pack("!IIIII", 0x145, 0x1234, 0x5678, 1234567890, 0x14514545)
    bncs_client = b"\x01" + g.bncs(0x50, bytes(40) + b"68XI\x00") + g.bncs(0x25, bytes(4))
    bncs_server = g.bncs(0x25, bytes(4)) + g.bncs(0x50, rnd(30))
    wow_body = b"WoW\x00" + bytes([3, 3, 5]) + struct.pack("<H", 12340) + b"68x\x00niW\x00SUne" + bytes(8) + b"\x04TEST"
    wow = b"\x00\x08" + struct.pack("<H", len(wow_body)) + wow_body
    megaco = b"MEGACO/1 [192.0.2.10]:2944\nTransaction = 9998 {\n Context = - {\n ServiceChange = ROOT {}}}\n"
    play = b"PLAY rtsp://cam.example.org/live RTSP/1.0\r\nCSeq: 4\r\nSession: 12345678\r\n\r\n"
    play_ok = b"RTSP/1.0 200 OK\r\nCSeq: 4\r\nSession: 12345678\r\n\r\n"
    telnet_do = bytes([0xFF, 0xFD, 0x18, 0xFF, 0xFD, 0x20, 0xFF, 0xFD, 0x23, 0xFF, 0xFD, 0x27])
    telnet_will = b"\xff\xfb\x18\xff\xfb\x20\xff\xfc\x23\xff\xfc\x27"
    rdp_cr = m.tpkt(m.x224_cr(b"Cookie: mstshash=admin\r\n" + m.NEG_REQ))
    rdp_cc = m.tpkt(struct.pack("!BBHHB", 6 + 8, 0xD0, 0, 0x1234, 0) + m.NEG_RSP)
    tv = bytes(10) + b"\x03\x17\x24\x47"
    ed_hello = m.edonkey(0x01, b"\x10" + rnd(16) + struct.pack("<IH", 0xC000020A, 4662) + b"\x02\x00\x00\x00")
    ed_answer = m.edonkey(0x4C, rnd(16) + struct.pack("<IH", 0xC6336414, 4662) + b"\x00\x00\x00\x00")
    welcome = b":irc.example.net 001 ronnie :Welcome to the Internet Relay Network ronnie\r\n"
    cert_hello, cert_server, _ = t._flight("video.netflix.com", ["video.netflix.com"])
    intra_hello, intra_server, _ = t._flight("intranet.example.org", ["intranet.example.org"])
    dtls_der, _ = t._cert("Media Relay", ["relay.example.net", "media.netflix.com"])
    pk: list = []
    # gaming
    pk += _dgrams(40200, 22023, [(True, g.hazel_hello()), (False, b"\x0a\x00\x01\xff")])
    pk += _dgrams(40202, 27015, [(True, g.sns_challenge_request()), (False, g.sns_challenge_reply())])
    pk += _dgrams(40204, 22102, [(True, mihoyo_connect), (False, mihoyo_answer)])
    pk += _dgrams(40206, 49152, [(True, PIA_MAGIC + b"\x02" + rnd(60)), (False, PIA_MAGIC + b"\x02" + rnd(60))])
    pk += _conv(40208, 6112, [(True, bncs_client), (False, bncs_server)])
    pk += _conv(40210, 3724, [(True, wow)])
    # voice
    pk += _dgrams(40212, 9987, [(True, v.ts3_client_init()), (False, v.ts3_server_init())])
    pk += _dgrams(40214, 4569, [(True, v.iax_full(0x1234, 0, 6, 1, v.NEW_IES))])
    pk += _dgrams(2727, 2427, [(True, v.CRCX)])
    pk += _dgrams(40216, 2944, [(True, megaco)])
    pk += _dgrams(40218, 41000, [(True, v.zrtp_hello()), (False, v.zrtp_hello())])
    pk += _conv(40220, 1720, [(True, v.tpkt(v.Q931_SETUP))])
    # streaming
    frames = v.interleaved(0, v.rtp(1)) + v.interleaved(1, v.rtp(2))
    pk += _conv(40222, 8554, [(True, play), (False, play_ok), (False, frames), (False, v.interleaved(0, v.rtp(3)))])
    pk += _conv(40258, 554, [(False, frames), (False, v.interleaved(0, v.rtp(3)))])  # joined mid-stream
    pk += _conv(40224, 1755, [(True, v.mms_message())])
    pk += _conv(40226, 4070, [(True, v.spotify_client_hello())])
    # remote access, file transfer, messaging
    pk += _conv(40228, 23, [(False, telnet_do), (True, telnet_will)])
    pk += _conv(40230, 3389, [(True, rdp_cr), (False, rdp_cc)])
    pk += _dgrams(40232, 5938, [(True, tv + rnd(30)), (False, tv + rnd(30))])
    pk += _conv(40234, 4662, [(True, ed_hello), (False, ed_answer)])
    pk += _conv(40236, 2049, [(True, m.rpc_call(100003, 3, 1, rnd(36)))])
    pk += _conv(
        40238,
        548,
        [(True, m.dsi(0, 4, b"\x01\x04\x00\x00\x04\x00")), (False, m.dsi(1, 4, b"\x00\x04\x00\x10\x00\x00"))],
    )
    pk += _conv(40240, 7000, [(True, b"USER guest 0 * :Ronnie Reagan\r\nNICK ronnie\r\n"), (False, welcome)])
    # TLS without SNI: ALPN offers, the TLS 1.2 server's certificate; DTLS with SNI
    pk += _conv(40242, 993, [(True, t._tls_hello(None, [b"imap"]))])
    pk += _conv(40244, 5223, [(True, t._tls_hello(b"chat.example.org", [b"xmpp-client"]))])
    pk += _conv(40246, 853, [(True, t._tls_hello(None, [b"dot"]))])
    pk += _conv(40248, 443, [(True, cert_hello), (False, cert_server)])
    pk += _conv(40250, 443, [(True, intra_hello), (False, intra_server)])
    pk += _dgrams(40252, 50001, [(True, t._dtls_hello(b"meet.example.org", [b"webrtc"]))])
    pk += _dgrams(40254, 50003, [(True, t._dtls_hello(b"edge.netflix.com", []))])
    pk += _dgrams(40256, 50005, [(True, t._dtls_hello(None, [])), *[(False, d) for d in t._dtls_server(dtls_der, 3)]])
    return pk


def recent_packets() -> list:
    """Flows of the detectors for recent nDPI's dissectors (issue 12), from the unit tests' builders,
    those nDPI 4.2 has a dissector or a port for: Zoom's SFU media on its port, RDP's UDP SYN,
    VMware authd's greeting, an XDMCP Query answered by Unwilling.  (Mumble's ping, Threema, UFTP 5,
    Lustre and Ceph came after 4.2.)  nDPI 4.2 calls the Zoom and authd flows Unknown (no row) and
    the RDP SYN RDP by its port."""
    import test_classify_recent_specs as r

    pk: list = []
    sfu = [
        (i % 2 == 0, r.sfu(r.media(15, r.rtp(seq=1 + i // 2, ssrc=0xA0 + i % 2)), direction=4 * (i % 2)))
        for i in range(6)
    ]
    pk += _dgrams(40260, 8801, sfu)
    pk += _dgrams(40262, 3389, [(True, r.rdp_syn(flags=0x0001 | 0x0800))])
    pk += _conv(40264, 902, [(False, r.AUTHD)])
    pk += _dgrams(40266, 177, [(True, r.xdmcp(2, r.auth_names())), (False, r.xdmcp(6, b"\x00\x04host\x00\x02no"))])
    return pk


def compare(label: str, files: list[Path]) -> None:
    agree = total = 0
    bagree = btotal = 0
    misses = []
    for path in files:
        ours = our_flows(path)
        for l4, key, names, uc in ndpi_flows(path):
            f = ours.get((l4, key))
            got = f.use_case if f is not None else "no flow"
            size = (f.bytes_ab + f.bytes_ba) if f is not None else 0
            total += 1
            btotal += size
            if got == uc:
                agree += 1
                bagree += size
            else:
                misses.append(
                    f"    {path.name}: {l4} {sorted(key)} nDPI {names} -> {uc}, ours {got} ({f.reason if f else ''})"
                )
    if total:
        fl, by = 100 * agree / total, 100 * bagree / max(btotal, 1)
        print(f"{label:<10} {agree:>4} / {total:<4} flows {fl:5.1f}%   bytes {by:5.1f}%")
    else:
        print(f"{label:<10} no flows nDPI puts in a use case")
    for m in misses:
        print(m)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="write the spec capture here instead of a temporary folder")
    args = ap.parse_args()
    if shutil.which("ndpiReader") is None:
        print("ndpiReader not found (apt-get install libndpi-bin): nothing to compare")
        return
    tmp = Path(tempfile.mkdtemp(prefix="ndpi_heldout_")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    spec = tmp / "spec.pcap"
    wrpcap(str(spec), spec_packets())
    compare("spec", [spec])
    if TCPDUMP.is_dir():
        compare("tcpdump", sorted(p for p in TCPDUMP.iterdir() if p.suffix in (".pcap", ".pcapng")))
    if args.keep is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
