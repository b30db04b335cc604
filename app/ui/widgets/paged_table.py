"""A DataTable that loads its rows a page at a time as the cursor nears the end
(PERFORMANCE.md: a table of 100,000 rows takes 10 s to paint; a page takes milliseconds)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from textual.widgets import DataTable

Row = tuple[str, Sequence[Any]]
#: Given the cursor after the last page (None: the start), return the next page of
#: (row key, cells) and the cursor after it (None: nothing more).
Loader = Callable[[Any], tuple[list[Row], Any]]


class PagedTable(DataTable[Any]):
    """Rows come from `loader`, one page at a time, keyset-paged by the loader's cursor.

    Args:
        loader: see `Loader`; it runs on the interface thread, so it must be quick.
        columns: column labels.
        margin: load the next page when the cursor is this close to the last row.
    """

    def __init__(
        self, loader: Loader, columns: Sequence[str], margin: int = 10, **kwargs: Any
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.loader = loader
        self.margin = margin
        self._columns = list(columns)
        self._cursor: Any = None
        self.exhausted = False

    def on_mount(self) -> None:
        self.add_columns(*self._columns)

    def reload(self, loader: Loader | None = None) -> None:
        """Start again from the first page (with a new loader, e.g. a new filter)."""
        if loader is not None:
            self.loader = loader
        self.clear()
        self._cursor, self.exhausted = None, False
        self.load_page()

    def load_page(self) -> int:
        """Append the next page; returns how many rows came."""
        if self.exhausted:
            return 0
        rows, self._cursor = self.loader(self._cursor)
        for key, cells in rows:
            if key not in self.rows:
                self.add_row(*cells, key=key)
        self.exhausted = self._cursor is None
        return len(rows)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not self.exhausted and event.cursor_row >= self.row_count - self.margin:
            self.load_page()
