"""The journey engine's exit policies and conversion goals.

Every test starts at T0 = Monday 2024-06-03 10:00 UTC. A delivery key is
`campaign/journey id/step id`; journey ids count from 1 in each fresh database.
"""

from __future__ import annotations

from pathlib import Path

from app.service.workspace import Workspace
from tests.service.engine_kit import (
    DAY,
    HOUR,
    activity,
    deliveries,
    identify,
    journeys,
    only_journey,
    open_ws,
    track,
    utc,
    write_campaign,
    write_segment,
)

T0 = utc("2024-06-03 10:00")

PRO = """
id: pro
name: Paying customers
condition: {attribute: plan, equals: pro}
"""


def _event_campaign(tmp_path: Path, exit_policy: str, goal: str, steps: str | None = None) -> None:
    write_campaign(
        tmp_path,
        f"""
        id: conv
        name: Convert
        state: active
        trigger: {{event: signed_up}}
        exit: {exit_policy}
        goal: {goal}
        steps:
        """
        + (
            steps
            or """
          - {id: pause, delay: 1d}
          - {id: pitch, send: {template: t, subject: "Buy"}}
        """
        ),
    )


def _state(ws: Workspace, user: str) -> tuple[str, str | None, int | None, int | None]:
    j = only_journey(ws, user)
    return j.state, j.exit_reason, j.ended_at, j.converted_at


# -- exit policies -----------------------------------------------------------------------


def test_exit_on_conversion(tmp_path: Path) -> None:
    _event_campaign(tmp_path, "exit_on_conversion", "{performed: purchase, within: 7d}")
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")  # journey 1
    track(ws, T0, "u2", "signed_up")  # journey 2
    at = utc("2024-06-03 15:00")
    track(ws, at, "u1", "purchase")
    # u1 converts at 15:00 and exits then; u2 gets the pitch a day after entry.
    assert _state(ws, "u1") == ("exited", "converted", at, at)
    ws.engine.advance(utc("2024-06-05 00:00"))
    assert deliveries(ws) == [("conv/2/pitch", "2024-06-04 10:00:00")]
    assert activity(ws, "goal.converted") == [("goal.converted", None, "2024-06-03 15:00:00")]


def test_exit_on_trigger_not_matched_leaving_the_segment_exits(tmp_path: Path) -> None:
    write_segment(tmp_path, PRO)
    write_campaign(
        tmp_path,
        """
        id: pro_tour
        name: Pro tour
        state: active
        trigger: {segment_entered: pro}
        exit: exit_on_trigger_not_matched
        steps:
          - {id: pause, delay: 1d}
          - {id: tour, send: {template: t, subject: "Tour"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", plan="pro")  # journey 1
    identify(ws, T0, "u2", plan="pro")  # journey 2
    identify(ws, utc("2024-06-03 12:00"), "u1", plan="free")  # u1 leaves pro: exits
    assert _state(ws, "u1") == ("exited", "trigger_not_matched", utc("2024-06-03 12:00"), None)
    ws.engine.advance(utc("2024-06-05 00:00"))
    assert deliveries(ws) == [("pro_tour/2/tour", "2024-06-04 10:00:00")]


def test_exit_on_trigger_not_matched_is_checked_right_before_a_send(tmp_path: Path) -> None:
    # The entry filter holds while the trial runs: it stops holding with time alone,
    # with no operation for the person that would re-check it.
    write_campaign(
        tmp_path,
        """
        id: trial_tips
        name: Trial tips
        state: active
        trigger: {event: signed_up}
        entry_filter: {attribute: trial_ends_at, after: now}
        exit: exit_on_trigger_not_matched
        steps:
          - {id: pause, delay: 1d}
          - {id: tip, send: {template: t, subject: "Tip"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", trial_ends_at="2024-06-04T00:00:00Z")
    identify(ws, T0, "u2", trial_ends_at="2024-06-30T00:00:00Z")
    track(ws, T0, "u1", "signed_up")  # journey 1: trial still running at entry
    track(ws, T0, "u2", "signed_up")  # journey 2
    ws.engine.advance(utc("2024-06-05 00:00"))
    # At the send (June 4 10:00) u1's trial has ended: exit instead of the tip.
    end = utc("2024-06-04 10:00")
    assert _state(ws, "u1") == ("exited", "trigger_not_matched", end, None)
    assert deliveries(ws) == [("trial_tips/2/tip", "2024-06-04 10:00:00")]


def test_the_send_check_sees_a_segment_left_with_time_alone(tmp_path: Path) -> None:
    write_segment(
        tmp_path,
        """
        id: recent
        name: Logged in lately
        condition: {performed: app_login, within: 2d}
        """,
    )
    write_campaign(
        tmp_path,
        """
        id: engaged
        name: Engaged
        state: active
        trigger: {segment_entered: recent}
        exit: exit_on_trigger_not_matched
        steps:
          - {id: pause, delay: 3d}
          - {id: thanks, send: {template: t, subject: "Thanks"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "app_login")  # enters recent: journey 1
    track(ws, T0, "u2", "app_login")  # journey 2
    track(ws, T0 + 2 * DAY, "u2", "app_login")  # u2 stays recent
    # No sweep runs. u1's last login is 3 days old at the send (June 6 10:00): u1 left
    # `recent` on June 5 and must not get the message; u2 (login June 5) is still in.
    ws.engine.advance(T0 + 3 * DAY)
    assert deliveries(ws) == [("engaged/2/thanks", "2024-06-06 10:00:00")]
    assert _state(ws, "u1") == ("exited", "trigger_not_matched", T0 + 3 * DAY, None)


def test_exit_on_trigger_not_matched_or_conversion(tmp_path: Path) -> None:
    write_segment(tmp_path, PRO)
    write_campaign(
        tmp_path,
        """
        id: pro_tour
        name: Pro tour
        state: active
        trigger: {segment_entered: pro}
        exit: exit_on_trigger_not_matched_or_conversion
        goal: {performed: invited_team, within: 7d}
        steps:
          - {id: pause, delay: 1d}
          - {id: tour, send: {template: t, subject: "Tour"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    for user in ("u1", "u2", "u3"):  # journeys 1, 2, 3
        identify(ws, T0, user, plan="pro")
    track(ws, utc("2024-06-03 11:00"), "u1", "invited_team")  # converts
    identify(ws, utc("2024-06-03 12:00"), "u2", plan="free")  # leaves pro
    ws.engine.advance(utc("2024-06-05 00:00"))
    at11, at12 = utc("2024-06-03 11:00"), utc("2024-06-03 12:00")
    assert _state(ws, "u1") == ("exited", "converted", at11, at11)
    assert _state(ws, "u2") == ("exited", "trigger_not_matched", at12, None)
    assert deliveries(ws) == [("pro_tour/3/tour", "2024-06-04 10:00:00")]


def test_exit_only_at_end_records_the_conversion_and_carries_on(tmp_path: Path) -> None:
    _event_campaign(tmp_path, "exit_only_at_end", "{performed: purchase, within: 7d}")
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")
    track(ws, utc("2024-06-03 11:00"), "u1", "purchase")
    journey = only_journey(ws, "u1")
    assert (journey.state, journey.converted_at) == ("active", utc("2024-06-03 11:00"))
    ws.engine.advance(utc("2024-06-05 00:00"))
    assert deliveries(ws) == [("conv/1/pitch", "2024-06-04 10:00:00")]
    assert _state(ws, "u1") == ("completed", "completed", T0 + DAY, utc("2024-06-03 11:00"))


# -- goals -------------------------------------------------------------------------------


def test_goal_converts_once_within_its_window(tmp_path: Path) -> None:
    _event_campaign(
        tmp_path,
        "exit_only_at_end",
        "{performed: purchase, where: {plan: annual}, within: 2d}",
        steps="""
          - {id: pause, delay: 5d}
          - {id: pitch, send: {template: t, subject: "Buy"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")  # journey 1
    track(ws, T0, "u2", "signed_up")  # journey 2
    # u1: a monthly purchase (filtered out), then two annual ones: converts at the first.
    track(ws, T0 + HOUR, "u1", "purchase", {"plan": "monthly"})
    assert only_journey(ws, "u1").converted_at is None
    track(ws, T0 + 2 * HOUR, "u1", "purchase", {"plan": "annual"})
    track(ws, T0 + 3 * HOUR, "u1", "purchase", {"plan": "annual"})
    # u2 buys 3 days after entry: outside the 2-day window.
    track(ws, T0 + 3 * DAY, "u2", "purchase", {"plan": "annual"})
    assert only_journey(ws, "u1").converted_at == T0 + 2 * HOUR
    assert only_journey(ws, "u2").converted_at is None
    assert activity(ws, "goal.converted") == [("goal.converted", None, "2024-06-03 12:00:00")]


def test_goal_counts_after_the_journey_completed_within_the_window(tmp_path: Path) -> None:
    _event_campaign(
        tmp_path,
        "exit_on_conversion",
        "{performed: purchase, within: 7d}",
        steps="""
          - {id: pitch, send: {template: t, subject: "Buy"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")  # pitch at 10:00, completed at 10:00
    track(ws, T0 + DAY, "u1", "purchase")
    track(ws, T0 + 2 * DAY, "u1", "purchase")
    # Converted a day later (the message worked); the journey stays `completed`.
    assert _state(ws, "u1") == ("completed", "completed", T0, T0 + DAY)
    assert len(activity(ws, "goal.converted")) == 1


def test_goal_counted_from_the_last_message(tmp_path: Path) -> None:
    _event_campaign(
        tmp_path,
        "exit_only_at_end",
        "{performed: purchase, within: 1d, from: message}",
        steps="""
          - {id: pause, delay: 2d}
          - {id: offer, send: {template: t, subject: "Offer"}}
          - {id: pause2, delay: 3d}
          - {id: last, send: {template: t, subject: "Last chance"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")  # journey 1
    track(ws, T0, "u2", "signed_up")  # journey 2
    # Before any message nothing counts (u1 buys a day after entry).
    track(ws, T0 + DAY, "u1", "purchase")
    assert only_journey(ws, "u1").converted_at is None
    ws.engine.advance(T0 + 2 * DAY)  # offer queued June 5 10:00 for both
    # u1 buys 12 h after the offer: converts. u2 buys 36 h after it: outside the 1 d.
    track(ws, T0 + 2 * DAY + 12 * HOUR, "u1", "purchase")
    track(ws, T0 + 3 * DAY + 12 * HOUR, "u2", "purchase")
    assert only_journey(ws, "u1").converted_at == T0 + 2 * DAY + 12 * HOUR
    assert only_journey(ws, "u2").converted_at is None


def test_segment_entered_goal(tmp_path: Path) -> None:
    write_segment(tmp_path, PRO)
    _event_campaign(tmp_path, "exit_on_conversion", "{segment_entered: pro, within: 7d}")
    ws = open_ws(tmp_path, T0)
    identify(ws, T0 - HOUR, "u2", plan="pro")  # already pro an hour before entering
    track(ws, T0, "u1", "signed_up")  # journey 1
    track(ws, T0, "u2", "signed_up")  # journey 2
    identify(ws, T0 + HOUR, "u1", plan="pro")  # u1 enters pro at 11:00: converts, exits
    identify(ws, T0 + HOUR, "u2", seats=2)  # u2 changes but entered pro before entry
    assert _state(ws, "u1") == ("exited", "converted", T0 + HOUR, T0 + HOUR)
    ws.engine.advance(T0 + 2 * DAY)
    assert deliveries(ws) == [("conv/2/pitch", "2024-06-04 10:00:00")]
    assert only_journey(ws, "u2").converted_at is None
    assert [j.campaign_id for j in journeys(ws, "u1")] == ["conv"]
