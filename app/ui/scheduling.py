"""The console's scheduler and its one outbox, as an App worker (STYLE.md 5, 6): the
scheduler runs async on the interface thread, which owns the workspace, and each tick's
report comes back as `SchedulerTicked` for the top bar."""

from __future__ import annotations

import asyncio

from textual import work
from textual.app import App

from app.config import Settings
from app.core.clock import Clock
from app.delivery.mailer import Mailer
from app.service.outbox import Outbox
from app.service.scheduler import Scheduler, TickReport
from app.service.workspace import Workspace
from app.ui.messages import SchedulerTicked
from app.ui.widgets.topbar import TopBar


class SchedulingApp(App[None]):
    """The part of the console App that sends: `scheduler_worker` ticks until the App
    stops, `outbox()` is shared with test sends, `scheduler_line` is what the top bar says.

    Subclasses set `workspace`, `settings`, `clock` and `mailer` before mounting.

    Args:
        run_scheduler: whether the scheduler will run (the top bar's first words).
    """

    workspace: Workspace
    settings: Settings
    clock: Clock
    mailer: Mailer | None

    def __init__(self, run_scheduler: bool) -> None:
        super().__init__()
        self.scheduler_line = "scheduler off" if not run_scheduler else "scheduler starting"
        self.last_tick: TickReport | None = None
        self.scheduler: Scheduler | None = None
        self._outbox: Outbox | None = None
        self._stop = asyncio.Event()

    def stop_scheduler(self) -> None:
        """Ask the scheduler worker to end after its current tick."""
        self._stop.set()

    def outbox(self) -> Outbox:
        """The one outbox (and mailer) of this console: the scheduler and test sends."""
        if self._outbox is None:
            if self.mailer is None:
                from app.delivery import SmtpMailer

                self.mailer = SmtpMailer(self.settings.smtp)
            ws = self.workspace
            self._outbox = Outbox(ws.store, ws.engine, self.settings, self.mailer)
        return self._outbox

    @work(exclusive=True, group="scheduler", exit_on_error=False)
    async def scheduler_worker(self) -> None:
        """Tick the scheduler until the console stops (it sends only while it holds the
        lease; otherwise the top bar names the holder)."""
        outbox = self.outbox()
        scheduler = self.scheduler = Scheduler(
            self.workspace,
            outbox,
            self.clock,
            concurrency=self.settings.smtp.pool_size,
            lease_ms=int(self.settings.lease_seconds * 1000),
        )
        try:
            await scheduler.run(
                self._stop,
                self.settings.scheduler_interval_seconds,
                on_tick=self._tick_done,
            )
        finally:
            await outbox.mailer.close()

    def _tick_done(self, report: TickReport) -> None:
        self.post_message(SchedulerTicked(report))

    def on_scheduler_ticked(self, message: SchedulerTicked) -> None:
        report = message.report
        self.last_tick = report
        if report.holder:
            self.scheduler_line = f"sending (sent {report.sending.sent} last tick)"
        else:
            info = self.workspace.store.lease.info()
            self.scheduler_line = f"lease held by {info[0] if info else '?'}"
        for bar in self.screen.query(TopBar):
            bar.update_line()
        for error in report.errors:
            self.notify(error, title="Scheduler", severity="error")
