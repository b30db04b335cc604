"""Helpers for the simulator tests: the BPI 2017 offer campaign, a "live" database holding
an imported XES log, and a plain-Python reading of the log to compute expectations.

The offer campaign (issue 6): an offer sent (either sent activity) starts a journey keyed
per offer; wait until `O_Returned` for this offer, at most N days, else a reminder;
`O_Refused` or `O_Cancelled` of this offer exit; the goal is `O_Accepted` of this offer
within 30 days, and converting exits. It is one campaign (`offer`) whose trigger lists
both sent activities (`event: [a, b]`): either one enters, once per offer.

BPIC applicants have no email address: the log gets one identify per application
(`<ApplicationID>@applicants.example`, at 2016-01-01, before the log starts), so the
reminders are sent (to the recording mailer), not suppressed.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.core.clock import FixedClock
from app.service.importers import import_xes
from app.service.ingest import Ingestor
from app.store import Store

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "bpic2017_sample.xes.gz"
SENT = ("O_Sent (mail and online)", "O_Sent (online only)")
CAMPAIGN = "offer"
EMAIL_AT = "2016-01-01T00:00:00Z"
DAY = 86_400_000

OFFER_CAMPAIGN = """\
id: offer
name: Offer reminder
trigger:
  event: ["O_Sent (mail and online)", "O_Sent (online only)"]
  key: offer_id
re_entry: once
exit: exit_on_conversion
goal:
  performed: O_Accepted
  where: {{offer_id: {{trigger: offer_id}}}}
  within: 30d
steps:
  - id: wait_reply
    wait_until:
      paths:
        - id: returned
          when:
            performed: O_Returned
            since: entry
            where: {{offer_id: {{trigger: offer_id}}}}
        - id: closed
          when:
            any:
              - performed: O_Refused
                since: entry
                where: {{offer_id: {{trigger: offer_id}}}}
              - performed: O_Cancelled
                since: entry
                where: {{offer_id: {{trigger: offer_id}}}}
          steps:
            - id: closed_exit
              exit: true
      max_time: {wait}
      timeout:
        - id: reminder
          send:
            template: offer_reminder
            subject: "Your offer {{{{ event.offer_id }}}} is waiting"
"""


def offer_folder(folder: Path, wait: str = "14d") -> Path:
    """Write the offer campaign (waiting `wait`) and its template; return the file."""
    (folder / "templates").mkdir(parents=True, exist_ok=True)
    (folder / "templates" / "offer_reminder.html.j2").write_text(
        "<p>Your offer {{ event.offer_id }} of {{ event.OfferedAmount }} is waiting.</p>\n"
    )
    path = folder / f"{CAMPAIGN}.yaml"
    path.write_text(OFFER_CAMPAIGN.format(wait=wait))
    return path


def offer_text(wait: str) -> str:
    """The offer campaign's YAML (a draft)."""
    return OFFER_CAMPAIGN.format(wait=wait)


def live_database(path: Path, xes: Path = SAMPLE) -> Store:
    """A database holding the imported XES log (person = ApplicationID) and an email per
    application; returned open."""
    store = Store.open(path)
    ingestor = Ingestor(store, FixedClock(1_500_000_000_000))
    summary = import_xes(ingestor, str(xes))
    assert summary.rejected == []
    apps = sorted({o.application for o in read_offers(xes).values()})
    ops = [
        {"type": "identify", "userId": app, "timestamp": EMAIL_AT,
         "traits": {"email": f"{app}@applicants.example"}}
        for app in apps
    ]  # fmt: skip
    assert ingestor.apply(ops).rejected == []
    return store


@dataclass
class Offer:
    """One trace of the log: its application, and its events (name, ms UTC) in order."""

    application: str
    events: list[tuple[str, int]]


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def read_offers(xes: Path = SAMPLE) -> dict[str, Offer]:
    """Offers by id, read with `xml.etree` alone."""
    root = ET.fromstring(gzip.decompress(xes.read_bytes()))
    offers: dict[str, Offer] = {}
    for trace in root.iter("trace"):
        attrs = {e.get("key"): e.get("value") for e in trace if e.tag != "event"}
        events = []
        for event in trace.iter("event"):
            fields = {e.get("key"): e.get("value") for e in event}
            events.append((str(fields["concept:name"]), _ms(str(fields["time:timestamp"]))))
        offers[str(attrs["concept:name"])] = Offer(str(attrs["ApplicationID"]), events)
    return offers


@dataclass
class Expected:
    """What the offer campaign does to one offer, by the rules, computed from the log."""

    offer: str
    application: str
    sent_by: str  # the sent activity that entered (the first one of the offer)
    sent_at: int
    outcome: str  # returned, refused_or_cancelled, accepted, reminder, waiting
    reminder_at: int | None
    converted: bool


def expected(offers: dict[str, Offer], wait_days: int, end: int) -> list[Expected]:
    """Per offer that was sent (either sent activity; the first send enters, and a later
    send of either kind does not enter again: `re_entry: once`, one journey per offer): the
    first reply of this offer (returned, refused,
    cancelled, accepted) at or after the send decides, unless the wait runs out first (a
    reply exactly at the timeout comes after it: the tick at a due instant runs before
    the operation at that instant). Converted: accepted within 30 days of the send."""
    out = []
    for offer_id, offer in offers.items():
        sent = [(ts, name) for name, ts in offer.events if name in SENT]
        if not sent:
            continue
        t0, name = min(sent)
        replies = sorted(
            (ts, n) for n, ts in offer.events
            if n in ("O_Returned", "O_Refused", "O_Cancelled", "O_Accepted") and ts >= t0
        )  # fmt: skip
        timeout = t0 + wait_days * DAY
        first = replies[0] if replies else None
        if first is None or first[0] >= timeout:
            outcome = "reminder" if timeout <= end else "waiting"
        elif first[1] == "O_Returned":
            outcome = "returned"
        elif first[1] == "O_Accepted":
            outcome = "accepted"
        else:
            outcome = "refused_or_cancelled"
        converted = any(
            n == "O_Accepted" and t0 <= ts <= min(t0 + 30 * DAY, end) for n, ts in offer.events
        )
        reminder_at = timeout if outcome == "reminder" else None
        out.append(Expected(offer_id, offer.application, name, t0, outcome, reminder_at, converted))
    return out
