"""The capture engine: decode, classify and account every frame; hand out snapshots.

One thread (the capture thread, or the caller in ``run``) feeds batches of frames to
``process``; any other thread may call ``snapshot`` at any time.  A single lock
guards the state: ``process`` holds it for one batch, ``snapshot`` for one copy, so
a reader never sees a half-counted packet.  The attributor's thread takes new flows and
gives owners back only through the hand-off methods (``take_new_flows``, ``live_flows``,
``apply_owners``), under the same lock; ARCHITECTURE.md draws every thread.  The engine
imports nothing from the UI (import-linter checks it).
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable
from types import MappingProxyType
from typing import Protocol

from tui.decode import decode, decode_datagram, socket_kind
from tui.flows import FIN, RST, SYN, Flow, FlowTable, address_text, has_ports
from tui.fragments import Datagram, Reassembler
from tui.snapshot import (
    OUT,
    SOCKET_KINDS,
    Count,
    FlowView,
    HostView,
    PacketRow,
    Series,
    Snapshot,
)
from tui.sources.errors import SourceError


class Classifier(Protocol):
    """What the engine asks of a classifier (see tui.classify)."""

    def observe(self, flow: Flow, meta: tuple, data: bytes, from_src: bool) -> None:
        """Look at one packet of a flow not yet decided; may set app/use_case/reason/name/decided."""

    def finish(self, flow: Flow) -> None:
        """The flow has shown enough packets without a verdict: settle it."""

    # Optional: a classifier with ``payload_only = True`` is shown a flow's first packet and
    # then only its packets that carry payload (the rest still count towards INSPECT_LIMIT).


class Source(Protocol):
    """A producer of frame batches (live socket or file)."""

    kind: str
    name: str
    end_reason: str | None

    def batches(self, stop: threading.Event) -> Iterable[list[tuple]]: ...

    def stats(self) -> tuple[int, int]:
        """Kernel (packets, drops) since the source opened; (0, 0) for files."""
        ...

    def interfaces(self) -> dict[int, tuple[str, int]]:
        """ifindex -> (interface name, pcap link type) of the frames it produced."""
        ...

    def close(self) -> None: ...


INSPECT_LIMIT = 12  # packets of a flow the classifier may look at before it must settle
RETIRED_HOSTS_CAP = 20_000  # hosts remembered from flows that have left the table


class Engine:
    """Aggregated state of one capture; see the module docstring for threading."""

    def __init__(
        self,
        classifier: Classifier | None = None,
        flow_cap: int = 100_000,
        idle_timeout: float | None = 300.0,
        ring_size: int = 10_000,
        series_len: int = 300,
    ) -> None:
        self.classifier = classifier
        self._lock = threading.Lock()
        self._flow_cap = flow_cap
        self._idle_timeout = idle_timeout
        self._ring_size = ring_size
        self._series_len = series_len
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._source: Source | None = None
        self.source_kind = "none"
        self.source_name = ""
        self.bpf: str | None = None
        self.state = "idle"
        self.message: str | None = None
        self._next_flow_id = 1
        self._ended_wall: float | None = None
        # New flows for an attributor (see watch_new_flows); appended under the lock.
        self.new_flows: deque[Flow] | None = None
        # Set by an exporter (tui.export) to hear of each flow that leaves the table:
        # (flow, evicted) in a bounded deque; what did not fit is counted in retired_lost.
        self.retired: deque[tuple[Flow, bool]] | None = None
        self.retired_lost = 0
        self._handed_id = 1  # id of the first flow not yet handed over by take_new_flows
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        self.table = FlowTable(cap=self._flow_cap, idle_timeout=self._idle_timeout, on_retire=self._retire)
        # (family, address bytes) -> [packets sent, bytes sent, packets received, bytes received]
        # of flows that expired or were evicted; bounded by RETIRED_HOSTS_CAP.
        self._retired_hosts: dict[tuple[int, bytes], list[int]] = {}
        # The last frames and, in step with them, the flow each one went to.
        self.ring: deque[tuple] = deque(maxlen=self._ring_size)
        self._ring_flows: deque[Flow] = deque(maxlen=self._ring_size)
        self.packets = 0
        self.malformed = 0
        # layer stack -> [packets, bytes]; (use case, app) -> [packets, bytes, bytes at the
        # start of this second].  Flows hold their own records (Flow.stack_rec/class_rec),
        # so a packet costs no lookup here.
        self._stacks: dict[tuple[str, ...], list[int]] = {}
        self._classes: dict[tuple[str, str | None], list[int]] = {}
        self._uc_series: dict[str, deque[int]] = {}
        self._series = [deque(maxlen=self._series_len) for _ in range(4)]
        self._series_start = 0
        self._cur_sec = -1
        self._next_ns = -1  # the first nanosecond of the next second: a frame there rotates the series
        self._cur = [0, 0, 0, 0]  # packets in, packets out, bytes in, bytes out this second
        self._next_sweep = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.started_wall = time.time()
        self._kernel_base = (0, 0)
        self._kernel = (0, 0)
        # IP fragments: which flow each belongs to (see _fragment_flow), and the datagrams
        # whose early fragments wait to move to their real flow at the end of the batch.
        self.fragments = Reassembler()
        self._orphan_moves: list[Datagram] = []

    def clear(self) -> None:
        """Forget all counters and flows; capture goes on."""
        with self._lock:
            base = self._kernel
            self._reset()
            self._kernel_base = base
            self._kernel = base

    # ------------------------------------------------------------- hot path
    def process(self, frames: Iterable[tuple]) -> None:
        """Account a batch of frames (see tui.snapshot for the frame layout)."""
        with self._lock:
            self._process(frames)

    @property
    def bytes(self) -> int:
        """Bytes of every packet counted (the sum over layer stacks: nothing extra per packet)."""
        return sum(rec[1] for rec in self._stacks.values())

    def _process(self, frames: Iterable[tuple]) -> None:
        # The per-packet path: locals only, one dict lookup (the flow), counters reached
        # through the flow.  Work per flow (new flow, new class, new stack) is in methods.
        if not isinstance(frames, list):
            frames = list(frames)
        if not frames:
            return
        get_flow = self.table.flows.get
        new_flow = self._new_flow
        classifier = self.classifier
        payload_only = getattr(classifier, "payload_only", False)
        class_rec = self._class_rec
        ring_flows: list[Flow] = []
        keep = ring_flows.append
        cur = self._cur
        next_ns = self._next_ns
        in_p = in_b = out_p = out_b = 0
        malformed = 0
        sweep = False
        if self.first_ts is None:
            self.first_ts = frames[0][0] / 1e9
        for ts_ns, ifindex, direction, wire_len, data, linktype in frames:
            m = decode(data, linktype)
            stack, family, src, dst, l4, sport, dport, flags, off, status, frag = m
            if status:
                malformed += 1
            ts = ts_ns / 1e9
            if ts_ns >= next_ns:  # a new second: close the last one first
                cur[0] += in_p
                cur[1] += out_p
                cur[2] += in_b
                cur[3] += out_b
                in_p = in_b = out_p = out_b = 0
                sec = ts_ns // 1_000_000_000
                self._rotate(sec)
                cur = self._cur
                next_ns = self._next_ns
                if sec >= self._next_sweep:
                    sweep = True
                    self._next_sweep = sec + 5

            # -- flow
            if frag is None:
                if not l4:
                    l4 = stack[-1] if stack else "?"
                if src < dst or (src == dst and sport <= dport):
                    key = (l4, src, sport, dst, dport)
                    low = True
                else:
                    key = (l4, dst, dport, src, sport)
                    low = False
                flow = get_flow(key)
                if flow is None:
                    flow = new_flow(key, l4, family, src, sport, dst, dport, ts, ifindex, low)
                    from_src = True
                else:
                    from_src = low == flow.a_low
            else:  # an IP fragment: the flow of its datagram (the classifier may see the whole of it)
                flow, from_src, m, data = self._fragment_flow(m, data, ts, ifindex, wire_len)
                off = m[8]
            if from_src:
                flow.packets_ab += 1
                flow.bytes_ab += wire_len
            else:
                flow.packets_ba += 1
                flow.bytes_ba += wire_len
            flow.last_seen = ts
            if flags:
                if flags & SYN:
                    flow.syn = True
                if flags & FIN:
                    flow.fin = True
                if flags & RST:
                    flow.rst = True
            if stack is not flow.stack:
                self._restack(flow, stack)
            rec = flow.stack_rec
            rec[0] += 1
            rec[1] += wire_len

            # -- classification (only while undecided, bounded)
            if not flow.decided:
                inspected = flow.inspected = flow.inspected + 1
                if inspected == 1:  # a new flow: nothing counted yet, so its class record is simply set
                    classifier.observe(flow, m, data, from_src)
                    flow.class_rec = class_rec(flow.use_case, flow.app)
                elif not payload_only or 0 <= off < len(data):
                    before_app, before_uc = flow.app, flow.use_case
                    classifier.observe(flow, m, data, from_src)
                    if flow.app != before_app or flow.use_case != before_uc:
                        self._reclass(flow, wire_len)
                if inspected >= INSPECT_LIMIT and not flow.decided:
                    self._settle(flow, wire_len)
            rec = flow.class_rec
            rec[0] += 1
            rec[1] += wire_len

            # -- this second, each way
            if direction == OUT:
                out_p += 1
                out_b += wire_len
            else:
                in_p += 1
                in_b += wire_len
            keep(flow)
            if sweep:
                sweep = False
                self.table.expire(ts)
        cur[0] += in_p
        cur[1] += out_p
        cur[2] += in_b
        cur[3] += out_b
        self.ring.extend(frames)
        self._ring_flows.extend(ring_flows)
        self.packets += len(frames)
        self.malformed += malformed
        if self._orphan_moves:
            self._move_orphans()
        last = frames[-1][0]
        if last:
            self.last_ts = last / 1e9

    def _fragment_flow(self, m: tuple, data: bytes, ts: float, ifindex: int, wire_len: int) -> tuple:
        """The flow an IP fragment counts on: ``(flow, from_src, meta, data)`` for the classifier.

        The first fragment names the ports; later ones go to the same flow.  One that
        comes before the first goes to a port-less flow for now and moves to the real one
        when the first arrives (at the end of that batch, see _move_orphans).  The
        classifier is shown the whole datagram by the fragment that completes it, and no
        payload before (a first fragment's payload is only part of the datagram's).
        """
        stack, family, src, dst, l4, sport, dport, _flags, off, _status, frag = m
        first = frag[1] == 0
        dg, whole = self.fragments.add(data, frag, ts, (sport, dport) if first else None)
        if not first and dg.ports is not None:
            sport, dport = dg.ports
        if not l4:
            l4 = stack[-1] if stack else "?"
        if src < dst or (src == dst and sport <= dport):
            key = (l4, src, sport, dst, dport)
            low = True
        else:
            key = (l4, dst, dport, src, sport)
            low = False
        flow = self.table.flows.get(key)
        if flow is None:
            flow = self._new_flow(key, l4, family, src, sport, dst, dport, ts, ifindex, low)
            from_src = True
        else:
            from_src = low == flow.a_low
        if dg.ports is None:  # before its first fragment: remember where it was counted
            o = dg.orphans
            if o is None:
                dg.orphans = [flow, from_src, 1, wire_len]
            else:
                o[2] += 1
                o[3] += wire_len
        elif first and dg.orphans is not None and len(dg.orphans) == 4 and dg.orphans[0] is not flow:
            dg.orphans.append((flow, from_src))
            self._orphan_moves.append(dg)
        if whole is not None:
            return flow, from_src, decode_datagram(whole), whole
        if first and off >= 0:
            m = (*m[:8], -1, *m[9:])
        return flow, from_src, m, data

    def _move_orphans(self) -> None:
        """Move fragments counted port-less before their first fragment to the datagram's flow."""
        flows = self.table.flows
        for dg in self._orphan_moves:
            o = dg.orphans
            if o is None or len(o) != 5:
                continue
            old, old_ab, packets, nbytes, (new, new_ab) = o
            dg.orphans = None
            if flows.get(old.key) is not old or flows.get(new.key) is not new:
                continue  # one of them has left the table: its hosts have counted it already
            if old_ab:
                old.packets_ab -= packets
                old.bytes_ab -= nbytes
            else:
                old.packets_ba -= packets
                old.bytes_ba -= nbytes
            if new_ab:
                new.packets_ab += packets
                new.bytes_ab += nbytes
            else:
                new.packets_ba += packets
                new.bytes_ba += nbytes
            for a, b in ((old.stack_rec, new.stack_rec), (old.class_rec, new.class_rec)):
                if a is not b and a is not None and b is not None:
                    a[0] -= packets
                    a[1] -= nbytes
                    b[0] += packets
                    b[1] += nbytes
                    if len(a) > 2:  # a class record: its second's baseline moves too
                        a[2] -= nbytes
                        b[2] += nbytes
            new.first_seen = min(new.first_seen, old.first_seen)
            if not old.packets:
                del flows[old.key]
        self._orphan_moves.clear()

    def _new_flow(
        self, key: tuple, l4: str, family: int, src: bytes, sport: int, dst: bytes, dport: int, ts: float,
        ifindex: int, low: bool,
    ) -> Flow:  # fmt: skip
        table = self.table
        if len(table.flows) >= self._flow_cap:
            table.make_room()
        flow = Flow(key, l4, family, src, sport, dst, dport, ts, ts, ifindex, self._next_flow_id, low)
        self._next_flow_id += 1
        if self.classifier is None:
            flow.decided = True
            flow.class_rec = self._class_rec(flow.use_case, flow.app)
        # else: the classifier sees this first packet next, then _process sets the class record
        table.flows[key] = flow
        if self.new_flows is not None:
            self.new_flows.append(flow)
        return flow

    def _settle(self, flow: Flow, wire_len: int) -> None:
        """The classifier has seen enough of this flow: it must decide now."""
        before_app, before_uc = flow.app, flow.use_case
        self.classifier.finish(flow)
        flow.decided = True
        if flow.app != before_app or flow.use_case != before_uc:
            self._reclass(flow, wire_len)

    def _restack(self, flow: Flow, stack: tuple[str, ...]) -> None:
        rec = self._stacks.get(stack)
        if rec is None:
            rec = self._stacks[stack] = [0, 0]
        flow.stack = stack
        flow.stack_rec = rec

    def _class_rec(self, use_case: str, app: str | None) -> list[int]:
        key = (use_case, app)
        rec = self._classes.get(key)
        if rec is None:
            rec = self._classes[key] = [0, 0, 0]
        return rec

    def _reclass(self, flow: Flow, wire_len: int) -> None:
        """Move what a flow counted under its old class to its new one (this packet counts after)."""
        old = flow.class_rec
        new = self._class_rec(flow.use_case, flow.app)
        if new is old:
            return
        flow.class_rec = new
        done_p = flow.packets - 1
        done_b = flow.bytes - wire_len
        if done_p and old is not None:
            # Bytes of earlier seconds move with the baseline, so this second's series is unchanged.
            old[0] -= done_p
            old[1] -= done_b
            old[2] -= done_b
            new[0] += done_p
            new[1] += done_b
            new[2] += done_b

    def _tick(self, sec: int) -> None:
        """Live and idle: move the series on to wall-clock second ``sec`` (zeros for the quiet)."""
        if 0 <= self._cur_sec < sec:
            self._rotate(sec)
            if sec >= self._next_sweep:
                self.table.expire(float(sec))
                self._next_sweep = sec + 5

    def _retire(self, f: Flow) -> None:
        """Keep what an expired or evicted flow counted for its hosts (and tell an exporter)."""
        out = self.retired
        if out is not None:
            if len(out) == out.maxlen:
                self.retired_lost += 1
            out.append((f, self.table.evicting))
        hosts = self._retired_hosts
        for addr, sent_p, sent_b, recv_p, recv_b in _host_sides(f):
            key = (f.family, addr)
            h = hosts.get(key)
            if h is None:
                if len(hosts) >= RETIRED_HOSTS_CAP:
                    _prune_hosts(hosts)
                h = hosts[key] = [0, 0, 0, 0]
            h[0] += sent_p
            h[1] += sent_b
            h[2] += recv_p
            h[3] += recv_b

    def _hosts(self, n: int) -> tuple[HostView, ...]:
        """The ``n`` busiest hosts: live flows summed now, plus what retired flows left."""
        acc: dict[tuple[int, bytes], list[int]] = {k: [*v, 0] for k, v in self._retired_hosts.items()}
        for f in self.table.flows.values():
            for addr, sent_p, sent_b, recv_p, recv_b in _host_sides(f):
                a = acc.get((f.family, addr))
                if a is None:
                    a = acc[(f.family, addr)] = [0, 0, 0, 0, 0]
                a[0] += sent_p
                a[1] += sent_b
                a[2] += recv_p
                a[3] += recv_b
                a[4] += 1
        best = heapq.nlargest(n, acc.items(), key=_host_bytes)
        return tuple(HostView(address_text(addr, fam) or "-", *v) for (fam, addr), v in best)

    def _rotate(self, sec: int) -> None:
        """Close the current second and open ``sec`` (gaps become zero seconds)."""
        if self._cur_sec >= 0:
            gap = min(sec - self._cur_sec - 1, self._series_len)
            pin = self._series[0]
            vals = self._cur
            for dq, v in zip(self._series, vals, strict=True):
                dq.append(v)
            for _ in range(gap):
                for dq in self._series:
                    dq.append(0)
            per_uc: dict[str, int] = {}
            for (uc, _app), rec in self._classes.items():
                per_uc[uc] = per_uc.get(uc, 0) + rec[1] - rec[2]
                rec[2] = rec[1]
            for name, v in per_uc.items():
                dq = self._uc_series.get(name)
                if dq is None:
                    dq = self._uc_series[name] = deque(maxlen=self._series_len)
                dq.append(v)
                dq.extend([0] * gap)
            self._series_start = sec - len(pin)
        else:
            self._series_start = sec
        self._cur_sec = sec
        self._next_ns = (sec + 1) * 1_000_000_000
        self._cur = [0, 0, 0, 0]

    # ------------------------------------------------------------- readers
    def snapshot(self, top: int | None = None, recent: int = 0, hosts: int = 0) -> Snapshot:
        """An immutable copy of the aggregated state.

        ``top`` limits the flows to the largest by bytes (None: all of them);
        ``recent`` adds that many of the latest frames from the ring; ``hosts`` adds the
        busiest hosts (derived from the flows here, so the per-packet path pays nothing).
        """
        with self._lock:
            snap, copies = self._snapshot(top, recent, hosts)
        # Outside the lock (capture goes on): flows become printable records.  ``copies``
        # holds what can change, taken under the lock; the rest of a flow never changes.
        if top is None:
            copies.sort(key=_copy_bytes, reverse=True)
        return dataclasses.replace(snap, flows=tuple(_view(c) for c in copies))

    def _snapshot(self, top: int | None, recent: int, hosts: int = 0, raw: bool = False) -> tuple[Snapshot, list]:
        """The snapshot without flows, and the chosen flows' copies (``raw``: the Flow objects
        themselves, for a caller that reads them before letting go of the lock)."""
        kinds = {k: [0, 0] for k in SOCKET_KINDS}
        protocols: dict[str, list[int]] = {}
        for stack, (p, b) in self._stacks.items():
            kc = kinds[socket_kind(stack[-1] if stack else "")]
            kc[0] += p
            kc[1] += b
            for name in dict.fromkeys(stack):
                pc = protocols.setdefault(name, [0, 0])
                pc[0] += p
                pc[1] += b
        use_cases: dict[str, list[int]] = {}
        apps: dict[str, list[int]] = {}
        for (uc, app), (p, b, _base) in self._classes.items():
            if not p:
                continue
            c = use_cases.setdefault(uc, [0, 0])
            c[0] += p
            c[1] += b
            if app is not None:
                c = apps.setdefault(app, [0, 0])
                c[0] += p
                c[1] += b
        for app, (p, b) in apps.items():
            pc = protocols.setdefault(app, [0, 0])
            pc[0] += p
            pc[1] += b
        flows = self.table.flows.values()
        chosen = flows if top is None else heapq.nlargest(top, flows, key=_flow_bytes)
        copies = list(chosen) if raw else [
            (f, f.app, f.use_case, f.reason, f.name, f.packets_ab, f.bytes_ab, f.packets_ba, f.bytes_ba, f.last_seen,
             f.state, f.owner)
            for f in chosen
        ]  # fmt: skip
        ring = self.ring
        rows: tuple[PacketRow, ...] = ()
        if recent and ring:
            n = min(recent, len(ring))
            first_seq = self.packets - n + 1
            frames = list(itertools.islice(reversed(ring), n))[::-1]
            owners = list(itertools.islice(reversed(self._ring_flows), n))[::-1]
            rows = tuple(
                _packet_row(f, fl, first_seq + i) for i, (f, fl) in enumerate(zip(frames, owners, strict=True))
            )
        if self.source_kind == "live":
            duration = (time.time() - self.started_wall) if self.state == "running" else self._live_duration()
        else:
            duration = (self.last_ts - self.first_ts) if self.first_ts is not None and self.last_ts else 0.0
        kp, kd = self._kernel
        bp, bd = self._kernel_base
        uc_series = {name: tuple(dq) for name, dq in self._uc_series.items()}
        s = self._series
        snap = Snapshot(
            source_kind=self.source_kind,
            source_name=self.source_name,
            state=self.state,
            message=self.message,
            bpf=self.bpf,
            started_wall=self.started_wall,
            duration_s=round(max(duration, 0.0), 6),
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            packets=self.packets,
            bytes=self.bytes,
            malformed=self.malformed,
            kernel_packets=kp - bp,
            kernel_drops=kd - bd,
            flows_evicted=self.table.evicted,
            flows_expired=self.table.expired,
            active_flows=len(self.table.flows),
            socket_kinds=MappingProxyType({k: Count(*v) for k, v in kinds.items()}),
            protocols=MappingProxyType({k: Count(*v) for k, v in protocols.items()}),
            stacks=tuple((st, Count(p, b)) for st, (p, b) in self._stacks.items()),
            use_cases=MappingProxyType({k: Count(*v) for k, v in use_cases.items()}),
            apps=MappingProxyType({k: Count(*v) for k, v in apps.items()}),
            flows=(),
            series=Series(self._series_start, tuple(s[0]), tuple(s[1]), tuple(s[2]), tuple(s[3])),
            use_case_series=MappingProxyType(uc_series),
            recent=rows,
            seq=self.packets,
            interfaces=MappingProxyType(dict(self._interfaces())),
            hosts=self._hosts(hosts) if hosts else (),
        )
        return snap, copies

    def changed_flows(self, since: float | None) -> tuple[float | None, list[tuple]]:
        """The flows with a packet at or after capture time ``since`` (every flow when None),
        and the capture time to pass next time, for exporters (tui.export).

        Only the list of flows is taken under the lock (a few ms for 100,000 flows, where
        copying them there would hold the capture up for a large part of a second); their
        fields are read after it, in the layout ``copy_view`` turns into a FlowView (the flow
        itself first).  A flow the capture thread is counting meanwhile may be read one
        packet ahead in one field: each field only grows, so deltas never go below zero and
        the next look (or the flow's end, read once it no longer changes) makes them exact."""
        with self._lock:
            flows = list(self.table.flows.values())
            last = self.last_ts
        chosen = flows if since is None else [f for f in flows if f.last_seen >= since]
        return last, [flow_copy(f) for f in chosen]

    def _live_duration(self) -> float:
        return (self._ended_wall or time.time()) - self.started_wall

    def _interfaces(self) -> dict[int, tuple[str, int]]:
        src = self._source
        return src.interfaces() if src is not None else {}

    def ring_frames(self) -> list[tuple]:
        """A copy of the frames in the ring, oldest first (for snapshot files)."""
        with self._lock:
            return list(self.ring)

    # ------------------------------------------------- hand-off to the attributor
    # The attributor (tui.attribution) runs on its own thread.  It hears of new flows
    # through a bounded queue this engine fills on the hot path (one deque append per new
    # flow, under the lock it already holds), and gives owners back through apply_owners;
    # it never reads the flow table or writes a flow without the lock.
    def watch_new_flows(self, cap: int) -> deque[Flow]:
        """Keep up to ``cap`` new flows for take_new_flows (the newest, when more come)."""
        with self._lock:
            self.new_flows = deque(maxlen=cap)
            self._handed_id = self._next_flow_id
            return self.new_flows

    def unwatch_new_flows(self, queue: deque[Flow] | None = None) -> None:
        """Stop keeping new flows (only if ``queue``, when given, is still the one kept)."""
        with self._lock:
            if queue is None or self.new_flows is queue:
                self.new_flows = None

    def take_new_flows(self) -> tuple[list[Flow], bool]:
        """The new flows kept since the last call, oldest first, and whether the queue
        dropped some (then ``live_flows()`` has them)."""
        with self._lock:
            q = self.new_flows
            if q is None:
                return [], False
            fresh = list(q)
            q.clear()
            created = self._next_flow_id - self._handed_id
            self._handed_id = self._next_flow_id
        return fresh, created > len(fresh)

    def live_flows(self) -> list[Flow]:
        """A copy of the flow table's flows (taken under the lock)."""
        with self._lock:
            return list(self.table.flows.values())

    def apply_owners(self, owners: Iterable[tuple[Flow, object]]) -> None:
        """Set ``flow.owner`` for each (flow, owner), all in one hold of the lock, so a
        snapshot sees a pass of the attributor whole or not at all."""
        with self._lock:
            for flow, owner in owners:
                flow.owner = owner

    # ------------------------------------------------------------ lifetime
    def run(self, source: Source, bpf: str | None = None) -> None:
        """Capture from ``source`` in this thread until it ends or ``stop()`` is called."""
        with self._lock:
            self._source = source
            self.source_kind = source.kind
            self.source_name = source.name
            self.bpf = bpf
            self.state = "running"
            self.message = None
            self.started_wall = time.time()
            self._ended_wall = None
        stop = self._stop
        try:
            for batch in source.batches(stop):
                if batch:
                    with self._lock:
                        self._process(batch)
                        self._kernel = source.stats()
                elif source.kind == "live":
                    with self._lock:
                        self._kernel = source.stats()
                        self._tick(time.time_ns() // 1_000_000_000)
                if stop.is_set():
                    break
            with self._lock:
                self._kernel = source.stats()
                self._finish("stopped" if stop.is_set() and source.end_reason is None else "ended", source.end_reason)
        except SourceError as exc:
            with self._lock:
                self._finish("error", str(exc))
        except Exception as exc:  # the capture thread must never die silently
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            with self._lock:
                self._finish("error", f"capture failed: {detail}")
        finally:
            source.close()

    def _finish(self, state: str, message: str | None) -> None:
        self.state = state
        self.message = message
        self._ended_wall = time.time()
        # Close the partial second so the series includes it.
        if self._cur_sec >= 0:
            self._rotate(self._cur_sec + 1)

    def start(self, source: Source, bpf: str | None = None) -> threading.Thread:
        """Run the capture in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, args=(source, bpf), name="sockscope-capture", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the capture to stop and wait for its thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _host_sides(f: Flow) -> tuple[tuple[bytes, int, int, int, int], ...]:
    """Each endpoint of a flow with what it sent and received: (address, sent packets,
    sent bytes, received packets, received bytes)."""
    return (
        (f.src, f.packets_ab, f.bytes_ab, f.packets_ba, f.bytes_ba),
        (f.dst, f.packets_ba, f.bytes_ba, f.packets_ab, f.bytes_ab),
    )


def _host_bytes(item: tuple[tuple[int, bytes], list[int]]) -> int:
    v = item[1]
    return v[1] + v[3]


def _prune_hosts(hosts: dict[tuple[int, bytes], list[int]]) -> None:
    """Forget the quieter half of the retired hosts (the table stays bounded)."""
    keep = heapq.nlargest(len(hosts) // 2, hosts.items(), key=_host_bytes)
    hosts.clear()
    hosts.update(keep)


def _flow_bytes(f: Flow) -> int:
    return f.bytes_ab + f.bytes_ba


def flow_copy(f: Flow) -> tuple:
    """The changing fields of a flow, as ``changed_flows`` copies them (the caller holds the
    lock, or the flow has left the table and no longer changes)."""
    return (f, f.app, f.use_case, f.reason, f.name, f.packets_ab, f.bytes_ab, f.packets_ba, f.bytes_ba, f.last_seen,
            f.state, f.owner)  # fmt: skip


def copy_view(c: tuple) -> FlowView:
    """A FlowView from a copy made by ``changed_flows`` or ``flow_copy``."""
    return _view(c)


def _copy_bytes(c: tuple) -> int:
    return c[6] + c[8]


def _view(c: tuple) -> FlowView:
    """A FlowView from a flow and the copy of its changing fields (see Engine.snapshot)."""
    f, app, use_case, reason, name, packets_ab, bytes_ab, packets_ba, bytes_ba, last_seen, state, owner = c
    ports = has_ports(f.proto)
    return FlowView(
        id=f.id,
        proto=f.proto,
        family=f.family,
        src=address_text(f.src, f.family),
        sport=f.sport if ports else None,
        dst=address_text(f.dst, f.family),
        dport=f.dport if ports else None,
        app=app,
        use_case=use_case,
        reason=reason,
        name=name,
        packets_ab=packets_ab,
        bytes_ab=bytes_ab,
        packets_ba=packets_ba,
        bytes_ba=bytes_ba,
        first_seen=f.first_seen,
        last_seen=last_seen,
        state=state,
        ifindex=f.ifindex,
        pid=getattr(owner, "pid", None),
        process=getattr(owner, "process", None),
        user=getattr(owner, "user", None),
        container=getattr(owner, "container", None),
        owner_note=getattr(owner, "reason", None),
        local_src=getattr(owner, "local_src", None),
    )


def _packet_row(frame: tuple, flow: Flow, seq: int) -> PacketRow:
    ts_ns, ifindex, direction, wire_len, data, linktype = frame
    return PacketRow(seq, ts_ns, ifindex, direction, wire_len, data, linktype, flow.id, flow.app, flow.use_case)
