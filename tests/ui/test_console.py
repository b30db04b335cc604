"""Console behaviour with `App.run_test()`: each mode, navigation, search, a timeline,
deliveries, the catalogue, errors; asserting on messages and widget state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.widgets import DataTable

from app.service.live import DECISION_KINDS
from app.ui.app import NudgeApp
from app.ui.messages import (
    DeliveryRetried,
    LiveDataChanged,
    OperatorError,
    PersonOpened,
)
from app.ui.screens.campaigns import CampaignsScreen
from app.ui.screens.deliveries import DeliveriesScreen
from app.ui.screens.delivery import DeliveryScreen
from app.ui.screens.events import EventsScreen
from app.ui.screens.live import PAGE, LiveScreen
from app.ui.screens.people import PeopleScreen
from app.ui.screens.person import PersonScreen
from app.ui.screens.segment import SegmentScreen
from app.ui.screens.segments import SegmentsScreen
from tests.ui.helpers import SIZE, of, text

Build = Callable[[], NudgeApp]


async def test_each_mode_is_one_key_away(make_console: Build) -> None:
    app = make_console()
    expected = {
        "1": LiveScreen,
        "2": PeopleScreen,
        "3": SegmentsScreen,
        "4": CampaignsScreen,
        "5": DeliveriesScreen,
        "6": EventsScreen,
    }
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LiveScreen)
        for key, screen in expected.items():
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen), key
        await app.workers.wait_for_complete()


async def test_live_shows_new_events_and_pauses(make_console: Build) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await pilot.pause()
        stream = app.screen.query_one("#stream", DataTable)
        total = app.workspace.store.events.count()
        assert stream.row_count == min(PAGE, total)
        op = {"type": "track", "userId": "u-1001", "event": "live_probe", "messageId": "probe-1"}
        app.workspace.ingestor.apply([op])
        app.poll_live()
        await pilot.pause()
        changed = of(messages, LiveDataChanged)[-1]
        assert changed.last_seq == app.workspace.store.live.last_seq()
        assert stream.get_row_at(0)[1:3] == ["u-1001", "live_probe"]
        await pilot.press("space")
        op2 = {"type": "track", "userId": "u-1001", "event": "while_paused", "messageId": "probe-2"}
        app.workspace.ingestor.apply([op2])
        app.poll_live()
        await pilot.pause()
        assert stream.get_row_at(0)[2] == "live_probe"
        assert "PAUSED (1 new)" in text(app, "#stream-title")
        await pilot.press("space")
        await pilot.pause()
        assert stream.get_row_at(0)[2] == "while_paused"


async def test_live_filter_by_event_name(make_console: Build) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f", *"signed_up", "enter")
        await pilot.pause()
        stream = app.screen.query_one("#stream", DataTable)
        signed_up = app.workspace.store.events.counts_by_name()["signed_up"]
        assert stream.row_count == signed_up
        assert {stream.get_row_at(i)[2] for i in range(stream.row_count)} == {"signed_up"}


async def test_live_filter_on_unknown_person_is_shown_and_changes_nothing(
    make_console: Build,
) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        before = app.screen.query_one("#stream", DataTable).row_count
        await pilot.press("f", *"@nobody-here", "enter")
        await pilot.pause()
        assert "nobody-here" in of(messages, OperatorError)[0].text
        assert app.screen.query_one("#stream", DataTable).row_count == before
        assert isinstance(app.screen, LiveScreen)


async def test_live_lists_decisions_newest_first(make_console: Build) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#decisions", DataTable)
        newest = app.workspace.store.live.activity_page(1, kinds=DECISION_KINDS)[0]
        assert str(table.get_row_at(0)[2]).startswith(newest.kind)


async def test_people_search_opens_a_timeline(make_console: Build) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await pilot.press("2", "slash", *"maria.lopez", "enter")
        await pilot.pause()
        people = app.screen.query_one("#people", DataTable)
        assert people.row_count == 1
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PersonScreen)
        assert of(messages, PersonOpened)[0].person_key.startswith("#")
        store = app.workspace.store
        person = store.people.by_external_id("u-1001")
        assert person is not None
        # One line per event, per decision other than message.* and per delivery.
        decisions = [a for a in store.activity.for_person(person.id, 1000)]
        expected = (
            len(store.events.for_person(person.id, 1000))
            + len([a for a in decisions if not a.kind.startswith("message.")])
            + len(store.deliveries.for_person(person.id))
        )
        assert app.screen.query_one("#timeline", DataTable).row_count == expected
        assert "active_users" in text(app, "#membership")
        await pilot.press("escape")
        assert isinstance(app.screen, PeopleScreen)


async def test_people_table_pages_lazily(make_console: Build) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        people = app.screen.query_one("#people", DataTable)
        assert people.row_count == 100
        people.move_cursor(row=95)
        await pilot.pause()
        assert people.row_count == 200


async def test_a_delivery_on_the_timeline_opens_the_message(make_console: Build) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        store = app.workspace.store
        person = store.people.by_external_id("trial-001")
        assert person is not None
        delivery = store.deliveries.for_person(person.id)[0]
        await app.push_screen(PersonScreen("trial-001"))
        await pilot.pause()
        timeline = app.screen.query_one("#timeline", DataTable)
        timeline.move_cursor(row=timeline.get_row_index(f"delivery:{delivery.id}"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DeliveryScreen)
        assert delivery.rendered_subject is not None
        assert delivery.rendered_subject in text(app, "#headers")


async def test_segment_explains_why_a_person_is_in(make_console: Build) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        table.move_cursor(row=table.get_row_index("active_users"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SegmentScreen)
        members = app.workspace.store.segments.member_count("active_users")
        assert app.screen.query_one("#members", DataTable).row_count == min(members, 100)
        await pilot.press("w", *"u-1001", "enter")
        await pilot.pause()
        assert text(app, "#why").startswith("u-1001 is IN")


async def test_deliveries_filter_by_state_and_retry(make_console: Build) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await pilot.press("5")
        await pilot.pause()
        # all -> queued -> sending -> sent -> failed -> bounced
        await pilot.press(*"sssss")
        await pilot.pause()
        store = app.workspace.store
        bounced = store.deliveries.in_state("bounced")
        table = app.screen.query_one("#deliveries", DataTable)
        assert table.row_count == len(bounced) > 0
        assert {str(table.get_row_at(i)[1]) for i in range(table.row_count)} == {"bounced"}
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DeliveryScreen)
        shown = app.screen.delivery_id
        await pilot.press("r")
        await pilot.pause()
        assert [m.delivery_id for m in of(messages, DeliveryRetried)] == [shown]
        retried = store.deliveries.get(shown)
        assert retried is not None and retried.state == "queued"


async def test_event_catalogue_shows_counts_and_drift(make_console: Build) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EventsScreen)
        names = screen.query_one("#names", DataTable)
        labels = [str(names.get_row_at(i)[0]) for i in range(names.row_count)]
        counts = app.workspace.store.events.counts_by_name()
        assert labels[labels.index("signed_up")] == "signed_up"
        row = names.get_row_at(labels.index("signed_up"))
        assert row[1] == f"{counts['signed_up']:,}"
        # The showcase sends `seats` as a string to every seventh trial.
        identify = names.get_row_at(labels.index("identify (attributes)"))
        assert "seats" in str(identify[5])


async def test_a_failing_worker_is_reported_and_the_console_lives_on(
    make_console: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.ui.screens.events as events_screen

    def broken(database: Path) -> list[Any]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(events_screen, "catalogue_of", broken)
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await pilot.press("6")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "disk on fire" in of(messages, OperatorError)[0].text
        await pilot.press("1")
        assert isinstance(app.screen, LiveScreen)


async def test_events_from_another_process_appear(
    make_console: Build, console_settings: Any
) -> None:
    from app.core.clock import FixedClock
    from app.service.ingest import Ingestor
    from app.service.showcase import SHOWCASE_NOW_MS
    from app.store import Store

    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # Another writer (`nudge ingest`, `nudge serve`) on its own connection.
        other = Store.open(console_settings.database)
        Ingestor(other, FixedClock(SHOWCASE_NOW_MS)).apply(
            [{"type": "track", "userId": "u-1002", "event": "from_elsewhere", "messageId": "x1"}]
        )
        other.close()
        await pilot.pause(0.7)  # the app's own poll (every 0.5 s) finds it
        stream = app.screen.query_one("#stream", DataTable)
        assert stream.get_row_at(0)[1:3] == ["u-1002", "from_elsewhere"]


async def test_paused_live_stream_pages_back(make_console: Build) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        stream = app.screen.query_one("#stream", DataTable)
        await pilot.press("space")
        stream.move_cursor(row=PAGE - 5)
        await pilot.pause()
        total = app.workspace.store.events.count()
        assert stream.row_count == min(2 * PAGE, total)
        # The page before: the newest event not yet shown comes right after the first page.
        seqs = [e.seq for e in app.screen.events]  # type: ignore[attr-defined]
        assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
        assert stream.cursor_row == PAGE - 5


async def test_delivery_counts_follow_the_campaign_filter(make_console: Build) -> None:
    from app.core.models import Delivery
    from app.service.delivery_views import STATES

    def counts_shown() -> dict[str, int]:
        # "campaign welcome · showing all states · queued 3 · sending 0 · ..."
        parts = [p.rsplit(" ", 1) for p in text(app, "#counts").split(" · ")]
        return {p[0]: int(p[1]) for p in parts if len(p) == 2 and p[0] in STATES}

    app = make_console()
    store = app.workspace.store
    # The showcase sends from welcome only: one queued delivery of another campaign.
    store.deliveries.queue(Delivery("other-1", None, 1, "other", "s", "t", "subject", 0))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        every = [d for s in STATES for d in store.deliveries.in_state(s) if not d.test]
        assert {d.campaign_id for d in every} == {"welcome", "other"}
        assert counts_shown() == {s: sum(1 for d in every if d.state == s) for s in STATES}
        await pilot.press("slash", *"welcome", "enter")
        await pilot.pause()
        assert text(app, "#counts").startswith("campaign welcome · ")
        assert counts_shown() == {
            s: sum(1 for d in every if d.state == s and d.campaign_id == "welcome") for s in STATES
        }
        await pilot.press("slash", *"nonexistent_campaign", "enter")
        await pilot.pause()
        assert counts_shown() == dict.fromkeys(STATES, 0)
