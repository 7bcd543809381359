"""observe() never raises, whatever the bytes: hypothesis garbage, truncations of real signatures."""

from __future__ import annotations

from classify_helpers import client_hello, quic_initial, run, tcp, udp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.classify import load_classifier, quic, wire
from tui.decode import decode
from tui.flows import Flow
from tui.snapshot import USE_CASES

PORTS = [21, 22, 25, 53, 80, 110, 143, 443, 1883, 5060, 5353, 8000, 27015, 3478, 40000]
CLASSIFIER = load_classifier(None, use_default_user=False)


def _flow(proto: str, sport: int, dport: int) -> Flow:
    return Flow(("k",), proto, 4, b"\xc0\x00\x02\x01", sport, b"\xc6\x33\x64\x02", dport, 0.0, 0.0)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payloads=st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=12),
    proto=st.sampled_from(["TCP", "UDP"]),
    sport=st.sampled_from(PORTS),
    dport=st.sampled_from(PORTS),
    prefix=st.sampled_from([b"", b"\x16\x03\x01", b"\xc3\x00\x00\x00\x01", b"GET ", b"220 ", b"\x13BitT", b"d1:"]),
)
def test_observe_never_raises_on_garbage(payloads, proto, sport, dport, prefix):
    flow = _flow(proto, sport, dport)
    for i, body in enumerate(payloads):
        pkt = (tcp if proto == "TCP" else udp)(prefix + body, sport=sport, dport=dport, reply=bool(i % 2))
        data = bytes(pkt)
        meta = decode(data, 1)
        CLASSIFIER.observe(flow, meta, data, not i % 2)
        if flow.decided:
            break
    CLASSIFIER.finish(flow)
    assert flow.use_case in USE_CASES


def test_every_truncation_of_signatures_is_safe():
    hello = client_hello("truncate.example.com")
    initial = quic_initial("truncate.example.com")[0]
    for cut in range(0, len(hello), 7):
        run([tcp(hello[:cut], dport=443)])
    for cut in range(0, len(initial), 23):
        run([udp(initial[:cut], sport=50000, dport=443)])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_parsers_never_raise(blob):
    wire.tls_handshake(blob)
    wire.client_hello_body(blob)
    wire.dns_message(blob, 0)
    wire.http_request(blob, 0)
    wire.http_response(blob, 0)
    wire.stun(blob, 0)
    wire.rtp(blob, 0)
    wire.mqtt_connect(blob, 0)
    wire.cert_host(blob, 0)
    wire.ftp_endpoint(blob)
    quic.long_header(blob, 0)
    quic.initial_crypto(b"\xc0\x00\x00\x00\x01" + blob, 0, {})
    quic.crypto_frames(blob)
    quic.gquic_sni(b"CHLO" + blob, 0)


def test_dns_label_loop_terminates():
    # A name made of pointers to each other (forward and backward) must end quickly.
    msg = bytes(12) + b"\xc0\x0e\xc0\x0c"
    assert wire.dns_name(msg, 0, 12) == (None, -1)
    assert wire.dns_name(msg, 0, 14) == (None, -1)
