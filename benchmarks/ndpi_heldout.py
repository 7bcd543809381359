"""An extra held-out check against nDPI: captures no rule was written from, judged by ndpiReader.

Two sets of captures, neither in ../shared/pcaps/ndpi:
  * spec: flows this script builds from the protocols' specifications (RTP calls, STUN,
    uTP, TFTP, RTMP, MPEG-TS, RakNet, SIP, an HTTP tracker, TLS with and without SNI, ...),
    written to a pcap with proper TCP handshakes and sequence numbers;
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
    for i, p in enumerate(pk):
        p.time = 1_700_000_000 + i * 0.01
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
