"""Person-local scheduling: time zones, day-based delays and send windows.

Pure (DESIGN.md invariant 2): no clock is read here, every "now" is a parameter.
Instants are int ms since the epoch, UTC. Local wall-clock times come from
`zoneinfo`, so daylight saving time is the library's job, never a hand-added
offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.times import DAY_MS, HOUR_MS

__all__ = [
    "add_delay",
    "next_window_open",
    "parse_time_of_day",
    "parse_weekdays",
    "person_zone",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

# Keys the tz database accepts that name the *server's* zone, not a place: a
# person carrying one would be scheduled by whatever host Nudge runs on.
_HOST_ZONES = frozenset({"localtime", "posixrules"})

# ASCII digits only: `\d` would also take "１２:００".
_TIME_OF_DAY = re.compile(r"^\s*([0-9]{1,2}):([0-9]{2})\s*$")

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS: dict[str, frozenset[int]] = {
    **{name: frozenset({i}) for i, name in enumerate(_DAY_NAMES)},
    **{name[:3]: frozenset({i}) for i, name in enumerate(_DAY_NAMES)},
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}

# next_window_open looks ahead in spans of this many ms. Any non-empty set of
# days has an allowed day within a week, and a window wiped out by a DST gap
# is back a week later, so the first or second span almost always answers.
_SPAN_MS = 8 * DAY_MS
# Offsets are sampled this often to find DST transitions; tzdata never puts
# two transitions closer together than this.
_PROBE_MS = 6 * HOUR_MS
# A year of spans without an open instant cannot happen with real tz data; the
# bound only guarantees termination.
_MAX_SPANS = 46


def person_zone(attributes: Mapping[str, Any], fallback: ZoneInfo) -> ZoneInfo:
    """The time zone a person lives in (DESIGN.md invariant 2).

    Args:
        attributes: the person's attributes; `timezone` is read as an IANA name
            (e.g. `Europe/Paris`), surrounding whitespace ignored.
        fallback: the workspace time zone, used when the attribute is missing,
            not a string, or not a zone the tz database knows.

    Returns:
        The person's zone, or `fallback`. Never raises: a bad attribute is
        operator data, not a reason to stop scheduling.
    """
    name = attributes.get("timezone")
    if not isinstance(name, str) or name.strip() in _HOST_ZONES:
        return fallback
    try:
        return ZoneInfo(name.strip())
    # ZoneInfoNotFoundError for unknown names, ValueError for malformed keys
    # ("", "../x", NUL bytes), OSError for directories and over-long names.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return fallback


def add_delay(start_ms: int, duration_ms: int, zone: ZoneInfo | None) -> int:
    """The instant a delay step that starts at `start_ms` ends.

    A whole number of days in a known zone is calendar time: the same local
    wall-clock time N days later, so `delay: 1d` from 09:00 ends at 09:00 the
    next day even when a DST change falls in between (25 h or 23 h elapse).
    That is what a person means by "a day later", and what Customer.io does for
    day-based delays evaluated in a person's time zone. Anything else (hours,
    minutes, `36h`), or no zone, is elapsed time: `start_ms + duration_ms`.

    A duration in ms cannot tell `1d` from `24h`, so the caller decides by the
    unit the operator wrote: pass the zone for delays written in days or weeks
    (`1d`, `2w`), and None for hours or minutes, so `24h` stays 24 elapsed hours.

    When the target wall time does not exist (a spring-forward gap, e.g.
    02:30 on 2024-03-31 in Europe/Paris), it is read with fold=0, i.e. with
    the offset in force before the gap, which lands it later by the gap's
    length (02:30 CET = 03:30 CEST): exactly 24 h after a start at 02:30 the
    day before. When it occurs twice (fall-back), the first occurrence is
    taken (fold=0).

    Args:
        start_ms: when the delay starts, ms since the epoch, UTC.
        duration_ms: the delay in ms (`DAY_MS` multiples count as days).
        zone: the person's zone (see `person_zone`) for a delay written in
            days or weeks; None for elapsed time.

    Returns:
        When the delay ends, ms since the epoch, UTC.
    """
    if zone is None or duration_ms % DAY_MS != 0 or duration_ms == 0:
        return start_ms + duration_ms
    local = _local(start_ms, zone)
    # Adding a timedelta to an aware datetime is wall-clock arithmetic in
    # Python; fold is reset so the rules above, not the start's fold, apply.
    target = (local + timedelta(days=duration_ms // DAY_MS)).replace(fold=0)
    return _instant(target)


def next_window_open(
    at_ms: int, days: frozenset[int], start: time, end: time, zone: ZoneInfo
) -> int:
    """The earliest instant at or after `at_ms` inside a person-local send window.

    An instant is inside when its local wall-clock time in `zone` falls in the
    window: on a day in `days`, at a time of day in [start, end). `start ==
    end` allows whole days. A window with `start > end` (22:00-06:00) crosses
    midnight and belongs to the day it starts on: Friday 22:00-06:00 runs into
    Saturday morning. (Customer.io's time-window step, in the person's zone.)

    DST days follow from that definition: a start inside a spring-forward gap
    (02:30 when clocks jump 02:00 -> 03:00) opens at the first instant that
    exists after it (03:00); a start that happens twice on a fall-back day
    opens at the first occurrence, and a clock turned back into the window
    reopens it.

    Args:
        at_ms: the earliest acceptable instant, ms since the epoch, UTC.
        days: allowed local weekdays, 0 = Monday .. 6 = Sunday.
        start: local time the window opens (naive `datetime.time`).
        end: local time it closes, exclusive.
        zone: the person's zone (see `person_zone`).

    Returns:
        `at_ms` if it is inside, else the instant the window next opens, ms
        since the epoch, UTC.

    Raises:
        ValueError: when `days` is empty or holds something other than 0..6,
            when `start` or `end` carries a tzinfo, or (impossible with real
            tz data) when no open instant exists within a year.
    """
    if not days:
        raise ValueError("a time window needs at least one allowed day")
    if not days <= frozenset(range(7)):
        raise ValueError(f"weekdays are 0 (Monday) to 6 (Sunday), not {sorted(days)}")
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError("window times are local wall-clock times: pass them without tzinfo")
    window = _Window(days, start, end, zone)
    if window.contains(at_ms):
        return at_ms
    # The answer is where membership flips from out to in. Between DST
    # transitions local time is the instant plus a constant offset, so a flip
    # happens only where the wall clock reaches a window start, or at a
    # transition itself (a jump over a start, or a jump back into a window).
    # Each span lists those candidates and keeps the earliest that is inside.
    for index in range(_MAX_SPANS):
        low = at_ms + index * _SPAN_MS
        high = low + _SPAN_MS
        candidates = [
            t
            for t in (*window.starts_between(low, high), *_transitions(low, high, zone))
            if at_ms <= t <= high and window.contains(t)
        ]
        if candidates:
            return min(candidates)
    raise ValueError("the time window never opens within a year")


def parse_time_of_day(text: str) -> time:
    """Read a local time of day written `HH:MM` on a 24-hour clock, e.g. `09:00`, `17:30`.

    Raises:
        ValueError: for anything else, including numbers (unquoted `17:30` in
            YAML 1.1 is the integer 1050) and `24:00`.
    """
    if not isinstance(text, str):
        raise ValueError(f'time of day {text!r} must be text like "09:00" (quote it in YAML)')
    match = _TIME_OF_DAY.match(text)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise ValueError(f"{text!r} is not a time of day (use HH:MM on a 24-hour clock, e.g. 09:00)")


def parse_weekdays(values: Iterable[str]) -> frozenset[int]:
    """Read day names into weekday numbers, 0 = Monday .. 6 = Sunday.

    Accepts `mon` .. `sun`, full names (`monday`), `weekdays` (Monday to
    Friday) and `weekends` (Saturday, Sunday), in any case.

    Raises:
        ValueError: naming the first unknown value.
    """
    result: set[int] = set()
    for value in values:
        found = _WEEKDAYS.get(value.strip().lower()) if isinstance(value, str) else None
        if found is None:
            raise ValueError(
                f"{value!r} is not a day (use mon, tue, wed, thu, fri, sat, sun,"
                " full names, weekdays or weekends)"
            )
        result |= found
    return frozenset(result)


class _Window:
    """A send window in one zone: the membership test and its opening instants."""

    def __init__(self, days: frozenset[int], start: time, end: time, zone: ZoneInfo) -> None:
        self.days = days
        # fold on a time of day would leak into the instants built from it.
        self.start = start.replace(fold=0)
        self.end = end.replace(fold=0)
        self.zone = zone

    def contains(self, at_ms: int) -> bool:
        """Whether the instant's local wall-clock time is inside the window."""
        wall = _local(at_ms, self.zone)
        weekday, clock = wall.weekday(), wall.time()
        if self.start == self.end:
            return weekday in self.days
        if self.start < self.end:
            return weekday in self.days and self.start <= clock < self.end
        # Crossing midnight: the evening part is today's window, the early
        # morning part belongs to yesterday's.
        return (weekday in self.days and clock >= self.start) or (
            (weekday - 1) % 7 in self.days and clock < self.end
        )

    def starts_between(self, low_ms: int, high_ms: int) -> list[int]:
        """Instants where the wall clock reads a window start, on days near [low, high].

        Both readings of each start are given (fold 0 and 1); for a start in a
        gap they fall outside the window or beyond the gap, and the transition
        instant (see `_transitions`) supplies the opening instead.
        """
        opens = time(0) if self.start == self.end else self.start
        first = _local(low_ms, self.zone).date() - timedelta(days=1)
        last = _local(high_ms, self.zone).date() + timedelta(days=1)
        found: list[int] = []
        day: date = first
        while day <= last:
            if day.weekday() in self.days:
                wall = datetime.combine(day, opens, tzinfo=self.zone)
                found += [_instant(wall), _instant(wall.replace(fold=1))]
            day += timedelta(days=1)
        return found


def _transitions(low_ms: int, high_ms: int, zone: ZoneInfo) -> list[int]:
    """The instants in (low, high] where the zone's UTC offset changes (DST and others)."""
    found: list[int] = []
    here, offset = low_ms, _local(low_ms, zone).utcoffset()
    while here < high_ms:
        there = min(here + _PROBE_MS, high_ms)
        there_offset = _local(there, zone).utcoffset()
        if there_offset != offset:
            # Bisect to the first ms with the new offset: `lo` keeps the old one.
            lo, hi = here, there
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _local(mid, zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        here, offset = there, there_offset
    return found


def _local(at_ms: int, zone: ZoneInfo) -> datetime:
    """An instant as an aware local datetime (integer arithmetic: no float rounding)."""
    return (_EPOCH + at_ms * _MS).astimezone(zone)


def _instant(moment: datetime) -> int:
    """An aware datetime as ms since the epoch, rounded up to the next whole ms."""
    return -((_EPOCH - moment) // _MS)
