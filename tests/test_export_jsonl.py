"""`sockscope export --jsonl`: one JSON line per flow record, parsed line by line, under
log rotation (the file renamed mid-run), on a full disk, on stdout, and live until SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, _skip, net_raw_reason
from export_support import build_capture, sockscope_export, stop, wait_for

REPORT_FLOW_KEYS = ["proto", "src", "sport", "dst", "dport", "app", "use_case", "reason", "name", "packets", "bytes",
                    "first_seen", "last_seen", "pid", "process", "user", "container"]  # fmt: skip


def _lines(path) -> list[dict]:
    """Every line of a file parsed on its own: a split or glued line fails here."""
    raw = path.read_bytes()
    assert not raw or raw.endswith(b"\n"), f"{path} ends inside a line"
    return [json.loads(line) for line in raw.decode().splitlines()]


def test_lines_are_the_report_flow_plus_stream_fields(tmp_path):
    cap = build_capture(tmp_path / "known.pcap")
    out = tmp_path / "flows.jsonl"
    exp = sockscope_export("-r", str(cap.path), "--jsonl", str(out))
    _, err = exp.communicate(timeout=60)
    assert exp.returncode == 0, err
    lines = _lines(out)
    assert len(lines) == len(cap.flows)
    report = json.loads(subprocess.run(
        [sys.executable, "-m", "tui", "report", "-r", str(cap.path), "--format", "json"],
        capture_output=True, text=True, cwd=REPO, check=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
    ).stdout)  # fmt: skip
    by_key = {(f["src"], f["sport"], f["dst"], f["dport"]): f for f in report["flows"]}
    for line in lines:
        assert list(line)[: len(REPORT_FLOW_KEYS)] == REPORT_FLOW_KEYS
        key = (line["src"], line["sport"], line["dst"], line["dport"])
        assert {k: line[k] for k in REPORT_FLOW_KEYS} == by_key[key]
        assert line["event"] == "end" and line["end_reason"] == "end of capture"
        assert line["packets_delta"] == line["packets"] == line["packets_ab"] + line["packets_ba"]
        assert line["bytes_delta"] == line["bytes"]
        assert line["source"] == {"kind": "file", "name": str(cap.path)}
    truth = {(f.src, f.sport, f.dst, f.dport): f for f in cap.flows}
    for line in lines:
        f = truth[(line["src"], line["sport"], line["dst"], line["dport"])]
        assert (line["packets_ab"], line["bytes_ab"], line["packets_ba"], line["bytes_ba"]) == (
            f.packets_ab, f.bytes_ab, f.packets_ba, f.bytes_ba)  # fmt: skip
    assert "jsonl 12 lines sent, 0 not sent" in err


def test_line_encoder_equals_the_record_dict_for_hostile_strings():
    """The hand-built line (fast path) says exactly what json.dumps of record_dict says, for
    names with newlines, quotes, escapes, control and non-ASCII characters."""
    from tui.export.jsonl import encode, record_dict
    from tui.export.tracker import FlowDelta, FlowRecord
    from tui.snapshot import FlowView

    nasty = ["a\nb", 'q"uo\\te', "\x1b[31mred", "\u202eevil", "日本", "\x00nul", ""]
    recs = []
    for i, text in enumerate(nasty):
        v = FlowView(id=i, proto="UDP", family=6, src="2001:db8::1", sport=None if i % 2 else 5, dst="2001:db8::2",
                     dport=None if i % 2 else 6, app=text or None, use_case="web", reason=text, name=text,
                     packets_ab=1, bytes_ab=2, packets_ba=3, bytes_ba=4, first_seen=0.1 + i, last_seen=1e9 / 3,
                     state="", process=text, user=None, container=text, owner_note=text)  # fmt: skip
        recs.append(FlowRecord("end", "idle", FlowDelta(v, 1, 2, 3, 4), 0.5, text or None))
    lines = encode(recs, "host\n1", {"kind": "live", "name": "eth0\t"})
    for line, r in zip(lines, recs, strict=True):
        assert line.endswith(b"\n") and line.count(b"\n") == 1 and line.isascii()
        got = json.loads(line)
        want = record_dict(r, "host\n1", {"kind": "live", "name": "eth0\t"}, got["exported_at"])
        assert list(got) == list(want) and got == want


def test_rotation_renamed_file_reopened_no_line_lost_or_split(tmp_path):
    """logrotate's way: rename the file (twice), the exporter opens the path again by
    itself; SIGHUP in between must not kill it.  Deltas over every line of every file add
    up to each flow's packets exactly."""
    cap = build_capture(tmp_path / "slow.pcap", dns=2, http=2, udp6=0, long_flows=4, span=6.0)
    out = tmp_path / "flows.jsonl"
    exp = sockscope_export("-r", str(cap.path), "--speed", "1", "--jsonl", str(out), "--active-timeout", "0.3",
                           "--tick", "0.2")  # fmt: skip
    try:
        wait_for(lambda: out.exists() and out.stat().st_size > 0, 20, "the first lines")
        time.sleep(1.5)
        os.rename(out, tmp_path / "flows.jsonl.1")
        wait_for(out.exists, 10, "the exporter to open the path again")
        time.sleep(1.0)
        exp.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        os.rename(out, tmp_path / "flows.jsonl.2")
        _, err = exp.communicate(timeout=60)
    finally:
        if exp.poll() is None:
            exp.kill()
            exp.communicate()
    assert exp.returncode == 0, err
    files = [tmp_path / "flows.jsonl.1", tmp_path / "flows.jsonl.2", out]
    per_file = [_lines(p) for p in files]
    assert all(per_file), [len(x) for x in per_file]  # each of the three got lines
    lines = [x for f in per_file for x in f]
    sent = int(err.split("jsonl ")[1].split(" lines sent")[0])
    assert sent == len(lines)
    truth = {(f.src, f.sport, f.dst, f.dport): f for f in cap.flows}
    got: dict[tuple, list[int]] = {}
    ends: dict[tuple, int] = {}
    for line in lines:
        key = (line["src"], line["sport"], line["dst"], line["dport"])
        acc = got.setdefault(key, [0, 0, 0, 0])
        acc[0] += line["packets_ab_delta"]
        acc[1] += line["bytes_ab_delta"]
        acc[2] += line["packets_ba_delta"]
        acc[3] += line["bytes_ba_delta"]
        ends[key] = ends.get(key, 0) + (line["event"] == "end")
    assert got == {k: [f.packets_ab, f.bytes_ab, f.packets_ba, f.bytes_ba] for k, f in truth.items()}
    assert set(ends.values()) == {1}
    assert sum(line["event"] == "update" for line in lines) > 10


def test_disk_full_counts_lines_not_written(tmp_path):
    cap = build_capture(tmp_path / "known.pcap")
    exp = sockscope_export("-r", str(cap.path), "--jsonl", "/dev/full")
    _, err = exp.communicate(timeout=60)
    assert exp.returncode == 0, err
    assert "cannot write to /dev/full: the disk is full; 12 lines not written" in err
    assert "jsonl 0 lines sent, 12 not sent" in err
    assert f"{cap.packets} packets" in err  # the capture went on to the end


def test_small_filesystem_fills_up_without_a_split_line(tmp_path):
    """A 4 KiB tmpfs fills part-way through a batch: the batch is cut back, the file holds
    whole lines only, and written + not written = every record."""
    if os.geteuid() != 0:
        _skip("mounting a tiny tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        _skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        cap = build_capture(tmp_path / "slow.pcap", dns=0, http=0, udp6=0, long_flows=3, span=3.0)
        out = mnt / "flows.jsonl"
        exp = sockscope_export("-r", str(cap.path), "--speed", "1", "--jsonl", str(out), "--active-timeout", "0.5",
                               "--tick", "0.5")  # fmt: skip
        _, err = exp.communicate(timeout=60)
        assert exp.returncode == 0, err
        assert "the disk is full" in err
        lines = _lines(out)
        last = err.strip().splitlines()[-1]
        sent = int(last.split("jsonl ")[1].split(" lines sent")[0])
        failed = int(last.split("lines sent, ")[1].split(" not sent")[0])
        assert sent == len(lines) > 0 and failed > 0
        # Every record is counted once, written or not: at most one update per flow per active
        # timeout of capture time, and one end each.
        assert 3 < sent + failed <= 3 * int(3.0 / 0.5) + 3
        assert sum(line["event"] == "end" for line in lines) <= 3
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_stdout_lines_logs_on_stderr(tmp_path):
    cap = build_capture(tmp_path / "known.pcap")
    exp = sockscope_export("-r", str(cap.path), "--jsonl", "-")
    out, err = exp.communicate(timeout=60)
    assert exp.returncode == 0, err
    assert [json.loads(x)["event"] for x in out.splitlines()] == ["end"] * len(cap.flows)
    assert "sockscope export: stopped (end of file)" in err


def test_live_sigterm_exports_open_flows_and_exits_zero(tmp_path):
    reason = net_raw_reason()
    if reason:
        _skip(reason)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    dport = sink.getsockname()[1]
    out = tmp_path / "flows.jsonl"
    exp = sockscope_export("-i", "lo", "-f", f"udp and dst port {dport}", "--jsonl", str(out), "--no-attribution")
    try:
        wait_for(lambda: "capturing live on lo" in _peek_stderr(exp), 20, "the capture to start")
        time.sleep(0.5)  # the socket is bound before the log line; give the engine thread a moment
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.bind(("127.0.0.1", 0))
            for _ in range(25):
                tx.sendto(b"x" * 50, ("127.0.0.1", dport))
        time.sleep(1.5)
        rc, _, err = stop(exp)
    finally:
        sink.close()
    assert rc == 0, err
    assert "stopped (SIGTERM)" in err
    (line,) = _lines(out)
    assert line["event"] == "end" and line["end_reason"] == "end of capture"
    assert line["packets"] == 25 and line["bytes"] == 25 * (14 + 20 + 8 + 50)
    assert line["interface"] == "lo" and line["source"]["kind"] == "live"


def _peek_stderr(p: subprocess.Popen) -> str:
    """What stderr said so far, without waiting (the pipe is non-blocking after the first
    call); kept on the Popen object, since communicate() later reads only the rest."""
    fd = p.stderr.fileno()
    os.set_blocking(fd, False)
    try:
        chunk = os.read(fd, 65536).decode()
    except BlockingIOError:
        chunk = ""
    p.stderr_seen = getattr(p, "stderr_seen", "") + chunk
    return p.stderr_seen


def test_netns_capture_names_the_process_inside(tmp_path, netns):
    """`--netns`: the capture and the process lookups happen inside a test namespace; real
    datagrams from the host to a server in there are exported with that server's name."""
    server = netns.python(
        "import socket, sys, time\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 47123))\n"
        "print('ready', flush=True); time.sleep(30)\n",
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout.readline().strip() == "ready"
    comm = Path(f"/proc/{server.pid}/comm").read_text().strip()
    out = tmp_path / "flows.jsonl"
    exp = sockscope_export("-i", netns.peer, "--netns", netns.name, "-f", "udp port 47123", "--jsonl", str(out))
    try:
        wait_for(lambda: "capturing live on" in _peek_stderr(exp), 20, "the capture to start")
        time.sleep(1.0)  # the attributor's first dump, and the engine thread under way
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for _ in range(30):
                tx.sendto(b"y" * 40, (netns.peer_ip, 47123))
                time.sleep(0.002)
        time.sleep(1.5)  # a tick of the attributor (0.5 s) and of the exporter (1 s)
        rc, _, err = stop(exp)
    finally:
        if exp.poll() is None:
            exp.kill()
    assert rc == 0, err
    (line,) = _lines(out)
    assert line["packets"] == 30 and line["dst"] == netns.peer_ip and line["dport"] == 47123
    assert line["interface"] == netns.peer
    assert line["pid"] == server.pid and line["process"] == comm
