"""End to end over real SMTP (issue 5 acceptance): the sample log is ingested as if live,
the scheduler ticks as time passes, and the welcome campaign's messages arrive at a
local sink on 127.0.0.1, where they are read back with the `email` package.

The expected messages, worked out from `data/samples/product_events.jsonl` and
`tests/fixtures/campaigns_v1/welcome.yaml` (the welcome campaign as first shipped:
signed_up with plan trial and an email enters; hello at once; wait up to 36 h for
project_created; then celebrate or guide):

- Maria (u-1001) signs up 2026-10-01 09:01:05: hello. She creates a project at 09:20:12,
  which ends the wait at once: celebrate. (She upgrades on 10-05, after the campaign.)
- Sam (sam.okafor@example.org) signs up 10:00:05 (Customer.io shape): hello. No
  project: the wait ends at 10-02 22:00:05; the first tick after that is at the next
  operation, 10-03 01:00:00: guide.
- Jun (u-1003) signs up 10-03 01:00:04: hello; no project, wait ends 10-04 13:00:04,
  next operation 10-05 09:00:05: guide.
- Lee (u-1004) never signs up; the last line repeats Sam's sign-up id (a duplicate).

Journeys are numbered in entry order (Maria 1, Sam 2, Jun 3), so the delivery keys are
`welcome/<journey>/<step>` and the Message-IDs `message_id_for(f"{workspace}/{key}", "example.com")`
(From is settings' `Nudge <nudge@example.com>`).
"""

from __future__ import annotations

import json
import mailbox
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from app.config import load_settings
from app.core.clock import FixedClock
from app.core.message import message_id_for
from app.core.times import parse_instant
from app.core.unsubscribe import make_token
from app.delivery.sink import Sink
from app.delivery.smtp import SmtpMailer
from app.service.outbox import Outbox
from app.service.scheduler import Scheduler
from app.service.workspace import open_workspace
from tests.service.engine_kit import utc

ROOT = Path(__file__).resolve().parents[2]
LOG = ROOT / "data" / "samples" / "product_events.jsonl"

# (key, to, subject, sent at)
EXPECTED = [
    ("welcome/1/hello", "maria.lopez@example.com", "Welcome, Maria", "2026-10-01 09:01:05"),
    ("welcome/1/celebrate", "maria.lopez@example.com", "Nice work on your first project",
     "2026-10-01 09:20:12"),
    ("welcome/2/hello", "sam.okafor@example.org", "Welcome, Sam", "2026-10-01 10:00:05"),
    ("welcome/2/guide", "sam.okafor@example.org", "Getting started in 3 steps",
     "2026-10-03 01:00:00"),
    ("welcome/3/hello", "Jun.Park@Example.net", "Welcome, Jun", "2026-10-03 01:00:04"),
    ("welcome/3/guide", "Jun.Park@Example.net", "Getting started in 3 steps",
     "2026-10-05 09:00:05"),
]  # fmt: skip


def read_maildir(path: Path) -> list[EmailMessage]:
    box = mailbox.Maildir(path, create=False)
    found = [message_from_bytes(box.get_bytes(key), policy=default) for key in box.iterkeys()]
    assert all(isinstance(m, EmailMessage) for m in found)
    return found


async def test_sample_log_over_real_smtp(tmp_path: Path) -> None:
    ops = [json.loads(line) for line in LOG.read_text().splitlines() if line.strip()]
    async with Sink(tmp_path / "maildir") as sink:
        settings = load_settings(
            database=":memory:",
            campaigns=ROOT / "tests" / "fixtures" / "campaigns_v1",
            smtp={"port": sink.port, "rate_per_second": 0},
        )
        clock = FixedClock(utc("2026-10-01 08:00"))
        ws = open_workspace(settings, clock)
        assert ws.errors == []
        outbox = Outbox(ws.store, ws.engine, settings, SmtpMailer(settings.smtp))
        scheduler = Scheduler(ws, outbox, clock)
        try:
            for op in ops:
                # Live: each operation arrives when it happened (never back in time); the
                # scheduler ticks before it (what fell due meanwhile) and after it.
                ts = op["timestamp"]
                clock.at_ms = max(clock.at_ms, parse_instant(ts))
                assert (await scheduler.tick()).errors == []
                assert ws.ingestor.apply([op]).rejected == []
                report = await scheduler.tick()
                assert report.errors == [] and report.sending.errors == []
            clock.at_ms = utc("2026-10-20 00:00")
            await scheduler.tick()
        finally:
            await outbox.mailer.close()
        assert sink.stored == len(EXPECTED)
        assert sink.refused == 0

    # The Maildir holds exactly the expected messages.
    messages = read_maildir(tmp_path / "maildir")
    got = sorted(
        (str(m["X-Nudge-Delivery"]), str(m["To"]), str(m["Subject"]), str(m["Message-ID"]))
        for m in messages
    )
    workspace = ws.store.kv.get("workspace_id")
    want = sorted(
        (key, to, subject, message_id_for(f"{workspace}/{key}", "example.com"))
        for key, to, subject, _ in EXPECTED
    )
    assert got == want

    # The database agrees: each is sent, at the tick that sent it, with that Message-ID.
    rows = {d.key: d for d in ws.store.deliveries.all()}
    assert sorted(rows) == sorted(key for key, *_ in EXPECTED)
    for key, to, subject, sent_at in EXPECTED:
        d = rows[key]
        assert (d.state, d.sent_at, d.attempts) == ("sent", utc(sent_at), 1), key
        assert (d.to_address, d.rendered_subject) == (to, subject)
        assert d.message_id == message_id_for(f"{workspace}/{key}", "example.com")

    # What a mail client sees: text then HTML, the person's data, a working
    # one-click unsubscribe link for that delivery.
    by_key = {str(m["X-Nudge-Delivery"]): m for m in messages}
    hello = by_key["welcome/1/hello"]
    assert hello["From"] == "Nudge <nudge@example.com>"
    assert hello.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in hello.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = hello.get_body(("plain",))
    html = hello.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().startswith("Hi Maria,")
    assert "<p>Hi Maria,</p>" in html.get_content()
    token = make_token(rows["welcome/1/hello"].id, outbox.secret)
    url = f"http://127.0.0.1:8080/unsubscribe/{token}"
    assert hello["List-Unsubscribe"] == f"<{url}>"
    assert url in text.get_content()
    # RFC 8058 one-click needs an HTTPS URL; the default public_url is plain HTTP.
    assert hello["List-Unsubscribe-Post"] is None
    # Jun's guide went out before his first name changed (10-06): the body says Jun.
    guide = by_key["welcome/3/guide"].get_body(("plain",))
    assert guide is not None and guide.get_content().startswith("Hi Jun,")

    # The activity log tells the same story: one sending and one sent per message.
    kinds = [e.kind for e in ws.store.activity.latest(10_000)]
    assert kinds.count("message.sending") == kinds.count("message.sent") == len(EXPECTED)
    assert "message.resending" not in kinds
