"""IP fragments: every fragment counts once, on its datagram's real flow; reassembly is bounded.

Fragments are made by scapy's ``fragment()`` and ``fragment6()`` (and by hand for the
odd cases: overlaps, duplicates, floods); ../shared/pcaps/ndpi/dns_fragmented.pcap has
real ones.
"""

from __future__ import annotations

import random

import pytest
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from tui.decode import decode, decode_datagram, decode_general, decode_meta
from tui.engine import Engine
from tui.fragments import Reassembler
from tui.sources.pcapfile import PcapSource

A4, B4 = "192.0.2.1", "198.51.100.7"
A6, B6 = "2001:db8::1", "2001:db8::2"
T0 = 1_700_000_000_000_000_000


def eth(pkt) -> bytes:
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / pkt)


def udp4(n: int = 3000, ident: int = 77, sport: int = 1111, dport: int = 2222, src: str = A4) -> list[bytes]:
    payload = bytes(random.Random(ident).randrange(256) for _ in range(n))
    return [eth(f) for f in fragment(IP(src=src, dst=B4, id=ident) / UDP(sport=sport, dport=dport) / payload, 1000)]


def udp6(n: int = 3000, ident: int = 9) -> list[bytes]:
    pkt = IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(id=ident) / UDP(sport=3333, dport=4444) / (b"z" * n)
    return [eth(f) for f in fragment6(pkt, 1280)]


def frames(datas: list[bytes], start: int = 0) -> list[tuple]:
    return [(T0 + (start + i) * 1000, 1, i & 1, len(d), d, 1) for i, d in enumerate(datas)]


def run(batches: list[list[bytes]], classifier=None) -> Engine:
    engine = Engine(classifier=classifier, idle_timeout=None)
    n = 0
    for b in batches:
        engine.process(frames(b, n))
        n += len(b)
    return engine


def flow_rows(engine: Engine) -> list[tuple]:
    snap = engine.snapshot()
    return sorted((f.proto, f.src, f.sport, f.dst, f.dport, f.packets_ab + f.packets_ba) for f in snap.flows)


def assert_totals(engine: Engine, datas: list[bytes]) -> None:
    snap = engine.snapshot()
    assert (snap.packets, snap.bytes) == (len(datas), sum(map(len, datas)))
    assert sum(f.packets_ab + f.packets_ba for f in snap.flows) == snap.packets
    assert sum(f.bytes_ab + f.bytes_ba for f in snap.flows) == snap.bytes
    assert sum(c.packets for c in snap.use_cases.values()) == snap.packets


# ----------------------------------------------------------------- decode
def test_decode_describes_fragments():
    frags = udp4()
    metas = [decode_meta(f) for f in frags]
    assert len(metas) == 4
    key = metas[0].frag[0]
    assert key == (4, bytes([192, 0, 2, 1]), bytes([198, 51, 100, 7]), 77, 17)
    assert [m.frag[1] for m in metas] == [0, 1000, 2000, 3000]  # offsets in bytes
    assert [bool(m.frag[2]) for m in metas] == [True, True, True, False]  # more fragments
    assert all(m.frag[0] == key for m in metas)
    for f in frags:
        assert decode(f) == decode_general(f)  # fragments leave the fast path, same answer
    whole = decode_meta(eth(IP(src=A4, dst=B4, flags="DF") / UDP(sport=1, dport=2)))
    assert whole.frag is None  # DF alone is no fragment


def test_decode_ipv6_fragments_and_atomic_fragment():
    metas = [decode_meta(f) for f in udp6()]
    assert metas[0].frag[0] == (6, metas[0].src, metas[0].dst, 9, 17)
    assert (metas[0].sport, metas[0].dport) == (3333, 4444)
    assert metas[-1].frag[2] == 0 and metas[1].frag[1] > 0
    atomic = decode_meta(eth(IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(m=0, offset=0) / UDP(sport=7, dport=8)))
    assert (atomic.frag, atomic.sport, atomic.dport) == (None, 7, 8)  # RFC 6946: a whole packet


def test_first_fragment_of_a_tunnel_stays_on_the_outer_flow():
    from scapy.layers.vxlan import VXLAN

    pkt = IP(src=A4, dst=B4, flags="MF") / UDP(sport=1, dport=4789) / VXLAN() / Ether() / IP() / TCP()
    m = decode_meta(eth(pkt))
    assert (m.stack[-1], m.dport, m.frag is not None) == ("UDP", 4789, True)


# ------------------------------------------------------------ reassembler
def feed(r: Reassembler, datas: list[bytes], ts: float = 0.0) -> list[bytes]:
    out = []
    for d in datas:
        m = decode(d)
        _dg, whole = r.add(d, m[10], ts, (m[5], m[6]) if m[10][1] == 0 else None)
        if whole is not None:
            out.append(whole)
    return out


@pytest.mark.parametrize("order", ["in order", "reversed", "shuffled"])
def test_reassembly_in_any_order(order):
    frags = udp4()
    if order == "reversed":
        frags = frags[::-1]
    elif order == "shuffled":
        random.Random(3).shuffle(frags)
    r = Reassembler()
    whole = feed(r, frags)
    assert len(whole) == 1
    orig = bytes(IP(src=A4, dst=B4, id=77) / UDP(sport=1111, dport=2222) / udp4_payload())
    assert whole[0][20:] == orig[20:]  # the transport header and all the data
    assert len(whole[0]) == len(orig) and whole[0][:2] == orig[:2] and whole[0][6:8] == b"\0\0"
    m = decode_datagram(whole[0])
    assert (m[4], m[5], m[6], m[8]) == ("UDP", 1111, 2222, 28)
    assert r.held == 0  # pieces freed once joined


def udp4_payload() -> bytes:
    return bytes(random.Random(77).randrange(256) for _ in range(3000))


def test_ipv6_reassembly():
    r = Reassembler()
    whole = feed(r, udp6()[::-1])
    assert len(whole) == 1
    m = decode_datagram(whole[0])
    assert (m[1], m[4], m[5], m[6]) == (6, "UDP", 3333, 4444)
    assert whole[0][m[8] :] == b"z" * 3000


def test_duplicates_are_ignored_and_missing_pieces_never_complete():
    frags = udp4()
    r = Reassembler()
    assert feed(r, [frags[0], frags[1], frags[1], frags[0], frags[3]]) == []  # piece 2 missing
    (dg,) = r.pending.values()
    assert dg.ports == (1111, 2222) and len(dg.pieces) == 3
    assert len(feed(r, [frags[2]])) == 1


def test_overlapping_fragments_drop_the_bytes_but_keep_the_ports():
    base = IP(src=A4, dst=B4, id=5, proto=17)
    first = eth(base.copy() / UDP(sport=53, dport=40000, len=8 + 64) / (b"a" * 56))  # bytes 0..64
    first = bytearray(first)
    first[14 + 6] = 0x20  # MF
    overlap = eth(IP(src=A4, dst=B4, id=5, proto=17, frag=4) / (b"b" * 40))  # bytes 32..72: overlaps
    r = Reassembler()
    assert feed(r, [bytes(first), overlap]) == []
    (dg,) = r.pending.values()
    assert dg.pieces is None and dg.ports == (53, 40000) and r.overlaps == 1 and r.held == 0


def test_bounds_datagrams_bytes_pieces_and_timeout():
    r = Reassembler(max_datagrams=8, max_bytes=5000, max_pieces=3, timeout=30.0)
    for i in range(50):  # a flood of first fragments that never complete
        feed(r, udp4(ident=1000 + i)[:1], ts=float(i) / 100)
    assert len(r.pending) <= 8 and r.held <= 5000 and r.evicted >= 42
    assert 1049 in {k[3] for k in r.pending}  # the newest stay, the oldest went
    many = udp4(n=5000, ident=2)  # 6 pieces: more than max_pieces
    assert feed(r, many, ts=1.0) == [] and r.pending[decode(many[0])[10][0]].pieces is None
    feed(r, udp4(ident=3)[:1], ts=100.0)  # 99 s later: everything older expired
    assert len(r.pending) == 1 and r.expired >= 1


def test_a_datagram_past_64k_is_given_up():
    r = Reassembler()
    huge = eth(IP(src=A4, dst=B4, id=8, proto=17, frag=8190, flags="MF") / (b"x" * 16))  # 65520 + 16
    feed(r, [huge])
    assert r.overlaps == 1 and r.held == 0


# ----------------------------------------------------------------- engine
@pytest.mark.parametrize("order", ["in order", "reversed"])
@pytest.mark.parametrize("family", [4, 6])
def test_every_fragment_counts_on_the_real_flow(order, family):
    frags = udp4() if family == 4 else udp6()
    if order == "reversed":
        frags = frags[::-1]
    engine = run([frags])
    (row,) = flow_rows(engine)
    assert (row[0], row[2], row[4], row[5]) == ("UDP", 1111 if family == 4 else 3333, 2222 if family == 4 else 4444,
                                                len(frags))  # fmt: skip
    assert_totals(engine, frags)


def test_fragments_before_the_first_move_to_its_flow_across_batches():
    frags = udp4()
    datas = [frags[3], frags[2], frags[1], frags[0]]
    engine = run([[d] for d in datas])
    (row,) = flow_rows(engine)
    assert (row[2], row[4], row[5]) == (1111, 2222, 4)
    assert_totals(engine, datas)
    snap = engine.snapshot()
    assert snap.protocols["UDP"].packets == 4 and snap.use_cases["unknown"].packets == 4


def test_missing_first_fragment_leaves_a_portless_flow():
    frags = udp4()
    engine = run([frags[1:]])
    (row,) = flow_rows(engine)
    assert (row[2], row[4], row[5]) == (0, 0, 3)
    assert_totals(engine, frags[1:])


def test_duplicates_and_overlaps_count_once_each_on_the_flow():
    frags = udp4()
    dup = [frags[0], frags[1], frags[1], frags[2], frags[3], frags[3]]
    engine = run([dup])
    (row,) = flow_rows(engine)
    assert (row[2], row[4], row[5]) == (1111, 2222, 6)
    assert_totals(engine, dup)


def test_interleaved_datagrams_of_two_flows():
    a, b = udp4(ident=1, sport=1000), udp4(ident=2, sport=2000)
    mixed = [x for pair in zip(a[::-1], b, strict=True) for x in pair]
    engine = run([mixed[:3], mixed[3:]])
    assert [(r[2], r[5]) for r in flow_rows(engine)] == [(1000, 4), (2000, 4)]
    assert_totals(engine, mixed)


def test_ring_keeps_the_original_frames():
    frags = udp4()[::-1]
    engine = run([frags])
    assert [f[4] for f in engine.ring_frames()] == frags


class Recorder:
    """A classifier that decides nothing and keeps what the engine showed it."""

    payload_only = False

    def __init__(self) -> None:
        self.seen: list[tuple[tuple, bytes]] = []

    def observe(self, flow, meta, data, from_src) -> None:
        self.seen.append((meta, data))

    def finish(self, flow) -> None:
        flow.use_case = "unknown"


def test_the_classifier_sees_the_whole_datagram_once():
    answer = (
        IP(src=B4, dst=A4, id=300)
        / UDP(sport=53, dport=40000)
        / DNS(id=1, qr=1, qd=DNSQR(qname="example.com"), an=[DNSRR(rrname="example.com", rdata="192.0.2.9")] * 150)
    )
    frags = [eth(f) for f in fragment(answer, 1000)]
    assert len(frags) > 2
    rec = Recorder()
    run([frags[::-1]], rec)
    with_payload = [(m, d) for m, d in rec.seen if 0 <= m[8] < len(d)]
    assert len(with_payload) == 1
    meta, data = with_payload[0]
    assert (meta[4], meta[5], meta[6]) == ("UDP", 53, 40000)
    assert data[meta[8] :] == bytes(answer[DNS])  # the whole DNS answer, from its fragments


def test_the_classifier_gets_no_partial_first_fragment():
    frags = udp4()
    rec = Recorder()
    run([frags[:2]], rec)  # the datagram never completes
    assert all(m[8] == -1 for m, _ in rec.seen)


def test_fragment_flood_memory_is_bounded():
    rnd = random.Random(1)
    template = bytearray(eth(IP(src=A4, dst=B4, proto=17, flags="MF") / (b"f" * 8)))
    datas = []
    for i in range(20_000):  # 8-byte pieces, random sources, ids and offsets (IP checksums not fixed)
        template[18:20] = i.to_bytes(2, "big")
        template[20:22] = (0x2000 | rnd.randrange(0, 8000)).to_bytes(2, "big")
        template[29] = rnd.randrange(1, 255)
        datas.append(bytes(template))
    engine = run([datas[i : i + 512] for i in range(0, len(datas), 512)])
    r = engine.fragments
    assert len(r.pending) <= r.max_datagrams and r.held <= r.max_bytes
    assert_totals(engine, datas)


# -------------------------------------------------------- sample capture
def test_dns_fragmented_capture(pcaps_dir):
    path = pcaps_dir / "ndpi" / "dns_fragmented.pcap"
    engine = Engine(idle_timeout=None)
    engine.run(PcapSource(str(path)))
    snap = engine.snapshot()
    portless = [f for f in snap.flows if f.proto == "UDP" and not f.sport and not f.dport]
    assert not portless, "every fragment of this capture has its first fragment there"
    big = [f for f in snap.flows if f.proto == "UDP" and f.packets_ab + f.packets_ba >= 3]
    assert len(big) >= 5  # query + answer in two fragments, or more
    assert sum(f.packets_ab + f.packets_ba for f in snap.flows) == snap.packets


def test_raw_fragment_without_ip_payload_is_safe():
    for data in (eth(IP(src=A4, dst=B4, frag=1, proto=6)), eth(IP(src=A4, dst=B4, flags="MF", proto=6) / Raw(b"ab"))):
        engine = run([[data]])
        assert engine.snapshot().packets == 1
