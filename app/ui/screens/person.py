"""One person: attributes, segments (since when), journeys, and one chronological list of
their events, attribute changes, segment moves, decisions and deliveries (newest first,
a page at a time). Enter on a delivery opens the message as sent."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Static

from app.service.timeline import (
    PersonHeader,
    TimelineCursor,
    person_header,
    timeline_page,
)
from app.ui.format import ago, cut, short, when
from app.ui.screens.base import NudgeScreen
from app.ui.widgets.paged_table import PagedTable, Row

PAGE = 100


class PersonScreen(NudgeScreen):
    """A person's timeline.

    Args:
        key: the person's id, email or `#row`.
    """

    TITLE = "Person"
    AUTO_FOCUS = "#timeline"
    CSS_PATH = "person.tcss"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.header: PersonHeader | None = None
        self._serial = 0

    def body(self) -> ComposeResult:
        with Horizontal(id="person-top"):
            with VerticalScroll(id="attributes-box"):
                yield Static("", id="attributes")
            with VerticalScroll(id="membership-box"):
                yield Static("", id="membership")
        yield Static("Timeline", id="timeline-title", classes="section")
        yield PagedTable(self.load_timeline, ("time", "kind", "what", "detail"), id="timeline")

    def on_mount(self) -> None:
        self.header = self.attempt(person_header, self.workspace.store, self.key)
        if self.header is None:
            self.app.pop_screen()
            return
        self.render_header(self.header)
        # "since 3h ago" is measured against the clock: written again each second.
        self.set_interval(1.0, self.rerender_header)
        table = self.query_one(PagedTable)
        table.load_page()
        table.focus()

    def rerender_header(self) -> None:
        """The header again at the clock's time (no database access)."""
        if self.header is not None:
            self.render_header(self.header)

    def render_header(self, header: PersonHeader) -> None:
        p, zone, now = header.person, self.nudge.settings.zone, self.now
        flags = [
            f for f, on in (("suppressed", p.suppressed), ("unsubscribed", p.unsubscribed)) if on
        ]
        # Cut: an id can be thousands of characters long (the API accepts it).
        title = Text.assemble(
            (cut(p.label, 60), "bold"), f"  {cut(p.email or '(no email)', 60)}  {' '.join(flags)}"
        )
        # Two lines: together they wrapped mid-phrase in a half-width box at 80 columns.
        lines = [f"first seen {when(p.created_at, zone)}", f"{header.event_count:,} events"]
        lines += [
            f"  {name} = {cut(json.dumps(p.attributes[name], ensure_ascii=False), 40)}"
            for name in sorted(p.attributes)
        ]
        title.rstrip()
        self.query_one("#attributes", Static).update(
            Text("\n").join([title, *(Text(x) for x in lines)])
        )
        seg = [f"  {s} since {ago(since, now)}" for s, since in sorted(header.segments.items())]
        jour = [
            f"  {j.campaign_id}: {j.state}"
            + (f" at {j.step_id}" if j.step_id else f" ({j.exit_reason or 'done'})")
            + (" · converted" if j.converted_at else "")
            for j in header.journeys[:10]
        ]
        text = ["Segments"] + (seg or ["  (none)"]) + ["Journeys"] + (jour or ["  (none)"])
        self.query_one("#membership", Static).update(Text("\n".join(text)))

    def load_timeline(self, cursor: Any) -> tuple[list[Row], Any]:
        """The next page of the timeline."""
        if self.header is None:
            return [], None
        got = self.attempt(
            timeline_page,
            self.workspace.store,
            self.header.person.id,
            cursor or TimelineCursor(),
            PAGE,
        )
        if got is None:
            return [], None
        items, nxt = got
        zone = self.nudge.settings.zone
        # In 80 columns the short time and a shorter title leave room for the detail
        # (campaign/step), which says most.
        narrow = self.app.size.width < 100
        stamp, title = (short, 22) if narrow else (when, 34)
        rows: list[Row] = []
        for item in items:
            self._serial += 1
            key = f"{item.ref[0]}:{item.ref[1]}" if item.ref else f"row:{self._serial}"
            rows.append(
                (
                    key,
                    (stamp(item.at, zone), item.kind, cut(item.title, title), cut(item.detail, 60)),
                )
            )
        return rows, (None if nxt.done else nxt)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        kind, _, ident = str(event.row_key.value).partition(":")
        if kind == "delivery":
            from app.ui.screens.delivery import DeliveryScreen

            self.app.push_screen(DeliveryScreen(int(ident)))
