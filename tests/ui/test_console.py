"""Console behaviour with `App.run_test()`: each mode, navigation, search, a timeline, a
paused campaign, an editor save with an error; asserting on messages and widget state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.widgets import DataTable, Static

from app.service.live import DECISION_KINDS
from app.ui.app import NudgeApp
from app.ui.messages import (
    CampaignStateChanged,
    DeliveryRetried,
    DraftRejected,
    DraftSaved,
    LiveDataChanged,
    OperatorError,
    PersonOpened,
)
from app.ui.modals.confirm import ConfirmModal
from app.ui.screens.campaign import CampaignScreen
from app.ui.screens.deliveries import DeliveriesScreen
from app.ui.screens.delivery import DeliveryScreen
from app.ui.screens.editor import EditorScreen
from app.ui.screens.events import EventsScreen
from app.ui.screens.live import PAGE, LiveScreen
from app.ui.screens.people import PeopleScreen
from app.ui.screens.person import PersonScreen
from app.ui.screens.segment import SegmentScreen
from app.ui.screens.segments import SegmentsScreen
from app.ui.widgets.yaml_area import YamlArea

Build = Callable[[], NudgeApp]
SIZE = (120, 36)


def _of(messages: list[Message], kind: type[Any]) -> list[Any]:
    """Messages of a kind, each once (the hook sees a bubbling message at every node)."""
    return list({id(m): m for m in messages if isinstance(m, kind)}.values())


def _read(path: Path) -> str:
    return path.read_text()


def _text(app: NudgeApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_each_mode_is_one_key_away(make_console: Build) -> None:
    app = make_console()
    expected = {
        "1": LiveScreen,
        "2": PeopleScreen,
        "3": SegmentsScreen,
        "4": CampaignsScreen_(),
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


def CampaignsScreen_() -> type[Any]:  # noqa: N802 (a type, read like one)
    from app.ui.screens.campaigns import CampaignsScreen

    return CampaignsScreen


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
        changed = _of(messages, LiveDataChanged)[-1]
        assert changed.last_seq == app.workspace.store.live.last_seq()
        assert stream.get_row_at(0)[1:3] == ["u-1001", "live_probe"]
        await pilot.press("space")
        op2 = {"type": "track", "userId": "u-1001", "event": "while_paused", "messageId": "probe-2"}
        app.workspace.ingestor.apply([op2])
        app.poll_live()
        await pilot.pause()
        assert stream.get_row_at(0)[2] == "live_probe"
        assert "PAUSED (1 new)" in _text(app, "#stream-title")
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
        assert "nobody-here" in _of(messages, OperatorError)[0].text
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
        assert _of(messages, PersonOpened)[0].person_key.startswith("#")
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
        assert "active_users" in _text(app, "#membership")
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
        assert delivery.rendered_subject in _text(app, "#headers")


async def _open_welcome(pilot: Any) -> None:
    await pilot.press("4")
    await pilot.pause()
    table = pilot.app.screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index("welcome"))
    await pilot.press("enter")
    await pilot.pause()


async def test_pausing_a_campaign_asks_then_stores_the_new_state(make_console: Build) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await _open_welcome(pilot)
        assert isinstance(app.screen, CampaignScreen)
        store = app.workspace.store
        before = store.funnels.latest_version("welcome")
        assert before is not None and "state: active" in before[1]
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await pilot.pause()
        assert [(m.campaign_id, m.state) for m in _of(messages, CampaignStateChanged)] == [
            ("welcome", "paused")
        ]
        after = store.funnels.latest_version("welcome")
        assert after is not None and after[0] != before[0]
        assert "state: paused" in after[1]
        assert {j.version for j in store.journeys.active_in("welcome")} == {after[0]}
        assert "paused" in _text(app, "#summary")
        # Pause is not offered on a paused campaign; resume is.
        assert app.screen.check_action("state", ("pause",)) is False
        assert app.screen.check_action("state", ("resume",)) is True


async def test_cancelling_the_confirmation_changes_nothing(make_console: Build) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await _open_welcome(pilot)
        before = app.workspace.store.funnels.latest_version("welcome")
        await pilot.press("p", "n")
        await pilot.pause()
        assert _of(messages, CampaignStateChanged) == []
        assert app.workspace.store.funnels.latest_version("welcome") == before


async def test_an_invalid_draft_shows_its_line_and_keeps_the_running_version(
    make_console: Build,
) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await _open_welcome(pilot)
        running = app.workspace.engine.versions["welcome"]
        path = Path(running.file)
        saved = _read(path)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EditorScreen)
        broken = saved.replace("max_time: 36h", "max_time: soon")
        line = broken.splitlines().index("      max_time: soon") + 1
        app.screen.query_one(YamlArea).load_text(broken)
        await pilot.press("ctrl+s")
        await pilot.pause()
        rejected = _of(messages, DraftRejected)
        assert [e.line for e in rejected[0].errors] == [line]
        assert f"line {line}:" in _text(app, "#problems")
        assert app.workspace.engine.versions["welcome"].hash == running.hash
        assert _read(path) == saved
        assert app.screen.query_one(YamlArea).cursor_location[0] == line - 1


async def test_a_valid_draft_goes_live(make_console: Build) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await _open_welcome(pilot)
        running = app.workspace.engine.versions["welcome"]
        path = Path(running.file)
        edited = _read(path).replace("Getting started in 3 steps", "Three steps to start")
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one(YamlArea).load_text(edited)
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = _of(messages, DraftSaved)
        live = app.workspace.engine.versions["welcome"]
        assert [m.version for m in saved] == [live.hash]
        assert live.hash != running.hash
        assert _read(path) == edited


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
        assert _text(app, "#why").startswith("u-1001 is IN")


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
        assert [m.delivery_id for m in _of(messages, DeliveryRetried)] == [shown]
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
        assert "disk on fire" in _of(messages, OperatorError)[0].text
        await pilot.press("1")
        assert isinstance(app.screen, LiveScreen)


async def test_send_test_goes_through_the_console_mailer(make_console: Build) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await _open_welcome(pilot)
        await pilot.press("t")
        await pilot.pause()
        await pilot.press(*"u-1001", "enter", *"qa@example.com", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        mailer: Any = app.mailer
        assert [r.recipients for r in mailer.records] == [("qa@example.com",)]


async def _open_simulator(pilot: Any) -> None:
    await _open_welcome(pilot)
    await pilot.press("s")
    await pilot.pause()


async def test_a_simulation_runs_to_the_end_and_reports(make_console: Build) -> None:
    from app.ui.screens.simulate import SimulateScreen, SimulationFinished

    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await _open_simulator(pilot)
        assert isinstance(app.screen, SimulateScreen)
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        finished = _of(messages, SimulationFinished)
        assert len(finished) == 1 and finished[0].comparison is None
        funnel = finished[0].report.campaigns[0]
        # One engine, two clocks: replaying the recorded week enters the same people
        # the live engine entered (every welcome journey began inside that week).
        assert (
            funnel.entered == app.workspace.store.journeys.campaign_counts()["welcome"]["entered"]
        )
        table = app.screen.query_one("#sim-funnel", DataTable)
        assert table.row_count == len(funnel.steps)
        assert f"{funnel.entered:,} entered" in _text(app, "#status")


async def test_a_simulation_can_be_cancelled(
    make_console: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.ui.screens.simulate as simulate_screen
    from app.ui.screens.simulate import SimulationFinished, SimulationStopped

    real = simulate_screen.simulate

    def cancelled_at_once(request: Any, *, progress: Any, cancel: Any) -> Any:
        cancel.set()  # as if the operator pressed ctrl+x as the replay began
        return real(request, progress=progress, cancel=cancel)

    monkeypatch.setattr(simulate_screen, "simulate", cancelled_at_once)
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await _open_simulator(pilot)
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(_of(messages, SimulationStopped)) == 1
        assert _of(messages, SimulationFinished) == []
        assert "cancelled" in _text(app, "#status")


async def test_a_draft_is_simulated_against_the_running_version(make_console: Build) -> None:
    from app.ui.screens.simulate import SimulationFinished

    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await _open_welcome(pilot)
        await pilot.press("e")
        await pilot.pause()
        area = app.screen.query_one(YamlArea)
        area.load_text(area.text.replace("max_time: 36h", "max_time: 12h"))
        await pilot.press("ctrl+r")
        await pilot.pause()
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        comparison = _of(messages, SimulationFinished)[0].comparison
        assert comparison is not None
        # A shorter wait can only send the guide to more people, never fewer.
        base = {s.id: s.reached for s in comparison.base.campaigns[0].steps}
        other = {s.id: s.reached for s in comparison.other.campaigns[0].steps}
        assert other["guide"] >= base["guide"]
        assert "Compared with the running version" in _text(app, "#report")


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


async def test_the_console_shows_who_holds_the_lease(
    console_settings: Any,
) -> None:
    from app.core.clock import FixedClock
    from app.delivery.recording import RecordingMailer
    from app.service.showcase import SHOWCASE_NOW_MS
    from app.store import Store
    from app.ui.app import make_app
    from app.ui.messages import SchedulerTicked

    other = Store.open(console_settings.database)
    with other.transaction():
        other.lease.acquire("elsewhere:42", SHOWCASE_NOW_MS, 10 * 60_000)
    other.close()
    app = make_app(
        console_settings, FixedClock(SHOWCASE_NOW_MS), run_scheduler=True, mailer=RecordingMailer()
    )
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        while not _of(messages, SchedulerTicked):
            await pilot.pause(0.1)
        assert _of(messages, SchedulerTicked)[0].report.holder is False
        assert app.scheduler_line == "lease held by elsewhere:42"
        assert "lease held by elsewhere:42" in str(app.screen.query_one("TopBar", Static).render())


class _Accelerated:
    """What the demo's accelerated clock offers: a rate and faster() / slower()."""

    def __init__(self, at: int) -> None:
        self.at, self.rate = at, 60.0

    def now_ms(self) -> int:
        return self.at

    def faster(self) -> None:
        self.rate *= 2

    def slower(self) -> None:
        self.rate /= 2


async def test_an_accelerated_clock_gets_its_rate_and_keys(console_settings: Any) -> None:
    from app.delivery.recording import RecordingMailer
    from app.service.showcase import SHOWCASE_NOW_MS
    from app.ui.app import make_app

    clock = _Accelerated(SHOWCASE_NOW_MS)
    app = make_app(console_settings, clock, run_scheduler=False, mailer=RecordingMailer())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("plus")
        await pilot.press("plus")
        await pilot.press("minus")
        assert clock.rate == 120.0
        top = app.screen.query_one("TopBar", Static)
        top.update_line()  # type: ignore[attr-defined]
        assert " x120 " in str(top.render())


async def test_the_console_scheduler_sends_what_is_due(console_settings: Any) -> None:
    from app.core.clock import FixedClock
    from app.delivery.recording import RecordingMailer
    from app.service.deliveries import retry_delivery
    from app.service.showcase import SHOWCASE_NOW_MS
    from app.store import Store
    from app.ui.app import make_app
    from app.ui.messages import SchedulerTicked

    store = Store.open(console_settings.database)
    undeliverable = store.deliveries.in_state("undeliverable")[0]
    retry_delivery(store, str(undeliverable.id), SHOWCASE_NOW_MS)
    store.close()
    mailer = RecordingMailer()
    app = make_app(console_settings, FixedClock(SHOWCASE_NOW_MS), run_scheduler=True, mailer=mailer)
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        while not _of(messages, SchedulerTicked):
            await pilot.pause(0.1)
        report = _of(messages, SchedulerTicked)[0].report
        assert report.holder is True
        assert report.sending.sent == 1
        assert len(mailer.sent) == 1
        assert app.scheduler_line.startswith("sending")


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
