"""Replay every kept fuzz case (tests/regressions/): no exception, and quick."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.targets import Targets

REGRESSIONS = Path(__file__).parent / "regressions"
CASES = sorted(p for p in REGRESSIONS.iterdir() if p.name.startswith(("decode-", "classify-")))


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_kept_fuzz_case_replays_cleanly(case: Path):
    targets = Targets()
    fn = targets.decode_target if case.name.startswith("decode-") else targets.classify_target
    t0 = time.perf_counter()
    fn(case.read_bytes())
    assert time.perf_counter() - t0 < 1.0
    assert targets.engine.packets >= 0
