"""Read-side use cases about people and the workspace: one person's timeline, counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.errors import NotFound
from app.core.models import ActivityEntry, Event, Person
from app.core.times import format_instant
from app.store import Store


@dataclass(slots=True)
class PersonView:
    """A person with their latest events and decisions, newest first."""

    person: Person
    events: list[Event]
    activity: list[ActivityEntry]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC."""
        p = self.person
        return {
            "id": p.external_id,
            "email": p.email,
            "attributes": p.attributes,
            "created_at": format_instant(p.created_at),
            "updated_at": format_instant(p.updated_at),
            "suppressed": p.suppressed,
            "unsubscribed": p.unsubscribed,
            "events": [
                {
                    "timestamp": format_instant(e.timestamp),
                    "type": e.type,
                    "name": e.name,
                    "properties": e.properties,
                }
                for e in self.events
            ],
            "activity": [
                {
                    "at": format_instant(a.at),
                    "kind": a.kind,
                    "campaign": a.campaign,
                    "step": a.step,
                    "detail": a.detail,
                }
                for a in self.activity
            ],
        }


@dataclass(slots=True)
class WorkspaceStats:
    """Counts over the whole store."""

    people: int
    events: int
    events_by_type: dict[str, int] = field(default_factory=dict)
    events_by_name: dict[str, int] = field(default_factory=dict)
    last_event_at: int | None = None
    suppressed_identifiers: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the last event time as ISO 8601 UTC (null when there are no events)."""
        return {
            "people": self.people,
            "events": self.events,
            "events_by_type": self.events_by_type,
            "events_by_name": self.events_by_name,
            "last_event_at": None
            if self.last_event_at is None
            else format_instant(self.last_event_at),
            "suppressed_identifiers": self.suppressed_identifiers,
        }


def find_person(store: Store, key: str) -> Person:
    """Find someone by external id, else by email (case-insensitive), else by `#<row id>`.

    Raises:
        NotFound: when nobody matches.
    """
    person = store.people.by_external_id(key) or store.people.by_email(key)
    if person is None and key.startswith("#") and key[1:].isdigit():
        person = store.people.get(int(key[1:]))
    if person is None:
        raise NotFound(f"no person with id or email {key!r}")
    return person


def person_view(store: Store, key: str, limit: int = 20) -> PersonView:
    """A person and their `limit` latest events and decisions. See `find_person` for `key`.

    Raises:
        NotFound: when nobody matches.
    """
    person = find_person(store, key)
    return PersonView(
        person,
        store.events.for_person(person.id, limit),
        store.activity.for_person(person.id, limit),
    )


def list_people(store: Store, limit: int = 50, after_id: int = 0) -> list[Person]:
    """Up to `limit` people with a row id above `after_id`, in id order (keyset paging)."""
    return store.people.page(after_id, limit)


def workspace_stats(store: Store) -> WorkspaceStats:
    """Counts of people and events, events by type and by name, the latest event time."""
    by_type = store.events.counts_by_type()
    return WorkspaceStats(
        people=store.people.count(),
        events=sum(by_type.values()),
        events_by_type=by_type,
        events_by_name=store.events.counts_by_name(),
        last_event_at=store.events.last_timestamp(),
        suppressed_identifiers=store.suppressions.count(),
    )
