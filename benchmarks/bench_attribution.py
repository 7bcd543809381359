"""What process attribution costs the engine: its packet rate with the Attributor off and on.

    .venv/bin/python benchmarks/bench_attribution.py [--flows 20000] [--per-flow 20] [--repeat 3] [--sockets 200]

The engine runs on one thread over frames in memory: TCP and UDP on 127.0.0.1 whose
server ports are real sockets this script holds open (``--sockets``), so the attributor
really matches them — one sock_diag dump per tick, a /proc walk for new inodes — while
the engine works.  Every flow is new to the engine, which is the attributor's worst case
(it has work on every tick).  The target: "on" at most 10% below "off".
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui import linktypes as lt
from tui.attribution import Attributor
from tui.engine import Engine
from tui.snapshot import IN

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import ip_checksum

LOOP = bytes([127, 0, 0, 1])


def _frame(proto: int, sport: int, dport: int, payload: bytes) -> bytes:
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, proto, 0, LOOP, LOOP)
    ip = ip[:10] + struct.pack("!H", ip_checksum(ip)) + ip[12:]
    return b"\0" * 12 + b"\x08\x00" + ip + l4


def build_frames(ports: list[tuple[int, int]], flows: int, per_flow: int, window: int = 500) -> list[tuple]:
    """``flows`` conversations from ephemeral ports to the held sockets, ``per_flow`` packets each.

    Flows come in windows of ``window`` whose packets interleave, so new flows keep
    arriving through the whole run, as in live traffic.
    """
    datas = []
    for i in range(flows):
        proto, dport = ports[i % len(ports)]
        sport = 20000 + (i // len(ports)) % 40000
        datas.append(_frame(proto, sport + (sport == dport), dport, b"x" * 64))
    frames = []
    ts = 1_700_000_000_000_000_000
    for w in range(0, flows, window):
        for _ in range(per_flow):
            for data in datas[w : w + window]:
                ts += 1000
                frames.append((ts, 1, IN, len(data), data, lt.ETHERNET))
    return frames


def hold_sockets(n: int) -> tuple[list[socket.socket], list[tuple[int, int]]]:
    socks, ports = [], []
    for i in range(n):
        kind = socket.SOCK_STREAM if i % 2 == 0 else socket.SOCK_DGRAM
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            s.listen(1)
        socks.append(s)
        ports.append((6 if kind == socket.SOCK_STREAM else 17, s.getsockname()[1]))
    return socks, ports


def run(frames: list[tuple], attribution: bool, batch: int = 256) -> tuple[float, Attributor | None, int]:
    engine = Engine(idle_timeout=None)
    att = None
    if attribution:
        att = Attributor(engine)
        att.start()
    t0 = time.perf_counter()
    for i in range(0, len(frames), batch):
        engine.process(frames[i : i + batch])
    elapsed = time.perf_counter() - t0
    owned = 0
    if att is not None:
        att.stop()
        owned = sum(1 for f in engine.snapshot().flows if f.pid == os.getpid())
    return len(frames) / elapsed, att, owned


def handoff_cost(frames: list[tuple], flows: int) -> str:
    """How long the engine's lock is held by each hand-off call, for ``flows`` new flows."""
    from tui.attribution import Owner

    engine = Engine(idle_timeout=None)
    engine.watch_new_flows(flows)
    for i in range(0, len(frames), 256):
        engine.process(frames[i : i + 256])
    t0 = time.perf_counter()
    fresh, _lost = engine.take_new_flows()
    t1 = time.perf_counter()
    table = engine.live_flows()
    t2 = time.perf_counter()
    owner = Owner(os.getpid(), "bench", "root")
    engine.apply_owners([(f, owner) for f in fresh])
    t3 = time.perf_counter()
    n = max(len(fresh), 1)
    return (
        f"hand-off (engine lock held), {len(fresh):,} new flows: take_new_flows {(t1 - t0) * 1e3:.2f} ms, "
        f"live_flows ({len(table):,}) {(t2 - t1) * 1e3:.2f} ms, apply_owners {(t3 - t2) * 1e3:.2f} ms "
        f"({(t3 - t2) / n * 1e6:.2f} µs a flow)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", type=int, default=20_000)
    ap.add_argument("--per-flow", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sockets", type=int, default=200)
    args = ap.parse_args()
    socks, ports = hold_sockets(args.sockets)
    frames = build_frames(ports, args.flows, args.per_flow)
    print(
        f"{len(frames):,} frames, {args.flows:,} flows (all new to the engine), "
        f"{len(socks)} real sockets held, {len(os.listdir('/proc'))} /proc entries"
    )
    off, on = [], []
    last = None
    for _ in range(args.repeat):  # alternate, so drift in machine load hits both alike
        off.append(run(frames, False)[0])
        rate, last, owned = run(frames, True)
        on.append(rate)
    off_rate, on_rate = statistics.median(off), statistics.median(on)
    print(f"attribution off : {off_rate:>12,.0f} packets/s  (runs: {', '.join(f'{r:,.0f}' for r in off)})")
    print(f"attribution on  : {on_rate:>12,.0f} packets/s  (runs: {', '.join(f'{r:,.0f}' for r in on)})")
    loss = 100 * (1 - on_rate / off_rate)
    print(f"loss            : {loss:.1f}%  (target: at most 10%)")
    if last is not None:
        s = last.stats
        print(
            f"attributor (last run): {s.ticks} ticks, {s.dumps} sock_diag dumps of {s.sockets} sockets, "
            f"{s.scans} /proc walks, busy {s.busy_s * 1000:.0f} ms; flows owned by this process: {owned:,} "
            f"of {args.flows:,}; unknown: {s.unknown:,}"
        )
        if s.errors:
            print(f"attributor errors: {s.errors}")
    print(handoff_cost(frames, args.flows))
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
