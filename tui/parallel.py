"""`sockscope report --workers N`: one capture over N processes, each its own engine, merged.

A file: every worker maps the same file and keeps the frames tui.shard.route gives it (the
others cost a header read each).  Live: N packet sockets in one PACKET_FANOUT group, the
kernel handing each packet to the socket tui.shard's BPF program picks (same rule).  Either
way a flow, and the flows that teach it names, are in exactly one worker.

Workers are forked from the report process once the classifier and the sources are ready
(no re-import, no re-parse of the rules: a fork costs a few milliseconds), and the parent is
worker 0.  Each sends back its counters and its flows as rows (tui.report.Report), which
merge exactly: counters and per-second series add, flows are disjoint, hosts add by address.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from types import MappingProxyType
from typing import Any

from tui import pcap_split, shard
from tui.decode import decode
from tui.engine import Engine
from tui.report import Report, collect, run_capture, write_report_json
from tui.snapshot import Count, HostView, Series, Snapshot
from tui.sources.wrapped import WrappedSource

SERIES_KEEP = 300  # seconds of per-second series an engine keeps (its series_len)


def auto_workers(requested: int | None) -> int:
    """How many workers a report runs: ``--workers`` when given, else one.

    A split does not pay yet (measured: the report process of 2 workers, the critical path,
    runs 0.94x the instructions of one worker's; on the shared 2 cores 0.55x the frames per
    second for 1.73x the CPU seconds; see the README, Performance), and the route rule reads outer
    headers of one frame, so tunnelled flows and IP fragments can land on two workers: one
    engine unless asked otherwise, live or file.
    """
    return max(1, requested) if requested is not None else 1


Work = Callable[[int], Report]


def run_workers(n: int, work: Work, before_fork: Callable[[], None] | None = None,
                after_fork: Callable[[int], None] | None = None) -> list[Report]:  # fmt: skip
    """Run ``work(k)`` for k in 0..n-1, worker 0 in this process, the others forked; their reports.

    ``after_fork(k)`` runs first in each process (worker k keeps its own source, closes the
    rest).  A worker that fails gives a report in state "error" with the reason.
    """
    if before_fork is not None:
        before_fork()
    children: list[tuple[int, int]] = []
    sys.stdout.flush()
    sys.stderr.flush()
    for k in range(1, n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured through its report
            os.close(r)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
            code = 0
            try:
                if after_fork is not None:
                    after_fork(k)
                data = pickle.dumps(("ok", _portable(work(k))), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # everything goes back to the parent as text
                data = pickle.dumps(("error", f"worker {k} failed: {type(exc).__name__}: {exc}"))
                code = 1
            _write_all(w, struct.pack("=Q", len(data)) + data)
            os._exit(code)
        os.close(w)
        children.append((pid, r))
    reports: list[Report] = []
    try:
        if after_fork is not None:
            after_fork(0)
        reports.append(work(0))
        for pid, r in children:
            reports.append(_receive(pid, r))
    except BaseException:
        for pid, _r in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        raise
    finally:
        for pid, r in children:
            try:
                os.close(r)
            except OSError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return reports


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.close(fd)


def _receive(pid: int, fd: int) -> Report:
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    raw = b"".join(chunks)
    if len(raw) < 8:
        return _failed(f"worker process {pid} ended without a result")
    kind, value = pickle.loads(raw[8:])
    if kind != "ok":
        return _failed(value)
    return value


def _failed(message: str) -> Report:
    snap = Snapshot("none", "", "error", message, None, 0.0, 0.0, None, None, 0, 0, 0, 0, 0, 0, 0, 0,
                    {}, {}, (), {}, {}, ())  # fmt: skip
    return Report(snap, [], 0)


def _portable(rep: Report) -> Report:
    """A report whose snapshot pickles (mapping proxies become dicts)."""
    s = rep.snap
    snap = dataclasses.replace(
        s,
        socket_kinds=dict(s.socket_kinds),
        protocols=dict(s.protocols),
        use_cases=dict(s.use_cases),
        apps=dict(s.apps),
        use_case_series=dict(s.use_case_series),
        interfaces=dict(s.interfaces),
        recent=(),
        flows=(),
    )
    out = copy.copy(rep)  # an EncodedReport keeps its texts, a report from columns its columns
    out.snap = snap
    return out


# ---------------------------------------------------------------------- merge
def merge(reports: Sequence[Report], top: int | None = None, hosts: int = 0) -> Report:
    """One report from disjoint parts: what one engine would have counted.

    Flows come largest first; flows of equal size by first packet time (one engine keeps
    them in the order they appeared, which a merge cannot always know).
    """
    if len(reports) == 1:
        return reports[0]
    snaps = [r.snap for r in reports]
    errors = [s for s in snaps if s.state == "error"]
    lead = errors[0] if errors else snaps[0]
    firsts = [s.first_ts for s in snaps if s.first_ts is not None]
    lasts = [s.last_ts for s in snaps if s.last_ts]
    first_ts = min(firsts) if firsts else None
    last_ts = max(lasts) if lasts else None
    if lead.source_kind == "live":
        duration = max(s.duration_s for s in snaps)
    else:
        duration = round(max(last_ts - first_ts, 0.0), 6) if first_ts is not None and last_ts else 0.0
    message = lead.message
    if not errors:
        notes = [s.message for s in snaps if s.message and s.message != "end of file"]
        message = notes[0] if notes else lead.message
    series, uc_series = _merge_series(snaps)
    interfaces: dict[int, tuple[str, int]] = {}
    for s in snaps:
        interfaces.update(s.interfaces)
    snap = dataclasses.replace(
        lead,
        message=message,
        started_wall=min(s.started_wall for s in snaps),
        duration_s=duration,
        first_ts=first_ts,
        last_ts=last_ts,
        packets=sum(s.packets for s in snaps),
        bytes=sum(s.bytes for s in snaps),
        malformed=sum(s.malformed for s in snaps),
        kernel_packets=sum(s.kernel_packets for s in snaps),
        kernel_drops=sum(s.kernel_drops for s in snaps),
        flows_evicted=sum(s.flows_evicted for s in snaps),
        flows_expired=sum(s.flows_expired for s in snaps),
        active_flows=sum(s.active_flows for s in snaps),
        socket_kinds=MappingProxyType(_add_counts(s.socket_kinds for s in snaps)),
        protocols=MappingProxyType(_add_counts(s.protocols for s in snaps)),
        stacks=tuple(_add_counts(dict(s.stacks) for s in snaps).items()),
        use_cases=MappingProxyType(_add_counts(s.use_cases for s in snaps)),
        apps=MappingProxyType(_add_counts(s.apps for s in snaps)),
        flows=(),
        series=series,
        use_case_series=MappingProxyType(uc_series),
        recent=(),
        seq=sum(s.seq for s in snaps),
        interfaces=MappingProxyType(interfaces),
        hosts=_merge_hosts(snaps, hosts) if hosts else (),
    )
    rows = [row for r in reports for row in r.rows]
    rows.sort(key=_row_order)
    if top is not None:
        del rows[top:]
    return Report(snap, rows, sum(r.flow_count for r in reports))


def _row_order(row: tuple) -> tuple[int, float]:
    return (-row[10], row[11])  # bytes, largest first; then first_seen


def _add_counts(parts: Any) -> dict[Any, Count]:
    acc: dict[Any, list[int]] = {}
    for part in parts:
        for k, c in part.items():
            a = acc.get(k)
            if a is None:
                acc[k] = [c.packets, c.bytes]
            else:
                a[0] += c.packets
                a[1] += c.bytes
    return {k: Count(p, b) for k, (p, b) in acc.items()}


def _merge_series(snaps: Sequence[Snapshot]) -> tuple[Series, dict[str, tuple[int, ...]]]:
    """Per-second series on one time line (each part's seconds where they fall), added."""
    parts = [s for s in snaps if s.series.packets_in]
    if not parts:
        return Series(), {}
    end = max(s.series.start + len(s.series.packets_in) for s in parts)
    # The engines keep the last SERIES_KEEP seconds; so does the merge (a capture's stamps
    # may span years: only the window is ever allocated).
    start = max(min(s.series.start for s in parts), end - SERIES_KEEP)
    cols = [[0] * (end - start) for _ in range(4)]
    ucs: dict[str, list[int]] = {}
    for s in parts:
        ser = s.series
        base = ser.start - start
        for col, vals in zip(cols, (ser.packets_in, ser.packets_out, ser.bytes_in, ser.bytes_out), strict=True):
            for i, v in enumerate(vals):
                if base + i >= 0:
                    col[base + i] += v
        stop = base + len(ser.packets_in)  # a use case's series ends with its part's last second
        for name, vals in s.use_case_series.items():
            acc = ucs.setdefault(name, [0] * (end - start))
            for i, v in enumerate(vals):
                j = stop - len(vals) + i
                if 0 <= j < len(acc):
                    acc[j] += v
    series = Series(start, *(tuple(c) for c in cols))
    uc = {}
    for name, acc in ucs.items():
        first = next((i for i, v in enumerate(acc) if v), len(acc))
        uc[name] = tuple(acc[first:])
    return series, uc


def _merge_hosts(snaps: Sequence[Snapshot], n: int) -> tuple[HostView, ...]:
    acc: dict[str, list[int]] = {}
    for s in snaps:
        for h in s.hosts:
            a = acc.get(h.address)
            if a is None:
                acc[h.address] = [h.packets_sent, h.bytes_sent, h.packets_received, h.bytes_received, h.flows]
            else:
                a[0] += h.packets_sent
                a[1] += h.bytes_sent
                a[2] += h.packets_received
                a[3] += h.bytes_received
                a[4] += h.flows
    best = sorted(acc.items(), key=lambda kv: -(kv[1][1] + kv[1][3]))[:n]
    return tuple(HostView(addr, *v) for addr, v in best)


# ------------------------------------------------------------- JSON in the workers
_FLOWS_AT = '"flows": ['  # cannot occur inside a JSON string (its quotes would be escaped)
_BETWEEN = "}, {"  # between two flow objects; a string may hold it, which the count then shows


class EncodedReport(Report):
    """A report whose flows are JSON text already: ``rows`` hold each flow's (bytes, first
    seen) for the merge, ``texts`` its object without the outer braces, in the same order."""

    __slots__ = ("texts",)

    def __init__(self, snap: Snapshot, rows: list[tuple], flow_count: int, texts: list[str]) -> None:
        super().__init__(snap, rows, flow_count)
        self.texts = texts

    def write(self, out: Any) -> None:
        """Exactly what ``write_report_json`` writes for this report's flows."""
        head = _json(Report(self.snap, [], self.flow_count))
        out.write(head[: head.index(_FLOWS_AT) + len(_FLOWS_AT)])
        if self.texts:
            out.write("{" + _BETWEEN.join(self.texts) + "}")
        out.write("]}\n")


def _json(rep: Report) -> str:
    buf = io.StringIO()
    write_report_json(rep, buf)
    return buf.getvalue()


def encoded(rep: Report) -> EncodedReport:
    """``rep`` with its flows as JSON text: tui.report's encoder over all the rows, cut between
    the objects; one row at a time when a value holds the text between two objects."""
    if not rep.rows:  # (a failed worker's report has no counters to write a head from)
        return EncodedReport(rep.snap, [], rep.flow_count, [])
    text = _json(rep)
    texts = text[text.index(_FLOWS_AT) + len(_FLOWS_AT) + 1 : -4].split(_BETWEEN)
    if len(texts) != len(rep.rows):
        texts = [_json(Report(rep.snap, [row], 1))[:-4] for row in rep.rows]
        texts = [t[t.index(_FLOWS_AT) + len(_FLOWS_AT) + 1 :] for t in texts]
    return EncodedReport(rep.snap, [(r[10], r[11]) for r in rep.rows], rep.flow_count, texts)


def merge_encoded(reports: Sequence[Report], top: int | None = None, hosts: int = 0) -> EncodedReport:
    """``merge`` for reports with their flows as JSON text: the same counters, flows in the same order."""
    parts = [r if isinstance(r, EncodedReport) else encoded(r) for r in reports]
    counters = merge([Report(r.snap, [], r.flow_count) for r in parts], top, hosts)
    pairs = [pair for r in parts for pair in zip(r.rows, r.texts, strict=True)]
    pairs.sort(key=_pair_order)
    if top is not None:
        del pairs[top:]
    return EncodedReport(counters.snap, [p[0] for p in pairs], counters.flow_count, [p[1] for p in pairs])


def _pair_order(pair: tuple) -> tuple[int, float]:
    return (-pair[0][0], pair[0][1])  # as _row_order: bytes, largest first; then first_seen


# ------------------------------------------------------------- report runners
ALL_HOSTS = 1 << 30  # a worker reports every host, so that the merge can add them up


def file_report(source: Any, make_engine: Callable[[], Any], bpf: str | None, n: int, top: int | None,
                hosts: int, shadow_names: bool = True, encode: bool = False) -> Report:  # fmt: skip
    """Replay a file source over ``n`` workers (each keeps its share of the frames).

    A clean classic pcap is walked once here and routed once, a slice per worker
    (tui.pcap_split); anything else is read whole by every worker (ShardSource.general).
    With ``encode`` each worker also writes its flows' JSON, and the result is an
    EncodedReport (its ``write`` prints what write_report_json prints for the merged rows).
    """
    idx = pcap_split.index(source) if n <= pcap_split.MAX_WORKERS else None
    routes = pcap_split.Routes(idx, n) if idx is not None else None

    def prepare(k: int) -> None:
        if routes is not None:
            routes.keep_own_pipe(k)

    def work(k: int) -> Report:
        engine = make_engine()
        shadow = None
        if shadow_names and engine.classifier is not None:
            shadow = Engine(classifier=engine.classifier, flow_cap=engine._flow_cap, idle_timeout=None, ring_size=1)
        part = ShardSource(source, k, n, engine, shadow, routes)
        try:
            run_capture(engine, part, bpf, None)
        finally:
            if routes is not None:
                routes.release(k)  # the others must not wait for a slice this worker never routed
        rep = collect(engine, top, ALL_HOSTS if hosts else 0)
        # One engine's first and last times are those of the file's first and last frames,
        # whichever worker they went to (the merge takes them from here).
        snap = dataclasses.replace(rep.snap, first_ts=part.first_ts, last_ts=part.last_ts)
        if encode:
            return encoded(Report(snap, rep.rows, rep.flow_count))
        return Report(snap, rep.rows, rep.flow_count)

    try:
        reports = run_workers(n, work, after_fork=prepare)
        if encode:
            return merge_encoded(reports, top, hosts)
        return merge(reports, top, hosts)
    finally:
        if routes is not None:
            routes.close()


def flow_key(frame: tuple) -> tuple | None:
    """The key Engine._process files ``frame`` under; None for an IP fragment (its flow is the datagram's)."""
    stack, _family, src, dst, l4, sport, dport, _flags, _off, _status, frag = decode(frame[4], frame[5])
    if frag is not None:
        return None
    if not l4:
        l4 = stack[-1] if stack else "?"
    if src < dst or (src == dst and sport <= dport):
        return (l4, src, sport, dst, dport)
    return (l4, dst, dport, src, sport)


class ShardSource(WrappedSource):
    """Worker ``k`` of ``n``'s frames of a file source (tui.shard.route), in file order.

    The name-teaching frames of the other workers' flows (DNS, TLS and HTTP heads, QUIC
    Initials, FTP control: tui.shard.route_teach) go to ``shadow``, an engine that shares
    this worker's classifier and is never reported: so this worker learns every name one
    engine would have learned, at the same point of the file.

    The classifier reads what flows teach each other only at a flow's first packet
    (``Classifier._begin``) and writes it only while a flow is undecided, so the shadow's
    frames need to be in file order only with this worker's frames of new or undecided
    flows: the worker's batch ends before such a frame when shadow frames wait, and not
    before the others (frames of a decided flow never reach the classifier).  Likewise a
    teaching frame of a flow the shadow has already decided is dropped.

    One engine's clock is the latest second of any frame so far (a frame stamped earlier
    counts in that second); ``engine`` is moved on to it the same way before such a frame.
    """

    def __init__(self, inner: Any, k: int, n: int, engine: Any, shadow: Any = None,
                 routes: pcap_split.Routes | None = None) -> None:  # fmt: skip
        super().__init__(inner)
        self.k = k
        self.n = n
        self.engine = engine
        self.shadow = shadow
        self.routes = routes
        self.first_ts: float | None = None  # of the first frame of the file, whoever's it is
        self.last_ts: float | None = None  # of the last frame with a time stamp
        self.calls = [0, 0]  # engine batches, shadow batches: how whole the batches stay (README figures)

    @property
    def end_reason(self) -> str | None:
        return "end of file" if self.routes is not None else self.inner.end_reason

    def interfaces(self) -> dict[int, tuple[str, int]]:
        if self.routes is not None:
            return {0: (os.path.basename(self.inner.path), self.routes.idx.linktype)}
        return self.inner.interfaces()

    def batches(self, stop: Any) -> Iterator[list[tuple]]:
        if self.routes is not None:
            idx = self.routes.idx
            self.first_ts, self.last_ts = idx.first_ts, idx.last_ts
            self.routes.fill(self.k, self.shadow is not None)
            items = pcap_split.kept_frames(self.routes, self.k, self.shadow is not None)
        else:
            items = self.general(stop)
        return self._schedule(items)

    def general(self, stop: Any) -> Iterator[tuple[tuple, bool, int]]:
        """``(frame, own, clock)`` from reading and routing every frame of the file."""
        k, n = self.k, self.n
        shadow = self.shadow is not None
        teach = shard.TEACHES
        mask = teach - 1
        route = shard.route_teach
        clock = -1  # the latest second of any frame (one engine's current second)
        for batch in self.inner.batches(stop):
            if batch and self.first_ts is None:
                self.first_ts = batch[0][0] / 1e9
            if batch and batch[-1][0]:
                self.last_ts = batch[-1][0] / 1e9
            for frame in batch:
                sec = frame[0] // 1_000_000_000
                if sec > clock:
                    clock = sec
                r = route(frame[4], frame[5], n)
                if r & mask == k:
                    yield frame, True, clock
                elif r & teach and shadow:
                    yield frame, False, clock

    def _schedule(self, items: Iterator[tuple[tuple, bool, int]]) -> Iterator[list[tuple]]:
        engine = self.engine
        shadow = self.shadow
        calls = self.calls
        flows = engine.table.flows
        cap = engine.table.cap
        exact = engine.table.idle_timeout is None  # no flow leaves the table but by eviction
        if shadow is not None:
            shadow_flows = shadow.table.flows
            shadow_cap = shadow.table.cap
            shadow_exact = shadow.table.idle_timeout is None
        mine_clock = -1  # the latest second this worker's engine has reached
        mine: list[tuple] = []
        taught: list[tuple] = []  # other workers' teaching frames not yet given to the shadow
        for frame, own, clock in items:
            if own:
                if taught:
                    # Free (may go before the waiting shadow frames): a frame of a flow this
                    # engine has decided, and no eviction before it (cap not reachable).
                    free = False
                    if exact and len(flows) + len(mine) < cap:
                        key = flow_key(frame)
                        if key is not None:
                            flow = flows.get(key)
                            if flow is None and mine:  # maybe begun in the batch still held: count it
                                calls[0] += 1
                                yield mine
                                mine = []
                                flow = flows.get(key)
                            free = flow is not None and flow.decided
                    if not free:
                        if mine:
                            calls[0] += 1
                            yield mine  # the engine counts these before the shadow learns
                            mine = []
                        calls[1] += 1
                        shadow.process(taught)  # learned before this frame, as one engine would have
                        taught = []
                sec = frame[0] // 1_000_000_000
                if sec < clock and mine_clock < clock:  # late stamp: counted where one engine counts it
                    if mine:
                        calls[0] += 1
                        yield mine
                        mine = []
                    self._tick(clock)
                    mine_clock = clock
                elif sec > mine_clock:
                    mine_clock = sec
                mine.append(frame)
                if len(mine) >= 256:
                    calls[0] += 1
                    yield mine
                    mine = []
            else:
                if shadow_exact and len(shadow_flows) + len(taught) < shadow_cap:
                    key = flow_key(frame)
                    if key is not None:
                        flow = shadow_flows.get(key)
                        if flow is not None and flow.decided:
                            continue  # would reach no classifier
                taught.append(frame)
        if mine:
            calls[0] += 1
            yield mine
        # Shadow frames after this worker's last frame can teach it nothing: dropped.

    def _tick(self, sec: int) -> None:
        engine = self.engine
        with engine._lock:
            if engine._cur_sec < 0:
                engine._rotate(sec)  # its first frame: the series starts where one engine's did
            else:
                engine._tick(sec)


def live_report(sources: list, make_engine: Callable[[], Any], bpf: str | None, duration: float, top: int | None,
                hosts: int, start: Callable[[Any], Any] | None = None) -> Report:  # fmt: skip
    """Capture live for ``duration`` seconds, worker k on ``sources[k]`` (one fanout group).

    ``start(engine)`` runs in each worker before its capture (process attribution, dropping
    privileges) and may return an object with ``stop()``, called when the capture ends.
    """
    mine: list[Any] = []

    def prepare(k: int) -> None:
        for i, src in enumerate(sources):
            if i != k:
                src.close()  # this process's copy only: the worker that owns it keeps it open
        mine.append(sources[k])

    def work(k: int) -> Report:
        engine = make_engine()
        helper = start(engine) if start is not None else None
        run_capture(engine, mine[-1], bpf, duration)
        if helper is not None:
            helper.stop()
        return collect(engine, top, ALL_HOSTS if hosts else 0)

    return merge(run_workers(n=len(sources), work=work, after_fork=prepare), top, hosts)
