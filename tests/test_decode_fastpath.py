"""The decoder's fast path (Ethernet/IPv4/IPv6 + TCP/UDP/ICMP) answers exactly as the general path."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import Ether

from tui.decode import decode, decode_general

SAMPLES = [
    bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.2") / TCP(sport=40000, dport=443, flags="PA") / b"hello"),
    bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.2") / TCP(options=[("MSS", 1460), ("NOP", None)])),
    bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.2") / UDP(sport=5353, dport=53) / (b"q" * 30)),
    bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.2", flags="MF") / UDP() / b"frag"),
    bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.2", frag=100) / (b"x" * 40)),
    bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.2", options=b"\x01\x01\x01\x00") / TCP()),
    bytes(Ether() / IP(src="192.0.2.1", dst="198.51.100.2") / ICMP() / b"ping"),
    bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=1, dport=80) / b"GET /"),
    bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=53) / b"x"),
    bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest()),
    bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2", plen=0) / UDP() / b"jumbo-ish"),
]


def test_fast_path_equals_general_path_on_every_truncation():
    for frame in SAMPLES:
        for cut in range(len(frame) + 1):
            assert decode(frame[:cut], 1) == decode_general(frame[:cut], 1), (frame.hex(), cut)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SAMPLES), st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=6))
def test_fast_path_equals_general_path_on_mutated_headers(frame, edits):
    data = bytearray(frame)
    for pos, val in edits:
        if pos < len(data):
            data[pos] = val
    b = bytes(data)
    assert decode(b, 1) == decode_general(b, 1)


def test_fast_path_equals_general_path_on_sample_captures(pcaps_dir):
    from tui.sources.pcapfile import PcapSource

    checked = 0
    for path in sorted(pcaps_dir.rglob("*.pcap"))[:60]:
        src = PcapSource(str(path))
        try:
            for batch in src.batches(threading.Event()):
                for f in batch:
                    data = bytes(f[4])
                    assert decode(data, f[5]) == decode_general(data, f[5]), path.name
                    checked += 1
        except Exception as exc:  # damaged samples end early; what was read is checked
            if "assert" in type(exc).__name__.lower():
                raise
        finally:
            src.close()
    assert checked > 10_000
