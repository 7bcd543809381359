"""Use-case panel: packets, bytes, share, current rate and a one-minute sparkline per use case."""

from __future__ import annotations

from rich.text import Text

from tui.snapshot import USE_CASES, Snapshot
from tui.widgets.fmt import human_bits, human_bytes, human_count, share, sparkline
from tui.widgets.summary import use_case_label
from tui.widgets.table import KeyedTable

SPARK_WIDTH = 15  # 60 seconds at 4 seconds a column

USE_CASE_STYLE = {
    "web": "#5fafff",
    "mail": "#d7af5f",
    "file_transfer": "#af87ff",
    "messaging": "#ff87af",
    "streaming": "#ff5f5f",
    "gaming": "#5fd75f",
    "voice": "#ffd75f",
    "name_resolution": "#5fd7d7",
    "remote_access": "#d787d7",
    "network_control": "#87afaf",
    "unknown": "#8a8a8a",
}


class UseCasesPanel(KeyedTable):
    """Every use case, always in the same order (so the rows never jump)."""

    def on_mount(self) -> None:
        self.border_title = "Use cases"
        self.add_column("use case", key="name", width=15)
        self.add_column("pkts", key="packets", width=6)
        self.add_column("bytes", key="bytes", width=8)
        self.add_column("share", key="share", width=5)
        self.add_column("rate", key="rate", width=10)
        self.add_column("last minute", key="spark", width=SPARK_WIDTH)

    def update(self, snap: Snapshot) -> None:
        total = snap.bytes
        rows = []
        for name in USE_CASES:
            c = snap.use_cases.get(name)
            series = snap.use_case_series.get(name, ())
            last = series[-60:]
            now = series[-1] if series else 0
            style = USE_CASE_STYLE.get(name, "")
            p = c.packets if c else 0
            b = c.bytes if c else 0
            rows.append(
                (
                    name,
                    (
                        Text(use_case_label(name), style=style if b else "dim"),
                        Text(human_count(p), justify="right"),
                        Text(human_bytes(b), justify="right"),
                        Text(share(b, total), justify="right"),
                        Text(human_bits(now * 8), justify="right"),
                        Text(sparkline(last, SPARK_WIDTH), style=style),
                    ),
                )
            )
        self.sync(rows)
