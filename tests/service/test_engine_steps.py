"""The journey engine, step by step: send, delay, branch, split, random_cohort,
update_attributes and exit (delay_until and wait_until are in test_engine_waits.py, time
windows and day delays across DST in test_engine_time.py).

Every test starts at T0 = Monday 2024-06-03 10:00 UTC (the workspace zone is UTC), and
writes the expected journeys, deliveries and times out by hand. A delivery key is
`campaign/journey id/step id`; journey ids count from 1 in each fresh database.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.service.engine_kit import (
    activity,
    activity_details,
    deliveries,
    identify,
    journeys,
    only_journey,
    open_ws,
    pid,
    track,
    utc,
    write_campaign,
    write_segment,
)

T0 = utc("2024-06-03 10:00")


# -- send --------------------------------------------------------------------------------


def test_send_queues_one_delivery_with_its_key_and_the_journey_completes(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: hello
        name: Hello
        state: active
        trigger: {event: signed_up}
        steps:
          - id: greet
            send: {template: greet, subject: "Hi {{ person.first_name }}"}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")
    # u1 enters journey 1 at 10:00, reaches `greet` (queued at once), and the journey
    # ends there: completed at 10:00.
    assert deliveries(ws) == [("hello/1/greet", "2024-06-03 10:00:00")]
    (delivery,) = ws.store.deliveries.all()
    assert (delivery.template, delivery.subject, delivery.state) == (
        "greet",
        "Hi {{ person.first_name }}",
        "queued",
    )
    assert (delivery.person_id, delivery.campaign_id, delivery.journey_id) == (
        pid(ws, "u1"),
        "hello",
        1,
    )
    journey = only_journey(ws, "u1")
    assert (journey.state, journey.exit_reason, journey.ended_at) == ("completed", "completed", T0)
    assert journey.path == ["greet"]
    assert [(k, s) for k, s, _ in activity(ws) if k.startswith(("journey", "step", "message"))] == [
        ("journey.entered", None),
        ("step.reached", "greet"),
        ("message.queued", "greet"),
        ("journey.completed", "greet"),
    ]


# -- delay -------------------------------------------------------------------------------


def test_delay_in_hours_holds_until_its_own_due_time_whenever_advance_runs(
    tmp_path: Path,
) -> None:
    write_campaign(
        tmp_path,
        """
        id: drip
        name: Drip
        state: active
        trigger: {event: signed_up}
        steps:
          - {id: first, send: {template: t, subject: "1"}}
          - {id: pause, delay: 3h}
          - {id: second, send: {template: t, subject: "2"}}
          - {id: pause2, delay: 90m}
          - {id: third, send: {template: t, subject: "3"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")
    # 10:00 first, then waits at `pause` until 13:00.
    journey = only_journey(ws, "u1")
    assert (journey.step_id, journey.next_due_at) == ("pause", utc("2024-06-03 13:00"))
    ws.engine.advance(utc("2024-06-03 12:59:59"))
    assert deliveries(ws) == [("drip/1/first", "2024-06-03 10:00:00")]
    # A late tick (20:00) runs both due steps at their own times: second at 13:00, then
    # pause2 ends at 14:30 (still before 20:00), third at 14:30.
    report = ws.engine.advance(utc("2024-06-03 20:00"))
    assert deliveries(ws) == [
        ("drip/1/first", "2024-06-03 10:00:00"),
        ("drip/1/second", "2024-06-03 13:00:00"),
        ("drip/1/third", "2024-06-03 14:30:00"),
    ]
    assert report.queued == 2
    journey = only_journey(ws, "u1")
    assert (journey.state, journey.ended_at) == ("completed", utc("2024-06-03 14:30"))


# -- branch and split --------------------------------------------------------------------


def test_branch_is_evaluated_on_arrival(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: upsell
        name: Upsell
        state: active
        trigger: {event: signed_up}
        steps:
          - {id: pause, delay: 1h}
          - id: check
            branch:
              if: {attribute: plan, equals: pro}
              then:
                - {id: pro_tip, send: {template: t, subject: "Pro tip"}}
              else:
                - {id: upgrade, send: {template: t, subject: "Upgrade"}}
          - {id: bye, send: {template: t, subject: "Bye"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    for user in ("u1", "u2"):
        identify(ws, T0, user, plan="free")
        track(ws, T0, user, "signed_up")
    # u1 (journey 1) upgrades during the delay; u2 (journey 2) stays free. The branch
    # runs at 11:00 with what is true then: u1 -> then, u2 -> else; both continue to bye.
    identify(ws, utc("2024-06-03 10:30"), "u1", plan="pro")
    ws.engine.advance(utc("2024-06-03 11:00"))
    # u1 downgrading after the branch changes nothing.
    identify(ws, utc("2024-06-03 11:30"), "u1", plan="free")
    assert sorted(deliveries(ws)) == [
        ("upsell/1/bye", "2024-06-03 11:00:00"),
        ("upsell/1/pro_tip", "2024-06-03 11:00:00"),
        ("upsell/2/bye", "2024-06-03 11:00:00"),
        ("upsell/2/upgrade", "2024-06-03 11:00:00"),
    ]
    assert [d["path"] for d in activity_details(ws, "branch.taken")] == ["then", "else"]


def test_split_takes_the_first_matching_path_else_the_else(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: tiers
        name: Tiers
        state: active
        trigger: {event: ordered}
        steps:
          - id: by_spend
            split:
              paths:
                - id: big
                  when: {attribute: spend, greater: 100}
                  steps:
                    - {id: big_mail, send: {template: t, subject: "VIP"}}
                - id: medium
                  when: {attribute: spend, greater: 10}
                  steps:
                    - {id: medium_mail, send: {template: t, subject: "Thanks"}}
              else:
                - {id: small_mail, send: {template: t, subject: "Hello"}}
          - {id: after, send: {template: t, subject: "Survey"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    # u1 spends 500 (matches big and medium: big is first), u2 50 (medium), u3 1 (else).
    for user, spend in (("u1", 500), ("u2", 50), ("u3", 1)):
        identify(ws, T0, user, spend=spend)
        track(ws, T0, user, "ordered")
    assert deliveries(ws) == [
        ("tiers/1/big_mail", "2024-06-03 10:00:00"),
        ("tiers/1/after", "2024-06-03 10:00:00"),
        ("tiers/2/medium_mail", "2024-06-03 10:00:00"),
        ("tiers/2/after", "2024-06-03 10:00:00"),
        ("tiers/3/small_mail", "2024-06-03 10:00:00"),
        ("tiers/3/after", "2024-06-03 10:00:00"),
    ]
    assert [d["path"] for d in activity_details(ws, "branch.taken")] == ["big", "medium", "else"]


# -- random_cohort -----------------------------------------------------------------------

COHORTS = """
id: abtest
name: A/B
state: active
trigger: {event: signed_up}
steps:
  - id: pick
    random_cohort:
      paths:
        - {id: a, percent: 20, steps: [{id: mail_a, send: {template: t, subject: A}}]}
        - {id: b, percent: 30, steps: [{id: mail_b, send: {template: t, subject: B}}]}
        - {id: c, percent: 50, steps: [{id: mail_c, send: {template: t, subject: C}}]}
"""


def _cohorts(tmp_path: Path, users: list[str]) -> dict[str, str]:
    """Run `users` through the A/B campaign in a fresh store; each user's cohort."""
    ws = open_ws(tmp_path, T0)
    ws.ingestor.apply(
        [{"type": "track", "userId": u, "event": "signed_up", "timestamp": T0} for u in users]
    )
    out = {}
    for delivery in ws.store.deliveries.all():
        person = ws.store.people.get(delivery.person_id)
        assert person is not None and person.external_id is not None
        out[person.external_id] = delivery.step_id.removeprefix("mail_")
    ws.store.close()
    return out


def test_random_cohort_is_stable_across_stores_and_follows_the_percentages(
    tmp_path: Path,
) -> None:
    write_campaign(tmp_path, COHORTS)
    users = [f"user{i:03d}" for i in range(200)]
    first = _cohorts(tmp_path, users)
    # Another database, people created in the opposite order (other internal ids): the
    # cohort depends on campaign and person only.
    second = _cohorts(tmp_path, list(reversed(users)))
    assert len(first) == 200 and first == second
    shares = Counter(first.values())
    # Expected 40 / 60 / 100 of 200; a binomial spread of about 6-7 each way.
    assert abs(shares["a"] - 40) <= 15
    assert abs(shares["b"] - 60) <= 15
    assert abs(shares["c"] - 100) <= 15


# -- update_attributes and exit ----------------------------------------------------------


def test_update_attributes_sets_them_and_a_segment_entry_campaign_reacts(tmp_path: Path) -> None:
    write_segment(
        tmp_path,
        """
        id: onboarded
        name: Onboarded
        condition: {attribute: onboarded, equals: true}
        """,
    )
    write_campaign(
        tmp_path,
        """
        id: mark
        name: Mark onboarded
        state: active
        trigger: {event: signed_up}
        steps:
          - {id: pause, delay: 1h}
          - id: flag
            update_attributes: {onboarded: true, stage: welcomed}
        """,
    )
    write_campaign(
        tmp_path,
        """
        id: tips
        name: Tips for the onboarded
        state: active
        trigger: {segment_entered: onboarded}
        steps:
          - {id: tip, send: {template: t, subject: "Tip"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "signed_up")
    ws.engine.advance(utc("2024-06-03 12:00"))
    # At 11:00 `flag` sets the attributes; u1 enters `onboarded` at 11:00, which enters
    # `tips` (journey 2) at 11:00 and queues its tip then.
    person = ws.store.people.get(pid(ws, "u1"))
    assert person is not None
    assert (person.attributes["onboarded"], person.attributes["stage"]) == (True, "welcomed")
    assert ws.store.segments.memberships(person.id) == {"onboarded": utc("2024-06-03 11:00")}
    assert deliveries(ws) == [("tips/2/tip", "2024-06-03 11:00:00")]
    mark, tips = journeys(ws, "u1")
    assert (mark.campaign_id, mark.state, mark.ended_at) == (
        "mark",
        "completed",
        utc("2024-06-03 11:00"),
    )
    assert (tips.campaign_id, tips.entered_at) == ("tips", utc("2024-06-03 11:00"))
    assert activity(ws, "attributes.updated") == [
        ("attributes.updated", "flag", "2024-06-03 11:00:00")
    ]


def test_update_attributes_wakes_a_wait_and_exits_a_journey_in_another_campaign(
    tmp_path: Path,
) -> None:
    write_campaign(
        tmp_path,
        """
        id: setter
        name: Sets the stage
        state: active
        trigger: {event: signed_up}
        steps:
          - {id: pause, delay: 1h}
          - {id: flag, update_attributes: {stage: welcomed, plan: free}}
        """,
    )
    write_campaign(
        tmp_path,
        """
        id: waiter
        name: Waits for the stage
        state: active
        trigger: {event: signed_up}
        steps:
          - id: wait_stage
            wait_until:
              paths:
                - {id: staged, when: {attribute: stage, equals: welcomed}}
          - {id: next, send: {template: t, subject: "Next"}}
        """,
    )
    write_campaign(
        tmp_path,
        """
        id: trial_only
        name: Trials only
        state: active
        trigger: {event: signed_up}
        entry_filter: {attribute: plan, equals: trial}
        exit: exit_on_trigger_not_matched
        steps:
          - {id: pause, delay: 1d}
          - {id: trial_mail, send: {template: t, subject: "Trial"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", plan="trial")
    # One event enters all three, in file order: setter 1, trial_only 2, waiter 3.
    track(ws, T0, "u1", "signed_up")
    ws.engine.advance(utc("2024-06-03 12:00"))
    # At 11:00 `flag` sets stage and plan: waiter's wait is met at 11:00 (next queued
    # then), and trial_only no longer matches its entry filter: it exits at 11:00.
    assert deliveries(ws) == [("waiter/3/next", "2024-06-03 11:00:00")]
    by_campaign = {j.campaign_id: j for j in journeys(ws, "u1")}
    assert (by_campaign["trial_only"].exit_reason, by_campaign["trial_only"].ended_at) == (
        "trigger_not_matched",
        utc("2024-06-03 11:00"),
    )
    assert by_campaign["waiter"].state == "completed"


def test_exit_step_ends_the_journey(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: short
        name: Short
        state: active
        trigger: {event: signed_up}
        steps:
          - id: check
            branch:
              if: {attribute: plan, equals: pro}
              then:
                - {id: stop, exit: true}
          - {id: pitch, send: {template: t, subject: "Go pro"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", plan="pro")
    track(ws, T0, "u1", "signed_up")
    track(ws, T0, "u2", "signed_up")
    # u1 (pro) exits at `stop`; u2 (no plan) takes the empty else and gets the pitch.
    assert deliveries(ws) == [("short/2/pitch", "2024-06-03 10:00:00")]
    j1 = only_journey(ws, "u1")
    assert (j1.state, j1.exit_reason, j1.step_id, j1.ended_at) == (
        "exited",
        "exit_step",
        "stop",
        T0,
    )
    assert only_journey(ws, "u2").exit_reason == "completed"
