"""The segment-triggered campaigns, inactivity (trial gone quiet) and churn risk,
simulated on generated behaviour. Segment membership moves when a person's data changes
and on the simulator's sweeps: with rules like these (profile age, a time relative to
now) those run on the whole hours of the replay. The tests replay that by evaluating each
segment's rule, in plain Python, at the instants where the person's membership can
change: their own operations exactly, and a time-based rule coming true (a login leaving
the 7-day window, profile age, `last_login_at` 10 days old) at the first sweep after it."""

from __future__ import annotations

import bisect
from collections.abc import Callable

from tests.campaigns.conftest import Simulated
from tests.campaigns.world import DAY, HOUR, Person, add_days, parse_iso, window_open


def sweep_instants(sim: Simulated) -> list[int]:
    """When the simulator sweeps every segment: each whole hour of the replay."""
    start = sim.data.operations[0]["timestamp"]
    return list(range((start // HOUR + 1) * HOUR, sim.end + 1, HOUR))


def first_sweep(sweeps: list[int], at: int) -> int | None:
    index = bisect.bisect_left(sweeps, at)
    return sweeps[index] if index < len(sweeps) else None


def entries(
    person: Person,
    instants: set[int],
    holds: Callable[[int], bool],
    ends: Callable[[int], int],
) -> list[int]:
    """Entry instants: each move into the segment seen at one of `instants` while no
    journey of the person is active (`re_entry: after_rematch`); `ends(entry)` says
    when that journey ends."""
    found: list[int] = []
    inside = False
    busy_until = -1
    for at in sorted(instants):
        now_inside = holds(at)
        if now_inside and not inside and at >= busy_until:
            found.append(at)
            busy_until = ends(at)
        inside = now_inside
    return found


def journeys(sim: Simulated, campaign: str) -> list[tuple[str, int]]:
    return sorted((j.person, j.entered_at) for j in sim.funnel(campaign).journeys)


def test_inactivity(sim: Simulated) -> None:
    # Segment inactive_trials: plan_type trial, no app_login in the last 7 days, known for
    # 7 days. Office hours (weekdays 09:00-18:00 local), the gap email, 5 days, office
    # hours, the help email. A login or a plan change ends the journey (trigger no longer
    # matched; a login is also the goal, counted for 14 days unless it exited before).
    expected, gap, help_, converted = [], set(), set(), set()
    sweeps = sweep_instants(sim)
    for p in sim.people.values():
        logins = p.times("app_login")
        instants = {t for t in p.op_times if t <= sim.end}
        for comes_true in [t + 7 * DAY + 1 for t in logins] + [p.first_seen + 7 * DAY]:
            swept = first_sweep(sweeps, comes_true)
            if swept is not None:
                instants.add(swept)

        def holds(at: int, p: Person = p, logins: list[int] = logins) -> bool:
            return (
                p.attr("plan_type", at) == "trial"
                and p.first_seen <= at - 7 * DAY
                and not any(at - 7 * DAY <= t <= at for t in logins)
            )

        def plan_change(after: int, p: Person = p) -> int | None:
            return next((t for t, traits in p.traits if t > after and "plan_type" in traits), None)

        def run(
            entry: int, p: Person = p, logins: list[int] = logins
        ) -> tuple[int, bool, bool, bool]:
            first_gap = window_open(entry, p.zone, 9, 18)
            second = window_open(add_days(first_gap, 5, p.zone), p.zone, 9, 18)
            login = next((t for t in logins if t >= entry), None)
            change = plan_change(entry)
            stops = min(t for t in (login, change, 2**62) if t is not None)
            sent_gap = first_gap <= sim.end and first_gap < stops
            sent_help = sent_gap and second <= sim.end and second < stops
            completed_at = second if sent_help else None
            ended = stops if not sent_help else second
            won = (
                login is not None
                and login <= min(entry + 14 * DAY, sim.end)
                and (change is None or login < change or completed_at is not None)
            )
            return ended, sent_gap, sent_help, won

        for entry in entries(p, instants, holds, lambda e: run(e)[0]):
            _, sent_gap, sent_help, won = run(entry)
            expected.append((p.id, entry))
            if sent_gap:
                gap.add((p.id, entry))
            if sent_help:
                help_.add((p.id, entry))
            if won:
                converted.add((p.id, entry))
    assert journeys(sim, "inactivity") == sorted(expected)
    by_entry = {(j.person, j.entry_key): j.entered_at for j in sim.funnel("inactivity").journeys}
    sent = {
        step: {(m.person, by_entry[(m.person, m.entry_key)]) for m in sim.report.messages
               if m.campaign == "inactivity" and m.step == step}
        for step in ("gap", "here_to_help")
    }  # fmt: skip
    assert sent["gap"] == gap
    assert sent["here_to_help"] == help_
    won = {(j.person, j.entered_at) for j in sim.funnel("inactivity").journeys if j.converted_at}
    assert won == converted
    assert gap and help_ and converted and len(gap) < len(expected)


def test_churn_risk(sim: Simulated) -> None:
    # Segment churn_risk: plan_type starter or pro, last_login_at more than 10 days ago.
    # Office hours (weekdays 09:00-17:00 local), the check-in, 4 days, office hours, the
    # value recap. A login ends the journey and is the goal (21 days).
    expected, check_in, recap, converted = [], set(), set(), set()
    sweeps = sweep_instants(sim)
    for p in sim.people.values():
        logins = p.times("app_login")
        instants = {t for t in p.op_times if t <= sim.end}
        for _, traits in p.traits:
            if "last_login_at" in traits:
                due = first_sweep(sweeps, parse_iso(traits["last_login_at"]) + 10 * DAY + 1)
                if due is not None:
                    instants.add(due)

        def holds(at: int, p: Person = p) -> bool:
            last = p.attr("last_login_at", at)
            return p.attr("plan_type", at) in ("starter", "pro") and (
                last is not None and parse_iso(last) < at - 10 * DAY
            )

        def run(
            entry: int, p: Person = p, logins: list[int] = logins
        ) -> tuple[int, bool, bool, bool]:
            first = window_open(entry, p.zone, 9, 17)
            second = window_open(add_days(first, 4, p.zone), p.zone, 9, 17)
            login = next((t for t in logins if t >= entry), 2**62)
            sent_first = first <= sim.end and first < login
            sent_second = sent_first and second <= sim.end and second < login
            won = login <= min(entry + 21 * DAY, sim.end)
            return (second if sent_second else login), sent_first, sent_second, won

        for entry in entries(p, instants, holds, lambda e: run(e)[0]):
            _, sent_first, sent_second, won = run(entry)
            expected.append((p.id, entry))
            if sent_first:
                check_in.add((p.id, entry))
            if sent_second:
                recap.add((p.id, entry))
            if won:
                converted.add((p.id, entry))
    assert journeys(sim, "churn_risk") == sorted(expected)
    by_entry = {(j.person, j.entry_key): j.entered_at for j in sim.funnel("churn_risk").journeys}
    sent = {
        step: {(m.person, by_entry[(m.person, m.entry_key)]) for m in sim.report.messages
               if m.campaign == "churn_risk" and m.step == step}
        for step in ("check_in", "value_recap")
    }  # fmt: skip
    assert sent["check_in"] == check_in
    assert sent["value_recap"] == recap
    won = {(j.person, j.entered_at) for j in sim.funnel("churn_risk").journeys if j.converted_at}
    assert won == converted
    assert check_in and recap
