"""The journey engine and person-local time: day delays across DST (Europe/Paris,
2024-10-27 and 2024-03-31) and a 09:00-17:00 weekday window across the America/New_York
change of 2024-11-03.

The facts used below (tz database):
* Europe/Paris: CEST (UTC+2) until 2024-10-27 01:00 UTC, then CET (UTC+1); CET until
  2024-03-31 01:00 UTC, then CEST.
* America/New_York: EDT (UTC-4) until 2024-11-03 06:00 UTC, then EST (UTC-5).
* 2024-11-01 is a Friday, 2024-11-04 a Monday.
"""

from __future__ import annotations

from pathlib import Path

from tests.service.engine_kit import (
    DAY,
    HOUR,
    deliveries,
    identify,
    only_journey,
    open_ws,
    track,
    utc,
    write_campaign,
)

DAY_DELAY = """
id: daily
name: A day later
state: active
trigger: {event: signed_up}
steps:
  - {id: hello, send: {template: t, subject: "Hello"}}
  - {id: wait, delay: DELAY}
  - {id: again, send: {template: t, subject: "Again"}}
"""


def _day_delay(tmp_path: Path, delay: str) -> None:
    write_campaign(tmp_path, DAY_DELAY.replace("DELAY", delay))


def test_one_day_delay_keeps_the_local_wall_time_across_the_autumn_change(
    tmp_path: Path,
) -> None:
    _day_delay(tmp_path, "1d")
    ws = open_ws(tmp_path, utc("2024-10-26 07:00"))
    start = utc("2024-10-26 07:00")  # 09:00 CEST in Paris
    identify(ws, start, "paris", timezone="Europe/Paris")
    track(ws, start, "paris", "signed_up")
    track(ws, start, "utc", "signed_up")  # no timezone: the workspace's (UTC)
    # paris: 09:00 CEST Saturday + 1 day = 09:00 CET Sunday = 08:00 UTC: 25 h elapse.
    # utc: 07:00 UTC + 1 day = 07:00 UTC: 24 h.
    paris, other = only_journey(ws, "paris"), only_journey(ws, "utc")
    assert paris.next_due_at == utc("2024-10-27 08:00") == start + 25 * HOUR
    assert other.next_due_at == utc("2024-10-27 07:00") == start + 24 * HOUR
    # A tick at 07:30 UTC sends utc's message and leaves paris's due time alone (it is
    # computed once, on arrival at the delay, never again on a tick).
    ws.engine.advance(utc("2024-10-27 07:30"))
    assert only_journey(ws, "paris").next_due_at == utc("2024-10-27 08:00")
    ws.engine.advance(utc("2024-10-27 07:59:59.999"))
    ws.engine.advance(utc("2024-10-27 12:00"))
    assert deliveries(ws) == [
        ("daily/1/hello", "2024-10-26 07:00:00"),
        ("daily/2/hello", "2024-10-26 07:00:00"),
        ("daily/2/again", "2024-10-27 07:00:00"),
        ("daily/1/again", "2024-10-27 08:00:00"),
    ]


def test_one_day_delay_across_the_spring_change_is_23_hours(tmp_path: Path) -> None:
    _day_delay(tmp_path, "1d")
    start = utc("2024-03-30 08:00")  # 09:00 CET in Paris
    ws = open_ws(tmp_path, start)
    identify(ws, start, "paris", timezone="Europe/Paris")
    track(ws, start, "paris", "signed_up")
    # 09:00 CEST on Sunday 2024-03-31 = 07:00 UTC.
    assert only_journey(ws, "paris").next_due_at == utc("2024-03-31 07:00") == start + 23 * HOUR


def test_a_day_delay_uses_the_workspace_zone_for_people_without_one(tmp_path: Path) -> None:
    _day_delay(tmp_path, "1d")
    start = utc("2024-10-26 07:00")
    ws = open_ws(tmp_path, start, timezone="Europe/Paris")
    track(ws, start, "u1", "signed_up")
    assert only_journey(ws, "u1").next_due_at == utc("2024-10-27 08:00")


def test_a_delay_in_hours_is_elapsed_time_even_for_a_person_with_a_zone(tmp_path: Path) -> None:
    _day_delay(tmp_path, "24h")
    start = utc("2024-10-26 07:00")
    ws = open_ws(tmp_path, start)
    identify(ws, start, "paris", timezone="Europe/Paris")
    track(ws, start, "paris", "signed_up")
    # 24 elapsed hours: 07:00 UTC, which is 08:00 CET in Paris (not 09:00).
    assert only_journey(ws, "paris").next_due_at == utc("2024-10-27 07:00") == start + DAY


WINDOW = """
id: office
name: Office hours
state: active
trigger: {event: signed_up}
steps:
  - id: office_hours
    time_window: {from: "09:00", to: "17:00", days: [weekdays]}
  - {id: first, send: {template: t, subject: "First"}}
  - {id: later, delay: 8h}
  - {id: second, send: {template: t, subject: "Second"}}
"""


def test_time_window_in_new_york_across_the_autumn_change(tmp_path: Path) -> None:
    write_campaign(tmp_path, WINDOW)
    ws = open_ws(tmp_path, utc("2024-10-31 00:00"))
    entries = [
        # Thursday 08:00 EDT: opens at 09:00 EDT = 13:00 UTC the same day.
        ("thu", utc("2024-10-31 12:00")),
        # Friday 17:30 EDT: closed (17:00 is excluded), weekend closed, opens Monday
        # 09:00 EST = 14:00 UTC (the offset of Monday, not of Friday's EDT).
        ("fri", utc("2024-11-01 21:30")),
        # Sunday 01:30 EDT (before the 06:00 UTC change): Monday 09:00 EST = 14:00 UTC.
        ("sun", utc("2024-11-03 05:30")),
    ]
    for user, at in entries:
        identify(ws, at, user, timezone="America/New_York")
        track(ws, at, user, "signed_up")
        ws.engine.advance(at)
    for user in ("fri", "sun"):
        held = only_journey(ws, user)
        assert (held.step_id, held.next_due_at) == ("first", utc("2024-11-04 14:00"))
    # A tick just before Monday 14:00 UTC releases nothing; thu is done by then.
    ws.engine.advance(utc("2024-11-04 13:59:59.999"))
    assert [k for k, _ in deliveries(ws)] == ["office/1/first", "office/1/second"]
    # Monday 10:00 EST: inside, sent at once.
    identify(ws, utc("2024-11-04 15:00"), "mon", timezone="America/New_York")
    track(ws, utc("2024-11-04 15:00"), "mon", "signed_up")
    ws.engine.advance(utc("2024-11-05 12:00"))
    # Each `second` is 8 h after its `first` was released, whether or not that is inside
    # the window: 14:00 UTC + 8 h = 22:00 UTC = 17:00 EST Monday, outside, sent anyway
    # (the window holds only the next message).
    assert deliveries(ws) == [
        ("office/1/first", "2024-10-31 13:00:00"),
        ("office/1/second", "2024-10-31 21:00:00"),
        ("office/2/first", "2024-11-04 14:00:00"),
        ("office/3/first", "2024-11-04 14:00:00"),
        ("office/4/first", "2024-11-04 15:00:00"),
        ("office/2/second", "2024-11-04 22:00:00"),
        ("office/3/second", "2024-11-04 22:00:00"),
        ("office/4/second", "2024-11-04 23:00:00"),
    ]


def test_time_window_uses_the_workspace_zone_for_people_without_one(tmp_path: Path) -> None:
    write_campaign(tmp_path, WINDOW)
    at = utc("2024-11-01 21:30")  # Friday 17:30 EDT
    ws = open_ws(tmp_path, at, timezone="America/New_York")
    track(ws, at, "u1", "signed_up")
    identify(ws, at, "u2", timezone="Europe/London")
    track(ws, at, "u2", "signed_up")
    # u1 has no zone: New York's, Monday 09:00 EST = 14:00 UTC. u2 lives in London
    # (GMT = UTC in November): Friday 21:30 is closed there too, Monday 09:00 GMT.
    assert only_journey(ws, "u1").next_due_at == utc("2024-11-04 14:00")
    assert only_journey(ws, "u2").next_due_at == utc("2024-11-04 09:00")
