"""Namespaces for the picker, and capturing with the raw socket opened inside one."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tui.netns_list import (
    entered,
    group_rows,
    list_namespaces,
    netns_label,
    netns_path,
    open_live_source,
)
from tui.sources.live import CaptureError

pytestmark = pytest.mark.timeout(60)


def test_netns_specs_become_paths():
    assert netns_path("blue") == "/run/netns/blue"
    assert netns_path("pid:42") == "/proc/42/ns/net"
    assert netns_path("42") == "/proc/42/ns/net"
    assert netns_path("/var/run/netns/x") == "/var/run/netns/x"
    with pytest.raises(ValueError):
        netns_path("../etc")
    assert netns_label("/run/netns/blue") == "blue"
    assert netns_label("/proc/42/ns/net") == "pid 42"


def test_named_and_process_namespaces_listed_with_interfaces(netns):
    ns = netns
    # An unnamed namespace held only by a process, as a container's is.
    holder = subprocess.Popen(["unshare", "--net", "sleep", "20"])
    try:
        deadline = time.monotonic() + 5
        # unshare makes the namespace and then execs sleep: wait for both, or the
        # listing may catch the process still named unshare.
        while (
            os.stat(f"/proc/{holder.pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
            or Path(f"/proc/{holder.pid}/comm").read_text().strip() != "sleep"
        ):
            assert time.monotonic() < deadline, "unshare did not make a namespace and exec sleep"
            time.sleep(0.02)
        spaces = list_namespaces(include_empty=True)
    finally:
        holder.kill()
        holder.wait(5)
    assert spaces[0].kind == "host" and spaces[0].spec is None
    assert any(i.name == ns.host for i in spaces[0].interfaces)
    (mine,) = [s for s in spaces if s.name == ns.name]
    assert mine.kind == "named" and mine.spec == f"/run/netns/{ns.name}"
    peer = {i.name: i for i in mine.interfaces}[ns.peer]
    assert peer.kind == "veth" and peer.state == "up"
    assert f"{ns.peer_ip}/30" in peer.addresses
    assert {i.name for i in mine.interfaces} == {"lo", ns.peer}
    (proc,) = [s for s in spaces if holder.pid in s.pids]
    assert proc.kind == "process" and proc.name.startswith(f"pid {holder.pid} (sleep)")
    assert [i.name for i in proc.interfaces] == ["lo"]
    # Without include_empty, a namespace with only loopback is left out of the picker.
    rows = group_rows(spaces)
    assert rows[0] == ("host", None, None)
    assert (ns.name, mine.spec, peer) in rows


def test_capture_inside_a_namespace_counts_its_packets(netns):
    """The raw socket opened inside: the peer interface's packets, named as the namespace sees it."""
    from tui.engine import Engine

    ns = netns
    engine = Engine(idle_timeout=None)
    source = open_live_source(ns.peer, ns.name, bpf="udp port 9")
    engine.start(source)
    try:
        time.sleep(0.1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(7):
                s.sendto(b"x" * 10, (ns.peer_ip, 9))
        deadline = time.monotonic() + 3
        while engine.snapshot(top=0).packets < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
    finally:
        engine.stop()
    snap = engine.snapshot()
    assert snap.state != "error", snap.message
    assert snap.packets == 7
    assert snap.source_name == f"{ns.peer}@{ns.name}"
    assert [name for name, _lt in snap.interfaces.values()] == [ns.peer]
    (flow,) = snap.flows
    assert (flow.src, flow.dst, flow.dport) == (ns.host_ip, ns.peer_ip, 9)


def test_missing_namespace_is_a_clear_error(net_raw):
    with pytest.raises(CaptureError, match="no such network namespace"):
        open_live_source("lo", "sockscope-no-such-ns")
    with pytest.raises(OSError, match="no such network namespace"), entered("sockscope-no-such-ns"):
        pass


def test_entered_returns_the_thread_home(netns):
    home = os.stat("/proc/thread-self/ns/net").st_ino
    with entered(netns.name):
        inside = os.stat("/proc/thread-self/ns/net").st_ino
        assert socket.if_nametoindex(netns.peer) > 0
    assert inside != home
    assert os.stat("/proc/thread-self/ns/net").st_ino == home
