"""Snapshots: the ring saved as pcapng must read back identically with our reader, scapy and tshark.

Frames come from real captures (live on a veth into a test namespace, and replays of the
sample captures with several link types) or, for the disk tests, from scapy-built packets
fed to a real engine.  Full and read-only disks are real tmpfs mounts the tests make.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import _skip

from tui.engine import Engine
from tui.report import report_dict
from tui.snapshot import IN, OUT
from tui.snapshot_files import SnapshotError, save_snapshot
from tui.sources.pcapfile import PcapSource

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parent.parent

# One sample per link type: Ethernet, Linux cooked, raw IP, BSD loopback, PPP, IPv4, IPNET, ARCnet.
LINKTYPE_SAMPLES = (
    "ndpi/443-curl.pcap",
    "ndpi/quickplay.pcap",
    "ndpi/dingtalk.pcap",
    "ndpi/nats.pcap",
    "tcpdump/mpls-traceroute.pcap",
    "ndpi/ossfuzz_seed_fake_traces_1.pcapng",
    "tcpdump/e1000g.pcap",
    "tcpdump/arcnet-rfc1201-arp-icmp-http.pcap",
)


# ---------------------------------------------------------------- sources
class ChainedFiles:
    """Several capture files replayed one after another, each as an interface of its own.

    Gives one engine frames of many link types and interfaces, as `any` would live.
    """

    kind = "file"

    def __init__(self, paths: list[Path]) -> None:
        self.sources = [PcapSource(str(p)) for p in paths]
        self.name = "+".join(p.name for p in paths)
        self.end_reason: str | None = None

    def batches(self, stop: threading.Event) -> Iterator[list[tuple]]:
        for i, src in enumerate(self.sources, start=1):
            for batch in src.batches(stop):
                yield [(f[0], 100 * i + f[1], f[2], f[3], f[4], f[5]) for f in batch]
        self.end_reason = "end of file"

    def stats(self) -> tuple[int, int]:
        return (0, 0)

    def interfaces(self) -> dict[int, tuple[str, int]]:
        out = {}
        for i, src in enumerate(self.sources, start=1):
            for k, v in src.interfaces().items():
                out[100 * i + k] = v
        return out

    def close(self) -> None:
        for src in self.sources:
            src.close()


def sample_paths(pcaps_dir: Path) -> list[Path]:
    paths = [pcaps_dir / rel for rel in LINKTYPE_SAMPLES if (pcaps_dir / rel).is_file()]
    if len(paths) < 3:
        _skip(f"fewer than 3 of the link-type samples found under {pcaps_dir}")
    return paths


def scapy_frames(n: int = 200, payload: int = 1000) -> list[tuple]:
    """Real Ethernet/IPv4/UDP frames built with scapy, both directions, ns timestamps."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    frames = []
    t0 = 1_700_000_000_123_456_789
    for i in range(n):
        out = i % 2 == 0
        src, dst = ("192.0.2.1", "192.0.2.2") if out else ("192.0.2.2", "192.0.2.1")
        pkt = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst)
        sport, dport = (40000 + i % 7, 5000) if out else (5000, 40000 + (i - 1) % 7)
        pkt /= UDP(sport=sport, dport=dport) / (bytes([i % 256]) * (payload + i % 5))
        data = bytes(pkt)
        frames.append((t0 + i * 1_000_003, 3, OUT if out else IN, len(data), data, 1))
    return frames


def engine_with(frames: list[tuple], **kw) -> Engine:
    engine = Engine(idle_timeout=None, **kw)
    engine.process(frames)
    return engine


# ---------------------------------------------------------------- readers
def read_ours(path: Path) -> tuple[list[tuple], dict[int, tuple[str, int]]]:
    src = PcapSource(str(path))
    try:
        frames = [(f[0], f[1], f[2], f[3], bytes(f[4]), f[5]) for f in src.frames()]
        assert src.warning is None, src.warning
        return frames, src.interfaces()
    finally:
        src.close()


def read_scapy(path: Path) -> list[tuple]:
    """(ts_ns, wire_len, data, linktype, interface name, direction) per packet, by scapy."""
    from scapy.utils import RawPcapNgReader

    out = []
    with RawPcapNgReader(str(path)) as reader:
        for data, meta in reader:
            assert meta.tsresol == 1_000_000_000
            ts = (meta.tshigh << 32) | meta.tslow
            out.append((ts, meta.wirelen, bytes(data), meta.linktype, meta.ifname.decode(), meta.direction))
    return out


TSHARK_FIELDS = (
    "frame.time_epoch",
    "frame.len",
    "frame.cap_len",
    "frame.interface_name",
    "frame.encap_type",
    "frame.packet_flags_direction",
    "frame.comment",
    "frame.protocols",
)


def read_tshark(path: Path, fields: tuple[str, ...] = TSHARK_FIELDS) -> list[list[str]]:
    """Fields per packet as tshark prints them; fails on any warning on stderr."""
    if shutil.which("tshark") is None:
        _skip("tshark is not installed (apt-get install tshark)")
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    # tshark's note about running as root is about the process, not the file.
    noise = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("Running as user")]
    assert p.returncode == 0 and noise == [], p.stderr
    return [ln.split("\t") for ln in p.stdout.splitlines()]


def epoch_text(ts_ns: int) -> str:
    return f"{ts_ns // 1_000_000_000}.{ts_ns % 1_000_000_000:09d}"


def assert_capture_matches_ring(path: Path, ring: list[tuple], names: dict[int, tuple[str, int]], live: bool) -> None:
    """Our reader, scapy and tshark all see exactly the ring: count, bytes, times, link types, names."""
    ours, ifaces = read_ours(path)
    assert len(ours) == len(ring)
    for got, want in zip(ours, ring, strict=True):
        ts, gid, direction, wire_len, data, linktype = got
        assert (ts, wire_len, data, linktype) == (want[0], want[3], bytes(want[4]), want[5])
        assert ifaces[gid] == (names[want[1]][0], want[5])
        if live or want[2] == OUT:
            assert direction == want[2]

    sc = read_scapy(path)
    assert len(sc) == len(ring)
    for (ts, wirelen, data, linktype, ifname, direction), want in zip(sc, ring, strict=True):
        assert (ts, wirelen, data, linktype, ifname) == (want[0], want[3], bytes(want[4]), want[5], names[want[1]][0])
        if live:
            assert direction == (1 if want[2] == IN else 2)

    ts_rows = read_tshark(path)
    assert len(ts_rows) == len(ring)
    for row, want in zip(ts_rows, ring, strict=True):
        epoch, length, caplen, ifname, _encap, flag_dir, comment, _protos = row
        assert (epoch, int(length), int(caplen), ifname) == (
            epoch_text(want[0]),
            want[3],
            len(want[4]),
            names[want[1]][0],
        )
        assert comment.startswith("sockscope flow=")
        if live:
            assert int(flag_dir, 0) == (1 if want[2] == IN else 2)


def report_of(path: Path) -> dict:
    """`sockscope report -r FILE --format json`, run as a user would."""
    p = subprocess.run(
        [sys.executable, "-m", "tui", "report", "-r", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def without_source(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "source"}


# ------------------------------------------------------------------ mounts
@contextlib.contextmanager
def tmpfs(where: Path, size: str = "64k", read_only: bool = False) -> Iterator[Path]:
    """A real tmpfs mounted for the block (needs root); always unmounted."""
    where.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)], capture_output=True, text=True
    )
    if p.returncode != 0:
        _skip(f"cannot mount a tmpfs here ({p.stderr.strip() or 'mount failed'}); run the tests as root")
    try:
        if read_only:
            (where / "existing").mkdir()
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# =================================================================== tests
def test_replay_of_many_link_types_reads_back_identically(pcaps_dir, tmp_path, classifier):
    paths = sample_paths(pcaps_dir)
    engine = Engine(classifier=classifier, idle_timeout=None)
    engine.run(ChainedFiles(paths))
    snap = engine.snapshot()
    ring = engine.ring_frames()
    assert len(ring) == snap.packets > 0

    result = save_snapshot(engine, tmp_path / "snaps", snap)

    assert result.folder.parent == tmp_path / "snaps"
    assert result.packets == len(ring) and result.bytes == snap.bytes
    assert sorted(p.name for p in result.folder.iterdir()) == ["capture.pcapng", "summary.json"]
    assert_capture_matches_ring(result.capture, ring, dict(snap.interfaces), live=False)
    _, ifaces = read_ours(result.capture)
    assert sorted(lt for _, lt in ifaces.values()) == sorted(lt for _, lt in snap.interfaces.values())
    assert len(ifaces) == len(paths)

    # tshark dissects every saved frame exactly as it dissects the originals.
    fields = ("frame.time_epoch", "frame.len", "frame.cap_len", "frame.encap_type", "frame.protocols")
    original = [row for p in paths for row in read_tshark(p, fields)]
    saved = read_tshark(result.capture, fields)
    assert len(saved) == len(original)
    for a, b in zip(saved, original, strict=True):
        assert (Decimal(a[0]), *a[1:]) == (Decimal(b[0]), *b[1:])


def test_summary_equals_report_of_saved_file(pcaps_dir, tmp_path, classifier):
    paths = sample_paths(pcaps_dir)
    engine = Engine(classifier=classifier, idle_timeout=None)
    engine.run(ChainedFiles(paths[:4]))
    result = save_snapshot(engine, tmp_path, engine.snapshot())

    summary = json.loads(result.summary.read_text())
    assert summary == report_dict(engine.snapshot())
    reopened = report_of(result.capture)
    assert reopened["source"] == {"kind": "file", "name": str(result.capture)}
    # packets, bytes, protocols, socket kinds, use cases, flows with their times, and duration
    assert without_source(reopened) == without_source(summary)
    assert summary["flows"] and summary["duration_s"] > 0


def test_report_save_writes_the_snapshot_it_prints(pcaps_dir, tmp_path):
    path = pcaps_dir / "ndpi" / "quickplay.pcap"
    if not path.is_file():
        _skip(f"{path} not found")
    p = subprocess.run(
        [sys.executable, "-m", "tui", "report", "-r", str(path), "--format", "json", "--save", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert p.returncode == 0, p.stderr
    printed = json.loads(p.stdout)
    (folder,) = (tmp_path / "s").iterdir()
    assert folder.name.startswith("quickplay-")
    assert f"saved {printed['packets']} packets to {folder}" in p.stderr
    assert (folder / "summary.json").read_text() == p.stdout  # byte for byte
    assert without_source(report_of(folder / "capture.pcapng")) == without_source(printed)


def test_wrapped_ring_saves_the_last_frames_and_counts_all(tmp_path):
    frames = scapy_frames(300, payload=50)
    engine = engine_with(frames, ring_size=120)
    result = save_snapshot(engine, tmp_path)
    assert result.packets == 120
    ours, _ = read_ours(result.capture)
    assert [f[0] for f in ours] == [f[0] for f in frames[-120:]]
    assert json.loads(result.summary.read_text())["packets"] == 300
    (row,) = read_tshark(result.capture, ("frame.number",))[:1]
    assert row == ["1"]


def test_flow_list_cut_for_display_is_saved_whole(tmp_path):
    engine = engine_with(scapy_frames(70, payload=20))
    shown = engine.snapshot(top=2)
    assert len(shown.flows) == 2 < shown.active_flows
    result = save_snapshot(engine, tmp_path, shown)
    summary = json.loads(result.summary.read_text())
    assert len(summary["flows"]) == shown.active_flows == 7


def test_summary_of_a_stale_view_is_taken_with_the_ring(tmp_path):
    """The UI's snapshot may be a refresh old: summary and capture must still agree."""
    frames = scapy_frames(60, payload=20)
    engine = engine_with(frames[:40])
    shown = engine.snapshot()
    engine.process(frames[40:])
    result = save_snapshot(engine, tmp_path, shown)
    summary = json.loads(result.summary.read_text())
    assert summary["packets"] == result.packets == 60 == len(read_ours(result.capture)[0])
    assert summary == report_dict(engine.snapshot())


def test_current_view_is_saved_as_shown(tmp_path):
    engine = engine_with(scapy_frames(30, payload=20))
    shown = engine.snapshot()
    result = save_snapshot(engine, tmp_path, shown)
    assert result.summary.read_text() == json.dumps(report_dict(shown), ensure_ascii=True) + "\n"


def test_screen_svg_saved_when_given(tmp_path):
    engine = engine_with(scapy_frames(5))
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>eth0 \u2191 1 kB/s</text></svg>'
    result = save_snapshot(engine, tmp_path, svg=svg)
    assert result.screen == result.folder / "screen.svg"
    assert result.screen.read_text(encoding="utf-8") == svg
    assert set(result.files) == {result.capture, result.summary, result.screen}


def test_empty_engine_saves_a_valid_empty_capture(tmp_path):
    result = save_snapshot(Engine(), tmp_path)
    assert result.packets == 0
    assert read_tshark(result.capture) == []
    assert read_ours(result.capture)[0] == []
    assert json.loads(result.summary.read_text())["packets"] == 0


def test_full_disk_is_a_clear_error_and_leaves_no_capture(tmp_path):
    frames = scapy_frames(200)  # about 210 kB of frames: far more than the disk holds
    engine = engine_with(frames)
    with tmpfs(tmp_path / "full", size="64k") as disk:
        with pytest.raises(SnapshotError) as info:
            save_snapshot(engine, disk / "snaps", engine.snapshot())
        err = info.value
        assert isinstance(err, OSError) and err.errno == errno.ENOSPC
        assert "capture.pcapng: the disk is full" in str(err) and "nothing was kept" in str(err)
        assert files_under(disk) == []  # no capture.pcapng, no .partial, no summary
        # The disk is usable again once the snapshot's space is given back, and the engine
        # goes on counting: a later save elsewhere holds everything.
        (disk / "probe").write_bytes(b"x" * 1000)
    engine.process(scapy_frames(3, payload=10))
    result = save_snapshot(engine, tmp_path / "ok")
    assert result.packets == 203


def test_read_only_directory_is_a_clear_error(tmp_path):
    engine = engine_with(scapy_frames(10))
    with tmpfs(tmp_path / "ro", read_only=True) as disk:
        for target in (disk / "existing", disk / "missing" / "snaps"):
            with pytest.raises(SnapshotError) as info:
                save_snapshot(engine, target)
            assert info.value.errno == errno.EROFS
            assert "read-only" in str(info.value) and "--snapshot-dir" in str(info.value)
        assert sorted(p.name for p in disk.rglob("*")) == ["existing"]


def test_permission_denied_is_a_clear_error(tmp_path):
    """An unprivileged user (uid 65534) saving into root's directory gets a plain message."""
    if os.geteuid() != 0:
        _skip("needs root to switch to an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="sockscope-perm-"))
    try:
        os.chmod(base, 0o755)
        engine = engine_with(scapy_frames(10))
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: drop to nobody, try to save, report back
            code = 1
            try:
                os.close(r)
                os.setgroups([])
                os.setresgid(65534, 65534, 65534)
                os.setresuid(65534, 65534, 65534)
                try:
                    save_snapshot(engine, base / "snaps")
                    msg = "0\tsaved"
                except SnapshotError as exc:
                    msg = f"{exc.errno}\t{exc}"
                os.write(w, msg.encode())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r) as fh:
            out = fh.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        code, msg = out.split("\t", 1)
        assert int(code) == errno.EACCES
        assert "permission denied" in msg and str(base / "snaps") in msg
        assert list(base.iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_concurrent_saves_while_capturing_stay_consistent(tmp_path):
    frames = scapy_frames(3000, payload=200)
    engine = Engine(idle_timeout=None, ring_size=10_000)
    engine.process(frames[:500])
    done = threading.Event()

    def feed() -> None:
        for i in range(500, len(frames), 50):
            engine.process(frames[i : i + 50])
            time.sleep(0.001)
        done.set()

    feeder = threading.Thread(target=feed, daemon=True)
    barrier = threading.Barrier(4)
    results: list = []
    errors: list = []

    def save() -> None:
        barrier.wait(5)
        try:
            results.append(save_snapshot(engine, tmp_path / "snaps"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    savers = [threading.Thread(target=save) for _ in range(4)]
    feeder.start()
    for t in savers:
        t.start()
    for t in savers:
        t.join(30)
    feeder.join(30)
    assert errors == [] and len(results) == 4
    folders = {r.folder for r in results}
    assert len(folders) == 4 and all(f.parent == tmp_path / "snaps" for f in folders)
    for r in results:
        ours, _ = read_ours(r.capture)
        summary = json.loads(r.summary.read_text())
        # Ring and summary come from one instant: every frame the summary counts, in order.
        assert len(ours) == summary["packets"] == r.packets
        assert [f[0] for f in ours] == [f[0] for f in frames[: len(ours)]]
        assert sorted(p.name for p in r.folder.iterdir()) == ["capture.pcapng", "summary.json"]


def test_sudo_user_owns_the_snapshot(tmp_path, monkeypatch):
    if os.geteuid() != 0:
        _skip("ownership for the sudo user needs root")
    monkeypatch.setenv("SUDO_UID", "65534")
    monkeypatch.setenv("SUDO_GID", "65534")
    engine = engine_with(scapy_frames(10))
    result = save_snapshot(engine, tmp_path / "made" / "snaps", svg="<svg/>")
    for p in (tmp_path / "made", tmp_path / "made" / "snaps", result.folder, *result.files):
        st = p.stat()
        assert (st.st_uid, st.st_gid) == (65534, 65534), p
    assert tmp_path.stat().st_uid == 0  # what existed before is left alone


def test_not_through_sudo_keeps_root_owner(tmp_path, monkeypatch):
    monkeypatch.delenv("SUDO_UID", raising=False)
    monkeypatch.delenv("SUDO_GID", raising=False)
    result = save_snapshot(engine_with(scapy_frames(3)), tmp_path)
    assert result.capture.stat().st_uid == os.geteuid()


@pytest.mark.live
@pytest.mark.netns
def test_live_veth_capture_saves_exact_nanosecond_frames(netns, live_capture, classifier, tmp_path):
    ns = netns
    server = ns.python(
        "import socket,threading,time\n"
        f"u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.bind(('{ns.peer_ip}',9999))\n"
        f"t=socket.socket(socket.AF_INET,socket.SOCK_STREAM);t.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
        f"t.bind(('{ns.peer_ip}',8080));t.listen(4);t.settimeout(8)\n"
        "print('ready',flush=True)\n"
        "c,_=t.accept();c.settimeout(5)\n"
        "for _ in range(3):\n"
        "    d=c.recv(100)\n"
        "    if not d: break\n"
        "    c.sendall(d.upper())\n"
        "c.close();time.sleep(0.5)\n",
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout.readline().strip() == "ready"
    with live_capture(ns.host, classifier=classifier) as cap:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(6):
            u.sendto(b"snapshot %d" % i, (ns.peer_ip, 9999))
        u.close()
        t = socket.create_connection((ns.peer_ip, 8080), timeout=5)
        for word in (b"one", b"two", b"three"):
            t.sendall(word)
            assert t.recv(100) == word.upper()
        t.close()
        # A save that fails mid-capture changes nothing for the capture.
        with tmpfs(tmp_path / "ro", read_only=True) as disk, pytest.raises(SnapshotError):
            save_snapshot(cap.engine, disk / "existing", cap.engine.snapshot())
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b"after the failed save", (ns.peer_ip, 9999))
        u.close()
        cap.settle(None, timeout=0.5)
    server.wait(10)
    engine = cap.engine
    snap = engine.snapshot()
    ring = engine.ring_frames()
    assert snap.protocols["UDP"].packets == 7
    assert {f[2] for f in ring} == {IN, OUT}  # TCP replies come back in
    assert any(f[0] % 1000 for f in ring), "kernel timestamps should carry nanoseconds"

    result = save_snapshot(engine, tmp_path / "snaps", snap)

    assert result.folder.name.startswith(f"{ns.host}-")
    assert result.interfaces == (ns.host,)
    assert_capture_matches_ring(result.capture, ring, dict(snap.interfaces), live=True)
    summary = json.loads(result.summary.read_text())
    reopened = report_of(result.capture)
    assert summary["source"] == {"kind": "live", "name": ns.host}
    # A live duration is wall time; the file's is first to last packet.
    assert reopened.pop("duration_s") == round(snap.last_ts - snap.first_ts, 6)
    summary.pop("duration_s")
    assert without_source(reopened) == without_source(summary)


CRASH_SAVER = """
import sys, time
sys.path.insert(0, sys.argv[2])
from test_snapshots import engine_with, scapy_frames
from tui.snapshot_files import save_snapshot
engine = engine_with(scapy_frames(300, payload=1400) * 20, ring_size=6000)
print("ready", flush=True)
while True:
    save_snapshot(engine, sys.argv[1])
    print("saved", flush=True)
"""


def test_killed_mid_save_never_leaves_a_half_capture_under_its_name(tmp_path):
    """SIGKILL a process that saves 6,000 frames (~8.6 MB) over and over, at several moments."""
    import random
    import signal

    snaps = tmp_path / "snaps"
    rng = random.Random(6)
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", CRASH_SAVER, str(snaps), str(Path(__file__).parent)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.0, 0.15))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
    captures = sorted(snaps.rglob("capture.pcapng"))
    for cap in captures:  # whatever carries the real name is whole
        frames, _ = read_ours(cap)
        assert len(frames) == 6000
    leftovers = [p.name for p in snaps.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert all(name.endswith(".partial") for name in leftovers)


def test_disk_full_after_the_capture_removes_the_whole_snapshot(tmp_path):
    """The capture fits, the summary does not: nothing of that save may stay behind."""
    engine = engine_with(scapy_frames(40))
    probe = save_snapshot(engine, tmp_path / "probe")
    pages = -(-probe.capture.stat().st_size // 4096)  # tmpfs hands out whole pages
    with tmpfs(tmp_path / "tight", size=f"{pages * 4}k") as disk:
        with pytest.raises(SnapshotError) as info:
            save_snapshot(engine, disk)
        assert info.value.errno == errno.ENOSPC
        assert "summary.json: the disk is full" in str(info.value)
        assert list(disk.iterdir()) == []
