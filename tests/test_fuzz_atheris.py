"""Coverage-guided fuzzing in CI: the decoder and the classifier signatures, FUZZ_SECONDS each (60).

Both atheris harnesses (fuzz/fuzz_decode.py, fuzz/fuzz_classify.py) run at once as
subprocesses, seeded with real frames and a valid example of every signature.  A run
passes when libFuzzer finds no crash, no input slower than the per-input bound
(-timeout) and no memory blow-up (-rss_limit_mb), and the resident memory the harness
prints after warm-up stays flat.  A crash's input is printed (hex) and left in the
artifact folder: keep it under tests/regressions/ (test_fuzz_regressions replays it).
Longer runs: see fuzz/harness.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SECONDS = int(os.environ.get("FUZZ_SECONDS", "60"))
PER_INPUT_S = 5
RSS_LIMIT_MB = 1024
FLAT_MB = 40  # growth allowed after warm-up (libFuzzer's corpus and tables grow a little)

pytestmark = pytest.mark.timeout(SECONDS + 120)


def _skip(reason: str) -> None:
    print(f"SKIP: {reason}", file=sys.stderr)
    pytest.skip(reason)


def test_atheris_decoder_and_classifier_signatures(tmp_path):
    try:
        import atheris  # noqa: F401
    except ImportError:
        _skip("atheris is not installed (pip install -e '.[test]')")
    procs = {}
    for name in ("decode", "classify"):
        corpus, artifacts = tmp_path / f"{name}-corpus", tmp_path / f"{name}-crashes"
        artifacts.mkdir()
        argv = [
            sys.executable,
            str(REPO / "fuzz" / f"fuzz_{name}.py"),
            f"-max_total_time={SECONDS}",
            f"-timeout={PER_INPUT_S}",
            f"-rss_limit_mb={RSS_LIMIT_MB}",
            "-print_final_stats=1",
            f"-seed_corpus={corpus}",
            f"-artifact_prefix={artifacts}/",
        ]
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed below)
        env = {**os.environ, "FUZZ_REPORT_EVERY": "10000"}  # memory samples for the flatness check
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        procs[name] = (proc, log, artifacts)
    failures = []
    for name, (proc, log, artifacts) in procs.items():
        try:
            rc = proc.wait(SECONDS + 90)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            failures.append(f"{name}: did not end after {SECONDS + 90}s")
        log.close()
        text = (tmp_path / f"{name}.log").read_text(errors="replace")
        runs = re.search(r"stat::number_of_executed_units:\s+(\d+)", text)
        peak = re.search(r"stat::peak_rss_mb:\s+(\d+)", text)
        rss = [float(m) for m in re.findall(r"rss_mb ([\d.]+) after \d+ inputs", text)]
        print(
            f"\n{name}: rc={rc} runs={runs.group(1) if runs else '?'} peak_rss_mb={peak.group(1) if peak else '?'} "
            f"rss samples (MB): {rss[:3]} ... {rss[-3:]}",
            file=sys.stderr,
        )
        crashes = sorted(artifacts.iterdir())
        if rc != 0 or crashes:
            detail = "\n".join(f"  {c.name}: {c.read_bytes()[:512].hex()}" for c in crashes)
            tail = "\n".join(text.splitlines()[-40:])
            failures.append(f"{name}: exit {rc}; inputs kept:\n{detail}\n--- log tail ---\n{tail}")
            continue
        assert runs and int(runs.group(1)) > 1000, f"{name}: the fuzzer hardly ran:\n{text[-2000:]}"
        # Flat memory: the last sample against the first one after warm-up (a quarter of the samples).
        if len(rss) >= 4:
            warm = rss[len(rss) // 4]
            assert rss[-1] - warm < FLAT_MB, f"{name}: resident memory grew {warm:.0f} -> {rss[-1]:.0f} MB"
    assert not failures, "\n\n".join(failures)
