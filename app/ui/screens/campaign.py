"""One campaign: what it is, its funnel (steps and branches with counts, as bars), its
latest journeys, and the operator's actions: activate / pause / resume (confirmed),
edit, simulate, send a test."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from app.service.campaign_edit import ACTIONS, apply_action
from app.service.funnels import Funnel, campaign_funnel, recent_journeys
from app.service.live import person_labels
from app.ui.format import cut, short
from app.ui.messages import CampaignStateChanged
from app.ui.modals.confirm import ConfirmModal
from app.ui.modals.send_test import SendTestModal, TestSend
from app.ui.refresh import PacedRefresh
from app.ui.screens.base import NudgeScreen
from app.ui.widgets.funnel import FunnelTable
from app.ui.widgets.paged_table import Ago, PagedTable, Row

JOURNEYS = 50
_QUESTIONS = {
    "activate": "Activate {cid}? It starts entering people on its trigger now.",
    "pause": "Pause {cid}? Nobody new enters; people in it wait at their step until resumed.",
    "resume": "Resume {cid}? People in it carry on from their step; new people enter again.",
}


class CampaignScreen(NudgeScreen):
    """A campaign's funnel and actions.

    Args:
        campaign_id: the campaign.
    """

    TITLE = "Campaign"
    AUTO_FOCUS = "#funnel"
    CSS_PATH = "campaign.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "state('activate')", "Activate"),
        Binding("p", "state('pause')", "Pause"),
        Binding("r", "state('resume')", "Resume"),
        Binding("e", "edit", "Edit"),
        Binding("s", "simulate", "Simulate"),
        Binding("t", "send_test", "Send test"),
    ]

    def __init__(self, campaign_id: str) -> None:
        super().__init__()
        self.campaign_id = campaign_id
        self.funnel: Funnel | None = None

    def body(self) -> ComposeResult:
        yield Static("", id="summary")
        yield FunnelTable(id="funnel")
        yield Static("Latest journeys", classes="section")
        yield PagedTable(
            self.load_journeys, ("journey", "person", "state", "step", "entered"), id="journeys"
        )

    def on_mount(self) -> None:
        self.load()
        self.query_one(FunnelTable).focus()
        self.pacer = PacedRefresh(self.load_funnel)
        self.nudge.live_changed.subscribe(self, self.pacer.mark_stale)
        self.set_interval(0.5, self.pacer.tick)

    def on_screen_resume(self) -> None:
        self.load()

    def load(self) -> None:
        """Read the funnel and the first page of journeys again."""
        if self.load_funnel():
            self.query_one(PagedTable).reload()

    def load_funnel(self) -> bool:
        """Read the funnel and counts again (the journeys list keeps its place)."""
        self.funnel = self.attempt(campaign_funnel, self.workspace, self.campaign_id)
        if self.funnel is None:
            return False
        r = self.funnel.report
        row = r.row
        self.query_one("#summary", Static).update(
            f"[b]{r.row.id}[/b] · {row.state} · {row.name}\n"
            f"trigger: {r.trigger} · goal: {r.goal or 'none'} · exit: {r.exit}\n"
            f"{row.entered:,} entered · {row.active:,} in flight · {row.converted:,} converted"
            f" · {row.completed:,} completed · {row.exited:,} exited · version {r.version[:8]}"
        )
        self.query_one(FunnelTable).show(self.funnel)
        self.refresh_bindings()
        return True

    def load_journeys(self, before: Any) -> tuple[list[Row], Any]:
        found = (
            self.attempt(recent_journeys, self.workspace, self.campaign_id, JOURNEYS, before) or []
        )
        labels = self.attempt(person_labels, self.workspace.store, (j.person_id for j in found))
        zone = self.nudge.settings.zone
        rows: list[Row] = [
            (
                str(j.id),
                (
                    j.id,
                    cut((labels or {}).get(j.person_id, f"#{j.person_id}"), 20),
                    j.state + (" ✓" if j.converted_at else ""),
                    j.step_id or j.exit_reason or "-",
                    Ago(j.entered_at, f"{short(j.entered_at, zone)} (", ")"),
                ),
            )
            for j in found
        ]
        return rows, (found[-1].id if len(found) == JOURNEYS else None)

    # -- actions -------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "state" and self.funnel is not None:
            return self.funnel.report.row.state in ACTIONS[str(parameters[0])][1]
        return True

    def action_state(self, action: str) -> None:
        """Ask, then activate, pause or resume."""

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            version = self.attempt(apply_action, self.workspace, self.campaign_id, action)
            if version is not None:
                state = version.campaign.state
                self.post_message(CampaignStateChanged(self.campaign_id, state))
                self.notify(f"{self.campaign_id} is {state}")
                self.load()

        question = _QUESTIONS[action].format(cid=self.campaign_id)
        self.app.push_screen(ConfirmModal(question, action.capitalize()), answered)

    def action_edit(self) -> None:
        from app.ui.screens.editor import EditorScreen

        self.app.push_screen(EditorScreen(self.campaign_id))

    def action_simulate(self) -> None:
        try:
            from app.ui.screens.simulate import SimulateScreen
        except ImportError:
            self.nudge.show_error("simulation is not available in this build")
            return
        self.app.push_screen(SimulateScreen(self.campaign_id))

    def action_send_test(self) -> None:
        version = self.workspace.engine.versions.get(self.campaign_id)
        steps = [p.step.id for p in version.places.values() if p.step.send] if version else []
        if not steps:
            self.nudge.show_error(f"{self.campaign_id} has no send step")
            return

        def answered(request: TestSend | None) -> None:
            if request is not None:
                self.send_test(request)

        self.app.push_screen(SendTestModal(steps), answered)

    @work(exclusive=True, group="send-test", exit_on_error=False)
    async def send_test(self, request: TestSend) -> None:
        """Render and send the step now, marked as a test."""
        from app.service.deliveries import send_test

        delivery, _ = await send_test(
            self.nudge.outbox(),
            self.campaign_id,
            request.step,
            request.person,
            self.now,
            request.to,
        )
        self.notify(
            f"test delivery {delivery.id}: {delivery.state} to "
            f"{delivery.to_address or '(no address)'}"
            + (f" ({delivery.reason})" if delivery.reason else "")
        )
