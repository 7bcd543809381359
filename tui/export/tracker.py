"""Flow deltas for exporters: what each flow counted since it was last looked at.

The engine's counters are cumulative per flow; collectors want deltas (Prometheus
counters are incremented by them, IPFIX carries ``octetDeltaCount``, a JSON line says
what a flow did since its previous line).  The tracker remembers, per live flow, the
counts it last passed on, twice: at every tick (for Prometheus) and at every record (a
flow's end, or its active timeout, for JSONL and IPFIX).  Entries go when the flow
ends, so memory follows the engine's flow table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from tui.engine import Engine, copy_view, flow_copy
from tui.snapshot import FlowView, TwoWay

# Why a record was made (the words of IPFIX's flowEndReason, IE 136).
IDLE = "idle"  # no packet for the idle timeout
ACTIVE = "active"  # still going: the active timeout passed since its last record
CLOSED = "closed"  # TCP FIN or RST seen, then quiet for the closed timeout
EVICTED = "evicted"  # pushed out of a full flow table
END_OF_CAPTURE = "end of capture"  # the capture stopped (end of file, signal, interface gone)


@dataclass(frozen=True, slots=True)
class FlowDelta(TwoWay):
    """What one flow did between two looks: counts each way, and the flow as it is now.

    ``src`` of ``view`` sent the flow's first packet: ``_ab`` is src -> dst ("orig"),
    ``_ba`` dst -> src ("reply").
    """

    view: FlowView
    packets_ab: int
    bytes_ab: int
    packets_ba: int
    bytes_ba: int


@dataclass(frozen=True, slots=True)
class Moved(TwoWay):
    """What one flow counted since the last tick, with the labels Prometheus needs (no view:
    a busy table moves thousands of flows a tick, and printable addresses cost)."""

    flow_id: int
    proto: str
    ifindex: int
    app: str | None
    use_case: str
    container: str | None
    packets_ab: int
    bytes_ab: int
    packets_ba: int
    bytes_ba: int


@dataclass(frozen=True, slots=True)
class FlowRecord:
    """One exported record of a flow: at its end, or at an active timeout while it goes on.

    ``start`` is the capture time the record's interval begins (the flow's first packet,
    or the last packet of its previous record); the interval ends at ``view.last_seen``.
    """

    event: str  # "end" | "update"
    reason: str  # IDLE, ACTIVE, CLOSED, EVICTED or END_OF_CAPTURE
    delta: FlowDelta
    start: float
    interface: str | None
    raw: tuple[bytes, bytes] | None = None  # src and dst address bytes (IPFIX needs no text)


@dataclass(slots=True)
class _Seen:
    tick: tuple[int, int, int, int]  # counts last passed on at a tick
    record: tuple[int, int, int, int]  # counts last put in a record
    record_ts: float  # capture time of that record's end (first_seen before any)


def _counts(c: tuple) -> tuple[int, int, int, int]:
    """Both ways' counts from a flow copy (see Engine.changed_flows)."""
    return (c[5], c[6], c[7], c[8])


def _minus(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3])


ZERO = (0, 0, 0, 0)


@dataclass(slots=True)
class TickResult:
    """What one tick found: per-tick deltas (every flow that moved) and records due."""

    deltas: list[Moved]
    records: list[FlowRecord]


class FlowTracker:
    """Turns the engine's cumulative flows into deltas and records (runner thread only)."""

    def __init__(self, engine: Engine, active_timeout: float = 60.0, queue_size: int = 200_000) -> None:
        self.engine = engine
        self.active_timeout = active_timeout
        self._seen: dict[int, _Seen] = {}
        self._since: float | None = None
        self.queue: deque = deque(maxlen=queue_size)
        engine.retired = self.queue

    def close(self) -> None:
        if self.engine.retired is self.queue:
            self.engine.retired = None

    def tick(self, interfaces: dict[int, tuple[str, int]], final: bool = False, full: bool = False) -> TickResult:
        """Look at the flows that changed and those that ended since the last tick.

        ``final``: the capture has stopped; every flow still in the table ends now.
        ``full``: look at every flow, and forget those whose end a full queue lost.
        """
        since, copies = self.engine.changed_flows(None if final or full else self._since)
        if since is not None:
            self._since = since
        deltas: list[Moved] = []
        records: list[FlowRecord] = []
        self._look(copies, interfaces, deltas, records, END_OF_CAPTURE if final else None)
        # After the copy: a flow that ended in between is in both, and its end comes second.
        ended: list[tuple] = []
        q = self.queue
        while q:
            ended.append(q.popleft())
        for f, evicted in ended:
            why = EVICTED if evicted else (CLOSED if f.fin or f.rst else IDLE)
            self._end(flow_copy(f), why, interfaces, deltas, records)
        if full and not final:
            # Every flow live at the copy is in ``copies``; one that ended after it was in
            # the queue just drained.  Whatever else is remembered ended unheard.
            live = {c[0].id for c in copies}
            for k in [k for k in self._seen if k not in live]:
                del self._seen[k]
        return TickResult(deltas, records)

    def _look(
        self,
        copies: Iterable[tuple],
        interfaces: dict[int, tuple[str, int]],
        deltas: list[Moved],
        records: list[FlowRecord],
        end_reason: str | None,
    ) -> None:
        seen = self._seen
        timeout = self.active_timeout
        for c in copies:
            if end_reason is not None:
                self._end(c, end_reason, interfaces, deltas, records)
                continue
            f = c[0]
            now = _counts(c)
            s = seen.get(f.id)
            if s is None:
                s = seen[f.id] = _Seen(ZERO, ZERO, f.first_seen)
            d = _minus(now, s.tick)
            if d[0] or d[2]:
                deltas.append(_moved(c, d))
                s.tick = now
            last_seen = c[9]
            if timeout > 0 and last_seen - s.record_ts >= timeout:
                r = _minus(now, s.record)
                if r[0] or r[2]:
                    records.append(_record(c, "update", ACTIVE, r, s.record_ts, interfaces))
                s.record = now
                s.record_ts = last_seen

    def _end(
        self,
        c: tuple,
        reason: str,
        interfaces: dict[int, tuple[str, int]],
        deltas: list[Moved],
        records: list[FlowRecord],
    ) -> None:
        f = c[0]
        s = self._seen.pop(f.id, None)
        now = _counts(c)
        tick, rec, start = (s.tick, s.record, s.record_ts) if s is not None else (ZERO, ZERO, f.first_seen)
        d = _minus(now, tick)
        if d[0] or d[2]:
            deltas.append(_moved(c, d))
        # Always an end record, even with nothing new since an active-timeout update: a
        # consumer of the lines learns the flow is over (IPFIX sends nothing for it then).
        r = _minus(now, rec)
        records.append(_record(c, "end", reason, r, start, interfaces))

    def __len__(self) -> int:
        return len(self._seen)


def _moved(c: tuple, d: tuple[int, int, int, int]) -> Moved:
    f = c[0]
    return Moved(f.id, f.proto, f.ifindex, c[1], c[2], getattr(c[11], "container", None), *d)


def _record(
    c: tuple, event: str, reason: str, r: tuple[int, int, int, int], start: float,
    interfaces: dict[int, tuple[str, int]],
) -> FlowRecord:  # fmt: skip
    f = c[0]
    entry = interfaces.get(f.ifindex)
    return FlowRecord(event, reason, FlowDelta(copy_view(c), *r), start, entry[0] if entry else None, (f.src, f.dst))
