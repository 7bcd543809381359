"""`sockscope export --ipfix` received by a real collector: pmacct's nfacctd (started here on
loopback, print plugin writing JSON) decodes our templates, standard IEs and the
enterprise-specific strings; plus the message layout against RFC 7011 byte by byte."""

from __future__ import annotations

import socket
import struct
import time

from export_support import Nfacctd, build_capture, free_port, sockscope_export, wait_for

from tui.export.ipfix import (
    ENTERPRISE_FIELDS,
    MAX_MESSAGE,
    PEN,
    TEMPLATE_V4,
    TEMPLATE_V6,
    data_records,
    messages,
    protocol_number,
)
from tui.export.tracker import FlowDelta, FlowRecord
from tui.snapshot import FlowView


def _view(**kw) -> FlowView:
    base = dict(id=7, proto="TCP", family=4, src="192.0.2.1", sport=1234, dst="198.51.100.2", dport=443, app="TLS",
                use_case="web", reason="tls sni", name="a.example", packets_ab=3, bytes_ab=300, packets_ba=2,
                bytes_ba=2000, first_seen=1.5, last_seen=2.5, state="open", process="curl",
                container="docker:web")  # fmt: skip
    base.update(kw)
    return FlowView(**base)


def _parse(msg: bytes) -> tuple[tuple, dict[int, list], list[tuple[int, bytes]]]:
    """A reader written from RFC 7011 for the test: header, templates, raw data records."""
    version, length, export_time, seq, domain = struct.unpack_from("!HHIII", msg)
    assert version == 10 and length == len(msg)
    off = 16
    templates: dict[int, list] = {}
    data: list[tuple[int, bytes]] = []
    while off < length:
        set_id, set_len = struct.unpack_from("!HH", msg, off)
        assert set_len >= 4 and off + set_len <= length
        body = msg[off + 4 : off + set_len]
        if set_id == 2:
            p = 0
            while p < len(body):
                tid, count = struct.unpack_from("!HH", body, p)
                p += 4
                fields = []
                for _ in range(count):
                    ie, flen = struct.unpack_from("!HH", body, p)
                    p += 4
                    pen = None
                    if ie & 0x8000:
                        (pen,) = struct.unpack_from("!I", body, p)
                        p += 4
                    fields.append((ie & 0x7FFF, flen, pen))
                templates[tid] = fields
        else:
            data.append((set_id, body))
        off += set_len
    return (version, length, export_time, seq, domain), templates, data


def _records(body: bytes, fields: list) -> list[dict]:
    out, p = [], 0
    while p < len(body):
        rec = {}
        for ie, flen, pen in fields:
            if flen == 0xFFFF:
                n = body[p]
                p += 1
                if n == 255:
                    (n,) = struct.unpack_from("!H", body, p)
                    p += 2
                rec[(pen, ie)] = body[p : p + n].decode()
                p += n
            else:
                rec[(pen, ie)] = int.from_bytes(body[p : p + flen], "big") if flen <= 8 else body[p : p + flen]
                p += flen
        out.append(rec)
    return out


def test_message_layout_follows_rfc7011():
    r = FlowRecord("end", "closed", FlowDelta(_view(), 3, 300, 2, 2000), 1.5, "eth0")
    ((msg, n),) = messages(list(data_records(r)), seq=41, domain=5, with_templates=True, export_time=1234)
    head, templates, data = _parse(msg)
    assert head[2:] == (1234, 41, 5) and n == 2
    assert set(templates) == {TEMPLATE_V4, TEMPLATE_V6}
    std4 = [(ie, flen) for ie, flen, pen in templates[TEMPLATE_V4] if pen is None]
    assert std4[:9] == [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8)]
    assert [(ie, flen) for ie, flen, pen in templates[TEMPLATE_V6] if pen is None][:2] == [(27, 16), (28, 16)]
    ent = [(ie, flen, pen) for ie, flen, pen in templates[TEMPLATE_V4] if pen is not None]
    assert ent and all(pen == PEN and flen == 0xFFFF for _, flen, pen in ent)
    ((tid, body),) = data
    recs = _records(body, templates[tid])
    fwd, rev = recs
    assert fwd[(None, 8)] == 0xC0000201 and fwd[(None, 7)] == 1234 and fwd[(None, 11)] == 443
    assert fwd[(None, 1)] == 300 and fwd[(None, 2)] == 3 and fwd[(None, 4)] == 6
    assert fwd[(None, 152)] == 1500 and fwd[(None, 153)] == 2500 and fwd[(None, 136)] == 3  # end of flow detected
    assert rev[(None, 8)] == 0xC6336402 and rev[(None, 7)] == 443 and rev[(None, 1)] == 2000 and rev[(None, 2)] == 2
    assert [fwd[(PEN, i)] for i in range(1, 8)] == ["web", "TLS", "tls sni", "curl", "docker:web", "a.example", ""]
    assert [ENTERPRISE_FIELDS[i] for i in range(1, 8)] == ["use_case", "app", "reason", "process", "container", "name",
                                                           "user"]  # fmt: skip


def test_long_strings_and_many_records_split_below_the_mtu():
    long_name = "n" * 300  # past 254 bytes: the three-byte length form
    recs = [FlowRecord("update", "active", FlowDelta(_view(id=i, name=long_name, family=6, src="2001:db8::1",
                                                           dst="2001:db8::2"), 1, 100, 0, 0), 1.0, None)
            for i in range(40)]  # fmt: skip
    data = [d for r in recs for d in data_records(r)]
    assert len(data) == 40  # nothing the other way: one record each
    out = list(messages(data, seq=0, domain=0, with_templates=True))
    assert len(out) > 1 and all(len(m) <= MAX_MESSAGE for m, _ in out)
    seqs, total = [], 0
    templates = None
    for i, (m, n) in enumerate(out):
        head, t, sets = _parse(m)
        assert bool(t) == (i == 0)  # templates lead the first message only
        templates = templates or t
        seqs.append(head[3])
        for tid, body in sets:
            got = _records(body, templates[tid])
            assert all(r[(PEN, 6)] == long_name for r in got)
            total += len(got)
        assert seqs[-1] == total - n  # records sent before this message
    assert total == 40


def test_protocol_numbers():
    assert [protocol_number(p) for p in ("TCP", "UDP", "ICMPv6", "IP-99", "ARP")] == [6, 17, 58, 99, 255]


def test_nfacctd_decodes_every_flow_of_the_capture(tmp_path):
    cap = build_capture(tmp_path / "known.pcap")
    nf = Nfacctd()
    try:
        exp = sockscope_export("-r", str(cap.path), "--ipfix", f"127.0.0.1:{nf.port}")
        _, err = exp.communicate(timeout=60)
        assert exp.returncode == 0, err
        want = {}
        for f in cap.flows:
            proto = f.proto.lower()
            want[(f.src, f.dst, f.sport, f.dport, proto)] = (f.packets_ab, f.bytes_ab, f.use_case)
            if f.packets_ba:
                want[(f.dst, f.src, f.dport, f.sport, proto)] = (f.packets_ba, f.bytes_ba, f.use_case)
        assert f"ipfix {len(want)} records sent, 0 not sent" in err

        def collected():
            got = {}
            for r in nf.records():
                key = (r["ip_src"], r["ip_dst"], r["port_src"], r["port_dst"], r["ip_proto"])
                p, b, uc = got.get(key, (0, 0, r["use_case"]))
                got[key] = (p + r["packets"], b + r["bytes"], uc)
            return got if len(got) >= len(want) else None

        got = wait_for(collected, 30, "nfacctd to write the records")
        assert got == want
        apps = {r["app"] for r in nf.records() if r["port_dst"] == 53 or r["port_src"] == 53}
        assert apps == {"DNS"}
        assert {r["reason"] for r in nf.records() if r["port_dst"] == 80}  # the classifier's reason came through
    finally:
        nf.close()


def test_collector_started_late_learns_the_resent_templates(tmp_path):
    """Nothing listens at first (ICMP port unreachable: counted, said once); then nfacctd
    starts on that port and decodes what follows, because templates are sent again."""
    cap = build_capture(tmp_path / "slow.pcap", dns=0, http=0, udp6=0, long_flows=3, span=8.0)
    port = free_port(socket.SOCK_DGRAM)
    exp = sockscope_export("-r", str(cap.path), "--speed", "1", "--ipfix", f"127.0.0.1:{port}",
                           "--active-timeout", "0.5", "--template-interval", "1")  # fmt: skip
    nf = None
    try:
        time.sleep(3.0)
        nf = Nfacctd(port)
        _, err = exp.communicate(timeout=60)
        assert exp.returncode == 0, err
        assert err.count("nothing listens there (ICMP port unreachable)") == 1  # said once, not per send
        assert "sending IPFIX to" in err and "again" in err
        line = err.strip().splitlines()[-1]
        sent = int(line.split("ipfix ")[1].split(" records sent")[0])
        failed = int(line.split("records sent, ")[1].split(" not sent")[0])
        assert sent > 0 and failed > 0
        got = wait_for(lambda: sum(r["packets"] for r in nf.records()) or None, 30, "records at nfacctd")
        # Everything after the collector came up arrived and was decoded; nothing more than was sent.
        assert 0 < got < cap.packets
        assert {r["port_dst"] for r in nf.records()} == {43999}
    finally:
        if exp.poll() is None:
            exp.kill()
            exp.communicate()
        if nf is not None:
            nf.close()
