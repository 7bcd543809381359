"""Flows panel: the top conversations, sortable by any column, filterable by text."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

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
NARROW = {"endpoints": 22, "proto": 0, "app": 6, "use_case": 11, "packets": 0, "bytes": 8, "rate": 10, "age": 0}
NARROW_BELOW = 100


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
        )
    ).lower()


class FlowsPanel(KeyedTable):
    """Rows keyed by flow id; rates from the bytes seen since the previous update."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.sort_key = "bytes"
        self.reverse = True
        self.filter_text = ""
        self._prev: dict[int, tuple[int, float]] = {}
        self._rates: dict[int, float] = {}
        self.flows: dict[int, FlowView] = {}
        self.shown = 0
        self.narrow = False
        self._last: Snapshot | None = None

    def on_mount(self) -> None:
        self.border_title = "Flows"
        for col in SORT_COLUMNS:
            self.add_column(col.label, key=col.key, width=WIDTHS.get(col.key))
        self._title()

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW_BELOW
        if narrow != self.narrow:
            self.narrow = narrow
            self.row_height = 2 if narrow else 1
            self.clear_rows()
            if self._last is not None:
                self.call_after_refresh(self.update, self._last)
        if narrow:
            for key, width in NARROW.items():
                self.set_column_width(key, width)
            used = sum(NARROW.values()) + len(WIDTHS)
            self.set_column_width("name", max(self.size.width - 4 - used, 6))
            return
        for key, width in WIDTHS.items():
            self.set_column_width(key, width)
        fixed = sum(w for k, w in WIDTHS.items() if k not in FLEX) + len(WIDTHS)
        flex = max(self.size.width - 4 - fixed, 30)
        ends = max(min(flex - 10, 47), 20)
        self.set_column_width("endpoints", ends)
        self.set_column_width("name", max(flex - ends, 8))

    def set_sort(self, key: str) -> None:
        """Sort by column ``key``; the same key again flips the direction."""
        col = next(c for c in SORT_COLUMNS if c.key == key)
        if self.sort_key == key:
            self.reverse = not self.reverse
        else:
            self.sort_key, self.reverse = key, col.descending
        self._title()
        if self._last is not None:
            self.update(self._last)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._title()
        if self._last is not None:
            self.update(self._last)

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
        rows = [(f.id, self._row_cells(f, rates[f.id], now, self.narrow)) for f in chosen]
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
        if k == "packets":
            return lambda f: f.packets
        if k == "rate":
            return lambda f: rates.get(f.id, 0.0)
        if k == "age":
            return lambda f: now - f.first_seen
        return lambda f: f.bytes

    @staticmethod
    def _row_cells(f: FlowView, rate: float, now: float, narrow: bool = False) -> tuple:
        style = USE_CASE_STYLE.get(f.use_case, "")
        if narrow:
            ends = f"{safe_str(endpoint(f.src, f.sport))}\n→ {safe_str(endpoint(f.dst, f.dport))}"
        else:
            ends = safe_str(flow_endpoints(f))
        hidden = Text("")
        return (
            Text(ends, no_wrap=True, overflow="ellipsis"),
            hidden if narrow else Text(f.proto),
            Text(safe_str(f.app or "–"), style="bold" if f.app else "dim"),
            Text(use_case_label(f.use_case), style=style),
            Text(safe_str(f.name or ""), no_wrap=True, overflow="ellipsis"),
            Text("") if narrow else Text(human_count(f.packets), justify="right"),
            Text(human_bytes(f.bytes), justify="right"),
            Text(human_bits(rate), justify="right"),
            Text("") if narrow else Text(duration(max(now - f.first_seen, 0.0)), justify="right"),
        )
