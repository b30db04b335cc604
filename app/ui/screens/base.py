"""What every console screen shares: typed access to the app and its workspace, the top
bar and footer, and routing of worker errors to the app's one handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker

from app.service.workspace import Workspace
from app.ui.widgets.topbar import TopBar

if TYPE_CHECKING:
    from app.ui.app import NudgeApp

T = TypeVar("T")


class NudgeScreen(Screen[None]):
    """A console screen. Subclasses set `TITLE` and compose their body in `body()`."""

    TITLE = ""

    @property
    def nudge(self) -> NudgeApp:
        """The console app."""
        return self.app  # type: ignore[return-value]

    @property
    def workspace(self) -> Workspace:
        """The workspace (owned by the interface thread)."""
        return self.nudge.workspace

    @property
    def now(self) -> int:
        """The clock's time, ms UTC."""
        return self.nudge.clock.now_ms()

    def compose(self) -> ComposeResult:
        yield TopBar(self.TITLE)
        yield from self.body()
        yield Footer(compact=True)

    def body(self) -> ComposeResult:
        """The screen's own widgets."""
        yield from ()

    def attempt(self, action: Callable[..., T], *args: Any) -> T | None:
        """Run a use case; a failure is shown to the operator instead of ending the console.

        Returns:
            The result, or None when it failed.
        """
        return self.nudge.attempt(action, *args)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        self.nudge.report_worker(event)
