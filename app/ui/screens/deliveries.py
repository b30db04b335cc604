"""Deliveries: the outbox by state (s cycles the state, / filters by campaign), latest
first, a page at a time; Enter opens one."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input, Static

from app.service.delivery_views import STATES, deliveries_page, state_counts
from app.ui.format import cut, short
from app.ui.screens.base import NudgeScreen
from app.ui.widgets.paged_table import PagedTable, Row

PAGE = 100


class DeliveriesScreen(NudgeScreen):
    """The outbox."""

    TITLE = "Deliveries"
    AUTO_FOCUS = "#deliveries"
    CSS_PATH = "deliveries.tcss"
    BINDINGS = [
        Binding("s", "next_state", "State"),
        Binding("slash", "campaign", "Campaign"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.state: str | None = None
        self.campaign: str | None = None

    def body(self) -> ComposeResult:
        yield Static("", id="counts")
        yield Input(placeholder="campaign id (empty: all); Enter", id="campaign", compact=True)
        yield PagedTable(
            self.load_deliveries,
            ("id", "state", "queued", "campaign/step", "to", "reason"),
            id="deliveries",
        )

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        """Counts and the first page again."""
        # The counts follow the campaign filter, as the rows do.
        counts = self.attempt(state_counts, self.workspace.store, self.campaign) or {}
        parts = [
            f"[reverse]{s} {n}[/reverse]" if s == self.state else f"{s} {n}"
            for s, n in counts.items()
        ]
        scope = f"campaign {self.campaign} · " if self.campaign else ""
        shown = self.state or "all states"
        self.query_one("#counts", Static).update(f"{scope}showing {shown} · " + " · ".join(parts))
        table = self.query_one(PagedTable)
        table.reload()
        table.focus()

    def load_deliveries(self, before: Any) -> tuple[list[Row], Any]:
        found = self.attempt(
            deliveries_page, self.workspace.store, PAGE, before, self.state, self.campaign
        )
        if not found:
            return [], None
        zone = self.nudge.settings.zone
        # In 80 columns, shorter cells bring the reason (why it bounced) on screen.
        step, to, why = (20, 18, 24) if self.app.size.width < 100 else (28, 26, 40)
        rows: list[Row] = [
            (
                str(d.id),
                (
                    d.id,
                    d.state + (" (test)" if d.test else ""),
                    short(d.created_at, zone),
                    cut(f"{d.campaign_id}/{d.step_id}", step),
                    cut(d.to_address or "-", to),
                    cut(d.reason or "", why),
                ),
            )
            for d in found
        ]
        return rows, (found[-1].id if len(found) == PAGE else None)

    def action_next_state(self) -> None:
        """Cycle the state filter: all, then each state."""
        order: list[str | None] = [None, *STATES]
        self.state = order[(order.index(self.state) + 1) % len(order)]
        self.action_refresh()

    def action_campaign(self) -> None:
        box = self.query_one("#campaign", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.campaign = event.value.strip() or None
        event.input.display = self.campaign is not None
        self.action_refresh()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from app.ui.screens.delivery import DeliveryScreen

        self.app.push_screen(DeliveryScreen(int(str(event.row_key.value))))
