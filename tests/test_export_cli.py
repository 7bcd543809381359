"""`sockscope export` exit statuses and messages, as a service manager sees them."""

from __future__ import annotations

import json

from export_support import build_capture, sockscope_export


def _run(*args: str) -> tuple[int, str, str]:
    p = sockscope_export(*args)
    out, err = p.communicate(timeout=60)
    return p.returncode, out, err


def test_no_destination_is_a_usage_error(tmp_path):
    rc, _, err = _run("-r", str(tmp_path / "x.pcap"))
    assert rc == 2 and "--prometheus, --jsonl and/or --ipfix" in err


def test_bad_addresses_are_usage_errors(tmp_path):
    rc, _, err = _run("-r", "x.pcap", "--prometheus", "localhost")
    assert rc == 2 and "'localhost' is not HOST:PORT" in err
    rc, _, err = _run("-r", "x.pcap", "--ipfix", ":4739")
    assert rc == 2 and "the collector needs a host" in err
    rc, _, err = _run("-r", "x.pcap", "--ipfix", "127.0.0.1:99999")
    assert rc == 2 and "the port must be 0-65535" in err


def test_missing_file_cannot_start(tmp_path):
    rc, _, err = _run("-r", str(tmp_path / "nothing.pcap"), "--jsonl", "-")
    assert rc == 1 and "nothing.pcap" in err


def test_damaged_file_exports_what_it_read_and_exits_3(tmp_path):
    cap = build_capture(tmp_path / "whole.pcap")
    data = cap.path.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 30])  # the last packet cut short
    rc, out, err = _run("-r", str(cut), "--jsonl", "-")
    assert rc == 3, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert sum(x["packets"] for x in lines) == cap.packets - 1
    assert "warning:" in err and "packets read before it" in err


def test_bench_export_runs_at_toy_size():
    """benchmarks/bench_export.py still runs (toy sizes; its figures are for people, not asserted)."""
    import subprocess
    import sys

    from conftest import REPO

    r = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_export.py"), "--frames", "30000", "--flows", "3000",
         "--flow-cap", "1000", "--repeat", "1"],
        capture_output=True, text=True, timeout=240, cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "export CPU / capture CPU" in r.stdout and "jsonl lines" in r.stdout and "queue lost 0" in r.stdout
