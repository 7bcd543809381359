"""Would a compiled hot path pay?  mypyc on decode, the engine and the classifier, measured.

    .venv/bin/pip install mypy        # mypyc comes with it (needs gcc and the Python headers)
    .venv/bin/python benchmarks/bench_compiled.py [--frames 200000] [--flows 50000] [--runs 3]

Copies the package into a temporary folder and compiles, with mypyc, first tui/decode.py
and tui/classify/wire.py (they type-check as they are), then those with tui/engine.py and
tui/classify/classifier.py (nothing in the repository changes).  The engine and the
classifier are not written for mypy (36 type errors), so each copy gets ``# mypy:
ignore-errors`` (mypyc compiles with the types it can infer), and the engine's ``_thread``
attribute is renamed (mypyc emits it as the C identifier ``__thread``, a gcc keyword).
tui/flows.py stays interpreted: compiled, its slots dataclass fails at import.

Then the same in-memory frames (benchmarks/synth.py) go through the engine with the
built-in rules in both copies, alternating, in CPU seconds; it checks that both count and
classify the same and prints both rates and the speedup.  The project keeps a compiled
build only at 1.5x or more (issue 13).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What is compiled, by trial: the decoder and the wire parsers alone (they type-check as they
# are), and those with the engine and the classifier (only with ignore-errors).
TRIALS = {
    "decode + wire": ["tui/decode.py", "tui/classify/wire.py"],
    "decode + engine + classifier + wire": ["tui/decode.py", "tui/engine.py", "tui/classify/classifier.py",
                                            "tui/classify/wire.py"],
}  # fmt: skip
UNTYPED = {"tui/engine.py", "tui/classify/classifier.py"}  # compiled only with "# mypy: ignore-errors"

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])
import synth
import tui.decode
from tui.classify import load_classifier
from tui.engine import Engine
frames = synth.synthetic_mix(int(sys.argv[3]), int(sys.argv[4]))
e = Engine(classifier=load_classifier(None, use_default_user=False), idle_timeout=None)
c = time.process_time()
for i in range(0, len(frames), 256):
    e.process(frames[i : i + 256])
cpu = time.process_time() - c
s = e.snapshot()
if s is None:  # seen with the engine compiled under ignore-errors
    print(json.dumps({"rate": len(frames) / cpu, "compiled": True, "digest": "snapshot() gave None"}))
    sys.exit(0)
digest = [s.packets, s.bytes, s.malformed, sorted((k, v.packets, v.bytes) for k, v in s.use_cases.items()),
          sorted((k, v.packets, v.bytes) for k, v in s.protocols.items()),
          sorted((f.src, f.sport, f.dst, f.dport, f.proto, f.app, f.use_case, f.reason, f.name, f.packets, f.bytes)
                 for f in s.flows)]
print(json.dumps({"rate": len(frames) / cpu, "compiled": tui.decode.__file__.endswith(".so"), "digest": digest}))
"""


def build(dest: Path, compiled: list[str]) -> None:
    shutil.copytree(REPO / "tui", dest / "tui", ignore=shutil.ignore_patterns("__pycache__"))
    for rel in compiled:
        if rel not in UNTYPED:
            continue
        p = dest / rel
        text = p.read_text()
        if rel == "tui/engine.py":
            text = text.replace("self._thread", "self._capture_thread")
        p.write_text("# mypy: ignore-errors\n" + text)
    mypyc = shutil.which("mypyc", path=str(Path(sys.executable).parent)) or shutil.which("mypyc")
    if mypyc is None:
        raise SystemExit("mypyc not found: pip install mypy")
    p = subprocess.run([mypyc, *compiled], cwd=dest, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit("mypyc failed:\n" + (p.stdout + p.stderr)[-3000:])


def measure(root: Path, frames: int, flows: int) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, str(root), str(REPO / "benchmarks"), str(frames), str(flows)],
                       capture_output=True, text=True, check=False, cwd=tempfile.gettempdir())  # fmt: skip
    if p.returncode != 0:
        return {"rate": float("nan"), "compiled": True, "digest": f"the run failed (exit {p.returncode})"}
    return json.loads(p.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200_000)
    ap.add_argument("--flows", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args(argv)
    for label, compiled in TRIALS.items():
        tmp = Path(tempfile.mkdtemp(prefix="sockscope-mypyc-"))
        try:
            print(f"compiling {', '.join(compiled)} with mypyc in {tmp} ...", flush=True)
            build(tmp, compiled)
            pure, comp = [], []
            for _ in range(a.runs):  # alternating, so both see the same machine load
                pure.append(measure(REPO, a.frames, a.flows))
                comp.append(measure(tmp, a.frames, a.flows))
            assert all(c["compiled"] for c in comp) and not any(p["compiled"] for p in pure)
            same = all(c["digest"] == pure[0]["digest"] for c in comp + pure)
            rp = statistics.median(p["rate"] for p in pure)
            rc = statistics.median(c["rate"] for c in comp)
            print(f"{label}: engine with classifier, {a.frames:,} frames over {a.flows:,} flows, median of {a.runs} "
                  f"(CPU seconds, load average {os.getloadavg()[0]:.1f}):")  # fmt: skip
            verdict = "yes" if same else f"NO ({str(comp[0]['digest'])[:60]})"
            print(f"  interpreted {rp:,.0f} frames/s   mypyc {rc:,.0f} frames/s   speedup {rc / rp:.2f}x   "
                  f"same counts and verdicts: {verdict}")  # fmt: skip
            print(f"  worth keeping (>= 1.5x and the same results): {'yes' if rc / rp >= 1.5 and same else 'no'}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
