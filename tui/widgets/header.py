"""The monitor's top lines: what is captured, its state, and the totals and rates now."""

from __future__ import annotations

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


class HeaderPanel(Static):
    """Interface, state, elapsed time, rates in/out, drops, malformed, filters."""

    DEFAULT_CSS = """
    HeaderPanel { height: 2; background: $panel; padding: 0 1; }
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

    def render_text(self, snap: Snapshot) -> Text:
        label, style = STATE_STYLE.get(snap.state, (snap.state.upper(), "reverse"))
        t = Text(no_wrap=True, overflow="ellipsis")
        if self.paused:
            t.append(" PAUSED ", "bold black on #ffaf00")
            t.append(" ")
        t.append(f" {label} ", style)
        kind = "live" if snap.source_kind == "live" else "file"
        t.append(f" {kind} ", "dim")
        t.append(safe_str(_short_name(snap.source_name), limit=40), "bold")
        t.append("  elapsed ", "dim")
        t.append(duration(snap.duration_s))
        if snap.bpf:
            t.append("  bpf ", "dim")
            t.append(safe_str(snap.bpf, limit=30), "cyan")
        if self.display_filter:
            t.append("  show ", "dim")
            t.append(safe_str(self.display_filter, limit=24), "magenta")
        if self.names:
            t.append("  rDNS on", "italic cyan")
        if snap.message and snap.message != "end of file":
            t.append("  ")
            t.append(safe_str(snap.message, limit=120), "bold red" if snap.state == "error" else "yellow")
        t.append("\n")
        s = snap.series
        pin = s.packets_in[-1] if s.packets_in else 0
        pout = s.packets_out[-1] if s.packets_out else 0
        bin_ = s.bytes_in[-1] if s.bytes_in else 0
        bout = s.bytes_out[-1] if s.bytes_out else 0
        t.append("in ", "dim")
        t.append(f"{human_bits(bin_ * 8)} {human_count(pin)} p/s", "green")
        t.append("  out ", "dim")
        t.append(f"{human_bits(bout * 8)} {human_count(pout)} p/s", "cyan")
        t.append("  total ", "dim")
        t.append(f"{human_count(snap.packets)} pkts {human_bytes(snap.bytes)}")
        t.append("  flows ", "dim")
        t.append(human_count(snap.active_flows))
        t.append("  drops ", "dim")
        t.append(human_count(snap.kernel_drops), "bold red" if snap.kernel_drops else "")
        t.append("  malformed ", "dim")
        t.append(human_count(snap.malformed), "yellow" if snap.malformed else "")
        return t


def _short_name(name: str) -> str:
    """A file path shows as its last component; an interface name as is."""
    return name.rsplit("/", 1)[-1] if "/" in name else name
