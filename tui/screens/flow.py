"""Flow detail: counters both ways, the classification and why, who owns it, and its packets."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from tui.snapshot import FlowView, PacketRow, Snapshot
from tui.textsafe import safe_str
from tui.widgets.fmt import duration, human_bytes, human_count
from tui.widgets.packets import PacketsPanel
from tui.widgets.summary import endpoint, use_case_label


def command_line(f: FlowView) -> str | None:
    """The owner's full command line from /proc, if the process still runs as the same command."""
    if f.pid is None:
        return None
    from tui.attribution.procfs import read_process

    info = read_process(f.pid)
    if info is None or (f.process is not None and info.comm != f.process):
        return None  # gone, or the pid now belongs to another program
    return info.cmdline


def flow_text(
    f: FlowView,
    names: Callable[[str], str | None] | None = None,
    cmdline: str | None = None,
) -> Text:
    """The flow's facts; ``names`` (reverse DNS, never blocking) adds host names of both ends."""
    t = Text()

    def line(label: str, value: str, style: str = "") -> None:
        t.append(f"{label:>14}  ", "dim")
        t.append(safe_str(value), style)
        t.append("\n")

    line("from", endpoint(f.src, f.sport), "bold")
    line("to", endpoint(f.dst, f.dport), "bold")
    line("protocol", f.proto + (f"  ({f.state})" if f.state else ""))
    line("application", f.app or "unknown", "bold" if f.app else "dim")
    line("use case", use_case_label(f.use_case), "magenta")
    line("why", f.reason or "no rule matched (yet)", "" if f.reason else "dim")
    if f.name:
        line("name", f.name)
    if names is not None:
        for label, addr in (("from host", f.src), ("to host", f.dst)):
            host = names(addr)
            line(label, host or "(no reverse name yet)", "italic" if host else "dim")
    if f.pid is not None:
        line("process", f"{f.process or '?'}  pid {f.pid}", "bold cyan")
        if cmdline:
            line("command", cmdline[:300])
        line("user", f.user or "?")
        line("container", f.container or "none (host)", "" if f.container else "dim")
    elif f.owner_note:
        line("process", f"unknown: {f.owner_note}", "dim")
        if f.user:
            line("user", f.user)
    line("→ sent", f"{human_count(f.packets_ab)} packets, {human_bytes(f.bytes_ab)}")
    line("← received", f"{human_count(f.packets_ba)} packets, {human_bytes(f.bytes_ba)}")
    line("lasted", duration(max(f.last_seen - f.first_seen, 0.0)))
    return t


class FlowPackets(PacketsPanel):
    """The flow's packets still in the ring, newest first."""

    tail = 5000
    live_tail = False


class FlowScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    FlowScreen { align: center middle; }
    FlowScreen > Vertical { width: 96%; height: 94%; border: thick $accent; background: $surface; }
    FlowScreen #flow-info { height: auto; padding: 0 1; }
    FlowScreen FlowPackets { height: 1fr; border: round $primary-background-lighten-2; }
    """

    def __init__(self, flow: FlowView, snap: Snapshot, names: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.flow = flow
        self.snap = snap
        self.names = names
        self.cmdline = command_line(flow)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(flow_text(self.flow, self.names, self.cmdline), id="flow-info")
            yield FlowPackets(id="flow-packets")
            yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(FlowPackets)
        table.update(self.snap)
        table.border_title = f"Packets of this flow still in the ring ({table.row_count})"
        table.focus()
        if self.names is not None:  # reverse names arrive in the background
            self.set_interval(0.5, self._refresh_names, name="flow-names")

    def _refresh_names(self) -> None:
        self.query_one("#flow-info", Static).update(flow_text(self.flow, self.names, self.cmdline))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from tui.screens.packet import PacketScreen

        table = self.query_one(FlowPackets)
        row: PacketRow | None = table.packets.get(table.key_of(event.row_key))
        if row is not None:
            event.stop()
            self.app.push_screen(PacketScreen(row, self.snap.source_name))
