"""The simulator on the committed BPI 2017 offer sample (issue 6 acceptance): the offer
reminder campaign's funnel (one campaign, triggered by either sent activity), messages
and conversions, and the comparison of a 7-day wait with the 14-day one. Every expected
figure comes from `simulate_kit.expected`, a plain scan of the sample read with
`xml.etree`, never from Nudge code.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from app.config import load_settings
from app.core.times import format_instant, parse_instant
from app.service.simulate import (
    CampaignSource,
    LiveHistory,
    SimulationRequest,
    compare,
    simulate,
)
from tests.service.simulate_kit import (
    CAMPAIGN,
    DAY,
    SENT,
    expected,
    live_database,
    offer_folder,
    offer_text,
    read_offers,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    tmp = tmp_path_factory.mktemp("bpic")
    store = live_database(tmp / "live.db")
    store.close()
    folder = tmp / "campaigns"
    offer_folder(folder)
    last = max(ts for o in read_offers().values() for _, ts in o.events)
    return tmp / "live.db", folder, last + 31 * DAY


def _request(db: Path, folder: Path, until: int, wait: str = "14d") -> SimulationRequest:
    settings = load_settings(database=db, campaigns=folder)
    drafts = (CampaignSource(text=offer_text(wait), name=f"{CAMPAIGN}-{wait}"),)
    return SimulationRequest(drafts, LiveHistory(db), settings, until_ms=until)


def test_offer_reminders_on_the_sample(world: tuple[Path, Path, int]) -> None:
    db, folder, until = world
    report = simulate(_request(db, folder, until))
    want = expected(read_offers(), 14, until)
    assert want, "the sample has sent offers"

    # One campaign, entered by either sent activity: both kinds occur in the sample.
    assert {e.sent_by for e in want} == set(SENT)
    [funnel] = report.campaigns
    assert funnel.campaign == CAMPAIGN
    outcomes = Counter(e.outcome for e in want)
    steps = {s.id: s for s in funnel.steps}
    assert funnel.entered == len(want)
    assert funnel.people == len({e.application for e in want})
    assert steps["wait_reply"].reached == len(want)
    assert steps["wait_reply"].paths.get("returned", 0) == outcomes["returned"]
    assert steps["wait_reply"].paths.get("closed", 0) == outcomes["refused_or_cancelled"]
    assert steps["wait_reply"].paths.get("timeout", 0) == outcomes["reminder"]
    assert steps["reminder"].reached == outcomes["reminder"]
    assert steps["reminder"].sent == outcomes["reminder"]
    assert steps["closed_exit"].exited == {"exit_step": outcomes["refused_or_cancelled"]}
    assert outcomes["refused_or_cancelled"] > 0
    assert funnel.converted == sum(e.converted for e in want)
    assert funnel.exited.get("converted", 0) == outcomes["accepted"]
    assert funnel.conversion_rate == pytest.approx(funnel.converted / len(want), abs=1e-6)

    # Every reminder: who, when (the send plus 14 days), which offer, what subject.
    got = sorted((m.person, m.campaign, m.entry_key, m.at, m.subject) for m in report.messages)
    wanted = sorted(
        (e.application, CAMPAIGN, e.offer, e.reminder_at, f"Your offer {e.offer} is waiting")
        for e in want
        if e.reminder_at is not None
    )
    assert got == wanted
    assert all(m.to == f"{m.person}@applicants.example" for m in report.messages)


def test_a_shorter_wait_sends_more_reminders(world: tuple[Path, Path, int]) -> None:
    db, folder, until = world
    result = compare(_request(db, folder, until, "14d"), _request(db, folder, until, "7d"))
    offers = read_offers()
    slow = {e.offer: e for e in expected(offers, 14, until)}
    fast = {e.offer: e for e in expected(offers, 7, until)}
    # Offers that get a reminder with 7 days and not with 14: a reply in [7d, 14d).
    gained = sorted(o for o in fast if fast[o].reminder_at and not slow[o].reminder_at)
    assert gained, "the sample has replies between 7 and 14 days"
    reminders = [d for d in result.steps if d.id == "reminder"]
    assert sum(d.sent_delta for d in reminders) == len(gained)
    assert sum(d.sent[1] for d in reminders) == sum(1 for e in fast.values() if e.reminder_at)

    changed = sorted(c.entry_key for c in result.path_changes)
    assert changed == gained
    for change in result.path_changes:
        assert change.other == ["wait_reply", "reminder"]
        assert change.person == slow[change.entry_key].application
    # Messages: every 7-day reminder is new (earlier, or not sent at all with 14 days);
    # every 14-day one is gone.
    added = sorted((m.entry_key, m.at) for m in result.messages_added)
    removed = sorted((m.entry_key, m.at) for m in result.messages_removed)
    assert added == sorted((o, e.reminder_at) for o, e in fast.items() if e.reminder_at)
    assert removed == sorted((o, e.reminder_at) for o, e in slow.items() if e.reminder_at)
    people = {fast[o].application for o in fast if fast[o].reminder_at}
    people |= {slow[o].application for o in slow if slow[o].reminder_at}
    assert result.people_affected == sorted(people)
    first = min(result.messages_added, key=lambda m: m.at)
    assert first.at_iso == format_instant(first.at)


def test_a_range_starts_from_the_state_recorded_before_it(world: tuple[Path, Path, int]) -> None:
    # From 2016-03-01: what was recorded before (the emails of 2016-01-01, earlier offers)
    # is the state the campaign goes live on; only offers sent from then on enter, and
    # their reminders go out (the applicants have their address).
    db, folder, until = world
    start = parse_instant("2016-03-01T00:00:00Z")
    request = _request(db, folder, until)
    ranged = SimulationRequest(
        request.campaigns, LiveHistory(db, from_ms=start), request.settings, until_ms=until
    )
    report = simulate(ranged)
    offers = read_offers()
    want = [e for e in expected(offers, 14, until) if e.sent_at >= start]
    before = sum(1 for o in offers.values() for _, ts in o.events if ts < start)
    applications = len({o.application for o in offers.values()})
    assert report.prior == before + applications
    assert report.operations == sum(len(o.events) for o in offers.values()) - before
    assert [f.entered for f in report.campaigns] == [len(want)]
    got = sorted((m.entry_key, m.at) for m in report.messages)
    assert got == sorted((e.offer, e.reminder_at) for e in want if e.reminder_at is not None)
    assert got, "reminders are sent, not suppressed for want of an address"
