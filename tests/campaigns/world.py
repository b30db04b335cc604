"""The generated demo behaviour, read back in plain Python for the campaign tests.

Nothing here runs Nudge code: expected journeys are worked out from the operations
themselves (who did what when, what an attribute said at an instant), with the rules
each campaign file states. Local times use `zoneinfo` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def parse_iso(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class Person:
    """One person's operations: events by name and attribute updates, in time order."""

    id: str
    first_seen: int = 0
    events: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    traits: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    op_times: list[int] = field(default_factory=list)

    def attr(self, name: str, at: int) -> Any:
        """The attribute's value after every identify at or before `at` (None: unset)."""
        value = None
        for ts, traits in self.traits:
            if ts > at:
                break
            if name in traits:
                value = traits[name]
        return value

    def times(
        self, name: str, lo: int | None = None, hi: int | None = None, **where: Any
    ) -> list[int]:
        """Timestamps of `name` events in [lo, hi] whose properties equal `where`."""
        return [
            ts
            for ts, props in self.events.get(name, [])
            if (lo is None or ts >= lo)
            and (hi is None or ts <= hi)
            and all(props.get(k) == v for k, v in where.items())
        ]

    def did(self, name: str, lo: int | None = None, hi: int | None = None, **where: Any) -> bool:
        return bool(self.times(name, lo, hi, **where))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.attr("timezone", 2**62) or "UTC")


def build_world(operations: list[dict[str, Any]]) -> dict[str, Person]:
    """People by external id, from Segment-spec identify / track operations."""
    people: dict[str, Person] = {}
    for op in operations:
        person = people.get(op["userId"])
        if person is None:
            person = people[op["userId"]] = Person(op["userId"], first_seen=op["timestamp"])
        person.op_times.append(op["timestamp"])
        if op["type"] == "identify":
            person.traits.append((op["timestamp"], op["traits"]))
        else:
            person.events.setdefault(op["event"], []).append((op["timestamp"], op["properties"]))
    return people


def add_days(at: int, days: int, zone: ZoneInfo) -> int:
    """The same local wall time `days` later (a `delay: Nd`)."""
    local = datetime.fromtimestamp(at / 1000, UTC).astimezone(zone)
    later = (local.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=zone)
    return int(later.timestamp() * 1000)


def window_open(at: int, zone: ZoneInfo, start_hour: int, end_hour: int) -> int:
    """The first instant at or after `at` on a local weekday between the two hours."""
    local = datetime.fromtimestamp(at / 1000, UTC).astimezone(zone)
    if local.weekday() < 5 and start_hour <= local.hour < end_hour:
        return at
    day = local.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    if local.hour >= start_hour:
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    opens = (day + timedelta(hours=start_hour)).replace(tzinfo=zone)
    return int(opens.timestamp() * 1000)


def hours_after(at: int) -> int:
    """The first whole UTC hour strictly after `at` (the simulator's sweep instants)."""
    return (at // HOUR + 1) * HOUR
