"""Campaigns: each with its state, people in flight, entered and converted; Enter opens
its funnel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from app.service.reports import campaign_rows
from app.ui.format import cut
from app.ui.refresh import PacedRefresh
from app.ui.screens.base import NudgeScreen


class CampaignsScreen(NudgeScreen):
    """The loaded campaigns (and those with journeys whose file is gone)."""

    TITLE = "Campaigns"
    AUTO_FOCUS = "#campaigns"
    CSS_PATH = "campaigns.tcss"
    BINDINGS = [Binding("r", "refresh", "Refresh")]

    def body(self) -> ComposeResult:
        yield DataTable(id="campaigns", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("campaign", "state", "in flight", "entered", "converted", "name")
        self.action_refresh()
        table.focus()
        # Counts move as journeys do; a GROUP BY over journeys, so paced, not every poll.
        self.pacer = PacedRefresh(self.action_refresh)
        self.nudge.live_changed.subscribe(self, self.pacer.mark_stale)
        self.set_interval(0.5, self.pacer.tick)

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        """Counts again."""
        rows = self.attempt(campaign_rows, self.workspace) or []
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in rows:
            conv = f"{r.converted:,} ({r.converted / r.entered:.0%})" if r.entered else "0"
            table.add_row(
                r.id, r.state, f"{r.active:,}", f"{r.entered:,}", conv, cut(r.name, 36), key=r.id
            )
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from app.ui.screens.campaign import CampaignScreen

        self.app.push_screen(CampaignScreen(str(event.row_key.value)))
