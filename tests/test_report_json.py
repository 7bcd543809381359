"""The report's column-wise JSON encoder and row builder equal the plain json.dumps / view paths."""

from __future__ import annotations

import ipaddress
import json
import random

import pytest

from tui.flows import address_text
from tui.report import FLOW_KEYS, flow_json


def _plain(rows, names=None) -> str:
    out = [dict(zip(FLOW_KEYS, r, strict=True)) for r in rows]
    if names is not None:
        for d in out:
            d["src_host"] = names.get(d["src"])
            d["dst_host"] = names.get(d["dst"])
    return json.dumps(out, ensure_ascii=True)[1:-1]


def _row(i: int, **over) -> tuple:
    base = dict(
        proto="TCP", src=f"192.0.2.{i % 250}", sport=1000 + i, dst="2001:db8::1", dport=443, app="TLS",
        use_case="web", reason="sni", name=f"h{i}.example", packets=i, bytes=i * 60,
        first_seen=1.7e9 + i / 7, last_seen=1.7e9 + i / 3, pid=None, process=None, user=None, container=None,
    )  # fmt: skip
    base.update(over)
    return tuple(base[k] for k in FLOW_KEYS)


HOSTILE = [
    dict(name='quo"te\\back', app=None),
    dict(name="ctl\x00\x1f\x7f tab\t", reason=None),
    dict(name="\u00e9\u202e\U0001f600", process="p, q", user="u: v"),
    dict(sport=None, dport=None, proto="ICMP"),
    dict(pid=True, user=False),  # bools are not ints in JSON: must not become 1/0
    dict(pid=1, container=1.0),
    dict(first_seen=float("nan"), last_seen=float("inf")),
    dict(first_seen=0, last_seen=-0.0),
    dict(packets=2**70, bytes=-1),
    dict(name=["a", 1, None], container={"k": "v"}),
    dict(app="%s %d {}"),
]


@pytest.mark.parametrize("over", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_values_encode_as_json_dumps(over):
    rows = [_row(i) for i in range(5)] + [_row(5, **over)] + [_row(6)]
    assert flow_json(rows) == _plain(rows)


def test_names_columns_and_empty():
    rows = [_row(i) for i in range(20)]
    names = {rows[0][1]: "a\u00e9", rows[3][1]: None, rows[2][3]: 'x"y'}
    assert flow_json(rows, names) == _plain(rows, names)
    assert flow_json([]) == ""
    assert flow_json([], {}) == ""


def test_a_short_row_is_refused():
    with pytest.raises(ValueError):
        flow_json([_row(1)[:-1], _row(2)[:-1]])


def test_a_changed_type_is_seen_in_a_later_value():
    """The type of every value counts, not only the first one's (1 == True == 1.0 in a cache)."""
    rows = [_row(i, pid=1) for i in range(3)] + [_row(3, pid=True), _row(4, pid=1.0), _row(5, pid=None)]
    text = flow_json(rows)
    assert text == _plain(rows)
    assert '"pid": true' in text and '"pid": 1.0' in text and '"pid": null' in text


def test_ipv6_text_equals_ipaddress():
    rng = random.Random(13)
    special = [bytes(16), bytes(15) + b"\x01", bytes(10) + b"\xff\xff" + bytes([192, 0, 2, 1]),
               bytes(12) + bytes([192, 0, 2, 1]), b"\x20\x01\x0d\xb8" + bytes(8) + b"\x00\x01\x00\x00",
               b"\x20\x01\x0d\xb8\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01"]  # fmt: skip
    samples = special + [bytes(rng.choice((0, 0, 0, rng.randrange(256))) for _ in range(16)) for _ in range(5000)]
    for addr in samples:
        assert address_text(addr, 6) == str(ipaddress.IPv6Address(addr)), addr.hex()


def test_unpaced_batches_equal_the_frames_and_keep_the_damage(tmp_path):
    import sys
    import threading
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import synth

    from tui.sources.pcapfile import BATCH, PcapSource

    path = tmp_path / "mix.pcap"
    synth.write_pcap(str(path), synth.synthetic_mix(BATCH * 3 + 17, 50))
    whole = PcapSource(str(path))
    frames = list(whole.frames())
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(path.read_bytes()[:-7])  # the last record cut short
    for p, n, end in ((path, len(frames), "end of file"), (cut, len(frames) - 1, "cut short")):
        src = PcapSource(str(p))
        batches = list(src.batches(threading.Event()))
        assert [len(b) for b in batches][:3] == [BATCH] * 3
        assert [f for b in batches for f in b] == frames[:n]
        assert src.frames_read == n and end in src.end_reason
        src.close()
    stop = threading.Event()
    stop.set()
    src = PcapSource(str(path))
    assert len(list(src.batches(stop))) == 1 and src.end_reason is None  # stopped: no end of file
    src.close()
    whole.close()


def test_many_distinct_strings_encode_as_json_dumps():
    """Past _FEW distinct strings a column is escaped value by value, not through a table."""
    from tui.report import _FEW

    odd = ['q"', "b\\", "\x00", "\u00e9", "\U0001f600", "%s", "\u2028"]
    rows = [_row(i, name=f"n{i}{odd[i % len(odd)]}", src=f"s{i}{odd[i % 3]}", user=None if i % 5 else "u")
            for i in range(4 * _FEW + 9)]  # fmt: skip
    assert len({r[8] for r in rows[: 4 * _FEW]}) >= _FEW
    assert flow_json(rows) == _plain(rows)
    names = {r[1]: odd[i % len(odd)] for i, r in enumerate(rows[::2])}
    assert flow_json(rows, names) == _plain(rows, names)


def test_columns_with_an_order_are_the_rows_in_that_order():
    """A report of columns and largest-first positions (what collect gives) prints what its rows print."""
    import io

    from tui.engine import Engine
    from tui.report import Report, write_report_json

    snap = Engine().snapshot()
    rng = random.Random(5)
    rows = [_row(i, bytes=rng.randrange(4), sport=None if i % 7 == 0 else i) for i in range(300)]
    order = sorted(range(len(rows)), key=lambda i: rows[i][10], reverse=True)  # stable, as collect's
    cols = [list(c) for c in zip(*rows, strict=True)]
    by_cols = Report(snap, None, len(rows), columns=cols, order=order)
    by_rows = Report(snap, [rows[i] for i in order], len(rows))
    assert by_cols.rows == by_rows.rows and len(by_cols) == len(by_rows) == 300
    assert by_cols.column(3) == [r[3] for r in by_rows.rows]

    def text(rep, names=None):
        buf = io.StringIO()
        write_report_json(rep, buf, names)
        return buf.getvalue()

    names = {rows[0][1]: "x\u00e9", rows[5][3]: None}
    assert text(by_cols) == text(by_rows)
    assert text(by_cols, names) == text(by_rows, names)
    for top in (0, 1, 10, 149, 151, 299, 300, 1000):  # a few of many are taken out; most are not
        assert text(by_cols.head(top)) == text(by_rows.head(top)), top
        assert by_cols.head(top).rows == by_rows.rows[:top]
    plain = Report(snap, None, len(rows), columns=cols)
    assert plain.rows == rows and text(plain.head(7)) == text(Report(snap, rows[:7], len(rows)))
