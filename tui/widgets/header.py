"""The monitor's top lines: what is captured, its state, and the totals and rates now.

Laid out as a grid of label/value pairs: labels dim, values bold, each value right-aligned
in a column wide enough for typical figures, so nothing jumps as the numbers change and
no label runs into the value before it.  Two rows from 118 columns on, three below (the
80-column layout).  PAUSED, the capture filter, the display filter, rDNS and a message
go after the first row when they fit, else on a line of their own.

Spacing is kept out of the segments that carry text: every gap is trailing space of a
cell or a segment of its own, never the start of a label or value (SVG renderers such as
librsvg drop leading spaces of a text run, which made "demo.pcapngelapsed" of the old
screenshots).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from tui.snapshot import Snapshot
from tui.textsafe import safe_str
from tui.widgets.fmt import duration, human_bits, human_bytes, human_count

STATE_STYLE = {
    "running": ("RUNNING", "bold black on green"),
    "ended": ("ENDED", "bold black on #5f87d7"),
    "stopped": ("STOPPED", "bold black on yellow"),
    "error": ("ERROR", "bold white on red"),
    "idle": ("STARTING", "bold black on #808080"),
}
WIDE_FROM = 118  # content columns (a 120-column terminal) for the two-row layout
GAP = 3  # columns between one pair and the next
LABEL = Style(dim=True)
VALUE = Style(bold=True)
PAD = Style()  # the style of gaps: never the style of a label or value
# Column widths the values are right-aligned in (a larger value widens its column).
RATE_W = 19  # "999.9 Mb/s 9999 p/s"
TOTAL_W = 19  # "99.9M pkts 999.9 MB"
COUNT_W = 5
DURATION_W = 8  # "1:02:03"


@dataclass(frozen=True, slots=True)
class Pair:
    """One label and its value; ``width`` is the least the value column takes."""

    label: Text
    value: Text
    width: int = 0
    left: bool = False  # the value is text (a name), not a figure: aligned left


class HeaderPanel(Static):
    """Interface, state, elapsed time, rates in/out, drops, malformed, filters."""

    DEFAULT_CSS = """
    HeaderPanel { height: auto; background: $panel; padding: 0 1; }
    """

    paused: var[bool] = var(False, init=False)
    display_filter: var[str] = var("", init=False)
    names: var[bool] = var(False, init=False)  # reverse DNS on

    def __init__(self, **kw) -> None:
        super().__init__("", **kw)
        self._snap: Snapshot | None = None

    def update(self, snap: Snapshot) -> None:  # type: ignore[override]
        self._snap = snap
        super().update(self.render_text(snap))

    def _redraw(self) -> None:
        if self._snap is not None:
            super().update(self.render_text(self._snap))

    watch_paused = watch_display_filter = watch_names = _redraw

    def on_resize(self) -> None:
        self._redraw()

    def render_text(self, snap: Snapshot, width: int | None = None) -> Text:
        """The header for ``width`` content columns (None: this widget's, or the wide layout
        when it has no size yet)."""
        if width is None:
            width = self.content_size.width or WIDE_FROM
        layout = _wide_columns if width >= WIDE_FROM else _compact_columns
        lines = _grid(layout(snap, RATE_W))
        name = safe_str(_short_name(snap.source_name), limit=60)
        slack = width - max(line.cell_len for line in lines)
        if len(name) > RATE_W and slack > 0:  # a long name takes what the line has left
            lines = _grid(layout(snap, RATE_W + slack))
        extras = self._extras(snap)
        if extras.cell_len:
            room = width - lines[0].cell_len - GAP
            if extras.cell_len <= room:
                lines[0].append(" " * GAP, PAD)
                lines[0].append_text(extras)
            else:
                lines.append(extras)
        out = Text(no_wrap=True, overflow="ellipsis")
        for i, line in enumerate(lines):
            if i:
                out.append("\n")
            line.truncate(width, overflow="ellipsis")
            out.append_text(line)
        return out

    def _extras(self, snap: Snapshot) -> Text:
        """PAUSED, filters, rDNS and a message: what is set, in that order."""
        items: list[Text] = []
        if self.paused:
            items.append(_badge("PAUSED", "bold black on #ffaf00"))
        if snap.bpf:
            items.append(_pair_text("bpf", safe_str(snap.bpf, limit=30), "bold cyan"))
        if self.display_filter:
            items.append(_pair_text("show", safe_str(self.display_filter, limit=24), "bold magenta"))
        if self.names:
            items.append(Text("rDNS on", "italic cyan"))
        if snap.message and snap.message != "end of file":
            style = "bold red" if snap.state == "error" else "yellow"
            items.append(Text(safe_str(snap.message, limit=120), style))
        out = Text(no_wrap=True)
        for i, item in enumerate(items):
            if i:
                out.append(" " * GAP, PAD)
            out.append_text(item)
        return out


def _wide_columns(snap: Snapshot, name_w: int) -> list[list[Pair | None]]:
    """Two rows: the source over the totals, in over out, elapsed over flows, drops over
    malformed."""
    kind = "live" if snap.source_kind == "live" else "file"
    pin, pout, bin_, bout = _now(snap)
    return [
        [_state_pair(snap, kind, name_w), _total_pair(snap)],
        [_in_pair(bin_, pin), _out_pair(bout, pout)],
        [_figure("elapsed", duration(snap.duration_s), DURATION_W), _flows_pair(snap)],
        [_drops_pair(snap), _malformed_pair(snap)],
    ]


def _compact_columns(snap: Snapshot, name_w: int) -> list[list[Pair | None]]:
    """Three rows (80 columns): the source over in over out, elapsed over the totals over
    flows, drops over malformed."""
    pin, pout, bin_, bout = _now(snap)
    return [
        [_state_pair(snap, None, name_w), _in_pair(bin_, pin), _out_pair(bout, pout)],
        [  # left-aligned: these differ in width, and "12.7s" far right of its label reads badly
            _figure("elapsed", duration(snap.duration_s), DURATION_W, left=True),
            _total_pair(snap, TOTAL_W),
            _flows_pair(snap, left=True),
        ],
        [_drops_pair(snap), _malformed_pair(snap), None],
    ]


def _grid(columns: list[list[Pair | None]]) -> list[Text]:
    """Lay pairs out in columns: each label column as wide as its widest label, each value
    column as wide as its widest value (at least the pairs' ``width``)."""
    rows = max(len(c) for c in columns)
    lines = [Text(no_wrap=True) for _ in range(rows)]
    for ci, col in enumerate(columns):
        pairs = [p for p in col if p is not None]
        label_w = max((p.label.cell_len for p in pairs), default=0)
        value_w = max((max(p.value.cell_len, p.width) for p in pairs), default=0)
        last = ci == len(columns) - 1
        for ri in range(rows):
            p = col[ri] if ri < len(col) else None
            line = lines[ri]
            if p is None:
                if not last:
                    line.append(" " * (label_w + 1 + value_w + GAP), PAD)
                continue
            line.append_text(p.label)
            line.append(" " * (label_w - p.label.cell_len + 1), PAD)
            fill = value_w - p.value.cell_len
            if not p.left and fill:
                line.append(" " * fill, PAD)
            line.append_text(p.value)
            if p.left and fill and not last:
                line.append(" " * fill, PAD)
            if not last:
                line.append(" " * GAP, PAD)
    for line in lines:
        line.rstrip()
    return lines


def _now(snap: Snapshot) -> tuple[int, int, int, int]:
    """Packets in, packets out, bytes in, bytes out in the last second."""
    s = snap.series
    return (
        s.packets_in[-1] if s.packets_in else 0,
        s.packets_out[-1] if s.packets_out else 0,
        s.bytes_in[-1] if s.bytes_in else 0,
        s.bytes_out[-1] if s.bytes_out else 0,
    )


def _badge(label: str, style: str) -> Text:
    """A label on a coloured ground, one column of ground each side.  The leading column
    is a segment of its own (ground only), so the label itself starts with a letter."""
    ground = Style.parse(style)
    t = Text(no_wrap=True)
    t.append(" ", Style(bgcolor=ground.bgcolor))
    t.append(f"{label} ", ground)
    return t


def _state_pair(snap: Snapshot, kind: str | None, name_w: int) -> Pair:
    """The state badge, and what is captured (``kind`` live/file before the name)."""
    label, style = STATE_STYLE.get(snap.state, (snap.state.upper(), "reverse"))
    value = Text(no_wrap=True)
    if kind is not None:
        value.append(kind, LABEL)
        value.append(" ", PAD)
    value.append(safe_str(_short_name(snap.source_name), limit=60), VALUE)
    value.truncate(name_w, overflow="ellipsis")
    return Pair(_badge(label, style), value, 0, left=True)


def _figure(label: str, value: str, width: int, style: str | Style = VALUE, left: bool = False) -> Pair:
    return Pair(Text(label, LABEL), Text(value, style), width, left)


def _rate(bytes_s: int, packets_s: int, colour: str) -> Text:
    """Bits a second and packets a second, each right-aligned ("  15.4 kb/s    9 p/s")."""
    bits = human_bits(bytes_s * 8)
    pps = f"{human_count(packets_s)} p/s"
    t = Text(no_wrap=True)
    if len(bits) < 10:
        t.append(" " * (10 - len(bits)), PAD)
    t.append(bits, f"bold {colour}")
    t.append(" " * max(RATE_W - 10 - len(pps), 1), PAD)
    t.append(pps, colour)
    return t


def _in_pair(bytes_s: int, packets_s: int) -> Pair:
    return Pair(Text("in", LABEL), _rate(bytes_s, packets_s, "green"), RATE_W)


def _out_pair(bytes_s: int, packets_s: int) -> Pair:
    return Pair(Text("out", LABEL), _rate(bytes_s, packets_s, "cyan"), RATE_W)


def _flows_pair(snap: Snapshot, left: bool = False) -> Pair:
    return _figure("flows", human_count(snap.active_flows), COUNT_W, left=left)


def _total_pair(snap: Snapshot, width: int = 0) -> Pair:
    t = Text(no_wrap=True)
    t.append(f"{human_count(snap.packets)} pkts", VALUE)
    t.append(" ", PAD)
    t.append(human_bytes(snap.bytes), VALUE)
    return Pair(Text("total", LABEL), t, width, left=True)


def _drops_pair(snap: Snapshot) -> Pair:
    style = "bold red" if snap.kernel_drops else VALUE
    return _figure("drops", human_count(snap.kernel_drops), COUNT_W, style)


def _malformed_pair(snap: Snapshot) -> Pair:
    style = "bold yellow" if snap.malformed else VALUE
    return _figure("malformed", human_count(snap.malformed), COUNT_W, style)


def _pair_text(label: str, value: str, style: str) -> Text:
    t = Text(label, LABEL, no_wrap=True)
    t.append(" ", PAD)
    t.append(value, style)
    return t


def _short_name(name: str) -> str:
    """A file path shows as its last component; an interface name as is."""
    return name.rsplit("/", 1)[-1] if "/" in name else name
