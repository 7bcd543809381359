"""Flow detail: counters both ways, the classification and why, and the flow's packets."""

from __future__ import annotations

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


def flow_text(f: FlowView) -> Text:
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
    if f.process or f.pid:
        line("process", f"{f.process or '?'} (pid {f.pid}, user {f.user or '?'})")
    if f.container:
        line("container", f.container)
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

    def __init__(self, flow: FlowView, snap: Snapshot) -> None:
        super().__init__()
        self.flow = flow
        self.snap = snap

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(flow_text(self.flow), id="flow-info")
            yield FlowPackets(id="flow-packets")
            yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(FlowPackets)
        table.update(self.snap)
        table.border_title = f"Packets of this flow still in the ring ({table.row_count})"
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from tui.screens.packet import PacketScreen

        table = self.query_one(FlowPackets)
        row: PacketRow | None = table.packets.get(table.key_of(event.row_key))
        if row is not None:
            event.stop()
            self.app.push_screen(PacketScreen(row, self.snap.source_name))
