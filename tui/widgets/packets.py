"""Packets panel: a live tail of the latest packets, newest first."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import var

from tui.snapshot import OUT, PacketRow, Snapshot
from tui.textsafe import safe_str
from tui.widgets.flows import matches
from tui.widgets.summary import packet_parts, packet_time, use_case_label
from tui.widgets.table import KeyedTable
from tui.widgets.use_cases import USE_CASE_STYLE

TAIL = 200  # packets shown in the tail


class PacketsPanel(KeyedTable):
    """Rows keyed by packet number; each packet is decoded once for its summary."""

    tail = TAIL
    filter_text: var[str] = var("", init=False)  # every word must appear in a shown packet
    live_tail = True  # show only as many of the newest packets as fit

    def visible_rows(self) -> int:
        lines = max(self.size.height - 3, 4)  # border and header
        return max(lines // (2 if self.narrow else 1), 2) + 2

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.packets: dict[int, PacketRow] = {}
        self._parts: dict[int, tuple[str, str, str]] = {}
        self._last: Snapshot | None = None

    def on_mount(self) -> None:
        self.border_title = "Packets"
        self.add_column("time", key="time", width=12)
        self.add_column("dir", key="dir", width=3)
        self.add_column("endpoints", key="endpoints", width=44)
        self.add_column("proto", key="proto", width=6)
        self.add_column("use case", key="use_case", width=13)
        self.add_column("len", key="len", width=5)
        self.add_column("summary", key="summary", width=30)

    def on_resize(self) -> None:
        narrow = self.size.width < 100
        self.set_narrow(narrow)
        self.set_column_width("use_case", 0 if narrow else 13)
        if narrow:
            self.set_column_width("endpoints", 22)
            self.set_column_width("summary", max(self.size.width - 4 - (12 + 3 + 22 + 6 + 0 + 5) - 7, 10))
            return
        flex = max(self.size.width - 4 - (12 + 3 + 6 + 13 + 5) - 7, 30)
        ends = max(min(int(flex * 0.55), 47), 20)
        self.set_column_width("endpoints", ends)
        self.set_column_width("summary", max(flex - ends, 10))

    def watch_filter_text(self) -> None:
        if self._last is not None:
            self.update(self._last)

    def parts(self, row: PacketRow) -> tuple[str, str, str]:
        got = self._parts.get(row.seq)
        if got is None:
            got = self._parts[row.seq] = packet_parts(row)
        return got

    def update(self, snap: Snapshot) -> None:
        self._last = snap
        words = self.filter_text.lower().split()
        rows = []
        kept: dict[int, PacketRow] = {}
        # A live tail only needs the rows that fit: decoding and adding rows the panel cannot
        # show costs the UI thread dearly at 50,000 packets a second. A filter searches more.
        limit = self.tail if words or not self.live_tail else self.visible_rows()
        for row in reversed(snap.recent[-self.tail :]):
            if len(rows) >= limit:
                break
            ends, proto, summary = self.parts(row)
            if words:
                hay = f"{ends} {proto} {row.app or ''} {row.use_case} {use_case_label(row.use_case)} {summary}".lower()
                if not matches(words, hay):
                    continue
            kept[row.seq] = row
            rows.append((row.seq, self._row_cells(row, snap, ends, proto, summary)))
        if len(self._parts) > 2 * self.tail:
            recent = {r.seq for r in snap.recent}
            self._parts = {k: v for k, v in self._parts.items() if k in recent}
        self.packets = kept
        self.border_subtitle = f"filter {safe_str(self.filter_text)}" if self.filter_text else ""
        self.sync(rows)

    def _row_cells(self, row: PacketRow, snap: Snapshot, ends: str, proto: str, summary: str) -> tuple:
        out = row.direction == OUT
        sep = "\n→ " if self.narrow else " → "
        ends = sep.join(safe_str(part) for part in ends.split(" → ", 1))
        return (
            Text(packet_time(row, snap), style="dim"),
            Text("out" if out else "in", style="cyan" if out else "green"),
            Text(ends, no_wrap=True, overflow="ellipsis"),
            Text(safe_str(row.app or proto)),
            Text("") if self.narrow else Text(use_case_label(row.use_case), style=USE_CASE_STYLE.get(row.use_case, "")),
            Text(str(row.wire_len), justify="right"),
            Text(safe_str(summary), no_wrap=True, overflow="ellipsis"),
        )
