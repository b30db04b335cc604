"""The console app: modes, the long-lived workers (hot reload, live poll; the scheduler
is in `scheduling.py`) and the one error handler. Screens own their handlers; this stays
thin (STYLE.md 2, 5).

Threading: the workspace (its SQLite connection above all) belongs to the interface
thread. The scheduler is async and runs as an App worker on that same thread; the live
poll is a timer there too. Only work with its own connections (the event catalogue, a
simulation) runs in thread workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from textual import work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from app.config import Settings
from app.core.clock import Clock, SystemClock
from app.core.errors import NudgeError
from app.delivery.mailer import Mailer
from app.service.live import last_activity_id, last_seq
from app.service.workspace import Workspace, open_workspace
from app.ui.messages import DefinitionsReloaded, LiveDataChanged, OperatorError
from app.ui.scheduling import SchedulingApp
from app.ui.screens.campaigns import CampaignsScreen
from app.ui.screens.deliveries import DeliveriesScreen
from app.ui.screens.events import EventsScreen
from app.ui.screens.live import LiveScreen
from app.ui.screens.people import PeopleScreen
from app.ui.screens.segments import SegmentsScreen

T = TypeVar("T")

#: mode name -> (key, footer label, screen)
MODE_KEYS: dict[str, tuple[str, str, type[Screen[Any]]]] = {
    "live": ("1", "Live", LiveScreen),
    "people": ("2", "People", PeopleScreen),
    "segments": ("3", "Segments", SegmentsScreen),
    "campaigns": ("4", "Campaigns", CampaignsScreen),
    "deliveries": ("5", "Deliveries", DeliveriesScreen),
    "events": ("6", "Events", EventsScreen),
}


class NudgeApp(SchedulingApp):
    """The operator console over one workspace.

    Args:
        workspace: opened on this (the interface) thread.
        clock: the time the console shows and the scheduler acts at.
        run_scheduler: run the scheduler (when it can take the lease) and hot reload.
        mailer: where the scheduler sends; None: SMTP from the settings.
        notes: what the top bar adds at its end (read each second; "" adds nothing),
            e.g. the demo's "demo feed finished".
    """

    TITLE = "Nudge"
    CSS_PATH = "app.tcss"
    MODES = {name: screen for name, (_, _, screen) in MODE_KEYS.items()}
    DEFAULT_MODE = "live"
    BINDINGS = [
        *(
            Binding(key, f"switch_mode('{name}')", label)
            for name, (key, label, _) in MODE_KEYS.items()
        ),
        Binding("plus", "faster", "Faster"),
        Binding("minus", "slower", "Slower"),
        Binding("q", "quit", "Quit", show=False),
    ]

    def __init__(
        self,
        workspace: Workspace,
        clock: Clock,
        *,
        run_scheduler: bool = True,
        mailer: Mailer | None = None,
        notes: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(run_scheduler)
        self.notes = notes or (lambda: "")
        self._note = ""
        self.workspace = workspace
        self.settings = workspace.settings
        self.clock = clock
        self.run_scheduler = run_scheduler
        self.mailer = mailer
        self._seen = (-1, -1)
        self._thread_stop = threading.Event()
        #: Published on every `LiveDataChanged`; screens that show live data subscribe.
        self.live_changed: Signal[LiveDataChanged] = Signal(self, "live-changed")

    # -- lifecycle -------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_interval(0.5, self.poll_live)
        if self.run_scheduler:
            self.scheduler_worker()
            self.watch_definitions()

    def on_unmount(self) -> None:
        self.stop_scheduler()
        self._thread_stop.set()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for name, (key, label, _) in MODE_KEYS.items():
            yield SystemCommand(
                f"Mode: {label}", f"Open {label} (key {key})", lambda n=name: self.switch_mode(n)
            )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("faster", "slower"):
            return callable(getattr(self.clock, action, None))
        return True

    def action_faster(self) -> None:
        """Speed the accelerated clock up (only shown when the clock can)."""
        getattr(self.clock, "faster")()  # noqa: B009 (duck-typed AcceleratedClock)

    def action_slower(self) -> None:
        """Slow the accelerated clock down."""
        getattr(self.clock, "slower")()  # noqa: B009

    # -- the live poll ---------------------------------------------------------------------

    def poll_live(self) -> None:
        """Look for events and decisions stored since the last look (any process)."""
        note = self.notes()
        if note and note != self._note:
            # Said once as it appears (the top bar keeps it, but may be cut at 80 columns).
            self.notify(note, title="Nudge", timeout=15)
        self._note = note
        store = self.workspace.store
        seen = (last_seq(store), last_activity_id(store))
        if seen != self._seen:
            self._seen = seen
            self.post_message(LiveDataChanged(*seen))

    def on_live_data_changed(self, message: LiveDataChanged) -> None:
        """Hand the change to the screens that show live data (a signal per app)."""
        self.live_changed.publish(message)

    # -- hot reload (the scheduler is in `SchedulingApp`) ---------------------------------

    @work(thread=True, exclusive=True, group="reload", exit_on_error=False)
    def watch_definitions(self) -> None:
        """Watch the campaigns folder (this thread touches no store) and reload on the
        interface thread, which owns the workspace."""
        from app.service.reload import DefinitionsWatcher

        watcher = DefinitionsWatcher(self.workspace)
        for _paths in watcher.changes(self._thread_stop):
            self.call_from_thread(self.reload_definitions)

    def reload_definitions(self) -> None:
        """Read the campaigns folder again; swap only when it validates."""
        errors = self.attempt(self.workspace.reload)
        if errors is None:
            return
        self.post_message(DefinitionsReloaded(errors))
        if errors:
            self.notify(
                "\n".join(str(e) for e in errors[:3]),
                title="Reload kept the running campaigns",
                severity="warning",
            )

    # -- errors ------------------------------------------------------------------------------

    def attempt(self, action: Callable[..., T], *args: Any) -> T | None:
        """Run `action`; show a failure to the operator (never end the console).

        Returns:
            The result, or None when it failed.
        """
        try:
            return action(*args)
        except NudgeError as exc:
            self.show_error(exc.message)
        except Exception as exc:  # the console never dies on bad data
            self.show_error(f"unexpected {type(exc).__name__}: {exc}")
        return None

    def show_error(self, text: str) -> None:
        """Tell the operator (a notification) and record it (a message tests can see)."""
        self.notify(text, title="Problem", severity="error", timeout=8)
        self.post_message(OperatorError(text))

    def report_worker(self, event: Worker.StateChanged) -> None:
        """The one handler for worker failures, wherever the worker ran."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            text = error.message if isinstance(error, NudgeError) else f"{error}"
            if not isinstance(error, NudgeError):
                text = f"{event.worker.name or 'work'} failed: {type(error).__name__}: {text}"
            self.show_error(text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.report_worker(event)


def make_app(
    settings: Settings,
    clock: Clock | None = None,
    *,
    run_scheduler: bool = True,
    mailer: Mailer | None = None,
    notes: Callable[[], str] | None = None,
) -> NudgeApp:
    """The console over the workspace `settings` names (the one factory the CLI, the
    demo, the tests and the screenshots use).

    Args:
        settings: database, campaigns folder, SMTP, scheduler interval.
        clock: the console's time (default: the system clock). One with a `rate` and
            `faster()` / `slower()` (an accelerated clock) gets `+` / `-` keys.
        run_scheduler: run the scheduler and hot reload in the console.
        mailer: where the scheduler sends; None: SMTP from `settings`.
        notes: a note for the end of the top bar (see `NudgeApp`).

    Raises:
        ConfigError: when the database cannot be opened or the campaigns folder is missing.
    """
    clock = clock or SystemClock()
    workspace = open_workspace(settings, clock)
    return NudgeApp(workspace, clock, run_scheduler=run_scheduler, mailer=mailer, notes=notes)
