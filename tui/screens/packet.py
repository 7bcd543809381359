"""Packet detail: scapy's layer tree and a hex dump of one frame, all text made safe."""

from __future__ import annotations

import logging
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static, Tree

from tui.snapshot import OUT, PacketRow
from tui.textsafe import safe_str
from tui.widgets.summary import packet_parts, use_case_label

MAX_FIELD = 120


def load_scapy() -> None:
    """Import scapy's dissectors (about a second the first time; the monitor does it early)."""
    logging.getLogger("scapy").setLevel(logging.ERROR)
    import scapy.layers.all  # noqa: F401  (registers the link types and every layer)


def _scapy_class(linktype: int):
    load_scapy()
    from scapy.config import conf
    from scapy.packet import Raw

    return conf.l2types.get(linktype, Raw)


def layer_tree(data: bytes, linktype: int) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(layer name, [(field, shown value), ...]), ...] outermost first, via scapy.

    scapy never sees more than this one frame, and whatever it fails on becomes a line
    saying so rather than an exception in the UI.
    """
    try:
        cls = _scapy_class(linktype)
        pkt = cls(bytes(data))
    except Exception as exc:  # scapy raises many kinds on hostile bytes
        return [("undecodable", [("error", safe_str(f"{type(exc).__name__}: {exc}", MAX_FIELD))])]
    layers = []
    layer = pkt
    depth = 0
    while layer is not None and depth < 32:
        fields = []
        for f in layer.fields_desc:
            try:
                val = layer.getfieldval(f.name)
                shown = f.i2repr(layer, val)
            except Exception as exc:
                shown = f"<{type(exc).__name__}>"
            fields.append((f.name, safe_str(shown, MAX_FIELD)))
        layers.append((safe_str(layer.name, 60), fields))
        payload = layer.payload
        layer = payload if (payload is not None and len(payload.fields_desc)) or _is_raw(payload) else None
        depth += 1
    return layers


def _is_raw(p) -> bool:
    return p is not None and p.__class__.__name__ in ("Raw", "Padding")


def hexdump(data: bytes, limit: int = 4096) -> Text:
    """Offset, 16 bytes in hex and as ASCII (anything unprintable shown as '.')."""
    t = Text(no_wrap=True)
    view = bytes(data[:limit])
    for off in range(0, len(view), 16):
        chunk = view[off : off + 16]
        hexpart = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        t.append(f"{off:04x}  ", "dim")
        t.append(f"{hexpart:<49}", "")
        t.append(f" {text}\n", "cyan")
    if len(data) > limit:
        t.append(f"… {len(data) - limit} more bytes\n", "dim")
    return t


class PacketScreen(ModalScreen[None]):
    """One packet, dissected on request (scapy is far too slow for every packet)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("x", "expand_all", "Expand all"),
    ]
    DEFAULT_CSS = """
    PacketScreen { align: center middle; }
    PacketScreen > Vertical { width: 96%; height: 94%; border: thick $accent; background: $surface; }
    PacketScreen #pkt-head { height: auto; padding: 0 1; background: $panel; }
    PacketScreen Tree { height: 2fr; min-height: 6; }
    PacketScreen #pkt-hex-box { height: 1fr; border-top: solid $primary-background-lighten-2; }
    PacketScreen #pkt-hex { width: auto; padding: 0 1; }
    """

    def __init__(self, row: PacketRow, source_name: str = "") -> None:
        super().__init__()
        self.row = row
        self.source_name = source_name

    def compose(self) -> ComposeResult:
        row = self.row
        ends, proto, summary = packet_parts(row)
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f"Packet #{row.seq}", "bold")
        head.append(f"  {'out' if row.direction == OUT else 'in'}  {row.wire_len} bytes on the wire")
        head.append(f", {len(row.data)} captured", "dim")
        head.append("\n")
        head.append(safe_str(ends))
        head.append(f"  {proto}")
        if row.app:
            head.append("  ")
            head.append(safe_str(row.app), "bold")
        head.append(f"  {use_case_label(row.use_case)}", "magenta")
        head.append("\n")
        head.append(safe_str(summary), "dim")
        tree: Tree[None] = Tree(Text("layers (scapy)"), id="pkt-tree")
        tree.root.expand()
        for name, fields in layer_tree(row.data, row.linktype):
            node = tree.root.add(Text(name, style="bold"), expand=True)
            for fname, shown in fields:
                label = Text(f"{fname} = ", style="dim")
                label.append(shown)
                node.add_leaf(label)
        with Vertical():
            yield Static(head, id="pkt-head")
            yield tree
            with VerticalScroll(id="pkt-hex-box"):
                yield Static(hexdump(row.data), id="pkt-hex")
            yield Footer()

    def on_mount(self) -> None:
        self.query_one("#pkt-tree", Tree).focus()

    def action_expand_all(self) -> None:
        self.query_one("#pkt-tree", Tree).root.expand_all()
