"""Flows tied to the real processes behind them: servers and clients started by the tests.

Captures run on a veth into a test namespace (host side, or inside the namespace with the
socket opened there), and on loopback with unique ports; sockets are looked up in the
namespace being captured.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import peers
import pytest

from tui.attribution import Attributor
from tui.attribution.attributor import NOT_TRANSPORT, SOCKET_GONE
from tui.engine import Engine
from tui.netns_list import open_live_source

pytestmark = [pytest.mark.live, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parent.parent
KINDS = [("TCP", 4), ("TCP", 6), ("UDP", 4), ("UDP", 6)]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_owned(engine: Engine, count: int, timeout: float = 6.0):
    """The snapshot once ``count`` flows have an owner (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        snap = engine.snapshot()
        if sum(1 for f in snap.flows if f.pid is not None or f.owner_note) >= count or time.monotonic() > deadline:
            return snap
        time.sleep(0.1)


def flow_to(snap, proto: str, port: int):
    found = [f for f in snap.flows if f.proto == proto and port in (f.sport, f.dport)]
    assert len(found) == 1, f"expected one {proto} flow on port {port}, got {found}"
    return found[0]


def test_veth_flows_carry_client_pid_and_name(netns, live_capture):
    """Clients in the captured (host) namespace, servers inside the test namespace."""
    ns = netns
    ports = {k: 41000 + i for i, k in enumerate(KINDS)}
    servers = []
    for (proto, fam), port in ports.items():
        addr = ns.peer_ip if fam == 4 else ns.peer_ip6
        servers.append(peers.start(ns.python, peers.SERVER, name=f"srv{proto}{fam}", addr=addr, proto=proto, port=port))
    for s in servers:
        assert peers.read_line(s) == "ready"
    bpf = " or ".join(f"port {p}" for p in ports.values())
    with live_capture(ns.host, bpf=bpf) as cap:
        att = Attributor(cap.engine)
        att.start()
        clients = {}
        for (proto, fam), port in ports.items():
            addr = ns.peer_ip if fam == 4 else ns.peer_ip6
            clients[(proto, fam)] = peers.start(
                None, peers.CLIENT, name=f"cli{proto}{fam}", addr=addr, proto=proto, port=port, hold=2.0
            )
        for c in clients.values():
            assert peers.read_line(c).startswith("done")
        snap = wait_owned(cap.engine, len(ports))
        att.stop()
    assert att.error is None
    for (proto, fam), port in ports.items():
        f = flow_to(snap, proto, port)
        assert f.family == fam
        assert (f.pid, f.process) == (clients[(proto, fam)].pid, f"cli{proto}{fam}"), f
        assert f.user == "root" and f.owner_note is None and f.local_src is True
    for p in (*servers, *clients.values()):
        p.wait(10)


def test_process_found_when_capturing_inside_its_namespace(netns_factory):
    """Same port served in two namespaces: capturing inside the second names its server only."""
    ns1, ns2 = netns_factory(), netns_factory()
    port = 41100
    procs = []
    for ns, tag in ((ns1, "one"), (ns2, "two")):
        for proto in ("TCP", "UDP"):
            p = peers.start(ns.python, peers.SERVER, name=f"srv{tag}{proto}", addr=ns.peer_ip6, proto=proto, port=port)
            procs.append(p)
            assert peers.read_line(p) == "ready"
    servers2 = {("TCP"): procs[2], ("UDP"): procs[3]}
    engine = Engine(idle_timeout=None)
    source = open_live_source(ns2.peer, ns2.name, bpf=f"port {port}")
    assert source.name == f"{ns2.peer}@{ns2.name}"
    engine.start(source)
    att = Attributor(engine, netns=ns2.name)
    att.start()
    try:
        time.sleep(0.1)
        clients = []
        for ns in (ns1, ns2):
            for proto in ("TCP", "UDP"):
                clients.append(peers.start(None, peers.CLIENT, name="cli", addr=ns.peer_ip6, proto=proto, port=port))
        for c in clients:
            assert peers.read_line(c).startswith("done")
        snap = wait_owned(engine, 2)
    finally:
        att.stop()
        engine.stop()
    assert att.error is None, att.error
    assert engine.snapshot().state != "error", engine.snapshot().message
    assert {(f.proto, f.dst) for f in snap.flows} == {("TCP", ns2.peer_ip6), ("UDP", ns2.peer_ip6)}
    for proto in ("TCP", "UDP"):
        f = flow_to(snap, proto, port)
        assert (f.pid, f.process) == (servers2[proto].pid, f"srvtwo{proto}"), f
        assert f.local_src is False  # the server answers: its end is the flow's dst
    for p in procs + clients:
        p.wait(10)


def test_loopback_flows_owned_by_the_initiating_client(net_raw):
    """Root namespace, loopback: both ends are local; the first sender's process owns the flow."""
    ports = {k: free_port(socket.SOCK_STREAM if k[0] == "TCP" else socket.SOCK_DGRAM) for k in KINDS}
    servers = []
    for (proto, fam), port in ports.items():
        addr = "127.0.0.1" if fam == 4 else "::1"
        servers.append(peers.start(None, peers.SERVER, name="lsrv", addr=addr, proto=proto, port=port))
    for s in servers:
        assert peers.read_line(s) == "ready"
    from tui.sources.live import LiveSource

    engine = Engine(idle_timeout=None)
    engine.start(LiveSource("lo", bpf=" or ".join(f"port {p}" for p in ports.values())))
    att = Attributor(engine)
    att.start()
    try:
        clients = {}
        for (proto, fam), port in ports.items():
            addr = "127.0.0.1" if fam == 4 else "::1"
            clients[(proto, fam)] = peers.start(
                None, peers.CLIENT, name=f"lcli{proto}{fam}", addr=addr, proto=proto, port=port
            )
        for c in clients.values():
            assert peers.read_line(c).startswith("done")
        snap = wait_owned(engine, len(ports))
    finally:
        att.stop()
        engine.stop()
    assert len(snap.flows) == len(ports)  # only ours (the filter names our ports)
    for (proto, fam), port in ports.items():
        f = flow_to(snap, proto, port)
        assert f.dport == port and f.family == fam
        assert (f.pid, f.process, f.user) == (clients[(proto, fam)].pid, f"lcli{proto}{fam}", "root"), f
    for p in (*servers, *clients.values()):
        p.wait(10)


def test_socket_seen_before_it_closed_keeps_its_owner(netns, live_capture):
    """A socket seen by the slow pass, then used and closed before the next pass."""
    ns = netns
    port = 41200
    server = peers.start(ns.python, peers.SERVER, name="srv", addr=ns.peer_ip, proto="UDP", port=port)
    assert peers.read_line(server) == "ready"
    with live_capture(ns.host, bpf=f"port {port}") as cap:
        att = Attributor(cap.engine)  # ticked by hand: no timing luck involved
        att.open()
        client = peers.start(
            None, peers.CLIENT, name="shortlived", addr=ns.peer_ip, proto="UDP", port=port, hold=0, wait_go=True
        )
        assert peers.read_line(client).startswith("bound")
        att.tick(full=True)  # sees the bound socket
        client.stdin.write("go\n")
        client.stdin.flush()
        assert peers.read_line(client).startswith("done")
        assert client.wait(5) == 0  # socket closed, process gone
        cap.settle(2)
        att.tick(full=False)
        att.close()
    f = flow_to(cap.engine.snapshot(), "UDP", port)
    assert (f.pid, f.process) == (client.pid, "shortlived")
    server.wait(10)


def test_unknown_owners_say_why(netns, live_capture):
    """A socket that closed before any pass saw it, and an ICMP flow, get reasons, not owners."""
    ns = netns
    port = 41300
    server = peers.start(ns.python, peers.SERVER, name="srv", addr=ns.peer_ip, proto="UDP", port=port)
    assert peers.read_line(server) == "ready"
    with live_capture(ns.host, bpf=f"port {port} or icmp") as cap:
        att = Attributor(cap.engine, retries=1)
        att.open()
        att.tick(full=True)
        client = peers.start(None, peers.CLIENT, name="ghost", addr=ns.peer_ip, proto="UDP", port=port, hold=0)
        assert peers.read_line(client).startswith("done")
        assert client.wait(5) == 0
        icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        icmp.sendto(b"\x08\x00\xf7\xfe\x00\x01\x00\x00", (ns.peer_ip, 0))  # echo request, checksum precomputed
        icmp.close()
        cap.settle(4)
        for _ in range(3):
            att.tick(full=False)
        att.close()
    snap = cap.engine.snapshot()
    f = flow_to(snap, "UDP", port)
    assert f.pid is None and f.process is None and f.owner_note == SOCKET_GONE
    icmp_flows = [f for f in snap.flows if f.proto == "ICMP"]
    assert icmp_flows and all(f.owner_note == NOT_TRANSPORT and f.pid is None for f in icmp_flows)
    assert att.stats.unknown >= 2
    server.wait(10)


def test_report_inside_namespace_names_the_server(netns):
    """`sockscope report -i PEER --netns NS`: the capture and the socket lookup both happen inside."""
    ns = netns
    port = 41400
    server = peers.start(ns.python, peers.SERVER, name="reportsrv", addr=ns.peer_ip, proto="TCP", port=port, hold=6)
    assert peers.read_line(server) == "ready"
    cmd = [sys.executable, "-m", "tui", "report", "-i", ns.peer, "--netns", ns.name, "--duration", "2.5"]
    rep = subprocess.Popen(
        [*cmd, "-f", f"port {port}", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    time.sleep(1.0)
    client = peers.start(None, peers.CLIENT, name="cli", addr=ns.peer_ip, proto="TCP", port=port, hold=2.5)
    assert peers.read_line(client).startswith("done")
    out, err = rep.communicate(timeout=20)
    assert rep.returncode == 0, err
    data = json.loads(out)
    assert data["source"]["name"] == f"{ns.peer}@{ns.name}"
    (flow,) = data["flows"]
    assert (flow["dport"], flow["pid"], flow["process"], flow["user"]) == (port, server.pid, "reportsrv", "root")
    assert flow["container"] is None
    client.wait(10)
    server.wait(10)


def test_report_from_file_has_null_owners(tmp_path):
    """Files have no local sockets: the owner keys are there, and null."""
    from scapy.all import IP, TCP, Ether, wrpcap

    path = tmp_path / "two.pcap"
    wrpcap(str(path), [Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1234, dport=80, flags="S")] * 2)
    out = subprocess.run(
        [sys.executable, "-m", "tui", "report", "-r", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    (flow,) = json.loads(out.stdout)["flows"]
    assert {k: flow[k] for k in ("pid", "process", "user", "container")} == dict.fromkeys(
        ("pid", "process", "user", "container")
    )
    assert "src_host" not in flow
