"""Live capture with real sockets: exact counts by socket kind, protocol, flow and direction.

On a veth pair into a test namespace (quiet: see tests/netns.py) the totals are exact.
Loopback is shared with whatever else runs on this machine, so there the tests count only
their own flows (unique ports, ICMP identifiers) or filter them in the kernel.

TCP packet counts are not guessed: the kernel's own per-socket counters (TCP_INFO
``tcpi_segs_in`` on each end) say how many segments each side received, and the capture
must match them exactly.
"""

from __future__ import annotations

import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import netns as _netns
import pytest

from tui.engine import Engine
from tui.snapshot import IN, OUT, Snapshot
from tui.sources.live import BpfError, CaptureError, LiveSource

pytestmark = [pytest.mark.live, pytest.mark.timeout(90)]

ETH, IP4, IP6, UDP_H, ICMP_H, TCP_H = 14, 20, 40, 8, 8, 20


# ------------------------------------------------------------------ traffic
def _port() -> int:
    """A port unlikely to be in use by anyone else on this machine."""
    return random.randint(20_000, 60_000)


@dataclass
class Exchange:
    """What a test sent: packets and bytes each way of one flow."""

    proto: str
    client: tuple[str, int | None]
    server: tuple[str, int | None]
    c2s: int
    s2c: int
    c2s_bytes: int
    s2c_bytes: int


def udp_echo(server_ip: str, family: int, n: int, size: int, enter=None, client_ip: str | None = None) -> Exchange:
    """n datagrams of ``size`` bytes to an echo server (inside a namespace when ``enter`` is given)."""
    port = _port()
    ctx = enter() if enter else _nullctx()
    with ctx:
        srv = socket.socket(family, socket.SOCK_DGRAM)
    srv.bind((server_ip, port))
    srv.settimeout(5)

    def serve() -> None:
        for _ in range(n):
            data, addr = srv.recvfrom(65535)
            srv.sendto(data, addr)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cli = socket.socket(family, socket.SOCK_DGRAM)
    cli.settimeout(5)
    if client_ip:
        cli.bind((client_ip, 0))
    for i in range(n):
        cli.sendto(bytes([i % 256]) * size, (server_ip, port))
        cli.recvfrom(65535)
    t.join(5)
    cport = cli.getsockname()[1]
    cli.close()
    srv.close()
    l3 = IP4 if family == socket.AF_INET else IP6
    per = ETH + l3 + UDP_H + size
    return Exchange("UDP", (client_ip or server_ip, cport), (server_ip, port), n, n, n * per, n * per)


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def icmp_echo(dst: str, family: int, n: int, payload: int, ident: int) -> Exchange:
    """n echo requests with a raw socket; the kernel at ``dst`` answers each."""
    if family == socket.AF_INET:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        req_type, rep_type, l3, proto = 8, 0, IP4, "ICMP"
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        req_type, rep_type, l3, proto = 128, 129, IP6, "ICMPv6"
    s.settimeout(2)
    body = b"s" * payload
    for seq in range(n):
        hdr = struct.pack("!BBHHH", req_type, 0, 0, ident, seq)
        if family == socket.AF_INET:
            hdr = struct.pack("!BBHHH", req_type, 0, _csum(hdr + body), ident, seq)
        s.sendto(hdr + body, (dst, 0))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:  # wait for our own reply (raw sockets see every ICMP)
            data = s.recv(65535)
            icmp = data[20:] if family == socket.AF_INET else data
            if icmp[0] == rep_type and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
                break
    s.close()
    per = ETH + l3 + ICMP_H + payload
    return Exchange(proto, ("", None), (dst, None), n, n, n * per, n * per)


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _segs_in(s: socket.socket) -> int:
    """tcpi_segs_in: segments this socket received (struct tcp_info, Linux >= 4.2)."""
    return struct.unpack_from("=I", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256), 140)[0]


def tcp_exchange(server_ip: str, family: int, rounds: int, enter=None, client_ip: str | None = None) -> Exchange:
    """Connect, ``rounds`` request/response pairs, then an abortive close (RST).

    Packet counts each way come from the kernel: the server's and the client's segs_in.
    Byte counts are the segments' sizes as captured, so they are checked separately.
    """
    port = _port()
    with enter() if enter else _nullctx():
        ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((server_ip, port))
    ls.listen(1)
    ls.settimeout(5)
    result: dict[str, int] = {}

    def serve() -> None:
        conn, _ = ls.accept()
        conn.settimeout(5)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(rounds):
            got = b""
            while len(got) < 100:
                got += conn.recv(100 - len(got))
            conn.sendall(b"r" * 200)
        try:
            while conn.recv(100):
                pass
        except ConnectionResetError:
            pass
        result["c2s"] = _segs_in(conn)
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cli = socket.socket(family, socket.SOCK_STREAM)
    cli.settimeout(5)
    if client_ip:
        cli.bind((client_ip, 0))
    cli.connect((server_ip, port))
    cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(rounds):
        cli.sendall(b"q" * 100)
        got = b""
        while len(got) < 200:
            got += cli.recv(200 - len(got))
    s2c = _segs_in(cli)
    cport = cli.getsockname()[1]
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    cli.close()
    t.join(5)
    ls.close()
    return Exchange("TCP", (client_ip or server_ip, cport), (server_ip, port), result["c2s"], s2c, -1, -1)


# ------------------------------------------------------------------- checks
def wait_for(engine: Engine, pred: Callable[[Snapshot], bool], timeout: float = 5.0) -> Snapshot:
    deadline = time.monotonic() + timeout
    while True:
        snap = engine.snapshot()
        if pred(snap) or time.monotonic() > deadline:
            return snap
        time.sleep(0.03)


def find_flow(snap: Snapshot, ex: Exchange):
    """The flow of an exchange (ICMP: by addresses only; they carry no ports)."""
    for f in snap.flows:
        if f.proto != ex.proto:
            continue
        if ex.client[1] is None:
            if ex.server[0] in (f.src, f.dst):
                return f
        elif {f.src, f.dst} == {ex.client[0], ex.server[0]} and {f.sport, f.dport} == {ex.client[1], ex.server[1]}:
            return f
    return None


def assert_flow(snap: Snapshot, ex: Exchange, client_first: bool = True) -> None:
    f = find_flow(snap, ex)
    assert f is not None, f"no {ex.proto} flow for {ex}"
    if client_first:
        assert (f.packets_ab, f.packets_ba) == (ex.c2s, ex.s2c), ex
        if ex.c2s_bytes >= 0:
            assert (f.bytes_ab, f.bytes_ba) == (ex.c2s_bytes, ex.s2c_bytes), ex
    else:
        assert f.packets == ex.c2s + ex.s2c


def flow_done(ex: Exchange) -> Callable[[Snapshot], bool]:
    def pred(snap: Snapshot) -> bool:
        f = find_flow(snap, ex)
        return f is not None and f.packets >= ex.c2s + ex.s2c

    return pred


def capture(iface: str, bpf: str | None = None, **kw) -> tuple[Engine, LiveSource]:
    engine = Engine(idle_timeout=None)
    src = LiveSource(iface, bpf=bpf, **kw)
    engine.start(src, bpf)
    return engine, src


# -------------------------------------------------------------------- veth
@pytest.fixture(scope="module")
def quiet_ns():
    """One quiet namespace for the counting tests of this module (each test uses its own ports)."""
    from conftest import _skip, net_raw_reason

    reason = net_raw_reason() or _netns.can_make_netns()
    if reason:
        _skip(reason)
    ns = _netns.create()
    try:
        yield ns
    finally:
        _netns.destroy(ns)


def veth_traffic(ns) -> list[Exchange]:
    """TCP, UDP and ICMP over IPv4 and IPv6 between the host and the namespace."""
    return [
        udp_echo(ns.peer_ip, socket.AF_INET, 7, 33, ns.entered, ns.host_ip),
        udp_echo(ns.peer_ip6, socket.AF_INET6, 4, 50, ns.entered, ns.host_ip6),
        tcp_exchange(ns.peer_ip, socket.AF_INET, 5, ns.entered, ns.host_ip),
        tcp_exchange(ns.peer_ip6, socket.AF_INET6, 3, ns.entered, ns.host_ip6),
        icmp_echo(ns.peer_ip, socket.AF_INET, 6, 24, 0x5101),
        icmp_echo(ns.peer_ip6, socket.AF_INET6, 5, 16, 0x5102),
    ]


@pytest.mark.parametrize("use_ring", [True, False], ids=["ring", "recv_into"])
def test_veth_exact_counts_by_kind_protocol_flow_and_direction(quiet_ns, use_ring):
    ns = quiet_ns
    engine, src = capture(ns.host, use_ring=use_ring)
    assert src.uses_ring is use_ring
    try:
        exchanges = veth_traffic(ns)
        total = sum(e.c2s + e.s2c for e in exchanges)
        wait_for(engine, lambda s: s.packets >= total)
        time.sleep(0.2)  # anything extra would show up now
    finally:
        engine.stop()
    snap = engine.snapshot()
    by = {(e.proto, ":" in e.server[0]): e for e in exchanges}
    udp4, udp6, tcp4, tcp6, icmp, icmp6 = (
        by[k] for k in [("UDP", 0), ("UDP", 1), ("TCP", 0), ("TCP", 1), ("ICMP", 0), ("ICMPv6", 1)]
    )
    n = lambda *es: sum(e.c2s + e.s2c for e in es)  # noqa: E731
    assert snap.packets == total, "extra or missing packets on a quiet veth"
    assert snap.socket_kinds["stream"].packets == n(tcp4, tcp6)
    assert snap.socket_kinds["datagram"].packets == n(udp4, udp6)
    assert snap.socket_kinds["raw"].packets == n(icmp, icmp6)
    assert snap.protocols["Ethernet"].packets == total
    assert snap.protocols["IPv4"].packets == n(udp4, tcp4, icmp)
    assert snap.protocols["IPv6"].packets == n(udp6, tcp6, icmp6)
    assert snap.protocols["UDP"].packets == n(udp4, udp6)
    assert snap.protocols["TCP"].packets == n(tcp4, tcp6)
    assert snap.protocols["ICMP"].packets == n(icmp)
    assert snap.protocols["ICMPv6"].packets == n(icmp6)
    non_tcp_bytes = sum(e.c2s_bytes + e.s2c_bytes for e in (udp4, udp6, icmp, icmp6))
    assert snap.socket_kinds["datagram"].bytes + snap.socket_kinds["raw"].bytes == non_tcp_bytes
    assert len(snap.flows) == 6
    for ex in exchanges:
        assert_flow(snap, ex)
    for f in snap.flows:  # the host opened every flow
        assert f.src in (ns.host_ip, ns.host_ip6)
        if f.proto == "TCP":
            assert f.state == "reset" and f.bytes_ab > 0
    # Direction from the packet type: what the host sent is outgoing on its veth end.
    out = sum(e.c2s for e in exchanges)
    assert sum(snap.series.packets_out) == out and sum(snap.series.packets_in) == total - out
    assert sum(snap.series.bytes_out) + sum(snap.series.bytes_in) == snap.bytes
    assert {r.direction for r in engine.snapshot(recent=total).recent} == {IN, OUT}
    # The kernel's own counters agree, and nothing was lost.
    assert snap.kernel_packets == total and snap.kernel_drops == 0


@pytest.mark.parametrize("use_ring", [True, False], ids=["ring", "recv_into"])
def test_veth_bpf_filter_in_kernel(quiet_ns, use_ring):
    ns = quiet_ns
    engine, _src = capture(ns.host, bpf="udp or icmp6", use_ring=use_ring)
    try:
        exchanges = veth_traffic(ns)
        wanted = [e for e in exchanges if e.proto in ("UDP", "ICMPv6")]
        total = sum(e.c2s + e.s2c for e in wanted)
        wait_for(engine, lambda s: s.packets >= total)
        time.sleep(0.2)
    finally:
        engine.stop()
    snap = engine.snapshot()
    assert snap.packets == total
    assert {f.proto for f in snap.flows} == {"UDP", "ICMPv6"}
    for ex in wanted:
        assert_flow(snap, ex)
    # Filtered-out packets never reached the socket: the kernel counted only the matches.
    assert snap.kernel_packets == total and snap.kernel_drops == 0
    assert snap.bpf == "udp or icmp6"


# ----------------------------------------------------------------- loopback
@pytest.mark.parametrize("use_ring", [True, False], ids=["ring", "recv_into"])
def test_loopback_own_flows_counted_once(net_raw, use_ring):
    """No filter: other traffic may share lo, so only this test's flows are asserted, exactly."""
    engine, _src = capture("lo", use_ring=use_ring)
    try:
        exchanges = [
            udp_echo("127.0.0.1", socket.AF_INET, 9, 21),
            udp_echo("::1", socket.AF_INET6, 4, 10),
            tcp_exchange("127.0.0.1", socket.AF_INET, 4),
            tcp_exchange("::1", socket.AF_INET6, 2),
        ]
        for ex in exchanges:
            wait_for(engine, flow_done(ex))
        time.sleep(0.2)
    finally:
        engine.stop()
    snap = engine.snapshot()
    for ex in exchanges:
        assert_flow(snap, ex)  # once each: not twice (out and in) as a naive socket sees them
    assert snap.kernel_drops == 0


def test_loopback_icmp_by_identifier_filter(net_raw):
    ident = random.randint(1, 0xFFFF)
    bpf = f"icmp and icmp[4:2] = {ident}"
    engine, _src = capture("lo", bpf=bpf)
    try:
        ex = icmp_echo("127.0.0.1", socket.AF_INET, 8, 30, ident)
        wait_for(engine, lambda s: s.packets >= 16)
        time.sleep(0.2)
    finally:
        engine.stop()
    snap = engine.snapshot()
    assert snap.packets == 16 and snap.kernel_packets == 16
    assert snap.socket_kinds["raw"] == snap.protocols["ICMP"]
    assert snap.socket_kinds["raw"].bytes == ex.c2s_bytes + ex.s2c_bytes
    (flow,) = snap.flows
    assert (flow.src, flow.dst, flow.sport, flow.dport, flow.packets) == ("127.0.0.1", "127.0.0.1", None, None, 16)


def test_loopback_filtered_totals_match_tcpdump(net_raw):
    """With a filter for this test's ports, sockscope and tcpdump count the same packets and bytes."""
    from shutil import which

    if which("tcpdump") is None:
        from conftest import _skip

        _skip("tcpdump is not installed")
    p1, p2 = _port(), _port()
    bpf = f"(udp port {p1}) or (tcp port {p2})"
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-nn", "-l", "-q", "-e", bpf],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = None
    try:
        deadline = time.monotonic() + 5  # tcpdump says "listening on" once its filter is set
        line = ""
        while "listening on" not in line and time.monotonic() < deadline:
            line = dump.stderr.readline()
        engine, _src = capture("lo", bpf=bpf)
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind(("127.0.0.1", p1))
        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(25):
            cli.sendto(b"x" * (i + 1), ("127.0.0.1", p1))
        cli.close()
        srv.close()
        ls = socket.socket()
        ls.bind(("127.0.0.1", p2))
        ls.listen(1)
        c = socket.create_connection(("127.0.0.1", p2))
        a, _ = ls.accept()
        c.sendall(b"y" * 3000)
        a.recv(5000)
        c.close()
        a.close()
        ls.close()
        time.sleep(0.5)
    finally:
        if engine is not None:
            engine.stop()
        time.sleep(0.2)
        dump.terminate()
        out, _ = dump.communicate(timeout=10)
    lines = [ln for ln in out.splitlines() if " > " in ln]
    theirs_bytes = sum(int(ln.split("length ")[1].split(":")[0]) for ln in lines)
    snap = engine.snapshot()
    assert len(lines) >= 25 + 3
    assert (snap.packets, snap.bytes) == (len(lines), theirs_bytes)


def test_any_interface_counts_loopback_once(net_raw):
    port = _port()
    engine, _src = capture("any", bpf=f"udp port {port}")
    try:
        srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind(("127.0.0.1", port))
        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(6):
            cli.sendto(b"a" * 10, ("127.0.0.1", port))
        wait_for(engine, lambda s: s.packets >= 6)
        time.sleep(0.2)
        cli.close()
        srv.close()
    finally:
        engine.stop()
    snap = engine.snapshot()
    assert snap.packets == 6
    assert [name for name, _lt in snap.interfaces.values()] == ["lo"]


# ----------------------------------------------------------- source errors
def test_unknown_interface_is_a_clear_error(net_raw):
    with pytest.raises(CaptureError, match="no such interface"):
        LiveSource("nosuchif0")


def test_bad_filter_is_a_clear_error_before_capture(net_raw):
    with pytest.raises(BpfError, match="bad capture filter"):
        LiveSource("lo", bpf="tcp port nonsense and (")


def _run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(_netns_repo()))
    return subprocess.run(
        [sys.executable, "-m", "tui", "report", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def _netns_repo():
    from conftest import REPO

    return REPO


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-i", "nosuchif0", "--duration", "1"], "no such interface"),
        (["-i", "lo", "--duration", "1", "-f", "port port"], "bad capture filter"),
        (["-i", "lo"], "needs --duration"),
    ],
)
def test_cli_live_errors_on_stderr_with_nonzero_exit(net_raw, args, words):
    t0 = time.monotonic()
    r = _run_cli(*args)
    assert r.returncode != 0
    assert words in r.stderr
    assert r.stdout == ""
    assert time.monotonic() - t0 < 15  # refused up front, not after a capture


# --------------------------------------------------- interface removed, flags
@pytest.mark.parametrize("use_ring", [True, False], ids=["ring", "recv_into"])
def test_interface_removed_mid_capture(netns, use_ring):
    engine, _src = capture(netns.host, use_ring=use_ring)
    ex = udp_echo(netns.peer_ip, socket.AF_INET, 3, 10, netns.entered, netns.host_ip)
    wait_for(engine, flow_done(ex))
    subprocess.run(["ip", "link", "del", netns.host], check=True)
    deadline = time.monotonic() + 5
    while engine.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not engine.running, "the capture thread should end when its interface goes"
    snap = engine.snapshot()
    assert snap.state == "ended"
    assert snap.message == f"interface {netns.host} was removed"
    assert snap.packets == 6
    engine.stop()


def test_cli_reports_interface_removed(netns):
    p = subprocess.Popen(
        [sys.executable, "-m", "tui", "report", "-i", netns.host, "--duration", "20", "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(_netns_repo())),
    )
    try:
        time.sleep(2.0)  # python start-up and the socket opened
        udp_echo(netns.peer_ip, socket.AF_INET, 2, 10, netns.entered, netns.host_ip)
        time.sleep(0.3)
        subprocess.run(["ip", "link", "del", netns.host], check=True)
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert f"interface {netns.host} was removed" in err
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["packets"] == 4 and report["source"] == {"kind": "live", "name": netns.host}
    assert p.returncode == 3  # partial result: printed, and flagged in the exit status


def _promiscuity(ifname: str) -> int:
    info = json.loads(subprocess.run(["ip", "-d", "-j", "link", "show", "dev", ifname], capture_output=True).stdout)
    return info[0]["promiscuity"]


def test_promiscuous_flag(quiet_ns):
    ns = quiet_ns
    assert _promiscuity(ns.host) == 0
    plain = LiveSource(ns.host)
    assert _promiscuity(ns.host) == 0  # off by default
    plain.close()
    promisc = LiveSource(ns.host, promisc=True)
    try:
        assert _promiscuity(ns.host) == 1
    finally:
        promisc.close()
    assert _promiscuity(ns.host) == 0  # released with the socket


def test_kernel_counters_reported(quiet_ns):
    ns = quiet_ns
    src = LiveSource(ns.host, bpf="udp")
    try:
        udp_echo(ns.peer_ip, socket.AF_INET, 5, 10, ns.entered, ns.host_ip)
        time.sleep(0.1)
        assert src.stats() == (10, 0)  # seen by the socket, and dropped: nothing read yet, nothing lost
        udp_echo(ns.peer_ip, socket.AF_INET, 1, 10, ns.entered, ns.host_ip)
        time.sleep(0.1)
        assert src.stats() == (12, 0)  # cumulative, though the kernel resets its own on each read
    finally:
        src.close()
