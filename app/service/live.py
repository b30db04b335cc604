"""The live view's use cases: the event stream after a sequence number, the receive rate,
the scheduler's state and the latest engine decisions (DESIGN.md invariant 5).

Every call is one or two bounded queries, so the console can poll twice a second on a
database of millions of events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from app.core.models import ActivityEntry, Event
from app.core.times import HOUR_MS, MINUTE_MS
from app.service.people import find_person
from app.store import Store

#: The decisions the live view lists: entries, ends, goals and what happened to messages.
DECISION_KINDS = (
    "journey.entered",
    "journey.completed",
    "journey.exited",
    "goal.converted",
    "branch.taken",
    "wait.timed_out",
    "step.skipped",
    "message.queued",
    "message.sent",
    "message.suppressed",
    "message.bounced",
    "message.failed",
    "message.limited",
    "message.retry",
    "message.undeliverable",
)
_SENT = "message.sent"
_FAILED = ("message.bounced", "message.failed", "message.undeliverable")


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Which events the stream shows: one event or page name, one person (by id, email or
    `#row`); None shows all."""

    name: str | None = None
    person: str | None = None


@dataclass(frozen=True, slots=True)
class SchedulerStatus:
    """The scheduler as the database sees it.

    Attributes:
        holder: the process holding (or last holding) the lease, or None.
        held: whether that lease is still valid at `now`.
        last_tick_at: the holder's last finished tick, ms UTC.
        journeys_due, deliveries_due: work due at `now`.
        sent_1h, failed_1h: messages sent, and bounced / failed / given up, in the last hour.
    """

    holder: str | None
    held: bool
    last_tick_at: int | None
    journeys_due: int
    deliveries_due: int
    sent_1h: int
    failed_1h: int


def event_label(event: Event) -> str:
    """Who an event is about, as the operation named them (no lookup)."""
    return (
        event.user_id
        or event.user_email
        or (f"anon:{event.anonymous_id}" if event.anonymous_id else None)
        or (f"#{event.person_id}" if event.person_id is not None else "-")
    )


def event_summary(event: Event, width: int = 60) -> str:
    """The event's key properties on one line (`key=value ...`), cut to `width` chars."""
    parts = [
        f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in event.properties.items()
    ]
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def _person_id(store: Store, flt: StreamFilter) -> int | None:
    return None if not flt.person else find_person(store, flt.person).id


def latest_events(store: Store, limit: int, flt: StreamFilter | None = None) -> list[Event]:
    """The `limit` latest stored events (insertion order), newest first.

    Raises:
        NotFound: when the filter names a person nobody is.
    """
    flt = flt or StreamFilter()
    return store.live.events_page(limit, name=flt.name, person_id=_person_id(store, flt))


def events_after(
    store: Store, seq: int, limit: int, flt: StreamFilter | None = None
) -> list[Event]:
    """Events stored after sequence number `seq`, newest first, at most `limit` (the
    newest ones when more arrived).

    Raises:
        NotFound: when the filter names a person nobody is.
    """
    flt = flt or StreamFilter()
    return store.live.events_page(
        limit, after_seq=seq, name=flt.name, person_id=_person_id(store, flt)
    )


def events_before(
    store: Store, seq: int, limit: int, flt: StreamFilter | None = None
) -> list[Event]:
    """Up to `limit` events stored before sequence number `seq`, newest first (the next
    page back in the stream).

    Raises:
        NotFound: when the filter names a person nobody is.
    """
    flt = flt or StreamFilter()
    return store.live.events_page(
        limit, before_seq=seq, name=flt.name, person_id=_person_id(store, flt)
    )


def last_seq(store: Store) -> int:
    """The latest event's sequence number (0 with no events)."""
    return store.live.last_seq()


def last_activity_id(store: Store) -> int:
    """The latest decision's row id (0 with none): what the live poll compares."""
    return store.live.last_activity_id()


def ingest_rate(store: Store, now: int, minutes: int = 60) -> list[int]:
    """Events received per minute over the last `minutes` minutes up to `now` (ms UTC),
    oldest minute first."""
    since = now - minutes * MINUTE_MS
    first = store.live.first_seq_received_since(since)
    if first is None:
        return [0] * minutes
    buckets = store.live.received_buckets(first, since, MINUTE_MS)
    return [buckets.get(since + i * MINUTE_MS, 0) for i in range(minutes)]


def scheduler_status(store: Store, now: int) -> SchedulerStatus:
    """Who holds the lease, the last tick, what is due at `now`, and the last hour's
    sent and failed messages (from the activity log)."""
    info = store.lease.info()
    journeys, deliveries = store.live.due_counts(now)
    counts = store.live.kind_counts_since((_SENT, *_FAILED), now - HOUR_MS)
    return SchedulerStatus(
        holder=info[0] if info else None,
        held=bool(info and info[1] >= now),
        last_tick_at=info[2] if info else None,
        journeys_due=journeys,
        deliveries_due=deliveries,
        sent_1h=counts.get(_SENT, 0),
        failed_1h=sum(counts.get(k, 0) for k in _FAILED),
    )


def recent_decisions(store: Store, limit: int, after_id: int | None = None) -> list[ActivityEntry]:
    """The latest engine and outbox decisions (`DECISION_KINDS`), newest first."""
    return store.live.activity_page(limit, after_id, DECISION_KINDS)


def person_labels(store: Store, person_ids: Iterable[int | None]) -> dict[int, str]:
    """Labels for a page of people in one lookup: external id, else email, else `#<row id>`.

    `None` ids (decisions about nobody) are skipped; a person no longer stored keeps
    `#<row id>`, so every id given (but `None`) has a label.
    """
    ids = {i for i in person_ids if i is not None}
    found = store.live.person_labels(ids)
    return {i: found.get(i, f"#{i}") for i in ids}


def describe_decision(entry: ActivityEntry) -> str:
    """One line for a decision: what happened, where, and why when there is a reason."""
    where = "/".join(x for x in (entry.campaign, entry.step) if x)
    detail = entry.detail
    why = detail.get("reason") or detail.get("path") or detail.get("segment") or ""
    if entry.kind == "journey.entered" and detail.get("trigger"):
        why = f"on {detail['trigger']}"
    text = f"{entry.kind} {where}".strip()
    return f"{text} ({why})" if why else text
