"""Help: every key of the screen it was opened from, taken from that screen's bindings."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def key_label(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "space": "space", "escape": "Esc", "enter": "Enter"}
    return ", ".join(names.get(k.strip(), k.strip()) for k in key.split(","))


def bindings_of(*nodes: object) -> list[tuple[str, str]]:
    """(keys, description) of every described binding the given screens / app classes declare.

    The help says what a key does at length: a binding's tooltip when it has one (the footer
    shows the short description)."""
    by_desc: dict[str, list[str]] = {}
    for node in nodes:
        for cls in reversed(type(node).__mro__):
            for b in cls.__dict__.get("BINDINGS", ()):
                if not isinstance(b, Binding) or not b.description:
                    continue
                keys = by_desc.setdefault(b.tooltip or b.description, [])
                label = key_label(b.key_display or b.key)
                if label not in keys:
                    keys.append(label)
    return [(", ".join(keys), desc) for desc, keys in by_desc.items()]


class HelpScreen(ModalScreen[None]):
    """The keys, with what they do."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 72; max-width: 100%; height: auto; max-height: 90%;
        border: thick $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, rows: list[tuple[str, str]], title: str = "Keys") -> None:
        super().__init__()
        self.rows = rows
        self.title_text = title

    def compose(self) -> ComposeResult:
        t = Text()
        t.append(f"{self.title_text}\n\n", "bold")
        for keys, desc in self.rows:
            t.append(f"{keys:>12}", "bold cyan")
            t.append(f"  {desc}\n")
        t.append("\nEvery key is also in the command palette (ctrl+p). Esc closes.", "dim")
        with VerticalScroll():
            yield Static(t, id="help-text")
