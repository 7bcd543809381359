"""Feed scapy-built packets through the engine with the classifier and read back the flows."""

from __future__ import annotations

import ssl

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether as _Ether

from tui.classify import load_classifier
from tui.engine import Engine

CLIENT, SERVER = "192.0.2.10", "198.51.100.20"


def Ether():
    return _Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def run(packets, classifier=None) -> Engine:
    """An engine that has processed ``packets`` (scapy packets or raw Ethernet bytes), one per second."""
    eng = Engine(classifier=classifier or load_classifier(None, use_default_user=False), idle_timeout=None)
    frames = []
    for i, p in enumerate(packets):
        data = bytes(p)
        frames.append((1_700_000_000_000_000_000 + i * 1_000_000, 1, 0, len(data), data, 1))
    eng.process(frames)
    return eng


def only_flow(eng: Engine):
    flows = list(eng.table.flows.values())
    assert len(flows) == 1, flows
    return flows[0]


def tcp(payload: bytes = b"", sport=40000, dport=80, reply=False, flags="PA", v6=False):
    src, dst = (SERVER, CLIENT) if reply else (CLIENT, SERVER)
    if reply:
        sport, dport = dport, sport
    ip = IPv6(src="2001:db8::a", dst="2001:db8::b") if v6 else IP(src=src, dst=dst)
    if v6 and reply:
        ip = IPv6(src="2001:db8::b", dst="2001:db8::a")
    return Ether() / ip / TCP(sport=sport, dport=dport, flags=flags) / payload


def udp(payload: bytes, sport=40000, dport=53, reply=False):
    src, dst = (SERVER, CLIENT) if reply else (CLIENT, SERVER)
    if reply:
        sport, dport = dport, sport
    return Ether() / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / payload


def handshake(sport=40000, dport=443):
    return [
        tcp(sport=sport, dport=dport, flags="S"),
        tcp(sport=sport, dport=dport, flags="SA", reply=True),
        tcp(sport=sport, dport=dport, flags="A"),
    ]


def client_hello(server_name: str | None, alpn=("h2", "http/1.1")) -> bytes:
    """A real ClientHello from Python's ssl module (no network: memory BIOs)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def quic_initial(server_name: str) -> list[bytes]:
    """The client's first datagrams from aioquic (real Initial packets, keys from a random DCID)."""
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection

    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=server_name)
    conn = QuicConnection(configuration=cfg)
    conn.connect(("198.51.100.20", 443), now=0.0)
    return [d for d, _addr in conn.datagrams_to_send(now=0.0)]
