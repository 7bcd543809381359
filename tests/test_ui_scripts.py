"""The scripts that make the demo capture and the screenshots work."""

from __future__ import annotations

import sys

import pytest

pytestmark = pytest.mark.timeout(180)


def test_make_screenshots_writes_every_picture(tmp_path):
    import make_screenshots

    assert make_screenshots.main([str(tmp_path), "--no-live"]) == 0  # the live shot takes ~12 s and root
    for name, *_ in make_screenshots.SHOTS:
        svg = (tmp_path / f"{name}.svg").read_text()
        assert svg.startswith("<svg") and "sockscope" in svg
    assert not (tmp_path / "monitor-live.svg").exists()


def test_make_demo_capture_records_every_service(netns_factory, tmp_path):
    """A short recording holds the flows of every demo server, as our own reader sees them."""
    import make_demo_capture

    from tui.engine import Engine
    from tui.sources.pcapfile import PcapSource

    out = tmp_path / "demo.pcapng"
    counts = make_demo_capture.record(out, seconds=4.0)
    assert counts["packets"] > 100
    engine = Engine(idle_timeout=None)
    engine.run(PcapSource(str(out)))
    snap = engine.snapshot()
    assert snap.packets == counts["packets"] and snap.malformed == 0
    ports = {(f.proto, f.dport) for f in snap.flows}
    for want in (("TCP", 80), ("TCP", 443), ("UDP", 53), ("TCP", 25), ("TCP", 21), ("TCP", 22), ("TCP", 1883)):
        assert want in ports, f"no {want} flow in {sorted(ports)}"
    assert ("UDP", 16384) in ports  # the RTP stream
    assert snap.protocols["ICMP"].packets >= 2 and snap.protocols["IPv6"].packets > 0
    print(f"demo recording: {counts}", file=sys.stderr)
