"""Domain records as the rest of Nudge sees them. Rows become these at the store's edge.

All times are int ms since the epoch, UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]


@dataclass(slots=True)
class Person:
    """Someone Nudge knows about.

    Attributes:
        id: internal row id (stable, never shown to a sender).
        external_id: the workspace's own id (Customer.io `id`, Segment `userId`), or None.
        email: the email address as last given, or None. Matched case-insensitively.
        attributes: current attributes (JSON values). `email` appears here too.
        attribute_times: per attribute, the time of the update that set (or removed) it;
            an update older than this is ignored for that attribute (Customer.io `_timestamp`).
        created_at: first seen: the earliest event attached to this person.
        updated_at: the latest attribute change.
        suppressed: blocked from receiving email (bounce, complaint).
        unsubscribed: asked not to receive campaign email.
    """

    id: int
    external_id: str | None
    email: str | None
    attributes: JsonDict = field(default_factory=dict)
    attribute_times: dict[str, int] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    suppressed: bool = False
    unsubscribed: bool = False

    @property
    def label(self) -> str:
        """The identifier an operator recognises: external id, else email, else `#<row id>`."""
        return self.external_id or self.email or f"#{self.id}"


@dataclass(slots=True)
class Event:
    """One recorded operation: a track, a page view, an identify, a delete, a merge...

    Attributes:
        seq: insertion order; ties in `timestamp` keep this order.
        person_id: internal id of the person, or None for an anonymous event.
        anonymous_id: the anonymous id it carried, if any.
        user_id: the external id the operation named, as given (None for anonymous ones).
        user_email: the email identifier the operation named, as given.
        type: identify, track, page, screen, delete, suppress, unsuppress or merge.
        name: event name (track), page name or URL (page), else None.
        properties: event properties; for identify, the traits as given.
        timestamp: when it happened.
        received_at: when Nudge stored it.
        dedupe_key: Customer.io `id` / Segment `messageId`, unique, or None.
    """

    seq: int
    person_id: int | None
    anonymous_id: str | None
    user_id: str | None
    user_email: str | None
    type: str
    name: str | None
    properties: JsonDict
    timestamp: int
    received_at: int
    dedupe_key: str | None


@dataclass(slots=True)
class ActivityEntry:
    """One engine or ingest decision (DESIGN.md invariant 5).

    Attributes:
        id: row id, in decision order.
        at: when the decision took effect.
        person_id: the person it concerns, if any (kept after the person is deleted).
        kind: what happened, e.g. `person.merged`, `segment.entered`, `journey.entered`.
        campaign: campaign id, if any.
        step: step id, if any.
        detail: free-form facts (reason, subject, identifiers).
    """

    id: int
    at: int
    person_id: int | None
    kind: str
    campaign: str | None
    step: str | None
    detail: JsonDict


@dataclass(slots=True)
class Journey:
    """One person's pass through one campaign (one per entry).

    Attributes:
        id: row id (0 until stored).
        campaign_id: the campaign.
        version: hash of the campaign version it runs.
        person_id: who.
        entry_key: the trigger key's value (e.g. a cart id), '' without a key.
        state: `active`, `completed` or `exited`.
        step_id: the step it is at (None once ended).
        entered_at: entry time.
        step_since: when it arrived at the current step.
        next_due_at: when the engine must look at it again; None waits for a change.
        trigger_event: `{"name", "timestamp", "properties"}` of the trigger event ({} else).
        time_window: a pending time window (step id) holding the next message, or None.
        path: the step ids (and path labels) taken so far.
        last_message_at: when the last message was queued.
        converted_at: when the goal converted (once per journey).
        ended_at: when it completed or exited.
        exit_reason: why it ended (`completed`, `converted`, `step_removed`, ...).
    """

    id: int
    campaign_id: str
    version: str
    person_id: int
    entry_key: str
    state: str
    step_id: str | None
    entered_at: int
    step_since: int
    next_due_at: int | None = None
    trigger_event: JsonDict = field(default_factory=dict)
    time_window: str | None = None
    path: list[str] = field(default_factory=list)
    last_message_at: int | None = None
    converted_at: int | None = None
    ended_at: int | None = None
    exit_reason: str | None = None


@dataclass(slots=True)
class Delivery:
    """A planned email in the outbox (DESIGN.md invariant 3).

    Attributes:
        key: deterministic delivery key (`campaign/journey/step`), UNIQUE.
        journey_id, person_id, campaign_id, step_id: where it comes from.
        template: template name; subject: the subject template.
        created_at: when it was queued, ms UTC.
        state: queued, sending, sent, failed, bounced, suppressed, limited, undeliverable.
        attempts: SMTP attempts so far; next_attempt_at: when it may be tried (ms UTC).
        message_id: the Message-ID it was (or will be) sent with, from the key.
        reason: why it is suppressed, limited, failed, bounced or undeliverable.
        test: a `send-test` message, not counted in metrics or limits.
    """

    key: str
    journey_id: int | None
    person_id: int
    campaign_id: str
    step_id: str
    template: str
    subject: str
    created_at: int
    from_address: str | None = None
    reply_to: str | None = None
    state: str = "queued"
    id: int = 0
    attempts: int = 0
    next_attempt_at: int | None = None
    message_id: str | None = None
    to_address: str | None = None
    reason: str | None = None
    rendered_subject: str | None = None
    rendered_text: str | None = None
    rendered_html: str | None = None
    smtp_response: str | None = None
    sent_at: int | None = None
    test: bool = False
