"""Segments: each with its members and who entered or left in the last 24 hours; Enter
opens one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from app.service.segment_views import segment_list
from app.ui.format import cut
from app.ui.screens.base import NudgeScreen


class SegmentsScreen(NudgeScreen):
    """The loaded segments."""

    TITLE = "Segments"
    AUTO_FOCUS = "#segments"
    CSS_PATH = "segments.tcss"
    BINDINGS = [Binding("r", "refresh", "Refresh")]

    def body(self) -> ComposeResult:
        yield DataTable(id="segments", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("segment", "members", "+24h", "-24h", "name")
        self.action_refresh()
        table.focus()

    def action_refresh(self) -> None:
        """Counts again."""
        rows = self.attempt(segment_list, self.workspace.segments, self.now) or []
        table = self.query_one(DataTable)
        table.clear()
        for s in rows:
            table.add_row(
                s.id,
                f"{s.members:,}",
                f"{s.entered_24h:,}",
                f"{s.exited_24h:,}",
                cut(s.name, 40),
                key=s.id,
            )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from app.ui.screens.segment import SegmentScreen

        self.app.push_screen(SegmentScreen(str(event.row_key.value)))
