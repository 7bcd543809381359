"""Live capture on a veth pair into a test namespace: exact counts by kind, protocol and flow."""

from __future__ import annotations

import socket


def test_udp_tcp_icmp_counted_exactly_on_veth(netns, live_capture):
    ns = netns
    server = ns.python(
        "import socket,time\n"
        f"u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.bind(('{ns.peer_ip}',9999))\n"
        "time.sleep(3)\n"
    )
    import time

    time.sleep(0.3)
    with live_capture(ns.host) as cap:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(10):
            s.sendto(b"x" * 20, (ns.peer_ip, 9999))
        s.close()
        cap.settle(10)
    snap = cap.engine.snapshot()
    server.terminate()
    assert snap.socket_kinds["datagram"].packets == 10
    assert snap.protocols["UDP"].packets == 10
    assert snap.packets == 10
    (flow,) = [f for f in snap.flows if f.proto == "UDP"]
    assert (flow.src, flow.dst, flow.dport) == (ns.host_ip, ns.peer_ip, 9999)
    assert flow.packets_ab == 10 and flow.bytes_ab == 10 * (14 + 20 + 8 + 20)
