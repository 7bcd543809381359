"""Traffic per process (or per container), summed from a snapshot's flows.

Pure data, no UI: the Processes panel renders it, tests and scripts can use it as is.
"In" and "out" are from the owner's side: a flow whose owner's socket is its dst end
counts its src -> dst bytes as in.  Flows without a known owner are grouped by the
reason they have none; flows never looked at (a file, attribution off) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tui.snapshot import FlowView

BY_PROCESS = "process"
BY_CONTAINER = "container"


@dataclass(frozen=True, slots=True)
class Usage:
    """One row: a process (pid, name, user) or a container, or an unknown-owner reason."""

    key: tuple
    label: str  # "nginx", "docker:web", "unknown: socket closed before it was seen"
    pid: int | None
    user: str | None
    container: str | None
    known: bool
    flows: int
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    use_cases: tuple[tuple[str, int], ...]  # (use case, bytes), largest first
    last_seen: float
    pids: int = 1  # processes in the row (container grouping)

    @property
    def packets(self) -> int:
        return self.packets_in + self.packets_out

    @property
    def bytes(self) -> int:
        return self.bytes_in + self.bytes_out


def usage(flows: Iterable[FlowView], by: str = BY_PROCESS) -> list[Usage]:
    """Rows of traffic per owner, largest first by bytes."""
    acc: dict[tuple, list] = {}
    for f in flows:
        if f.pid is not None:
            if by == BY_CONTAINER:
                key = ("c", f.container or "host")
                label = f.container or "(no container)"
            else:
                key = ("p", f.pid, f.process)
                label = f.process or "?"
            known = True
        elif f.owner_note:
            key = ("u", f.owner_note)
            label = f"unknown: {f.owner_note}"
            known = False
        else:
            continue
        row = acc.get(key)
        if row is None:
            # flows, p_in, p_out, b_in, b_out, use cases, last seen, pids, label, pid, user, container, known
            row = acc[key] = [0, 0, 0, 0, 0, {}, 0.0, set(), label, f.pid, f.user, f.container, known]
        if f.local_src is False:
            p_out, b_out, p_in, b_in = f.packets_ba, f.bytes_ba, f.packets_ab, f.bytes_ab
        else:
            p_out, b_out, p_in, b_in = f.packets_ab, f.bytes_ab, f.packets_ba, f.bytes_ba
        row[0] += 1
        row[1] += p_in
        row[2] += p_out
        row[3] += b_in
        row[4] += b_out
        row[5][f.use_case] = row[5].get(f.use_case, 0) + f.bytes
        row[6] = max(row[6], f.last_seen)
        if f.pid is not None:
            row[7].add(f.pid)
    out = []
    for key, r in acc.items():
        ucs = tuple(sorted(r[5].items(), key=lambda kv: (-kv[1], kv[0])))
        by_container = key[0] == "c"
        out.append(
            Usage(
                key=key,
                label=r[8],
                pid=None if by_container else r[9],
                user=r[10],
                container=r[11],
                known=r[12],
                flows=r[0],
                packets_in=r[1],
                packets_out=r[2],
                bytes_in=r[3],
                bytes_out=r[4],
                use_cases=ucs,
                last_seen=r[6],
                pids=len(r[7]),
            )
        )
    out.sort(key=lambda u: (not u.known, -u.bytes, u.label))
    return out
