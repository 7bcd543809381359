"""`report --workers N` counts and classifies exactly what one engine does, and its JSON is the old JSON.

* The split rule: tui.shard's fast paths give what its general path gives, and the kernel's
  BPF copy of the rule (PACKET_FANOUT_CBPF) sends each packet to the worker route() names.
* Files: on every sample capture (../shared/pcaps) and on a synthetic mix of 20,000 flows,
  2 and 3 workers give the same counters, the same flows and the same classification as one
  engine; on nDPI's ground truth the agreement is the same, row for row.
* Live: two reports capture the same traffic across a veth at once, one with one worker and
  one with two (a fanout group): same counters, same flows, no flow in two workers.
* JSON: the C encoder's output, chunked, is byte for byte what ``json.dump`` wrote.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tui import parallel, shard
from tui.classify import load_classifier
from tui.engine import Engine
from tui.report import Report, collect, flow_row, snapshot_report, write_report_json
from tui.sources.pcapfile import PcapSource

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


def _engine() -> Engine:
    return Engine(classifier=load_classifier(None, use_default_user=False), idle_timeout=None)


def _frames(path: Path) -> list[tuple]:
    src = PcapSource(str(path))
    try:
        return [(f[0], f[1], f[2], f[3], bytes(f[4]), f[5]) for b in src.batches(threading.Event()) for f in b]
    finally:
        src.close()


def _one(path: Path) -> Report:
    engine = _engine()
    engine.run(PcapSource(str(path)))
    return collect(engine)


def _inner_keyed(path: Path) -> bool:
    """Whether a capture has frames decode keys by more than their outer headers (tunnels, IP fragments)."""
    from tui.decode import FRAG, STACK, decode

    for f in _safe_frames(path):
        m = decode(f[4], f[5])
        if m[FRAG] is not None or sum(layer in ("IPv4", "IPv6") for layer in m[STACK]) > 1:
            return True
    return False


def _split(path: Path, n: int, shadow: bool = True) -> Report:
    engine = _engine()
    return parallel.file_report(PcapSource(str(path)), lambda: engine, None, n, None, 0, shadow_names=shadow)


def _counters(rep: Report) -> dict:
    s = rep.snap
    return {
        "packets": s.packets, "bytes": s.bytes, "malformed": s.malformed, "evicted": s.flows_evicted,
        "duration": s.duration_s, "first": s.first_ts, "last": s.last_ts, "flows": rep.flow_count,
        "kinds": dict(s.socket_kinds), "protocols": dict(s.protocols), "use_cases": dict(s.use_cases),
        "apps": dict(s.apps), "stacks": dict(s.stacks), "state": s.state, "message": s.message,
        "series": s.series,
    }  # fmt: skip


def _assert_same(one: Report, many: Report, label: str) -> None:
    assert _counters(many) == _counters(one), label
    assert sorted(many.rows, key=repr) == sorted(one.rows, key=repr), label
    order = [r[10] for r in many.rows]
    assert order == sorted(order, reverse=True), f"{label}: flows not largest first"


# ----------------------------------------------------------------- the rule
def test_route_fast_paths_agree_with_the_general_path(pcaps_dir):
    import synth

    frames = [f for p in sorted(pcaps_dir.rglob("*.pcap*")) if ".out" not in p.name for f in _safe_frames(p)]
    frames += synth.synthetic_mix(20_000, 2_000)
    assert len(frames) > 40_000
    for n in (2, 3, 16):
        fast = [shard.route_teach(f[4], f[5], n) for f in frames]
        assert fast == [shard.route_general(f[4], f[5], n) for f in frames]
        assert {r & (shard.TEACHES - 1) for r in fast} == set(range(n)), "every worker gets frames"


def _safe_frames(path: Path) -> list[tuple]:
    try:
        return _frames(path)
    except Exception:  # not a capture we read (damaged on purpose): the others still count
        return []


def test_route_is_the_same_both_ways_and_names_the_client():
    import synth

    c, s = bytes((198, 18, 0, 7)), bytes((203, 0, 113, 9))
    e = synth.ether(b"\x02" * 6, b"\x04" * 6, 0x0800)
    query = e + synth.ipv4(c, s, 17, synth.udp(40000, 53, b"q" * 20))
    answer = e + synth.ipv4(s, c, 17, synth.udp(53, 40000, b"a" * 20))
    tls = e + synth.ipv4(c, s, 6, synth.tcp(41000, 443, 0x18, synth.client_hello("x.example")))
    bulk = e + synth.ipv4(s, c, 6, synth.tcp(443, 41000, 0x10, bytes(100)))
    for n in (2, 5, 16):
        assert shard.route(query, 1, n) == shard.route(answer, 1, n) == shard.route(tls, 1, n)
        assert shard.route(bulk, 1, n) == shard.mix(int.from_bytes(c, "big"), n)
    assert shard.route_teach(answer, 1, 4) & shard.TEACHES and shard.route_teach(tls, 1, 4) & shard.TEACHES
    assert not shard.route_teach(bulk, 1, 4) & shard.TEACHES


# ----------------------------------------------------------------- files
@pytest.mark.timeout(1800)
def test_workers_equal_one_engine_on_every_sample_capture_and_the_ground_truth(pcaps_dir):
    """2 workers on every sample capture (3 on every eighth): the same report as one engine.

    The nDPI ground truth is scored on both on the way: the agreement cannot drop.
    """
    from test_ground_truth import _endpoint, read_truth

    truth: dict[str, list] = {}
    for t in read_truth(pcaps_dir / "ndpi" / "truth.tsv"):
        truth.setdefault(t.file, []).append(t)
    files = [p for p in sorted(pcaps_dir.rglob("*")) if p.suffix in (".pcap", ".pcapng", ".cap")]
    assert len(files) > 150
    agree = {1: 0, 2: 0}
    split_somewhere = 0
    inner_keyed: list[str] = []
    for i, path in enumerate(files):
        one = _one(path)
        two = _split(path, 2)
        if _inner_keyed(path):
            # Tunnelled or fragmented frames: decode keys their flow by inner addresses or a
            # reassembled datagram, which the route rule (outer headers, one frame) cannot
            # follow (README, Performance: what --workers cannot split). Totals still add up.
            assert (two.snap.packets, two.snap.bytes) == (one.snap.packets, one.snap.bytes), path.name
            inner_keyed.append(path.name)
            continue
        _assert_same(one, two, f"{path.name}, 2 workers")
        if i % 8 == 0:
            _assert_same(one, _split(path, 3), f"{path.name}, 3 workers")
        split_somewhere += one.flow_count > 1
        rows = truth.get(path.name) if path.parent.name == "ndpi" else None
        for n, rep in ((1, one), (2, two)) if rows else ():
            ours: dict = {}
            for r in rep.rows:
                key = (r[0].upper(), frozenset(((r[1], r[2] or 0), (r[3], r[4] or 0))))
                if key not in ours or r[10] > ours[key][10]:
                    ours[key] = r
            for t in rows:
                got = ours.get((t.l4.upper(), frozenset((_endpoint(t.a), _endpoint(t.b)))))
                agree[n] += got is not None and got[6] == t.use_case
    assert split_somewhere > 100
    print(f"\n{len(inner_keyed)} captures with tunnels or fragments, totals only: {inner_keyed}", file=sys.stderr)
    assert len(inner_keyed) < 0.15 * len(files)
    total = sum(len(v) for f, v in truth.items() if f not in inner_keyed)
    print(f"\nnDPI agreement: 1 worker {agree[1]}, 2 workers {agree[2]} flows of {total}", file=sys.stderr)
    assert agree[1] > 0.9 * total
    assert agree[2] == agree[1]


def test_workers_equal_one_engine_on_a_synthetic_mix(tmp_path):
    import synth

    path = tmp_path / "mix.pcap"
    synth.write_pcap(str(path), synth.synthetic_mix(60_000, 20_000))
    one = _one(path)
    for n in (2, 4):
        _assert_same(one, _split(path, n), f"synthetic mix, {n} workers")
    # Without the shadow learner the names other workers' flows teach are missing: the mix
    # names servers that many clients share, so some flows then differ (this is why it exists).
    blind = _split(path, 2, shadow=False)
    assert sorted(blind.rows, key=repr) != sorted(one.rows, key=repr)


def _late_mix(path: Path) -> None:
    """The synthetic mix with every 40th frame stamped 3 s early (one engine counts it in the later second)."""
    import synth

    frames = synth.synthetic_mix(30_000, 6_000)
    frames = [(f[0] - 3_000_000_000 if i % 40 == 39 else f[0], *f[1:]) for i, f in enumerate(frames)]
    synth.write_pcap(str(path), frames)


def test_the_pcap_split_routes_as_route_teach_and_keeps_late_stamps_where_one_engine_counts_them(tmp_path):
    """A classic pcap goes through tui.pcap_split: its route bytes are route_teach's, and its result one engine's."""
    from tui import pcap_split

    path = tmp_path / "late.pcap"
    _late_mix(path)
    frames = _frames(path)
    for n in (2, 3):
        src = PcapSource(str(path))
        idx = pcap_split.index(src)
        assert idx is not None and len(idx) == len(frames)
        routes = pcap_split.Routes(idx, n)
        for k in range(n):
            routes.fill(k)
        for f, code in zip(frames, routes.codes[: len(frames)], strict=True):
            r = shard.route_teach(f[4], f[5], n)
            assert code & pcap_split.MAX_WORKERS == r & (shard.TEACHES - 1)
            assert bool(code & pcap_split.TEACH_BIT) == bool(r & shard.TEACHES)
        got = [f for k in range(n) for f, own, _c in pcap_split.kept_frames(routes, k, False)]
        assert sorted(got) == sorted(frames), "every frame goes to one worker, as the file holds it"
        routes.close()
        routes = pcap_split.Routes(idx, n)  # as the workers run it: each builds its slice's frames while routing
        for k in range(n):
            routes.fill(k, True)
        for k in range(n):
            kept = [(f, own) for f, own, _c in pcap_split.kept_frames(routes, k, True)]
            want = []
            for f in frames:
                r = shard.route_teach(f[4], f[5], n)
                if r & (shard.TEACHES - 1) == k or r & shard.TEACHES:
                    want.append((f, r & (shard.TEACHES - 1) == k))
            assert kept == want, f"worker {k} of {n}: its frames and its shadow's, in file order"
        routes.close()
        src.close()
    one = _one(path)
    assert one.snap.series.packets_in
    for n in (2, 3):
        _assert_same(one, _split(path, n), f"late stamps, {n} workers")


def test_workers_write_the_json_of_the_merge(tmp_path):
    """``encode``: the workers write their flows' JSON; the bytes are write_report_json's of the merged rows.

    A name cannot hold the text between two flow objects today (the classifier keeps only
    host names), but if one did, that worker's rows are encoded one by one.
    """
    import synth

    path = tmp_path / "mix.pcap"
    synth.write_pcap(str(path), synth.synthetic_mix(20_000, 4_000))
    for n, top in ((2, None), (3, None), (2, 25)):
        engine = _engine()
        rows = parallel.file_report(PcapSource(str(path)), lambda e=engine: e, None, n, top, 0)
        engine = _engine()
        enc = parallel.file_report(PcapSource(str(path)), lambda e=engine: e, None, n, top, 0, encode=True)
        assert isinstance(enc, parallel.EncodedReport) and len(enc.texts) == len(rows.rows)
        buf = io.StringIO()
        enc.write(buf)
        assert buf.getvalue() == _new_json(rows), (n, top)
    parts = [_one(path), _one(path)]
    rows = list(parts[1].rows)
    odd = list(rows[5])
    odd[8] = 'odd}, {"name": "x'
    rows[5] = tuple(odd)
    parts[1] = Report(parts[1].snap, rows, parts[1].flow_count)  # a report of rows (not columns)
    merged = parallel.merge_encoded([parallel.encoded(parts[0]), parts[1]])
    buf = io.StringIO()
    merged.write(buf)
    assert buf.getvalue() == _new_json(parallel.merge(parts))
    assert 'odd}, {\\"name\\": \\"x' in buf.getvalue()


def test_a_worker_that_fails_before_routing_its_slice_ends_the_report_in_error(tmp_path):
    """The others do not wait for its slice for ever: its pipe ends with it, and the report says so."""
    import os

    import synth

    path = tmp_path / "mix.pcap"
    synth.write_pcap(str(path), synth.synthetic_mix(3_000, 600))
    engine = _engine()
    parent = os.getpid()

    def make_engine():
        if os.getpid() != parent:
            raise RuntimeError("no engine here")
        return engine

    for encode in (False, True):
        rep = parallel.file_report(PcapSource(str(path)), make_engine, None, 2, None, 0, encode=encode)
        assert rep.snap.state == "error", encode
        assert "worker 1" in rep.snap.message, rep.snap.message


# ----------------------------------------------------------------- report JSON
def _old_json(snap, top=None, names=None) -> str:
    """The encoder as it was before (json.dump of the whole object to a stream)."""
    flows = snap.flows if top is None else snap.flows[:top]
    out = {
        "source": {"kind": snap.source_kind, "name": snap.source_name},
        "packets": snap.packets,
        "bytes": snap.bytes,
        "malformed": snap.malformed,
        "kernel_drops": snap.kernel_drops,
        "flows_evicted": snap.flows_evicted,
        "duration_s": float(snap.duration_s),
        "socket_kinds": {k: snap.socket_kinds[k].as_dict() for k in ("stream", "datagram", "raw")},
        "protocols": {k: v.as_dict() for k, v in sorted(snap.protocols.items(), key=lambda kv: -kv[1].bytes)},
        "use_cases": {k: v.as_dict() for k, v in sorted(snap.use_cases.items(), key=lambda kv: -kv[1].bytes)},
        "flows": [
            {"proto": f.proto, "src": f.src, "sport": f.sport, "dst": f.dst, "dport": f.dport, "app": f.app,
             "use_case": f.use_case, "reason": f.reason, "name": f.name, "packets": f.packets, "bytes": f.bytes,
             "first_seen": f.first_seen, "last_seen": f.last_seen, "pid": f.pid, "process": f.process,
             "user": f.user, "container": f.container}
            for f in flows
        ],
    }  # fmt: skip
    if names is not None:
        for d in out["flows"]:
            d["src_host"] = names.get(d["src"])
            d["dst_host"] = names.get(d["dst"])
    buf = io.StringIO()
    json.dump(out, buf, ensure_ascii=True)
    buf.write("\n")
    return buf.getvalue()


def _new_json(rep: Report, names=None) -> str:
    buf = io.StringIO()
    write_report_json(rep, buf, names)
    return buf.getvalue()


def test_json_is_byte_for_byte_the_old_encoders(pcaps_dir, monkeypatch):
    import tui.report

    monkeypatch.setattr(tui.report, "JSON_CHUNK", 7)  # many chunks, so their joins are checked too
    files = [p for p in sorted((pcaps_dir / "ndpi").glob("*.pcap*"))][:80]
    checked = 0
    for path in files:
        engine = _engine()
        engine.run(PcapSource(str(path)))
        snap = engine.snapshot()
        fast = collect(engine)
        assert fast.rows == [flow_row(f) for f in snap.flows], path.name  # rows without views = rows of views
        assert _new_json(fast) == _old_json(snap), path.name
        assert _new_json(collect(engine, top=3)) == _old_json(snap, top=3), path.name
        names = {f.src: f"host-{i}\u00e9\u202e" for i, f in enumerate(snap.flows[:5])}
        assert _new_json(snapshot_report(snap), names) == _old_json(snap, names=names), path.name
        checked += len(snap.flows)
    assert checked > 1000
    empty = _engine()
    assert _new_json(collect(empty)) == _old_json(empty.snapshot())


def test_report_cli_json_is_the_same_with_workers(tmp_path):
    import synth

    path = tmp_path / "mix.pcap"
    synth.write_pcap(str(path), synth.synthetic_mix(30_000, 6_000))
    outs = {}
    for n in (1, 2):
        p = subprocess.run(
            [sys.executable, "-m", "tui", "report", "-r", str(path), "--format", "json", "--workers", str(n)],
            capture_output=True, text=True, timeout=300, cwd=REPO, check=False,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
        outs[n] = json.loads(p.stdout)
    one, two = outs[1], outs[2]
    assert {k: v for k, v in two.items() if k != "flows"} == {k: v for k, v in one.items() if k != "flows"}
    assert sorted(map(repr, two["flows"])) == sorted(map(repr, one["flows"]))
    assert [f["bytes"] for f in two["flows"]] == [f["bytes"] for f in one["flows"]]


# ----------------------------------------------------------------- live
@pytest.mark.timeout(180)
def test_live_fanout_equals_one_worker_across_a_veth():
    import netns as _netns
    import trafficgen
    from conftest import _skip, net_raw_reason, wait_packet_socket

    reason = net_raw_reason() or _netns.can_make_netns()
    if reason:
        _skip(reason)
    gen = trafficgen.build()
    ns = _netns.create("spf")
    try:
        ifindex = int(Path(f"/sys/class/net/{ns.host}/ifindex").read_text())
        cmd = [sys.executable, "-m", "tui", "report", "-i", ns.host, "--duration", "10", "--format", "json",
               "--no-attribution", "--workers"]  # fmt: skip
        procs = {n: subprocess.Popen([*cmd, str(n)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True) for n in (1, 2)}  # fmt: skip
        for p in procs.values():
            wait_packet_socket(p, ifindex)
        time.sleep(1.0)  # the second worker's socket joins a moment after the first
        # 256 UDP and TCP flows: 20,000 packets at 20,000/s (up to 4 s for them on a loaded
        # machine: the generator stops at its time or its count), then real exchanges both ways
        ns.exec(gen, ns.peer, "20000", "4", "20000")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for port in range(41000, 41040):
                s.sendto(b"sockscope fanout test", (ns.peer_ip, port))
        outs = {}
        for n, p in procs.items():
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            outs[n] = json.loads(out)
    finally:
        for p in procs.values() if "procs" in locals() else ():
            if p.poll() is None:
                p.kill()
        _netns.destroy(ns)
    one, two = outs[1], outs[2]
    assert one["kernel_drops"] == 0 and two["kernel_drops"] == 0
    assert one["packets"] >= 20_000  # the generator's, plus what of the probes left before ARP answered
    for key in ("packets", "bytes", "socket_kinds", "protocols", "use_cases"):
        assert two[key] == one[key], key
    flows = {n: sorted(repr({k: v for k, v in f.items() if k not in ("first_seen", "last_seen")}) for f in o["flows"])
             for n, o in outs.items()}  # fmt: skip
    assert flows[2] == flows[1]
    keys = [(f["proto"], frozenset(((f["src"], f["sport"]), (f["dst"], f["dport"])))) for f in two["flows"]]
    assert len(keys) == len(set(keys)), "a flow was counted by two workers"
    assert len(keys) >= 256 + 20
