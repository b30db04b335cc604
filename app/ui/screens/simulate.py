"""Simulate a campaign: replay a time range of recorded events (or a JSONL log) through
it with the production engine on a virtual clock (`app.service.simulate`), with progress
and cancel; show the funnel, paths, messages and a person's simulated timeline, and for
a draft, the comparison against the running version.

The simulation runs in a worker thread with its own connections (the live database is
only read); progress messages replace each other in the queue, so a fast replay cannot
flood the interface.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, ProgressBar, Static

from app.core.errors import NudgeError
from app.core.times import DAY_MS, format_instant, parse_instant
from app.service.simulate import (
    CampaignSource,
    Comparison,
    LiveHistory,
    LogFiles,
    SimulationCancelled,
    SimulationReport,
    SimulationRequest,
    compare,
    render_comparison_text,
    render_report_text,
    simulate,
)
from app.ui.screens.base import NudgeScreen
from app.ui.widgets.funnel import bar

#: The default range: the week of recorded events before now.
DEFAULT_RANGE_MS = 7 * DAY_MS


class SimulationProgressed(Message):
    """How far the replay is; a newer one replaces an unhandled older one."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done = done
        self.total = total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SimulationProgressed)


@dataclass
class SimulationFinished(Message):
    """A simulation (or a comparison, for a draft) ran to the end; `text` is the report
    as text (written in the worker, so a failure there is reported like any other)."""

    report: SimulationReport
    comparison: Comparison | None
    text: str = ""


class SimulationStopped(Message):
    """The operator cancelled the simulation; nothing was kept."""


@dataclass
class SimulationFailed(Message):
    """The simulation could not run (a draft with problems, a bad log file, a failure):
    `text` is what the operator reads, one problem (`file:line: reason`) per line."""

    text: str


class SimulateScreen(NudgeScreen):
    """The simulator for one campaign.

    Args:
        campaign_id: the campaign (its saved file is simulated).
        draft: unsaved text to simulate instead, compared against the saved version.
        run_now: start the simulation as the screen opens (the editor's ctrl+r).
    """

    TITLE = "Simulate"
    CSS_PATH = "simulate.tcss"
    # Below 100 columns the four inputs take two rows, so a whole instant stays visible.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    AUTO_FOCUS = "#from"
    BINDINGS = [
        Binding("ctrl+r", "run", "Run", priority=True),
        Binding("ctrl+x", "cancel", "Cancel run", priority=True),
        Binding("escape", "back", "Back"),
    ]

    def __init__(
        self, campaign_id: str, draft: str | None = None, *, run_now: bool = False
    ) -> None:
        super().__init__()
        self.campaign_id = campaign_id
        self.draft = draft
        self.run_now = run_now
        self.cancel_event = threading.Event()
        self.running = False
        self.report: SimulationReport | None = None
        self.comparison: Comparison | None = None

    def body(self) -> ComposeResult:
        now = self.now
        what = "draft vs running version" if self.draft is not None else "saved version"
        yield Static(f"Simulate {self.campaign_id} ({what})", classes="section")
        with Horizontal(id="form"):
            yield Input(format_instant(now - DEFAULT_RANGE_MS), id="from", compact=True)
            yield Input(format_instant(now), id="to", compact=True)
            yield Input(placeholder="or a JSONL log file", id="log", compact=True)
            yield Input(placeholder="person (optional)", id="person", compact=True)
        yield ProgressBar(id="progress", show_eta=False)
        yield Static("ctrl+r runs · ctrl+x cancels · Esc goes back", id="status")
        yield DataTable(id="sim-funnel", cursor_type="row")
        with VerticalScroll(id="report-box"):
            yield Static("", id="report", markup=False)

    def on_mount(self) -> None:
        self.query_one("#sim-funnel", DataTable).add_columns(
            "step / path", "reached", "", "sent", "waiting"
        )
        # Hidden until a run starts: an idle bar must not look busy (nor take the place).
        self.query_one(ProgressBar).visible = False
        if self.run_now:
            self.action_run()

    # -- running --------------------------------------------------------------------------

    def request(self) -> tuple[SimulationRequest, SimulationRequest | None]:
        """The request(s) the form describes: (the run, the base to compare with or None).

        Raises:
            NudgeError: for a bad time or a campaign that is not loaded.
        """
        values = {w.id: w.value.strip() for w in self.query(Input) if w.id}
        settings = self.nudge.settings
        version = self.workspace.engine.versions.get(self.campaign_id)
        if version is None:
            raise NudgeError(f"campaign {self.campaign_id} is not loaded")
        if values["log"]:
            source: LiveHistory | LogFiles = LogFiles((Path(values["log"]),))
        else:
            # A time without a zone is read in the workspace's zone, as `nudge simulate` does.
            zone = settings.zone
            start = parse_instant(values["from"], "from", zone) if values["from"] else None
            end = parse_instant(values["to"], "to", zone) if values["to"] else None
            if start is not None and end is not None and end <= start:
                raise NudgeError(f"'to' ({values['to']}) must be after 'from' ({values['from']})")
            source = LiveHistory(settings.database, start, end)
        person = values["person"] or None
        saved = CampaignSource(path=Path(version.file))
        if self.draft is None:
            return SimulationRequest((saved,), source, settings, person=person), None
        draft = CampaignSource(path=Path(version.file), text=self.draft, name="draft")
        return (
            SimulationRequest((draft,), source, settings, person=person),
            SimulationRequest((saved,), source, settings, person=person),
        )

    def action_run(self) -> None:
        """Start a simulation (one at a time)."""
        if self.running:
            return
        requests = self.attempt(self.request)
        if requests is None:
            return
        self.cancel_event = threading.Event()
        self.running = True
        self.query_one("#status", Static).update("simulating… (ctrl+x cancels)")
        self.query_one("#report", Static).update("")
        progress = self.query_one(ProgressBar)
        progress.update(total=None, progress=0)
        progress.visible = True
        self.run_simulation(*requests)

    @work(thread=True, exclusive=True, group="simulate", exit_on_error=False)
    def run_simulation(self, run: SimulationRequest, base: SimulationRequest | None) -> None:
        """In a worker thread: simulate (or compare), posting progress and the result."""
        last = [-1]

        def progress(done: int, total: int) -> None:
            # Coalesced twice: at most a hundred steps, and each replaces the last.
            step = done * 100 // total if total else 0
            if step != last[0]:
                last[0] = step
                self.post_message(SimulationProgressed(done, total))

        try:
            if base is None:
                report = simulate(run, progress=progress, cancel=self.cancel_event)
                text = render_report_text(report)
                self.post_message(SimulationFinished(report, None, text))
            else:
                comparison = compare(base, run, progress=progress, cancel=self.cancel_event)
                text = (
                    "Compared with the running version\n"
                    + render_comparison_text(comparison)
                    + "\n\n"
                    + render_report_text(comparison.other)
                )
                self.post_message(SimulationFinished(comparison.other, comparison, text))
        except SimulationCancelled:
            self.post_message(SimulationStopped())
        except NudgeError as exc:  # a draft with problems, a missing log file, ...
            self.post_message(SimulationFailed(exc.message))
        except Exception as exc:  # the console outlives any failure of a run
            self.post_message(SimulationFailed(f"unexpected {type(exc).__name__}: {exc}"))
        finally:
            self.running = False

    def action_cancel(self) -> None:
        """Stop the running simulation."""
        if self.running:
            self.cancel_event.set()
            self.query_one("#status", Static).update("cancelling…")

    def action_back(self) -> None:
        self.cancel_event.set()
        self.app.pop_screen()

    def on_simulation_progressed(self, message: SimulationProgressed) -> None:
        self.query_one(ProgressBar).update(total=message.total or None, progress=message.done)

    def on_simulation_stopped(self, message: SimulationStopped) -> None:
        self.running = False
        self.query_one(ProgressBar).visible = False
        self.query_one("#status", Static).update("cancelled: nothing was kept")

    def on_simulation_failed(self, message: SimulationFailed) -> None:
        """End the run's progress and show every problem (the report box keeps them all)."""
        self.running = False
        self.query_one(ProgressBar).visible = False
        text = self.relative(message.text)
        lines = text.splitlines() or [""]
        more = f" (+{len(lines) - 1} more below)" if len(lines) > 1 else ""
        self.query_one("#status", Static).update(f"failed: {lines[0]}{more}")
        self.query_one("#sim-funnel", DataTable).clear()
        self.query_one("#report", Static).update("Not simulated:\n" + text)
        self.nudge.show_error(text)

    def relative(self, text: str) -> str:
        """`text` with files named relative to the campaigns folder (shorter, and the
        same on any host)."""
        folder = str(self.nudge.settings.campaigns).rstrip("/") + "/"
        return text.replace(folder, "")

    # -- the report -----------------------------------------------------------------------------

    def on_simulation_finished(self, message: SimulationFinished) -> None:
        self.running = False
        self.report, self.comparison = message.report, message.comparison
        report = message.report
        bar_total = self.query_one(ProgressBar).total or 1
        self.query_one(ProgressBar).update(total=bar_total, progress=bar_total)
        funnel = report.campaigns[0] if report.campaigns else None
        if funnel is None:
            self.query_one("#status", Static).update("done: no campaign in the report")
            return
        self.query_one("#status", Static).update(
            f"done: {report.operations:,} operations · {funnel.entered:,} entered · "
            f"{funnel.converted:,} converted ({funnel.conversion_rate:.0%}) · "
            f"{funnel.messages:,} messages"
        )
        table = self.query_one("#sim-funnel", DataTable)
        table.clear()
        for step in funnel.steps:
            label = "│ " * step.depth + (f"[{step.branch}] " if step.branch else "") + step.id
            table.add_row(
                Text(label),  # not markup: "[then]" is the branch's name, not a style
                f"{step.reached:,}",
                bar(step.reached, funnel.entered, 16),
                f"{step.sent:,}" if step.kind == "send" else "",
                f"{step.waiting:,}" if step.waiting else "",
            )
            # Each way out of the step on a row of its own (as the live funnel draws
            # them): a single "paths" cell was cut at the edge of an 80-column screen.
            for name, count in step.paths.items():
                table.add_row(
                    Text("│ " * (step.depth + 1) + f"↳ {name}", style="italic"),
                    f"{count:,}",
                    bar(count, funnel.entered, 16),
                    "",
                    "",
                )
        self.query_one("#report", Static).update(self.relative(message.text))
