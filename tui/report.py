"""`sockscope report`: the engine without the UI, printing JSON or a table.

The JSON layout is a published interface (scripts and the project's own measurements
read it): keep its keys and types exactly as they are.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import json
import math
import operator
import sys
import time
from collections.abc import Iterator
from socket import AF_INET, inet_ntop
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
JSON_CHUNK = 20_000  # flows per write (a sorted table's flow texts are all made first: see write_report_json)


class Report:
    """What `sockscope report` prints: the counters of a snapshot and its flows.

    ``snap.flows`` may be empty: the flows (FLOW_KEYS order, largest first, at most ``top``)
    are ``rows`` (a tuple per flow), and ``flow_count`` is how many the table held.
    ``collect`` gives columns instead (a list per key, in the table's order, and the
    positions largest first): the JSON encoder reads them as they are, with no tuple per
    flow, and no column is reordered (a gather in a random order misses the CPU caches
    once per value).  Rows are made from them the first time they are asked for (the
    merge of workers and the table read rows).  Not a dataclass for that reason.
    """

    __slots__ = ("_columns", "_order", "_rows", "flow_count", "snap")

    def __init__(self, snap: Snapshot, rows: list[tuple] | None = None, flow_count: int = 0,
                 *, columns: list[list] | None = None, order: list[int] | None = None) -> None:  # fmt: skip
        if rows is None and columns is None:
            rows = []
        self.snap = snap
        self.flow_count = flow_count
        self._rows = rows
        self._columns = columns
        self._order = order  # positions in the columns, largest first; None: the columns' own order

    @property
    def rows(self) -> list[tuple]:
        if self._rows is None:
            rows = list(zip(*self._columns, strict=True))
            self._rows = rows if self._order is None else list(map(rows.__getitem__, self._order))
        return self._rows

    def column(self, i: int) -> list:
        """The values of FLOW_KEYS[i], in the report's order."""
        if self._columns is None:
            return [r[i] for r in self._rows]
        col = self._columns[i]
        return col if self._order is None else list(map(col.__getitem__, self._order))

    def __len__(self) -> int:
        if self._rows is not None:
            return len(self._rows)
        return len(self._columns[0]) if self._order is None else len(self._order)

    def head(self, top: int | None) -> Report:
        """The same report with at most ``top`` flows (itself when it has no more)."""
        if top is None or len(self) <= top:
            return self
        if self._rows is not None:
            return Report(self.snap, self._rows[:top], self.flow_count)
        if self._order is not None:
            return Report(self.snap, None, self.flow_count, columns=self._columns, order=self._order[:top])
        return Report(self.snap, None, self.flow_count, columns=[c[:top] for c in self._columns])


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
    """The engine's state as a Report, without building a FlowView or a tuple per flow.

    The same as ``snapshot_report(engine.snapshot(top, hosts=hosts), top)`` (a test checks it),
    several times faster for a full table: the flows' fields are read column by column, in
    the table's order, by C-level ``map``s (attrgetter, operator.add: one pass per field is
    faster than one tuple per flow), and each distinct address is turned into text once.
    The columns are built under the engine's lock.
    """
    with engine._lock:
        snap, flows = engine._snapshot(top, 0, hosts, raw=True)
        columns = flow_columns(flows)
    order = None
    if top is None and flows:  # with top, heapq.nlargest has put them largest first
        # Stable (equal flows keep the table's order), as sorting the rows was.
        order = sorted(range(len(flows)), key=columns[10].__getitem__, reverse=True)
    return Report(snap, None, snap.active_flows, columns=columns, order=order)


_get = operator.attrgetter
_FAMILY_LEN = {4: 4, 6: 16}  # the address length decode gives each family


def flow_columns(flows: list) -> list[list]:
    """Flows as FLOW_KEYS columns, in their order."""
    n = len(flows)
    if not n:
        return [[] for _ in FLOW_KEYS]
    proto, fam, src, sport, dst, dport, app, use_case, reason, name, first, last, owner = (
        list(map(_get(key), flows))
        for key in ("proto", "family", "src", "sport", "dst", "dport", "app", "use_case", "reason", "name",
                    "first_seen", "last_seen", "owner")
    )  # fmt: skip
    packets = list(map(operator.add, map(_get("packets_ab"), flows), map(_get("packets_ba"), flows)))
    nbytes = list(map(operator.add, map(_get("bytes_ab"), flows), map(_get("bytes_ba"), flows)))
    lengths = list(map(_FAMILY_LEN.get, fam))
    src, dst = _address_texts(src, fam, lengths), _address_texts(dst, fam, lengths)
    if not set(proto) <= PORT_PROTOCOLS:  # port-less flows (ICMP, ...) show null ports
        sport = [p if pr in PORT_PROTOCOLS else None for p, pr in zip(sport, proto, strict=True)]
        dport = [p if pr in PORT_PROTOCOLS else None for p, pr in zip(dport, proto, strict=True)]
    if _all_none(owner):
        pid = process = user = container = owner
    else:
        pid = [getattr(o, "pid", None) for o in owner]
        process = [getattr(o, "process", None) for o in owner]
        user = [getattr(o, "user", None) for o in owner]
        container = [getattr(o, "container", None) for o in owner]
    return [proto, src, sport, dst, dport, app, use_case, reason, name, packets, nbytes, first, last,
            pid, process, user, container]  # fmt: skip


def _address_texts(addrs: list, fams: list, lengths: list) -> list[str]:
    """``address_text`` of each address, computed once per distinct address.

    When every address has its family's length (``lengths``; what decode gives), the text
    depends on the bytes alone, and IPv4 goes through ``inet_ntop`` in one C-level map.
    """
    if list(map(len, addrs)) != lengths:
        text = functools.lru_cache(maxsize=None)(address_text)
        return list(map(text, addrs, fams))
    distinct = list(dict.fromkeys(addrs))  # in first-seen order: memory order, kind to the caches
    v4 = v6 = distinct
    if 16 in lengths:  # IPv6 too (only 4 and 16 are in lengths, and they are the addresses')
        is_v4 = list(map((4).__eq__, map(len, distinct)))
        v4 = list(itertools.compress(distinct, is_v4))
        v6 = list(itertools.compress(distinct, map(operator.not_, is_v4)))
    texts = dict(zip(v4, map(inet_ntop, itertools.repeat(AF_INET), v4), strict=True))
    if v6 is not v4:
        texts.update(zip(v6, map(address_text, v6, itertools.repeat(6)), strict=True))
    return list(map(texts.__getitem__, addrs))


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
    100,000 flows).  Flows are encoded from the report's columns (see columns_json): no dict
    or tuple per flow made for it, no Python loop per value.  Columns in the report's order
    are encoded and written JSON_CHUNK flows at a time; columns with an order are encoded
    whole in their own order (the text of each flow, in memory at once), then written
    JSON_CHUNK flows at a time in the report's.
    """
    head = json.dumps(_head(rep.snap), ensure_ascii=True)
    out.write(head[:-1] + ', "flows": [')
    columns, order = rep._columns, rep._order
    if columns is None:
        columns = [list(c) for c in zip(*rep.rows, strict=True)] or [[] for _ in FLOW_KEYS]
    elif order is not None and 2 * len(order) < len(columns[0]):  # a few of many: take them out
        columns, order = [list(map(c.__getitem__, order)) for c in columns], None
    if order is None:
        for i in range(0, len(columns[0]), JSON_CHUNK):
            out.write((", " if i else "") + columns_json([c[i : i + JSON_CHUNK] for c in columns], names))
    else:
        texts = flow_texts(columns, names)
        for i in range(0, len(order), JSON_CHUNK):
            out.write((", " if i else "") + ", ".join(map(texts.__getitem__, order[i : i + JSON_CHUNK])))
    out.write("]}\n")


def flow_json(rows: list[tuple], names: dict | None = None) -> str:
    """Flow rows as the inside of a JSON array: ``json.dumps([dict(zip(FLOW_KEYS, r)), ...])[1:-1]``."""
    if not rows:
        return ""
    return columns_json([list(c) for c in zip(*rows, strict=True)], names)


def columns_json(cols: list[list], names: dict | None = None) -> str:
    """Flow columns (FLOW_KEYS order) as the inside of a JSON array, as ``flow_json`` of their rows."""
    return ", ".join(flow_texts(cols, names))


def flow_texts(cols: list[list], names: dict | None = None) -> list[str]:
    """The JSON object of each flow of the columns (FLOW_KEYS order; ``names``: with hosts).

    Each column is turned into JSON text by one C-level ``map`` chosen from the exact types
    it holds (a bool or a str subclass takes the general path; ints by ``int.__repr__``,
    finite floats by ``float.__repr__``, what json writes; strings by json's C escaper).  A
    column of one int, str or None is a constant; a column of few ints or strings, or of
    strings and None, maps each value to its text, the key before it included, from a table
    of its distinct values.  Then each flow is one ``str.join`` of its values and the text
    between them.  A column of any other mix of types goes through ``json.dumps`` value by
    value: the same text, slower.
    """
    if len(cols) != len(FLOW_KEYS):
        raise ValueError(f"a flow row has {len(cols)} values, not {len(FLOW_KEYS)}")
    n = len(cols[0])
    if any(len(c) != n for c in cols):
        raise ValueError("flow columns of different lengths")
    if not n:
        return []
    keys = list(FLOW_KEYS)
    if names is not None:
        cols = [*cols, list(map(names.get, cols[1])), list(map(names.get, cols[3]))]
        keys += ["src_host", "dst_host"]
    pieces: list[Any] = []  # the flows' texts in parts: repeated texts (keys) and columns' values
    text = "{"  # the constant text since the last column with values
    for key, col in zip(keys, cols, strict=True):
        text += _esc(key) + ": "
        const, values, table = _json_column(col)
        if const is not None:
            text += const
        else:
            if table is not None:  # the text before the value goes into the table's texts
                values = map({v: text + t for v, t in table.items()}.__getitem__, col)
            else:
                pieces.append(itertools.repeat(text))
            pieces.append(values)
            text = ""
        text += ", "
    text = text[:-2] + "}"
    if not pieces:
        return [text] * n
    # zip stops at the columns' end (the texts repeat forever); the columns' lengths are checked
    return list(map("".join, zip(*pieces, itertools.repeat(text), strict=False)))


_esc = json.encoder.encode_basestring_ascii  # the C escaper json.dumps(ensure_ascii=True) uses
_NONE = type(None)
_FEW = 64  # a column whose first values hold fewer distinct strings than this takes a table


def _json_column(col: list) -> tuple[str | None, Any, dict | None]:
    """A column's JSON: (its one text, None, None) when all its values are the same,
    (None, the texts, None), or (None, None, a table from each distinct value to its text)."""
    n = len(col)
    if _all_none(col):
        return "null", None, None
    types = set(map(type, col))
    # exact types: equal values have the same text
    if (types == {int} or types == {str}) and col[0] == col[-1] and col.count(col[0]) == n:
        return _json_value(col[0]), None, None
    if types == {float} and all(map(math.isfinite, col)):
        return None, map(float.__repr__, col), None
    if not types <= {int, str, _NONE} or (int in types and str in types):
        return None, map(_json_value, col), None
    # Exact types from here: int, str or None (the keys of a table cannot collide: 1 == True == 1.0).
    text = int.__repr__ if int in types else _esc
    many = len(set(col[: 4 * _FEW])) >= _FEW
    if many and _NONE not in types:  # many values: each its own text
        return None, map(text, col), None
    if many and int in types:  # str(int) is int.__repr__; str("null") itself
        return None, map(str, map({None: "null"}.get, col, col)), None
    distinct = dict.fromkeys(col)  # in the column's order: kind to the caches
    table = {None: "null"}
    distinct.pop(None, None)
    table.update(zip(distinct, map(text, distinct), strict=True))
    return None, None, table


def _all_none(col: list) -> bool:
    """Whether every value is None, by identity (``list.count(None)`` compares each value with ==: slow)."""
    return not any(map(operator.is_not, col, itertools.repeat(None)))


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
    rows = rep.head(top).rows
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
    """Print a report (its flows cut to ``top`` for JSON; ``collect`` has already cut them)."""
    if fmt == "json":
        write_report_json(rep.head(top), out, names)
    else:
        write_report_table(rep, out, top if top is not None else 20)
