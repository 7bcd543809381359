"""Hostile input, property-based: mutated real frames, mutated signature exchanges, scapy's fuzz().

Everything goes through the same targets as the atheris harnesses (fuzz/targets.py):
decode + the Engine's accounting with the real classifier, and every payload parser
called directly.  Nothing may raise; each input has a time bound; memory stays flat.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz.targets import LINKTYPES, SEEDS, SEP, Targets, classify_seeds, decode_seeds
from tui import linktypes as lt

pytestmark = pytest.mark.timeout(300)
# CPU seconds, far above the real cost (well under a millisecond): catches hangs and runaway
# work, not slowness (wall time failed once at 0.79 s with valgrind sharing the cores).
PER_INPUT_S = 2.0
TARGETS = Targets()
DECODE_SEEDS = list(decode_seeds(limit_per_file=5))
CLASSIFY_SEEDS = list(classify_seeds())


def _timed(fn, data: bytes) -> None:
    t0 = time.process_time()
    fn(data)
    took = time.process_time() - t0
    assert took < PER_INPUT_S, f"one input took {took:.3f}s: {data[:200].hex()}"


mutation = st.tuples(
    st.sampled_from(["set", "insert", "delete", "truncate", "flip"]),
    st.integers(min_value=0, max_value=4000),
    st.integers(min_value=0, max_value=255),
)


def _mutate(data: bytes, edits: list[tuple[str, int, int]], keep_head: int) -> bytes:
    """Apply edits past the first ``keep_head`` bytes (the selector bytes of a target input)."""
    b = bytearray(data)
    for kind, pos, val in edits:
        if len(b) <= keep_head:
            break
        i = keep_head + pos % (len(b) - keep_head)
        if kind == "set":
            b[i] = val
        elif kind == "insert":
            b[i:i] = bytes([val]) * (1 + val % 7)
        elif kind == "delete":
            del b[i : i + 1 + val % 9]
        elif kind == "truncate":
            del b[i:]
        else:
            b[i] ^= 1 << (val % 8)
    return bytes(b)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(DECODE_SEEDS), edits=st.lists(mutation, max_size=6), relink=st.booleans())
def test_mutated_real_frames_never_break_decode_or_engine(seed, edits, relink):
    data = _mutate(seed, edits, keep_head=1)
    if relink:  # the same bytes read as another link type
        data = bytes([(data[0] + 1) % len(LINKTYPES)]) + data[1:]
    _timed(TARGETS.decode_target, data)


@pytest.mark.parametrize("index", range(len(SEEDS)), ids=[s[0] for s in SEEDS])
def test_every_signature_survives_mutation(index):
    """Each signature's valid exchange, mutated, split and re-ordered, never raises anywhere."""
    seed = CLASSIFY_SEEDS[index]

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(edits=st.lists(mutation, max_size=5), pattern=st.integers(0, 255), extra=st.binary(max_size=64))
    def run(edits, pattern, extra):
        data = bytes([seed[0], pattern]) + _mutate(seed[2:], edits, keep_head=0) + SEP + extra
        _timed(TARGETS.classify_target, data)

    run()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(SEEDS) - 1),
    pattern=st.integers(0, 255),
    payloads=st.lists(st.binary(max_size=400), min_size=1, max_size=8),
)
def test_random_payloads_under_every_signature_port(index, pattern, payloads):
    _timed(TARGETS.classify_target, bytes([index, pattern]) + SEP.join(payloads))


def test_scapy_fuzz_frames_never_break_decode_or_engine():
    """scapy's fuzz(): random values in every field of real protocol layers (seeded, so repeatable)."""
    from scapy.all import (
        ARP,
        DNS,
        DNSQR,
        ICMP,
        IP,
        TCP,
        UDP,
        Dot1Q,
        ICMPv6EchoRequest,
        IPv6,
        IPv6ExtHdrFragment,
        IPv6ExtHdrRouting,
        fuzz,
    )
    from scapy.layers.l2 import Ether as _Ether

    def Ether():  # explicit addresses: scapy would otherwise look them up (and warn)
        return _Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

    random.seed(9)
    templates = [
        lambda: Ether() / fuzz(IP()) / fuzz(TCP()),
        lambda: Ether() / IP() / fuzz(TCP()) / b"GET / HTTP/1.1\r\n\r\n",
        lambda: Ether() / fuzz(IP(proto=17)) / fuzz(UDP()) / fuzz(DNS(qd=DNSQR())),
        lambda: Ether() / IP() / UDP(dport=53) / fuzz(DNS(qd=DNSQR())),
        lambda: Ether() / fuzz(IPv6()) / fuzz(IPv6ExtHdrRouting()) / fuzz(IPv6ExtHdrFragment()) / fuzz(UDP()),
        lambda: Ether() / IPv6() / fuzz(ICMPv6EchoRequest()),
        lambda: fuzz(Ether()) / fuzz(Dot1Q()) / fuzz(IP()) / fuzz(ICMP()),
        lambda: Ether() / fuzz(ARP()),
    ]
    eth = bytes([LINKTYPES.index(lt.ETHERNET)])
    n = 0
    for _ in range(150):
        for make in templates:
            try:
                frame = bytes(make())
            except Exception:  # scapy cannot build every random combination
                continue
            _timed(TARGETS.decode_target, eth + frame)
            n += 1
    assert n > 800


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def test_memory_flat_over_many_hostile_inputs():
    """200k random and mutated inputs through bounded targets: RSS after warm-up stays within a few MB."""
    targets = Targets()
    rnd = random.Random(7)
    seeds_d, seeds_c = DECODE_SEEDS, CLASSIFY_SEEDS

    def batch(n: int) -> None:
        for _ in range(n):
            if rnd.random() < 0.5:
                s = bytearray(rnd.choice(seeds_d))
                for _ in range(rnd.randint(0, 4)):
                    if len(s) > 1:
                        s[rnd.randrange(1, len(s))] = rnd.randrange(256)
                targets.decode_target(bytes(s))
            else:
                s = bytearray(rnd.choice(seeds_c))
                for _ in range(rnd.randint(0, 4)):
                    if len(s) > 2:
                        s[rnd.randrange(2, len(s))] = rnd.randrange(256)
                targets.classify_target(bytes(s))

    batch(60_000)  # warm-up: flow table, ring and caches reach their caps
    before = _rss_mb()
    batch(140_000)
    after = _rss_mb()
    eng = targets.engine
    print(f"\nRSS after warm-up {before:.1f} MB, after 140k more inputs {after:.1f} MB", file=sys.stderr)
    assert len(eng.table.flows) <= eng._flow_cap and len(eng.ring) <= eng._ring_size
    assert after - before < max(8.0, before * 0.05), f"memory grew {before:.1f} -> {after:.1f} MB"
