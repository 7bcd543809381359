"""A DataTable kept in step with data by key: rows are added, changed and removed in place."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowDoesNotExist, RowKey


def _same(a: object, b: object) -> bool:
    if isinstance(a, Text) and isinstance(b, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans
    return a == b


def _pad(cell: object) -> object:
    if isinstance(cell, Text):
        cell.pad_left(1)
        cell.no_wrap = True  # a cell never grows taller than its row: it is cut with an ellipsis
        cell.overflow = "ellipsis"
        return cell
    return Text(" " + str(cell))


class KeyedTable(DataTable):
    """DataTable with ``sync(rows)``: only the cells that changed are touched.

    Home/End move the cursor to the first/last row (the stock table scrolls sideways).
    """

    DEFAULT_CSS = """
    KeyedTable { height: 1fr; }
    KeyedTable:blur > .datatable--cursor { background: $surface; text-style: none; }
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", False)
        # One space before each cell (added in sync) instead of the stock two around it:
        # at 120 columns every character counts.
        kwargs.setdefault("cell_padding", 0)
        super().__init__(*args, **kwargs)
        self._cells: dict[Hashable, tuple] = {}
        self._keys: dict[str, Hashable] = {}
        self.row_height: int | None = 1  # None: as tall as the cells' text
        self._order: list[Hashable] = []
        self.narrow = False  # two-line rows for a narrow terminal
        self._last: object | None = None  # the last snapshot given to update(), for rebuilds

    def add_column(self, label, *, width: int | None = None, key: str | None = None, default=None):
        text = label if isinstance(label, Text) else Text(str(label))
        return super().add_column(
            Text(" ") + text, width=None if width is None else width + 1, key=key, default=default
        )

    def set_column_width(self, key: str, width: int) -> None:
        """Resize a column (to share out the room a terminal has)."""
        col = self.columns.get(ColumnKey(key))
        if col is None or (col.width == width + 1 and not col.auto_width):
            return
        col.width = width + 1
        col.auto_width = False
        # DataTable has no public resize; these are what its own add_column sets.
        self._require_update_dimensions = True
        self._clear_caches()
        self.refresh()

    def action_scroll_home(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_scroll_end(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def selected_key(self) -> Hashable | None:
        """The key of the row under the cursor, or None."""
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0))
        except (CellDoesNotExist, RowDoesNotExist):
            return None
        return self._keys.get(row_key.value)

    def key_of(self, row_key: RowKey) -> Hashable | None:
        """Our key for a DataTable row key (from a RowSelected event)."""
        return self._keys.get(row_key.value)

    def keys_in_order(self) -> list[Hashable]:
        """The keys of the rows as shown, top to bottom."""
        return [self._keys[row.key.value] for row in self.ordered_rows]

    def row_cells(self, key: Hashable) -> tuple:
        """The cells last given for ``key``."""
        return self._cells[key]

    def sync(self, rows: Sequence[tuple[Hashable, Sequence[object]]]) -> None:
        """Make the table show ``rows`` (key, cells), in that order.

        DataTable keys are strings inside; ours may be ints or tuples, so each is kept by
        its ``str`` and mapped back.
        """
        wanted = {key for key, _ in rows}
        chosen = self.selected_key()
        columns = list(self.columns)
        for key in [k for k in self._cells if k not in wanted]:
            del self._cells[key]
            self._keys.pop(str(key), None)
            try:
                self.remove_row(str(key))
            except RowDoesNotExist:
                pass
        for key, cells in rows:
            cells = tuple(_pad(c) for c in cells)
            old = self._cells.get(key)
            skey = str(key)
            if old is None:
                self.add_row(*cells, key=skey, height=self.row_height)
                self._keys[skey] = key
            else:
                kept = list(cells)
                for col, (a, b) in enumerate(zip(old, cells, strict=False)):
                    if _same(a, b):
                        kept[col] = a  # keep what the table holds
                    else:
                        self.update_cell(skey, columns[col], b)
                cells = tuple(kept)
            self._cells[key] = cells
        order = [key for key, _ in rows]
        if order != self._order:
            self._order = order
            if self.keys_in_order() != order:
                index = {id(self._cells[k][0]): i for i, k in enumerate(order)}
                self.sort(key=lambda cells: index.get(id(cells[0]), 0))
            if chosen is not None and chosen in wanted:
                self.move_cursor(row=self.get_row_index(str(chosen)), scroll=False)

    def set_narrow(self, narrow: bool) -> bool:
        """Switch between one-line and two-line rows; rows are rebuilt from the last snapshot.

        True when the layout changed.
        """
        if narrow == self.narrow:
            return False
        self.narrow = narrow
        self.row_height = 2 if narrow else 1
        self.clear_rows()
        if self._last is not None:
            self.call_after_refresh(self.update, self._last)
        return True

    def clear_rows(self) -> None:
        self.clear()
        self._cells.clear()
        self._keys.clear()
        self._order = []
