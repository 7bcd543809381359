"""Protocol panel: the stream / datagram / raw split, then the layer hierarchy as a tree."""

from __future__ import annotations

from collections import Counter, defaultdict

from rich.text import Text

from tui.snapshot import SOCKET_KINDS, Snapshot
from tui.textsafe import safe_str
from tui.widgets.fmt import human_bytes, human_count, share
from tui.widgets.table import KeyedTable

KIND_HINT = {"stream": "TCP", "datagram": "UDP", "raw": "ICMP, ARP, …"}


def hierarchy(snap: Snapshot) -> list[tuple[tuple[str, ...], int, int]]:
    """(path, packets, bytes) for every prefix of every stack, depth first, largest first.

    Application protocols hang under the transport their flows use (learned from the flows).
    """
    totals: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for stack, c in snap.stacks:
        for i in range(1, len(stack) + 1):
            t = totals[stack[:i]]
            t[0] += c.packets
            t[1] += c.bytes
    # app -> the transport most of its flows ride on
    carrier: dict[str, Counter] = defaultdict(Counter)
    for f in snap.flows:
        if f.app:
            carrier[f.app][f.proto] += f.bytes
    for app, c in snap.apps.items():
        proto = carrier[app].most_common(1)[0][0] if carrier.get(app) else None
        parents = [p for p in totals if p and p[-1] == proto] if proto else []
        if parents:  # split over the stacks that carry this transport, biggest first
            parent = max(parents, key=lambda p: totals[p][1])
            path = (*parent, app)
        else:
            path = ("application", app)
            t = totals[("application",)]
            t[0] += c.packets
            t[1] += c.bytes
        t = totals[path]
        t[0] += c.packets
        t[1] += c.bytes
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for path in totals:
        children[path[:-1]].append(path)
    out: list[tuple[tuple[str, ...], int, int]] = []

    def walk(parent: tuple[str, ...]) -> None:
        for path in sorted(children.get(parent, ()), key=lambda p: (-totals[p][1], p)):
            out.append((path, totals[path][0], totals[path][1]))
            walk(path)

    walk(())
    return out


class ProtocolsPanel(KeyedTable):
    """Socket kinds first, then protocols by layer, indented under what carries them."""

    def on_mount(self) -> None:
        self.border_title = "Protocols"
        self.add_column("protocol", key="name", width=18)
        self.add_column("pkts", key="packets", width=6)
        self.add_column("bytes", key="bytes", width=8)
        self.add_column("share", key="share", width=5)

    def update(self, snap: Snapshot) -> None:
        total = snap.bytes
        rows = []
        for kind in SOCKET_KINDS:
            c = snap.socket_kinds.get(kind)
            p, b = (c.packets, c.bytes) if c else (0, 0)
            label = Text(kind, style="bold" if b else "dim")
            label.append(f" {KIND_HINT[kind]}", style="dim")
            rows.append(
                (
                    ("kind", kind),
                    (
                        label,
                        Text(human_count(p), justify="right"),
                        Text(human_bytes(b), justify="right"),
                        Text(share(b, total), justify="right"),
                    ),
                )
            )
        for path, p, b in hierarchy(snap):
            depth = len(path) - 1
            name = Text("  " * depth + ("└ " if depth else ""), style="dim")
            name.append(safe_str(path[-1], limit=16), style="bold" if depth == 0 else "")
            rows.append(
                (
                    ("path", *path),
                    (
                        name,
                        Text(human_count(p), justify="right"),
                        Text(human_bytes(b), justify="right"),
                        Text(share(b, total), justify="right"),
                    ),
                )
            )
        self.sync(rows)
