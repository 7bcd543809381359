"""Faults: the interface vanishes or changes under the capture, damaged files, signals.

Live parts capture on the host end of a veth into a test namespace with frames sent raw
from inside it; the signal tests run the real monitor in a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.hostile_traffic import RawSender, udp_frame
from tui.engine import Engine
from tui.sources.live import LiveSource

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "tui" / "data" / "demo.pcapng"
pytestmark = pytest.mark.timeout(120)


def _frames(ns, n: int, tag: int) -> list[bytes]:
    src, dst = bytes(map(int, ns.peer_ip.split("."))), bytes(map(int, ns.host_ip.split(".")))
    return [udp_frame(src, 40000 + tag, dst, 9, struct.pack("!II", tag, i)) for i in range(n)]


def _send(ns, frames: list[bytes]) -> int:
    with ns.entered():
        sender = RawSender(ns.peer)
    try:
        sender.send(frames, deadline=time.monotonic() + 10)
    finally:
        sender.close()
    return sender.sent


def _wait_packets(engine: Engine, n: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = engine.snapshot(top=0).packets
        if got >= n:
            return got
        time.sleep(0.05)
    return engine.snapshot(top=0).packets


def _wait_state(engine: Engine, states: tuple[str, ...], timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and engine.state not in states:
        time.sleep(0.05)
    return engine.state


# ----------------------------------------------------------------------------- interface faults
@pytest.mark.live
@pytest.mark.netns
def test_interface_removed_mid_capture_ends_with_message_and_keeps_data(netns):
    engine = Engine()
    thread = engine.start(LiveSource(netns.host))
    sent = _send(netns, _frames(netns, 50, 1))
    assert _wait_packets(engine, sent) >= sent
    subprocess.run(["ip", "link", "del", netns.host], check=True)
    state = _wait_state(engine, ("ended", "error"))
    thread.join(5)
    snap = engine.snapshot(top=None)
    assert state == "ended", (state, engine.message)
    assert not thread.is_alive()
    assert f"interface {netns.host} was removed" in (snap.message or "")
    assert snap.packets >= sent and len(engine.ring_frames()) >= sent  # the data is kept
    assert any(f.dport == 9 and f.packets_ab == sent for f in snap.flows)


@pytest.mark.live
@pytest.mark.netns
def test_report_interface_removed_prints_what_it_counted(netns):
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "report", "-i", netns.host, "--duration", "20", "--format", "json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # start-up: imports, socket, ring
        sent = _send(netns, _frames(netns, 30, 2))
        time.sleep(0.5)
        t0 = time.monotonic()
        subprocess.run(["ip", "link", "del", netns.host], check=True)
        out, err = proc.communicate(timeout=15)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 10, "report did not end when its interface went away"
    assert proc.returncode == 3, err
    assert "was removed" in err
    report = json.loads(out)
    assert report["packets"] >= sent
    assert "Traceback" not in err


@pytest.mark.live
@pytest.mark.netns
def test_link_down_up_mtu_and_address_change_capture_continues(netns):
    engine = Engine()
    thread = engine.start(LiveSource(netns.host))
    total = 0
    changes = [
        ("down/up", [["ip", "link", "set", netns.host, "down"], ["ip", "link", "set", netns.host, "up"]]),
        ("mtu", [["ip", "link", "set", netns.host, "mtu", "1400"]]),
        ("address", [["ip", "addr", "add", "192.0.2.250/32", "dev", netns.host]]),
        ("address removed", [["ip", "addr", "del", "192.0.2.250/32", "dev", netns.host]]),
    ]
    try:
        total += _send(netns, _frames(netns, 20, 10))
        assert _wait_packets(engine, total) >= total
        for tag, (label, cmds) in enumerate(changes, start=11):
            for cmd in cmds:
                subprocess.run(cmd, check=True)
            _wait_carrier(netns.host)
            time.sleep(0.3)
            total += _send(netns, _frames(netns, 20, tag))
            got = _wait_packets(engine, total)
            assert engine.state == "running" and thread.is_alive(), (label, engine.message)
            assert got >= total, f"after {label}: {got} of {total} frames"
    finally:
        engine.stop()
    flows = {f.sport: f.packets_ab for f in engine.snapshot(top=None).flows if f.dport == 9}
    assert all(flows.get(40000 + t) == 20 for t in range(10, 15)), flows


def _wait_carrier(iface: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/sys/class/net/{iface}/operstate").read_text().strip() == "up":
                return
        except OSError:
            pass
        time.sleep(0.05)


# ----------------------------------------------------------------------------- damaged files
def _pcap(records: list[tuple[bytes, int]]) -> bytes:
    """A classic pcap; each record (frame, claimed captured length)."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for i, (data, incl) in enumerate(records):
        out += struct.pack("<IIII", 1_700_000_000 + i, 0, incl, len(data)) + data
    return out


FRAME = b"\x02" * 12 + b"\x08\x00" + b"\x45\x00\x00\x14" + b"\x00" * 16


def _report(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui", "report", "-r", str(path), "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_corrupt_pcap_record_names_offset_and_packets_read(tmp_path):
    records = [(FRAME, len(FRAME))] * 10
    records[6] = (FRAME, 0x7FFFFFFF)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(_pcap(records))
    r = _report(path)
    offset = 24 + 6 * (16 + len(FRAME))
    assert r.returncode == 3, r.stderr
    assert f"offset {offset}" in r.stderr and "6 packets read" in r.stderr, r.stderr
    assert json.loads(r.stdout)["packets"] == 6


def test_truncated_pcapng_names_offset_and_packets_read(tmp_path):
    data = DEMO.read_bytes()
    path = tmp_path / "truncated.pcapng"
    path.write_bytes(data[: len(data) // 2])
    r = _report(path)
    assert r.returncode == 3, r.stderr
    assert "offset" in r.stderr and "packets read" in r.stderr, r.stderr
    read = int(r.stderr.split(" packets read")[0].rsplit(" ", 1)[-1])
    assert read > 0 and json.loads(r.stdout)["packets"] == read


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.pcap"
    path.write_bytes(os.urandom(4096))
    r = _report(path)
    assert r.returncode != 0 and r.stderr.startswith("sockscope: ") and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- signals
class _PtyApp:
    """The monitor in a pseudo-terminal: output drained in a thread, terminal modes readable."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.master, self.slave = pty.openpty()
        termios.tcsetattr(self.slave, termios.TCSANOW, termios.tcgetattr(self.slave))
        self.modes_before = termios.tcgetattr(self.slave)
        self.out = bytearray()
        self.proc = subprocess.Popen(
            argv,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            cwd=REPO,
            start_new_session=True,
            env={**os.environ, "TERM": "xterm-256color", **(env or {})},
        )
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if ready:
                    self.out += os.read(self.master, 65536)
            except OSError:
                return

    def wait_output(self, needle: bytes, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.out:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.1)
        self._stop.set()
        self._reader.join(2)
        os.close(self.master)
        os.close(self.slave)


ALT_ON, ALT_OFF = b"\x1b[?1049h", b"\x1b[?1049l"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_restores_terminal_and_saves_snapshot_on_exit(sig):
    snaps = Path(tempfile.mkdtemp(prefix="sockscope-sig-"))
    app = _PtyApp([sys.executable, "-m", "tui", "-r", str(DEMO), "--snapshot-on-exit", "--snapshot-dir", str(snaps)])
    try:
        assert app.wait_output(ALT_ON), bytes(app.out[-2000:])
        assert app.wait_output(b"sort", timeout=20), "the monitor never drew its flows panel"
        time.sleep(1.0)
        app.proc.send_signal(sig)
        rc = app.proc.wait(20)
        time.sleep(0.2)
        modes_after = termios.tcgetattr(app.slave)
        out = bytes(app.out)
    finally:
        app.close()
    assert rc == 0, out[-1500:]
    assert out.rfind(ALT_OFF) > out.find(ALT_ON) >= 0, "alternate screen not left"
    assert b"\x1b[?25h" in out[out.find(ALT_ON) :], "cursor not shown again"
    assert modes_after == app.modes_before, "terminal modes (echo, canonical input) not restored"
    assert modes_after[3] & termios.ECHO and modes_after[3] & termios.ICANON
    folders = list(snaps.iterdir())
    assert len(folders) == 1, folders
    assert sorted(p.name for p in folders[0].iterdir() if p.suffix in (".pcapng", ".json")) == [
        "capture.pcapng",
        "summary.json",
    ]
    assert b"Saved" in out or b"saved" in out
    summary = json.loads((folders[0] / "summary.json").read_text())
    assert summary["packets"] > 0
