"""The tracker turns the engine's flows into deltas and records: ends for idle, closed and
evicted flows, active-timeout updates, and the end of capture; deltas add up to the flows."""

from __future__ import annotations

import itertools

from scapy.all import IP, TCP, UDP, Ether, Raw

from tui.engine import Engine
from tui.export.tracker import ACTIVE, CLOSED, END_OF_CAPTURE, EVICTED, IDLE, FlowTracker
from tui.snapshot import IN


def _frame(pkt, t: float) -> tuple:
    data = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt)
    return (int(t * 1e9), 1, IN, len(data), data, 1)


def _udp(i: int, t: float, n: int = 10) -> tuple:
    return _frame(IP(src="192.0.2.1", dst="198.51.100.1") / UDP(sport=1000 + i, dport=9) / Raw(bytes(n)), t)


def test_idle_closed_and_end_of_capture_records():
    eng = Engine(idle_timeout=10.0)
    tr = FlowTracker(eng, active_timeout=0)
    c = IP(src="192.0.2.1", dst="198.51.100.1")
    eng.process([_udp(1, 100.0), _frame(c / TCP(sport=5, dport=80, flags="S"), 100.1),
                 _frame(c / TCP(sport=5, dport=80, flags="FA"), 100.2), _udp(2, 100.3)])  # fmt: skip
    first = tr.tick({})
    assert sum(d.packets for d in first.deltas) == 4 and first.records == []
    # 35 s later: the FIN flow passed its closed timeout (30 s), the UDP ones their idle timeout.
    eng.process([_udp(2, 136.0), _udp(3, 141.0)])
    res = tr.tick({1: ("eth9", 1)})
    ends = {(r.delta.view.proto, r.delta.view.sport): r for r in res.records}
    assert ends[("UDP", 1001)].reason == IDLE and ends[("TCP", 5)].reason == CLOSED
    assert ends[("TCP", 5)].delta.packets == 2 and ends[("TCP", 5)].interface == "eth9"
    assert all(r.event == "end" for r in res.records)
    last = tr.tick({}, final=True)
    assert {r.delta.view.sport: (r.reason, r.delta.packets) for r in last.records} == {
        1002: (END_OF_CAPTURE, 2), 1003: (END_OF_CAPTURE, 1)}  # fmt: skip
    every = first.deltas + res.deltas + last.deltas
    assert sum(d.packets for d in every) == eng.packets == 6
    assert sum(d.bytes for d in every) == eng.bytes
    assert len(tr) == 0


def test_evicted_flows_say_so_and_lose_nothing():
    eng = Engine(flow_cap=10, idle_timeout=None)
    tr = FlowTracker(eng, active_timeout=0)
    eng.process([_udp(i, 1.0 + i * 0.01) for i in range(25)])
    res = tr.tick({}, final=True)
    reasons = [r.reason for r in res.records]
    assert reasons.count(EVICTED) == eng.table.evicted > 0
    assert len(res.records) == 25 and sum(d.packets for d in res.deltas) == 25


def test_active_timeout_updates_carry_deltas():
    eng = Engine(idle_timeout=None)
    tr = FlowTracker(eng, active_timeout=1.0)
    got = []
    for k in range(30):  # one packet every 0.2 s for 6 s
        eng.process([_udp(1, 50.0 + k * 0.2)])
        got += tr.tick({}).records
    got += tr.tick({}, final=True).records
    updates = [r for r in got if r.event == "update"]
    assert all(r.reason == ACTIVE for r in updates) and 4 <= len(updates) <= 6
    assert sum(r.delta.packets for r in got) == 30
    assert [r.event for r in got][-1] == "end"
    # Each record's interval starts where the previous one ended.
    for a, b in itertools.pairwise(got):
        assert b.start == a.delta.view.last_seen


def test_queue_full_counts_lost_ends_and_forgets_them():
    eng = Engine(flow_cap=10, idle_timeout=None)
    tr = FlowTracker(eng, active_timeout=0, queue_size=3)
    eng.process([_udp(i, 1.0 + i * 0.001) for i in range(5)])
    tr.tick({})
    eng.process([_udp(i, 2.0 + i * 0.001) for i in range(5, 40)])  # evictions overflow the 3-slot queue
    assert eng.retired_lost > 0
    tr.tick({}, full=True)
    assert len(tr) == len(eng.table.flows)  # nothing kept for flows that are gone


def test_end_record_even_when_nothing_new_since_the_last_update():
    eng = Engine(idle_timeout=None)
    tr = FlowTracker(eng, active_timeout=1.0)
    eng.process([_udp(1, 10.0), _udp(1, 11.5)])  # the second packet is past the active timeout
    (upd,) = tr.tick({}).records
    assert upd.event == "update" and upd.delta.packets == 2
    (end,) = tr.tick({}, final=True).records
    assert end.event == "end" and end.reason == END_OF_CAPTURE and end.delta.packets == 0
    assert end.delta.view.packets == 2
