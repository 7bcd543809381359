"""A one-line text filter that a table hands typing to (type-to-filter)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input


class FilterBar(Input):
    """Input whose Escape clears it, and whose Enter / Down hand focus back to the table."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear_filter", "Clear filter"),
        Binding("down", "done", "To the table", show=False),
    ]
    DEFAULT_CSS = """
    FilterBar { height: 1; border: none; padding: 0 1; background: $boost; }
    FilterBar:focus { border: none; background: $accent 20%; }
    """

    def __init__(self, target_id: str, **kw) -> None:
        kw.setdefault("placeholder", "type to filter (words all match; Esc clears)")
        kw.setdefault("select_on_focus", False)
        super().__init__(**kw)
        self.target_id = target_id

    def start(self, first: str = "") -> None:
        """Focus the bar, typing ``first`` into it."""
        self.display = True
        if first:
            self.value = self.value + first
        self.focus()
        self.cursor_position = len(self.value)

    def action_clear_filter(self) -> None:
        self.value = ""
        self.action_done()

    def action_done(self) -> None:
        try:
            self.screen.query_one(f"#{self.target_id}").focus()
        except Exception:
            self.screen.focus_next()

    async def action_submit(self) -> None:
        await super().action_submit()
        self.action_done()
