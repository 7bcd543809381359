"""The engine -> attributor hand-off under a flood of new flows, with both threads running.

The engine hands new flows over through ``take_new_flows`` (a bounded queue that says when
it lost some) and takes owners back through ``apply_owners``, both under its lock.  The
stress test floods far more new flows than the queue holds while the attributor ticks on
another thread (GIL switches forced often): every flow must end with an owner (here a
reason: its addresses are not local).  Before the hand-off, the attributor drained a
``deque(maxlen=...)`` the engine appended to concurrently; flows the deque dropped while
it was being drained were lost without a trace and never got an owner.
"""

from __future__ import annotations

import struct
import sys
import threading

import pytest

from tui import linktypes as lt
from tui.attribution.attributor import NOT_LOCAL, Attributor
from tui.engine import Engine
from tui.snapshot import IN

SRC = bytes([198, 51, 100, 7])  # documentation ranges: never local, never sent anywhere
DST = bytes([203, 0, 113, 9])


def _udp_frame(sport: int) -> bytes:
    l4 = struct.pack("!HHHH", sport, 53, 8 + 4, 0) + b"ping"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0x4000, 64, 17, 0, SRC, DST)
    return b"\0" * 12 + b"\x08\x00" + ip + l4


def _batches(flows: int, per_batch: int) -> list[list[tuple]]:
    ts = 1_700_000_000_000_000_000
    frames = []
    for i in range(flows):
        data = _udp_frame(1024 + i % 60_000)
        ts += 1000
        frames.append((ts, 1, IN, len(data), data, lt.ETHERNET))
    return [frames[i : i + per_batch] for i in range(0, len(frames), per_batch)]


def _sock_diag_or_skip() -> None:
    from tui.attribution.sockdiag import SockDiag

    try:
        SockDiag().close()
    except OSError as exc:
        print(f"SKIP: no sock_diag netlink here: {exc}", file=sys.stderr)
        pytest.skip(f"no sock_diag netlink: {exc}")


def test_every_new_flow_reaches_the_attributor_during_a_flood():
    _sock_diag_or_skip()
    flows = 40_000
    engine = Engine(classifier=None, flow_cap=100_000, idle_timeout=None)
    att = Attributor(engine, cap=64)  # the queue holds 64 new flows: the flood overflows it
    att.open()
    batches = _batches(flows, per_batch=16)
    done = threading.Event()

    def capture() -> None:
        for b in batches:
            engine.process(b)
        done.set()

    old_switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the two threads as often as possible
    try:
        t = threading.Thread(target=capture, name="test-capture")
        t.start()
        ticks = 0
        while not done.is_set():
            att.tick(full=False)
            ticks += 1
        t.join()
    finally:
        sys.setswitchinterval(old_switch)
    att.tick(full=False)  # the last new flows (a plain tick: no sweep of the table unless needed)
    att.close()
    snap = engine.snapshot()
    assert snap.active_flows == flows
    missing = [f.id for f in snap.flows if f.owner_note is None and f.pid is None]
    assert not missing, f"{len(missing)} of {flows} flows never got an owner ({ticks} ticks)"
    assert {f.owner_note for f in snap.flows} == {NOT_LOCAL}


def test_take_new_flows_reports_what_the_queue_lost():
    engine = Engine(classifier=None, idle_timeout=None)
    engine.watch_new_flows(cap=10)
    for b in _batches(25, per_batch=5):
        engine.process(b)
    fresh, lost = engine.take_new_flows()
    assert len(fresh) == 10 and lost  # fifteen dropped: the attributor must sweep the table
    assert [f.sport for f in fresh] == list(range(1039, 1049))  # the newest ten, oldest first
    engine.process(_batches(3, per_batch=3)[0])  # the same three flows again: nothing new
    assert engine.take_new_flows() == ([], False)
    engine.clear()  # a cleared table starts its flows again: all of them are new
    engine.process(_batches(3, per_batch=3)[0])
    fresh, lost = engine.take_new_flows()
    assert [f.sport for f in fresh] == [1024, 1025, 1026] and not lost
    engine.unwatch_new_flows()
    engine.process(_batches(30, per_batch=30)[0])
    assert engine.take_new_flows() == ([], False)


def test_apply_owners_sets_owners_under_the_lock():
    from tui.attribution.attributor import Owner

    engine = Engine(classifier=None, idle_timeout=None)
    engine.process(_batches(3, per_batch=3)[0])
    flows = engine.live_flows()
    alice = Owner(42, "curl", "alice")
    engine.apply_owners([(flows[0], alice), (flows[1], Owner.unknown(NOT_LOCAL))])
    by_id = {f.id: f for f in engine.snapshot().flows}
    assert by_id[flows[0].id].process == "curl" and by_id[flows[0].id].pid == 42
    assert by_id[flows[1].id].owner_note == NOT_LOCAL
    assert by_id[flows[2].id].owner_note is None


def test_the_attributor_waits_for_the_engine_lock():
    """While the capture thread holds the lock (a batch, a snapshot copy), an attributor
    pass neither reads the table nor changes an owner: it waits, then applies its pass.
    (Before the hand-off it read the table and wrote owners regardless of the lock.)"""
    _sock_diag_or_skip()
    engine = Engine(classifier=None, idle_timeout=None)
    engine.process(_batches(50, per_batch=50)[0])  # before the attributor: found by its first sweep
    att = Attributor(engine)
    att.open()
    with engine._lock:  # what Engine.process / snapshot hold
        t = threading.Thread(target=att.tick, kwargs={"full": True}, name="test-attribution")
        t.start()
        t.join(0.5)
        owners_meanwhile = [f.owner for f in engine.table.flows.values()]
        assert t.is_alive(), "the pass ran while the engine held its lock"
    t.join(10)
    att.close()
    assert owners_meanwhile == [None] * 50
    assert {f.owner_note for f in engine.snapshot().flows} == {NOT_LOCAL}
