"""One person's whole story for the console: attributes, segments (since when), journeys,
and one chronological list interleaving their events, attribute changes, segment moves,
engine decisions and deliveries, newest first, a page at a time.

Each source is read with its own keyset cursor and the pages are merged, so the cost of
a page does not depend on how many events the person (or the database) has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.models import ActivityEntry, Delivery, Event, Journey, Person
from app.core.times import format_instant
from app.service.live import describe_decision, event_summary
from app.service.people import find_person
from app.store import Store
from app.store.timeline import TOP

_SEGMENT_KINDS = {"segment.entered", "segment.exited"}


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One line of a timeline.

    Attributes:
        at: when, ms UTC.
        kind: `event`, `attributes` (an identify), `segment`, `decision` or `delivery`.
        title: the event name, the decision kind, the delivery's subject...
        detail: key properties, the reason, the state.
        ref: what opening the item shows: ('delivery', id), ('event', seq) or None.
    """

    at: int
    kind: str
    title: str
    detail: str
    ref: tuple[str, int] | None = None


@dataclass(slots=True)
class TimelineCursor:
    """Where the next (older) page starts, per source."""

    events: tuple[int, int] = TOP
    activity: tuple[int, int] = TOP
    deliveries: tuple[int, int] = TOP
    done: bool = False


@dataclass(slots=True)
class PersonHeader:
    """What sits above the timeline: the person, their segments (id -> since) and every
    journey (latest first), and how many events they have."""

    person: Person
    segments: dict[str, int]
    journeys: list[Journey]
    event_count: int
    extra: dict[str, Any] = field(default_factory=dict)


def person_header(store: Store, key: str) -> PersonHeader:
    """The person (by id, email or `#row`) with segments and journeys.

    Raises:
        NotFound: when nobody matches.
    """
    person = find_person(store, key)
    journeys = sorted(store.journeys.for_person(person.id), key=lambda j: -j.id)
    return PersonHeader(
        person,
        store.segments.memberships(person.id),
        journeys,
        store.timeline.event_count(person.id),
    )


def _event_item(e: Event) -> TimelineItem:
    if e.type == "identify":
        return TimelineItem(e.timestamp, "attributes", "identify", event_summary(e, 80),
                            ("event", e.seq))  # fmt: skip
    title = e.name or e.type
    if e.type != "track":
        title = f"{e.type} {title}"
    return TimelineItem(e.timestamp, "event", title, event_summary(e, 80), ("event", e.seq))


def _activity_item(a: ActivityEntry) -> TimelineItem:
    if a.kind in _SEGMENT_KINDS:
        verb = "entered" if a.kind == "segment.entered" else "left"
        return TimelineItem(a.at, "segment", f"{verb} {a.detail.get('segment', '?')}", "")
    return TimelineItem(a.at, "decision", a.kind, describe_decision(a).removeprefix(a.kind).strip())


def _delivery_item(d: Delivery) -> TimelineItem:
    subject = d.rendered_subject or d.subject
    state = d.state + (f" ({d.reason})" if d.reason else "")
    if d.sent_at is not None:
        state += f" at {format_instant(d.sent_at)}"
    return TimelineItem(d.created_at, "delivery", f"email: {subject}", state, ("delivery", d.id))


def timeline_page(
    store: Store, person_id: int, cursor: TimelineCursor, limit: int = 100
) -> tuple[list[TimelineItem], TimelineCursor]:
    """The next `limit` items older than `cursor`, newest first, and the cursor after them.

    Messages are placed where they were queued (their line says the state and, once
    sent, when); `message.*` decisions are left out (the delivery line says the same).
    """
    if cursor.done:
        return [], cursor
    events = store.timeline.events_before(person_id, cursor.events, limit)
    activity = store.timeline.activity_before(person_id, cursor.activity, limit)
    deliveries = store.timeline.deliveries_before(person_id, cursor.deliveries, limit)
    merged: list[tuple[int, int, int, Any]] = []
    merged += [(e.timestamp, 0, e.seq, e) for e in events]
    merged += [(a.at, 1, a.id, a) for a in activity]
    merged += [(d.created_at, 2, d.id, d) for d in deliveries]
    merged.sort(key=lambda t: (t[0], t[1], t[2]), reverse=True)
    taken = merged[:limit]
    nxt = TimelineCursor(cursor.events, cursor.activity, cursor.deliveries)
    items: list[TimelineItem] = []
    for at, source, row_id, obj in taken:
        if source == 0:
            nxt.events = (at, row_id)
            items.append(_event_item(obj))
        elif source == 1:
            nxt.activity = (at, row_id)
            if not obj.kind.startswith("message."):
                items.append(_activity_item(obj))
        else:
            nxt.deliveries = (at, row_id)
            items.append(_delivery_item(obj))
    nxt.done = len(merged) <= limit and all(
        len(rows) < limit for rows in (events, activity, deliveries)
    )
    return items, nxt


def search_people(store: Store, text: str, limit: int = 100, after_id: int = 0) -> list[Person]:
    """People whose id, email or an attribute value contains `text` (case-insensitive),
    in row-id order after `after_id` (keyset paging); everyone when `text` is empty."""
    return store.timeline.search_people(text.strip(), limit, after_id)
