"""`sockscope report`: the engine without the UI, printing JSON or a table.

The JSON layout is a published interface (scripts and the project's own measurements
read it): keep its keys and types exactly as they are.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from tui.snapshot import SOCKET_KINDS, Snapshot

HOSTS_SHOWN = 10  # busiest hosts in the table (the JSON layout is fixed and has none)


def report_dict(snap: Snapshot, top: int | None = None, names: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The report object for a snapshot (flows largest first, at most ``top`` of them).

    ``names`` (reverse DNS, from ``--resolve``) adds ``src_host``/``dst_host`` to each flow.
    """
    flows = snap.flows if top is None else snap.flows[:top]
    out = {
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
        "flows": [
            {
                "proto": f.proto,
                "src": f.src,
                "sport": f.sport,
                "dst": f.dst,
                "dport": f.dport,
                "app": f.app,
                "use_case": f.use_case,
                "reason": f.reason,
                "name": f.name,
                "packets": f.packets,
                "bytes": f.bytes,
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
                "pid": f.pid,
                "process": f.process,
                "user": f.user,
                "container": f.container,
            }
            for f in flows
        ],
    }
    if names is not None:
        for d in out["flows"]:
            d["src_host"] = names.get(d["src"])
            d["dst_host"] = names.get(d["dst"])
    return out


def write_json(snap: Snapshot, out: TextIO, top: int | None = None, names: dict | None = None) -> None:
    json.dump(report_dict(snap, top, names), out, ensure_ascii=True)
    out.write("\n")


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
    flows = snap.flows if top is None else snap.flows[:top]
    w(f"\nflows ({len(snap.flows)}{'' if top is None or len(snap.flows) <= top else f', top {top}'})\n")
    w(f"  {'proto':<7}{'source':<28}{'destination':<28}{'app':<10}{'use case':<16}{'packets':>8}{'bytes':>11}  name\n")
    for f in flows:
        s = f"{f.src}:{f.sport}" if f.sport is not None else f.src
        d = f"{f.dst}:{f.dport}" if f.dport is not None else f.dst
        w(
            f"  {f.proto:<7}{printable(s):<28}{printable(d):<28}{printable(f.app or '-'):<10}"
            f"{f.use_case:<16}{f.packets:>8}{f.bytes:>11}  {printable(f.name)}"
            + (f"  {printable(f.process)}[{f.pid}] {printable(f.user)}" if f.pid is not None else "")
            + "\n"
        )


def run_report(engine: Any, source: Any, bpf: str | None, duration: float | None) -> Snapshot:
    """Run the engine on ``source``: to the end of a file, or ``duration`` seconds live."""
    if duration is None:
        engine.run(source, bpf)
    else:
        engine.start(source, bpf)
        deadline = time.monotonic() + duration
        while engine.running and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        engine.stop()
    return engine.snapshot(hosts=HOSTS_SHOWN)


def emit(snap: Snapshot, fmt: str, top: int | None, out: TextIO = sys.stdout, names: dict | None = None) -> None:
    if fmt == "json":
        write_json(snap, out, top, names)
    else:
        write_table(snap, out, top if top is not None else 20)
