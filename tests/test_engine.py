"""Engine accounting: per-second series each way, counters, ring, snapshots under concurrency."""

from __future__ import annotations

import threading
import time

import pytest
from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, IPv6, raw

from tui.engine import Engine
from tui.snapshot import IN, OUT
from tui.sources.pcapfile import PcapSource

SEC = 10**9
T0 = 1_700_000_000 * SEC

TCP_F = raw(Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1000, dport=80, flags="S"))
UDP_F = raw(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5000, dport=53) / b"q")
ICMP_F = raw(Ether() / IP(src="192.0.2.2", dst="192.0.2.1") / ICMP())
ARP_F = raw(Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="192.0.2.1", pdst="192.0.2.9"))


def frame(ts_ns: int, data: bytes, direction: int = IN, wire: int | None = None) -> tuple:
    return (ts_ns, 1, direction, wire if wire is not None else len(data), data, 1)


def test_per_second_series_each_direction_with_gaps():
    engine = Engine()
    engine.process(
        [
            frame(T0, TCP_F, OUT, 100),
            frame(T0 + SEC // 2, TCP_F, IN, 60),
            frame(T0 + SEC + 1, UDP_F, OUT, 70),
            frame(T0 + 3 * SEC, ICMP_F, IN, 80),  # second 2 had nothing
        ]
    )
    s = engine.snapshot().series
    assert s.start == 1_700_000_000
    assert s.packets_out == (1, 1, 0) and s.packets_in == (1, 0, 0)
    assert s.bytes_out == (100, 70, 0) and s.bytes_in == (60, 0, 0)
    engine._finish("ended", None)  # the end of a source closes the current second
    s = engine.snapshot().series
    assert s.packets_in == (1, 0, 0, 1) and s.bytes_in[-1] == 80


def test_series_keeps_five_minutes():
    engine = Engine(idle_timeout=None)
    engine.process([frame(T0 + i * SEC, UDP_F, OUT) for i in range(400)])
    s = engine.snapshot().series
    assert len(s.packets_out) == 300 and set(s.packets_out) == {1}
    assert s.start == 1_700_000_000 + 399 - 300


def test_counters_per_protocol_kind_and_use_case():
    engine = Engine()
    engine.process([frame(T0, TCP_F), frame(T0, TCP_F), frame(T0, UDP_F), frame(T0, ICMP_F), frame(T0, ARP_F)])
    snap = engine.snapshot(hosts=10)
    assert {k: c.packets for k, c in snap.socket_kinds.items()} == {"stream": 2, "datagram": 1, "raw": 2}
    assert snap.protocols["Ethernet"].packets == 5
    assert snap.protocols["IPv4"].packets == 3 and snap.protocols["IPv6"].packets == 1
    assert snap.protocols["ARP"].bytes == len(ARP_F)
    assert snap.use_cases["unknown"].packets == 5  # no classifier: every flow stays unknown
    by_host = {h.address: h for h in snap.hosts}
    assert by_host["192.0.2.1"].packets_sent == 2 and by_host["192.0.2.1"].packets_received == 1
    assert by_host["2001:db8::2"].bytes_received == len(UDP_F)
    assert "ff:ff:ff:ff:ff:ff" in by_host  # non-IP frames count under their MAC addresses
    icmp = next(f for f in snap.flows if f.proto == "ICMP")
    assert (icmp.sport, icmp.dport) == (None, None)


def test_malformed_counted_and_never_raise():
    engine = Engine()
    engine.process([frame(T0, TCP_F[:30]), frame(T0, b""), frame(T0, b"\xff" * 7)])
    snap = engine.snapshot()
    assert snap.packets == 3 and snap.malformed == 3


def test_ring_is_bounded_and_feeds_recent_rows():
    engine = Engine(ring_size=100)
    engine.process([frame(T0 + i, UDP_F, wire=i) for i in range(250)])
    frames = engine.ring_frames()
    assert len(frames) == 100 and frames[0][3] == 150 and frames[-1][3] == 249
    rows = engine.snapshot(recent=5).recent
    assert [r.seq for r in rows] == [246, 247, 248, 249, 250]
    assert all(r.flow_id == rows[0].flow_id for r in rows)


def test_clear_forgets_counts():
    engine = Engine()
    engine.process([frame(T0, TCP_F)])
    engine.clear()
    snap = engine.snapshot()
    assert (snap.packets, snap.active_flows, len(engine.ring_frames())) == (0, 0, 0)


def test_snapshots_are_consistent_while_the_capture_thread_writes(pcaps_dir):
    """A reader on another thread never sees a half-counted packet."""
    frames = list(PcapSource(str(pcaps_dir / "ndpi" / "instagram.pcap")).frames())
    engine = Engine()
    done = threading.Event()
    seen: list[tuple[int, int, int, int]] = []

    def read() -> None:
        while not done.is_set():
            s = engine.snapshot(top=5)
            kinds = sum(c.packets for c in s.socket_kinds.values())
            stacks = sum(c.packets for _st, c in s.stacks)
            seen.append((s.packets, kinds, stacks, s.protocols.get("Ethernet", None).packets if s.packets else 0))

    t = threading.Thread(target=read)
    t.start()
    for _ in range(3):
        for i in range(0, len(frames), 64):
            engine.process(frames[i : i + 64])
    done.set()
    t.join()
    assert len(seen) > 3
    for packets, kinds, stacks, eth in seen:
        assert packets == kinds == stacks == eth
    snap = engine.snapshot()
    with pytest.raises((AttributeError, TypeError)):
        snap.packets = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.protocols["TCP"] = None  # type: ignore[index]


def test_file_run_and_threaded_start_stop(pcaps_dir):
    path = str(pcaps_dir / "ndpi" / "443-curl.pcap")
    engine = Engine()
    engine.run(PcapSource(path))
    snap = engine.snapshot()
    assert (snap.state, snap.message, snap.source_kind) == ("ended", "end of file", "file")
    assert snap.duration_s == pytest.approx(snap.last_ts - snap.first_ts)
    paced = Engine()
    paced.start(PcapSource(path, speed=0.5))  # about two seconds of replay
    time.sleep(0.3)
    paced.stop()
    s = paced.snapshot()
    assert not paced.running and s.state == "stopped" and 0 < s.packets < snap.packets


def test_live_series_advance_while_idle(netns):
    from tui.sources.live import LiveSource

    engine = Engine()
    engine.start(LiveSource(netns.host, bpf="udp port 9"))
    try:
        import socket

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x", (netns.peer_ip, 9))
        s.close()
        time.sleep(2.6)
        snap = engine.snapshot()
    finally:
        engine.stop()
    # One packet, then quiet seconds: the series moved on with the clock, in zeros.
    assert sum(snap.series.packets_out) + sum(snap.series.packets_in) <= 1
    assert len(snap.series.packets_out) >= 2
    assert snap.series.start + len(snap.series.packets_out) >= int(time.time()) - 1
