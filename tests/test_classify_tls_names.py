"""TLS, DTLS and QUIC without a usable SNI: ALPN (RFC 7301), the server's certificate names, DTLS hellos.

Hellos come from Python's ssl module (real TLS 1.2 / 1.3 flights, memory BIOs, no network) or
are built with struct following RFC 8446 4.1.2 / RFC 6347 4.3.2; certificates from
``cryptography``.  Each verdict is read off a real Engine, shortcuts on and off.
"""

from __future__ import annotations

import datetime
import os
import random
import ssl
import struct
import tempfile

import pytest
from classify_helpers import handshake, run, tcp, udp
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tui.classify import load_classifier
from tui.classify.detectors import alpn, tls, x509


# ------------------------------------------------------------------ builders
def _cert(cn: str, sans: list[str]) -> tuple[bytes, bytes]:
    """(DER certificate, PEM key) for a self-signed certificate with this CN and these dNSNames."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name(
        [cx509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Org"), cx509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    b = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "Test Issuing CA")]))
        .public_key(key.public_key())
        .serial_number(12345)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    if sans:
        b = b.add_extension(cx509.SubjectAlternativeName([cx509.DNSName(s) for s in sans]), critical=False)
    cert = b.sign(key, hashes.SHA256())
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.DER), pem_key


def _flight(
    cn: str, sans: list[str], client_alpn=None, server_alpn=None, tls13=False, sni=None
) -> tuple[bytes, bytes, bytes]:
    """(client hello, server flight, DER certificate) of a real handshake by Python's ssl module."""
    der, pem_key = _cert(cn, sans)
    with tempfile.TemporaryDirectory() as tmp:
        cpath, kpath = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        with open(cpath, "wb") as fh:
            fh.write(ssl.DER_cert_to_PEM_cert(der).encode())
        with open(kpath, "wb") as fh:
            fh.write(pem_key)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cpath, kpath)
    if not tls13:
        sctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if server_alpn:
        sctx.set_alpn_protocols(server_alpn)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    if client_alpn:
        cctx.set_alpn_protocols(client_alpn)
    ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = cctx.wrap_bio(ci, co, server_hostname=sni)
    server = sctx.wrap_bio(si, so, server_side=True)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    hello = co.read()
    si.write(hello)
    with pytest.raises(ssl.SSLWantReadError):
        server.do_handshake()
    return hello, so.read(), der


def _hello_body(sni: bytes | None, alpn_ids: list[bytes], cookie: bytes | None = None) -> bytes:
    """A ClientHello body (RFC 8446 4.1.2; with ``cookie``, the DTLS form of RFC 6347 4.2.1)."""
    exts = b""
    if sni is not None:
        entry = b"\x00" + struct.pack("!H", len(sni)) + sni
        exts += struct.pack("!HH", 0, len(entry) + 2) + struct.pack("!H", len(entry)) + entry
    if alpn_ids:
        lst = b"".join(bytes([len(a)]) + a for a in alpn_ids)
        exts += struct.pack("!HH", 16, len(lst) + 2) + struct.pack("!H", len(lst)) + lst
    body = b"\xfe\xfd" if cookie is not None else b"\x03\x03"
    body += bytes(range(32)) + b"\x00"  # random, empty session id
    if cookie is not None:
        body += bytes([len(cookie)]) + cookie
    body += b"\x00\x02\xc0\x2b" + b"\x01\x00"  # one cipher suite, null compression
    return body + struct.pack("!H", len(exts)) + exts


def _tls_hello(sni: bytes | None, alpn_ids: list[bytes]) -> bytes:
    body = _hello_body(sni, alpn_ids)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def _dtls_hello(sni: bytes | None, alpn_ids: list[bytes], frag_off: int = 0) -> bytes:
    body = _hello_body(sni, alpn_ids, cookie=b"\x11" * 20)
    ln = len(body).to_bytes(3, "big")
    hs = b"\x01" + ln + b"\x00\x00" + frag_off.to_bytes(3, "big") + ln + body
    return b"\x16\xfe\xfd" + b"\x00\x00" + b"\x00" * 6 + struct.pack("!H", len(hs)) + hs


def _verdict(packets, shortcuts=True):
    classifier = load_classifier(None, use_default_user=False)
    classifier.shortcuts = shortcuts
    flows = list(run(packets, classifier).table.flows.values())
    assert len(flows) == 1, flows
    f = flows[0]
    return f.app, f.use_case, f.reason, f.name


def _both(packets):
    """The verdict, checked equal with the classifier's shortcuts on and off."""
    fast = _verdict(packets, True)
    assert fast == _verdict(packets, False)
    return fast


def _segments(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


# ------------------------------------------------------------------ ALPN table
def test_alpn_offer_gives_the_registry_use_case():
    assert alpn.offer_hit(("imap",))[0].use_case == "mail"
    assert alpn.offer_hit(("xmpp-client",))[0].use_case == "messaging"
    assert alpn.offer_hit(("stun.turn",))[0].use_case == "voice"
    assert alpn.offer_hit(("dot",))[0].use_case == "name_resolution"
    assert alpn.offer_hit(("doq-i00",))[0].use_case == "name_resolution"  # RFC 9250's draft IDs
    assert alpn.offer_hit(("ftp",))[1] == "alpn ftp"
    assert alpn.offer_hit(("vendor/1.0", "pop3"))[0].use_case == "mail"  # unknown IDs teach nothing


def test_alpn_web_ids_and_near_misses_say_nothing():
    assert alpn.offer_hit(("h2", "http/1.1")) is None
    assert alpn.offer_hit(("h3-29", "imap")) is None  # the client prefers web: the table's first known ID decides
    assert alpn.offer_hit(("h2", "xmpp-client")) is None
    assert alpn.offer_hit(("imap2", "IMAP", "imaps", "xmpp")) is None  # not registry IDs
    assert alpn.offer_hit(()) is None


def test_protocol_list_is_bounded_and_never_raises():
    assert alpn.protocol_list(b"\x00\x05\x04imap", 0, 7) == ("imap",)
    assert alpn.protocol_list(b"\x00\x05\x09imap", 0, 7) == ()  # an ID past the end
    assert alpn.protocol_list(b"\x00", 0, 1) == ()
    rng = random.Random(7)
    for _ in range(300):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        alpn.protocol_list(blob, 0, len(blob))
        alpn.hello_alpn(blob, 0, len(blob))


# ------------------------------------------------------------------ TLS ClientHello ALPN
def test_no_sni_alpn_offer_names_the_use():
    v = _both([*handshake(dport=443), tcp(_tls_hello(None, [b"imap"]), dport=443)])
    assert v[:3] == ("TLS", "mail", "tls alpn imap")


def test_sni_without_a_rule_and_an_alpn_offer():
    hello = _tls_hello(b"chat.example.org", [b"xmpp-client"])
    assert _both([*handshake(dport=5223), tcp(hello, dport=5223)]) == (
        "TLS",
        "messaging",
        "tls sni alpn xmpp-client",
        "chat.example.org",
    )


def test_a_name_rule_that_says_more_than_web_wins_over_alpn():
    hello = _tls_hello(b"www.netflix.com", [b"dot"])
    assert _both([*handshake(dport=443), tcp(hello, dport=443)])[1:3] == ("streaming", "tls sni *.netflix.com")


def test_web_alpn_leaves_the_sni_verdict_alone():
    hello = _tls_hello(b"shop.example.org", [b"h2", b"http/1.1"])
    assert _both([*handshake(dport=443), tcp(hello, dport=443)])[1:3] == ("web", "tls sni")


def test_ssl_module_hello_with_alpn_offer():
    hello, _server, _der = _flight("x.example.org", [], client_alpn=["ftp"], sni="files.example.org")
    assert _both([*handshake(dport=443), tcp(hello, dport=443)])[1:3] == ("file_transfer", "tls sni alpn ftp")


def test_ip_literal_sni_waits_for_the_certificate():
    hello = _tls_hello(b"203.0.113.7", [b"h2"])
    _c, server, _der = _flight("video.netflix.com", ["video.netflix.com"])
    srv = _segments(server, 700)
    v = _both([*handshake(dport=443), tcp(hello, dport=443), *[tcp(s, dport=443, reply=True) for s in srv]])
    assert v == ("TLS", "streaming", "tls certificate *.netflix.com", "video.netflix.com")


# ------------------------------------------------------------------ server certificate
def test_certificate_over_several_segments_names_the_flow():
    hello, server, _der = _flight("origin.example.net", ["origin.example.net", "cdn.nflxvideo.net"])
    segs = _segments(server, 150)
    assert len(segs) >= 3
    packets = [*handshake(dport=443), *[tcp(s, dport=443) for s in _segments(hello, 200)]]
    packets += [tcp(s, dport=443, reply=True) for s in segs]
    v = _both(packets)
    assert v == ("TLS", "streaming", "tls certificate *.nflxvideo.net", "cdn.nflxvideo.net")


def test_certificate_without_a_rule_names_the_flow_by_its_subject():
    hello, server, _der = _flight("intranet.example.org", ["intranet.example.org"])
    packets = [*handshake(dport=443), tcp(hello, dport=443), tcp(server, dport=443, reply=True)]
    assert _both(packets) == ("TLS", "web", "tls certificate", "intranet.example.org")


def test_server_chosen_alpn_in_tls12():
    hello, server, _der = _flight("box.example.org", [], client_alpn=["h2", "imap"], server_alpn=["imap"])
    packets = [*handshake(dport=443), tcp(hello, dport=443), tcp(server, dport=443, reply=True)]
    assert _both(packets)[1:3] == ("mail", "tls certificate alpn imap")


def test_tls13_flight_ends_the_wait_without_names():
    hello, server, _der = _flight("video.netflix.com", ["video.netflix.com"], tls13=True)
    fl = tls.server_flight(server)
    assert fl.tls13 and fl.done and not fl.names
    packets = [*handshake(dport=443), tcp(hello, dport=443), tcp(server, dport=443, reply=True)]
    assert _both(packets)[1:] == ("web", "tls", None)


def test_server_flight_parser_on_cut_and_hostile_bytes():
    _hello, server, _der = _flight("a.example.org", ["a.example.org", "b.example.org"])
    full = tls.server_flight(server)
    assert full.done and full.names == ["a.example.org", "b.example.org"]
    for cut in range(len(server)):
        fl = tls.server_flight(server[:cut])
        assert set(fl.names) <= {"a.example.org", "b.example.org"}
    assert not tls.server_flight(b"\x17\x03\x03\x00\x10" + b"\x00" * 16).handshake
    rng = random.Random(3)
    for _ in range(300):
        blob = bytearray(server)
        for _k in range(rng.randrange(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        tls.server_flight(bytes(blob))


# ------------------------------------------------------------------ DER walker
def test_cert_names_subject_first_then_dns_names():
    der, _key = _cert("www.example.org", ["www.example.org", "api.example.org", "*.cdn.example.org"])
    assert x509.cert_names(der) == ["www.example.org", "api.example.org", "*.cdn.example.org"]


def test_cert_names_skips_a_cn_that_is_no_host_name():
    der, _key = _cert("Example Device Certificate", ["device.example.org"])
    assert x509.cert_names(der) == ["device.example.org"]
    der, _key = _cert("localhost", [])
    assert x509.cert_names(der) == []


def test_cert_names_never_raises_and_cut_certificates_give_a_prefix():
    der, _key = _cert("www.example.org", ["a.example.org"])
    for cut in range(len(der)):
        got = x509.cert_names(der[:cut])
        assert got in ([], ["www.example.org"], ["www.example.org", "a.example.org"])
    assert x509.cert_names(b"\x30\x84\xff\xff\xff\xff\x30") == []  # 4 length bytes: refused
    rng = random.Random(5)
    for _ in range(300):
        blob = bytearray(der)
        for _k in range(rng.randrange(1, 6)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        x509.cert_names(bytes(blob))


# ------------------------------------------------------------------ DTLS
def test_dtls_hello_sni_and_alpn():
    pkt = udp(_dtls_hello(b"meet.example.org", [b"webrtc"]), sport=50000, dport=50001)
    assert _both([pkt]) == ("DTLS", "voice", "dtls sni alpn webrtc", "meet.example.org")


def test_dtls_hello_sni_matches_names():
    pkt = udp(_dtls_hello(b"edge.netflix.com", []), sport=50000, dport=50001)
    assert _both([pkt])[1:3] == ("streaming", "dtls sni *.netflix.com")


def test_dtls_near_misses():
    later = udp(_dtls_hello(b"meet.example.org", [b"webrtc"], frag_off=100), sport=50000, dport=50001)
    assert _both([later])[:3] == ("DTLS", "web", "dtls")  # not the first fragment: nothing read
    assert tls.dtls_client_hello(_tls_hello(b"meet.example.org", [])) is None
    assert tls.dtls_client_hello(_dtls_hello(b"a.example.org", [])[:40]) is None


# ------------------------------------------------------------------ QUIC
def _quic_initials(server_name, alpn_ids) -> list[bytes]:
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection

    cfg = QuicConfiguration(is_client=True, alpn_protocols=alpn_ids, server_name=server_name)
    conn = QuicConnection(configuration=cfg)
    conn.connect(("198.51.100.20", 853), now=0.0)
    return [d for d, _addr in conn.datagrams_to_send(now=0.0)]


def test_quic_alpn_without_sni():
    pkts = [udp(d, sport=40001, dport=853) for d in _quic_initials(None, ["doq"])]
    assert _both(pkts)[:3] == ("QUIC", "name_resolution", "quic alpn doq")


def test_quic_h3_alpn_changes_nothing():
    pkts = [udp(d, sport=40001, dport=443) for d in _quic_initials("www.example.org", ["h3"])]
    assert _both(pkts)[:3] == ("QUIC", "web", "quic sni")


def _dtls_record(messages: bytes, ctype: int = 0x16) -> bytes:
    return bytes([ctype]) + b"\xfe\xfd" + b"\x00\x00" + b"\x00" * 6 + struct.pack("!H", len(messages)) + messages


def _dtls_fragment(htype: int, whole: bytes, off: int, end: int, seq: int) -> bytes:
    """One handshake fragment (RFC 6347 4.2.2): whole[off:end] of a message of type ``htype``."""
    ln = len(whole).to_bytes(3, "big")
    part = whole[off:end]
    return bytes([htype]) + ln + struct.pack("!H", seq) + off.to_bytes(3, "big") + len(part).to_bytes(3, "big") + part


def _dtls_server(der: bytes, pieces: int) -> list[bytes]:
    """A DTLS 1.2 server's flight: ServerHello, then a Certificate in ``pieces`` fragments, one datagram each."""
    hello = b"\xfe\xfd" + bytes(32) + b"\x00" + b"\xc0\x2b" + b"\x00" + b"\x00\x00"
    entry = len(der).to_bytes(3, "big") + der
    cert = (len(entry)).to_bytes(3, "big") + entry
    step = -(-len(cert) // pieces)
    out = [_dtls_record(_dtls_fragment(2, hello, 0, len(hello), 1))]
    for i in range(pieces):
        out.append(_dtls_record(_dtls_fragment(11, cert, i * step, min(len(cert), (i + 1) * step), 2)))
    return out


def test_dtls_certificate_in_fragments_names_the_flow():
    der, _key = _cert("Media Relay", ["relay.example.net", "media.netflix.com"])
    client = udp(_dtls_hello(None, []), sport=50000, dport=50001)
    server = [udp(d, sport=50000, dport=50001, reply=True) for d in _dtls_server(der, 3)]
    assert _both([client, *server]) == ("DTLS", "streaming", "dtls certificate *.netflix.com", "media.netflix.com")


def test_dtls_certificate_without_a_rule_and_a_flight_cut_short():
    der, _key = _cert("WebRTC", [])  # WebRTC's self-signed certificates name no host
    client = udp(_dtls_hello(None, []), sport=50000, dport=50001)
    server = [udp(d, sport=50000, dport=50001, reply=True) for d in _dtls_server(der, 2)]
    assert _both([client, *server])[:3] == ("DTLS", "web", "dtls")
    # the client's own retransmission and the server's encrypted records teach nothing and end the wait
    late = udp(_dtls_record(b"\x00" * 40, ctype=0x17), sport=50000, dport=50001, reply=True)
    assert _both([client, client, late])[:3] == ("DTLS", "web", "dtls")


def test_dtls_server_flight_never_raises():
    der, _key = _cert("x.example.org", ["x.example.org"])
    flight = b"".join(_dtls_server(der, 2))
    rng = random.Random(11)
    for _ in range(300):
        blob = bytearray(flight)
        for _k in range(rng.randrange(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        cut = rng.randrange(len(blob))
        tls.dtls_server_flight(bytes(blob[:cut]), {}, tls.ServerFlight())


def test_hello_alpn_search_skips_look_alikes_inside_other_extensions():
    decoy = struct.pack("!HH", 0xFF01, 6) + b"\x00\x10\x00\x09\x00\x07"  # type 16 bytes, lengths that disagree
    lst = b"\x04imap"
    real = struct.pack("!HH", 16, len(lst) + 2) + struct.pack("!H", len(lst)) + lst
    block = decoy + real
    assert alpn.hello_alpn(block, 0, len(block)) == ("imap",)
    assert alpn.hello_alpn(decoy, 0, len(decoy)) == ()
    assert alpn.hello_alpn(block, 0, len(block) - 1) == ()  # cut: the lengths no longer fit
