"""The journey engine's waits: delay_until (an attribute, the trigger event's time or
one of its properties, plus an offset) and wait_until (paths, max_time, `since: entry`).

Every test starts at T0 = Monday 2024-06-03 10:00 UTC (the workspace zone is UTC). A
delivery key is `campaign/journey id/step id`; journey ids count from 1 in each fresh
database.
"""

from __future__ import annotations

from pathlib import Path

from tests.service.engine_kit import (
    activity,
    activity_details,
    deliveries,
    identify,
    only_journey,
    open_ws,
    set_clock,
    track,
    utc,
    write_campaign,
)

T0 = utc("2024-06-03 10:00")


# -- delay_until -------------------------------------------------------------------------

DELAY_UNTIL = """
id: remind
name: Reminder
state: active
trigger: {event: booked}
steps:
  - id: hold
    delay_until: {SPEC}
  - {id: ping, send: {template: t, subject: "Soon"}}
"""


def _delay_until(tmp_path: Path, spec: str) -> None:
    write_campaign(tmp_path, DELAY_UNTIL.replace("{SPEC}", spec))


def test_delay_until_an_attribute_minus_an_offset(tmp_path: Path) -> None:
    _delay_until(tmp_path, "{attribute: appointment_at, offset: -1h}")
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", appointment_at="2024-06-05T15:00:00Z")
    track(ws, T0, "u1", "booked")
    # 2024-06-05 15:00 - 1h = 14:00 UTC.
    assert only_journey(ws, "u1").next_due_at == utc("2024-06-05 14:00")
    ws.engine.advance(utc("2024-06-05 13:59"))
    assert deliveries(ws) == []
    ws.engine.advance(utc("2024-06-06 00:00"))
    assert deliveries(ws) == [("remind/1/ping", "2024-06-05 14:00:00")]


def test_delay_until_the_trigger_events_time_plus_an_offset(tmp_path: Path) -> None:
    _delay_until(tmp_path, "{trigger_time: true, offset: 2h}")
    ws = open_ws(tmp_path, T0)
    # Received at 10:00, happened at 09:30: 09:30 + 2h = 11:30 (not 12:00).
    track(ws, T0, "u1", "booked", timestamp=utc("2024-06-03 09:30"))
    assert only_journey(ws, "u1").next_due_at == utc("2024-06-03 11:30")
    ws.engine.advance(utc("2024-06-03 12:00"))
    assert deliveries(ws) == [("remind/1/ping", "2024-06-03 11:30:00")]


def test_delay_until_an_event_property(tmp_path: Path) -> None:
    _delay_until(tmp_path, "{event_property: slot.starts_at}")
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "booked", {"slot": {"starts_at": "2024-06-04T08:00:00Z"}})
    assert only_journey(ws, "u1").next_due_at == utc("2024-06-04 08:00")
    ws.engine.advance(utc("2024-06-04 08:00"))
    assert deliveries(ws) == [("remind/1/ping", "2024-06-04 08:00:00")]


def test_delay_until_a_past_time_continues_at_once(tmp_path: Path) -> None:
    _delay_until(tmp_path, "{attribute: appointment_at}")
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", appointment_at="2024-06-01T09:00:00Z")
    track(ws, T0, "u1", "booked")
    # The target (June 1) is before entry (June 3 10:00): no wait, ping at entry.
    assert deliveries(ws) == [("remind/1/ping", "2024-06-03 10:00:00")]
    assert only_journey(ws, "u1").state == "completed"


def test_delay_until_a_missing_attribute_is_skipped_with_reason_no_time(tmp_path: Path) -> None:
    _delay_until(tmp_path, "{attribute: appointment_at}")
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "booked")
    assert deliveries(ws) == [("remind/1/ping", "2024-06-03 10:00:00")]
    assert activity(ws, "step.skipped") == [("step.skipped", "hold", "2024-06-03 10:00:00")]
    assert activity_details(ws, "step.skipped")[0]["reason"] == "no_time"


# -- wait_until --------------------------------------------------------------------------

WAIT = """
id: onboard
name: Onboarding
state: active
trigger: {event: signed_up}
steps:
  - id: wait_login
    wait_until:
      paths:
        - id: logged_in
          when: {performed: app_login, SINCE}
          steps:
            - {id: welcome_back, send: {template: t, subject: "Welcome back"}}
        - id: is_pro
          when: {attribute: plan, equals: pro}
          steps:
            - {id: pro_hello, send: {template: t, subject: "Pro"}}
      max_time: 2d
      timeout:
        - {id: nudge, send: {template: t, subject: "Come back"}}
  - {id: after_wait, send: {template: t, subject: "Tips"}}
"""


def _wait(tmp_path: Path, since: str = "since: entry") -> None:
    write_campaign(tmp_path, WAIT.replace("SINCE", since))


def test_wait_until_already_true_on_arrival_does_not_wait(tmp_path: Path) -> None:
    _wait(tmp_path)
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", plan="pro")
    track(ws, T0, "u1", "signed_up")
    # `is_pro` holds on arrival at 10:00: its path, then the step after the wait.
    assert deliveries(ws) == [
        ("onboard/1/pro_hello", "2024-06-03 10:00:00"),
        ("onboard/1/after_wait", "2024-06-03 10:00:00"),
    ]
    assert activity_details(ws, "wait.met")[0]["path"] == "is_pro"


def test_wait_until_is_met_later_by_an_ingested_event(tmp_path: Path) -> None:
    _wait(tmp_path)
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")
    journey = only_journey(ws, "u1")
    # Waiting at 10:00, timeout due 2 days later.
    assert (journey.step_id, journey.next_due_at) == ("wait_login", utc("2024-06-05 10:00"))
    track(ws, utc("2024-06-04 09:00"), "u1", "app_login")
    assert deliveries(ws) == [
        ("onboard/1/welcome_back", "2024-06-04 09:00:00"),
        ("onboard/1/after_wait", "2024-06-04 09:00:00"),
    ]
    assert only_journey(ws, "u1").state == "completed"
    # The timeout that would have been due on June 5 no longer exists.
    ws.engine.advance(utc("2024-06-06 00:00"))
    assert len(deliveries(ws)) == 2
    assert activity(ws, "wait.timed_out") == []


def test_wait_until_times_out_after_max_time(tmp_path: Path) -> None:
    _wait(tmp_path)
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")
    ws.engine.advance(utc("2024-06-05 09:59"))
    assert deliveries(ws) == []
    ws.engine.advance(utc("2024-06-05 10:00"))
    # Timed out at 10:00 on June 5: the timeout path, then the step after the wait.
    assert deliveries(ws) == [
        ("onboard/1/nudge", "2024-06-05 10:00:00"),
        ("onboard/1/after_wait", "2024-06-05 10:00:00"),
    ]
    assert activity(ws, "wait.timed_out") == [
        ("wait.timed_out", "wait_login", "2024-06-05 10:00:00")
    ]


def test_wait_until_times_out_at_its_due_time_even_if_an_event_arrives_before_the_tick(
    tmp_path: Path,
) -> None:
    _wait(tmp_path)
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")
    # The timeout is due June 5 10:00; no tick ran before a login arrives at 12:00. The
    # result must not depend on tick timing: the wait timed out at 10:00 (the login
    # finds the journey already past it).
    track(ws, utc("2024-06-05 12:00"), "u1", "app_login")
    ws.engine.advance(utc("2024-06-05 12:00"))
    assert deliveries(ws) == [
        ("onboard/1/nudge", "2024-06-05 10:00:00"),
        ("onboard/1/after_wait", "2024-06-05 10:00:00"),
    ]


def test_wait_until_since_entry_ignores_events_before_entry(tmp_path: Path) -> None:
    _wait(tmp_path)
    ws = open_ws(tmp_path, T0)
    # u1 logged in an hour before entering: `since: entry` does not count it.
    track(ws, utc("2024-06-03 09:00"), "u1", "app_login")
    track(ws, T0, "u1", "signed_up")
    assert deliveries(ws) == []
    assert only_journey(ws, "u1").step_id == "wait_login"
    track(ws, utc("2024-06-03 11:00"), "u1", "app_login")
    assert deliveries(ws)[0] == ("onboard/1/welcome_back", "2024-06-03 11:00:00")


def test_wait_until_without_since_counts_events_before_entry(tmp_path: Path) -> None:
    _wait(tmp_path, since="within: 30d")
    ws = open_ws(tmp_path, T0)
    # The login an hour before entry is within 30 days: met on arrival at 10:00.
    track(ws, utc("2024-06-03 09:00"), "u1", "app_login")
    track(ws, T0, "u1", "signed_up")
    assert deliveries(ws)[0] == ("onboard/1/welcome_back", "2024-06-03 10:00:00")


def test_wait_until_first_path_met_wins(tmp_path: Path) -> None:
    _wait(tmp_path)
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", plan="free")
    track(ws, T0, "u1", "signed_up")
    # One batch at 11:00 makes both paths true (plan pro, and a login): `logged_in` is
    # listed first, so it wins.
    set_clock(ws, utc("2024-06-03 11:00"))
    ws.ingestor.apply(
        [
            {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
            {"type": "track", "userId": "u1", "event": "app_login"},
        ]
    )
    assert [k for k, _ in deliveries(ws)] == ["onboard/1/welcome_back", "onboard/1/after_wait"]
