"""People: search by id, email or attribute value over a lazily loaded table; Enter opens
a person's timeline."""

from __future__ import annotations

import json
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input

from app.service.timeline import search_people
from app.ui.format import cut, short
from app.ui.messages import PersonOpened
from app.ui.screens.base import NudgeScreen
from app.ui.widgets.paged_table import PagedTable, Row

PAGE = 100


class PeopleScreen(NudgeScreen):
    """Everyone, or those matching the search, a page at a time."""

    TITLE = "People"
    AUTO_FOCUS = "#people"
    CSS_PATH = "people.tcss"
    BINDINGS = [Binding("slash", "search", "Search")]

    def __init__(self) -> None:
        super().__init__()
        self.search = ""

    def body(self) -> ComposeResult:
        yield Input(
            placeholder="/ search id, email or attribute value; Enter", id="search", compact=True
        )
        yield PagedTable(
            self.load_people, ("row", "id", "email", "first seen", "attributes"), id="people"
        )

    def on_mount(self) -> None:
        self.query_one(PagedTable).load_page()
        self.query_one(PagedTable).focus()

    def load_people(self, after: Any) -> tuple[list[Row], Any]:
        """One page of people matching the search, after row id `after`."""
        found = self.attempt(search_people, self.workspace.store, self.search, PAGE, after or 0)
        if not found:
            return [], None
        zone = self.nudge.settings.zone
        rows: list[Row] = []
        for p in found:
            attrs = {k: v for k, v in p.attributes.items() if k != "email"}
            text = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in attrs.items())
            rows.append(
                (
                    str(p.id),
                    (
                        f"#{p.id}",
                        cut(p.external_id or "-", 18),
                        cut(p.email or "-", 28),
                        short(p.created_at, zone),
                        cut(text, 60),
                    ),
                )
            )
        return rows, (found[-1].id if len(found) == PAGE else None)

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.search = event.value
        table = self.query_one(PagedTable)
        table.reload()
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        from app.ui.screens.person import PersonScreen

        key = f"#{event.row_key.value}"
        self.post_message(PersonOpened(key))
        self.app.push_screen(PersonScreen(key))
