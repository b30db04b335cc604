"""Reading and writing instants and durations. Instants are int ms since the epoch, UTC."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo

from app.core.errors import InvalidOperation

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# Unix seconds for any date this side of the year 5138 stay below 1e11, and ms
# since 1973 stay above it: the one threshold tells the two apart.
_MS_THRESHOLD = 100_000_000_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: What ISO 8601 can write: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z, in ms.
_EARLIEST_MS = -62_135_596_800_000
_LATEST_MS = 253_402_300_799_999
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
#: A date written the ISO way (`YYYY-MM-DD`), possibly followed by a time.
_ISO_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:$|[T ])")
_UNIT_MS = {"ms": 1, "s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}


def parse_instant(value: object, field: str = "timestamp", zone: tzinfo | None = None) -> int:
    """Read an instant given as Unix seconds, Unix ms or an ISO 8601 string with a zone.

    Customer.io sends Unix seconds, Segment sends ISO 8601; both are accepted.
    A number at or above 1e11 is taken as milliseconds, below as seconds.

    Args:
        value: an int, a float, a numeric string or an ISO 8601 string.
        field: the field name, for the error message.
        zone: how to read an ISO string without a zone (`2026-10-05T12:00`, or a date,
            `2026-10-05`, as midnight): in this zone, as Customer.io's UI reads times in
            the workspace's zone. None (API payloads): such strings are refused.

    Returns:
        ms since the epoch, UTC.

    Raises:
        InvalidOperation: for booleans, other types, unparseable strings, impossible
            dates or times (`2026-02-30`: "not a valid date"), and, without `zone`, ISO
            strings without a time zone (they would be ambiguous).
    """
    if isinstance(value, bool):
        raise InvalidOperation(f"{field} must be a time, not a boolean")
    if isinstance(value, int | float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidOperation(f"{field} is not a finite number")
        ms = int(value) if abs(value) >= _MS_THRESHOLD else int(round(value * 1000))
        if not _EARLIEST_MS <= ms <= _LATEST_MS:
            raise InvalidOperation(f"{field} {value!r} is not a time between the years 1 and 9999")
        return ms
    if isinstance(value, str):
        text = value.strip()
        # Most strings are ISO dates ("2016-..."); only the rest can be numbers.
        if "-" not in text[1:5]:
            try:
                return parse_instant(float(text), field)
            except ValueError:
                pass
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise InvalidOperation(_not_iso(text, field, value, exc)) from None
        if parsed.tzinfo is None:
            if zone is None:
                raise InvalidOperation(f"{field} {value!r} has no time zone (add Z or +00:00)")
            parsed = parsed.replace(tzinfo=zone)
        # Integer arithmetic on timedeltas: no float rounding of the milliseconds.
        return (parsed - _EPOCH) // timedelta(milliseconds=1)
    raise InvalidOperation(f"{field} must be a number or an ISO 8601 string")


def _not_iso(text: str, field: str, value: object, exc: ValueError) -> str:
    """Why an ISO-looking string is refused: an impossible date or time (`2026-13-45`,
    `2026-02-30`, `T25:00`) says which part is wrong; anything else is not ISO 8601."""
    if not _ISO_SHAPE.match(text) or "isoformat" in str(exc):
        return f"{field} {value!r} is not an ISO 8601 time"
    try:
        date.fromisoformat(text[:10])
    except ValueError as bad_date:
        return f"{field} {value!r} is not a valid date ({bad_date})"
    return f"{field} {value!r} is not a valid time ({exc})"


def format_instant(ms: int) -> str:
    """Write ms since the epoch as ISO 8601 UTC with ms, e.g. `2016-01-02T03:04:05.678Z`."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def format_duration(ms: int) -> str:
    """Write a duration in the largest unit that divides it: `90d`, `36h`, `15m`, `30s`, `5ms`."""
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_MS[unit]
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_duration(text: str) -> int:
    """Read a duration such as `15m`, `36h`, `7d`, `2w`, `500ms` or `30s`.

    Returns:
        The duration in ms.

    Raises:
        ValueError: when the text is not a whole number followed by one unit.
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration (use e.g. 15m, 36h, 7d)")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]
