"""The monitor: header, use cases, protocols, rate chart, flows and packets of one capture.

A timer reads ``engine.snapshot()`` a few times a second and hands it to each panel; the
panels update their rows in place. Nothing here runs on the capture thread, and nothing
touches the engine beyond ``snapshot()``, ``clear()`` and what the snapshot writer reads.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.events import Key, Resize
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input

from tui.engine import Engine
from tui.messages import SnapshotSaved
from tui.screens.filter_bar import FilterBar
from tui.screens.help import HelpScreen, bindings_of
from tui.snapshot import Snapshot
from tui.widgets.flows import SORT_COLUMNS, FlowsPanel
from tui.widgets.header import WIDE_FROM as HEADER_WIDE_FROM
from tui.widgets.header import HeaderPanel
from tui.widgets.packets import TAIL, PacketsPanel
from tui.widgets.processes import ProcessesPanel
from tui.widgets.protocols import ProtocolsPanel
from tui.widgets.rate_chart import RateChart
from tui.widgets.use_cases import UseCasesPanel

REFRESH_S = 0.2  # five snapshots a second (the target is at least four)
PANELS = ("use-cases", "protocols", "rate", "processes", "flows", "packets")
MAX_FLOWS = 1000  # largest flows taken from each snapshot
NORMAL_FIXED_ROWS = 14 + 6 + 9  # the normal grid's fixed rows (see DEFAULT_CSS: grid-rows)
MIN_FLOWS_ROWS = 5  # border, column header and two flows: less and the normal layout hides them


class MonitorScreen(Screen):
    """One capture, shown live.

    The view state is reactive: ``paused``, ``names_on`` and ``display_filter`` are bound
    to the header's and the panels' own reactives (see ``compose``), whose watchers redraw.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Pause/resume"),
        Binding("c", "clear", "Clear", tooltip="Clear counters (the capture goes on)"),
        Binding("i", "change_interface", "Interface"),
        Binding("slash", "filter", "Filter"),
        Binding("6", "show_panel('processes')", "Processes", tooltip="Processes panel"),
        Binding("n", "toggle_names", "rDNS", tooltip="Reverse DNS names on/off"),
        Binding("s", "snapshot", "Snapshot"),
        Binding("enter", "detail", "Detail"),
        Binding("question_mark", "help", "Help"),
        *[
            Binding(col.binding, f"sort('{col.key}')", f"Sort flows by {col.label}", show=False)
            for col in SORT_COLUMNS
            if col.binding
        ],
        Binding("1", "show_panel('use-cases')", "Use cases panel", show=False),
        Binding("2", "show_panel('protocols')", "Protocols panel", show=False),
        Binding("3", "show_panel('rate')", "Rate chart panel", show=False),
        Binding("4", "show_panel('flows')", "Flows panel", show=False),
        Binding("5", "show_panel('packets')", "Packets panel", show=False),
    ]

    DEFAULT_CSS = """
    MonitorScreen { layout: vertical; }
    MonitorScreen #body { layout: grid; grid-size: 2; grid-columns: 73 1fr; grid-rows: 14 6 1fr 9; height: 1fr; }
    MonitorScreen .panel { border: round $primary-background-lighten-2; background: $surface;
        height: 100%; width: 100%; }
    MonitorScreen .panel:focus-within { border: round $accent; }
    MonitorScreen #rate, MonitorScreen #flows, MonitorScreen #packets { column-span: 2; }
    MonitorScreen #filter { display: none; }
    MonitorScreen #filter.-active { display: block; }
    /* wide: the rate chart moves up beside the use cases and protocols */
    MonitorScreen.-wide #body { grid-size: 3; grid-columns: 73 49 1fr; grid-rows: 14 1fr 1fr; }
    MonitorScreen.-wide #rate { column-span: 1; }
    MonitorScreen.-wide #flows, MonitorScreen.-wide #packets { column-span: 3; }
    /* processes: beside the rate chart (normal), a full-width row (wide); only with attribution */
    MonitorScreen #processes { display: none; }
    MonitorScreen.-owners #processes { display: block; }
    MonitorScreen.-owners #rate { column-span: 1; }
    MonitorScreen.-wide.-owners #body { grid-rows: 14 8 1fr 1fr; }
    MonitorScreen.-wide.-owners #processes { column-span: 3; }
    /* compact (80x24 and the like): one panel at a time, chosen with 1-6 or Tab */
    MonitorScreen.-compact #body { grid-size: 1; grid-columns: 1fr; grid-rows: 1fr; }
    MonitorScreen.-compact .panel { display: none; column-span: 1; }
    MonitorScreen.-compact #processes { display: none; column-span: 1; }
    MonitorScreen.-compact .panel.-shown { display: block; }
    MonitorScreen.-compact #processes.-shown { display: block; }
    """

    paused: var[bool] = var(False, init=False)  # the screen frozen; the capture goes on
    names_on: var[bool] = var(False, init=False)  # reverse DNS names shown
    display_filter: var[str] = var("", init=False)  # the words typed after `/`

    def __init__(
        self,
        engine: Engine,
        snapshot_dir: str = "snapshots",
        name: str | None = None,
        attributor=None,
        lookup: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__(name=name)
        self.engine = engine
        self.attributor = attributor  # tui.attribution.Attributor of a live capture (owned by the app)
        self.lookup = lookup  # reverse DNS function for the resolver (None: the system's)
        self.resolver = None  # tui.resolver.Resolver, made the first time `n` turns names on
        self.snapshot_dir = snapshot_dir
        self.last: Snapshot | None = None
        self.refresh_times: deque[float] = deque(maxlen=10_000)  # monotonic time of each refresh
        self._shown = "flows"
        self._layout = ""

    def compose(self) -> ComposeResult:
        yield HeaderPanel(id="header").data_bind(
            paused=MonitorScreen.paused, names=MonitorScreen.names_on, display_filter=MonitorScreen.display_filter
        )
        yield FilterBar("flows", id="filter")
        with Container(id="body"):
            yield UseCasesPanel(id="use-cases", classes="panel")
            yield ProtocolsPanel(id="protocols", classes="panel")
            yield RateChart(id="rate", classes="panel")
            yield ProcessesPanel(id="processes", classes="panel")
            yield FlowsPanel(id="flows", classes="panel").data_bind(filter_text=MonitorScreen.display_filter)
            yield PacketsPanel(id="packets", classes="panel").data_bind(filter_text=MonitorScreen.display_filter)
        yield Footer()

    def on_mount(self) -> None:
        owners = self.attributor is not None
        self.set_class(owners, "-owners")
        self.query_one(FlowsPanel).show_owners = owners
        if not owners:
            panel = self.query_one(ProcessesPanel)
            panel.empty_note = (
                "file replay: no process attribution" if self.engine.source_kind == "file" else "no process attribution"
            )
        self._apply_layout(self.app.size.width, self.app.size.height)
        self.query_one("#flows").focus()
        self.refresh_panels()
        self.set_interval(REFRESH_S, self.refresh_panels, name="monitor-refresh")
        self._preload_scapy()

    @work(thread=True, group="preload", exit_on_error=False)
    def _preload_scapy(self) -> None:
        """Have scapy ready before the first Enter on a packet."""
        from tui.screens.packet import load_scapy

        load_scapy()

    # ------------------------------------------------------------ layout
    def on_resize(self, event: Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        if width < 100 or height < 32:
            mode = "compact"
        elif width >= 170:
            mode = "wide"
        else:  # the normal grid's fixed rows must leave the flows panel room to show flows
            header = 2 if width - 2 >= HEADER_WIDE_FROM else 3
            mode = "normal" if height >= header + 1 + NORMAL_FIXED_ROWS + MIN_FLOWS_ROWS else "compact"
        if mode == self._layout:
            return
        self._layout = mode
        self.set_class(mode == "compact", "-compact")
        self.set_class(mode == "wide", "-wide")
        self.query_one(Footer).compact = mode == "compact"  # more keys fit in 80 columns
        self._show(self._shown)

    def _show(self, panel: str) -> None:
        self._shown = panel
        for pid in PANELS:
            self.query_one(f"#{pid}").set_class(pid == panel, "-shown")
        if self.last is not None:
            self._update_panels(self.last)

    def on_descendant_focus(self, event) -> None:
        widget = event.widget
        if widget.id in PANELS and widget.id != self._shown:
            self._show(widget.id)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The processes panel exists only with attribution (live capture): no key for files."""
        if action == "show_panel" and parameters == ("processes",):
            return self.attributor is not None
        return True

    def action_show_panel(self, panel: str) -> None:
        self._show(panel)
        self.query_one(f"#{panel}").focus()

    # ----------------------------------------------------------- refresh
    def refresh_panels(self, force: bool = False) -> None:
        """Read a snapshot and hand it to the panels (skipped while paused, unless ``force``)."""
        if self.paused and not force:
            return
        self._show_snapshot(self.engine.snapshot(top=MAX_FLOWS, recent=TAIL), force)

    def _show_snapshot(self, snap: Snapshot, force: bool = False) -> None:
        if (self.paused and not force) or not self.is_attached:
            return
        self.last = snap
        self._update_panels(snap)
        self.refresh_times.append(time.monotonic())

    def _update_panels(self, snap: Snapshot) -> None:
        self.query_one(HeaderPanel).update(snap)
        compact = self._layout == "compact"
        for pid in PANELS:
            if compact and pid != self._shown:
                continue  # hidden panels catch up when shown
            self.query_one(f"#{pid}").update(snap)

    # ------------------------------------------------------------ actions
    def action_toggle_pause(self) -> None:
        """Freeze the screen; the capture goes on counting underneath."""
        self.paused = not self.paused

    def watch_paused(self, paused: bool) -> None:
        if not paused:
            self.refresh_panels()

    def action_clear(self) -> None:
        self.engine.clear()
        self.query_one(FlowsPanel).clear_rows()
        self.query_one(PacketsPanel).clear_rows()
        self.notify("Counters cleared; capture goes on.", timeout=2)
        self.refresh_panels(force=True)  # even paused: the cleared counters show

    def action_change_interface(self) -> None:
        self.app.open_picker(back=True)

    def action_toggle_names(self) -> None:
        """Reverse DNS names on/off: looked up in the background, shown as they arrive."""
        self.names_on = not self.names_on
        self.notify(
            "Reverse DNS names on (looked up in the background)." if self.names_on else "Reverse DNS off.", timeout=2
        )

    def watch_names_on(self, on: bool) -> None:
        if on and self.resolver is None:
            from tui.resolver import Resolver

            self.resolver = Resolver(**({"lookup": self.lookup} if self.lookup is not None else {}))
        self.query_one(FlowsPanel).names = self.resolver.name if on and self.resolver is not None else None

    def on_unmount(self) -> None:
        if self.resolver is not None:
            self.resolver.close()

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.add_class("-active")
        bar.start()

    def action_sort(self, key: str) -> None:
        self.query_one(FlowsPanel).sort_on(key)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(bindings_of(self, self.app), "Monitor keys"))

    def on_input_changed(self, event: Input.Changed) -> None:
        if not isinstance(event.input, FilterBar):
            return
        text = event.value
        self.display_filter = text
        if not text and not event.input.has_focus:
            event.input.remove_class("-active")

    def on_descendant_blur(self, event) -> None:
        if isinstance(event.widget, FilterBar) and not event.widget.value:
            event.widget.remove_class("-active")

    def on_key(self, event: Key) -> None:
        """Type-to-filter: a printable key that is not bound starts the filter with it."""
        focused = self.focused
        if isinstance(focused, Input) or not event.is_printable or not event.character:
            return
        if event.key in self.active_bindings or event.character in "0123456789 ":
            return
        event.stop()
        event.prevent_default()
        bar = self.query_one(FilterBar)
        bar.add_class("-active")
        bar.start(event.character)

    # ------------------------------------------------------------- detail
    def action_detail(self) -> None:
        focused = self.focused
        if isinstance(focused, (FlowsPanel, PacketsPanel)):
            key = focused.selected_key()
            if key is not None:
                self._open_detail(focused, key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        table = event.data_table
        if isinstance(table, (FlowsPanel, PacketsPanel)):
            event.stop()
            self._open_detail(table, table.key_of(event.row_key))

    def _open_detail(self, table: DataTable, key) -> None:
        if isinstance(table, PacketsPanel):
            from tui.screens.packet import PacketScreen

            row = table.packets.get(key)
            if row is not None:
                self.app.push_screen(PacketScreen(row))
            return
        flow = table.flows.get(key)
        if flow is None:
            return
        from tui.screens.flow import FlowScreen

        full = self.engine.snapshot(top=0, recent=1_000_000)
        mine = tuple(r for r in full.recent if r.flow_id == flow.id)
        fresh = next((f for f in (self.last.flows if self.last else ()) if f.id == flow.id), flow)
        names = self.resolver.name if self.names_on and self.resolver is not None else None
        self.app.push_screen(FlowScreen(fresh, dataclasses.replace(full, recent=mine), names=names))

    # ----------------------------------------------------------- snapshot
    def action_snapshot(self) -> None:
        """Save ring + summary + this screen (SVG) off the UI thread."""
        try:
            svg = self.app.export_screenshot()
        except Exception:  # a screenshot is a bonus; the capture file matters
            svg = None
        self.notify("Saving snapshot…", timeout=2)
        self._save_snapshot(svg)

    @work(thread=True, group="snapshot", exit_on_error=False)
    def _save_snapshot(self, svg: str | None) -> None:
        message, severity = save_and_describe(self.engine, self.snapshot_dir, svg)
        # To the app, not this screen: the notice still shows if the user has left the monitor.
        self.app.post_message(SnapshotSaved(message, severity))


def save_and_describe(engine: Engine, directory: str, svg: str | None) -> tuple[str, str]:
    """Save a snapshot; (message for the user, notification severity). Never raises."""
    try:
        from tui.snapshot_files import save_snapshot
    except ImportError as exc:
        return f"Snapshots are not available in this build: {exc}", "error"
    try:
        snap = engine.snapshot()
        result = save_snapshot(engine, directory, snap, svg=svg)
    except OSError as exc:
        return f"Snapshot not saved: {exc}", "error"
    except Exception as exc:  # a bug in the writer must not take the monitor down
        return f"Snapshot failed: {type(exc).__name__}: {exc}", "error"
    return f"Saved {result.packets} packets to {result.folder}", "information"
