"""The classifier's memos of names by their wire bytes give what parsing the bytes gives.

DNS question names and TLS server names are memoised by the bytes they were read from
(``wire.dns_message(..., names)``, ``wire.extensions_sni(..., names)``), so a name seen again
is neither walked nor decoded again.  A memo that a crafted message could steer (a zero byte
inside a label, a name that is a prefix of another, a compressed question, a server name that
is not text) must still give the answer of the plain parse: each case runs with a fresh memo,
a memo warmed by every other case, and none.
"""

from __future__ import annotations

import struct

from classify_helpers import client_hello
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.classify import wire


def _query(labels: list[bytes], answer: bytes | None = None) -> bytes:
    q = b"".join(bytes([len(x)]) + x for x in labels) + b"\x00\x00\x01\x00\x01"
    if answer is None:
        return struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + q
    rr = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + answer
    return struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0) + q + rr


_CRAFTED = [
    _query([b"www", b"example", b"com"], b"\xcb\x00\x71\x05"),
    _query([b"www", b"example", b"com"]),
    _query([b"www", b"example"], b"\xcb\x00\x71\x06"),  # a prefix of the name above
    _query([b"a\x00b", b"example", b"com"], b"\xcb\x00\x71\x07"),  # a zero byte inside a label
    _query([b"a"], b"\xcb\x00\x71\x08"),
    _query([b"a\x00"], b"\xcb\x00\x71\x09"),  # the first zero is the label's, then the name's end
    _query([b"MiXeD", b"Case"], b"\xcb\x00\x71\x0a"),
    _query([b"\xff\xfe", b"latin"], b"\xcb\x00\x71\x0b"),  # not ASCII: the latin-1 text
    _query([], b"\xcb\x00\x71\x0c"),  # the root
    struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + b"\x03www\xc0\x0c\x00\x01\x00\x01",  # compressed question
]


def test_dns_question_memo_equals_the_walk_on_crafted_messages():
    warm: dict = {}
    for _ in range(2):  # the second round meets every name already in the warm memo
        for msg in _CRAFTED:
            want = wire.dns_message(msg, 0)
            assert wire.dns_message(msg, 0, {}) == want
            assert wire.dns_message(msg, 0, warm) == want
    assert warm  # the plain names were memoised
    assert all(b"\x00" not in key for key in warm)  # keys end at the name's first zero


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=4), st.lists(st.integers(0, 60), max_size=3))
def test_dns_question_memo_equals_the_walk_on_edited_names(labels, cuts):
    """Names and their edits (cut short, a length byte changed) against a memo of their neighbours."""
    warm: dict = {}
    msgs = [_query(labels, b"\xcb\x00\x71\x05")]
    for c in cuts:
        m = bytearray(msgs[0])
        if 12 + c < len(m):
            m[12 + c] = (m[12 + c] + 1) & 0xFF
        msgs.append(bytes(m))
        msgs.append(msgs[0][: 12 + c])
    for msg in msgs + msgs:
        assert wire.dns_message(msg, 0, warm) == wire.dns_message(msg, 0)


def test_sni_memo_equals_the_parse():
    warm: dict = {}
    for name in ("www.example.com", "WWW.Example.COM", "r3---sn-abc.googlevideo.com", "a.b"):
        rec = client_hello(name)
        rlen = struct.unpack_from("!H", rec, 3)[0]
        want = wire.client_hello_sni(rec, 5, 5 + rlen)
        for _ in range(2):
            assert wire.client_hello_sni(rec, 5, 5 + rlen, warm) == want
    assert wire.client_hello_sni(client_hello("www.example.com"), 5, None, warm) == "www.example.com"


def test_sni_memo_keeps_a_name_that_is_not_text_as_none():
    """A server_name that is not a host name is memoised as None and the walk goes on to the next one."""
    bad = b"bad name"  # a space: text_name refuses it
    good = b"good.example"

    def sni_ext(raw: bytes) -> bytes:
        body = struct.pack("!HBH", len(raw) + 3, 0, len(raw)) + raw
        return struct.pack("!HH", 0, len(body)) + body

    exts = sni_ext(bad) + sni_ext(good)
    warm: dict = {}
    for _ in range(2):
        got = wire.extensions_sni(exts, 0, len(exts), warm)
        assert got == wire.extensions_sni(exts, 0, len(exts)) == "good.example"
    assert warm == {bad: None, good: "good.example"}
