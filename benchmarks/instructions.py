"""Instructions per frame through Engine.process, counted by valgrind: a figure the machine's load cannot move.

    .venv/bin/python benchmarks/instructions.py                  # this tree against HEAD
    .venv/bin/python benchmarks/instructions.py --ref main --classify --frames 20000
    .venv/bin/python benchmarks/instructions.py --ref main --cost --frames 100000   # classifier cost

Timings on a shared machine move by 20% and more between runs; the number of instructions
the interpreter executes for the same frames does not (to well under 1%).  Each tree (this
one, and ``--ref``'s ``tui/`` exported with ``git archive``) runs under ``valgrind
--tool=callgrind`` twice, once processing no frames and once ``--frames`` of them (the
synthetic mix of bench_engine.py and the frames of ../shared/pcaps/ndpi, also without the
tunnelled and fragmented ones, built beforehand outside valgrind); the difference divided by
the frames is the cost per frame.

``--cost`` measures each tree both without and with the classifier and prints the classifier's
cost as bench_classify.py defines it, 1 - rate with / rate without = (with - without) / with,
on the workloads plus benchmarks/synth.py's mix (issue 8's: ten packets per flow, so every
tenth frame opens a flow; ``--frames`` frames over ``--frames`` / 10 flows).
"""

from __future__ import annotations

import argparse
import pickle
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHILD = r"""
import pickle, sys
sys.path.insert(0, sys.argv[1])
from tui.engine import Engine
from tui.classify import load_classifier
frames = pickle.load(open(sys.argv[2], "rb"))[: int(sys.argv[3])]
engine = Engine(classifier=load_classifier(None, use_default_user=False) if sys.argv[4] == "1" else None,
                idle_timeout=None)
for i in range(0, len(frames), 256):
    engine.process(frames[i : i + 256])
"""


def instructions(tree: Path, frames_file: Path, n: int, classify: bool) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", CHILD, str(tree),
         str(frames_file), str(n), "1" if classify else "0"],
        capture_output=True, text=True, check=True, timeout=3600,
    ).stderr  # fmt: skip
    return int(re.search(r"Collected : (\d+)", out).group(1))


def per_frame(tree: Path, frames_file: Path, n: int, classify: bool) -> float:
    return (instructions(tree, frames_file, n, classify) - instructions(tree, frames_file, 0, classify)) / n


def plain(frame: tuple) -> bool:
    """Neither tunnelled nor an IP fragment (by this tree's decoder): the common path."""
    from tui.decode import decode
    from tui.tunnels import LAYER_NAMES

    m = decode(frame[4], frame[5])
    return m[10] is None and not any(name in LAYER_NAMES for name in m[0])


def export(ref: str, into: Path) -> Path:
    """``ref``'s tui/ package in a directory of its own."""
    archive = into / "ref.tar"
    subprocess.run(["git", "-C", str(REPO), "archive", "-o", str(archive), ref, "tui"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "ref", filter="data")
    return into / "ref"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", default="HEAD", help="git revision to compare with (default HEAD)")
    ap.add_argument("--frames", type=int, default=20_000, help="frames per measurement (default 20,000)")
    ap.add_argument("--classify", action="store_true", help="with the classifier and its built-in rules")
    ap.add_argument("--cost", action="store_true", help="without and with the classifier: the classifier's cost")
    ap.add_argument("--synth-only", action="store_true", help="with --cost: only benchmarks/synth.py's mix")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    from benchmarks.bench_engine import load_pcaps, synthetic_mix

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        ref_tree = export(args.ref, tmpdir)
        ndpi = load_pcaps()
        workloads = {
            "synthetic mix": synthetic_mix(max(args.frames, 1000)),
            "../shared/pcaps/ndpi": ndpi,
            "  without tunnels/frags": [f for f in ndpi if plain(f)],
        }
        if args.cost:
            from benchmarks import synth

            mix = synth.synthetic_mix(args.frames, max(1, args.frames // 10))
            workloads = {"synth.py mix": mix} if args.synth_only else {**workloads, "synth.py mix": mix}
            cost(workloads, args, ref_tree, tmpdir)
            return
        print(f"instructions per frame through Engine.process{' with the classifier' if args.classify else ''}")
        print(f"{'workload':<24}{args.ref:>14}{'this tree':>14}{'change':>10}")
        for name, frames in workloads.items():
            if not frames:
                print(f"{name:<24} (no frames: ../shared/pcaps is absent)")
                continue
            n = min(args.frames, len(frames))
            path = tmpdir / "frames.pkl"
            path.write_bytes(pickle.dumps(frames[:n]))
            old = per_frame(ref_tree, path, n, args.classify)
            new = per_frame(REPO, path, n, args.classify)
            print(f"{name:<24}{old:>14,.0f}{new:>14,.0f}{100 * (new / old - 1):>+9.1f}%", flush=True)


def cost(workloads: dict[str, list[tuple]], args: argparse.Namespace, ref_tree: Path, tmpdir: Path) -> None:
    """Instructions per frame without and with the classifier, for ``--ref`` and this tree."""
    print("instructions per frame through Engine.process; cost = (with - without) / with")
    print(f"{'workload':<24}{'tree':<11}{'without':>10}{'with':>10}{'cost':>8}")
    for name, frames in workloads.items():
        if not frames:
            continue
        n = min(args.frames, len(frames))
        path = tmpdir / "frames.pkl"
        path.write_bytes(pickle.dumps(frames[:n]))
        for label, tree in ((args.ref, ref_tree), ("this tree", REPO)):
            bare = per_frame(tree, path, n, False)
            full = per_frame(tree, path, n, True)
            print(f"{name:<24}{label:<11}{bare:>10,.0f}{full:>10,.0f}{(full - bare) / full:>8.1%}", flush=True)


if __name__ == "__main__":
    main()
