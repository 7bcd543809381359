"""Live: real traffic through real Linux tunnels, captured on the underlay veth.

A tunnel device at each end of a test namespace's veth pair (``ip link add ... type
vxlan|geneve|gretap|gre|ipip|sit``) carries UDP and TCP between overlay addresses; the
engine captures the veth, where only encapsulated packets pass, and must show the
inner flows with the inner addresses and ports.  Kinds the running kernel cannot make
are skipped with the reason.  A last test sends datagrams larger than the veth's MTU, so
the kernel fragments them, and checks each is counted whole on its UDP flow.
"""

from __future__ import annotations

import socket
import threading
import time

import netns as _netns
import pytest
from conftest import _skip

pytestmark = [pytest.mark.live, pytest.mark.netns, pytest.mark.timeout(120)]

# kind -> (ip link arguments after "type", layer name in the stack, carries Ethernet, overlay family)
KINDS = {
    "vxlan": (["vxlan", "id", "42", "dstport", "4789"], "VXLAN", True, socket.AF_INET),
    "vxlan-ipv6-inside": (["vxlan", "id", "43", "dstport", "4789"], "VXLAN", True, socket.AF_INET6),
    "geneve": (["geneve", "id", "42"], "GENEVE", True, socket.AF_INET),
    "gretap": (["gretap"], "GRE", True, socket.AF_INET),
    "gre": (["gre"], "GRE", False, socket.AF_INET),
    "ipip": (["ipip"], "IPIP", False, socket.AF_INET),
    "sit": (["sit"], "6in4", False, socket.AF_INET6),
}


def overlay(ns: _netns.NetNS, family: int) -> tuple[str, str, str]:
    """(host address, peer address, prefix length) on the tunnel, apart from the underlay's."""
    if family == socket.AF_INET:
        k = ns.n % 64
        return f"203.0.113.{4 * k + 1}", f"203.0.113.{4 * k + 2}", "30"
    return f"2001:db8:f00:{ns.n:x}::1", f"2001:db8:f00:{ns.n:x}::2", "64"


def make_tunnel(ns: _netns.NetNS, kind: str) -> tuple[str, str]:
    """The tunnel device at both ends (named alike); returns the overlay addresses."""
    args, _layer, _l2, family = KINDS[kind]
    dev = f"tn{ns.n}"
    ends = ((ns.host_ip, ns.peer_ip, ns.host, False), (ns.peer_ip, ns.host_ip, ns.peer, True))
    for local, remote, under, inside in ends:
        cmd = ["ip", "link", "add", dev, "type", *args, "remote", remote]
        if args[0] != "geneve":
            cmd += ["local", local]
        if args[0] == "vxlan":
            cmd += ["dev", under]
        r = ns.exec(*cmd, check=False) if inside else _netns.run(*cmd, check=False)
        if r.returncode:
            if not inside:
                _skip(f"this kernel cannot make {args[0]} devices: {r.stderr.strip()}")
            drop_tunnel(ns)
            raise RuntimeError(r.stderr)
    mine, theirs, plen = overlay(ns, family)
    v6 = ["-6"] if family == socket.AF_INET6 else []
    nodad = ["nodad"] if family == socket.AF_INET6 else []
    try:
        _netns.run("ip", *v6, "addr", "add", f"{mine}/{plen}", "dev", dev, *nodad)
        ns.exec("ip", *v6, "addr", "add", f"{theirs}/{plen}", "dev", dev, *nodad)
        _netns.run("ip", "link", "set", dev, "up")
        ns.exec("ip", "link", "set", dev, "up")
    except BaseException:
        drop_tunnel(ns)
        raise
    return mine, theirs


def drop_tunnel(ns: _netns.NetNS) -> None:
    _netns.run("ip", "link", "del", f"tn{ns.n}", check=False)  # the namespace's end goes with it


def udp_exchange(ns: _netns.NetNS, family: int, mine: str, theirs: str, n: int, size: int) -> tuple[int, int]:
    """``n`` datagrams each way between overlay addresses; returns (client port, server port)."""
    with ns.entered():
        srv = socket.socket(family, socket.SOCK_DGRAM)
    srv.bind((theirs, 0))
    srv.settimeout(5)
    sport = srv.getsockname()[1]

    def serve() -> None:
        for _ in range(n):
            data, addr = srv.recvfrom(65535)
            srv.sendto(data, addr)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cli = socket.socket(family, socket.SOCK_DGRAM)
    cli.settimeout(5)
    cli.bind((mine, 0))
    try:
        for i in range(n):
            cli.sendto(bytes([i]) * size, (theirs, sport))
            cli.recvfrom(65535)
        t.join(5)
        return cli.getsockname()[1], sport
    finally:
        cli.close()
        srv.close()


def tcp_exchange(ns: _netns.NetNS, family: int, mine: str, theirs: str) -> tuple[int, int]:
    """One short TCP conversation (connect, request, answer, close) between overlay addresses."""
    with ns.entered():
        srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((theirs, 0))
    srv.listen(1)
    srv.settimeout(5)
    sport = srv.getsockname()[1]

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(5)
            conn.recv(100)
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cli = socket.create_connection((theirs, sport), timeout=5, source_address=(mine, 0))
    try:
        cli.sendall(b"GET / HTTP/1.0\r\n\r\n")
        while cli.recv(100):
            pass
        t.join(5)
        return cli.getsockname()[1], sport
    finally:
        cli.close()
        srv.close()


@pytest.mark.parametrize("kind", list(KINDS))
def test_inner_flows_through_a_real_tunnel(netns, live_capture, kind):
    _args, layer, _l2, family = KINDS[kind]
    mine, theirs = make_tunnel(netns, kind)
    try:
        time.sleep(0.3)  # let the tunnel's own start-up packets (IPv6 MLD, ND) pass
        with live_capture(netns.host) as cap:
            cport, sport = udp_exchange(netns, family, mine, theirs, n=5, size=200)
            tport, tsport = tcp_exchange(netns, family, mine, theirs)
            cap.settle(None, timeout=0.5)
            snap = cap.engine.snapshot()
    finally:
        drop_tunnel(netns)
    flows = {(f.proto, frozenset(((f.src, f.sport), (f.dst, f.dport)))): f for f in snap.flows}
    udp = flows.get(("UDP", frozenset(((mine, cport), (theirs, sport)))))
    assert udp is not None, f"no inner UDP flow; flows: {sorted(flows, key=str)}"
    assert (udp.packets_ab, udp.packets_ba) == (5, 5)
    tcp = flows.get(("TCP", frozenset(((mine, tport), (theirs, tsport)))))
    assert tcp is not None and tcp.packets_ab >= 3 and tcp.packets_ba >= 3
    assert tcp.use_case is not None
    underlay = {netns.host_ip, netns.peer_ip}
    assert not [f for f in snap.flows if {f.src, f.dst} == underlay and f.proto in ("UDP", "GRE", "IPIP")], (
        "no flow left on the underlay's addresses"
    )
    assert snap.protocols[layer].packets >= 10 + 6
    assert any(layer in st and st[-1] == "UDP" and c.packets >= 10 for st, c in snap.stacks)
    assert sum(f.packets_ab + f.packets_ba for f in snap.flows) == snap.packets


def test_kernel_fragments_count_on_the_udp_flow(netns, live_capture):
    n, size = 4, 4000  # each datagram is 3 fragments on a 1500-byte veth, each way
    with live_capture(netns.host, bpf="ip") as cap:
        with netns.entered():
            srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        srv.bind((netns.peer_ip, 0))
        srv.settimeout(5)
        port = srv.getsockname()[1]
        cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        cli.settimeout(5)
        cli.bind((netns.host_ip, 0))
        try:
            for i in range(n):
                cli.sendto(bytes([i]) * size, (netns.peer_ip, port))
                data, addr = srv.recvfrom(65535)
                srv.sendto(data, addr)
                cli.recvfrom(65535)
            cport = cli.getsockname()[1]
        finally:
            cli.close()
            srv.close()
        cap.settle(2 * n * 3, timeout=3.0)
        snap = cap.engine.snapshot()
    ours = [f for f in snap.flows if {f.src, f.dst} == {netns.host_ip, netns.peer_ip}]
    assert [(f.proto, {f.sport, f.dport}) for f in ours] == [("UDP", {cport, port})], ours
    f = ours[0]
    assert (f.packets_ab, f.packets_ba) == (3 * n, 3 * n)
    assert cap.engine.fragments.held == 0  # every datagram was joined and let go
