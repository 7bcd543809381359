"""`sockscope report -r FILE --format json --workers N` counted in instructions, per process: load cannot move it.

    .venv/bin/python benchmarks/bench_parallel.py [--frames 100000] [--flows 25000] [--workers 1,2]

On the synthetic mix (benchmarks/synth.py, as bench_report.py but smaller by default: callgrind
runs about 50x slower), each worker count runs once under ``valgrind --tool=callgrind
--trace-children=yes``; the report process and each forked worker write their own count.
Printed: the instructions of each process, their sum (the CPU work), and the report
process's own count, which is the critical path of a split (it walks the file before the
fork, is worker 0, and merges and prints after the others end), beside one worker's.  The
wall-clock speedup on N idle cores is about one worker's count over the report process's.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import synth  # noqa: E402

_TOTAL = re.compile(rb"^(?:summary|totals): (\d+)", re.M)
_PID = re.compile(rb"^pid: (\d+)", re.M)


def count(path: Path, workers: int, out: Path) -> list[tuple[int, int]]:
    """(pid, instructions) of each process of one report, the report process first."""
    for old in out.glob(f"w{workers}.*"):
        old.unlink()
    grind = ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--callgrind-out-file={out}/w{workers}.%p"]
    report = ["-m", "tui", "report", "-r", str(path), "--format", "json", "--workers", str(workers)]
    cmd = [*grind, sys.executable, *report]
    p = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        raise SystemExit(f"report failed under valgrind: {p.stderr.decode(errors='replace')[-2000:]}")
    got = []
    for f in out.glob(f"w{workers}.*"):
        text = f.read_bytes()
        m = _TOTAL.search(text)
        pid = _PID.search(text)
        if m and pid:
            got.append((int(pid.group(1)), int(m.group(1))))
    return sorted(got)  # the report process has the lowest pid: it forks the workers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--flows", type=int, default=25_000)
    ap.add_argument("--workers", default="1,2")
    a = ap.parse_args(argv)
    if not shutil.which("valgrind"):
        print("valgrind is not installed (apt-get install valgrind): nothing measured")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="sockscope-parallel-"))
    try:
        path = tmp / "mix.pcap"
        synth.write_pcap(str(path), synth.synthetic_mix(a.frames, a.flows))
        print(f"== report -r, {a.frames:,} frames over {a.flows:,} flows, instructions (callgrind) per process")
        base = None
        for n in (int(x) for x in a.workers.split(",")):
            procs = count(path, n, tmp)
            lead = procs[0][1]
            base = base or lead
            each = ", ".join(f"{i / 1e9:.2f}" for _p, i in procs[1:]) or "-"
            print(f"  {n} worker{'s' if n > 1 else ''}: report process {lead / 1e9:.2f} G instructions"
                  f" ({base / lead:.2f}x one worker's speed on idle cores); forked workers {each} G")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
