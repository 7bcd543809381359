"""Resource bounds under attack, engine fed directly: SYN flood, DNS flood, tiny fragments.

The flow table, the classifier's caches and the ring must stay within their caps, and a
second flood of the same size must not raise resident memory (the caps hold, nothing
leaks).  RSS is printed; benchmarks/attack.py runs the same at full scale.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.hostile_traffic import dns_flood, syn_flood, tiny_fragments
from tui.classify import load_classifier
from tui.classify.classifier import NAME_CACHE
from tui.classify.detectors.ftp import EXPECT_CACHE
from tui.engine import RETIRED_HOSTS_CAP, Engine

pytestmark = pytest.mark.timeout(240)
SERVER = bytes([192, 0, 2, 1])
FLOW_CAP = 20_000
RING = 5_000


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _feed(engine: Engine, frames, start_ns: int) -> int:
    batch, n, ts = [], 0, start_ns
    for data in frames:
        ts += 5_000  # 200k frames per second of capture time
        batch.append((ts, 1, 0, len(data), data, 1))
        if len(batch) == 512:
            engine.process(batch)
            n += len(batch)
            batch = []
    if batch:
        engine.process(batch)
        n += len(batch)
    return ts


def _check_caps(engine: Engine) -> None:
    clf = engine.classifier
    assert len(engine.table.flows) <= FLOW_CAP
    assert len(engine.ring) <= RING
    assert len(clf.names) <= NAME_CACHE
    assert len(clf.expected) <= EXPECT_CACHE and len(clf.ftp_pairs) <= EXPECT_CACHE
    assert len(engine._retired_hosts) <= RETIRED_HOSTS_CAP


@pytest.mark.parametrize("attack", ["syn", "dns", "fragments"])
def test_flood_stays_within_caps_and_memory_is_flat(attack):
    engine = Engine(classifier=load_classifier(None, use_default_user=False), flow_cap=FLOW_CAP, ring_size=RING)
    rnd = random.Random(attack)

    def flood(n: int):
        if attack == "syn":
            return syn_flood(n, SERVER, rnd)
        if attack == "dns":
            return dns_flood(n, SERVER, None, rnd)
        return tiny_fragments(n, SERVER, rnd)

    n = 100_000
    ts = _feed(engine, flood(n), 1_700_000_000_000_000_000)
    _check_caps(engine)
    first = _rss_mb()
    _feed(engine, flood(n), ts)
    _check_caps(engine)
    second = _rss_mb()
    snap = engine.snapshot(top=10)
    print(
        f"\n{attack}: {snap.packets} frames, flows {snap.active_flows} (cap {FLOW_CAP}), evicted {snap.flows_evicted}, "
        f"names {len(engine.classifier.names)} (cap {NAME_CACHE}), ring {len(engine.ring)}, "
        f"RSS {first:.1f} -> {second:.1f} MB",
        file=sys.stderr,
    )
    assert snap.packets == 2 * n
    if attack != "fragments":
        assert snap.flows_evicted > 0  # every frame a new flow: the cap is what held
    if attack == "dns":
        assert len(engine.classifier.names) == NAME_CACHE  # 200k names offered, the cache is full and no larger
    assert second - first < max(10.0, first * 0.05), f"memory grew {first:.1f} -> {second:.1f} MB"
