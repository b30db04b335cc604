"""Engine invariants: `advance` is idempotent at a given instant, a restart resumes
exactly where it stopped, and editing a live campaign moves journeys by step id.

Every test starts at T0 = Monday 2024-06-03 10:00 UTC. A delivery key is
`campaign/journey id/step id`; journey ids count from 1 in each fresh database.
"""

from __future__ import annotations

from pathlib import Path

from app.service.workspace import Workspace
from tests.service.engine_kit import (
    DAY,
    HOUR,
    MINUTE,
    activity,
    activity_details,
    deliveries,
    identify,
    only_journey,
    open_ws,
    set_clock,
    snapshot,
    track,
    utc,
    write_campaign,
)

T0 = utc("2024-06-03 10:00")

MIXED = """
id: mixed
name: Every kind of wait
state: active
trigger: {event: signed_up}
steps:
  - {id: hello, send: {template: t, subject: "Hello"}}
  - {id: pause, delay: 2h}
  - id: office_hours
    time_window: {from: "09:00", to: "17:00", days: [weekdays]}
  - {id: tip, send: {template: t, subject: "Tip"}}
  - id: wait_login
    wait_until:
      paths:
        - {id: logged_in, when: {performed: app_login, since: entry}}
      max_time: 1d
  - id: pick
    random_cohort:
      paths:
        - {id: a, percent: 50, steps: [{id: mail_a, send: {template: t, subject: A}}]}
        - {id: b, percent: 50, steps: [{id: mail_b, send: {template: t, subject: B}}]}
  - id: check
    branch:
      if: {attribute: plan, equals: pro}
      then:
        - {id: pro_mail, send: {template: t, subject: "Pro"}}
      else:
        - {id: wait_more, delay: 1d}
        - {id: free_mail, send: {template: t, subject: "Free"}}
"""

DATES = """
id: renewal
name: Renewal
state: active
trigger:
  date: {attribute: renews_at, offset: -1d}
steps:
  - {id: remind, send: {template: t, subject: "Renewal"}}
"""


def test_advance_twice_at_the_same_instant_changes_nothing_the_second_time(
    tmp_path: Path,
) -> None:
    write_campaign(tmp_path, MIXED)
    write_campaign(tmp_path, DATES)
    ws = open_ws(tmp_path, T0)
    # 12 people signing up 3 h apart over a day and a half, some pro, some logging in,
    # some renewing: journeys spread over every kind of wait.
    for i in range(12):
        at = T0 + i * 3 * HOUR
        user = f"u{i}"
        identify(ws, at, user, plan="pro" if i % 3 == 0 else "free", renews_at=at + 2 * DAY)
        track(ws, at, user, "signed_up")
        if i % 4 == 1:
            track(ws, at + 5 * HOUR, user, "app_login")
    changed = 0
    for hours in (0, 1, 2, 7, 13, 30, 31, 49, 50, 75, 100, 200):
        now = T0 + hours * HOUR
        ws.engine.advance(now)
        first = snapshot(ws)
        report = ws.engine.advance(now)
        assert (report.entered, report.steps, report.queued) == (0, 0, 0)
        assert snapshot(ws) == first, f"advance at T0 + {hours} h"
        changed += 1
    # The runs did work: every one of the 12 finished (hello, tip, a cohort mail and a
    # plan mail each) and all 12 renewal reminders went out.
    assert len(deliveries(ws)) == 12 * 4 + 12
    assert changed == 12


def _mixed_run(tmp_path: Path, tick: int | None) -> list[tuple[str, str]]:
    """MIXED over 8 people; `advance` every `tick` ms, or only once at the end."""
    ws = open_ws(tmp_path, T0)
    ingests: list[tuple[int, str, str]] = []
    for i in range(8):
        at = T0 + i * 5 * HOUR + i * 7 * MINUTE
        ingests.append((at, f"u{i}", "signed_up"))
        if i % 2 == 1:
            ingests.append((at + (3 + i) * HOUR, f"u{i}", "app_login"))
    ingests.sort()
    end = T0 + 6 * DAY
    now = T0
    for at, user, event in ingests:
        while tick is not None and now + tick <= at:
            now += tick
            ws.engine.advance(now)
        if event == "signed_up":
            identify(ws, at, user, plan="pro" if user in ("u0", "u3") else "free")
        track(ws, at, user, event)
    ws.engine.advance(end)
    # Sorted: deliveries queued at the same instant may be written in another order.
    out = sorted(deliveries(ws), key=lambda kd: (kd[1], kd[0]))
    ws.store.close()
    return out


def test_how_often_advance_runs_does_not_change_what_is_queued_or_when(tmp_path: Path) -> None:
    write_campaign(tmp_path, MIXED)
    # Ticks every 10 minutes, every 3 hours, or never until the end (then the events
    # arriving meanwhile find journeys whose steps fell due before them).
    often = _mixed_run(tmp_path, 10 * MINUTE)
    assert len(often) == 8 * 4
    assert _mixed_run(tmp_path, 3 * HOUR) == often
    assert _mixed_run(tmp_path, None) == often


# -- restart -----------------------------------------------------------------------------

DRIP = """
id: drip
name: Drip
state: active
trigger: {event: signed_up}
steps:
  - {id: a, send: {template: t, subject: "A"}}
  - {id: p1, delay: 2h}
  - {id: b, send: {template: t, subject: "B"}}
  - {id: p2, delay: 1d}
  - id: wait_login
    wait_until:
      paths:
        - {id: logged_in, when: {performed: app_login, since: entry}}
      max_time: 1d
  - {id: c, send: {template: t, subject: "C"}}
"""


def _drip_start(ws: Workspace) -> None:
    track(ws, T0, "u1", "signed_up")
    track(ws, T0 + 30 * MINUTE, "u2", "signed_up")


def test_restart_between_steps_queues_the_same_deliveries(tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns"
    write_campaign(campaigns, DRIP)
    end = utc("2024-06-10 00:00")
    # Worked out by hand: a at entry; b 2 h later; the wait starts a day after b and
    # times out a day later (no logins), then c.
    expected = [
        ("drip/1/a", "2024-06-03 10:00:00"),
        ("drip/2/a", "2024-06-03 10:30:00"),
        ("drip/1/b", "2024-06-03 12:00:00"),
        ("drip/2/b", "2024-06-03 12:30:00"),
        ("drip/1/c", "2024-06-05 12:00:00"),
        ("drip/2/c", "2024-06-05 12:30:00"),
    ]

    whole = open_ws(campaigns, T0, database=tmp_path / "whole.db")
    _drip_start(whole)
    whole.engine.advance(end)
    assert deliveries(whole) == expected
    whole.store.close()

    ws = open_ws(campaigns, T0, database=tmp_path / "n.db")
    _drip_start(ws)
    ws.engine.advance(utc("2024-06-03 12:15"))  # u1 past b, u2 still before it
    assert [k for k, _ in deliveries(ws)] == ["drip/1/a", "drip/2/a", "drip/1/b"]
    ws.store.close()
    del ws

    # A new process: a new workspace on the same file, a later clock.
    again = open_ws(campaigns, utc("2024-06-04 09:00"), database=tmp_path / "n.db")
    # u2's b (due 12:30 the day before) goes out at its own time; then both are in p2.
    again.engine.advance(utc("2024-06-04 09:00"))
    assert deliveries(again) == expected[:4]
    again.store.close()
    last = open_ws(campaigns, end, database=tmp_path / "n.db")
    last.engine.advance(end)
    assert deliveries(last) == expected
    last.store.close()


# -- editing a live campaign -------------------------------------------------------------

EDIT_V1 = """
id: edit
name: Edited while live
state: active
trigger: {event: signed_up}
steps:
  - {id: a, send: {template: t, subject: "A"}}
  - id: check
    branch:
      if: {attribute: plan, equals: pro}
      then:
        - {id: wait_pro, delay: 1d}
        - {id: pro_mail, send: {template: t, subject: "Pro"}}
      else:
        - {id: wait_free, delay: 2d}
        - {id: free_mail, send: {template: t, subject: "Free"}}
"""

# wait_pro stays (now followed by a new step), the else path is gone.
EDIT_V2 = """
id: edit
name: Edited while live
state: active
trigger: {event: signed_up}
steps:
  - {id: a, send: {template: t, subject: "A"}}
  - id: check
    branch:
      if: {attribute: plan, equals: pro}
      then:
        - {id: wait_pro, delay: 1d}
        - {id: new_mail, send: {template: t, subject: "New"}}
        - {id: pro_mail, send: {template: t, subject: "Pro"}}
"""


def _edit_start(tmp_path: Path) -> Workspace:
    write_campaign(tmp_path, EDIT_V1)
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "pro", plan="pro")
    track(ws, T0, "pro", "signed_up")  # journey 1: waits at wait_pro until June 4 10:00
    track(ws, T0, "free", "signed_up")  # journey 2: waits at wait_free until June 5 10:00
    return ws


def test_reload_moves_journeys_by_step_id_and_ends_those_at_removed_steps(
    tmp_path: Path,
) -> None:
    ws = _edit_start(tmp_path)
    v1 = ws.engine.versions["edit"].hash
    write_campaign(tmp_path, EDIT_V2)
    set_clock(ws, T0 + HOUR)
    assert ws.reload() == []
    v2 = ws.engine.versions["edit"].hash
    assert v1 != v2
    pro = only_journey(ws, "pro")
    # Same step, same due time, new version.
    assert (pro.state, pro.step_id, pro.next_due_at, pro.version) == (
        "active",
        "wait_pro",
        T0 + DAY,
        v2,
    )
    free = only_journey(ws, "free")
    assert (free.state, free.exit_reason, free.ended_at) == ("exited", "step_removed", T0 + HOUR)
    ws.engine.advance(T0 + 3 * DAY)
    # pro continues in v2 after wait_pro: new_mail, then pro_mail, both June 4 10:00.
    assert deliveries(ws) == [
        ("edit/1/a", "2024-06-03 10:00:00"),
        ("edit/2/a", "2024-06-03 10:00:00"),
        ("edit/1/new_mail", "2024-06-04 10:00:00"),
        ("edit/1/pro_mail", "2024-06-04 10:00:00"),
    ]
    exits = [d["reason"] for d in activity_details(ws, "journey.exited")]
    assert exits == ["step_removed"]
    # Both versions are stored.
    repo = ws.store.campaigns
    assert repo.version_source("edit", v1) is not None
    assert repo.version_source("edit", v2) is not None


def test_a_reload_with_a_broken_file_changes_nothing_and_returns_the_errors(
    tmp_path: Path,
) -> None:
    ws = _edit_start(tmp_path)
    before = snapshot(ws)
    v1 = ws.engine.versions["edit"].hash
    path = tmp_path / "edit.yaml"
    broken_texts = [
        EDIT_V2.replace("steps:\n", "steps: [\n", 1),  # YAML syntax
        EDIT_V2.replace("delay: 1d", "snooze: 1d"),  # unknown step type
        EDIT_V2.replace("      if: {attribute: plan, equals: pro}\n", ""),  # no condition
    ]
    set_clock(ws, T0 + HOUR)
    for text in broken_texts:
        path.write_text(text)
        errors = ws.reload()
        assert errors and all(e.file == str(path) for e in errors), errors
        assert ws.engine.versions["edit"].hash == v1
        assert snapshot(ws) == before
    # The last good version keeps running: both journeys finish as written in v1.
    ws.engine.advance(T0 + 3 * DAY)
    assert deliveries(ws)[2:] == [
        ("edit/1/pro_mail", "2024-06-04 10:00:00"),
        ("edit/2/free_mail", "2024-06-05 10:00:00"),
    ]
    assert activity(ws, "journey.exited") == []
