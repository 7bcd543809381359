"""Hostile frames on a real wire: sent raw from inside a test namespace across a veth pair
and captured live on the host end by LiveSource + Engine with the real classifier.

- malformed and fuzzed frames from ../shared/pcaps (nDPI's fuzz/bad captures);
- scapy's fuzz() of several protocol stacks;
- short floods (random-source SYNs, random-name DNS answers, tiny fragments).

Every frame sent is counted (and counted as malformed where the decoder says so), the
capture thread keeps running, and the caps hold.  Counts are bounded; traffic goes only
out of the namespace's end of the veth.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.hostile_traffic import RawSender, dns_flood, syn_flood, tiny_fragments
from tui import linktypes as lt
from tui.classify import load_classifier
from tui.classify.classifier import NAME_CACHE
from tui.decode import decode
from tui.engine import Engine
from tui.sources.live import LiveSource

pytestmark = [pytest.mark.live, pytest.mark.netns, pytest.mark.timeout(180)]

HOSTILE_PCAPS = (
    "fuzz-2006-06-26-2594.pcap",
    "fuzz-2006-09-29-28586.pcap",
    "fuzz-2020-02-16-11740.pcap",
    "fuzz-2021-10-13.pcap",
    "badpackets.pcap",
    "malformed_icmp.pcap",
    "bad-dns-traffic.pcap",
    "tls-esni-fuzzed.pcap",
    "ossfuzz_seed_fake_traces_1.pcapng",
    "ossfuzz_seed_fake_traces_3.pcapng",
)
PER_FILE = 300
MAX_FRAME = 1514  # a veth drops anything longer than its MTU plus the Ethernet header
ETH_HDR = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _as_ethernet(data: bytes, linktype: int) -> bytes | None:
    """The frame as it can cross an Ethernet veth: as is, or raw IP behind an Ethernet header."""
    if linktype == lt.ETHERNET:
        return data if 14 <= len(data) <= MAX_FRAME else None
    if linktype in lt.RAW_IP and data:
        etype = b"\x86\xdd" if data[0] >> 4 == 6 else b"\x08\x00"
        frame = ETH_HDR + etype + data
        return frame if len(frame) <= MAX_FRAME else None
    return None


def _hostile_frames(pcaps_dir: Path) -> list[bytes]:
    from tui.sources.pcapfile import PcapSource

    frames: list[bytes] = []
    for name in HOSTILE_PCAPS:
        path = pcaps_dir / "ndpi" / name
        if not path.exists():
            continue
        src = PcapSource(str(path))
        taken = 0
        try:
            for batch in src.batches(threading.Event()):
                for fr in batch:
                    f = _as_ethernet(bytes(fr[4]), fr[5])
                    if f is not None:
                        frames.append(f)
                        taken += 1
                if taken >= PER_FILE:
                    break
        except Exception:  # a damaged file: keep what was read before the damage
            pass
        finally:
            src.close()
    return frames


class _Capture:
    """Engine + LiveSource on the host end of the veth, in the engine's own thread."""

    def __init__(self, iface: str, flow_cap: int = 100_000, ring: int = 50_000) -> None:
        self.engine = Engine(
            classifier=load_classifier(None, use_default_user=False), flow_cap=flow_cap, ring_size=ring
        )
        self.source = LiveSource(iface, block_timeout_ms=10)
        self.thread = self.engine.start(self.source)

    def wait_for(self, packets: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.engine.snapshot(top=0).packets < packets:
            time.sleep(0.05)
        time.sleep(0.2)

    def stop(self) -> None:
        self.engine.stop()


def _send_inside(ns, frames, pps: float | None = None) -> RawSender:
    with ns.entered():
        sender = RawSender(ns.peer)
    try:
        sender.send(frames, pps=pps, deadline=time.monotonic() + 60)
    finally:
        sender.close()
    return sender


def _replay_and_check(ns, frames: list[bytes]) -> None:
    expected_bad = sum(1 for f in frames if decode(f, lt.ETHERNET)[9])
    cap = _Capture(ns.host)
    try:
        sender = _send_inside(ns, frames, pps=20_000)
        assert sender.failed == 0, f"{sender.failed} frames could not be sent"
        cap.wait_for(len(frames))
        assert cap.thread.is_alive() and cap.engine.state == "running", cap.engine.message
        snap = cap.engine.snapshot(top=0)
        seen = Counter(bytes(f[4]) for f in cap.engine.ring_frames())
        missing = Counter(frames) - seen
        print(
            f"\nsent {len(frames)} hostile frames ({expected_bad} malformed by the decoder); captured {snap.packets}, "
            f"malformed {snap.malformed}, kernel drops {snap.kernel_drops}",
            file=sys.stderr,
        )
        assert snap.kernel_drops == 0
        assert not missing, f"{sum(missing.values())} sent frames were not captured"
        assert snap.malformed >= expected_bad
        # Only our frames and at most a little link noise crossed the veth.
        assert len(frames) <= snap.packets <= len(frames) + 10
    finally:
        cap.stop()
    assert cap.engine.state == "stopped", cap.engine.message


def test_malformed_frames_from_sample_captures_are_counted_live(pcaps_dir, netns):
    frames = _hostile_frames(pcaps_dir)
    assert len(frames) > 500, len(frames)
    _replay_and_check(netns, frames)


def test_scapy_fuzz_frames_are_counted_live(netns):
    from scapy.all import ARP, DNS, DNSQR, ICMP, IP, TCP, UDP, Dot1Q, IPv6, IPv6ExtHdrFragment, fuzz
    from scapy.layers.l2 import Ether as _Ether

    def eth():
        return _Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

    random.seed(21)
    templates = [
        lambda: eth() / fuzz(IP()) / fuzz(TCP()),
        lambda: eth() / fuzz(IP(proto=17)) / fuzz(UDP()) / fuzz(DNS(qd=DNSQR())),
        lambda: eth() / fuzz(IPv6()) / fuzz(IPv6ExtHdrFragment()) / fuzz(UDP()),
        lambda: eth() / fuzz(Dot1Q()) / fuzz(IP()) / fuzz(ICMP()),
        lambda: eth() / fuzz(ARP()),
    ]
    frames: list[bytes] = []
    while len(frames) < 600:
        try:
            f = bytes(random.choice(templates)())
        except Exception:  # scapy cannot build every random combination
            continue
        if 14 <= len(f) <= MAX_FRAME:
            frames.append(f)
    _replay_and_check(netns, frames)


@pytest.mark.parametrize("attack", ["syn", "dns", "fragments"])
def test_live_flood_stays_within_caps(netns, attack):
    """A short flood across the veth into a small flow table: caps hold, nothing is lost silently."""
    rnd = random.Random(attack)
    server, client = bytes(map(int, netns.host_ip.split("."))), bytes(map(int, netns.peer_ip.split(".")))
    n = 20_000
    if attack == "syn":
        frames = list(syn_flood(n, server, rnd))
    elif attack == "dns":
        frames = list(dns_flood(n, client, None, rnd))
    else:
        frames = list(tiny_fragments(n, server, rnd))
    cap = _Capture(netns.host, flow_cap=2_000, ring=1_000)
    before = _rss_mb()
    try:
        sender = _send_inside(netns, frames, pps=50_000)
        cap.wait_for(sender.sent, timeout=15)
        snap = cap.engine.snapshot(top=0)
        assert cap.thread.is_alive() and cap.engine.state == "running", cap.engine.message
        assert len(cap.engine.table.flows) <= 2_000
        assert len(cap.engine.ring) <= 1_000
        assert len(cap.engine.classifier.names) <= NAME_CACHE
        # Each frame was either seen or counted as a kernel drop.
        assert snap.packets + snap.kernel_drops >= sender.sent
        if attack != "fragments":
            assert snap.flows_evicted > 0
        if attack == "dns":
            assert len(cap.engine.classifier.names) > 1_000  # the names were learned (and are bounded)
        print(
            f"\nlive {attack}: sent {sender.sent}, captured {snap.packets}, drops {snap.kernel_drops}, "
            f"flows {snap.active_flows}, evicted {snap.flows_evicted}, names {len(cap.engine.classifier.names)}, "
            f"RSS {before:.1f} -> {_rss_mb():.1f} MB",
            file=sys.stderr,
        )
    finally:
        cap.stop()
