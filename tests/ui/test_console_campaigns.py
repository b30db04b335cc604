"""Console behaviour with `App.run_test()` for campaigns: pause with confirmation, the
editor, send test, simulation (run, cancel, draft comparison), the scheduler in the
console and an accelerated clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.widgets import DataTable, ProgressBar, Static

from app.ui.app import NudgeApp
from app.ui.messages import (
    CampaignStateChanged,
    DraftRejected,
    DraftSaved,
    OperatorError,
)
from app.ui.modals.confirm import ConfirmModal
from app.ui.screens.campaign import CampaignScreen
from app.ui.screens.editor import EditorScreen
from app.ui.widgets.yaml_area import YamlArea
from tests.ui.helpers import SIZE, of, open_simulator, open_welcome, read, text

Build = Callable[[], NudgeApp]


async def test_pausing_a_campaign_asks_then_stores_the_new_state(make_console: Build) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await open_welcome(pilot)
        assert isinstance(app.screen, CampaignScreen)
        store = app.workspace.store
        before = store.funnels.latest_version("welcome")
        assert before is not None and "state: active" in before[1]
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await pilot.pause()
        assert [(m.campaign_id, m.state) for m in of(messages, CampaignStateChanged)] == [
            ("welcome", "paused")
        ]
        after = store.funnels.latest_version("welcome")
        assert after is not None and after[0] != before[0]
        assert "state: paused" in after[1]
        assert {j.version for j in store.journeys.active_in("welcome")} == {after[0]}
        assert "paused" in text(app, "#summary")
        # Pause is not offered on a paused campaign; resume is.
        assert app.screen.check_action("state", ("pause",)) is False
        assert app.screen.check_action("state", ("resume",)) is True


async def test_cancelling_the_confirmation_changes_nothing(make_console: Build) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await open_welcome(pilot)
        before = app.workspace.store.funnels.latest_version("welcome")
        await pilot.press("p", "n")
        await pilot.pause()
        assert of(messages, CampaignStateChanged) == []
        assert app.workspace.store.funnels.latest_version("welcome") == before


async def test_an_invalid_draft_shows_its_line_and_keeps_the_running_version(
    make_console: Build,
) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await open_welcome(pilot)
        running = app.workspace.engine.versions["welcome"]
        path = Path(running.file)
        saved = read(path)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EditorScreen)
        broken = saved.replace("max_time: 36h", "max_time: soon")
        line = broken.splitlines().index("      max_time: soon") + 1
        app.screen.query_one(YamlArea).load_text(broken)
        await pilot.press("ctrl+s")
        await pilot.pause()
        rejected = of(messages, DraftRejected)
        assert [e.line for e in rejected[0].errors] == [line]
        assert f"line {line}:" in text(app, "#problems")
        assert app.workspace.engine.versions["welcome"].hash == running.hash
        assert read(path) == saved
        assert app.screen.query_one(YamlArea).cursor_location[0] == line - 1
        assert text(app, "#problems").startswith("1 problem; not saved:")
        # Edited since the check: the list says it is the last check's, not the text's.
        await pilot.press("x")
        await pilot.pause()
        assert text(app, "#problems").startswith("1 problem at the last check (edited since;")
        assert f"line {line}:" in text(app, "#problems")


async def test_a_valid_draft_goes_live(make_console: Build) -> None:
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await open_welcome(pilot)
        running = app.workspace.engine.versions["welcome"]
        path = Path(running.file)
        edited = read(path).replace("Getting started in 3 steps", "Three steps to start")
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one(YamlArea).load_text(edited)
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = of(messages, DraftSaved)
        live = app.workspace.engine.versions["welcome"]
        assert [m.version for m in saved] == [live.hash]
        assert live.hash != running.hash
        assert read(path) == edited


async def test_send_test_goes_through_the_console_mailer(make_console: Build) -> None:
    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await open_welcome(pilot)
        await pilot.press("t")
        await pilot.pause()
        await pilot.press(*"u-1001", "enter", *"qa@example.com", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        mailer: Any = app.mailer
        assert [r.recipients for r in mailer.records] == [("qa@example.com",)]


async def test_a_simulation_runs_to_the_end_and_reports(make_console: Build) -> None:
    from app.ui.screens.simulate import SimulateScreen, SimulationFinished

    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await open_simulator(pilot)
        assert isinstance(app.screen, SimulateScreen)
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        finished = of(messages, SimulationFinished)
        assert len(finished) == 1 and finished[0].comparison is None
        funnel = finished[0].report.campaigns[0]
        # One engine, two clocks: replaying the recorded week enters the same people
        # the live engine entered (every welcome journey began inside that week).
        assert (
            funnel.entered == app.workspace.store.journeys.campaign_counts()["welcome"]["entered"]
        )
        table = app.screen.query_one("#sim-funnel", DataTable)
        # A row per step, and a row per way out of a step that has several.
        assert table.row_count == len(funnel.steps) + sum(len(s.paths) for s in funnel.steps)
        assert f"{funnel.entered:,} entered" in text(app, "#status")


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
        await open_simulator(pilot)
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(of(messages, SimulationStopped)) == 1
        assert of(messages, SimulationFinished) == []
        assert "cancelled" in text(app, "#status")


async def test_a_draft_is_simulated_against_the_running_version(make_console: Build) -> None:
    from app.ui.screens.simulate import SimulationFinished

    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await open_welcome(pilot)
        await pilot.press("e")
        await pilot.pause()
        area = app.screen.query_one(YamlArea)
        area.load_text(area.text.replace("max_time: 36h", "max_time: 12h"))
        await pilot.press("ctrl+r")  # one key: the simulator opens and runs the draft
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        comparison = of(messages, SimulationFinished)[0].comparison
        assert comparison is not None
        # A shorter wait can only send the guide to more people, never fewer.
        base = {s.id: s.reached for s in comparison.base.campaigns[0].steps}
        other = {s.id: s.reached for s in comparison.other.campaigns[0].steps}
        assert other["guide"] >= base["guide"]
        assert "Compared with the running version" in text(app, "#report")


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
        while not of(messages, SchedulerTicked):
            await pilot.pause(0.1)
        assert of(messages, SchedulerTicked)[0].report.holder is False
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
        while not of(messages, SchedulerTicked):
            await pilot.pause(0.1)
        report = of(messages, SchedulerTicked)[0].report
        assert report.holder is True
        assert report.sending.sent == 1
        assert len(mailer.sent) == 1
        assert app.scheduler_line.startswith("sending")


async def test_ctrl_r_in_the_editor_runs_the_draft_and_shows_its_problems(
    make_console: Build,
) -> None:
    from app.ui.screens.simulate import SimulateScreen, SimulationFailed

    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await open_welcome(pilot)
        await pilot.press("e")
        await pilot.pause()
        area = app.screen.query_one(YamlArea)
        area.load_text("bogus_key: 1\n" + area.text)
        await pilot.press("ctrl+r")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SimulateScreen)
        failed = of(messages, SimulationFailed)
        assert len(failed) == 1
        # The draft's problem with its line (the line added above is line 1).
        assert "1: bogus_key" in failed[0].text
        assert not screen.running
        assert text(app, "#status").startswith("failed: ")
        assert "bogus_key" in text(app, "#status")
        assert "bogus_key" in text(app, "#report")
        assert not screen.query_one(ProgressBar).visible
        assert "bogus_key" in of(messages, OperatorError)[0].text
        # Not stuck: the operator can run again (and gets the same answer).
        await pilot.press("ctrl+r")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(of(messages, SimulationFailed)) == 2


async def test_any_failure_of_a_simulation_ends_the_run_and_is_shown(
    make_console: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.ui.screens.simulate as simulate_screen
    from app.ui.screens.simulate import SimulateScreen, SimulationFailed

    def broken(request: Any, *, progress: Any, cancel: Any) -> Any:
        progress(50, 100)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(simulate_screen, "simulate", broken)
    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=messages.append) as pilot:
        await open_simulator(pilot)
        screen = app.screen
        assert isinstance(screen, SimulateScreen)
        # Idle: no bar pretending to work.
        assert not screen.query_one(ProgressBar).visible
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [m.text for m in of(messages, SimulationFailed)] == [
            "unexpected RuntimeError: disk on fire"
        ]
        assert not screen.running
        assert not screen.query_one(ProgressBar).visible
        assert text(app, "#status") == "failed: unexpected RuntimeError: disk on fire"


async def test_simulated_paths_get_rows_of_their_own_at_80_columns(make_console: Build) -> None:
    from app.ui.screens.simulate import SimulationFinished

    app = make_console()
    messages: list[Message] = []
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await open_simulator(pilot)
        await pilot.press("ctrl+r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        funnel = of(messages, SimulationFinished)[0].report.campaigns[0]
        table = app.screen.query_one("#sim-funnel", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        with_paths = [s for s in funnel.steps if s.paths]
        assert with_paths, "the welcome campaign has a branch"
        for step in with_paths:
            at = next(i for i, r in enumerate(rows) if r[0].endswith(step.id))
            shown = {r[0].split("↳ ")[1]: r[1] for r in rows[at + 1 : at + 1 + len(step.paths)]}
            assert shown == {name: f"{n:,}" for name, n in step.paths.items()}
        # Every column fits in 80 cells, so no count is cut at the edge.
        widths = sum(c.get_render_width(table) for c in table.ordered_columns)
        assert widths <= 80


async def test_the_top_bar_shows_the_app_note(console_settings: Any) -> None:
    from app.core.clock import FixedClock
    from app.service.showcase import SHOWCASE_NOW_MS
    from app.ui.app import make_app

    finished = [False]
    app = make_app(
        console_settings,
        FixedClock(SHOWCASE_NOW_MS),
        run_scheduler=False,
        notes=lambda: "demo feed finished" if finished[0] else "",
    )
    async with app.run_test(size=SIZE) as pilot:
        top = app.screen.query_one("TopBar", Static)
        assert "demo feed" not in str(top.render())
        finished[0] = True
        top.update_line()  # what its one-second timer does
        app.poll_live()  # and the app's half-second poll
        await pilot.pause()
        assert " UTC · demo feed finished · scheduler off" in str(top.render())
        assert [n.message for n in app._notifications] == ["demo feed finished"]
        app.poll_live()  # said once
        assert len(app._notifications) == 1


async def test_relative_times_follow_the_clock(make_console: Build) -> None:
    from app.core.times import DAY_MS
    from app.ui.format import ago
    from app.ui.widgets.paged_table import PagedTable

    app = make_console()
    async with app.run_test(size=SIZE) as pilot:
        await open_welcome(pilot)
        table = app.screen.query_one("#journeys", PagedTable)
        assert table.row_count > 0
        key = str(table.coordinate_to_cell_key((0, 0)).row_key.value)
        journey = app.workspace.store.journeys.get(int(key))
        assert journey is not None
        entered = journey.entered_at

        def shown() -> str:
            return str(table.get_row(key)[4])

        assert shown().endswith(f"({ago(entered, app.clock.now_ms())})")
        # Three days later on the app's clock, the same row says so (no reload).
        app.clock.advance(3 * DAY_MS)  # type: ignore[attr-defined]
        table.refresh_ages()  # what its one-second timer does
        await pilot.pause()
        later = ago(entered, app.clock.now_ms())
        assert later.endswith("d ago") and shown().endswith(f"({later})")


async def test_simulate_reads_a_time_without_zone_in_the_workspace_zone(
    make_console: Build,
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from textual.widgets import Input

    from app.core.errors import NudgeError
    from app.ui.screens.simulate import SimulateScreen

    app = make_console()
    app.settings.timezone = "America/New_York"
    async with app.run_test(size=SIZE) as pilot:
        await open_simulator(pilot)
        screen = app.screen
        assert isinstance(screen, SimulateScreen)
        screen.query_one("#from", Input).value = "2026-10-08T12:00"
        screen.query_one("#to", Input).value = "2026-10-15"
        run, base = screen.request()
        new_york = ZoneInfo("America/New_York")
        # Noon in New York on 8 October 2026 (EDT, UTC-4) is 16:00 UTC; a bare date is
        # midnight there (04:00 UTC).
        expected_from = datetime(2026, 10, 8, 16, 0, tzinfo=ZoneInfo("UTC"))
        assert expected_from == datetime(2026, 10, 8, 12, 0, tzinfo=new_york)
        source = run.source
        assert source.from_ms == int(expected_from.timestamp() * 1000)  # type: ignore[union-attr]
        expected_to = datetime(2026, 10, 15, 4, 0, tzinfo=ZoneInfo("UTC"))
        assert source.to_ms == int(expected_to.timestamp() * 1000)  # type: ignore[union-attr]
        assert base is None
        # A reversed range is refused with a line that names both ends.
        screen.query_one("#from", Input).value = "2026-10-15"
        screen.query_one("#to", Input).value = "2026-10-08"
        with pytest.raises(NudgeError, match="must be after"):
            screen.request()
