"""The classifier's shortcuts give what the general paths give.

Speed work added shortcuts: the SNI read without walking the other extensions (and in place,
inside the record), DNS answer names that point at the question skipped, payload rules looked
up by the byte at their offset, and a flow's state created only when it shows payload.  Each
is checked here against the plain computation, on real ClientHellos, crafted DNS messages,
hypothesis bytes and the sample captures.
"""

from __future__ import annotations

import struct

from classify_helpers import client_hello
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.classify import load_classifier, wire
from tui.classify.rules import PayloadRule, Rule, index_payloads, load_rules
from tui.flows import Flow

CLASSIFIER = load_classifier(None, use_default_user=False)


def _flow(proto: str, sport: int, dport: int) -> Flow:
    return Flow(("k",), proto, 4, b"\xc0\x00\x02\x01", sport, b"\xc6\x33\x64\x02", dport, 0.0, 0.0)


# ------------------------------------------------------------------ TLS
def test_sni_matches_the_full_parse_on_real_hellos():
    for name in ("www.example.com", "r3---sn-abc.googlevideo.com", "a.b", "x" * 60 + ".example.org"):
        rec = client_hello(name)
        hs, complete = wire.tls_handshake(rec)
        assert complete
        assert wire.client_hello_sni(hs) == wire.client_hello_body(hs)[0] == name
        rlen = struct.unpack_from("!H", rec, 3)[0]
        assert wire.client_hello_sni(rec, 5, 5 + rlen) == name  # in place, inside the record
        for cut in range(0, len(hs), 7):  # truncated: same answer as the full parse
            assert wire.client_hello_sni(hs[:cut]) == (wire.client_hello_body(hs[:cut]) or (None,))[0]


def test_single_record_shortcut_equals_record_walk():
    rec = client_hello("video.example.net")
    hs, _complete = wire.tls_handshake(rec)
    # the same message split over two records takes the general path: same message
    body = rec[5:]
    split = b"\x16\x03\x01" + struct.pack("!H", 100) + body[:100]
    split += b"\x16\x03\x01" + struct.pack("!H", len(body) - 100) + body[100:]
    assert wire.tls_handshake(split) == (hs, True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=400), st.integers(0, 400))
def test_sni_equals_body_on_garbage(blob, cut):
    hs = b"\x01" + blob
    assert wire.client_hello_sni(hs) == (wire.client_hello_body(hs) or (None,))[0]
    rec = b"\x16\x03\x01" + struct.pack("!H", min(cut, len(hs))) + hs
    assert (
        wire.client_hello_sni(rec, 5, 5 + min(cut, len(hs)))
        == (wire.client_hello_body(hs[: min(cut, len(hs))]) or (None,))[0]
    )


# ------------------------------------------------------------------ DNS
def _answer(name: str, ptr: bool, addrs: list[bytes]) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    msg = struct.pack("!HHHHHH", 7, 0x8180, 1, len(addrs), 0, 0) + q + b"\x00\x01\x00\x01"
    for a in addrs:
        owner = b"\xc0\x0c" if ptr else q
        rtype = 1 if len(a) == 4 else 28
        msg += owner + struct.pack("!HHIH", rtype, 1, 60, len(a)) + a
    return msg


def test_dns_answers_same_with_and_without_pointers():
    addrs = [bytes([203, 0, 113, 5]), bytes(range(16)), bytes([198, 51, 100, 9])]
    for name in ("a.example.com", "h12.r3---sn-abc.googlevideo.com", "x"):
        want = (True, name, addrs)
        assert wire.dns_message(_answer(name, True, addrs), 0) == want
        assert wire.dns_message(_answer(name, False, addrs), 0) == want


def _dns_reference(data: bytes) -> tuple | None:
    """dns_message as it was: every answer name walked with dns_name (the shortcut skips some)."""
    got = wire.dns_message(data, 0)
    if got is None:
        return got
    _id, _flags, qd, an, _ns, _ar = struct.unpack_from("!HHHHHH", data, 0)
    p = 12
    qname = None
    for _ in range(qd):
        name, p = wire.dns_name(data, 0, p)
        qname = name if qname is None else qname
        p += 4
    addrs = []
    for _ in range(min(an, wire.MAX_DNS_RECORDS) if got[0] else 0):
        _name, p = wire.dns_name(data, 0, p)
        if p < 0 or p + 10 > len(data):
            break
        rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", data, p)
        p += 10
        if p + rdlen > len(data):
            break
        if (rtype == 1 and rdlen == 4) or (rtype == 28 and rdlen == 16):
            addrs.append(bytes(data[p : p + rdlen]))
        p += rdlen
    return got[0], qname, addrs


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        ["a.example.com", "h1.www.example.com", "x", "Mixed.CASE.example", "a" * 63 + ".b", ".".join(["c" * 63] * 4)]
    ),
    st.booleans(),
    st.lists(st.tuples(st.integers(0, 80), st.integers(0, 255)), max_size=4),
)
def test_dns_pointer_skip_equals_the_full_walk(name, ptr, edits):
    """Answers whose owner points elsewhere (into the name, past it, at itself): same as walking each."""
    msg = bytearray(_answer(name, ptr, [bytes([203, 0, 113, 5]), bytes(16)]))
    for pos, value in edits:
        if pos < len(msg):
            msg[pos] = value
    data = bytes(msg)
    assert wire.dns_message(data, 0) == _dns_reference(data)


# ------------------------------------------------------------------ payload rules
def _scan(rules, transport: str, pl: bytes, sport: int, dport: int) -> Rule | None:
    """What the classifier did before the tables: every candidate, in index order."""
    for group in (rules.payload_index.get(pl[0]), rules.payload_any):
        for pr in group or ():
            if pr.transport != "ANY" and pr.transport != transport:
                continue
            if pr.ports and sport not in pr.ports and dport not in pr.ports:
                continue
            if pl.startswith(pr.prefix, pr.offset):
                return pr.rule
    return None


def _tabled(classifier, transport: str, pl: bytes, sport: int, dport: int) -> Rule | None:
    flow = _flow(transport, sport, dport)
    state = type("S", (), {"sig": None, "sig_detail": None})()
    classifier._payload_rules(flow, state, pl, transport)
    return state.sig


def test_payload_tables_equal_a_scan_of_every_rule():
    rules = CLASSIFIER.rules
    samples = [pr.prefix.rjust(pr.offset + len(pr.prefix), b"\x00") + b"rest" for pr in rules.payloads]
    samples += [bytes(40), b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00Cookie: mstshash=x", b"\xffSMBr" * 4]
    for pl in samples:
        for transport in ("TCP", "UDP"):
            for ports in ((40000, 2000), (40000, 41000), (27015, 50000)):
                assert _tabled(CLASSIFIER, transport, pl, *ports) == _scan(rules, transport, pl, *ports)


def test_payload_rule_order_across_offsets():
    """Two rules at different offsets matching the same bytes: the earlier rule wins, as in a scan."""
    rules = load_rules(None, use_default_user=False)
    a = Rule("A", "gaming", "payload a")
    b = Rule("B", "voice", "payload b")
    rules.payloads = [PayloadRule("ANY", 4, b"zz", frozenset(), a), PayloadRule("ANY", 2, b"yy", frozenset(), b)]
    index_payloads(rules)
    from tui.classify import Classifier

    c = Classifier(rules)
    pl = b"\x00\x00yyzz"
    assert _tabled(c, "UDP", pl, 1, 2) == _scan(rules, "UDP", pl, 1, 2) == b  # later in the file wins


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=40), st.sampled_from(["TCP", "UDP"]), st.sampled_from([2000, 27015, 40000]))
def test_payload_tables_on_garbage(pl, transport, port):
    assert _tabled(CLASSIFIER, transport, pl, 50000, port) == _scan(CLASSIFIER.rules, transport, pl, 50000, port)


# ------------------------------------------------------------------ lazy state
def test_flow_without_payload_keeps_no_state_and_settles_on_its_port():
    flow = _flow("TCP", 50000, 25)
    syn = bytes(14) + bytes(20) + bytes(20)
    meta = (("Ethernet", "IPv4", "TCP"), 4, flow.src, flow.dst, "TCP", 50000, 25, 0x02, len(syn), 0)
    CLASSIFIER.observe(flow, meta, syn, True)
    assert not flow.decided and (flow.app, flow.use_case, flow.reason) == ("SMTP", "mail", "port 25/tcp")
    assert type(flow.scratch).__name__ != "FlowState"  # a marker, not a state per flow
    CLASSIFIER.finish(flow)
    assert flow.scratch is None and (flow.app, flow.use_case, flow.reason) == ("SMTP", "mail", "port 25/tcp")


# ------------------------------------------------------------------ shortcuts end to end
def _verdicts(frames: list[tuple], shortcuts: bool) -> dict:
    from tui.engine import Engine

    classifier = load_classifier(None, use_default_user=False)
    classifier.shortcuts = shortcuts
    engine = Engine(classifier=classifier, idle_timeout=None)
    for i in range(0, len(frames), 256):
        engine.process(frames[i : i + 256])
    flows = {k: (f.app, f.use_case, f.reason, f.name, f.decided) for k, f in engine.table.flows.items()}
    snap = engine.snapshot()
    return {"flows": flows, "use_cases": dict(snap.use_cases), "apps": dict(snap.apps), "names": dict(classifier.names)}


def _sample_frames(pcaps_dir) -> list[tuple]:
    import threading

    from tui.sources.pcapfile import PcapSource

    frames: list[tuple] = []
    for path in sorted(p for p in pcaps_dir.rglob("*") if p.suffix in (".pcap", ".pcapng", ".cap")):
        src = PcapSource(str(path))
        try:
            for batch in src.batches(threading.Event()):
                frames.extend(batch)
        except Exception:  # a damaged sample (some are, on purpose): keep what was read
            pass
        finally:
            src.close()
    return frames


def test_shortcuts_give_the_general_verdicts_on_the_sample_captures(pcaps_dir):
    frames = _sample_frames(pcaps_dir)
    assert len(frames) > 10_000
    fast, general = _verdicts(frames, True), _verdicts(frames, False)
    assert fast == general
    decided_by_dns = sum(1 for v in fast["flows"].values() if v[2] and v[2].endswith("dns response"))
    decided_by_sni = sum(1 for v in fast["flows"].values() if v[2] and v[2].startswith("tls sni"))
    assert decided_by_dns > 100 and decided_by_sni > 100  # both shortcuts were taken


def test_shortcuts_give_the_general_verdicts_on_the_synthetic_mix():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import synth

    frames = synth.synthetic_mix(40_000, 4_000)
    fast, general = _verdicts(frames, True), _verdicts(frames, False)
    assert fast == general
    assert len(fast["flows"]) == 4_000


def test_sni_shortcut_each_verdict_branch():
    """SNI with a name rule, SNI without one on a server with a learned name, on a mail port, plain."""
    from classify_helpers import run, tcp

    def flows(shortcuts: bool) -> list[tuple]:
        packets = []
        for sport, dport, name in (
            (40001, 443, "cdn.discordapp.com"),  # name rule; teaches the server's address
            (40002, 443, "www.example.com"),  # no rule: the learned name's hint decides
            (40003, 993, "www.example.com"),  # port 993 is mail, TLS is web: the port decides
        ):
            packets += [tcp(sport=sport, dport=dport, flags="S"), tcp(client_hello(name), sport=sport, dport=dport)]
        classifier = load_classifier(None, use_default_user=False)
        classifier.shortcuts = shortcuts
        eng = run(packets, classifier)
        classifier.names.clear()
        eng2 = run(packets[4:], classifier)  # the port-993 flow without any learned name
        got = sorted((f.sport, f.app, f.use_case, f.reason, f.name, f.decided) for f in eng.table.flows.values())
        return got + [(f.app, f.use_case, f.reason) for f in eng2.table.flows.values()]

    fast = flows(True)
    assert fast == flows(False)
    reasons = [row[3] for row in fast[:3]] + [fast[3][2]]
    assert reasons[0] == "tls sni *.discordapp.com"
    assert reasons[1] == "tls sni, learned name *.discordapp.com"
    assert reasons[3].startswith("tls sni, port 993")
