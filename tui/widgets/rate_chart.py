"""Rate chart: bits per second in and out over the last minutes, as bars of block characters."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.snapshot import Snapshot
from tui.widgets.fmt import human_bits

EIGHTHS = " ▁▂▃▄▅▆▇█"


def bars(values: list[float], width: int, height: int, peak: float, style: str, upward: bool = True) -> list[Text]:
    """``height`` lines of bars for the last ``width`` values, scaled to ``peak``."""
    vals = values[-width:]
    vals = [0.0] * (width - len(vals)) + vals
    lines = []
    for row in range(height):
        level = height - 1 - row if upward else row  # rows counted from the baseline
        chars = []
        for v in vals:
            fill = (v / peak * height * 8) if peak > 0 else 0
            cell = int(min(max(fill - level * 8, 0), 8))
            if v > 0 and level == 0 and cell == 0:
                cell = 1
            chars.append(EIGHTHS[cell] if upward else (EIGHTHS[cell] if cell == 8 else ("▀" if cell else " ")))
        lines.append(Text("".join(chars), style=style))
    return lines


class RateChart(Widget, can_focus=True):
    """Two charts sharing one scale: traffic in above, out below; one column per second."""

    DEFAULT_CSS = """
    RateChart { height: 1fr; border: round $primary-background-lighten-2; padding: 0 1; }
    RateChart:focus { border: round $accent; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._in: list[float] = []
        self._out: list[float] = []

    def update(self, snap: Snapshot) -> None:
        s = snap.series
        self._in = [b * 8.0 for b in s.bytes_in]
        self._out = [b * 8.0 for b in s.bytes_out]
        self.refresh()

    def render(self) -> Text:
        width = max(self.content_size.width, 4)
        height = max(self.content_size.height, 2)
        half = max(height // 2, 1)
        peak = max(self._in[-width:] + self._out[-width:] + [0.0])
        now_in = self._in[-1] if self._in else 0.0
        now_out = self._out[-1] if self._out else 0.0
        self.border_title = f"Rate  in {human_bits(now_in)}  out {human_bits(now_out)}"
        self.border_subtitle = f"peak {human_bits(peak)} · 1 column = 1 s · in ▲ out ▼"
        out = Text(no_wrap=True, overflow="crop")
        lines = bars(self._in, width, half, peak, "green", upward=True)
        lines += bars(self._out, width, height - half, peak, "cyan", upward=False)
        for i, line in enumerate(lines):
            if i:
                out.append("\n")
            out.append_text(line)
        return out
