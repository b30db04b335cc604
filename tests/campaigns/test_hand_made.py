"""The shipped campaigns with hand-made people, worked out by hand: the trial checklist
lists exactly the missing onboarding steps, the cart email picks the copy the rules say,
and the inactivity campaign sends nothing to someone who came back during the wait.

Dates are in 2027 (after the shipped broadcast, which therefore sends nothing). 2027-03-01
is a Monday; everyone here lives in Europe/Berlin (UTC+1 in these weeks).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from app.core.clock import FixedClock
from app.delivery.recording import RecordingMailer
from app.service.outbox import Outbox
from app.service.scheduler import Scheduler
from app.service.workspace import Workspace
from tests.service.engine_kit import DAY, HOUR, identify, open_ws, set_clock, track, utc

CAMPAIGNS = Path(__file__).resolve().parents[2] / "campaigns"
ZONE = "Europe/Berlin"


def workspace(at: int) -> tuple[Workspace, Scheduler]:
    ws = open_ws(CAMPAIGNS, at)
    outbox = Outbox(ws.store, ws.engine, ws.settings, RecordingMailer())
    assert isinstance(ws.clock, FixedClock)
    return ws, Scheduler(ws, outbox, ws.clock)


def tick(ws: Workspace, scheduler: Scheduler, at: int) -> None:
    set_clock(ws, at)
    asyncio.run(scheduler.tick(at))


def sent(ws: Workspace, campaign: str) -> list[tuple[str, str, str]]:
    """(person, step, text) of every sent delivery of the campaign, in send order."""
    rows = [d for d in ws.store.deliveries.all() if d.campaign_id == campaign]
    assert all(d.state == "sent" for d in rows), [(d.key, d.state, d.reason) for d in rows]
    people = {p.id: p.external_id for p in ws.store.people.iter_all()}
    return [(people[d.person_id] or "", d.step_id, d.rendered_text or "") for d in rows]


def person(ws: Workspace, at: int, user: str, **traits: Any) -> None:
    identify(ws, at, user, email=f"{user}@example.com", first_name=user.title(),
             timezone=ZONE, created_at=at, **traits)  # fmt: skip


# -- trial milestones ----------------------------------------------------------------------

CHECKLIST = {
    "profile_completed": "Complete your sender profile",
    "contacts_imported": "Import your contacts",
    "domain_verified": "Verify your sending domain",
    "template_saved": "Save your first template",
}


def listed(text: str) -> set[str]:
    return {step for step, title in CHECKLIST.items() if title in text}


def test_trial_checklists_list_exactly_the_missing_steps() -> None:
    # Ines starts a 10-day trial on Monday 1 March 10:00 UTC: 50% is 6 March 10:00, 80% is
    # 9 March 10:00. She imports contacts and saves a template on day one, verifies her
    # domain on 7 March: the first list holds profile and domain, the second the profile.
    start = utc("2027-03-01 10:00")
    ws, scheduler = workspace(start)
    person(ws, start, "ines", plan_type="trial", trial_started_at=start,
           trial_ends_at=start + 10 * DAY)  # fmt: skip
    track(ws, start, "ines", "signed_up", {"plan": "trial"})
    track(ws, start + HOUR, "ines", "contacts_imported")
    track(ws, start + 2 * HOUR, "ines", "template_saved")
    tick(ws, scheduler, utc("2027-03-06 10:00"))
    track(ws, utc("2027-03-07 09:00"), "ines", "domain_verified")
    tick(ws, scheduler, utc("2027-03-09 10:00"))
    found = sent(ws, "trial_milestones")
    assert [(who, step) for who, step, _ in found] == [
        ("ines", "halfway_checklist"),
        ("ines", "eighty_checklist"),
    ]
    assert listed(found[0][2]) == {"profile_completed", "domain_verified"}
    assert listed(found[1][2]) == {"profile_completed"}


# -- cart abandonment ----------------------------------------------------------------------

DESK = {"product_id": "sku-101", "product_name": "Oak standing desk", "category": "desks",
        "price": 649.0}  # fmt: skip


def test_cart_email_picks_the_copy_the_rules_say() -> None:
    # Four carts with the same desk at 12:00, none bought within 4 h:
    # - vera has a lifetime value of 800 (and also bought a desk before): high value wins;
    # - carl (lifetime value 120) bought a writing desk (category desks) before;
    # - kim viewed the standing desk 3 times and bought only a lamp (lighting);
    # - ned did none of that: the plain reminder.
    at = utc("2027-03-02 12:00")
    ws, scheduler = workspace(at - 3 * DAY)
    for user in ("vera", "carl", "kim", "ned"):
        person(ws, at - 3 * DAY, user, plan_type="shop")
    desk_before = {**DESK, "product_id": "sku-102", "product_name": "Compact writing desk"}
    lamp = {"product_id": "sku-301", "product_name": "Daylight desk lamp",
            "category": "lighting", "price": 119.0}  # fmt: skip
    track(ws, at - 2 * DAY, "vera", "completed_purchase", {**desk_before, "cart_id": "v0"})
    identify(ws, at - 2 * DAY, "vera", lifetime_value=800.0)
    track(ws, at - 2 * DAY, "carl", "completed_purchase", {**desk_before, "cart_id": "c0"})
    identify(ws, at - 2 * DAY, "carl", lifetime_value=120.0)
    track(ws, at - 2 * DAY, "kim", "completed_purchase", {**lamp, "cart_id": "k0"})
    for hours in (30, 20, 1):
        track(ws, at - hours * HOUR, "kim", "viewed_product", DESK)
    for user in ("vera", "carl", "kim", "ned"):
        track(ws, at, user, "added_to_cart", {**DESK, "cart_id": f"{user}-1"})
    tick(ws, scheduler, at + 4 * HOUR)
    found = {who: (step, text) for who, step, text in sent(ws, "cart_abandonment")}
    assert {who: step for who, (step, _) in found.items()} == {
        "vera": "remind_high_value",
        "carl": "remind_category_fan",
        "kim": "remind_keen",
        "ned": "remind",
    }
    assert "free by express" in found["vera"][1]
    assert "You know our desks already" in found["carl"][1]
    assert "looked at the Oak standing desk 3 times" in found["kim"][1]


# -- inactivity ----------------------------------------------------------------------------


def test_inactivity_sends_nothing_to_someone_who_logged_in_during_the_wait() -> None:
    # Both on a 30-day trial since 15 February. Ada's last login is Saturday 27 February
    # 10:00: she joins inactive_trials 7 days later, Saturday 6 March, and waits for
    # office hours (Monday 8 March 09:00 Berlin); she logs in on Sunday: nothing is sent.
    # Ben's last login is Thursday 25 February 10:00: he joins on Thursday 4 March, inside
    # office hours, and gets the first email at once; he logs in on 6 March, during the
    # 5-day wait: the "here to help" email never goes.
    created = utc("2027-02-15 09:00")
    ws, scheduler = workspace(created)
    for user in ("ada", "ben"):
        person(ws, created, user, plan_type="trial", trial_started_at=created,
               trial_ends_at=created + 30 * DAY)  # fmt: skip
    track(ws, utc("2027-02-27 10:00"), "ada", "app_login")
    track(ws, utc("2027-02-25 10:00"), "ben", "app_login")
    tick(ws, scheduler, utc("2027-03-04 11:00"))  # Ben enters; 12:00 in Berlin
    tick(ws, scheduler, utc("2027-03-06 11:00"))  # Ada enters on a Saturday
    track(ws, utc("2027-03-06 18:00"), "ben", "app_login")
    track(ws, utc("2027-03-07 12:00"), "ada", "app_login")
    for day in range(8, 13):
        tick(ws, scheduler, utc(f"2027-03-{day:02d} 12:00"))
    assert [(who, step) for who, step, _ in sent(ws, "inactivity")] == [("ben", "gap")]
    reasons = {j.exit_reason for j in ws.store.journeys.active_in("inactivity")}
    assert reasons == set()  # both ended
