"""Processes panel: who is talking — traffic per local process, or per container.

Rows come from ``tui.attribution.usage`` over the snapshot's flows (their pid, process,
user and container, filled by the attributor); rates in and out are the change in a
row's bytes since the previous update.  ``g`` switches between processes and containers.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding

from tui.attribution.usage import BY_CONTAINER, BY_PROCESS, Usage, usage
from tui.snapshot import Snapshot
from tui.textsafe import safe_str
from tui.widgets.fmt import human_bits, human_bytes, human_count
from tui.widgets.summary import snap_now, use_case_label
from tui.widgets.table import KeyedTable

MAX_ROWS = 200
COLUMNS = (
    ("who", "process", 18),
    ("pid", "pid", 7),
    ("user", "user", 9),
    ("container", "container", 16),
    ("flows", "flows", 5),
    ("packets", "packets", 7),
    ("in", "in", 8),
    ("out", "out", 8),
    ("rate_in", "rate in", 10),
    ("rate_out", "rate out", 10),
    ("use_cases", "use cases", 24),
)


def use_case_text(u: Usage, limit: int = 3) -> str:
    """``web 80% · name lookup 20%``: the row's use cases by share of its bytes."""
    total = sum(b for _, b in u.use_cases) or 1
    parts = [f"{use_case_label(name)} {100 * b / total:.0f}%" for name, b in u.use_cases[:limit]]
    if len(u.use_cases) > limit:
        parts.append("…")
    return " · ".join(parts)


def row_key(key: tuple) -> str:
    """The table's row key for a usage key (DataTable keys are strings)."""
    return "\x1f".join(map(str, key))


class ProcessesPanel(KeyedTable):
    """One row per process (or container); data in through ``update(snapshot)``."""

    BINDINGS: ClassVar = [Binding("g", "toggle_group", "Group by process/container")]

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.group_by = BY_PROCESS
        self.usage_rows: dict[tuple, Usage] = {}
        self._prev: dict[tuple, tuple[int, int, float]] = {}
        self._rates: dict[tuple, tuple[float, float]] = {}
        self._last: Snapshot | None = None

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        self._title()

    def action_toggle_group(self) -> None:
        self.set_group(BY_CONTAINER if self.group_by == BY_PROCESS else BY_PROCESS)

    def set_group(self, by: str) -> None:
        self.group_by = by
        self._prev.clear()
        self._rates.clear()
        self.clear_rows()
        if self._last is not None:
            self.update(self._last)

    def _title(self) -> None:
        self.border_title = "Processes" if self.group_by == BY_PROCESS else "Containers"
        self.border_subtitle = f"by {self.group_by} · g switches"

    def _rate(self, u: Usage, now: float) -> tuple[float, float]:
        prev = self._prev.get(u.key)
        if prev is None:
            self._prev[u.key] = (u.bytes_in, u.bytes_out, now)
            return self._rates.setdefault(u.key, (0.0, 0.0))
        b_in, b_out, t = prev
        if now > t:
            span = now - t
            rate = (max(u.bytes_in - b_in, 0) * 8 / span, max(u.bytes_out - b_out, 0) * 8 / span)
            self._rates[u.key] = rate
            self._prev[u.key] = (u.bytes_in, u.bytes_out, now)
        return self._rates.get(u.key, (0.0, 0.0))

    def update(self, snap: Snapshot) -> None:
        self._last = snap
        now = snap_now(snap)
        rows = usage(snap.flows, self.group_by)[:MAX_ROWS]
        live = {u.key for u in rows}
        for gone in [k for k in self._prev if k not in live]:
            self._prev.pop(gone, None)
            self._rates.pop(gone, None)
        self.usage_rows = {u.key: u for u in rows}
        self.sync([(row_key(u.key), self.cells(u, self._rate(u, now))) for u in rows])
        if not rows:
            self.border_subtitle = "no local owners yet (live capture with attribution only)"
        else:
            self._title()

    def cells(self, u: Usage, rate: tuple[float, float]) -> tuple:
        dim = "" if u.known else "dim"
        pid = "" if u.pid is None else str(u.pid)
        if self.group_by == BY_CONTAINER and u.known:
            pid = f"{u.pids} proc" if u.pids != 1 else "1 proc"
        return (
            Text(safe_str(u.label), style=("bold" if u.known else "dim"), no_wrap=True, overflow="ellipsis"),
            Text(pid, justify="right", style=dim),
            Text(safe_str(u.user or ""), no_wrap=True, overflow="ellipsis", style=dim),
            Text(safe_str(u.container or "") if self.group_by == BY_PROCESS else "", no_wrap=True, overflow="ellipsis"),
            Text(human_count(u.flows), justify="right"),
            Text(human_count(u.packets), justify="right"),
            Text(human_bytes(u.bytes_in), justify="right"),
            Text(human_bytes(u.bytes_out), justify="right"),
            Text(human_bits(rate[0]), justify="right"),
            Text(human_bits(rate[1]), justify="right"),
            Text(use_case_text(u), no_wrap=True, overflow="ellipsis", style=dim),
        )
