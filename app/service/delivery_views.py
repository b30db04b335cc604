"""The outbox as the console lists it: by state, with filters, latest first, a page at a
time; and one delivery's headers and both parts as sent."""

from __future__ import annotations

from app.core.models import Delivery
from app.core.times import format_instant
from app.store import Store

#: Every delivery state, in the order a delivery can pass through them.
STATES = (
    "queued",
    "sending",
    "sent",
    "failed",
    "bounced",
    "suppressed",
    "limited",
    "undeliverable",
)


def deliveries_page(
    store: Store,
    limit: int = 100,
    before_id: int | None = None,
    state: str | None = None,
    campaign: str | None = None,
) -> list[Delivery]:
    """Deliveries, latest first, below `before_id` (keyset paging), optionally of one
    state and one campaign."""
    return store.live.deliveries_page(limit, before_id, state, campaign)


def state_counts(store: Store, campaign: str | None = None) -> dict[str, int]:
    """Deliveries per state, every state listed (0 when none); test sends left out.

    Args:
        store: the workspace's store.
        campaign: count only this campaign's deliveries (None: all).
    """
    found = store.live.delivery_state_counts(campaign)
    return {s: found.get(s, 0) for s in STATES}


def headers_of(d: Delivery) -> list[tuple[str, str]]:
    """(name, value) lines describing a delivery as sent (or as it waits)."""
    rows = [
        ("Delivery", f"{d.id} {d.key}{' (test)' if d.test else ''}"),
        ("State", d.state + (f" ({d.reason})" if d.reason else "")),
        ("Attempts", str(d.attempts)),
        ("SMTP", d.smtp_response or "-"),
        ("Message-ID", d.message_id or "-"),
        ("From", d.from_address or "-"),
        ("To", d.to_address or "-"),
        ("Reply-To", d.reply_to or "-"),
        ("Subject", d.rendered_subject or d.subject),
        ("Queued", format_instant(d.created_at)),
        ("Sent", format_instant(d.sent_at) if d.sent_at else "-"),
    ]
    if d.state in ("queued", "limited") and d.next_attempt_at is not None:
        rows.insert(4, ("Next try", format_instant(d.next_attempt_at)))
    return rows
