"""The `s` key in the monitor: a real app on a file replay saves a snapshot and says where."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from conftest import _skip
from test_snapshots import read_ours, read_tshark, tmpfs

pytestmark = pytest.mark.timeout(120)


def _app(path: Path, snapshot_dir: Path):
    if not (Path(__file__).resolve().parent.parent / "tui" / "app.py").is_file():
        _skip("the monitor (tui/app.py) is not in this tree")
    from tui.app import SockscopeApp
    from tui.cli import build_parser

    args = build_parser().parse_args(["-r", str(path), "--speed", "100000", "--snapshot-dir", str(snapshot_dir)])
    return SockscopeApp(args, watch_links=False)


async def _replay_ended(app, pilot) -> None:
    for _ in range(200):
        engine = app.engine
        if engine is not None and engine.snapshot(top=0).state == "ended":
            await pilot.pause(0.3)  # a refresh or two of the monitor
            return
        await pilot.pause(0.05)
    raise AssertionError("the replay did not end")


async def _notification(app, pilot, needle: str) -> tuple[str, str]:
    for _ in range(200):
        for n in list(app._notifications):
            if needle in n.message:
                return n.message, n.severity
        await pilot.pause(0.05)
    raise AssertionError(f"no notification with {needle!r}: {[n.message for n in app._notifications]}")


def _sample(pcaps_dir: Path) -> Path:
    path = pcaps_dir / "ndpi" / "quickplay.pcap"
    if not path.is_file():
        _skip(f"{path} not found")
    return path


def test_s_saves_capture_summary_and_screen_and_says_where(pcaps_dir, tmp_path):
    path = _sample(pcaps_dir)
    snaps = tmp_path / "snaps"

    async def run() -> tuple[str, str, list]:
        app = _app(path, snaps)
        async with app.run_test(size=(120, 40)) as pilot:
            await _replay_ended(app, pilot)
            await pilot.press("s")
            message, severity = await _notification(app, pilot, "Saved ")
            ring = app.engine.ring_frames()
            # a second press while the first is written gets its own folder
            await pilot.press("s")
            await pilot.press("s")
            for _ in range(100):
                if len([n for n in app._notifications if n.message.startswith("Saved ")]) >= 3:
                    break
                await pilot.pause(0.05)
            return message, severity, ring

    message, severity, ring = asyncio.run(run())
    folders = sorted(snaps.iterdir())
    assert len(folders) == 3 and all(f.name.startswith("quickplay-") for f in folders)
    assert severity == "information"
    assert message == f"Saved {len(ring)} packets to {folders[0]}"
    for folder in folders:
        assert sorted(p.name for p in folder.iterdir()) == ["capture.pcapng", "screen.svg", "summary.json"]
        frames, _ = read_ours(folder / "capture.pcapng")
        assert [(f[0], f[3], f[4]) for f in frames] == [(f[0], f[3], bytes(f[4])) for f in ring]
        assert len(read_tshark(folder / "capture.pcapng")) == len(ring) == 155
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["packets"] == 155 and summary["source"]["name"] == str(path)
        svg = (folder / "screen.svg").read_text(encoding="utf-8")
        assert svg.lstrip().startswith("<svg") and "quickplay" in svg


def test_s_on_a_read_only_folder_is_an_error_notification_and_the_monitor_goes_on(pcaps_dir, tmp_path):
    path = _sample(pcaps_dir)
    with tmpfs(tmp_path / "ro", read_only=True) as disk:

        async def run() -> tuple[str, str, str]:
            app = _app(path, disk / "existing")
            async with app.run_test(size=(120, 40)) as pilot:
                await _replay_ended(app, pilot)
                await pilot.press("s")
                message, severity = await _notification(app, pilot, "not saved")
                await pilot.pause(0.3)
                return message, severity, type(app.screen).__name__

        message, severity, screen = asyncio.run(run())
        assert severity == "error"
        assert "read-only" in message and str(disk / "existing") in message
        assert screen == "MonitorScreen"
        assert subprocess.run(["find", str(disk), "-type", "f"], capture_output=True, text=True).stdout == ""
