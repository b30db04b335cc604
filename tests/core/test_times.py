from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from app.core.errors import InvalidOperation
from app.core.times import format_instant, parse_duration, parse_instant

# 2016-03-27T01:30:00Z, worked out: 16,887 days after 1970-01-01 = 1,459,036,800 s,
# plus 1.5 h = 5,400 s.
INSTANT_S = 1_459_042_200


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (INSTANT_S, INSTANT_S * 1000),  # Customer.io: Unix seconds
        (INSTANT_S * 1000, INSTANT_S * 1000),  # milliseconds
        (INSTANT_S + 0.5, INSTANT_S * 1000 + 500),
        (str(INSTANT_S), INSTANT_S * 1000),
        ("2016-03-27T01:30:00Z", INSTANT_S * 1000),
        ("2016-03-27T03:30:00.123+02:00", INSTANT_S * 1000 + 123),
    ],
)
def test_parse_instant(value: object, expected: int) -> None:
    assert parse_instant(value) == expected


@pytest.mark.parametrize("value", [True, "soon", "2016-03-27T01:30:00", [1], float("nan")])
def test_parse_instant_rejects(value: object) -> None:
    with pytest.raises(InvalidOperation):
        parse_instant(value)


def test_format_instant_round_trips() -> None:
    assert format_instant(INSTANT_S * 1000 + 7) == "2016-03-27T01:30:00.007Z"
    assert parse_instant(format_instant(INSTANT_S * 1000 + 7)) == INSTANT_S * 1000 + 7


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("15m", 900_000),
        ("36h", 129_600_000),
        ("7d", 604_800_000),
        ("2w", 1_209_600_000),
        ("500ms", 500),
        ("30s", 30_000),
    ],
)
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "7", "d7", "1.5h", "7 days"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", [1e300, -1e300, 253_402_300_800_000])
def test_instants_beyond_year_9999_are_not_times(value: object) -> None:
    # 253,402,300,800,000 ms is 10000-01-01T00:00:00Z, one ms past the last ISO instant.
    with pytest.raises(InvalidOperation, match="between the years 1 and 9999"):
        parse_instant(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-13-45", "is not a valid date (month must be in 1..12)"),
        ("2026-02-30", "is not a valid date (day is out of range for month)"),
        ("2026-02-30T10:00Z", "is not a valid date (day is out of range for month)"),
        ("2026-10-05T25:00Z", "is not a valid time (hour must be in 0..23)"),
        ("yesterday", "is not an ISO 8601 time"),
    ],
)
def test_impossible_dates_say_so(value: str, reason: str) -> None:
    with pytest.raises(InvalidOperation) as caught:
        parse_instant(value, "--from", zone=ZoneInfo("UTC"))
    assert str(caught.value) == f"--from {value!r} {reason}"


def test_local_times_are_read_in_the_given_zone() -> None:
    paris = ZoneInfo("Europe/Paris")  # UTC+2 in October (summer time), UTC+1 in December
    # 2026-10-05 00:00 UTC is 20_731 days after 1970-01-01 (56 years, 14 leap days, 277 days).
    midnight_utc = 20_731 * 86_400_000
    assert parse_instant("2026-10-05T12:00", "t", zone=paris) == midnight_utc + 10 * 3_600_000
    assert parse_instant("2026-10-05", "t", zone=paris) == midnight_utc - 2 * 3_600_000
    # An explicit zone wins over the given one.
    assert parse_instant("2026-10-05T12:00Z", "t", zone=paris) == midnight_utc + 12 * 3_600_000
    # Without a zone to read them in (API payloads), local times stay ambiguous.
    with pytest.raises(InvalidOperation, match="has no time zone"):
        parse_instant("2026-10-05T12:00", "t")
