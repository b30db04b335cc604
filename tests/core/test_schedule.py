"""Person-local scheduling. Expected instants are worked out by hand in the comments.

DST facts used below (tz database):
- America/New_York: 2024-03-10 02:00 EST -> 03:00 EDT at 07:00Z;
  2024-11-03 02:00 EDT -> 01:00 EST at 06:00Z (01:00-02:00 happens twice).
- Europe/Paris: 2024-03-31 02:00 CET -> 03:00 CEST at 01:00Z;
  2024-10-27 03:00 CEST -> 02:00 CET at 01:00Z (02:00-03:00 happens twice).
- Australia/Lord_Howe: half-hour DST; 2024-10-06 02:00 LHST (+10:30) -> 02:30
  LHDT (+11:00) at 2024-10-05T15:30Z.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.schedule import (
    add_delay,
    next_window_open,
    parse_time_of_day,
    parse_weekdays,
    person_zone,
)
from app.core.times import DAY_MS, HOUR_MS, MINUTE_MS, parse_instant

NEW_YORK = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
WORKSPACE = ZoneInfo("UTC")
MON_FRI = frozenset(range(5))
NINE, FIVE = time(9), time(17)


def at(text: str) -> int:
    """An instant written by hand as ISO 8601 with its offset."""
    return parse_instant(text)


# --- person_zone ------------------------------------------------------------------


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"timezone": None},
        {"timezone": 42},
        {"timezone": ""},
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "america/new_york"},  # tz names are case-sensitive
        {"timezone": "America"},  # a directory of the tz database, not a zone
        {"timezone": "../../etc/passwd"},
        {"timezone": "Europe/Paris\x00"},
        {"timezone": "x" * 300},
        {"timezone": "localtime"},  # the server's zone, not the person's
    ],
)
def test_person_zone_falls_back(attributes: dict[str, Any]) -> None:
    assert person_zone(attributes, WORKSPACE) is WORKSPACE


def test_person_zone_reads_the_attribute() -> None:
    assert person_zone({"timezone": "Asia/Kolkata"}, WORKSPACE) == ZoneInfo("Asia/Kolkata")
    assert person_zone({"timezone": " Europe/Paris "}, WORKSPACE) == PARIS


# --- add_delay ---------------------------------------------------------------------


def test_one_day_keeps_the_wall_clock_across_fall_back() -> None:
    # 2024-10-26 09:00 CEST (+2) = 07:00Z; 2024-10-27 09:00 CET (+1) = 08:00Z: 25 h elapse.
    assert add_delay(at("2024-10-26T07:00Z"), DAY_MS, PARIS) == at("2024-10-27T08:00Z")


def test_twenty_four_hours_is_elapsed_time() -> None:
    # A delay written `24h` is passed without a zone (1d and 24h are both 86,400,000 ms).
    # 07:00Z + 24 h = 2024-10-27T07:00Z, which is 08:00 CET.
    assert add_delay(at("2024-10-26T07:00Z"), 24 * HOUR_MS, None) == at("2024-10-27T07:00Z")


def test_one_day_keeps_the_wall_clock_across_spring_forward() -> None:
    # 2024-03-30 09:00 CET (+1) = 08:00Z; 2024-03-31 09:00 CEST (+2) = 07:00Z: 23 h elapse.
    assert add_delay(at("2024-03-30T08:00Z"), DAY_MS, PARIS) == at("2024-03-31T07:00Z")


def test_one_day_into_the_spring_forward_gap() -> None:
    # 2024-03-30 02:30 CET (+1) = 01:30Z. 2024-03-31 02:30 does not exist in Paris
    # (02:00 -> 03:00). Read with fold=0 it keeps the offset before the gap, +1:
    # 01:30Z, which the clocks show as 03:30 CEST: shifted forward by the 1 h gap,
    # and exactly 24 h after the start.
    assert add_delay(at("2024-03-30T01:30Z"), DAY_MS, PARIS) == at("2024-03-31T01:30Z")


def test_one_day_into_the_repeated_hour_takes_the_first() -> None:
    # 2024-10-26 02:30 CEST (+2) = 00:30Z. 2024-10-27 02:30 happens at 00:30Z (CEST)
    # and again at 01:30Z (CET); fold=0 is the first.
    assert add_delay(at("2024-10-26T00:30Z"), DAY_MS, PARIS) == at("2024-10-27T00:30Z")


def test_a_week_is_seven_calendar_days() -> None:
    # 2024-10-21 09:00 CEST (+2) = 07:00Z; 2024-10-28 09:00 CET (+1) = 08:00Z.
    assert add_delay(at("2024-10-21T07:00Z"), 7 * DAY_MS, PARIS) == at("2024-10-28T08:00Z")


def test_one_day_across_a_half_hour_change() -> None:
    # 2024-10-05 09:00 LHST (+10:30) = 2024-10-04T22:30Z;
    # 2024-10-06 09:00 LHDT (+11:00) = 2024-10-05T22:00Z: 23.5 h elapse.
    assert add_delay(at("2024-10-04T22:30Z"), DAY_MS, LORD_HOWE) == at("2024-10-05T22:00Z")


@pytest.mark.parametrize(
    ("duration", "zone"),
    [
        (DAY_MS, None),  # no zone: elapsed
        (36 * HOUR_MS, PARIS),  # not whole days: elapsed
        (DAY_MS + MINUTE_MS, PARIS),
        (0, PARIS),
    ],
)
def test_other_delays_are_elapsed_time(duration: int, zone: ZoneInfo | None) -> None:
    start = at("2024-10-26T07:00Z")
    assert add_delay(start, duration, zone) == start + duration


def test_zero_delay_from_the_second_occurrence_stays_put() -> None:
    # 2024-10-27T01:30Z is 02:30 CET, the second 02:30 of that night in Paris.
    assert add_delay(at("2024-10-27T01:30Z"), 0, PARIS) == at("2024-10-27T01:30Z")


# --- next_window_open: 09:00-17:00 Mon-Fri in New York around 2024-11-03 -------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Friday 18:00 EDT, after hours -> Monday 2024-11-04 09:00 EST (-5) = 14:00Z.
        ("2024-11-01T18:00-04:00", "2024-11-04T14:00Z"),
        # Saturday 10:00 EDT -> the same Monday 14:00Z, across the change.
        ("2024-11-02T10:00-04:00", "2024-11-04T14:00Z"),
        # Sunday 01:30 EDT, the first of the two 01:30s -> Monday 14:00Z.
        ("2024-11-03T01:30-04:00", "2024-11-04T14:00Z"),
        # Monday 08:59 EST = 13:59Z -> 09:00 EST = 14:00Z.
        ("2024-11-04T08:59-05:00", "2024-11-04T14:00Z"),
        # Friday 16:59 EDT is inside: stays (20:59Z).
        ("2024-11-01T16:59-04:00", "2024-11-01T20:59Z"),
        # Monday 12:00 EST is inside: stays (17:00Z).
        ("2024-11-04T12:00-05:00", "2024-11-04T17:00Z"),
        # Monday 17:00 EST: the end is exclusive -> Tuesday 09:00 EST = 14:00Z.
        ("2024-11-04T17:00-05:00", "2024-11-05T14:00Z"),
        # Thursday 2024-10-31 06:00 EDT -> 09:00 EDT = 13:00Z.
        ("2024-10-31T06:00-04:00", "2024-10-31T13:00Z"),
    ],
)
def test_office_hours_in_new_york(now: str, expected: str) -> None:
    assert next_window_open(at(now), MON_FRI, NINE, FIVE, NEW_YORK) == at(expected)


def test_inside_keeps_the_exact_millisecond() -> None:
    # Friday 2024-11-01 12:00:00.123 EDT = 16:00:00.123Z.
    now = at("2024-11-01T16:00:00.123Z")
    assert next_window_open(now, MON_FRI, NINE, FIVE, NEW_YORK) == now


# --- next_window_open: DST edges -----------------------------------------------------

SUNDAY = frozenset({6})


def test_start_in_the_spring_forward_gap_opens_when_time_exists_again() -> None:
    # 2024-03-10 in New York: 02:00 EST -> 03:00 EDT at 07:00Z, so 02:30 never
    # happens. A Sunday 02:30-05:00 window opens at 03:00 EDT = 07:00Z.
    # From Saturday 2024-03-09 22:00 EST = 2024-03-10T03:00Z.
    assert next_window_open(at("2024-03-10T03:00Z"), SUNDAY, time(2, 30), time(5), NEW_YORK) == at(
        "2024-03-10T07:00Z"
    )


def test_window_swallowed_by_the_gap_waits_a_week() -> None:
    # Sunday 2024-03-10 02:00-02:30 does not exist in New York; the next is
    # Sunday 2024-03-17 02:00 EDT (-4) = 06:00Z.
    assert next_window_open(at("2024-03-10T03:00Z"), SUNDAY, time(2), time(2, 30), NEW_YORK) == at(
        "2024-03-17T06:00Z"
    )


def test_repeated_start_opens_at_the_first() -> None:
    # 2024-11-03 01:30 happens at 05:30Z (EDT) and 06:30Z (EST): the first wins.
    # From Saturday 2024-11-02 22:00 EDT = 2024-11-03T02:00Z.
    assert next_window_open(
        at("2024-11-03T02:00Z"), SUNDAY, time(1, 30), time(1, 45), NEW_YORK
    ) == at("2024-11-03T05:30Z")


def test_repeated_window_reopens_the_second_time() -> None:
    # 01:50 EDT = 05:50Z, after the first 01:30-01:45. At 06:00Z the clock goes back
    # to 01:00 EST and reaches 01:30 EST = 06:30Z.
    assert next_window_open(
        at("2024-11-03T05:50Z"), SUNDAY, time(1, 30), time(1, 45), NEW_YORK
    ) == at("2024-11-03T06:30Z")


def test_clock_turned_back_into_the_window() -> None:
    # 01:50 EDT = 05:50Z is outside 01:00-01:45; at 06:00Z the clock shows 01:00 EST,
    # inside again.
    assert next_window_open(at("2024-11-03T05:50Z"), SUNDAY, time(1), time(1, 45), NEW_YORK) == at(
        "2024-11-03T06:00Z"
    )


# --- next_window_open: shapes of windows ---------------------------------------------

FRIDAY = frozenset({4})


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Friday 2024-11-01 21:00 EDT -> 22:00 EDT = 2024-11-02T02:00Z.
        ("2024-11-01T21:00-04:00", "2024-11-02T02:00Z"),
        # Saturday 05:59 EDT belongs to Friday's window: stays (09:59Z).
        ("2024-11-02T05:59-04:00", "2024-11-02T09:59Z"),
        # Saturday 06:00 EDT: closed -> Friday 2024-11-08 22:00 EST (-5) = 2024-11-09T03:00Z.
        ("2024-11-02T06:00-04:00", "2024-11-09T03:00Z"),
        # Friday 05:00 EDT belongs to Thursday's window, not allowed -> 22:00 EDT (02:00Z).
        ("2024-11-01T05:00-04:00", "2024-11-02T02:00Z"),
    ],
)
def test_window_crossing_midnight(now: str, expected: str) -> None:
    assert next_window_open(at(now), FRIDAY, time(22), time(6), NEW_YORK) == at(expected)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Saturday 2024-11-02 10:00 EDT -> Monday 00:00 EST (-5) = 2024-11-04T05:00Z.
        ("2024-11-02T10:00-04:00", "2024-11-04T05:00Z"),
        # Friday 23:59 EDT is inside the whole-day window: stays (03:59Z).
        ("2024-11-01T23:59-04:00", "2024-11-02T03:59Z"),
    ],
)
def test_equal_start_and_end_allow_whole_days(now: str, expected: str) -> None:
    assert next_window_open(at(now), MON_FRI, time(8), time(8), NEW_YORK) == at(expected)


def test_rejects_bad_windows() -> None:
    now = at("2024-11-01T12:00Z")
    with pytest.raises(ValueError, match="at least one allowed day"):
        next_window_open(now, frozenset(), NINE, FIVE, NEW_YORK)
    with pytest.raises(ValueError, match="0 \\(Monday\\) to 6"):
        next_window_open(now, frozenset({7}), NINE, FIVE, NEW_YORK)
    with pytest.raises(ValueError, match="without tzinfo"):
        next_window_open(now, MON_FRI, time(9, tzinfo=UTC), FIVE, NEW_YORK)


# --- parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9)),
        ("17:30", time(17, 30)),
        ("00:00", time(0)),
        ("23:59", time(23, 59)),
        ("9:05", time(9, 5)),
        (" 08:15 ", time(8, 15)),
    ],
)
def test_parse_time_of_day(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize(
    "text", ["", "9", "24:00", "12:60", "9am", "09:00:00", "09-00", "１２:００", "-1:00"]
)
def test_parse_time_of_day_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a time of day"):
        parse_time_of_day(text)


def test_parse_time_of_day_rejects_yaml_numbers() -> None:
    # Unquoted 17:30 in YAML 1.1 is sexagesimal: 17 * 60 + 30 = 1050.
    with pytest.raises(ValueError, match="quote it"):
        parse_time_of_day(1050)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["mon", "wed", "fri"], {0, 2, 4}),
        (["Monday", "SUNDAY"], {0, 6}),
        (["weekdays"], {0, 1, 2, 3, 4}),
        (["weekends"], {5, 6}),
        (["weekends", "sat", "Tue"], {1, 5, 6}),
        ([], set()),
    ],
)
def test_parse_weekdays(values: list[str], expected: set[int]) -> None:
    assert parse_weekdays(values) == frozenset(expected)


@pytest.mark.parametrize("values", [["funday"], ["mon", "tues"], ["weekday"], [""], [1]])
def test_parse_weekdays_rejects(values: list[Any]) -> None:
    with pytest.raises(ValueError, match="is not a day"):
        parse_weekdays(values)


# --- property: the earliest open instant ---------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Lord_Howe"]
# DST changes of 2024 (see the module docstring), to put more examples near them.
CHANGES = {
    "America/New_York": [at("2024-03-10T07:00Z"), at("2024-11-03T06:00Z")],
    "Europe/Paris": [at("2024-03-31T01:00Z"), at("2024-10-27T01:00Z")],
    # 02:00 LHDT (+11) -> 01:30 LHST (+10:30); 02:00 LHST -> 02:30 LHDT.
    "Australia/Lord_Howe": [at("2024-04-06T15:00Z"), at("2024-10-05T15:30Z")],
}
EARLIEST, LATEST = at("2000-01-01T00:00Z"), at("2040-12-31T00:00Z")
# Local times around those changes (and midnight), where windows are likely to break.
EDGE_TIMES = [time(0), time(1), time(1, 30), time(1, 45), time(2), time(2, 15), time(2, 30)]

times_of_day = st.one_of(
    st.sampled_from(EDGE_TIMES),
    st.builds(time, st.integers(0, 23), st.integers(0, 59)),
)


@st.composite
def zone_and_instant(draw: st.DrawFn) -> tuple[str, int]:
    """A zone and an instant: anywhere in 2000-2040, or close to one of its DST changes."""
    zone_name = draw(st.sampled_from(ZONES))
    changes = CHANGES.get(zone_name, [])
    if not changes or draw(st.booleans()):
        return zone_name, draw(st.integers(EARLIEST, LATEST))
    shift = draw(
        st.one_of(
            st.integers(-8 * DAY_MS, 8 * DAY_MS),
            # Quarter hours within a day of the change, where the edge cases live.
            st.integers(-96, 96).map(lambda quarters: quarters * 15 * MINUTE_MS),
        )
    )
    return zone_name, draw(st.sampled_from(changes)) + shift


def inside(ms: int, days: frozenset[int], start: time, end: time, zone: ZoneInfo) -> bool:
    """The window rule restated: the local wall clock of `ms` is in the window."""
    wall = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).astimezone(zone)
    today, yesterday, clock = wall.weekday(), (wall.weekday() + 6) % 7, wall.time()
    if start == end:
        return today in days
    if start < end:
        return today in days and start <= clock < end
    return (today in days and clock >= start) or (yesterday in days and clock < end)


@settings(max_examples=200, deadline=None)
@given(
    case=zone_and_instant(),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=times_of_day,
    end=times_of_day,
)
def test_next_window_open_is_the_earliest_open_instant(
    case: tuple[str, int], days: frozenset[int], start: time, end: time
) -> None:
    zone_name, at_ms = case
    zone = ZoneInfo(zone_name)
    opens = next_window_open(at_ms, days, start, end, zone)
    assert opens >= at_ms
    assert inside(opens, days, start, end, zone)
    if opens > at_ms:
        assert not inside(opens - 1, days, start, end, zone)  # it really opens there
        if opens - at_ms < 8 * DAY_MS:
            first_minute = -(-at_ms // MINUTE_MS) * MINUTE_MS
            for minute in range(first_minute, opens, MINUTE_MS):
                assert not inside(minute, days, start, end, zone), minute
