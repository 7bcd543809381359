"""Faults as the monitor shows them (Pilot): interface removed (data kept, pick another),
re-added with the same name (resume with `r`, counters go on), capture failed or its thread
died (said so, `r` restarts).
"""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.hostile_traffic import RawSender, udp_frame
from tui.engine import Engine
from tui.sources.pcapfile import PcapSource

DEMO = Path(__file__).resolve().parent.parent / "tui" / "data" / "demo.pcapng"
pytestmark = pytest.mark.timeout(120)


def _app(argv: list[str], engine: Engine):
    from tui.app import SockscopeApp
    from tui.cli import build_parser

    return SockscopeApp(build_parser().parse_args(argv), engine=engine, watch_links=False)


async def _notification(app, pilot, needle: str, timeout: float = 10.0) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in list(app._notifications):
            if needle in n.message:
                return n.message, n.severity
        await pilot.pause(0.1)
    raise AssertionError(f"no notification with {needle!r}: {[n.message for n in app._notifications]}")


async def _until(pilot, cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await pilot.pause(0.1)
    raise AssertionError("condition not met in time")


def _send(ns, n: int, tag: int) -> int:
    src, dst = bytes(map(int, ns.peer_ip.split("."))), bytes(map(int, ns.host_ip.split(".")))
    with ns.entered():
        sender = RawSender(ns.peer)
    try:
        sender.send([udp_frame(src, 40000 + tag, dst, 9, struct.pack("!I", i)) for i in range(n)])
    finally:
        sender.close()
    return sender.sent


@pytest.mark.live
@pytest.mark.netns
def test_interface_removed_then_back_offers_resume_and_keeps_counting(netns):
    from tui.screens.monitor import MonitorScreen
    from tui.screens.picker import PickerScreen
    from tui.sources.live import LiveSource

    engine = Engine()
    engine.start(LiveSource(netns.host))

    async def run() -> None:
        app = _app(["-i", netns.host], engine)
        async with app.run_test(size=(120, 40)) as pilot:
            first = _send(netns, 25, 1)
            await _until(pilot, lambda: engine.snapshot(top=0).packets >= first)
            subprocess.run(["ip", "link", "del", netns.host], check=True)
            text, severity = await _notification(app, pilot, "is gone")
            assert severity == "warning" and netns.host in text and "kept" in text
            assert isinstance(app.screen, MonitorScreen) and app.engine is engine
            assert engine.snapshot(top=0).packets >= first  # the data stays on screen
            # Same name again (the peer back inside the namespace): the monitor offers to resume.
            subprocess.run(
                ["ip", "link", "add", netns.host, "type", "veth", "peer", "name", netns.peer, "netns", netns.name],
                check=True,
            )
            subprocess.run(["ip", "link", "set", netns.host, "up"], check=True)
            netns.exec("ip", "link", "set", netns.peer, "up")
            await _notification(app, pilot, "is back")
            await pilot.press("r")
            await _until(pilot, lambda: engine.running and engine.state == "running")
            await pilot.pause(0.3)
            before = engine.snapshot(top=0).packets
            assert before >= first  # resumed on the same engine: nothing was reset
            second = _send(netns, 25, 2)
            await _until(pilot, lambda: engine.snapshot(top=0).packets >= before + second)
            await pilot.press("i")  # and another interface can be picked from here
            await _until(pilot, lambda: isinstance(app.screen, PickerScreen))

    try:
        asyncio.run(run())
    finally:
        engine.stop()


class _FailingReplay(PcapSource):
    """A real file replay that fails after its first batch, the way a bug in a source would."""

    def __init__(self, path: str, exc: BaseException) -> None:
        super().__init__(path)
        self.exc = exc

    def batches(self, stop):
        for batch in super().batches(stop):
            yield batch
            raise self.exc


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the death is the point
@pytest.mark.parametrize(
    ("exc", "needle"),
    [(RuntimeError("disk on fire"), "Capture stopped"), (SystemExit(3), "stopped unexpectedly")],
    ids=["capture-failed", "thread-died"],
)
def test_capture_failure_is_shown_and_r_restarts(exc, needle):
    from tui.screens.monitor import MonitorScreen

    engine = Engine()
    engine.start(_FailingReplay(str(DEMO), exc))

    async def run() -> None:
        app = _app(["-r", str(DEMO), "--speed", "100000"], engine)
        async with app.run_test(size=(120, 40)) as pilot:
            text, severity = await _notification(app, pilot, needle)
            assert severity == "error" and "press r" in text
            assert engine.snapshot(top=0).packets > 0  # what was counted stays
            await pilot.press("r")
            await _until(pilot, lambda: app.engine is not engine and app.engine is not None)
            await _until(pilot, lambda: app.engine.snapshot(top=0).state == "ended", timeout=20)
            assert app.engine.snapshot(top=0).packets > engine.snapshot(top=0).packets
            await _until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.engine is app.engine)

    try:
        asyncio.run(run())
    finally:
        engine.stop()
