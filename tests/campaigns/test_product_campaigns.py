"""Feature tips, the three "you just unlocked" emails and the broadcast, simulated on
generated behaviour; expected journeys worked out from the operations."""

from __future__ import annotations

import pytest

from tests.campaigns.conftest import Simulated
from tests.campaigns.world import DAY, add_days, parse_iso

PAID_OR_TRIAL = ("trial", "starter", "pro")


def test_feature_tips(sim: Simulated) -> None:
    # One journey per (person, feature) on feature_activated while on a trial or a paid
    # plan; tips 1, 4 and 7 local days later, for as long as the plan still qualifies
    # (exit_on_trigger_not_matched). Goal: a campaign sent within 14 days, counted until
    # the journey exits (an exited journey converts no more; a completed one does).
    entered: dict[tuple[str, str], int] = {}
    sent: dict[str, set[tuple[str, str]]] = {"tip_one": set(), "tip_two": set(), "tip_three": set()}
    converted = set()
    for p in sim.people.values():
        for at, props in p.events.get("feature_activated", []):
            key = (p.id, props["feature_name"])
            if key in entered or p.attr("plan_type", at) not in PAID_OR_TRIAL:
                continue
            entered[key] = at
            # The plan changes at most once after entry: from then on it no longer
            # qualifies, and the journey exits if it has not completed yet.
            changed = [
                ts for ts, traits in p.traits
                if ts >= at and traits.get("plan_type", "trial") not in PAID_OR_TRIAL
            ][:1]  # fmt: skip
            due, ends = at, sim.end
            for step, days in (("tip_one", 1), ("tip_two", 3), ("tip_three", 3)):
                due = add_days(due, days, p.zone)
                if changed and changed[0] <= due:
                    ends = changed[0]  # exited there: later conversions do not count
                    break
                if due > sim.end:
                    break
                sent[step].add(key)
            if p.did("campaign_sent", at, min(at + 14 * DAY, ends)):
                converted.add(key)
    assert sim.entered("feature_tips") == entered
    for step, expected in sent.items():
        assert sim.sent("feature_tips", step) == expected, step
    assert sim.converted("feature_tips") == converted
    assert len(sent["tip_three"]) < len(entered) and converted


@pytest.mark.parametrize(
    ("campaign", "event", "goal", "where"),
    [
        ("unlocked_first_campaign", "campaign_sent", "feature_activated",
         {"feature_name": "automations"}),
        ("unlocked_first_integration", "integration_connected", "team_member_invited", {}),
        ("unlocked_first_invite", "team_member_invited", "campaign_sent", {}),
    ],
)  # fmt: skip
def test_unlocked(
    sim: Simulated, campaign: str, event: str, goal: str, where: dict[str, str]
) -> None:
    # The first time only: on the first `event` ever, one celebration. Goal within 14 days.
    entered, converted = {}, set()
    for p in sim.people.values():
        first = p.times(event)[:1]
        if not first:
            continue
        entered[(p.id, "")] = first[0]
        if p.did(goal, first[0], min(first[0] + 14 * DAY, sim.end), **where):
            converted.add((p.id, ""))
    assert sim.entered(campaign) == entered
    assert sim.sent(campaign, "celebrate") == set(entered)
    assert sim.converted(campaign) == converted
    # Some people do it again later: they are not celebrated twice.
    assert any(len(p.times(event)) > 1 for p in sim.people.values())


def test_broadcast(sim: Simulated) -> None:
    # Everyone who logged in during the 7 days up to the broadcast time gets it, once.
    at = parse_iso("2026-10-08T15:00:00Z")
    audience = {(p.id, "") for p in sim.people.values() if p.did("app_login", at - 7 * DAY, at)}
    converted = {
        (who, key)
        for who, key in audience
        if sim.people[who].did("feature_activated", at, min(at + 14 * DAY, sim.end),
                               feature_name="ab_testing")
    }  # fmt: skip
    assert sim.entered("broadcast") == dict.fromkeys(audience, at)
    assert sim.sent("broadcast", "announce") == audience
    assert sim.converted("broadcast") == converted
    assert audience
