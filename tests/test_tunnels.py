"""Tunnels are decapsulated: the flow is the inner packet's, the stack shows every layer.

Frames are built with scapy (VXLAN, GENEVE, GTP-U, GRE, ERSPAN, IP-in-IP) or by hand
from RFC 5415 (CAPWAP, which scapy lacks); real captures from ../shared/pcaps check the
same on traffic nobody built for this test.
"""

from __future__ import annotations

import struct
import sys
from collections import defaultdict

import pytest
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.contrib.gtp import GTP_U_Header, GTPEchoRequest, GTPPDUSessionContainer
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, GRE, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from tui import linktypes as lt
from tui.decode import MALFORMED, MAX_TUNNELS, OK, TRUNCATED, decode, decode_general, decode_meta
from tui.engine import Engine
from tui.flows import address_text

O1, O2 = "192.0.2.1", "192.0.2.2"  # the underlay
I1, I2 = "198.51.100.10", "198.51.100.20"  # the overlay
I6A, I6B = "2001:db8:1::10", "2001:db8:1::20"
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def ETH() -> Ether:
    """An Ethernet header with both addresses given, so scapy never asks the network for one."""
    return Ether(src=MAC_A, dst=MAC_B)


def outer(dport: int, sport: int = 40000):
    return ETH() / IP(src=O1, dst=O2) / UDP(sport=sport, dport=dport)


def inner_tcp(payload: bytes = b"GET / HTTP/1.1\r\n"):
    return IP(src=I1, dst=I2) / TCP(sport=51000, dport=80, flags="PA") / payload


def inner_eth(payload: bytes = b"GET / HTTP/1.1\r\n"):
    return Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / inner_tcp(payload)


def addrs(m) -> tuple[str, str]:
    return address_text(m.src, m.family), address_text(m.dst, m.family)


def assert_inner_tcp(data: bytes, stack: tuple[str, ...], linktype: int = lt.ETHERNET) -> None:
    m = decode_meta(data, linktype)
    assert m.stack == stack
    assert (addrs(m), m.l4, m.sport, m.dport, m.status) == ((I1, I2), "TCP", 51000, 80, OK)
    assert data[m.payload_off :] == b"GET / HTTP/1.1\r\n"  # the inner payload, in the original frame
    assert decode(data, linktype) == decode_general(data, linktype)


ETH_VXLAN = ("Ethernet", "IPv4", "UDP", "VXLAN", "Ethernet", "IPv4", "TCP")


# ------------------------------------------------------------------ VXLAN
@pytest.mark.parametrize("port", [4789, 8472])
def test_vxlan(port):
    assert_inner_tcp(bytes(outer(port) / VXLAN(vni=42) / inner_eth()), ETH_VXLAN)


def test_vxlan_inner_ipv6_and_vlan():
    pkt = outer(4789) / VXLAN(vni=7) / ETH() / Dot1Q(vlan=5) / IPv6(src=I6A, dst=I6B) / UDP(sport=5353, dport=53)
    m = decode_meta(bytes(pkt))
    assert m.stack == ("Ethernet", "IPv4", "UDP", "VXLAN", "Ethernet", "VLAN", "IPv6", "UDP")
    assert (addrs(m), m.sport, m.dport) == ((I6A, I6B), 5353, 53)


def test_vxlan_source_port_alone_is_not_a_tunnel():
    # VXLAN's source port is a hash: 4789 there says nothing; the payload stays UDP's.
    m = decode_meta(bytes(ETH() / IP(src=O1, dst=O2) / UDP(sport=4789, dport=9999) / (b"\x08" * 30)))
    assert (m.stack, m.sport, m.dport) == (("Ethernet", "IPv4", "UDP"), 4789, 9999)


def test_vxlan_without_i_flag_keeps_the_outer_flow_marked_malformed():
    m = decode_meta(bytes(outer(4789) / VXLAN(flags=0) / inner_eth()))
    assert (addrs(m), m.l4, m.sport, m.dport, m.status) == ((O1, O2), "UDP", 40000, 4789, MALFORMED)
    assert m.stack == ("Ethernet", "IPv4", "UDP", "VXLAN")


def test_vxlan_inner_arp_is_keyed_by_inner_macs():
    pkt = outer(4789) / VXLAN() / Ether(src="02:00:00:00:00:0a", dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=I1, pdst=I2)
    m = decode_meta(bytes(pkt))
    assert m.stack[-1] == "ARP" and m.family == 0
    assert addrs(m) == ("02:00:00:00:00:0a", "ff:ff:ff:ff:ff:ff")


# ----------------------------------------------------------------- GENEVE
def test_geneve_ethernet_with_options():
    opts = GeneveOptions(classid=0x0102, type=0x80, data=b"\x00\x00\x00\x0c")
    pkt = outer(6081) / GENEVE(vni=0xA, proto=0x6558, options=opts) / inner_eth()
    assert_inner_tcp(bytes(pkt), ("Ethernet", "IPv4", "UDP", "GENEVE", "Ethernet", "IPv4", "TCP"))


def test_geneve_ip():
    pkt = outer(6081) / GENEVE(vni=1, proto=0x0800) / inner_tcp()
    assert_inner_tcp(bytes(pkt), ("Ethernet", "IPv4", "UDP", "GENEVE", "IPv4", "TCP"))


def test_geneve_bad_version_and_short_options():
    bad = bytearray(bytes(outer(6081) / GENEVE(proto=0x0800) / inner_tcp()))
    bad[42] |= 0x40  # version 1
    assert decode(bytes(bad))[9] == MALFORMED
    short = bytes(outer(6081) / GENEVE(proto=0x0800, optionlen=20) / (b"\0" * 8))  # says 80 bytes of options
    m = decode_meta(short)
    assert (addrs(m), m.dport, m.status) == ((O1, O2), 6081, TRUNCATED)


# ------------------------------------------------------------------ GTP-U
GTP_STACK = ("Ethernet", "IPv4", "UDP", "GTP-U", "IPv4", "TCP")


def test_gtpu_plain():
    pkt = outer(2152, 2152) / GTP_U_Header(teid=0x1234, gtp_type=255) / inner_tcp()
    assert_inner_tcp(bytes(pkt), GTP_STACK)


def test_gtpu_sequence_and_npdu_flags_add_four_bytes():
    for flags in ({"S": 1, "seq": 77}, {"PN": 1, "npdu": 3}):
        pkt = outer(2152, 2152) / GTP_U_Header(teid=1, gtp_type=255, **flags) / inner_tcp()
        assert_inner_tcp(bytes(pkt), GTP_STACK)


def test_gtpu_extension_header_chain():
    ext = GTPPDUSessionContainer(type=1, QFI=9)
    pkt = outer(2152, 2152) / GTP_U_Header(teid=1, gtp_type=255, E=1, next_ex=0x85) / ext / inner_tcp()
    assert_inner_tcp(bytes(pkt), GTP_STACK)


def test_gtpu_hand_built_two_extension_headers():
    # flags 0x36: version 1, PT 1, E and S; then seq, N-PDU, next type 0x40 (UDP port ext)
    # of 4 bytes -> next 0x85 of 4 bytes -> 0 (end).
    inner = bytes(inner_tcp())
    body = struct.pack("!HBB", 1, 0, 0x40) + b"\x01\x08\x68\x85" + b"\x01\x10\x09\x00" + inner
    gtp = struct.pack("!BBHI", 0x36, 0xFF, len(body), 99) + body
    assert_inner_tcp(bytes(outer(2152, 2152) / Raw(gtp)), GTP_STACK)
    zero_len = gtp[:12] + b"\x00" + gtp[13:]  # an extension header of length 0 is impossible
    assert decode(bytes(outer(2152, 2152) / Raw(zero_len)))[9] == MALFORMED


def test_gtpu_reply_from_the_well_known_port_only():
    pkt = outer(40001, 2152) / GTP_U_Header(teid=1, gtp_type=255) / inner_tcp()
    assert_inner_tcp(bytes(pkt), GTP_STACK)


def test_gtpu_signalling_keeps_the_outer_flow():
    m = decode_meta(bytes(outer(2152, 2152) / GTP_U_Header(gtp_type=1) / GTPEchoRequest()))
    assert (m.stack, addrs(m), m.sport, m.status) == (("Ethernet", "IPv4", "UDP", "GTP-U"), (O1, O2), 2152, OK)


def test_gtp_prime_or_v2_on_the_port_is_malformed_gtpu():
    v2 = bytes(outer(2152, 2152) / Raw(b"\x48\x20\x00\x08" + b"\0" * 8))
    assert decode(v2)[9] == MALFORMED and decode_meta(v2).dport == 2152


# -------------------------------------------------------------------- GRE
def test_gre_ip_with_checksum_key_and_sequence():
    base = ETH() / IP(src=O1, dst=O2)
    for gre in (
        GRE(),
        GRE(key_present=1, key=0x28),
        GRE(key_present=1, key=1, seqnum_present=1, sequence_number=9),
        GRE(chksum_present=1, key_present=1, seqnum_present=1),
    ):
        assert_inner_tcp(bytes(base / gre / inner_tcp()), ("Ethernet", "IPv4", "GRE", "IPv4", "TCP"))


def test_gre_over_ipv6_carrying_ipv6():
    underlay = ETH() / IPv6(src="2001:db8::1", dst="2001:db8::2")
    pkt = underlay / GRE(proto=0x86DD) / IPv6(src=I6A, dst=I6B) / ICMPv6EchoRequest()
    m = decode_meta(bytes(pkt))
    assert (m.stack, addrs(m)) == (("Ethernet", "IPv6", "GRE", "IPv6", "ICMPv6"), (I6A, I6B))


def test_gretap_transparent_ethernet_bridging():
    pkt = ETH() / IP(src=O1, dst=O2) / GRE(proto=0x6558, key_present=1, key=5) / inner_eth()
    assert_inner_tcp(bytes(pkt), ("Ethernet", "IPv4", "GRE", "Ethernet", "IPv4", "TCP"))


def test_pptp_enhanced_gre_with_ppp():
    # RFC 2637: version 1, K set (payload length + call id), S and A optional.
    ppp = b"\xff\x03\x00\x21" + bytes(inner_tcp())
    for flags, extra in ((0x3081, struct.pack("!II", 1, 0)), (0x2001, b""), (0x2081, struct.pack("!I", 3))):
        gre = struct.pack("!HHHH", flags, 0x880B, len(ppp), 7) + extra + ppp
        pkt = ETH() / IP(src=O1, dst=O2, proto=47) / Raw(gre)
        assert_inner_tcp(bytes(pkt), ("Ethernet", "IPv4", "GRE", "PPP", "IPv4", "TCP"))
    no_key = struct.pack("!HH", 0x0001, 0x880B) + ppp  # version 1 without K is not PPTP
    assert decode(bytes(ETH() / IP(src=O1, dst=O2, proto=47) / Raw(no_key)))[9] == MALFORMED


ERSPAN = ("Ethernet", "IPv4", "GRE", "ERSPAN", "Ethernet", "IPv4", "TCP")


def test_erspan_type_i_ii_iii():
    base = ETH() / IP(src=O1, dst=O2)
    type1 = base / GRE(proto=0x88BE) / inner_eth()
    type2 = base / GRE(proto=0x88BE, seqnum_present=1) / ERSPAN_II(session_id=3) / inner_eth()
    type3 = base / GRE(proto=0x22EB, seqnum_present=1) / ERSPAN_III(session_id=3) / inner_eth()
    type3o = base / GRE(proto=0x22EB, seqnum_present=1) / ERSPAN_III(o=1) / ERSPAN_PlatformSpecific() / inner_eth()
    for pkt in (type1, type2, type3, type3o):
        assert_inner_tcp(bytes(pkt), ERSPAN)


def test_erspan_wrong_version():
    gre = GRE(proto=0x88BE, seqnum_present=1)
    pkt = bytearray(bytes(ETH() / IP(src=O1, dst=O2) / gre / ERSPAN_II() / inner_eth()))
    pkt[42] = (pkt[42] & 0x0F) | 0x30  # version 3
    m = decode_meta(bytes(pkt))
    assert (addrs(m), m.status, m.stack) == ((O1, O2), MALFORMED, ("Ethernet", "IPv4", "GRE", "ERSPAN"))


def test_gre_unknown_payload_and_keepalive_stay_gre():
    m = decode_meta(bytes(ETH() / IP(src=O1, dst=O2) / GRE(proto=0x8909) / b"\x01\x01\x00\x01\x00\x02\x08\x00"))
    assert (m.stack, addrs(m), m.status) == (("Ethernet", "IPv4", "GRE"), (O1, O2), OK)
    m = decode_meta(bytes(ETH() / IP(src=O1, dst=O2) / GRE(proto=0, key_present=1)))
    assert (m.stack, m.status) == (("Ethernet", "IPv4", "GRE"), OK)


# ----------------------------------------------------------------- CAPWAP
def capwap(payload: bytes, *, t: bool, wbid: int = 1, radio_mac: bytes = b"", wireless: bytes = b"",
           frag_off: int = 0, f: bool = False, k: bool = False, dtls: bool = False) -> bytes:  # fmt: skip
    """A CAPWAP data header (RFC 5415 section 4.3) in front of ``payload``."""
    opt = b""
    if radio_mac:
        opt += bytes([len(radio_mac)]) + radio_mac
        opt += b"\0" * (-len(opt) % 4)
    if wireless:
        start = len(opt)
        opt += bytes([len(wireless)]) + wireless
        opt += b"\0" * (-(len(opt) - start) % 4)
    hlen = (8 + len(opt)) // 4
    word = hlen << 19 | wbid << 9 | t << 8 | f << 7 | bool(wireless) << 5 | bool(radio_mac) << 4 | k << 3
    if dtls:
        word |= 1 << 24
    return struct.pack("!IHH", word, 1, frag_off << 3) + opt + payload


def wlan_data(frame: bytes, *, qos: bool = False, fc_swapped: bool = False) -> bytes:
    """An 802.11 data frame to the DS (To DS set) carrying ``frame``'s IP packet in LLC/SNAP."""
    fc = bytes([0x88 if qos else 0x08, 0x01])
    if fc_swapped:
        fc = fc[::-1]
    bssid, sta, da = b"\x58\x0a\x20\x69\x0e\x20", b"\x1c\xab\xa7\xf2\x13\x9d", b"\x02\x00\x00\x00\x00\x0b"
    hdr = fc + b"\x2c\x00" + bssid + sta + da + b"\x00\x00" + (b"\x00\x00" if qos else b"")
    return hdr + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + frame


CAPWAP_WLAN = ("Ethernet", "IPv4", "UDP", "CAPWAP", "802.11", "IPv4", "TCP")


def test_capwap_native_80211():
    ip = bytes(inner_tcp())
    for kwargs in ({}, {"qos": True}, {"fc_swapped": True}):
        data = bytes(outer(5247) / Raw(capwap(wlan_data(ip, **kwargs), t=True)))
        assert_inner_tcp(data, CAPWAP_WLAN)


def test_capwap_radio_mac_and_wireless_info_inside_hlen():
    ip = bytes(inner_tcp())
    hdr = capwap(wlan_data(ip), t=True, radio_mac=b"\x02" * 6, wireless=b"\x04\xed\x4d\x00")
    assert_inner_tcp(bytes(outer(5247, 5247) / Raw(hdr)), CAPWAP_WLAN)


def test_capwap_8023_frame_and_reply_direction():
    data = bytes(outer(44000, 5247) / Raw(capwap(bytes(inner_eth()), t=False)))
    assert_inner_tcp(data, ("Ethernet", "IPv4", "UDP", "CAPWAP", "Ethernet", "IPv4", "TCP"))


def test_capwap_without_user_packet_keeps_the_outer_flow():
    eth = bytes(inner_eth())
    for hdr in (
        capwap(b"\x17\xfe\xfd" + b"\0" * 20, t=False, dtls=True),  # DTLS record: encrypted
        capwap(b"", t=False, k=True),  # keep-alive
        capwap(eth[20:], t=False, f=True, frag_off=100),  # a later CAPWAP fragment
    ):
        m = decode_meta(bytes(outer(5247) / Raw(hdr)))
        assert (m.stack, addrs(m), m.dport, m.status) == (("Ethernet", "IPv4", "UDP", "CAPWAP"), (O1, O2), 5247, OK)


def test_capwap_header_length_past_the_end_is_truncated():
    hdr = bytearray(capwap(b"", t=True))
    hdr[1] = 0xF8  # HLEN 31 words
    m = decode_meta(bytes(outer(5247) / Raw(bytes(hdr))))
    assert (addrs(m), m.status) == ((O1, O2), TRUNCATED)


def test_capwap_80211_management_frame_keyed_by_macs():
    beacon = b"\x80\x00\x00\x00" + b"\xff" * 6 + b"\x02" * 6 + b"\x02" * 6 + b"\0\0" + b"\0" * 12
    m = decode_meta(bytes(outer(5247) / Raw(capwap(beacon, t=True))))
    assert (m.stack[-1], m.l4, addrs(m)) == ("802.11", "802.11", ("02:02:02:02:02:02", "ff:ff:ff:ff:ff:ff"))


# -------------------------------------------------------------- IP in IP
@pytest.mark.parametrize(
    ("outer_ip", "layer"),
    [(IP(src=O1, dst=O2), "IPIP"), (IPv6(src="2001:db8::1", dst="2001:db8::2"), "4in6")],
)
def test_ipv4_in_ip(outer_ip, layer):
    net = "IPv4" if isinstance(outer_ip, IP) else "IPv6"
    assert_inner_tcp(bytes(ETH() / outer_ip / inner_tcp()), ("Ethernet", net, layer, "IPv4", "TCP"))


@pytest.mark.parametrize(
    ("outer_ip", "layer"),
    [(IP(src=O1, dst=O2), "6in4"), (IPv6(src="2001:db8::1", dst="2001:db8::2"), "6in6")],
)
def test_ipv6_in_ip(outer_ip, layer):
    pkt = ETH() / outer_ip / IPv6(src=I6A, dst=I6B) / UDP(sport=1234, dport=514) / b"<13>hi"
    m = decode_meta(bytes(pkt))
    net = "IPv4" if isinstance(outer_ip, IP) else "IPv6"
    assert (m.stack, addrs(m), m.sport, m.dport) == (("Ethernet", net, layer, "IPv6", "UDP"), (I6A, I6B), 1234, 514)


def test_ip_in_ip_with_the_wrong_inner_version_is_malformed():
    m = decode_meta(bytes(ETH() / IP(src=O1, dst=O2, proto=41) / inner_tcp()))  # says IPv6, carries IPv4
    assert (addrs(m), m.status) == ((O1, O2), MALFORMED)


# ---------------------------------------------------------------- nesting
def test_nested_tunnels():
    pkt = (
        ETH()
        / IP(src="203.0.113.1", dst="203.0.113.2")
        / GRE()
        / IP(src=O1, dst=O2)
        / UDP(sport=1, dport=4789)
        / VXLAN()
        / inner_eth()
    )
    assert_inner_tcp(bytes(pkt), ("Ethernet", "IPv4", "GRE", "IPv4", "UDP", "VXLAN", "Ethernet", "IPv4", "TCP"))


def test_nesting_is_bounded():
    pkt = inner_tcp()
    for i in range(MAX_TUNNELS + 3):
        pkt = IP(src=f"203.0.113.{i + 1}", dst="203.0.113.200") / pkt
    data = bytes(ETH() / pkt)
    m = decode_meta(data)
    assert sum(name == "IPIP" for name in m.stack) == MAX_TUNNELS + 1  # the layer not followed is shown
    assert m.l4 == "IPIP" and m.family == 4 and m.status == OK
    assert decode(data) == decode_general(data)


def tunnel_samples() -> list[bytes]:
    ip = bytes(inner_tcp())
    base = ETH() / IP(src=O1, dst=O2)
    gtp = GTP_U_Header(gtp_type=255, E=1, next_ex=0x85) / GTPPDUSessionContainer()
    erspan3 = GRE(proto=0x22EB, seqnum_present=1) / ERSPAN_III(o=1) / ERSPAN_PlatformSpecific()
    wlan = capwap(wlan_data(ip, qos=True), t=True, radio_mac=b"\x02" * 6, wireless=b"\x04\0\0\0")
    pptp = struct.pack("!HHHH", 0x3081, 0x880B, 4, 7) + b"\0" * 8 + b"\xff\x03\x00\x21" + ip
    return [
        bytes(outer(4789) / VXLAN() / inner_eth()),
        bytes(outer(6081) / GENEVE(proto=0x6558, options=GeneveOptions(data=b"\0" * 4)) / inner_eth()),
        bytes(outer(2152, 2152) / gtp / inner_tcp()),
        bytes(base / GRE(key_present=1, seqnum_present=1) / inner_tcp()),
        bytes(base / erspan3 / inner_eth()),
        bytes(outer(5247) / Raw(wlan)),
        bytes(base / IPv6(src=I6A, dst=I6B) / TCP()),
        bytes(ETH() / IP(src=O1, dst=O2, proto=47) / Raw(pptp)),
    ]


def test_truncated_tunnels_never_raise_and_keep_a_flow():
    for data in tunnel_samples():
        full = decode(data)
        assert full[9] == OK, data.hex()
        for cut in range(len(data)):
            m = decode(data[:cut])
            assert len(m) == 11 and m[9] in (OK, TRUNCATED, MALFORMED)
            assert m[8] <= cut
            assert m == decode_general(data[:cut])
            if cut > 34 + 8 and m[1] == 0:
                assert m[2] or m[3], (data.hex(), cut)  # a flow with addresses, inner or outer


def test_mutated_tunnel_headers_never_raise():
    import random

    rnd = random.Random(12)
    for data in tunnel_samples():
        for _ in range(300):
            b = bytearray(data)
            for _ in range(rnd.randint(1, 4)):
                b[rnd.randrange(34, min(len(b), 110))] = rnd.randrange(256)
            m = decode(bytes(b))
            assert m[9] in (OK, TRUNCATED, MALFORMED) and m == decode_general(bytes(b))


# ------------------------------------------------------------------ engine
def test_engine_keys_tunnelled_flows_by_inner_endpoints_both_ways():
    there = outer(4789, 40000) / VXLAN(vni=9) / inner_eth(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    back = (
        ETH()
        / IP(src=O2, dst=O1)
        / UDP(sport=51234, dport=4789)
        / VXLAN(vni=9)
        / ETH()
        / IP(src=I2, dst=I1)
        / TCP(sport=80, dport=51000, flags="PA")
        / b"HTTP/1.1 200 OK\r\n\r\n"
    )
    frames = [bytes(p) for p in (there, back, there)]
    engine = Engine(idle_timeout=None)
    engine.process([(1_700_000_000_000_000_000 + i, 1, 0, len(f), f, 1) for i, f in enumerate(frames)])
    snap = engine.snapshot()
    assert len(snap.flows) == 1
    f = snap.flows[0]
    assert (f.proto, f.src, f.sport, f.dst, f.dport) == ("TCP", I1, 51000, I2, 80)
    assert (f.packets_ab, f.packets_ba) == (2, 1)
    assert snap.protocols["VXLAN"].packets == 3 and snap.protocols["TCP"].packets == 3
    assert snap.protocols["UDP"].packets == 3  # the outer UDP is counted as a layer too
    assert (snap.packets, snap.bytes) == (3, sum(map(len, frames)))


# ------------------------------------------------------- sample captures
def _replay(path):
    from tui.classify import load_classifier
    from tui.sources.pcapfile import PcapSource

    engine = Engine(classifier=load_classifier(None, use_default_user=False), idle_timeout=None)
    engine.run(PcapSource(str(path)))
    return engine


@pytest.mark.parametrize(
    ("name", "layer", "pair"),
    [
        ("vxlan.pcap", "VXLAN", ("192.168.203.3", "192.168.203.5")),
        ("geneve.pcap", "GENEVE", ("30.0.0.1", "30.0.0.2")),
    ],
)
def test_tcpdump_tunnel_captures_give_inner_flows(pcaps_dir, name, layer, pair):
    engine = _replay(pcaps_dir / "tcpdump" / name)
    snap = engine.snapshot()
    assert snap.protocols[layer].packets == snap.packets  # every frame of these is tunnelled
    pairs = {frozenset((f.src, f.dst)) for f in snap.flows}
    assert frozenset(pair) in pairs
    outer_pairs = {frozenset(("192.168.203.1", "192.168.202.1")), frozenset(("20.0.0.1", "20.0.0.2"))}
    assert not pairs & outer_pairs, "no flow is keyed by the underlay's addresses"
    assert sum(f.packets_ab + f.packets_ba for f in snap.flows) == snap.packets


# nDPI captures with tunnelled traffic (found by tshark: GTP-U, CAPWAP, GRE/PPTP, 6in4).
TUNNEL_CAPTURES = {
    "capwap.pcap": "CAPWAP",
    "gre.pcapng": "GRE",
    "zoom.pcap": "GTP-U",
    "tls_change_cipher.pcap": "GTP-U",
    "false_positives.pcapng": "GTP-U",
    "syslog.pcap": "6in4",
}


def test_ndpi_tunnel_rows_match_inner_endpoints(pcaps_dir):
    from test_ground_truth import _endpoint, read_truth

    rows = defaultdict(list)
    for r in read_truth(pcaps_dir / "ndpi" / "truth.tsv"):
        if r.file in TUNNEL_CAPTURES:
            rows[r.file].append(r)
    assert set(rows) == set(TUNNEL_CAPTURES), "truth.tsv lists flows of every tunnel capture"
    missing, agree, total = [], 0, 0
    for name, file_rows in sorted(rows.items()):
        engine = _replay(pcaps_dir / "ndpi" / name)
        snap = engine.snapshot()
        assert TUNNEL_CAPTURES[name] in snap.protocols, name
        ours = {}
        for f in snap.flows:
            ours[(f.proto.upper(), frozenset(((f.src, f.sport or 0), (f.dst, f.dport or 0))))] = f
        for r in file_rows:
            f = ours.get((r.l4.upper(), frozenset((_endpoint(r.a), _endpoint(r.b)))))
            total += 1
            if f is None:
                missing.append(f"{name} {r.l4} {r.a} {r.b}")
            elif f.use_case == r.use_case:
                agree += 1
    print(f"\ntunnel captures: {total - len(missing)} of {total} nDPI flows found, {agree} agree", file=sys.stderr)
    assert not missing, "flows nDPI found inside tunnels that we do not:\n" + "\n".join(missing)
