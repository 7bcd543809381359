"""`sockscope report -r FILE --format json` end to end, at 1 and N workers, beside its peers.

    .venv/bin/python benchmarks/bench_report.py [--frames 400000] [--flows 100000] [--runs 3]
         [--workers 1,2] [--old-json] [--no-peers]

On a synthetic mix (benchmarks/synth.py: Ethernet/IPv4/IPv6, TCP and UDP, 100,000 flows by
default, written as a classic pcap), alternating the runs so that every variant sees the
same machine load, and printing medians:

* sockscope report at each worker count: wall time, CPU seconds (the report process and its
  workers), packets per second end to end and with the start-up removed (the wall time of the
  same command on a one-frame capture: interpreter, imports, rules), peak memory;
* ndpiReader (apt: libndpi-bin), tshark and tcpdump on the same file, and the ratio to them;
* the JSON of the report: the time to take the flows from the engine (collect), to encode them
  (write_report_json) and both, with the report's GC settings, beside
  the old encoder (``json.dump`` to a stream) with ``--old-json``.

Figures on a shared machine are noisy: say so when quoting them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import synth  # noqa: E402


def _run(cmd: list[str]) -> tuple[float, float, int, int]:
    """(wall s, CPU s of it and its children, peak RSS MB, exit code) of one command."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stderr.close()
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss // 1024, p.returncode


def _sockscope(path: Path, workers: int) -> list[str]:
    exe = Path(sys.executable).with_name("sockscope")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "tui"]
    return [*base, "report", "-r", str(path), "--format", "json", "--workers", str(workers)]


def peers(path: Path) -> dict[str, list[str]]:
    out = {}
    if shutil.which("ndpiReader"):
        out["ndpiReader"] = ["ndpiReader", "-i", str(path), "-q"]
    if shutil.which("tshark"):
        out["tshark -r"] = ["tshark", "-n", "-r", str(path)]
    if shutil.which("tcpdump"):
        out["tcpdump -r"] = ["tcpdump", "-nn", "-r", str(path)]
    return out


def json_figures(path: Path, old: bool) -> dict[str, float]:
    """Seconds to encode the whole report of ``path`` (one engine) as JSON, new and old encoder."""
    from tui.classify import load_classifier
    from tui.engine import Engine
    from tui.report import collect, few_collections, report_dict, write_report_json
    from tui.sources.pcapfile import PcapSource

    def best(fn, n=5):  # CPU seconds of this process, best of n: the machine's load is not ours
        b, r = float("inf"), None
        for _ in range(n):
            t = time.process_time()
            r = fn()
            b = min(b, time.process_time() - t)
        return b, r

    with few_collections(), open(os.devnull, "w") as null:  # the GC settings of the report command
        engine = Engine(classifier=load_classifier(None, use_default_user=False), idle_timeout=None)
        engine.run(PcapSource(str(path)))
        rows_s, rep = best(lambda: collect(engine))
        views_s, snap = best(engine.snapshot, 1)
        res = {"flows": len(rep), "collect_s": rows_s, "snapshot_views_s": views_s}
        res["json_s"] = best(lambda: write_report_json(rep, null))[0]
        res["collect_json_s"] = best(lambda: write_report_json(collect(engine), null))[0]
        if old:
            res["old_json_s"] = best(lambda: json.dump(report_dict(snap), io.StringIO(), ensure_ascii=True), 1)[0]
    return res


def run(frames: int, flows: int, runs: int, workers: list[int], old_json: bool, quiet: bool = False,
        with_peers: bool = True) -> dict:  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="sockscope-report-"))
    try:
        path = tmp / "mix.pcap"
        synth.write_pcap(str(path), synth.synthetic_mix(frames, flows))
        tiny = tmp / "one.pcap"
        synth.write_pcap(str(tiny), synth.synthetic_mix(1, 1))
        variants = {f"sockscope, {w} worker{'s' if w > 1 else ''}": _sockscope(path, w) for w in workers}
        variants["start-up (1 frame)"] = _sockscope(tiny, 1)
        if with_peers:
            variants.update(peers(path))
        got: dict[str, list[tuple]] = {k: [] for k in variants}
        for _ in range(runs):
            for name, cmd in variants.items():  # alternating: each variant sees the same load
                got[name].append(_run(cmd))
        res: dict = {"frames": frames, "flows": flows, "runs": runs, "file_mb": path.stat().st_size / 1e6,
                     "load_average": os.getloadavg()[0], "variants": {}}  # fmt: skip
        startup = statistics.median(r[0] for r in got["start-up (1 frame)"])
        for name, rs in got.items():
            wall = statistics.median(r[0] for r in rs)
            cpu = statistics.median(r[1] for r in rs)
            v = {"wall_s": wall, "cpu_s": cpu, "rss_mb": max(r[2] for r in rs), "exit": max(r[3] for r in rs),
                 "pps": frames / wall}  # fmt: skip
            if name.startswith("sockscope"):
                v["pps_no_startup"] = frames / max(wall - startup, 1e-9)
            res["variants"][name] = v
        res["startup_s"] = startup
        res["json"] = json_figures(path, old_json)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print_table(res)
    return res


def print_table(res: dict) -> None:
    v = res["variants"]
    print(f"\n== report -r, end to end: {res['frames']:,} frames over {res['flows']:,} flows "
          f"({res['file_mb']:.0f} MB pcap), median of {res['runs']}, "
          f"load average {res['load_average']:.1f}")  # fmt: skip
    ndpi = v.get("ndpiReader", {}).get("pps")
    print(f"  {'command':<26}{'wall s':>8}{'CPU s':>8}{'frames/s':>11}{'no start-up':>13}"
          f"{'vs ndpiReader':>15}{'RSS MB':>8}")  # fmt: skip
    for name, x in v.items():
        if name.startswith("start-up"):
            continue
        rate = x.get("pps_no_startup", x["pps"])
        vs = f"{rate / ndpi:.2f}x" if ndpi else "-"
        ns = f"{x['pps_no_startup']:,.0f}" if "pps_no_startup" in x else "-"
        bad = "" if x["exit"] == 0 else f"  (exit {x['exit']})"
        print(f"  {name:<26}{x['wall_s']:>8.2f}{x['cpu_s']:>8.2f}{x['pps']:>11,.0f}{ns:>13}{vs:>15}"
              f"{x['rss_mb']:>8}{bad}")  # fmt: skip
    one = next((x for k, x in v.items() if k.endswith(" 1 worker")), None)
    for name, x in v.items():
        if one and name.startswith("sockscope") and x is not one:
            print(f"  scaling {name.split(', ')[1]}: {x['pps_no_startup'] / one['pps_no_startup']:.2f}x the frames/s"
                  f" of 1 worker (start-up removed), {x['cpu_s'] / one['cpu_s']:.2f}x its CPU seconds")  # fmt: skip
    j = res["json"]
    old = f", old encoder (json.dump to a stream) {j['old_json_s']:.2f} s" if "old_json_s" in j else ""
    print(f"  JSON of {j['flows']:,} flows (CPU s, best of 5, the report's GC settings): columns from the engine"
          f" {j['collect_s']:.2f} s (FlowViews: {j['snapshot_views_s']:.2f} s), encoding {j['json_s']:.2f} s,"
          f" both {j['collect_json_s']:.2f} s{old}")  # fmt: skip
    print(f"  (start-up: {res['startup_s']:.2f} s, the same command on a one-frame file; ndpiReader, tshark and"
          " tcpdump timed the same way, output to /dev/null; ratio vs ndpiReader uses sockscope's rate without"
          " start-up and ndpiReader's with it)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=400_000)
    ap.add_argument("--flows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    ap.add_argument("--old-json", action="store_true", help="also time the old encoder (about 13 s at 100k flows)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("--no-peers", action="store_true", help="sockscope only (tcpdump -r alone takes minutes)")
    a = ap.parse_args(argv)
    res = run(a.frames, a.flows, a.runs, [int(x) for x in a.workers.split(",")], a.old_json, with_peers=not a.no_peers)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
