"""Processes panel: who is talking — traffic per local process, or per container.

Rows come from ``tui.attribution.usage`` over the snapshot's flows (their pid, process,
user and container, filled by the attributor); rates in and out are the change in a
row's bytes since the previous update.  ``g`` switches between processes and containers.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.reactive import var

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


# The columns shown at each width (key -> width; None: what is left), narrowest first.
TIERS = (
    (0, {"who": 13, "pid": 7, "rate_in": 9, "rate_out": 9}),
    (60, {"who": 16, "pid": 7, "user": 9, "in": 8, "out": 8, "rate_in": 10, "rate_out": 10}),
    (100, {key: (None if key == "use_cases" else width) for key, _label, width in COLUMNS}),
)
LABELS = {key: label for key, label, _width in COLUMNS}


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

    BINDINGS: ClassVar = [Binding("g", "toggle_group", "Group", tooltip="Group by process/container")]

    group_by: var[str] = var(BY_PROCESS, init=False)  # BY_PROCESS or BY_CONTAINER

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.usage_rows: dict[tuple, Usage] = {}
        self._prev: dict[tuple, tuple[int, int, float]] = {}
        self._rates: dict[tuple, tuple[float, float]] = {}
        self._last: Snapshot | None = None
        self.empty_note = "no local owners yet"  # subtitle while there are no rows
        self.shown: tuple[str, ...] = ()  # column keys on screen, in order

    def on_mount(self) -> None:
        self._columns_for(self.size.width)
        self._title()

    def on_resize(self) -> None:
        self._columns_for(self.size.width)

    def _columns_for(self, width: int) -> None:
        """The columns that fit ``width``: narrow panels keep who, pid and the rates."""
        room = max(width - 2, 0)
        widths = next(w for least, w in reversed(TIERS) if room >= least)
        keys = tuple(widths)
        flex = max(room - sum(w or 0 for w in widths.values()) - len(keys), 10)
        if keys != self.shown:
            self.shown = keys
            self.clear_rows()
            self.clear(columns=True)
            for key, w in widths.items():
                self.add_column(LABELS[key], key=key, width=flex if w is None else w)
            if self._last is not None:
                self.update(self._last)
        elif None in widths.values():
            self.set_column_width("use_cases", flex)

    def action_toggle_group(self) -> None:
        self.group_by = BY_CONTAINER if self.group_by == BY_PROCESS else BY_PROCESS

    def watch_group_by(self) -> None:
        self._title()
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
            self.border_subtitle = self.empty_note
        else:
            self._title()

    def cells(self, u: Usage, rate: tuple[float, float]) -> tuple:
        """The row's cells for the columns on screen (``self.shown``)."""
        dim = "" if u.known else "dim"
        pid = "" if u.pid is None else str(u.pid)
        if self.group_by == BY_CONTAINER and u.known:
            pid = f"{u.pids} proc" if u.pids != 1 else "1 proc"
        every = {
            "who": Text(safe_str(u.label), style=("bold" if u.known else "dim"), no_wrap=True, overflow="ellipsis"),
            "pid": Text(pid, justify="right", style=dim),
            "user": Text(safe_str(u.user or ""), no_wrap=True, overflow="ellipsis", style=dim),
            "container": Text(
                safe_str(u.container or "") if self.group_by == BY_PROCESS else "", no_wrap=True, overflow="ellipsis"
            ),
            "flows": Text(human_count(u.flows), justify="right"),
            "packets": Text(human_count(u.packets), justify="right"),
            "in": Text(human_bytes(u.bytes_in), justify="right"),
            "out": Text(human_bytes(u.bytes_out), justify="right"),
            "rate_in": Text(human_bits(rate[0]), justify="right"),
            "rate_out": Text(human_bits(rate[1]), justify="right"),
            "use_cases": Text(use_case_text(u), no_wrap=True, overflow="ellipsis", style=dim),
        }
        return tuple(every[k] for k in (self.shown or every))
