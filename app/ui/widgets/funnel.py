"""A campaign funnel drawn as its step tree: one row per step and per branch, with a bar
scaled to the journeys that entered."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from app.service.funnels import Funnel
from app.ui.format import cut

BAR = 16
#: Below this many columns (an 80-column terminal) the 'does' text and the bar shrink,
#: so that the waiting and emails columns stay on screen.
NARROW = 100


def bar(count: int, total: int, width: int = BAR) -> str:
    """`count` of `total` as a bar of `width` cells (eighth blocks for the remainder)."""
    if total <= 0 or count <= 0:
        return ""
    eighths = round(min(count / total, 1.0) * width * 8)
    full, rest = divmod(max(eighths, 1), 8)
    return "█" * full + ("" if rest == 0 else " ▏▎▍▌▋▊▉"[rest])


def _cell_len(cell: Text | str) -> int:
    return cell.cell_len if isinstance(cell, Text) else Text(cell).cell_len


class FunnelTable(DataTable[Any]):
    """Steps and branches with counts; the cursor walks the tree."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.funnel: Funnel | None = None
        self.narrow = False

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW
        if narrow != self.narrow and self.funnel is not None:
            self.show(self.funnel)

    def on_mount(self) -> None:
        self.add_columns("step / path", "does", "journeys", "", "waiting", "emails")

    def show(self, funnel: Funnel) -> None:
        """Draw a funnel (replacing what was shown; the cursor keeps its row)."""
        cursor = self.cursor_row
        self.funnel = funnel
        self.narrow = 0 < self.size.width < NARROW
        does, width = (12, 8) if self.narrow else (26, BAR)
        self.clear()
        total = funnel.entered
        rows: list[tuple[Text, str, Text, str, str, str]] = []
        for row in funnel.rows:
            indent = "│ " * row.depth
            label = Text(f"{indent}{'↳ ' if row.kind == 'path' else ''}{row.label}")
            if row.kind == "path":
                label.stylize("italic")
            rows.append(
                (
                    label,
                    cut(row.summary, does),
                    Text(
                        f"{bar(row.count, total, width)} {row.count:,}",
                        style="bold" if row.kind == "step" else "",
                    ),
                    f"{row.count / total:4.0%}" if total else "",
                    f"{row.waiting:,}" if row.waiting else "",
                    "" if row.queued is None else f"{row.queued:,}",
                )
            )
        # clear() keeps the widest cell ever seen, and the table measures new rows only
        # when idle: set each width from this funnel's cells now, so a redraw (or a resize
        # to narrow) is drawn at its own widths at once.
        for position, column in enumerate(self.ordered_columns):
            widths = [_cell_len(r[position]) for r in rows]
            column.content_width = max([column.label.cell_len, *widths])
        for index, (cells, row) in enumerate(zip(rows, funnel.rows, strict=True)):
            self.add_row(*cells, key=f"{index}:{row.kind}:{row.label}")
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1))
