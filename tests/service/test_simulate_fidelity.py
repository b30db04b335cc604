"""Invariant 1 (issue 6 acceptance): the simulator's messages are the ones live mode sends.

The same log goes (a) through the live path: a workspace over a database file, ingest at
each operation's own time on a fixed clock, the scheduler ticking (a full production
tick) at every due instant before each operation and at the end, the outbox sending over
real SMTP to the local sink; and (b) through `simulate`. The messages that reach the sink
(to, campaign, step, time, subject) equal the simulator's list.

The campaigns cover a delay in days (the person's local wall time) and in hours, a
wait-until with a timeout (keyed per cart, "this cart"), a branch, a time window in the
person's time zone, and a goal that exits the journey. Each expectation that matters is
also written out by hand below, from the log and the campaigns.
"""

from __future__ import annotations

import json
import mailbox
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from app.config import load_settings
from app.core.clock import FixedClock
from app.core.times import parse_instant
from app.delivery.sink import Sink
from app.delivery.smtp import SmtpMailer
from app.service.outbox import Outbox
from app.service.scheduler import Scheduler
from app.service.simulate import CampaignSource, LogFiles, SimulationRequest, simulate
from app.service.workspace import open_workspace
from tests.service.engine_kit import utc, write_campaign

CAMPAIGNS = [
    """
    id: drip
    name: Drip with delays
    state: active
    trigger: {event: signed_up}
    steps:
      - id: hello
        send: {template: plain, subject: "Hello {{ person.first_name }}"}
      - id: one_day
        delay: 1d
      - id: day_one
        send: {template: plain, subject: "Day one"}
      - id: a_while
        delay: 36h
      - id: later
        send: {template: plain, subject: "Later"}
    """,
    """
    id: cart
    name: Cart left behind
    state: active
    trigger: {event: added_to_cart, key: cart_id}
    re_entry: every_time
    steps:
      - id: wait_order
        wait_until:
          paths:
            - id: ordered
              when: {performed: order_completed, since: entry, where: {cart_id: {trigger: cart_id}}}
          max_time: 4h
          timeout:
            - id: reminder
              send: {template: plain, subject: "Your cart {{ event.cart_id }}"}
    """,
    """
    id: nudge
    name: Branch on a project
    state: active
    trigger: {event: signed_up}
    steps:
      - id: pause
        delay: 2h
      - id: check
        branch:
          if: {performed: project_created, since: entry}
          then:
            - id: celebrate
              send: {template: plain, subject: "Nice project"}
          else:
            - id: guide
              send: {template: plain, subject: "Getting started"}
    """,
    """
    id: office
    name: Office hours
    state: active
    trigger: {event: signed_up}
    steps:
      - id: settle
        delay: 1h
      - id: hours
        time_window: {from: "09:00", to: "17:00", days: [weekdays]}
      - id: tip
        send: {template: plain, subject: "A tip in office hours"}
    """,
    """
    id: upsell
    name: Upsell until they upgrade
    state: active
    trigger: {event: signed_up}
    exit: exit_on_conversion
    goal: {performed: upgraded, within: 7d}
    steps:
      - id: wait_a_day
        delay: 1d
      - id: pitch
        send: {template: plain, subject: "Go pro"}
      - id: wait_two
        delay: 2d
      - id: last_pitch
        send: {template: plain, subject: "Last chance to go pro"}
    """,
]


def _identify(uid: str, at: str, zone: str) -> dict[str, object]:
    traits = {"email": f"{uid}@example.com", "first_name": uid.title(), "timezone": zone}
    return {"type": "identify", "userId": uid, "traits": traits, "timestamp": at}


def _track(uid: str, event: str, at: str, **props: object) -> dict[str, object]:
    return {"type": "track", "userId": uid, "event": event, "properties": props, "timestamp": at}


# 2024-06-07 is a Friday. Ann is in New York (UTC-4), Bo in Tokyo (UTC+9), Cy in Berlin.
LOG = [
    _identify("ann", "2024-06-07T20:00:00Z", "America/New_York"),
    _track("ann", "signed_up", "2024-06-07T20:00:05Z"),
    _identify("bo", "2024-06-07T21:00:00Z", "Asia/Tokyo"),
    _track("bo", "signed_up", "2024-06-07T21:00:05Z"),
    _track("bo", "project_created", "2024-06-07T22:00:00Z"),
    _track("ann", "added_to_cart", "2024-06-08T10:00:00Z", cart_id="c1"),
    _track("ann", "added_to_cart", "2024-06-08T11:00:00Z", cart_id="c2"),
    _track("ann", "order_completed", "2024-06-08T12:00:00Z", cart_id="c2"),
    _identify("cy", "2024-06-08T12:30:00Z", "Europe/Berlin"),
    _track("cy", "signed_up", "2024-06-08T12:30:05Z"),
    _track("bo", "upgraded", "2024-06-08T20:00:00Z"),
    _track("cy", "added_to_cart", "2024-06-09T09:00:00Z", cart_id="c3"),
    _track("cy", "order_completed", "2024-06-09T10:00:00Z", cart_id="c3"),
]
END = "2024-06-14T00:00:00Z"

# Worked out by hand (UTC). The delay `1d` keeps the person's wall time; `36h` is elapsed.
HAND = {
    ("ann@example.com", "drip", "hello", "2024-06-07 20:00:05"),
    ("ann@example.com", "drip", "day_one", "2024-06-08 20:00:05"),
    ("ann@example.com", "drip", "later", "2024-06-10 08:00:05"),
    # Branch at 22:00:05: Ann made no project (guide), Bo did at 22:00 (celebrate).
    ("ann@example.com", "nudge", "guide", "2024-06-07 22:00:05"),
    ("bo@example.com", "nudge", "celebrate", "2024-06-07 23:00:05"),
    # Office hours in the person's zone: Ann's 17:00:05 Friday (NY) is past 17:00, so
    # Monday 09:00 New York = 13:00 UTC; Bo's 07:00:05 Saturday in Tokyo waits for
    # Monday 09:00 Tokyo = 00:00 UTC Monday; Cy's Saturday 15:30 Berlin waits for
    # Monday 09:00 Berlin = 07:00 UTC.
    ("ann@example.com", "office", "tip", "2024-06-10 13:00:00"),
    ("bo@example.com", "office", "tip", "2024-06-10 00:00:00"),
    ("cy@example.com", "office", "tip", "2024-06-10 07:00:00"),
    # Cart c1 was never ordered: reminder 4 h later; c2 and c3 were.
    ("ann@example.com", "cart", "reminder", "2024-06-08 14:00:00"),
    # Bo upgrades on the 8th at 20:00, before his pitch (7th 21:00:05 + 1d): he exits.
    # Ann and Cy get both pitches.
    ("ann@example.com", "upsell", "pitch", "2024-06-08 20:00:05"),
    ("ann@example.com", "upsell", "last_pitch", "2024-06-10 20:00:05"),
    ("cy@example.com", "upsell", "pitch", "2024-06-09 12:30:05"),
    ("cy@example.com", "upsell", "last_pitch", "2024-06-11 12:30:05"),
}


def _folder(tmp: Path) -> Path:
    folder = tmp / "campaigns"
    for text in CAMPAIGNS:
        write_campaign(folder, text)
    return folder


async def _live(tmp: Path, folder: Path) -> list[tuple[str, str, str, int, str]]:
    """The live path; returns (to, campaign, step, sent at, subject) of what the sink got."""
    ops = sorted(LOG, key=lambda op: parse_instant(op["timestamp"]))
    async with Sink(tmp / "maildir") as sink:
        settings = load_settings(
            database=tmp / "live.db", campaigns=folder,
            smtp={"port": sink.port, "rate_per_second": 0},
        )  # fmt: skip
        clock = FixedClock(parse_instant(ops[0]["timestamp"]))
        ws = open_workspace(settings, clock)
        assert ws.errors == []
        outbox = Outbox(ws.store, ws.engine, settings, SmtpMailer(settings.smtp))
        scheduler = Scheduler(ws, outbox, clock)

        async def tick_through(t: int) -> None:
            while True:
                dues = [ws.store.journeys.next_due(), ws.store.deliveries.next_attempt()]
                due = min((d for d in dues if d is not None), default=None)
                if due is None or due > t:
                    return
                clock.at_ms = max(clock.at_ms, due)
                report = await scheduler.tick()
                assert report.errors == [] and report.sending.errors == []

        try:
            for op in ops:
                t = parse_instant(op["timestamp"])
                await tick_through(t)
                clock.at_ms = max(clock.at_ms, t)
                assert ws.ingestor.apply([op]).rejected == []
            await tick_through(parse_instant(END))
        finally:
            await outbox.mailer.close()
        assert sink.refused == 0
    box = mailbox.Maildir(tmp / "maildir", create=False)
    mails = [message_from_bytes(box.get_bytes(k), policy=default) for k in box.iterkeys()]
    sent = {d.key: d for d in ws.store.deliveries.all() if d.state == "sent"}
    out = []
    for mail in mails:
        key = str(mail["X-Nudge-Delivery"])
        campaign, _journey, step = key.split("/")
        assert sent[key].sent_at is not None
        out.append((str(mail["To"]), campaign, step, sent[key].sent_at, str(mail["Subject"])))
    ws.store.close()
    return sorted(out)


async def test_simulation_sends_what_live_mode_sends(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    live = await _live(tmp_path, folder)

    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(op) + "\n" for op in LOG))
    settings = load_settings(database=tmp_path / "unused.db", campaigns=folder)
    request = SimulationRequest(
        tuple(CampaignSource(p) for p in sorted(folder.glob("*.yaml"))),
        LogFiles((log,)),
        settings,
        until_ms=parse_instant(END),
    )
    report = simulate(request)
    simulated = sorted((m.to, m.campaign, m.step, m.at, m.subject) for m in report.messages)

    assert simulated == live
    assert not (tmp_path / "unused.db").exists()
    # ...and both are what the campaigns say, worked out by hand.
    by_hand = {(to, c, s, utc(at)) for to, c, s, at in HAND}
    assert {(to, c, s, at) for to, c, s, at, _ in simulated} >= by_hand
    subjects = {(m.campaign, m.step): m.subject for m in report.messages}
    assert subjects[("drip", "hello")] in {"Hello Ann", "Hello Bo", "Hello Cy"}
    assert ("cy@example.com", "cart", "reminder") not in {(t, c, s) for t, c, s, *_ in live}
    assert ("bo@example.com", "upsell", "pitch") not in {(t, c, s) for t, c, s, *_ in live}
    upsell = next(f for f in report.campaigns if f.campaign == "upsell")
    assert upsell.converted == 1 and upsell.exited == {"converted": 1}
