"""Welcome, trial milestones and trial expiry, simulated on generated behaviour; every
expected journey is worked out from the operations with the campaign's stated rules."""

from __future__ import annotations

from tests.campaigns.conftest import Simulated
from tests.campaigns.world import DAY, HOUR, hours_after, parse_iso

STEPS = ("profile_completed", "contacts_imported", "domain_verified", "template_saved")


def trial_signups(sim: Simulated) -> dict[tuple[str, str], int]:
    """(person, '') -> the time of their `signed_up` with plan trial."""
    return {
        (p.id, ""): ts for p in sim.people.values() for ts in p.times("signed_up", plan="trial")[:1]
    }


def test_welcome(sim: Simulated) -> None:
    # On signed_up (plan trial): hello at once; 36 h later, celebrate if contacts were
    # imported since entry, else the guide. Goal: a campaign sent within 14 days.
    entered = trial_signups(sim)
    then, else_, converted = set(), set(), set()
    for (who, key), at in entered.items():
        p = sim.people[who]
        branch_at = at + 36 * HOUR
        if branch_at <= sim.end:
            (then if p.did("contacts_imported", at, branch_at) else else_).add((who, key))
        if p.did("campaign_sent", at, min(at + 14 * DAY, sim.end)):
            converted.add((who, key))
    assert sim.entered("welcome") == entered
    assert sim.sent("welcome", "hello") == set(entered)
    assert sim.sent("welcome", "celebrate") == then
    assert sim.sent("welcome", "guide") == else_
    assert sim.paths("welcome", "did_first_action") == {"then": len(then), "else": len(else_)}
    assert sim.converted("welcome") == converted
    assert then and else_ and converted  # the data exercises every path


def incomplete(sim: Simulated, who: str, at: int) -> bool:
    p = sim.people[who]
    return not all(p.did(step, None, at) for step in STEPS)


def completed_at(sim: Simulated, who: str) -> int | None:
    p = sim.people[who]
    firsts = [p.times(step)[:1] for step in STEPS]
    return max(t[0] for t in firsts) if all(firsts) else None


def test_trial_milestones(sim: Simulated) -> None:
    # On signed_up (plan trial); at 50% and 80% of the trial (from trial_started_at to
    # trial_ends_at), a checklist if still on the trial with onboarding incomplete.
    # Goal: entering onboarding_complete within 30 days, which ends the journey.
    entered = trial_signups(sim)
    halfway, eighty, converted = set(), set(), set()
    skipped = {50: 0, 80: 0}  # reached the check, took `else`
    for (who, key), at in entered.items():
        p = sim.people[who]
        start = parse_iso(p.attr("trial_started_at", at))
        end = parse_iso(p.attr("trial_ends_at", at))
        done = completed_at(sim, who)
        if done is not None and done <= min(at + 30 * DAY, sim.end):
            converted.add((who, key))
        for share, found in ((50, halfway), (80, eighty)):
            due = start + round((end - start) * share / 100)
            if due > sim.end or (done is not None and done <= due):
                continue  # not there yet, or converted (and gone) before
            if p.attr("plan_type", due) == "trial" and incomplete(sim, who, due):
                found.add((who, key))
            else:
                skipped[share] += 1
    assert sim.entered("trial_milestones") == entered
    assert sim.sent("trial_milestones", "halfway_checklist") == halfway
    assert sim.sent("trial_milestones", "eighty_checklist") == eighty
    assert sim.paths("trial_milestones", "halfway_check") == {
        "then": len(halfway), "else": skipped[50]
    }  # fmt: skip
    assert sim.paths("trial_milestones", "eighty_check") == {
        "then": len(eighty),
        "else": skipped[80],
    }
    assert sim.converted("trial_milestones") == converted
    assert halfway and eighty and converted


def test_trial_expiry(sim: Simulated) -> None:
    # Enters 3 days before trial_ends_at if still on the trial; the last-day email (1 day
    # before the end) and the ended email (1 day after) only without a login since
    # entry. Goal: upgraded within 14 days, which ends the journey.
    entered: dict[tuple[str, str], int] = {}
    three, last, ended, converted = set(), set(), set(), set()
    back_last: set[tuple[str, str]] = set()  # re-engaged: no urgency email
    back_ended: set[tuple[str, str]] = set()
    for p in sim.people.values():
        ends = p.attr("trial_ends_at", sim.end)
        if ends is None:
            continue
        end = parse_iso(ends)
        at = end - 3 * DAY
        # Date triggers are found on the hourly sweep; the entry is at the date itself.
        if hours_after(at - 1) > sim.end or p.attr("plan_type", at) != "trial":
            continue
        entered[(p.id, "")] = at
        three.add((p.id, ""))
        upgraded = p.times("upgraded", at, min(at + 14 * DAY, sim.end))
        if upgraded:
            converted.add((p.id, ""))
        for due, found, engaged in ((end - DAY, last, back_last), (end + DAY, ended, back_ended)):
            if due > sim.end or (upgraded and upgraded[0] <= due):
                continue
            if not p.did("app_login", at, due):
                found.add((p.id, ""))
            else:
                engaged.add((p.id, ""))
    assert sim.entered("trial_expiry") == entered
    assert sim.sent("trial_expiry", "three_days_left") == three
    assert sim.sent("trial_expiry", "last_day_urgent") == last
    assert sim.sent("trial_expiry", "trial_ended") == ended
    assert sim.paths("trial_expiry", "last_day_check") == {
        "then": len(back_last), "else": len(last)
    }  # fmt: skip
    assert sim.paths("trial_expiry", "ended_check") == {"then": len(back_ended), "else": len(ended)}
    assert sim.converted("trial_expiry") == converted
    assert last and ended and converted and back_last and back_ended
