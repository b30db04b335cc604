"""What templates get beyond the person, event and campaign: `history` (what the person
did, read lazily) and the `date` filter. Pure; used by `app.core.render`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.evaluate import instant_of, resolve_path, typed_equal

#: Reads a person's events of one name: (name, timestamp ms UTC, properties) triples.
EventReader = Callable[[str], Iterable[tuple[str, int, Any]]]


class History:
    """What the person has done, for templates: `history.performed('domain_verified')`,
    `history.count('viewed_product', product_id=event.product_id)`.

    Events are read lazily, one name at a time, and only those at or before `now` count
    (a message rendered later, or replayed, sees what had happened by its send time).
    Keyword arguments are property filters (typed equality, as `equals` in conditions).

    Args:
        read: reads the person's events of one name (None: a person without events).
        now: the render time, ms UTC.
    """

    def __init__(self, read: EventReader | None = None, now: int | None = None) -> None:
        self._read = read
        self._now = now
        self._cache: dict[str, list[tuple[int, Any]]] = {}

    def _events(self, name: str) -> list[tuple[int, Any]]:
        if not isinstance(name, str):
            raise TypeError("an event name is a string")
        found = self._cache.get(name)
        if found is None:
            rows = self._read(name) if self._read is not None else []
            found = sorted(
                (timestamp, properties)
                for event, timestamp, properties in rows
                if event == name and (self._now is None or timestamp <= self._now)
            )
            self._cache[name] = found
        return found

    def count(self, name: str, **where: Any) -> int:
        """How many `name` events have these property values."""
        return sum(
            1
            for _, properties in self._events(name)
            if isinstance(properties, dict)
            and all(typed_equal(resolve_path(properties, k), v) for k, v in where.items())
        )

    def performed(self, name: str, **where: Any) -> bool:
        """Whether the person did `name` (with these property values) at least once."""
        return self.count(name, **where) > 0


def date_filter(value: Any, zone: Any = None, format: str = "%-d %B %Y") -> str:
    """The `date` filter: `{{ person.trial_ends_at | date(person.timezone) }}` gives
    `27 October 2026`. Reads what attributes hold (ISO 8601, Unix seconds or ms) and
    shows it in `zone` (an IANA name; UTC when missing or unknown) with a `strftime`
    format.

    Raises:
        ValueError: when `value` is not a time (the delivery fails with that reason).
    """
    instant = instant_of(value)
    if instant is None:
        raise ValueError(f"{value!r} is not a time")
    try:
        tz = ZoneInfo(zone) if isinstance(zone, str) and zone else UTC
    except (ValueError, ZoneInfoNotFoundError):
        tz = UTC
    moment = datetime.fromtimestamp(instant / 1000, UTC).astimezone(tz)
    return moment.strftime(format)
