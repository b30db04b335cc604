"""The journey engine's triggers, entry filter and re-entry policies.

Every test starts at T0 = Monday 2024-06-03 10:00 UTC. A delivery key is
`campaign/journey id/step id`; journey ids count from 1 in each fresh database.
"""

from __future__ import annotations

from pathlib import Path

from app.service.workspace import Workspace
from tests.service.engine_kit import (
    DAY,
    HOUR,
    activity_details,
    deliveries,
    identify,
    journeys,
    only_journey,
    open_ws,
    set_clock,
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


def _entered(ws: Workspace, user: str) -> list[int]:
    return [j.entered_at for j in journeys(ws, user)]


# -- event triggers ----------------------------------------------------------------------


def test_event_trigger_with_property_filters(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: big_trial
        name: Big trials
        state: active
        trigger:
          event: signed_up
          where:
            - {property: plan, equals: trial}
            - {property: seats, greater: 10}
        steps:
          - {id: hi, send: {template: t, subject: "Hi"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up", {"plan": "trial", "seats": 25})  # both match
    track(ws, T0, "u2", "signed_up", {"plan": "pro", "seats": 25})  # plan does not
    track(ws, T0, "u3", "signed_up", {"plan": "trial", "seats": 5})  # seats do not
    track(ws, T0, "u4", "signed_up", {"plan": "trial"})  # no seats
    track(ws, T0, "u5", "logged_in", {"plan": "trial", "seats": 25})  # another event
    assert deliveries(ws) == [("big_trial/1/hi", "2024-06-03 10:00:00")]
    assert [len(journeys(ws, u)) for u in ("u1", "u2", "u3", "u4", "u5")] == [1, 0, 0, 0, 0]
    journey = only_journey(ws, "u1")
    assert journey.trigger_event["properties"] == {"plan": "trial", "seats": 25}


def test_event_trigger_key_keeps_one_journey_per_key(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: cart
        name: Abandoned cart
        state: active
        trigger: {event: cart_updated, key: cart_id}
        re_entry: once
        steps:
          - {id: pause, delay: 1h}
          - {id: remind, send: {template: t, subject: "Your cart"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "cart_updated", {"cart_id": "c1"})  # journey 1, key c1
    track(ws, T0 + 10 * 60_000, "u1", "cart_updated", {"cart_id": "c1"})  # once: no entry
    track(ws, T0 + 20 * 60_000, "u1", "cart_updated", {"cart_id": "c2"})  # journey 2, key c2
    assert [(j.id, j.entry_key, j.entered_at) for j in journeys(ws, "u1")] == [
        (1, "c1", T0),
        (2, "c2", utc("2024-06-03 10:20")),
    ]
    ws.engine.advance(utc("2024-06-03 12:00"))
    assert deliveries(ws) == [
        ("cart/1/remind", "2024-06-03 11:00:00"),
        ("cart/2/remind", "2024-06-03 11:20:00"),
    ]
    assert [d.get("key") for d in activity_details(ws, "journey.entered")] == ["c1", "c2"]


def test_events_older_than_72_hours_never_start_a_journey(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: late
        name: Late events
        state: active
        trigger: {event: signed_up}
        steps:
          - {id: hi, send: {template: t, subject: "Hi"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    # All received at T0: happened 73 h, exactly 72 h and 71 h before it.
    track(ws, T0, "old", "signed_up", timestamp=T0 - 73 * HOUR)
    track(ws, T0, "edge", "signed_up", timestamp=T0 - 72 * HOUR)
    track(ws, T0, "recent", "signed_up", timestamp=T0 - 71 * HOUR)
    # The old event is stored (segments see it) but starts nothing; 72 h is still in.
    assert ws.store.events.counts_by_name()["signed_up"] == 3
    assert [len(journeys(ws, u)) for u in ("old", "edge", "recent")] == [0, 1, 1]
    # Entered when received, not when it happened.
    assert only_journey(ws, "recent").entered_at == T0
    assert deliveries(ws) == [
        ("late/1/hi", "2024-06-03 10:00:00"),
        ("late/2/hi", "2024-06-03 10:00:00"),
    ]


def test_the_trigger_age_limit_comes_from_the_settings(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: late
        name: Late events
        state: active
        trigger: {event: signed_up}
        steps:
          - {id: hi, send: {template: t, subject: "Hi"}}
        """,
    )
    ws = open_ws(tmp_path, T0, trigger_max_age_hours=1)
    track(ws, T0, "u1", "signed_up", timestamp=T0 - 2 * HOUR)
    track(ws, T0, "u2", "signed_up", timestamp=T0 - 30 * 60_000)
    assert [len(journeys(ws, u)) for u in ("u1", "u2")] == [0, 1]


def test_entry_filter(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: hello
        name: Hello
        state: active
        trigger: {event: signed_up}
        entry_filter: {attribute: email, exists: true}
        steps:
          - {id: hi, send: {template: t, subject: "Hi"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")  # no email: filtered out
    identify(ws, T0, "u2", email="u2@example.com")
    track(ws, T0, "u2", "signed_up")
    assert (journeys(ws, "u1"), len(journeys(ws, "u2"))) == ([], 1)
    # Journey ids count entries only: u2's is 1.
    assert deliveries(ws) == [("hello/1/hi", "2024-06-03 10:00:00")]


# -- segment triggers --------------------------------------------------------------------


def test_segment_entered_and_segment_exited_triggers(tmp_path: Path) -> None:
    write_segment(tmp_path, PRO)
    for cid, trigger in (("welcome_pro", "segment_entered"), ("miss_you", "segment_exited")):
        write_campaign(
            tmp_path,
            f"""
            id: {cid}
            name: {cid}
            state: active
            trigger: {{{trigger}: pro}}
            steps:
              - {{id: mail, send: {{template: t, subject: "{cid}"}}}}
            """,
        )
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", plan="free")  # not in pro: nothing
    assert deliveries(ws) == []
    identify(ws, utc("2024-06-03 11:00"), "u1", plan="pro")  # enters pro: journey 1
    identify(ws, utc("2024-06-03 12:00"), "u1", plan="free")  # leaves pro: journey 2
    assert deliveries(ws) == [
        ("welcome_pro/1/mail", "2024-06-03 11:00:00"),
        ("miss_you/2/mail", "2024-06-03 12:00:00"),
    ]


def test_segment_audience_current_and_future_versus_future_only(tmp_path: Path) -> None:
    write_segment(tmp_path, PRO)
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "early", plan="pro")  # in pro before the campaigns exist
    for cid, audience in (("everyone", "current_and_future"), ("newcomers", "future_only")):
        write_campaign(
            tmp_path,
            f"""
            id: {cid}
            name: {cid}
            state: active
            trigger: {{segment_entered: pro, audience: {audience}}}
            steps:
              - {{id: mail, send: {{template: t, subject: "{cid}"}}}}
            """,
        )
    golive = utc("2024-06-03 12:00")
    set_clock(ws, golive)
    assert ws.reload() == []
    # At 12:00 `everyone` (current_and_future) enters early (journey 1); `newcomers`
    # (future_only) does not.
    assert deliveries(ws) == [("everyone/1/mail", "2024-06-03 12:00:00")]
    # Another reload (nothing changed) enters no one again.
    set_clock(ws, utc("2024-06-03 12:30"))
    assert ws.reload() == []
    # Someone entering afterwards starts both (journeys 2 and 3, in file order).
    identify(ws, utc("2024-06-03 13:00"), "late", plan="pro")
    assert sorted(deliveries(ws)) == [
        ("everyone/1/mail", "2024-06-03 12:00:00"),
        ("everyone/2/mail", "2024-06-03 13:00:00"),
        ("newcomers/3/mail", "2024-06-03 13:00:00"),
    ]


# -- date trigger ------------------------------------------------------------------------


def test_date_trigger_enters_at_the_attribute_time_plus_offset_via_advance(
    tmp_path: Path,
) -> None:
    write_campaign(
        tmp_path,
        """
        id: trial_ending
        name: Trial ends in 3 days
        state: active
        trigger:
          date: {attribute: trial_ends_at, offset: -3d}
        steps:
          - {id: warn, send: {template: t, subject: "3 days left"}}
        """,
    )
    ws = open_ws(tmp_path, T0)  # live from 2024-06-03 10:00
    # u1: trial ends June 10 12:00 -> enters June 7 12:00.
    identify(ws, T0, "u1", trial_ends_at="2024-06-10T12:00:00Z")
    # u2: trial ends June 5 10:00 -> June 2 10:00, before the campaign went live: never.
    identify(ws, T0, "u2", trial_ends_at="2024-06-05T10:00:00Z")
    # u3: the attribute arrives June 5 as Unix seconds (June 12 00:00) -> June 9 00:00.
    identify(ws, utc("2024-06-05 08:00"), "u3", trial_ends_at=utc("2024-06-12 00:00") // 1000)
    # Not when the attribute arrives...
    assert journeys(ws, "u1") == [] and journeys(ws, "u3") == []
    ws.engine.advance(utc("2024-06-07 11:59"))
    assert deliveries(ws) == []
    # ... but at that instant, whenever the tick that notices it runs.
    report = ws.engine.advance(utc("2024-06-08 00:00"))
    assert report.entered == 1
    assert _entered(ws, "u1") == [utc("2024-06-07 12:00")]
    ws.engine.advance(utc("2024-06-20 00:00"))
    assert _entered(ws, "u3") == [utc("2024-06-09 00:00")]
    assert journeys(ws, "u2") == []
    assert deliveries(ws) == [
        ("trial_ending/1/warn", "2024-06-07 12:00:00"),
        ("trial_ending/2/warn", "2024-06-09 00:00:00"),
    ]
    # Ticking again enters no one twice.
    ws.engine.advance(utc("2024-06-20 00:00"))
    ws.engine.advance(utc("2024-06-21 00:00"))
    assert len(deliveries(ws)) == 2


def test_date_trigger_dates_past_when_the_campaign_goes_live_enter_no_one(
    tmp_path: Path,
) -> None:
    ws = open_ws(tmp_path, T0)
    # Entry instants June 4 10:00 (u1) and June 10 10:00 (u2).
    identify(ws, T0, "u1", trial_ends_at="2024-06-07T10:00:00Z")
    identify(ws, T0, "u2", trial_ends_at="2024-06-13T10:00:00Z")
    write_campaign(
        tmp_path,
        """
        id: trial_ending
        name: Trial ends in 3 days
        state: active
        trigger:
          date: {attribute: trial_ends_at, offset: -3d}
        steps:
          - {id: warn, send: {template: t, subject: "3 days left"}}
        """,
    )
    # Goes live June 5: u1's instant (June 4) is past, u2's is ahead.
    set_clock(ws, utc("2024-06-05 00:00"))
    assert ws.reload() == []
    ws.engine.advance(utc("2024-06-30 00:00"))
    assert journeys(ws, "u1") == []
    assert deliveries(ws) == [("trial_ending/1/warn", "2024-06-10 10:00:00")]


# -- re-entry ----------------------------------------------------------------------------

REENTRY = """
id: promo
name: Promo
state: active
trigger: {event: viewed_pricing}
re_entry: POLICY
steps:
  - {id: pause, delay: 1d}
  - {id: offer, send: {template: t, subject: "Offer"}}
"""


def test_re_entry_once(tmp_path: Path) -> None:
    write_campaign(tmp_path, REENTRY.replace("POLICY", "once"))
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "viewed_pricing")
    ws.engine.advance(T0 + 2 * DAY)  # the first journey completes on June 4
    track(ws, T0 + 3 * DAY, "u1", "viewed_pricing")
    assert _entered(ws, "u1") == [T0]


def test_re_entry_every_time(tmp_path: Path) -> None:
    write_campaign(tmp_path, REENTRY.replace("POLICY", "every_time"))
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "viewed_pricing")
    track(ws, T0 + HOUR, "u1", "viewed_pricing")  # while journey 1 is still waiting
    ws.engine.advance(T0 + 2 * DAY)
    assert deliveries(ws) == [
        ("promo/1/offer", "2024-06-04 10:00:00"),
        ("promo/2/offer", "2024-06-04 11:00:00"),
    ]


def test_re_entry_after_an_interval(tmp_path: Path) -> None:
    write_campaign(tmp_path, REENTRY.replace("POLICY", "{after: 2d}"))
    ws = open_ws(tmp_path, T0)
    for day in (0, 1, 2, 3, 4):
        track(ws, T0 + day * DAY, "u1", "viewed_pricing")
    # Day 0 enters; day 1 is within 2 days of it; day 2 is exactly 2 days: enters; day 3
    # is within 2 days of day 2; day 4 enters.
    assert _entered(ws, "u1") == [T0, T0 + 2 * DAY, T0 + 4 * DAY]


def test_re_entry_after_rematch_for_a_segment_trigger(tmp_path: Path) -> None:
    write_segment(tmp_path, PRO)
    write_campaign(
        tmp_path,
        """
        id: pro_tour
        name: Pro tour
        state: active
        trigger: {segment_entered: pro}
        re_entry: after_rematch
        steps:
          - {id: pause, delay: 1d}
          - {id: tour, send: {template: t, subject: "Tour"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", plan="pro")  # enters pro: journey 1
    identify(ws, T0 + HOUR, "u1", plan="free")  # leaves (journey 1 runs on)
    identify(ws, T0 + 2 * HOUR, "u1", plan="pro")  # re-matches, but journey 1 is active
    assert _entered(ws, "u1") == [T0]
    ws.engine.advance(T0 + 2 * DAY)  # journey 1 completes (tour on June 4 10:00)
    # Still in pro: more updates are no new match.
    identify(ws, T0 + 2 * DAY + HOUR, "u1", plan="pro", seats=3)
    assert _entered(ws, "u1") == [T0]
    # Leaves and re-enters: journey 2.
    identify(ws, T0 + 3 * DAY, "u1", plan="free")
    identify(ws, T0 + 3 * DAY + HOUR, "u1", plan="pro")
    assert _entered(ws, "u1") == [T0, T0 + 3 * DAY + HOUR]
    ws.engine.advance(T0 + 5 * DAY)
    assert deliveries(ws) == [
        ("pro_tour/1/tour", "2024-06-04 10:00:00"),
        ("pro_tour/2/tour", "2024-06-07 11:00:00"),
    ]
