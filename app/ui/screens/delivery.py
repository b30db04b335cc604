"""One delivery: headers, the text part and the HTML part as sent; r queues it again."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from app.core.models import Delivery
from app.service.deliveries import RETRYABLE, get_delivery, retry_delivery
from app.service.delivery_views import headers_of
from app.ui.messages import DeliveryRetried
from app.ui.screens.base import NudgeScreen


class DeliveryScreen(NudgeScreen):
    """A message as sent (or as it waits).

    Args:
        delivery_id: the delivery's row id.
    """

    TITLE = "Delivery"
    CSS_PATH = "delivery.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "retry", "Retry"),
    ]

    def __init__(self, delivery_id: int) -> None:
        super().__init__()
        self.delivery_id = delivery_id
        self.delivery: Delivery | None = None

    def body(self) -> ComposeResult:
        with VerticalScroll(id="message"):
            yield Static("", id="headers", markup=False)
            yield Static("Text part", classes="section")
            yield Static("", id="text-part", markup=False)
            yield Static("HTML part", classes="section")
            yield Static("", id="html-part", markup=False)

    def on_mount(self) -> None:
        self.load()
        self.query_one("#message").focus()

    def load(self) -> None:
        self.delivery = self.attempt(get_delivery, self.workspace.store, str(self.delivery_id))
        if self.delivery is None:
            return
        d = self.delivery
        self.query_one("#headers", Static).update(
            "\n".join(f"{name + ':':<12} {value}" for name, value in headers_of(d))
        )
        self.query_one("#text-part", Static).update(d.rendered_text or "(not rendered yet)")
        self.query_one("#html-part", Static).update(d.rendered_html or "(not rendered yet)")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry":
            return self.delivery is not None and self.delivery.state in RETRYABLE
        return True

    def action_retry(self) -> None:
        """Queue it again (failed, bounced, undeliverable, limited or suppressed ones)."""
        done = self.attempt(retry_delivery, self.workspace.store, str(self.delivery_id), self.now)
        if done is not None:
            self.post_message(DeliveryRetried(done.id))
            self.notify(f"delivery {done.id} queued again")
            self.load()
            self.refresh_bindings()
