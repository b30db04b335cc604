"""The line at the top of every screen: workspace, mode, the clock's time (virtual when
the clock is), its rate when it can run faster, the scheduler's state and the app's note
(the demo's "demo feed finished")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from app.ui.format import when

if TYPE_CHECKING:
    from app.ui.app import NudgeApp


class TopBar(Static):
    """Refreshes itself once a second from the app's clock and scheduler state."""

    DEFAULT_CSS = """
    TopBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def __init__(self, title: str) -> None:
        super().__init__("", markup=False)
        self.title = title

    def on_mount(self) -> None:
        self.update_line()
        self.set_interval(1.0, self.update_line)

    def update_line(self) -> None:
        """Write the line again (cheap: no database access)."""
        app: NudgeApp = self.app  # type: ignore[assignment]
        now = app.clock.now_ms()
        rate = getattr(app.clock, "rate", None)
        pace = f" x{rate:g}" if isinstance(rate, int | float) and rate != 1 else ""
        note = f" · {app.notes()}" if app.notes() else ""
        # The note before the scheduler's state: a line too long is cut at the right.
        self.update(
            f"Nudge · {self.title} · {when(now, app.settings.zone)} {app.settings.timezone}{pace}"
            f"{note} · {app.scheduler_line}"
        )
