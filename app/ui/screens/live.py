"""Live: events as they arrive (filter, pause), the ingest rate over the last hour, the
scheduler's state and the latest engine decisions."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Sparkline, Static

from app.core.models import ActivityEntry, Event
from app.service.live import (
    StreamFilter,
    describe_decision,
    event_label,
    event_summary,
    events_after,
    events_before,
    ingest_rate,
    latest_events,
    person_labels,
    recent_decisions,
    scheduler_status,
)
from app.ui.format import ago, cut, short
from app.ui.messages import LiveDataChanged
from app.ui.screens.base import NudgeScreen

#: Events kept on screen while following (newest first); paused, the operator can page
#: back up to `MOST` (PERFORMANCE.md: tables stay a few thousand rows at most).
PAGE = 200
MOST = 2_000
DECISIONS = 50


def parse_filter(text: str) -> StreamFilter:
    """`signed_up @u-1001`: a word is the event name, `@who` the person; empty: all."""
    name = person = None
    for word in text.split():
        if word.startswith("@") and len(word) > 1:
            person = word[1:]
        else:
            name = word
    return StreamFilter(name, person)


class LiveScreen(NudgeScreen):
    """The event stream, the rate, the scheduler and the decisions."""

    TITLE = "Live"
    AUTO_FOCUS = "#stream"
    CSS_PATH = "live.tcss"
    BINDINGS = [
        Binding("f", "filter", "Filter"),
        Binding("space", "pause", "Pause"),
    ]

    @dataclass
    class FilterChanged(Message):
        """The operator set a new stream filter."""

        filter: StreamFilter

    def __init__(self) -> None:
        super().__init__()
        self.filter = StreamFilter()
        self.paused = False
        self.events: list[Event] = []
        self.missed = 0
        self._rate_at = -1

    def body(self) -> ComposeResult:
        with Horizontal(id="live-top"):
            with Vertical(id="rate-box"):
                yield Static("", id="rate-title")
                yield Sparkline([], id="rate")
            yield Static("", id="scheduler")
        yield Input(
            placeholder="event name and/or @person, Enter to apply", id="filter", compact=True
        )
        yield Static("", id="stream-title")
        yield DataTable(id="stream", cursor_type="row", zebra_stripes=True)
        yield Static("Decisions", id="decisions-title")
        yield DataTable(id="decisions", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#stream", DataTable).add_columns("time", "person", "event", "properties")
        self.query_one("#decisions", DataTable).add_columns("time", "person", "decision")
        self.load_stream()
        self.load_decisions()
        self.load_status()
        self.nudge.live_changed.subscribe(self, self.on_live_changed)
        self.set_interval(5.0, self.load_status)

    # -- the stream --------------------------------------------------------------------------

    def load_stream(self) -> None:
        """Read the latest page for the current filter."""
        found = self.attempt(latest_events, self.workspace.store, PAGE, self.filter)
        self.events = found or []
        self.missed = 0
        self.render_stream()

    def on_live_changed(self, change: LiveDataChanged) -> None:
        """Coalesced by the app's poll: one read per poll, whatever arrived."""
        newest = self.events[0].seq if self.events else 0
        if change.last_seq > newest:
            if self.paused:
                self.missed = change.last_seq - newest
                self.render_title()
            else:
                fresh = self.attempt(events_after, self.workspace.store, newest, PAGE, self.filter)
                if fresh:
                    self.events = (fresh + self.events)[:PAGE]
                    self.render_stream()
        self.load_decisions()

    def render_stream(self) -> None:
        table = self.query_one("#stream", DataTable)
        zone = self.nudge.settings.zone
        table.clear()
        table.add_rows(
            (
                short(e.timestamp, zone),
                cut(event_label(e), 18),
                cut(e.name or e.type, 22)
                if e.type == "track"
                else cut(f"{e.type} {e.name or ''}", 22),
                event_summary(e, 70),
            )
            for e in self.events
        )
        self.render_title()

    def render_title(self) -> None:
        parts = ["Events"]
        if self.filter.name:
            parts.append(f"name={self.filter.name}")
        if self.filter.person:
            parts.append(f"person={self.filter.person}")
        if self.paused:
            parts.append(f"PAUSED ({self.missed} new)" if self.missed else "PAUSED")
        self.query_one("#stream-title", Static).update(" · ".join(parts))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Paused, reaching the end of the stream loads the page before it."""
        table = event.data_table
        if (
            table.id != "stream"
            or not self.paused
            or not self.events
            or event.cursor_row < table.row_count - 10
            or len(self.events) >= MOST
        ):
            return
        older = self.attempt(
            events_before, self.workspace.store, self.events[-1].seq, PAGE, self.filter
        )
        if older:
            self.events += older
            cursor = table.cursor_row
            self.render_stream()
            table.move_cursor(row=cursor)

    def action_pause(self) -> None:
        """Stop (or restart) following new events."""
        self.paused = not self.paused
        if not self.paused:
            self.load_stream()
        else:
            self.render_title()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        wanted = parse_filter(event.value)
        if wanted.person and self.attempt(latest_events, self.workspace.store, 1, wanted) is None:
            return  # nobody by that id: the error was shown, the filter stays
        self.filter = wanted
        self.post_message(self.FilterChanged(wanted))
        event.input.display = bool(event.value)
        self.query_one("#stream", DataTable).focus()
        self.load_stream()

    def key_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus:
            box.display = bool(box.value)
            self.query_one("#stream", DataTable).focus()

    # -- decisions, rate, scheduler -------------------------------------------------------------

    def load_decisions(self) -> None:
        found: list[ActivityEntry] = (
            self.attempt(recent_decisions, self.workspace.store, DECISIONS) or []
        )
        table = self.query_one("#decisions", DataTable)
        table.clear()
        labels = self.attempt(person_labels, self.workspace.store, (a.person_id for a in found))
        zone = self.nudge.settings.zone
        table.add_rows(
            (
                short(a.at, zone),
                cut((labels or {}).get(a.person_id, f"#{a.person_id}"), 24) if a.person_id else "-",
                describe_decision(a),
            )
            for a in found
        )

    def load_status(self) -> None:
        store, now = self.workspace.store, self.now
        rate = self.attempt(ingest_rate, store, now)
        if rate is not None:
            self.query_one("#rate", Sparkline).data = rate
            self.query_one("#rate-title", Static).update(
                f"Ingest, last hour: {sum(rate):,} events (peak {max(rate):,}/min)"
            )
        status = self.attempt(scheduler_status, store, now)
        if status is None:
            return
        scheduler = self.nudge.scheduler
        if status.holder is None:
            who = "nobody holds the lease"
        elif scheduler is not None and status.holder == scheduler.holder:
            who = f"this console sends ({status.holder})"
        elif status.held:
            who = f"held by {status.holder}"
        else:
            who = f"lease free (last: {status.holder})"
        self.query_one("#scheduler", Static).update(
            f"Scheduler: {who}\n"
            f"last tick {ago(status.last_tick_at, now)} · due: {status.journeys_due} journeys, "
            f"{status.deliveries_due} emails\n"
            f"last hour: {status.sent_1h} sent, {status.failed_1h} failed"
        )
