"""How long saving a snapshot of a full ring takes (pcapng + summary.json), and scapy for scale.

    .venv/bin/python benchmarks/bench_snapshot.py [--frames 10000] [--repeat 5] [--dir DIR]

The ring is filled by the real engine with frames from a sample capture when
../shared/pcaps is there (several link types), else with scapy-built Ethernet/IPv4/TCP/UDP
frames.  The snapshot goes to a temporary folder on the same disk as DIR (default: /tmp),
flushed to disk (fsync) as the real save does.  The target is "well under a second" for
10,000 frames.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.engine import Engine
from tui.snapshot import IN, OUT
from tui.snapshot_files import save_snapshot
from tui.sources.pcapfile import PcapSource

SAMPLES = ("ndpi/quickplay.pcap", "ndpi/443-curl.pcap", "ndpi/ocs.pcap", "ndpi/KakaoTalk_talk.pcap")


def sample_frames(n: int) -> tuple[list[tuple], str]:
    """``n`` frames, from the sample captures when present (repeated, timestamps moved on)."""
    base = Path(__file__).resolve().parent.parent.parent / "shared" / "pcaps"
    frames: list[tuple] = []
    used = []
    for rel in SAMPLES:
        path = base / rel
        if not path.is_file():
            continue
        src = PcapSource(str(path))
        frames.extend((f[0], i, f[2], f[3], bytes(f[4]), f[5]) for f in src.frames() for i in (len(used),))
        src.close()
        used.append(path.name)
    if not frames:
        from scapy.layers.inet import IP, TCP, UDP
        from scapy.layers.l2 import Ether

        for i in range(300):
            l4 = TCP(sport=40000 + i % 50, dport=443) if i % 3 else UDP(sport=50000 + i % 20, dport=53)
            data = bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.7") / l4 / (b"x" * (60 + 7 * i % 1400)))
            frames.append((1_700_000_000_000_000_000 + i * 1_000_003, 0, OUT if i % 2 else IN, len(data), data, 1))
        used.append("scapy-built frames")
    out = []
    step = 0
    while len(out) < n:
        shift = step * 10**12
        out.extend((f[0] + shift, f[1], f[2], f[3], f[4], f[5]) for f in frames[: n - len(out)])
        step += 1
    return out, ", ".join(used)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    ap.add_argument("--flows", type=int, default=100_000, help="also time a save with this many flows (0: skip)")
    args = ap.parse_args()

    frames, origin = sample_frames(args.frames)
    engine = Engine(idle_timeout=None, ring_size=args.frames)
    engine.process(frames)
    size = sum(len(f[4]) for f in frames)
    print(f"ring: {len(frames)} frames, {size / 1e6:.1f} MB of frame data ({origin})")

    times = []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-snapshot-") as tmp:
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = save_snapshot(engine, tmp, engine.snapshot())
            times.append(time.perf_counter() - t0)
        file_size = result.capture.stat().st_size
        assert result.packets == len(frames)

        # scapy's own writer on the same frames, for scale (one run: it is slow).  It warns
        # that a file of several link types "might contain invalid packets": it writes one.
        logging.getLogger("scapy").setLevel(logging.ERROR)
        from scapy.all import conf
        from scapy.utils import PcapNgWriter

        ring = engine.ring_frames()
        t0 = time.perf_counter()
        with PcapNgWriter(str(Path(tmp) / "scapy.pcapng")) as w:
            for ts_ns, _if, _dir, wire_len, data, linktype in ring:
                cls = conf.l2types.get(linktype)
                pkt = cls(data) if cls is not None else conf.raw_layer(data)
                pkt.time = ts_ns / 1e9
                pkt.wirelen = wire_len
                w.write(pkt)
        scapy_s = time.perf_counter() - t0

    print(
        f"save_snapshot (pcapng + summary.json, fsync): median {statistics.median(times) * 1e3:.1f} ms, "
        f"best {min(times) * 1e3:.1f} ms, worst {max(times) * 1e3:.1f} ms over {args.repeat} runs"
    )
    print(f"capture.pcapng: {file_size / 1e6:.1f} MB, {file_size / 1e6 / statistics.median(times):.0f} MB/s")
    print(f"scapy PcapNgWriter (dissect + write, no fsync): {scapy_s * 1e3:.0f} ms")
    if args.flows:
        many_flows(args.flows, args.dir)


def many_flows(n: int, where: str) -> None:
    """A full flow table makes the summary large: time the save and the engine lock it holds."""
    import struct

    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    base = bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.1") / UDP(sport=1000, dport=53) / (b"q" * 30))
    frames = []
    for i in range(n):
        b = bytearray(base)
        b[30:34] = struct.pack("!I", 0xC6336400 + i)  # a new destination per frame: a new flow
        frames.append((1_700_000_000_000_000_000 + i * 1000, 0, OUT, len(b), bytes(b), 1))
    engine = Engine(idle_timeout=None, flow_cap=n)
    engine.process(frames)
    shown = engine.snapshot(top=50)  # what the monitor holds: the top flows only
    t0 = time.perf_counter()
    engine.snapshot(recent=10**9)
    locked = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(dir=where, prefix="bench-snapshot-") as tmp:
        t0 = time.perf_counter()
        result = save_snapshot(engine, tmp, shown)
        total = time.perf_counter() - t0
        size = result.summary.stat().st_size
    print(
        f"{n} flows: save {total * 1e3:.0f} ms (engine lock held {locked * 1e3:.0f} ms for the full copy), "
        f"summary.json {size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
