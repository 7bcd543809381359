"""Resource bounds under attack, at full scale: prints flows, caches, ring, evictions, RSS, rate.

    .venv/bin/python benchmarks/attack.py               # engine fed directly, default caps
    .venv/bin/python benchmarks/attack.py --count 300000 --live   # also across a veth (root)

Attacks: SYNs from random sources and ports (a new flow per frame), DNS answers with
random names (the classifier's name cache), 8-byte IPv4 fragments with random sources
and ids.  Each runs twice; the second run shows whether memory still grows once the caps
are full (it should not).  ``datagrams`` and ``frag KiB`` are the fragment reassembler's
pending datagrams and the bytes it holds (both bounded, see tui/fragments.py).  Live mode
sends the frames raw from inside a test namespace (bounded count, 60 s at most) to a
capture on the host end.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.hostile_traffic import RawSender, dns_flood, syn_flood, tiny_fragments
from tui.classify import load_classifier
from tui.engine import Engine

SERVER = bytes([192, 0, 2, 1])
CLIENT = bytes([192, 0, 2, 2])


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def make(attack: str, n: int, rnd: random.Random, server: bytes = SERVER, client: bytes = CLIENT) -> list[bytes]:
    if attack == "syn":
        return list(syn_flood(n, server, rnd))
    if attack == "dns":
        return list(dns_flood(n, server, None, rnd))
    return list(tiny_fragments(n, server, rnd))


def row(label: str, engine: Engine, seconds: float, frames: int) -> str:
    snap = engine.snapshot(top=0)
    return (
        f"{label:<22} {frames / seconds:>10,.0f} {snap.active_flows:>8,} {snap.flows_evicted:>10,} "
        f"{len(engine.classifier.names):>8,} {len(engine.ring):>7,} {snap.kernel_drops:>7,} {rss_mb():>8.1f} "
        f"{len(engine.fragments.pending):>9,} {engine.fragments.held / 1024:>8.1f}"
    )


HEADER = (
    f"{'attack':<22} {'frames/s':>10} {'flows':>8} {'evicted':>10} {'names':>8} {'ring':>7} {'drops':>7} {'RSS MB':>8} "
    f"{'datagrams':>9} {'frag KiB':>8}"
)


def offline(count: int) -> None:
    print("engine fed directly (flow cap 100,000, ring 10,000, name cache 65,536)")
    print(HEADER)
    for attack in ("syn", "dns", "fragments"):
        engine = Engine(classifier=load_classifier(None, use_default_user=False))
        rnd = random.Random(attack)
        ts = 1_700_000_000_000_000_000
        for rnd_no in (1, 2):
            frames = make(attack, count, rnd)
            t0 = time.perf_counter()
            for i in range(0, len(frames), 512):
                batch = []
                for data in frames[i : i + 512]:
                    ts += 5_000
                    batch.append((ts, 1, 0, len(data), data, 1))
                engine.process(batch)
            print(row(f"{attack} (run {rnd_no})", engine, time.perf_counter() - t0, len(frames)))
            del frames


def live(count: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import netns as nsmod

    from tui.sources.live import LiveSource

    reason = nsmod.can_make_netns()
    if reason:
        print(f"live: skipped ({reason})")
        return
    print(f"\nlive across a veth ({count:,} frames per attack, paced at 100k pps; flow cap 100,000)")
    print(HEADER)
    ns = nsmod.create("atk")
    try:
        server = bytes(map(int, ns.host_ip.split(".")))
        client = bytes(map(int, ns.peer_ip.split(".")))
        for attack in ("syn", "dns", "fragments"):
            engine = Engine(classifier=load_classifier(None, use_default_user=False))
            engine.start(LiveSource(ns.host))
            frames = make(attack, count, random.Random(attack), server, client)
            with ns.entered():
                sender = RawSender(ns.peer)
            t0 = time.perf_counter()
            sender.send(frames, pps=100_000, deadline=time.monotonic() + 60)
            seconds = time.perf_counter() - t0
            sender.close()
            time.sleep(1.0)
            print(row(attack, engine, seconds, sender.sent))
            engine.stop()
    finally:
        nsmod.destroy(ns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=1_000_000, help="frames per attack and run (default 1,000,000)")
    ap.add_argument("--live", action="store_true", help="also send the attacks across a veth (needs root)")
    args = ap.parse_args()
    print(f"RSS at start {rss_mb():.1f} MB")
    offline(args.count)
    if args.live:
        live(min(args.count, 300_000))


if __name__ == "__main__":
    main()
