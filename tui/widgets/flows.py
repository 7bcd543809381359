"""Flows panel: the top conversations, sortable by any column, filterable by text.

With process attribution on (a live capture) the table gains process and user columns;
with reverse DNS on (``names``), flows without a passive name show the looked-up name of
their far end, marked with ``~`` (passive names from the classifier always come first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.reactive import var

from tui.snapshot import FlowView, Snapshot
from tui.textsafe import safe_str
from tui.widgets.fmt import duration, human_bits, human_bytes, human_count
from tui.widgets.summary import endpoint, flow_endpoints, snap_now, use_case_label
from tui.widgets.table import KeyedTable
from tui.widgets.use_cases import USE_CASE_STYLE

MAX_ROWS = 500


@dataclass(frozen=True, slots=True)
class SortColumn:
    key: str  # column key
    label: str
    binding: str  # the key that sorts by it
    descending: bool  # natural direction (numbers: largest first)


SORT_COLUMNS = (
    SortColumn("endpoints", "endpoints", "E", False),
    SortColumn("process", "process", "O", False),
    SortColumn("user", "user", "W", False),
    SortColumn("proto", "proto", "P", False),
    SortColumn("app", "app", "A", False),
    SortColumn("use_case", "use case", "U", False),
    SortColumn("name", "name", "N", False),
    SortColumn("packets", "pkts", "K", True),
    SortColumn("bytes", "bytes", "B", True),
    SortColumn("rate", "rate", "R", True),
    SortColumn("age", "age", "G", True),
)
WIDTHS = {
    "endpoints": 39,
    "process": 0,  # without attribution (files) the owner columns are folded away
    "user": 0,
    "proto": 5,
    "app": 8,
    "use_case": 13,
    "name": 12,
    "packets": 6,
    "bytes": 8,
    "rate": 10,
    "age": 6,
}
FLEX = ("endpoints", "name")  # these share what the terminal has beyond the fixed columns
# Below 100 columns: endpoints on two lines, and these columns folded away (still sortable).
NARROW = {
    "endpoints": 22,
    "process": 0,  # narrow: the process goes under the name, on the row's second line (in cyan)
    "user": 0,
    "proto": 0,
    "app": 6,
    "use_case": 11,
    "packets": 0,
    "bytes": 8,
    "rate": 10,
    "age": 0,
}
NARROW_BELOW = 100
# With owners: from OWNERS_WIDE columns on every column shows; between, the user and age
# columns fold away and the use case narrows, so endpoints keep their room.
OWNERS_WIDE = 150
OWNERS = {"process": 14, "user": 9}
OWNERS_MID = {"process": 12, "user": 0, "age": 0, "use_case": 11}


def matches(words: list[str], text: str) -> bool:
    """Every word of the filter appears in ``text`` (case-insensitive)."""
    return all(w in text for w in words)


def flow_search_text(f: FlowView) -> str:
    return " ".join(
        str(x)
        for x in (
            flow_endpoints(f),
            f.proto,
            f.app or "",
            f.use_case,
            use_case_label(f.use_case),
            f.name or "",
            f.process or "",
            f.user or "",
            f.container or "",
        )
    ).lower()


def far_name(f: FlowView, names: Callable[[str], str | None]) -> str | None:
    """The reverse-DNS name for a flow: its destination's (the end first spoken to, usually
    the server), else its source's. ``names`` never blocks (None while a lookup runs)."""
    return names(f.dst) or names(f.src)


class FlowsPanel(KeyedTable):
    """Rows keyed by flow id; rates from the bytes seen since the previous update.

    The view state is reactive; its watchers redraw from the last snapshot.
    """

    sort_by: var[tuple[str, bool]] = var(("bytes", True), init=False)  # (column key, descending)
    filter_text: var[str] = var("", init=False)
    show_owners: var[bool] = var(False, init=False)  # process and user columns (live, with attribution)
    names: var[Callable[[str], str | None] | None] = var(None, init=False)  # reverse DNS (non-blocking), or off

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._prev: dict[int, tuple[int, float]] = {}
        self._rates: dict[int, float] = {}
        self.flows: dict[int, FlowView] = {}
        self.shown = 0
        self._last: Snapshot | None = None
        self._hidden: tuple[int, ...] = ()  # positions of folded-away (zero-width) columns

    def on_mount(self) -> None:
        self.border_title = "Flows"
        for col in SORT_COLUMNS:
            self.add_column(col.label, key=col.key, width=WIDTHS.get(col.key))
        self._title()

    @property
    def sort_key(self) -> str:
        return self.sort_by[0]

    @property
    def reverse(self) -> bool:
        return self.sort_by[1]

    def watch_show_owners(self) -> None:
        self._relayout()

    def watch_names(self) -> None:
        self._redraw()

    def watch_sort_by(self) -> None:
        self._title()
        self._redraw()

    def watch_filter_text(self) -> None:
        self._title()
        self._redraw()

    def _redraw(self) -> None:
        if self._last is not None:
            self.update(self._last)

    def on_resize(self) -> None:
        self._relayout()

    def _relayout(self) -> None:
        if not self.columns:
            return
        narrow = self.size.width < NARROW_BELOW
        self.set_narrow(narrow)
        if narrow:
            widths = dict(NARROW)
            used = sum(NARROW.values()) + len(WIDTHS)
            widths["name"] = max(self.size.width - 4 - used, 6)
            self._set_widths(widths)
            return
        widths = dict(WIDTHS)
        if self.show_owners:
            widths.update(OWNERS)
            if self.size.width < OWNERS_WIDE:
                widths.update(OWNERS_MID)
        fixed = sum(w for k, w in widths.items() if k not in FLEX) + len(widths)
        flex = max(self.size.width - 4 - fixed, 30)
        ends = max(min(flex - 10, 47), 20)
        widths["endpoints"] = ends
        widths["name"] = max(flex - ends, 8)
        self._set_widths(widths)

    def _set_widths(self, widths: dict[str, int]) -> None:
        for key, width in widths.items():
            self.set_column_width(key, width)
        hidden = tuple(i for i, col in enumerate(SORT_COLUMNS) if widths.get(col.key, 1) == 0)
        if hidden != self._hidden:  # a folded column shows nothing (not an ellipsis)
            self._hidden = hidden
            if self._last is not None and self.row_count:
                self.clear_rows()
                self.call_after_refresh(self.update, self._last)

    def sort_on(self, key: str) -> None:
        """Sort by column ``key`` in its natural direction; the same key again flips it."""
        col = next(c for c in SORT_COLUMNS if c.key == key)
        self.sort_by = (key, not self.reverse) if self.sort_key == key else (key, col.descending)

    def _title(self) -> None:
        arrow = "↓" if self.reverse else "↑"
        label = next(c.label for c in SORT_COLUMNS if c.key == self.sort_key)
        self.border_subtitle = f"sort {label} {arrow}" + (
            f" · filter {safe_str(self.filter_text)}" if self.filter_text else ""
        )

    def _rate(self, f: FlowView, now: float) -> float:
        prev = self._prev.get(f.id)
        total = f.bytes
        if prev is not None and now > prev[1]:
            self._rates[f.id] = (total - prev[0]) * 8 / (now - prev[1])
            self._prev[f.id] = (total, now)
        elif prev is None:
            life = max(f.last_seen - f.first_seen, 1.0)
            self._rates[f.id] = total * 8 / life if now - f.last_seen < 2.0 else 0.0
            self._prev[f.id] = (total, now)
        return self._rates.get(f.id, 0.0)

    def update(self, snap: Snapshot) -> None:
        self._last = snap
        now = snap_now(snap)
        words = self.filter_text.lower().split()
        chosen: list[FlowView] = []
        rates: dict[int, float] = {}
        for f in snap.flows:
            rates[f.id] = self._rate(f, now)
            if words and not matches(words, flow_search_text(f)):
                continue
            chosen.append(f)
        live = {f.id for f in snap.flows}
        for gone in [k for k in self._prev if k not in live]:
            self._prev.pop(gone, None)
            self._rates.pop(gone, None)
        chosen.sort(key=self._sort_value(rates, now), reverse=self.reverse)
        chosen = chosen[:MAX_ROWS]
        self.flows = {f.id: f for f in chosen}
        self.shown = len(chosen)
        names = self.names
        owners = self.show_owners
        rows = [
            (f.id, self._row_cells(f, rates[f.id], now, self.narrow, owners, far_name(f, names) if names else None))
            for f in chosen
        ]
        if self._hidden:  # (a new Text each: the table pads its cells in place)
            rows = [(k, tuple(Text("") if i in self._hidden else c for i, c in enumerate(cells))) for k, cells in rows]
        self.sync(rows)

    def _sort_value(self, rates: dict[int, float], now: float):
        k = self.sort_key
        if k == "endpoints":
            return lambda f: (f.src, f.sport or 0, f.dst, f.dport or 0)
        if k == "proto":
            return lambda f: (f.proto, -f.bytes)
        if k == "app":
            return lambda f: (f.app or "~", -f.bytes)
        if k == "use_case":
            return lambda f: (f.use_case, -f.bytes)
        if k == "name":
            return lambda f: (f.name or "~", -f.bytes)
        if k == "process":
            return lambda f: (f.process is None, f.process or "", -f.bytes)
        if k == "user":
            return lambda f: (f.user is None, f.user or "", -f.bytes)
        if k == "packets":
            return lambda f: f.packets
        if k == "rate":
            return lambda f: rates.get(f.id, 0.0)
        if k == "age":
            return lambda f: now - f.first_seen
        return lambda f: f.bytes

    @staticmethod
    def _row_cells(
        f: FlowView,
        rate: float,
        now: float,
        narrow: bool = False,
        owners: bool = False,
        rdns: str | None = None,
    ) -> tuple:
        style = USE_CASE_STYLE.get(f.use_case, "")
        if narrow:
            ends = f"{safe_str(endpoint(f.src, f.sport))}\n→ {safe_str(endpoint(f.dst, f.dport))}"
        else:
            ends = safe_str(flow_endpoints(f))
        if f.name:
            name = Text(safe_str(f.name))
        elif rdns:
            name = Text("~" + safe_str(rdns), style="italic")
        else:
            name = Text("")
        process = Text("")
        if owners:
            if f.process or f.pid is not None:
                process = Text(safe_str(f.process or f"pid {f.pid}"), style="cyan")
            elif f.owner_note:
                process = Text("unknown", style="dim")
        if narrow and owners:
            name = Text.assemble(name, "\n", process)
        return (
            Text(ends, no_wrap=True, overflow="ellipsis"),
            Text("") if narrow or not owners else process,
            Text("") if narrow or not owners else Text(safe_str(f.user or ""), style="dim"),
            Text("") if narrow else Text(f.proto),
            Text(safe_str(f.app or "–"), style="bold" if f.app else "dim"),
            Text(use_case_label(f.use_case), style=style),
            name,
            Text("") if narrow else Text(human_count(f.packets), justify="right"),
            Text(human_bytes(f.bytes), justify="right"),
            Text(human_bits(rate), justify="right"),
            Text("") if narrow else Text(duration(max(now - f.first_seen, 0.0)), justify="right"),
        )
