"""The flow table stays bounded: a cap with counted evictions, and idle expiry."""

from __future__ import annotations

import struct

from scapy.all import IP, TCP, UDP, Ether, raw

from tui.engine import Engine
from tui.flows import FlowTable
from tui.snapshot import IN

BASE_NS = 1_700_000_000 * 10**9


def udp_frame(sport: int, dport: int = 53, src: str = "192.0.2.1", dst: str = "198.51.100.1") -> bytes:
    return raw(Ether() / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / b"x")


def flood(n: int, start_ns: int = BASE_NS, step_ns: int = 1000) -> list[tuple]:
    """n frames, each its own flow (source address and port vary), a microsecond apart."""
    template = bytearray(udp_frame(1))
    frames = []
    for i in range(n):
        data = bytearray(template)
        struct.pack_into("!I", data, 26, 0xC0000200 + (i & 0xFF))  # 192.0.2.x source
        struct.pack_into("!H", data, 34, 1024 + (i >> 8))
        frames.append((start_ns + i * step_ns, 1, IN, len(data), bytes(data), 1))
    return frames


def test_cap_holds_under_a_flood_of_unique_flows():
    engine = Engine(flow_cap=1000, idle_timeout=None)
    frames = flood(50_000)
    peak = 0
    for i in range(0, len(frames), 500):
        engine.process(frames[i : i + 500])
        peak = max(peak, len(engine.table))
    snap = engine.snapshot(top=0)
    assert peak <= 1000
    assert snap.active_flows <= 1000
    assert snap.packets == 50_000
    assert snap.flows_evicted == 50_000 - snap.active_flows  # every flow that left was counted
    assert snap.flows_expired == 0


def test_eviction_takes_the_least_recently_seen():
    engine = Engine(flow_cap=100, idle_timeout=None)
    frames = flood(100)
    engine.process(frames)
    # Touch the first ten again, so they are the most recent.
    engine.process([(BASE_NS + 10**9 + i, 1, IN, f[3], f[4], 1) for i, f in enumerate(frames[:10])])
    engine.process(flood(1, start_ns=BASE_NS + 2 * 10**9, step_ns=1)[:0] + [_other_flow()])
    kept = {(f.src, f.sport) for f in engine.snapshot().flows}
    assert {(f"192.0.2.{i}", 1024) for i in range(10)} <= kept  # recently seen flows survive
    assert ("192.0.2.10", 1024) not in kept  # the oldest untouched one went
    assert engine.snapshot().flows_evicted >= 1


def _other_flow() -> tuple:
    data = udp_frame(9999, 9999, "203.0.113.1", "203.0.113.2")
    return (BASE_NS + 3 * 10**9, 1, IN, len(data), data, 1)


def test_idle_flows_expire_and_closed_tcp_sooner():
    engine = Engine(idle_timeout=60.0)
    tcp_fin = raw(Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1, dport=2, flags="FA"))
    frames = [
        (BASE_NS, 1, IN, 60, udp_frame(1000), 1),  # goes idle
        (BASE_NS, 1, IN, 60, tcp_fin, 1),  # closed: expires after 30 s
    ]
    engine.process(frames)
    # 40 s later: another flow keeps the clock moving; the closed TCP flow is gone.
    engine.process([(BASE_NS + 40 * 10**9, 1, IN, 60, udp_frame(2000), 1)])
    protos = {(f.proto, f.sport) for f in engine.snapshot().flows}
    assert ("TCP", 1) not in protos and ("UDP", 1000) in protos
    # 70 s after the first packet: the idle UDP flow is gone too; the newer one stays.
    engine.process([(BASE_NS + 70 * 10**9, 1, IN, 60, udp_frame(2000), 1)])
    snap = engine.snapshot()
    assert {f.sport for f in snap.flows} == {2000}
    assert snap.flows_expired == 2
    # Counters are for all traffic, not just live flows.
    assert snap.packets == 4 and snap.protocols["UDP"].packets == 3


def test_hosts_keep_counts_of_retired_flows():
    engine = Engine(flow_cap=50, idle_timeout=None)
    engine.process(flood(500))
    snap = engine.snapshot(hosts=5)
    dst = snap.hosts[0]
    assert dst.address == "198.51.100.1"
    assert dst.packets_received == 500 and dst.bytes_received == snap.bytes  # live and retired flows
    assert dst.flows == snap.active_flows
    assert len(snap.hosts) == 5
    assert engine.snapshot().hosts == ()  # only computed when asked for


def test_flowtable_make_room_directly():
    gone = []
    table = FlowTable(cap=10, on_retire=gone.append)
    engine = Engine(flow_cap=10)
    engine.process(flood(10))
    table.flows = dict(engine.table.flows)
    table.make_room()
    assert len(table) < 10 and table.evicted == len(gone) == 10 - len(table)
