"""A DataTable that loads its rows a page at a time as the cursor nears the end
(PERFORMANCE.md: a table of 100,000 rows takes 10 s to paint; a page takes milliseconds).

Cells given as `Ago` say how long ago an instant was, against the app's clock, and are
written again each second: on the demo's accelerated clock an hour passes every second,
so a relative time computed once would soon be wrong."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from app.ui.format import ago

Row = tuple[str, Sequence[Any]]
#: Given the cursor after the last page (None: the start), return the next page of
#: (row key, cells) and the cursor after it (None: nothing more).
Loader = Callable[[Any], tuple[list[Row], Any]]


@dataclass(frozen=True, slots=True)
class Ago:
    """A cell: `{prefix}{how long before now}{suffix}`, e.g. `10-14 12:00 (3h ago)`, kept
    current against the table's clock.

    Attributes:
        at: the instant, ms UTC (None: `never`).
        prefix, suffix: fixed text around it.
    """

    at: int | None
    prefix: str = ""
    suffix: str = ""

    def text(self, now: int) -> str:
        """The cell's text at `now` (ms UTC)."""
        return f"{self.prefix}{ago(self.at, now)}{self.suffix}"


class PagedTable(DataTable[Any]):
    """Rows come from `loader`, one page at a time, keyset-paged by the loader's cursor.

    Args:
        loader: see `Loader`; it runs on the interface thread, so it must be quick.
        columns: column labels.
        margin: load the next page when the cursor is this close to the last row.
        now: the clock `Ago` cells are measured against, ms UTC (default: the app's).
    """

    def __init__(
        self,
        loader: Loader,
        columns: Sequence[str],
        margin: int = 10,
        now: Callable[[], int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.loader = loader
        self.margin = margin
        self._now = now
        self._columns = list(columns)
        self._keys: list[ColumnKey] = []
        self._cursor: Any = None
        self.exhausted = False
        #: (row key, column index) -> the `Ago` shown there.
        self.ages: dict[tuple[str, int], Ago] = {}

    def now(self) -> int:
        """The time `Ago` cells are measured against, ms UTC."""
        if self._now is not None:
            return self._now()
        return int(self.app.clock.now_ms())  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        self._keys = self.add_columns(*self._columns)
        self.set_interval(1.0, self.refresh_ages)

    def refresh_ages(self) -> None:
        """Write each `Ago` cell again at the clock's time (only those that changed)."""
        if not self.ages:
            return
        now = self.now()
        for (row, column), cell in self.ages.items():
            text = cell.text(now)
            if self.get_cell(row, self._keys[column]) != text:
                self.update_cell(row, self._keys[column], text)

    def reload(self, loader: Loader | None = None) -> None:
        """Start again from the first page (with a new loader, e.g. a new filter)."""
        if loader is not None:
            self.loader = loader
        self.clear()
        self.ages.clear()
        self._cursor, self.exhausted = None, False
        self.load_page()

    def load_page(self) -> int:
        """Append the next page; returns how many rows came."""
        if self.exhausted:
            return 0
        rows, self._cursor = self.loader(self._cursor)
        now = self.now() if any(isinstance(c, Ago) for _, cells in rows for c in cells) else 0
        for key, cells in rows:
            if key not in self.rows:
                shown = []
                for column, cell in enumerate(cells):
                    if isinstance(cell, Ago):
                        self.ages[(key, column)] = cell
                        cell = cell.text(now)
                    shown.append(cell)
                self.add_row(*shown, key=key)
        self.exhausted = self._cursor is None
        return len(rows)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if not self.exhausted and event.cursor_row >= self.row_count - self.margin:
            self.load_page()
