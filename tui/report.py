"""`sockscope report`: the engine without the UI, printing JSON or a table.

The JSON layout is a published interface (scripts and the project's own measurements
read it): keep its keys and types exactly as they are.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import math
import operator
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from tui.decode import PORT_PROTOCOLS
from tui.flows import address_text
from tui.snapshot import SOCKET_KINDS, FlowView, Snapshot

HOSTS_SHOWN = 10  # busiest hosts in the table (the JSON layout is fixed and has none)


# The keys of a flow in the JSON, in order; a flow row is a tuple of their values.
FLOW_KEYS = (
    "proto", "src", "sport", "dst", "dport", "app", "use_case", "reason", "name", "packets", "bytes",
    "first_seen", "last_seen", "pid", "process", "user", "container",
)  # fmt: skip
JSON_CHUNK = 20_000  # flows per encode call: C speed, and the text of a huge table never whole in memory


@dataclass(slots=True)
class Report:
    """What `sockscope report` prints: the counters of a snapshot and its flows as rows.

    ``snap.flows`` may be empty: ``rows`` (FLOW_KEYS order, largest first, at most ``top``)
    are the flows, and ``flow_count`` how many the table held.
    """

    snap: Snapshot
    rows: list[tuple]
    flow_count: int


def flow_row(f: FlowView) -> tuple:
    """A flow as the values of its JSON keys (FLOW_KEYS order)."""
    return (
        f.proto, f.src, f.sport, f.dst, f.dport, f.app, f.use_case, f.reason, f.name, f.packets, f.bytes,
        f.first_seen, f.last_seen, f.pid, f.process, f.user, f.container,
    )  # fmt: skip


def snapshot_report(snap: Snapshot, top: int | None = None) -> Report:
    flows = snap.flows if top is None else snap.flows[:top]
    return Report(snap, [flow_row(f) for f in flows], len(snap.flows))


def collect(engine: Any, top: int | None = None, hosts: int = 0) -> Report:
    """The engine's state as a Report, without building a FlowView per flow.

    The same as ``snapshot_report(engine.snapshot(top, hosts=hosts), top)`` (a test checks it),
    several times faster for a full table: the flows' fields are read column by column by
    C-level ``map``s (attrgetter, operator.add: one pass per field is faster than one
    tuple per flow), and an address is turned into text once
    however many flows it has.  The rows are built under the engine's lock.
    """
    with engine._lock:
        snap, flows = engine._snapshot(top, 0, hosts, raw=True)
        rows = _flow_rows(flows)
    if top is None:
        rows.sort(key=_row_bytes, reverse=True)  # stable: equal flows keep the table's order
    return Report(snap, rows, snap.active_flows)


_FLOW_FIELDS = tuple(
    operator.attrgetter(name)
    for name in ("proto", "family", "src", "sport", "dst", "dport", "app", "use_case", "reason", "name",
                 "packets_ab", "packets_ba", "bytes_ab", "bytes_ba", "first_seen", "last_seen", "owner")
)  # fmt: skip
_row_bytes = operator.itemgetter(10)


def _flow_rows(flows: list) -> list[tuple]:
    """Flows as FLOW_KEYS rows, in the same order."""
    if not flows:
        return []
    (proto, fam, src, sport, dst, dport, app, use_case, reason, name, p_ab, p_ba, b_ab, b_ba, first, last,
     owner) = (list(map(get, flows)) for get in _FLOW_FIELDS)  # fmt: skip
    text = functools.lru_cache(maxsize=None)(address_text)  # many flows share an address
    src = map(text, src, fam)
    dst = map(text, dst, fam)
    if not set(proto) <= PORT_PROTOCOLS:  # port-less flows (ICMP, ...) show null ports
        sport = [p if pr in PORT_PROTOCOLS else None for p, pr in zip(sport, proto, strict=True)]
        dport = [p if pr in PORT_PROTOCOLS else None for p, pr in zip(dport, proto, strict=True)]
    if set(owner) == {None}:
        pid = process = user = container = owner
    else:
        pid = [getattr(o, "pid", None) for o in owner]
        process = [getattr(o, "process", None) for o in owner]
        user = [getattr(o, "user", None) for o in owner]
        container = [getattr(o, "container", None) for o in owner]
    packets = map(operator.add, p_ab, p_ba)
    nbytes = map(operator.add, b_ab, b_ba)
    return list(zip(proto, src, sport, dst, dport, app, use_case, reason, name, packets, nbytes, first, last,
                    pid, process, user, container, strict=True))  # fmt: skip


def _head(snap: Snapshot) -> dict[str, Any]:
    return {
        "source": {"kind": snap.source_kind, "name": snap.source_name},
        "packets": snap.packets,
        "bytes": snap.bytes,
        "malformed": snap.malformed,
        "kernel_drops": snap.kernel_drops,
        "flows_evicted": snap.flows_evicted,
        "duration_s": float(snap.duration_s),
        "socket_kinds": {k: snap.socket_kinds[k].as_dict() for k in SOCKET_KINDS},
        "protocols": {k: v.as_dict() for k, v in sorted(snap.protocols.items(), key=lambda kv: -kv[1].bytes)},
        "use_cases": {k: v.as_dict() for k, v in sorted(snap.use_cases.items(), key=lambda kv: -kv[1].bytes)},
    }


def _flow_dicts(rows: list[tuple], names: dict[str, str | None] | None) -> list[dict[str, Any]]:
    out = [dict(zip(FLOW_KEYS, r, strict=True)) for r in rows]
    if names is not None:
        for d in out:
            d["src_host"] = names.get(d["src"])
            d["dst_host"] = names.get(d["dst"])
    return out


def report_dict(snap: Snapshot, top: int | None = None, names: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The report object for a snapshot (flows largest first, at most ``top`` of them).

    ``names`` (reverse DNS, from ``--resolve``) adds ``src_host``/``dst_host`` to each flow.
    """
    out = _head(snap)
    out["flows"] = _flow_dicts(snapshot_report(snap, top).rows, names)
    return out


def write_report_json(rep: Report, out: TextIO, names: dict | None = None) -> None:
    """The JSON of a report, byte for byte what ``json.dump(report_dict(...))`` wrote, at C speed.

    ``json.dump`` to a stream runs the pure-Python encoder (a write per token: 13 s for
    100,000 flows).  Flows are encoded JSON_CHUNK at a time, column by column (see
    flow_json): no dict per flow, no Python loop per value.
    """
    head = json.dumps(_head(rep.snap), ensure_ascii=True)
    out.write(head[:-1] + ', "flows": [')
    rows = rep.rows
    for i in range(0, len(rows), JSON_CHUNK):
        out.write((", " if i else "") + flow_json(rows[i : i + JSON_CHUNK], names))
    out.write("]}\n")


def flow_json(rows: list[tuple], names: dict | None = None) -> str:
    """Flow rows as the inside of a JSON array: ``json.dumps([dict(zip(FLOW_KEYS, r)), ...])[1:-1]``.

    Each column's values are turned into JSON text by one C-level ``map`` chosen by the
    types the column holds (exact types, so a bool or a str subclass takes the general
    path), then every row is one ``%`` of a template holding the keys.  A column of any
    other mix of types goes through ``json.dumps`` value by value: the same text, slower.
    """
    if not rows:
        return ""
    cols = list(zip(*rows, strict=True))
    if len(cols) != len(FLOW_KEYS):
        raise ValueError(f"a flow row has {len(cols)} values, not {len(FLOW_KEYS)}")
    keys = list(FLOW_KEYS)
    if names is not None:
        cols.append(tuple(map(names.get, cols[1])))
        cols.append(tuple(map(names.get, cols[3])))
        keys += ["src_host", "dst_host"]
    template = "{" + ", ".join(_esc(k).replace("%", "%%") + ": %s" for k in keys) + "}"
    return ", ".join(map(template.__mod__, zip(*map(_json_column, cols), strict=True)))


_esc = json.encoder.encode_basestring_ascii  # the C escaper json.dumps(ensure_ascii=True) uses
_NONE = type(None)


class _TextCache(dict):
    """JSON text of str/None values (or int/None), computed once per distinct value."""

    def __init__(self, convert: Any) -> None:
        super().__init__({None: "null"})
        self.convert = convert

    def __missing__(self, value: Any) -> str:
        text = self[value] = self.convert(value)
        return text


def _json_column(col: tuple) -> Any:
    """The JSON text of each value of a column, as an iterable."""
    types = set(map(type, col))
    if types == {str}:
        return map(_esc, col)
    if types == {int}:
        return map(int.__repr__, col)
    if types == {float} and all(map(math.isfinite, col)):
        return map(float.__repr__, col)
    if types == {_NONE}:
        return ("null",) * len(col)
    if types == {str, _NONE}:  # exact types: the cache's keys cannot collide (1 == True == 1.0)
        return map(_TextCache(_esc).__getitem__, col)
    if types == {int, _NONE}:
        return map(_TextCache(int.__repr__).__getitem__, col)
    return map(_json_value, col)


def _json_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


def write_json(snap: Snapshot, out: TextIO, top: int | None = None, names: dict | None = None) -> None:
    write_report_json(snapshot_report(snap, top), out, names)


def _human(n: float, unit: str = "B") -> str:
    for prefix in ("", "k", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.0f} {prefix}{unit}" if prefix == "" else f"{n:.1f} {prefix}{unit}"
        n /= 1000
    return f"{n:.1f} P{unit}"


def printable(text: str | None) -> str:
    """Text from the wire made safe for a terminal: control characters shown as escapes."""
    if text is None:
        return "-"
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def write_table(snap: Snapshot, out: TextIO, top: int | None = 20) -> None:
    """The same content as the JSON, laid out for a person."""
    write_report_table(snapshot_report(snap), out, top)


def write_report_table(rep: Report, out: TextIO, top: int | None = 20) -> None:
    snap = rep.snap
    w = out.write
    dur = snap.duration_s
    w(f"source    {snap.source_kind} {printable(snap.source_name)}\n")
    w(f"packets   {snap.packets}  ({_human(snap.bytes)})  over {dur:.3f} s\n")
    w(f"malformed {snap.malformed}   kernel drops {snap.kernel_drops}   flows evicted {snap.flows_evicted}\n")
    if snap.message and snap.state in ("error", "ended") and snap.message != "end of file":
        w(f"note      {printable(snap.message)}\n")
    total = snap.packets or 1

    def section(title: str, items: list[tuple[str, int, int]]) -> None:
        w(f"\n{title:<22}{'packets':>10}{'bytes':>14}{'share':>8}\n")
        for name, p, b in items:
            w(f"  {printable(name):<20}{p:>10}{b:>14}{100 * p / total:>7.1f}%\n")

    section("socket kind", [(k, snap.socket_kinds[k].packets, snap.socket_kinds[k].bytes) for k in SOCKET_KINDS])
    section(
        "use case",
        [(k, v.packets, v.bytes) for k, v in sorted(snap.use_cases.items(), key=lambda kv: -kv[1].bytes)],
    )
    section(
        "protocol",
        [(k, v.packets, v.bytes) for k, v in sorted(snap.protocols.items(), key=lambda kv: -kv[1].bytes)],
    )
    if snap.hosts:
        w(f"\n{'hosts':<40}{'sent':>14}{'received':>14}{'flows':>8}\n")
        for h in snap.hosts:
            w(f"  {printable(h.address):<38}{_human(h.bytes_sent):>14}{_human(h.bytes_received):>14}{h.flows:>8}\n")
    count = rep.flow_count
    rows = rep.rows if top is None else rep.rows[:top]
    w(f"\nflows ({count}{'' if top is None or count <= top else f', top {top}'})\n")
    w(f"  {'proto':<7}{'source':<28}{'destination':<28}{'app':<10}{'use case':<16}{'packets':>8}{'bytes':>11}  name\n")
    for proto, src, sport, dst, dport, app, use_case, _r, name, packets, nbytes, _f, _l, pid, process, user, _c in rows:
        s = f"{src}:{sport}" if sport is not None else src
        d = f"{dst}:{dport}" if dport is not None else dst
        w(
            f"  {proto:<7}{printable(s):<28}{printable(d):<28}{printable(app or '-'):<10}"
            f"{use_case:<16}{packets:>8}{nbytes:>11}  {printable(name)}"
            + (f"  {printable(process)}[{pid}] {printable(user)}" if pid is not None else "")
            + "\n"
        )


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """Fewer cyclic-GC passes while a report runs, the settings restored after.

    A report builds 100,000s of flows that live to the end: the default thresholds run a
    full collection over all of them each time the heap grows by a quarter (about 1 s of
    CPU in 8 for the 400,000-frame benchmark file).  What exists at start-up (modules,
    rules) is frozen out of every pass, and young passes are rarer.
    """
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


def run_report(engine: Any, source: Any, bpf: str | None, duration: float | None) -> Snapshot:
    """Run the engine on ``source``: to the end of a file, or ``duration`` seconds live."""
    run_capture(engine, source, bpf, duration)
    return engine.snapshot(hosts=HOSTS_SHOWN)


def run_capture(engine: Any, source: Any, bpf: str | None, duration: float | None) -> None:
    """Capture from ``source``: to the end of a file, or ``duration`` seconds live."""
    if duration is None:
        engine.run(source, bpf)
    else:
        engine.start(source, bpf)
        deadline = time.monotonic() + duration
        while engine.running and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        engine.stop()


def emit(snap: Snapshot, fmt: str, top: int | None, out: TextIO = sys.stdout, names: dict | None = None) -> None:
    if fmt == "json":
        write_json(snap, out, top, names)
    else:
        write_table(snap, out, top if top is not None else 20)


def emit_report(rep: Report, fmt: str, top: int | None, out: TextIO = sys.stdout, names: dict | None = None) -> None:
    """Print a report; ``rep.rows`` already hold at most ``top`` flows for JSON."""
    if fmt == "json":
        write_report_json(rep if top is None else Report(rep.snap, rep.rows[:top], rep.flow_count), out, names)
    else:
        write_report_table(rep, out, top if top is not None else 20)
