"""`sockscope report` as a user runs it: a subprocess, its JSON checked key by key and type by type."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys

import pytest
from conftest import REPO, _skip, wait_packet_socket

SOCKET_KINDS = ("stream", "datagram", "raw")
TOP_KEYS = {
    "source": dict,
    "packets": int,
    "bytes": int,
    "malformed": int,
    "kernel_drops": int,
    "flows_evicted": int,
    "duration_s": float,
    "socket_kinds": dict,
    "protocols": dict,
    "use_cases": dict,
    "flows": list,
}
FLOW_KEYS = {
    "proto": (str,),
    "src": (str,),
    "sport": (int, type(None)),
    "dst": (str,),
    "dport": (int, type(None)),
    "app": (str, type(None)),
    "use_case": (str,),
    "reason": (str, type(None)),
    "name": (str, type(None)),
    "packets": (int,),
    "bytes": (int,),
    "first_seen": (float,),
    "last_seen": (float,),
}
# Keys other issues add to each flow (issue 7: process attribution and names); nothing else may appear.
FLOW_EXTENSIONS = {
    "pid": (int, type(None)),
    "process": (str, type(None)),
    "user": (str, type(None)),
    "container": (str, type(None)),
    "src_host": (str, type(None)),
    "dst_host": (str, type(None)),
}
PORT_PROTOCOLS = {"TCP", "UDP", "SCTP", "UDP-Lite"}


def sockscope(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui", "report", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )


def _count(d: dict) -> None:
    assert set(d) == {"packets", "bytes"}
    assert type(d["packets"]) is int and type(d["bytes"]) is int
    assert d["packets"] >= 0 and d["bytes"] >= 0


def validate(report: dict) -> None:
    """Every key and type of issue 3's layout, and the sums that tie its parts together."""
    assert set(report) == set(TOP_KEYS)
    for key, typ in TOP_KEYS.items():
        assert type(report[key]) is typ, key
    assert set(report["source"]) == {"kind", "name"} and report["source"]["kind"] in ("file", "live")
    assert isinstance(report["source"]["name"], str)
    assert tuple(report["socket_kinds"]) == SOCKET_KINDS
    for section in ("socket_kinds", "protocols", "use_cases"):
        for v in report[section].values():
            _count(v)
    kinds = report["socket_kinds"].values()
    assert sum(k["packets"] for k in kinds) == report["packets"]
    assert sum(k["bytes"] for k in kinds) == report["bytes"]
    assert sum(u["packets"] for u in report["use_cases"].values()) == report["packets"]
    for flow in report["flows"]:
        assert set(FLOW_KEYS) <= set(flow) <= set(FLOW_KEYS) | set(FLOW_EXTENSIONS)
        for key, types in {**FLOW_KEYS, **FLOW_EXTENSIONS}.items():
            if key in flow:
                assert type(flow[key]) in types, (key, flow)
        if flow["proto"] in PORT_PROTOCOLS:
            assert isinstance(flow["sport"], int) and isinstance(flow["dport"], int)
        else:
            assert flow["sport"] is None and flow["dport"] is None, flow
        assert flow["first_seen"] <= flow["last_seen"]
    sizes = [f["bytes"] for f in report["flows"]]
    assert sizes == sorted(sizes, reverse=True)


def test_json_schema_on_a_pcap(pcaps_dir):
    """Ethernet, IPv4/IPv6, TCP, UDP, ICMP in one file; totals as capinfos counts them."""
    path = pcaps_dir / "ndpi" / "whatsapp_voice_and_message.pcap"
    r = sockscope("-r", str(path), "--format", "json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1  # exactly one JSON object
    report = json.loads(r.stdout)
    validate(report)
    assert report["source"] == {"kind": "file", "name": str(path)}
    if shutil.which("capinfos"):
        out = subprocess.run(["capinfos", "-T", "-r", "-c", "-d", "-M", str(path)], capture_output=True, text=True)
        _name, packets, size = out.stdout.strip().split("\t")
        assert (report["packets"], report["bytes"]) == (int(packets), int(size))
    assert sum(f["packets"] for f in report["flows"]) == report["packets"]  # no flow evicted in a file this size
    assert report["kernel_drops"] == 0 and report["flows_evicted"] == 0
    assert report["duration_s"] > 0


@pytest.mark.parametrize("name", ["ndpi/malformed_icmp.pcap", "tcpdump/icmpv6.pcap", "tcpdump/802.1ad_QinQ.pcap"])
def test_portless_flows_have_null_ports(pcaps_dir, name):
    report = json.loads(sockscope("-r", str(pcaps_dir / name), "--format", "json").stdout)
    validate(report)
    assert any(f["sport"] is None for f in report["flows"])


def test_top_limits_flows(pcaps_dir):
    path = str(pcaps_dir / "ndpi" / "whatsapp_voice_and_message.pcap")
    full = json.loads(sockscope("-r", path, "--format", "json").stdout)
    top = json.loads(sockscope("-r", path, "--format", "json", "--top", "2").stdout)
    assert len(full["flows"]) > 2 and top["flows"] == full["flows"][:2]
    assert top["packets"] == full["packets"]


def test_table_format(pcaps_dir):
    r = sockscope("-r", str(pcaps_dir / "ndpi" / "443-curl.pcap"), "--format", "table")
    assert r.returncode == 0
    for words in ("packets   109", "socket kind", "stream", "protocol", "TCP", "192.168.1.13:55523", "hosts"):
        assert words in r.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.stdout)


def test_file_filter_matches_tcpdump(pcaps_dir):
    """-f on a file runs the same BPF program in user space: the count tcpdump -r gives."""
    if shutil.which("tcpdump") is None:
        _skip("tcpdump is not installed")
    path = str(pcaps_dir / "ndpi" / "whatsapp_voice_and_message.pcap")
    for bpf in ("udp", "tcp and port 443", "ip6", "icmp or arp"):
        theirs = subprocess.run(["tcpdump", "-nn", "-r", path, bpf], capture_output=True, text=True).stdout
        report = json.loads(sockscope("-r", path, "-f", bpf, "--format", "json").stdout)
        assert report["packets"] == len(theirs.splitlines()), bpf


@pytest.mark.parametrize(
    ("args", "words", "code"),
    [
        (["-r", "/nonexistent/x.pcap"], "cannot open", 1),
        (["-r", "/etc/hostname"], "not a pcap or pcapng file", 1),
        (["-r", "{pcap}", "-f", "udp port"], "bad capture filter", 1),
        (["-r", "{pcap}", "-i", "lo"], "not allowed with", 2),
        (["--duration", "-1", "-i", "lo"], "--duration must be positive", 2),
    ],
)
def test_errors_on_stderr_with_nonzero_exit(pcaps_dir, args, words, code):
    pcap = str(pcaps_dir / "ndpi" / "443-curl.pcap")
    r = sockscope(*[a.replace("{pcap}", pcap) for a in args])
    assert r.returncode == code
    assert words in r.stderr and r.stdout == ""
    assert "Traceback" not in r.stderr


def test_damaged_file_prints_what_it_read_and_exits_3(pcaps_dir, tmp_path):
    data = (pcaps_dir / "ndpi" / "443-curl.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: len(data) // 2])
    r = sockscope("-r", str(path), "--format", "json")
    assert r.returncode == 3
    assert "cut short at offset" in r.stderr and "packets read before it" in r.stderr
    report = json.loads(r.stdout)
    validate(report)
    assert 0 < report["packets"] < 109


def test_live_report_with_kernel_filter(net_raw):
    """-i lo with a filter for this test's port: exactly the datagrams sent, each once."""
    port = random.randint(20_000, 60_000)
    p = subprocess.Popen(
        [sys.executable, "-m", "tui", "report", "-i", "lo", "--duration", "4", "-f", f"udp port {port}"]
        + ["--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        wait_packet_socket(p, socket.if_nametoindex("lo"))  # the clock starts once it is open
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind(("127.0.0.1", port))
        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(12):
            cli.sendto(b"z" * 40, ("127.0.0.1", port))
        cli.close()
        srv.close()
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    report = json.loads(out)
    validate(report)
    assert report["source"] == {"kind": "live", "name": "lo"}
    assert report["packets"] == 12 and report["bytes"] == 12 * (14 + 20 + 8 + 40)
    assert report["socket_kinds"]["datagram"] == {"packets": 12, "bytes": report["bytes"]}
    (flow,) = report["flows"]
    assert (flow["proto"], flow["dport"], flow["packets"]) == ("UDP", port, 12)
    assert 3.5 < report["duration_s"] < 8
