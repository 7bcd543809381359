"""What classification costs: engine throughput without and with the classifier, on the same frames.

Two workloads, both held in memory so only decoding, accounting and classification are timed:
  * the sample captures under ../shared/pcaps (real traffic of hundreds of applications);
  * a synthetic mix: short flows (DNS query/answer, TLS with a ClientHello, HTTP) among
    long ones (bulk TCP, RTP), so the first-packets path that classification adds is hit often.
Each figure is the best of several runs.  The budget: the classifier may cost at most 30%.

    .venv/bin/python benchmarks/bench_classify.py [--runs N] [--flows N]
"""

from __future__ import annotations

import argparse
import ssl
import struct
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.classify import load_classifier  # noqa: E402
from tui.engine import Engine  # noqa: E402
from tui.sources.pcapfile import PcapSource  # noqa: E402

PCAPS = ROOT.parent / "shared" / "pcaps"
_ETH = bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00"


def _ip(src: int, dst: int, proto: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0,
                       src.to_bytes(4, "big"), dst.to_bytes(4, "big")) + payload  # fmt: skip


def _tcp(src, dst, sport, dport, flags, data=b""):
    return _ETH + _ip(src, dst, 6, struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 0x50, flags, 65535, 0, 0) + data)


def _udp(src, dst, sport, dport, data):
    return _ETH + _ip(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data)


def _client_hello(name: str) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def synthetic(flows: int) -> list[tuple]:
    """A mix of short and long flows, as raw Ethernet frames with increasing timestamps."""
    hello = _client_hello("r1---sn-abc.googlevideo.com")
    dns_q = struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x03www\x07example\x03com\x00\x00\x01\x00\x01"
    dns_a = (
        struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0)
        + b"\x03www\x07example\x03com\x00\x00\x01\x00\x01"
        + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x05"
    )
    http = b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: bench\r\n\r\n"
    resp = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n" + bytes(1000)
    bulk = bytes(1400)
    frames: list[bytes] = []
    client = 0x0A000001
    for i in range(flows):
        server = 0xC6336400 + (i % 250) + 1
        sport = 10000 + (i % 50000)
        kind = i % 5
        if kind == 0:  # DNS query + answer
            frames += [_udp(client, 0x0A000035, sport, 53, dns_q), _udp(0x0A000035, client, 53, sport, dns_a)]
        elif kind == 1:  # TLS: handshake, ClientHello, then 20 data segments
            frames += [_tcp(client, server, sport, 443, 0x02), _tcp(server, client, 443, sport, 0x12)]
            frames += [_tcp(client, server, sport, 443, 0x10), _tcp(client, server, sport, 443, 0x18, hello)]
            frames += [_tcp(server, client, 443, sport, 0x10, b"\x17\x03\x03\x05\x70" + bulk[:1395])] * 20
        elif kind == 2:  # HTTP request and response
            frames += [_tcp(client, server, sport, 80, 0x02), _tcp(server, client, 80, sport, 0x12),
                       _tcp(client, server, sport, 80, 0x18, http), _tcp(server, client, 80, sport, 0x18, resp),
                       _tcp(client, server, sport, 80, 0x11)]  # fmt: skip
        elif kind == 3:  # RTP call leg
            for k in range(40):
                frames.append(_udp(client, server, sport, 40000 + i % 1000,
                                   bytes([0x80, 0]) + struct.pack("!HII", k, k * 160, i) + bytes(160)))  # fmt: skip
        else:  # bulk TCP on an unknown port
            frames += [_tcp(client, server, sport, 9000, 0x02), _tcp(server, client, 9000, sport, 0x12)]
            frames += [_tcp(server, client, 9000, sport, 0x10, bulk)] * 40
    t0 = 1_700_000_000_000_000_000
    return [(t0 + n * 10_000, 1, 0, len(d), d, 1) for n, d in enumerate(frames)]


def sample_frames() -> list[tuple]:
    """Every sample capture, read into memory once (timestamps as recorded, file after file)."""
    frames: list[tuple] = []
    files = sorted(p for p in PCAPS.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap"))
    for path in files:
        src = PcapSource(str(path))
        try:
            for batch in src.batches(threading.Event()):
                frames.extend(batch)
        except Exception as exc:  # a damaged sample: keep what was read
            print(f"  ({path.name}: {exc})", file=sys.stderr)
        finally:
            src.close()
    return frames


def _once(frames: list[tuple], with_classifier: bool) -> float:
    classifier = load_classifier(None, use_default_user=False) if with_classifier else None
    engine = Engine(classifier=classifier, idle_timeout=None)
    t = time.perf_counter()
    for i in range(0, len(frames), 256):
        engine.process(frames[i : i + 256])
    return time.perf_counter() - t


def rates(frames: list[tuple], runs: int) -> tuple[float, float]:
    """(pps without, pps with) the classifier: runs alternate so both see the same machine load."""
    bare = full = float("inf")
    for _ in range(runs):
        bare = min(bare, _once(frames, False))
        full = min(full, _once(frames, True))
    return len(frames) / bare, len(frames) / full


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--flows", type=int, default=5000)
    args = ap.parse_args()
    workloads = [("synthetic mix", synthetic(args.flows))]
    if PCAPS.is_dir():
        workloads.insert(0, ("sample captures", sample_frames()))
    else:
        print(f"(sample captures not found at {PCAPS}; synthetic mix only)")
    print(f"{'workload':<18}{'frames':>9}{'engine pps':>14}{'+ classifier pps':>19}{'cost':>8}  budget 30%")
    for name, frames in workloads:
        bare, full = rates(frames, args.runs)
        cost = 1 - full / bare
        verdict = "ok" if cost <= 0.30 else "OVER"
        print(f"{name:<18}{len(frames):>9}{bare:>14,.0f}{full:>19,.0f}{cost:>8.1%}  {verdict}")


if __name__ == "__main__":
    main()
