"""Interface picker: every link with its state, addresses and live rates; Enter captures on it.

The list comes from pyroute2; a netlink watcher thread pokes the screen when a link
appears, changes or goes, and a one-second timer refreshes the counters for the rates.
Below the host's links come the interfaces of the other network namespaces (named ones in
/run/netns and those of running processes, e.g. containers), one group per namespace;
they are listed by a worker thread every few seconds (entering each namespace takes a
netlink query apiece), so the screen never waits for them. Enter on one captures inside
its namespace, with process attribution there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.events import Key
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from tui.interfaces import LinkInfo, LinkWatcher, list_links, rates
from tui.messages import LinksChanged, NamespacesListed
from tui.netns_list import Namespace, NamespaceInterface, list_namespaces
from tui.screens.filter_bar import FilterBar
from tui.screens.help import HelpScreen, bindings_of
from tui.textsafe import safe_str
from tui.widgets.flows import matches
from tui.widgets.fmt import human_bits
from tui.widgets.table import KeyedTable

ANY = "any"
POLL_S = 1.0
NS_POLL_S = 5.0  # namespaces come and go with containers: listed again this often


def capture_privilege_problem() -> str | None:
    """None when this process may open raw sockets, else a message saying why not and how."""
    import socket

    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        return (
            "Live capture needs the CAP_NET_RAW capability, which this process does not have. "
            "Run `sudo sockscope` (it drops to your user once the socket is open), or make a capture "
            "launcher once: `sudo .venv/bin/python -m tui.launcher install --group GROUP`, then start "
            "`.venv/bin/sockscope-netraw` (never setcap the interpreter itself: see README). "
            "Without it you can still replay a capture: `sockscope -r FILE` or `sockscope --demo`."
        )
    except OSError as exc:
        return f"Live capture is not possible here: {exc}. Replaying a file with -r still works."
    s.close()
    return None


COLUMNS = (
    ("name", "interface", 12),
    ("kind", "kind", 9),
    ("state", "state", 14),
    ("mac", "MAC", 17),
    ("mtu", "MTU", 5),
    ("addresses", "addresses", 30),
    ("rx", "rx", 10),
    ("tx", "tx", 10),
)
NARROW_HIDE = ("mac", "mtu")  # below 100 columns


class LinkTable(KeyedTable):
    """The picker's table: the addresses column takes what the terminal has left."""

    narrow = False

    def on_resize(self) -> None:
        narrow = self.size.width < 100
        if narrow != self.narrow:
            self.narrow = narrow
            self.screen.call_after_refresh(self.screen._fill)
        fixed = 0
        for key, _label, width in COLUMNS:
            if key == "addresses":
                continue
            w = 0 if narrow and key in NARROW_HIDE else width
            self.set_column_width(key, w)
            fixed += w + 1
        self.set_column_width("addresses", max(self.size.width - 2 - fixed - 1, 12))


class PickerScreen(Screen):
    """Choose what to capture on."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Capture"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "back", "Back to monitor"),
        Binding("question_mark", "help", "Help"),
    ]
    DEFAULT_CSS = """
    PickerScreen { layout: vertical; }
    PickerScreen #picker-title { height: 1; padding: 0 1; background: $panel; }
    PickerScreen #picker-message { height: auto; padding: 0 1; display: none; }
    PickerScreen #picker-message.-shown { display: block; }
    PickerScreen #picker-message.-error { background: $error 25%; color: $text; }
    PickerScreen #picker-message.-warning { background: $warning 20%; color: $text; }
    PickerScreen LinkTable { height: 1fr; }
    """

    def __init__(
        self,
        back: bool = False,
        message: str | None = None,
        links: Callable[[], list[LinkInfo]] = list_links,
        watch: bool = True,
        namespaces: Callable[[], list[Namespace]] | None = None,
    ) -> None:
        super().__init__()
        self._namespaces = namespaces or list_namespaces
        self.other_namespaces: list[Namespace] = []  # not the host's, as last listed
        self.namespaces_loaded = False  # the first listing has arrived
        self.namespace_error: str | None = None
        self.back = back
        self.initial_message = message
        self._links = links
        self._watch = watch
        self._watcher: LinkWatcher | None = None
        self._prev: dict[int, tuple[LinkInfo, float]] = {}
        self._rates: dict[int, tuple[float, float]] = {}
        self.current: list[LinkInfo] = []
        self.reloads = 0  # how many times the list was read (tests watch it)

    def compose(self) -> ComposeResult:
        title = Text(no_wrap=True)
        title.append("sockscope", "bold")
        title.append("  choose an interface: ↑↓ Home End, type to filter, Enter to capture, q to quit", "dim")
        yield Static(title, id="picker-title")
        yield Static("", id="picker-message")
        yield FilterBar("links", id="picker-filter", placeholder="type to filter by name, kind, address")
        yield LinkTable(id="links")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(LinkTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        problem = capture_privilege_problem()
        if self.initial_message:
            self.show_message(self.initial_message, "error")
        elif problem:
            self.show_message(problem, "warning")
        self.reload()
        table.focus()
        self.set_interval(POLL_S, self.reload, name="picker-poll")
        self._list_namespaces()
        self.set_interval(NS_POLL_S, self._list_namespaces, name="picker-netns-poll")
        if self._watch:
            try:
                self._watcher = LinkWatcher(self._on_netlink).start()
            except Exception as exc:  # no netlink (odd sandbox): the poll still works
                self.notify(f"Not watching link changes: {exc}", severity="warning")

    def on_unmount(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None

    def _on_netlink(self) -> None:
        """Called on the watcher thread: ask the UI thread to list the links again.

        A closed screen drops the message.  In the moment between leaving the app and the
        watcher's stop (on unmount) there is no app, or no loop, to post through: Textual
        says so with a RuntimeError (NoActiveAppError, "event loop is closed"), and there
        is nothing left to refresh."""
        try:
            self.post_message(LinksChanged())
        except RuntimeError:
            pass

    def on_links_changed(self, message: LinksChanged) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="netns-list", exit_on_error=False)
    def _list_namespaces(self) -> None:
        """List the other namespaces and their interfaces (blocking: off the UI thread)."""
        try:
            found = [ns for ns in self._namespaces() if ns.kind != "host"]
            error = None
        except Exception as exc:  # namespaces are a bonus: the host's links still work
            found, error = None, f"{type(exc).__name__}: {exc}"
        self.post_message(NamespacesListed(found, error))

    def on_namespaces_listed(self, message: NamespacesListed) -> None:
        if message.namespaces is not None:
            self.other_namespaces = message.namespaces
        self.namespace_error = message.error
        self.namespaces_loaded = True
        self._fill()

    def show_message(self, text: str, level: str = "error") -> None:
        box = self.query_one("#picker-message", Static)
        box.update(Text(safe_str(text)))
        box.set_class(True, "-shown")
        box.set_class(level == "error", "-error")
        box.set_class(level == "warning", "-warning")

    # ------------------------------------------------------------- data
    def reload(self) -> None:
        try:
            links = self._links()
        except Exception as exc:
            self.show_message(f"Cannot list interfaces: {exc}", "error")
            return
        self.reloads += 1
        now = time.monotonic()
        for link in links:
            prev = self._prev.get(link.index)
            if prev is not None and prev[0].name == link.name:
                r = rates(prev[0], link, now - prev[1])
                self._rates[link.index] = (r.rx_bps, r.tx_bps)
            self._prev[link.index] = (link, now)
        alive = {li.index for li in links}
        for gone in [i for i in self._prev if i not in alive]:
            self._prev.pop(gone)
            self._rates.pop(gone, None)
        self.current = links
        self._fill()

    def _fill(self) -> None:
        words = self.query_one(FilterBar).value.lower().split()
        rows = []
        any_cells = (
            Text(ANY, style="bold"),
            Text("all", style="dim"),
            Text("every interface", style="dim"),
            Text(""),
            Text(""),
            Text(""),
            Text(human_bits(sum(r[0] for r in self._rates.values())), justify="right"),
            Text(human_bits(sum(r[1] for r in self._rates.values())), justify="right"),
        )
        if not words or matches(words, "any all every interface"):
            rows.append((ANY, any_cells))
        for li in self.current:
            hay = " ".join((li.name, li.kind, li.oper_state, li.mac, *li.ipv4, *li.ipv6)).lower()
            if words and not matches(words, hay):
                continue
            rows.append((li.name, self._row_cells(li)))
        for ns in self.other_namespaces:
            group = ns.name.lower()
            shown = [
                i
                for i in ns.interfaces
                if not words or matches(words, " ".join(("netns", group, i.name, i.kind, *i.addresses)).lower())
            ]
            if words and not shown and not matches(words, f"netns {group}"):
                continue
            rows.append((("ns", ns.path), self._namespace_cells(ns)))
            rows.extend((("if", ns.path, i.name), self._namespace_iface_cells(i)) for i in shown)
        self.query_one(LinkTable).sync(rows)

    @staticmethod
    def _namespace_cells(ns: Namespace) -> tuple:
        """A group's header row: which namespace, and how to reach it."""
        title = Text(safe_str(ns.name), style="bold magenta", no_wrap=True, overflow="ellipsis")
        if ns.error:
            title.append(f"  ({safe_str(ns.error)})", "red")
        return (
            Text("netns", style="bold magenta"),
            Text(ns.kind, style="magenta"),
            Text(f"{len(ns.interfaces)} interfaces", style="dim"),
            Text(""),
            Text(""),
            title,
            Text(""),
            Text(""),
        )

    @staticmethod
    def _namespace_iface_cells(i: NamespaceInterface) -> tuple:
        up = i.state in ("up", "unknown")
        v6 = [a for a in i.addresses if ":" in a and not a.startswith("fe80")]
        addrs = [a for a in i.addresses if ":" not in a] + (v6 or [a for a in i.addresses if ":" in a])
        return (
            Text("└" + safe_str(i.name), style="bold" if up else ""),
            Text(safe_str(i.kind)),
            Text(safe_str(i.state), style="green" if up else "yellow"),
            Text(""),
            Text(""),
            Text(safe_str(", ".join(addrs)) or "–", no_wrap=True, overflow="ellipsis"),
            Text("–", justify="right", style="dim"),
            Text("–", justify="right", style="dim"),
        )

    def _row_cells(self, li: LinkInfo) -> tuple:
        up = li.oper_state in ("up", "unknown") and li.admin_up
        if not li.admin_up:
            state, style = "down (admin)", "red"
        elif li.oper_state == "up" or (li.oper_state == "unknown" and li.carrier):
            state, style = li.oper_state + ("" if li.carrier else ", no carrier"), "green"
        else:
            state, style = li.oper_state + (", carrier" if li.carrier else ", no carrier"), "yellow"
        rx, tx = self._rates.get(li.index, (0.0, 0.0))
        v6 = [a for a in li.ipv6 if not a.startswith("fe80")] or list(li.ipv6)
        narrow = self.is_mounted and self.query_one(LinkTable).narrow
        return (
            Text(safe_str(li.name), style="bold" if up else ""),
            Text(safe_str(li.kind)),
            Text(state, style=style),
            Text("" if narrow else safe_str(li.mac), style="dim"),
            Text("" if narrow else str(li.mtu), justify="right"),
            Text(safe_str(", ".join((*li.ipv4, *v6)) or "–"), no_wrap=True, overflow="ellipsis"),
            Text(human_bits(rx), justify="right"),
            Text(human_bits(tx), justify="right"),
        )

    # ----------------------------------------------------------- actions
    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, FilterBar):
            self._fill()
            table = self.query_one(LinkTable)
            if table.row_count:  # the first row that can be captured on (not a namespace's title)
                keys = table.keys_in_order()
                first = next((i for i, k in enumerate(keys) if not (isinstance(k, tuple) and k[0] == "ns")), 0)
                table.move_cursor(row=first)

    def on_key(self, event: Key) -> None:
        """Type-to-filter: printable keys that are not bound go to the filter."""
        if isinstance(self.focused, Input) or not event.is_printable or not event.character:
            return
        if event.key in self.active_bindings or event.character == " ":
            return
        event.stop()
        event.prevent_default()
        self.query_one(FilterBar).start(event.character)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = self.query_one(LinkTable).key_of(event.row_key)
        if key is not None:
            self._choose(key)

    def action_choose(self) -> None:
        key = self.query_one(LinkTable).selected_key()
        if key is not None:
            self._choose(key)

    def _choose(self, key) -> None:
        if isinstance(key, tuple):
            if key[0] == "if":  # an interface inside another namespace
                self.app.start_live(key[2], netns=key[1])
            else:
                self.notify("That is a namespace: choose one of its interfaces below it.", timeout=3)
            return
        self.app.start_live(key)

    def action_filter(self) -> None:
        self.query_one(FilterBar).start()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.back or action != "back"  # nothing to go back to: hidden from the footer

    def action_back(self) -> None:
        if self.back:
            self.dismiss()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(bindings_of(self, self.app), "Picker keys"))
