"""Would a Cython build of the hot path pay?  Interpreted against compiled, same frames.

    .venv/bin/pip install cython      # and gcc with the Python headers
    .venv/bin/python benchmarks/bench_cython.py [--frames 200000] [--flows 50000] [--runs 3]
        [--trials plain,typed[,wide]] [--instructions 40000]

Copies tui/ into a temporary folder per trial and compiles it there in place with Cython
(``cythonize`` through setuptools, ``annotation_typing`` off: the annotations are for
readers and mypy, and Cython would otherwise reject a bytearray where one says ``bytes``).
Nothing in the repository changes.  The trials:

- ``plain``: MODULES (decoder, flow record, engine, classifier, wire parsers, rules, the
  payload and spec detectors) compiled as they are;
- ``typed``: the same with benchmarks/cython/*.pxd beside them (Cython's "augmenting .pxd",
  the .py files stay plain Python): Flow and Engine as C types, the engine's per-packet loop
  with C-typed locals and a typed flow, the decoder's fast path with C-integer fields.  Flow's
  ``@dataclass(slots=True, eq=False)`` loses ``slots`` in the copy (Cython's dataclass for C
  types takes no ``slots``; a C type has no __dict__ anyway);
- ``wide``: ``typed`` plus the TLS, DNS, HTTP, remote-access and streaming detectors, with
  ``binding=False`` (methods as plain C functions).

Then the same in-memory frames (benchmarks/synth.py) go through the engine with the
built-in rules, interpreted (this tree) and compiled, alternating, in CPU seconds (best of
three passes per run, median over ``--runs``).  It checks that both count and classify the
same (a digest of the counters and of every flow) and prints both rates and the speedup.
``--instructions N`` also counts instructions per frame over N frames with valgrind
(benchmarks/instructions.py's method), which the machine's load cannot move.  The project
keeps a compiled build only at 1.5x or more on the rate (issue 13).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PXD = Path(__file__).resolve().parent / "cython"
MODULES = [
    "tui/decode.py",
    "tui/flows.py",
    "tui/engine.py",
    "tui/classify/classifier.py",
    "tui/classify/wire.py",
    "tui/classify/rules.py",
    "tui/classify/detectors/payloads.py",
    "tui/classify/detectors/specs.py",
]
DETECTORS = [f"tui/classify/detectors/{m}.py" for m in ("tls", "dns", "http", "remote", "streaming")]
# trial -> (modules, with the .pxd files, Cython directives)
TRIALS = {
    "plain": (MODULES, False, {}),
    "typed": (MODULES, True, {}),
    "wide": (MODULES + DETECTORS, True, {"binding": False}),
}
SETUP = r"""
import json, sys
from Cython.Build import cythonize
from setuptools import Extension, setup
mods, directives = sys.argv[1].split(","), json.loads(sys.argv[2])
del sys.argv[1:3]
exts = [Extension(m[:-3].replace("/", "."), [m]) for m in mods]
setup(ext_modules=cythonize(exts, language_level=3, include_path=["."], quiet=True,
                            compiler_directives={"annotation_typing": False, **directives}))
"""

CHILD = r"""
import hashlib, json, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
import synth
import tui.decode, tui.engine
from tui.classify import load_classifier
from tui.engine import Engine
frames = synth.synthetic_mix(int(sys.argv[3]), int(sys.argv[4]))
best = None
for _ in range(3):
    e = Engine(classifier=load_classifier(None, use_default_user=False), idle_timeout=None)
    c = time.process_time()
    for i in range(0, len(frames), 256):
        e.process(frames[i : i + 256])
    cpu = time.process_time() - c
    best = cpu if best is None else min(best, cpu)
s = e.snapshot()
digest = [s.packets, s.bytes, s.malformed, sorted((k, v.packets, v.bytes) for k, v in s.use_cases.items()),
          sorted((k, v.packets, v.bytes) for k, v in s.protocols.items()),
          sorted((f.src, f.sport, f.dst, f.dport, f.proto, f.app, f.use_case, f.reason, f.name, f.packets, f.bytes,
                  f.first_seen, f.last_seen) for f in s.flows)]
compiled = [m.__name__ for m in (tui.decode, tui.engine) if not m.__file__.endswith(".py")]
print(json.dumps({"rate": len(frames) / best, "compiled": compiled,
                  "digest": hashlib.sha256(repr(digest).encode()).hexdigest()}))
"""

VALGRIND_CHILD = r"""
import pickle, sys
sys.path.insert(0, sys.argv[1])
from tui.engine import Engine
from tui.classify import load_classifier
frames = pickle.load(open(sys.argv[2], "rb"))[: int(sys.argv[3])]
engine = Engine(classifier=load_classifier(None, use_default_user=False), idle_timeout=None)
for i in range(0, len(frames), 256):
    engine.process(frames[i : i + 256])
"""


def build(dest: Path, modules: list[str], typed: bool, directives: dict) -> None:
    """A copy of tui/ in ``dest``, ``modules`` compiled in place (with the .pxd files if ``typed``)."""
    shutil.copytree(REPO / "tui", dest / "tui", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    if typed:
        for pxd in PXD.glob("*.pxd"):
            shutil.copy(pxd, dest / "tui" / pxd.name)
        flows = dest / "tui/flows.py"
        text = flows.read_text()
        old = "@dataclass(slots=True, eq=False)\nclass Flow:"
        if old not in text:
            raise SystemExit("tui/flows.py: the Flow dataclass line changed; update bench_cython.py")
        flows.write_text(text.replace(old, "@dataclass(eq=False)\nclass Flow:"))
    (dest / "setup_cython.py").write_text(SETUP)
    p = subprocess.run([sys.executable, "setup_cython.py", ",".join(modules), json.dumps(directives), "build_ext",
                        "--inplace"], cwd=dest, capture_output=True, text=True, check=False)  # fmt: skip
    if p.returncode != 0 or len(list((dest / "tui").rglob("*.so"))) != len(modules):
        raise SystemExit("the Cython build failed:\n" + (p.stdout + p.stderr)[-3000:])


def measure(root: Path, frames: int, flows: int) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, str(root), str(REPO / "benchmarks"), str(frames), str(flows)],
                       capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())  # fmt: skip
    if p.returncode != 0:
        return {"rate": float("nan"), "compiled": ["?"], "digest": f"the run failed: {p.stderr[-300:]}"}
    return json.loads(p.stdout)


def instructions(root: Path, frames_file: Path, n: int) -> float:
    """Instructions per frame through Engine.process (n frames, less a run with none)."""

    def count(k: int) -> int:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", VALGRIND_CHILD,
             str(root), str(frames_file), str(k)],
            capture_output=True, text=True, check=True, timeout=3600, cwd=tempfile.gettempdir(),
        ).stderr  # fmt: skip
        return int(re.search(r"Collected : (\d+)", out).group(1))

    return (count(n) - count(0)) / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--flows", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--trials", default="plain,typed", help=f"some of {', '.join(TRIALS)}")
    ap.add_argument("--instructions", type=int, default=0, metavar="N", help="also count instructions (valgrind)")
    a = ap.parse_args(argv)
    for label in a.trials.split(","):
        tmp = Path(tempfile.mkdtemp(prefix=f"sockscope-cython-{label}-"))
        try:
            print(f"{label}: compiling {len(TRIALS[label][0])} modules with Cython in {tmp} (minutes) ...", flush=True)
            build(tmp, *TRIALS[label])
            pure, comp = [], []
            for _ in range(a.runs):  # alternating, so both see the same machine load
                pure.append(measure(REPO, a.frames, a.flows))
                comp.append(measure(tmp, a.frames, a.flows))
            assert all(c["compiled"] for c in comp) and not any(p["compiled"] for p in pure), "wrong tree imported"
            same = all(c["digest"] == pure[0]["digest"] for c in comp + pure)
            rp = statistics.median(p["rate"] for p in pure)
            rc = statistics.median(c["rate"] for c in comp)
            print(f"{label}: engine with classifier, {a.frames:,} frames over {a.flows:,} flows, median of {a.runs} "
                  f"(CPU seconds, load average {os.getloadavg()[0]:.1f}):")  # fmt: skip
            print(f"  interpreted {rp:,.0f} frames/s   Cython {rc:,.0f} frames/s   speedup {rc / rp:.2f}x   "
                  f"same counts and verdicts: {'yes' if same else 'NO'}")  # fmt: skip
            if a.instructions:
                with tempfile.NamedTemporaryFile(suffix=".pkl") as fh:
                    sys.path.insert(0, str(REPO / "benchmarks"))
                    import synth

                    pickle.dump(synth.synthetic_mix(a.instructions, a.instructions // 4), fh)
                    fh.flush()
                    ip = instructions(REPO, Path(fh.name), a.instructions)
                    ic = instructions(tmp, Path(fh.name), a.instructions)
                print(f"  instructions per frame ({a.instructions:,} frames, valgrind): interpreted {ip:,.0f}   "
                      f"Cython {ic:,.0f}   ratio {ip / ic:.2f}x")  # fmt: skip
            print(f"  worth keeping (>= 1.5x and the same results): {'yes' if rc / rp >= 1.5 and same else 'no'}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
