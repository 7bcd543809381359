"""What `sockscope export` costs the engine: its packet rate with the exporters off and on.

    .venv/bin/python benchmarks/bench_export.py [--frames 500000] [--flows 50000] [--repeat 3] [--tick 1]

The engine runs in its capture thread over the synthetic mix (benchmarks/synth.py) in
memory, as fast as it goes; "on" adds the export runner in this thread with all three
exporters: /metrics (scraped every second by a client thread), JSON lines to a file,
IPFIX to a UDP socket on loopback that a thread reads.  The flow table is capped below
the mix's flow count and flows idle for a second end, so ended flows stream through the
queue while the engine works: the exporters' worst case is every flow short.  The rate is
frames over the wall time the engine took (both threads share the GIL, so what the
exporters cost shows there); runs alternate off/on, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import synthetic_mix

from tui.classify import load_classifier
from tui.engine import Engine
from tui.export.runner import ExportOptions, ExportRunner


class MemorySource:
    """Frames from memory in batches, as a capture would hand them; notes when it ran out."""

    kind = "file"
    name = "synthetic mix"
    end_reason = "end of file"

    def __init__(self, frames: list[tuple], batch: int = 256) -> None:
        self.frames = frames
        self.batch = batch
        self.t_start = self.t_end = self.thread_cpu = self.cpu = 0.0

    def batches(self, stop):
        c0, p0 = time.thread_time(), time.process_time()
        self.t_start = time.perf_counter()
        f, n = self.frames, self.batch
        for i in range(0, len(f), n):
            yield f[i : i + n]
            if stop.is_set():
                break
        self.t_end = time.perf_counter()
        self.thread_cpu = time.thread_time() - c0  # the capture thread's own CPU time
        self.cpu = time.process_time() - p0  # the whole process's, exporters included

    def stats(self) -> tuple[int, int]:
        return (0, 0)

    def interfaces(self) -> dict[int, tuple[str, int]]:
        return {1: ("synth0", 1)}

    def close(self) -> None:
        pass


def _engine(flow_cap: int) -> Engine:
    eng = Engine(classifier=load_classifier(None), flow_cap=flow_cap, idle_timeout=1.0, ring_size=10_000)
    return eng


def _rates(n: int, src: MemorySource) -> tuple[float, float, float]:
    """Frames per second of: wall time, the whole process's CPU, the capture thread's CPU."""
    return n / (src.t_end - src.t_start), n / src.cpu, n / src.thread_cpu


def run_off(frames: list[tuple], flow_cap: int) -> tuple[float, float, float]:
    eng = _engine(flow_cap)
    src = MemorySource(frames)
    eng.run(src)
    return _rates(len(frames), src)


def run_on(frames: list[tuple], flow_cap: int, tick: float, tmp: str) -> tuple[tuple[float, float, float], dict]:
    eng = _engine(flow_cap)
    src = MemorySource(frames)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.2)
    port = sink.getsockname()[1]
    done = threading.Event()
    got = [0]

    def read_sink() -> None:
        while not done.is_set():
            try:
                got[0] += len(sink.recv(65535))
            except TimeoutError:
                pass

    jsonl = os.path.join(tmp, "flows.jsonl")
    opts = ExportOptions(prometheus=("127.0.0.1", 0), jsonl=jsonl, ipfix=("127.0.0.1", port), tick=tick,
                         active_timeout=60.0)  # fmt: skip
    runner = ExportRunner(eng, opts)
    with contextlib.redirect_stderr(io.StringIO()):
        assert runner.open_exporters() is None
    mport = runner.server.port
    scrapes = [0]

    def scrape() -> None:
        while not done.wait(1.0):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5) as r:
                    r.read()
            except OSError:
                return  # the runner closed the endpoint: the engine is done
            scrapes[0] += 1

    threads = [threading.Thread(target=read_sink, daemon=True), threading.Thread(target=scrape, daemon=True)]
    for t in threads:
        t.start()
    c0 = time.thread_time()
    with contextlib.redirect_stderr(io.StringIO()):
        runner.run(src, None)  # the export loop runs in this thread: its CPU time is the exporters'
    export_cpu = time.thread_time() - c0
    done.set()
    for t in threads:
        t.join(5)
    sink.close()
    with open(jsonl, "rb") as fh:
        lines = sum(1 for _ in fh)
    os.unlink(jsonl)
    figures = {"export cpu": export_cpu, "capture cpu": src.thread_cpu, "jsonl lines": lines,
               "ipfix records": runner.stats["ipfix"].sent, "ipfix bytes read": got[0], "scrapes": scrapes[0],
               "queue lost": eng.retired_lost}  # fmt: skip
    return _rates(len(frames), src), figures


def measure(frames: list[tuple], flow_cap: int, tick: float, repeat: int) -> tuple[list, list, dict]:
    off, on = [], []
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        run_off(frames[:20_000], flow_cap)  # warm-up: imports, classifier tables
        for i in range(repeat):
            off.append(run_off(frames, flow_cap))
            rates, figures = run_on(frames, flow_cap, tick, tmp)
            on.append(rates)
            print(f"  run {i + 1}: wall off {off[-1][0]:,.0f}/s on {on[-1][0]:,.0f}/s; process CPU off "
                  f"{off[-1][1]:,.0f}/s on {on[-1][1]:,.0f}/s", file=sys.stderr)  # fmt: skip
    return off, on, figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=500_000)
    ap.add_argument("--flows", type=str, default="50000,5000", help="flows in the mix, one workload each")
    ap.add_argument("--flow-cap", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tick", type=float, default=1.0)
    args = ap.parse_args()
    print(f"{args.frames:,} frames, flow cap {args.flow_cap:,}, idle timeout 1 s, tick {args.tick:g} s, "
          f"best of {args.repeat}")  # fmt: skip
    print(f"{'flows':>8} {'frames/flow':>11} | {'capture thread, frames/CPU s':>30} | {'export thread':>14} | "
          f"{'per ended flow':>14} | {'export CPU / capture CPU':>24}")  # fmt: skip
    for flows in (int(x) for x in args.flows.split(",")):
        print(f"building the synthetic mix: {args.frames:,} frames over {flows:,} flows ...", file=sys.stderr)
        frames = synthetic_mix(args.frames, flows)
        off, on, figures = measure(frames, args.flow_cap, args.tick, args.repeat)
        a, b = max(r[2] for r in off), max(r[2] for r in on)
        cpu = figures.pop("export cpu")
        cap = figures.pop("capture cpu")
        print(f"{flows:>8,} {len(frames) // flows:>11} | {a:>13,.0f} off {b:>9,.0f} on | {cpu:>12.2f} s | "
              f"{cpu / flows * 1e6:>11.0f} us | {100 * cpu / cap:>23.0f}%")  # fmt: skip
        print("         last 'on' run: " + ", ".join(f"{k} {v:,}" for k, v in figures.items()))
        wall = [max(r[0] for r in off), max(r[0] for r in on)]
        print(f"         wall frames/s off {wall[0]:,.0f}, on {wall[1]:,.0f} (both threads, a shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
