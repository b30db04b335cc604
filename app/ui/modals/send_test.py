"""Ask which step to send as a test, to whom, and (optionally) to which address."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static


@dataclass(frozen=True, slots=True)
class TestSend:
    """What the operator asked for: a step, a person (id, email or #row), an address."""

    step: str
    person: str
    to: str | None


class SendTestModal(ModalScreen[TestSend | None]):
    """Step, person and address; Enter in the last field sends, Escape cancels.

    Args:
        steps: the campaign's send steps (ids).
    """

    DEFAULT_CSS = """
    SendTestModal {
        align: center middle;
    }
    SendTestModal > Vertical {
        width: 64;
        max-width: 95%;
        height: auto;
        border: thick $accent;
        background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, steps: list[str]) -> None:
        super().__init__()
        self.steps = steps

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Send a test of a step (rendered with the person's data)")
            yield Select(
                [(s, s) for s in self.steps], value=self.steps[0], id="step", allow_blank=False
            )
            yield Input(placeholder="person: id, email or #row", id="person")
            yield Input(placeholder="send to (empty: the person's address)", id="to")

    def on_mount(self) -> None:
        self.query_one("#person", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        person = self.query_one("#person", Input).value.strip()
        if event.input.id == "person" and person:
            self.query_one("#to", Input).focus()
            return
        if not person:
            self.notify("name a person", severity="warning")
            return
        step = self.query_one("#step", Select).value
        to = self.query_one("#to", Input).value.strip() or None
        self.dismiss(TestSend(str(step), person, to))

    def action_cancel(self) -> None:
        self.dismiss(None)
