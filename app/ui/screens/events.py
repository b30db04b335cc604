"""Events: the catalogue of event names with counts, people, first and last seen, their
property keys with observed types and examples, and the properties whose type varies.

The counts read the whole events table, so they are computed in a worker thread over
its own connection; the interface stays responsive on large databases.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from app.service.catalogue import CatalogueEntry, catalogue_of
from app.ui.format import cut, short
from app.ui.screens.base import NudgeScreen


class EventsScreen(NudgeScreen):
    """The event catalogue."""

    TITLE = "Events"
    AUTO_FOCUS = "#names"
    CSS_PATH = "events.tcss"
    BINDINGS = [Binding("r", "refresh", "Refresh")]

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[CatalogueEntry] = []

    def body(self) -> ComposeResult:
        yield Static("Reading the event log…", id="catalogue-title", classes="section")
        yield DataTable(id="names", cursor_type="row", zebra_stripes=True)
        yield Static("", id="properties-title", classes="section")
        yield DataTable(id="properties", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#names", DataTable).add_columns(
            "event", "count", "people", "first seen", "last seen", "drift"
        )
        self.query_one("#properties", DataTable).add_columns("property", "types seen", "examples")
        self.query_one("#names", DataTable).focus()
        self.action_refresh()

    def action_refresh(self) -> None:
        """Count again (in a worker)."""
        self.load_catalogue()

    @work(thread=True, exclusive=True, group="catalogue", exit_on_error=False)
    def load_catalogue(self) -> None:
        entries = catalogue_of(self.nudge.settings.database)
        self.app.call_from_thread(self.show_catalogue, entries)

    def show_catalogue(self, entries: list[CatalogueEntry]) -> None:
        self.entries = entries
        zone = self.nudge.settings.zone
        table = self.query_one("#names", DataTable)
        table.clear()
        rows = [
            (
                cut(e.label, 30),
                f"{e.summary.count:,}",
                f"{e.summary.people:,}",
                short(e.summary.first_seen, zone),
                short(e.summary.last_seen, zone),
                cut(("⚠ " + ", ".join(p.key for p in e.drifting)) if e.drifting else "", 24),
            )
            for e in entries
        ]
        # The table measures new rows only when idle; a busy machine painted the counts
        # in columns still sized for the headers. Size them from the cells now.
        for position, column in enumerate(table.ordered_columns):
            widths = [Text(r[position]).cell_len for r in rows]
            column.content_width = max([column.label.cell_len, *widths])
        for index, cells in enumerate(rows):
            table.add_row(*cells, key=str(index))
        drifting = sum(1 for e in entries if e.drifting)
        self.query_one("#catalogue-title", Static).update(
            f"{len(entries)} event names · {drifting} with properties whose type varies"
        )
        if entries:
            self.show_properties(entries[0])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "names" and event.row_key.value is not None:
            index = int(event.row_key.value)
            if index < len(self.entries):
                self.show_properties(self.entries[index])

    def show_properties(self, entry: CatalogueEntry) -> None:
        """The properties of one name, drifting ones first."""
        self.query_one("#properties-title", Static).update(
            f"{entry.label}: properties in the latest {entry.sampled:,} events"
        )
        table = self.query_one("#properties", DataTable)
        table.clear()
        for p in sorted(entry.properties, key=lambda p: (not p.drifts, p.key)):
            types = ", ".join(f"{t} {n}" for t, n in sorted(p.types.items(), key=lambda x: -x[1]))
            table.add_row(
                ("⚠ " if p.drifts else "") + cut(p.key, 28),
                cut(types, 30),
                cut(" ".join(p.examples), 50),
            )
