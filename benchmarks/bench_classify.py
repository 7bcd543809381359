"""What classification costs: engine throughput without and with the classifier, on the same frames.

Two workloads, both held in memory so only decoding, accounting and classification are timed:
  * the sample captures under ../shared/pcaps (real traffic of hundreds of applications);
  * the synthetic mix of benchmarks/synth.py (the one run_all.py and issue 8 use: 1M frames over
    100,000 short and long flows, TLS/HTTP/DNS/QUIC/RTP/bulk/ICMP), where every new flow is
    classified, so the first-packets path that classification adds is hit often.
Runs alternate without/with on one core, so both see the same machine load; each figure is the
best of ``--runs`` (more for a small workload; CPU time of this process, so other work on the
machine disturbs it less), with the median and quartiles of the cost over the runs (one run of
a small workload can be disturbed by a garbage collection or the machine; the best figures are
the measure).  The budget (issue 4): the classifier may cost at
most 30%.

    .venv/bin/python benchmarks/bench_classify.py [--runs N] [--frames N] [--flows N]

``--against REF`` (a git commit or branch) compares this classifier with the one at REF
instead: the engine's calls into the classifier on the synthetic mix are recorded once, then
replayed into both classifiers, alternating, in one process, so only classifier time is
measured and both see the same machine load (a shared machine makes two separate runs of the
whole benchmark differ by more than the classifiers do).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import synth  # noqa: E402

from tui.classify import load_classifier  # noqa: E402
from tui.engine import Engine  # noqa: E402
from tui.sources.pcapfile import PcapSource  # noqa: E402

PCAPS = ROOT.parent / "shared" / "pcaps"


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
    t = time.process_time()
    for i in range(0, len(frames), 256):
        engine.process(frames[i : i + 256])
    return time.process_time() - t


def rates(frames: list[tuple], runs: int) -> tuple[float, float, list[float]]:
    """(best pps without, best pps with, cost of each run): runs alternate, same load for both."""
    _once(frames[:20_000], True)  # warm up: imports, rules, first-time allocations
    bare_t, full_t = [], []
    for _ in range(runs):
        bare_t.append(_once(frames, False))
        full_t.append(_once(frames, True))
    costs = [1 - b / f for b, f in zip(bare_t, full_t, strict=True)]
    return len(frames) / min(bare_t), len(frames) / min(full_t), costs


class _Recorder:
    """Stands in for the classifier in the engine and records what it is shown."""

    payload_only = True

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[tuple] = []

    def observe(self, flow, meta, data, from_src) -> None:
        self.calls.append((flow, meta, data, from_src))
        self.inner.observe(flow, meta, data, from_src)

    def finish(self, flow) -> None:
        self.calls.append((flow, None, None, None))
        self.inner.finish(flow)


class _Flow:
    __slots__ = ("app", "decided", "dport", "dst", "family", "name", "proto", "reason", "scratch", "sport", "src")
    __slots__ += ("use_case",)


def _replay(calls: list[tuple], classifier) -> float:
    """CPU seconds for ``classifier`` to see the recorded calls, on fresh copies of the flows."""
    import gc

    copies: dict[int, _Flow] = {}
    seq = []
    for flow, meta, data, from_src in calls:
        f = copies.get(id(flow))
        if f is None:
            f = copies[id(flow)] = _Flow()
            f.proto, f.sport, f.dport, f.src, f.dst, f.family = (
                flow.proto, flow.sport, flow.dport, flow.src, flow.dst, flow.family
            )  # fmt: skip
            f.scratch, f.decided, f.app, f.use_case, f.reason, f.name = None, False, None, "unknown", None, None
        seq.append((f, meta, data, from_src))
    gc.collect()
    observe, finish = classifier.observe, classifier.finish
    t = time.process_time()
    for f, meta, data, from_src in seq:
        if meta is None:
            finish(f)
        elif not f.decided:
            observe(f, meta, data, from_src)
    return time.process_time() - t


def _classifier_at(ref: str, tmp: Path):
    """The classifier package as it is at git ``ref``, imported under another name."""
    import importlib
    import io
    import subprocess
    import tarfile

    raw = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "tui/classify"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        tar.extractall(tmp, filter="data")
    pkg = tmp / "classify_at_ref"
    (tmp / "tui" / "classify").rename(pkg)
    for py in pkg.rglob("*.py"):
        py.write_text(py.read_text().replace("tui.classify", "classify_at_ref"))
    sys.path.insert(0, str(tmp))
    return importlib.import_module("classify_at_ref")


def against(ref: str, frames: list[tuple], runs: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        old = _classifier_at(ref, Path(tmp))
        rec = _Recorder(load_classifier(None, use_default_user=False))
        engine = Engine(classifier=rec, idle_timeout=None)
        for i in range(0, len(frames), 256):
            engine.process(frames[i : i + 256])
        bare = min(_once(frames, False) for _ in range(max(1, runs // 2)))
        times: dict[str, list[float]] = {"this": [], ref: []}
        for k in range(runs * 2):  # alternate which goes first
            order = (("this", load_classifier), (ref, old.load_classifier))
            for name, load in order if k % 2 else order[::-1]:
                times[name].append(_replay(rec.calls, load(None, use_default_user=False)))
        print(f"{len(rec.calls):,} classifier calls recorded on the mix; engine alone {bare:.3f} s")
        for name, ts in times.items():
            best, med = min(ts), statistics.median(ts)
            print(
                f"  {name:<12} classifier best {best:.3f} s, median {med:.3f} s: "
                f"cost about {best / (bare + best):.1%} (median {med / (bare + med):.1%})"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--frames", type=int, default=1_000_000, help="frames in the synthetic mix")
    ap.add_argument("--flows", type=int, default=100_000, help="flows in the synthetic mix")
    ap.add_argument("--against", metavar="REF", help="compare classifier time with the classifier at git REF")
    args = ap.parse_args()
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(cores)})  # one core, as in run_all.py
    if args.against:
        against(args.against, synth.synthetic_mix(args.frames, args.flows), args.runs)
        return
    workloads = []
    if PCAPS.is_dir():
        workloads.append(("sample captures", sample_frames()))
    else:
        print(f"(sample captures not found at {PCAPS}; synthetic mix only)")
    workloads.append((f"synthetic mix, {args.flows:,} flows", synth.synthetic_mix(args.frames, args.flows)))
    head = f"{'workload':<30}{'frames':>10}{'without':>12}{'with':>12}{'cost':>7}"
    print(f"{head}  {'per run: median (quartiles)':<30} budget 30%")
    for name, frames in workloads:
        # a small workload takes a fraction of a second: more runs, so the best is not luck
        runs = args.runs * max(1, min(8, 500_000 // max(1, len(frames))))
        bare, full, costs = rates(frames, runs)
        cost = 1 - full / bare
        verdict = "ok" if cost <= 0.30 else "OVER"
        q = statistics.quantiles(costs, n=4) if len(costs) > 1 else costs * 3
        spread = f"{q[1]:.1%} ({q[0]:.0%} to {q[2]:.0%})"
        print(f"{name:<30}{len(frames):>10,}{bare:>12,.0f}{full:>12,.0f}{cost:>7.1%}  {spread:<30} {verdict}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
