"""The outbox state machine over real SMTP (a local sink), driven by a fixed clock: retries
with backoff through an outage, bounces, suppression, unsubscription, email-less
people, header injection, render errors, the sandbox, the message limit.

Every expected value is worked out by hand from the campaign below: `onboard` sends
`hello` on signed_up, waits a day, sends `followup`. Journeys (and so delivery keys)
are numbered in sign-up order.
"""

from __future__ import annotations

import asyncio
import mailbox
import sqlite3
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from app.config import load_settings
from app.core.clock import FixedClock
from app.core.errors import NotFound
from app.core.message import message_id_for
from app.core.models import Delivery
from app.core.unsubscribe import make_token
from app.delivery.sink import Sink
from app.delivery.smtp import SmtpMailer
from app.service.outbox import Outbox
from app.service.scheduler import Scheduler, TickReport
from app.service.workspace import Workspace, open_workspace
from tests.service.engine_kit import DAY, HOUR, utc

T = utc("2026-11-02 09:00")
SECOND = 1_000

ONBOARD = """\
id: onboard
name: Onboarding
state: active
trigger:
  event: signed_up
re_entry: once
exit: exit_only_at_end
steps:
  - id: hello
    send: {template: hello, subject: "Hello {{ person.first_name | default('there') }}"}
  - id: pause
    delay: 1d
  - id: followup
    send: {template: followup, subject: "How is it going?"}
"""

TEMPLATES = {
    "hello": "<p>Hi {{ person.first_name | default('there') }}</p>\n",
    "followup": "<p>Still there?</p>\n",
}


@dataclass
class Rig:
    """A workspace on a fixed clock, an outbox over SMTP to a sink, a scheduler."""

    ws: Workspace
    clock: FixedClock
    sink: Sink
    outbox: Outbox
    scheduler: Scheduler

    async def tick(self, at: int) -> TickReport:
        self.clock.at_ms = at
        report = await self.scheduler.tick()
        assert report.holder and report.errors == [] and report.sending.errors == []
        return report

    def sign_up(self, at: int, user: str, **traits: Any) -> None:
        self.clock.at_ms = at
        ops = [
            {"type": "identify", "userId": user, "traits": traits, "timestamp": at},
            {"type": "track", "userId": user, "event": "signed_up", "timestamp": at},
        ]
        assert self.ws.ingestor.apply(ops).rejected == []

    def delivery(self, key: str) -> Delivery:
        found = self.ws.store.deliveries.by_key(key)
        assert found is not None, key
        return found

    def state(self, key: str) -> tuple[str, str | None]:
        d = self.delivery(key)
        return d.state, d.reason

    def messages(self) -> list[EmailMessage]:
        box = mailbox.Maildir(self.sink.maildir, create=False)
        return [message_from_bytes(box.get_bytes(k), policy=default) for k in self.sink.keys]

    def received(self) -> list[tuple[str, str, str]]:
        """What reached the sink, in arrival order: (X-Nudge-Delivery, To, Subject)."""
        return [
            (str(m["X-Nudge-Delivery"]), str(m["To"]), str(m["Subject"])) for m in self.messages()
        ]

    def activity(self, kind: str) -> list[tuple[int, dict[str, Any]]]:
        """(at, detail) of every activity row of `kind`, oldest first."""
        rows = reversed(self.ws.store.activity.latest(100_000))
        return [(r.at, r.detail) for r in rows if r.kind == kind]


@asynccontextmanager
async def rig(
    tmp_path: Path,
    campaign: str = ONBOARD,
    templates: dict[str, str] | None = None,
    reject: tuple[str, ...] = (),
    **settings: Any,
) -> AsyncIterator[Rig]:
    folder = tmp_path / "campaigns"
    (folder / "templates").mkdir(parents=True)
    (folder / "campaign.yaml").write_text(textwrap.dedent(campaign))
    for name, source in (templates or TEMPLATES).items():
        (folder / "templates" / f"{name}.html.j2").write_text(source)
    async with Sink(tmp_path / "maildir", reject_recipients=reject) as sink:
        s = load_settings(
            database=":memory:",
            campaigns=folder,
            smtp={"port": sink.port, "rate_per_second": 0},
            **settings,
        )
        clock = FixedClock(T)
        ws = open_workspace(s, clock)
        assert ws.errors == [], ws.errors
        outbox = Outbox(ws.store, ws.engine, s, SmtpMailer(s.smtp))
        try:
            yield Rig(ws, clock, sink, outbox, Scheduler(ws, outbox, clock))
        finally:
            await outbox.mailer.close()


# -- outage: 4xx for a while, then recovery -------------------------------------------------


async def test_outage_retries_with_doubling_backoff_and_loses_nothing(tmp_path: Path) -> None:
    async with rig(tmp_path, retry_base_seconds=60) as r:
        for user in ("ana", "bo", "cy"):
            r.sign_up(T, user, email=f"{user}@example.com", first_name=user.title())
        r.sink.set_failing(True)
        # Attempt 1 at T, 2 at T+60 s, 3 at T+180 s (60 + 120), each refused with 451.
        for at, attempts in ((T, 1), (T + 60 * SECOND, 2), (T + 180 * SECOND, 3)):
            report = await r.tick(at)
            assert report.sending.retried == 3 and report.sending.sent == 0
            assert r.sink.refused == 3 * attempts
            # Nothing is tried again before its next attempt is due.
            before = T + (60 * (2**attempts - 1)) * SECOND - 1
            assert (await r.tick(before)).sending.handled == 0
            assert r.sink.refused == 3 * attempts
        for key in ("onboard/1/hello", "onboard/2/hello", "onboard/3/hello"):
            d = r.delivery(key)
            assert (d.state, d.attempts, d.next_attempt_at) == ("queued", 3, T + 420 * SECOND)
            assert d.reason == "451 4.3.0 try again later"
        # The server recovers: attempt 4 at T+420 s (180 + 240) goes through.
        r.sink.set_failing(False)
        report = await r.tick(T + 420 * SECOND)
        assert report.sending.sent == 3 and report.sending.retried == 0
        await r.tick(T + 2 * HOUR)  # nothing left, nothing sent twice

    assert r.received() == [
        ("onboard/1/hello", "ana@example.com", "Hello Ana"),
        ("onboard/2/hello", "bo@example.com", "Hello Bo"),
        ("onboard/3/hello", "cy@example.com", "Hello Cy"),
    ]
    for n in (1, 2, 3):
        d = r.delivery(f"onboard/{n}/hello")
        assert (d.state, d.attempts, d.sent_at, d.reason) == ("sent", 4, T + 420 * SECOND, None)
        # The backoff in the activity log: waits of base, 2x base, 4x base.
        retries = [
            (at, detail["attempt"], detail["next_attempt_at"])
            for at, detail in r.activity("message.retry")
            if detail["delivery"] == f"onboard/{n}/hello"
        ]
        assert retries == [
            (T, 1, T + 60 * SECOND),
            (T + 60 * SECOND, 2, T + 180 * SECOND),
            (T + 180 * SECOND, 3, T + 420 * SECOND),
        ]
        assert [b - a for a, _, b in retries] == [60 * SECOND, 120 * SECOND, 240 * SECOND]


async def test_outage_longer_than_the_attempts_is_undeliverable(tmp_path: Path) -> None:
    async with rig(tmp_path, retry_base_seconds=60, max_attempts=2) as r:
        r.sign_up(T, "ana", email="ana@example.com")
        r.sink.set_failing(True)
        await r.tick(T)
        report = await r.tick(T + 60 * SECOND)
        assert report.sending.undeliverable == 1
        assert r.state("onboard/1/hello") == ("undeliverable", "451 4.3.0 try again later")
        r.sink.set_failing(False)
        assert (await r.tick(T + HOUR)).sending.handled == 0
        assert r.sink.stored == 0
        assert [d["reason"] for _, d in r.activity("message.undeliverable")] == [
            "451 4.3.0 try again later"
        ]


# -- bounces, suppression, unsubscription, no address ----------------------------------------


async def test_a_bounce_marks_the_person_and_their_next_send_is_suppressed(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, reject=("bob@example.com",)) as r:
        r.sign_up(T, "ana", email="ana@example.com", first_name="Ana")
        r.sign_up(T, "bob", email="bob@example.com", first_name="Bob")
        report = await r.tick(T)
        assert (report.sending.sent, report.sending.bounced) == (1, 1)
        assert r.state("onboard/2/hello") == ("bounced", "550 5.1.1 no such user")
        bob = r.ws.store.people.by_external_id("bob")
        assert bob is not None and bob.suppressed
        report = await r.tick(T + DAY)
        assert (report.sending.sent, report.sending.suppressed) == (1, 1)
        assert r.state("onboard/2/followup") == ("suppressed", "suppressed")
        assert r.sink.rejected == 1  # the follow-up never reached the server

    assert r.received() == [
        ("onboard/1/hello", "ana@example.com", "Hello Ana"),
        ("onboard/1/followup", "ana@example.com", "How is it going?"),
    ]
    assert [(at, d["delivery"]) for at, d in r.activity("message.bounced")] == [
        (T, "onboard/2/hello")
    ]
    assert [(at, d["reason"]) for at, d in r.activity("message.suppressed")] == [
        (T + DAY, "suppressed")
    ]


async def test_unsubscribe_by_token_is_idempotent_and_stops_later_sends(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.sign_up(T, "ana", email="ana@example.com", first_name="Ana")
        r.sign_up(T, "cy", email="cy@example.com", first_name="Cy")
        r.sign_up(T, "di", email="di@example.com", first_name="Di")
        await r.tick(T)
        cy_hello = r.delivery("onboard/2/hello")
        token = make_token(cy_hello.id, r.outbox.secret)
        # The link in the message is this token's.
        sent = {str(m["X-Nudge-Delivery"]): m for m in r.messages()}
        assert sent["onboard/2/hello"]["List-Unsubscribe"] == (
            f"<http://127.0.0.1:8080/unsubscribe/{token}>"
        )
        for _ in range(2):  # a second click changes nothing
            assert r.outbox.unsubscribe(token, T + HOUR).key == "onboard/2/hello"
        cy = r.ws.store.people.by_external_id("cy")
        assert cy is not None and cy.unsubscribed
        assert r.activity("person.unsubscribed") == [
            (T + HOUR, {"delivery": "onboard/2/hello", "journey": cy_hello.journey_id})
        ]
        # A forged or altered token names nobody.
        for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), "2.x", "", "999.abc"):
            with pytest.raises(NotFound):
                r.outbox.unsubscribe(bad, T + HOUR)
        # The operator's flag does the same.
        di = r.ws.store.people.by_external_id("di")
        assert di is not None
        with r.ws.store.transaction():
            r.ws.store.people.set_flags(di.id, unsubscribed=True)
        report = await r.tick(T + DAY)
        assert (report.sending.sent, report.sending.suppressed) == (1, 2)
        assert r.state("onboard/2/followup") == ("suppressed", "unsubscribed")
        assert r.state("onboard/3/followup") == ("suppressed", "unsubscribed")
    keys = [key for key, _, _ in r.received()]
    # The three hellos went out concurrently (any order); the one followup a day later.
    assert sorted(keys[:3]) == ["onboard/1/hello", "onboard/2/hello", "onboard/3/hello"]
    assert keys[3:] == ["onboard/1/followup"]


async def test_people_without_an_email_get_nothing_and_their_delivery_says_why(
    tmp_path: Path,
) -> None:
    # No entry filter on `onboard`: people without an email enter and reach the send.
    async with rig(tmp_path) as r:
        r.sign_up(T, "ana", email="ana@example.com")
        r.sign_up(T, "nomail", first_name="Ned")
        report = await r.tick(T)
        assert (report.sending.sent, report.sending.suppressed) == (1, 1)
        assert r.state("onboard/2/hello") == ("suppressed", "no_email")
        assert r.delivery("onboard/2/hello").attempts == 0
        await r.tick(T + DAY)
        assert r.state("onboard/2/followup") == ("suppressed", "no_email")
    assert [to for _, to, _ in r.received()] == ["ana@example.com", "ana@example.com"]


# -- what gets rendered -----------------------------------------------------------------------


async def test_header_injection_through_an_attribute_adds_no_header(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        r.sign_up(T, "eve", email="eve@example.com",
                  first_name="Eve\r\nBcc: victim@example.com\r\nX-Evil: 1")  # fmt: skip
        assert (await r.tick(T)).sending.sent == 1
        assert r.sink.stored == 1
        (msg,) = r.messages()
    # The line breaks became spaces: one Subject line, and no Bcc / X-Evil header.
    assert msg["Subject"] == "Hello Eve Bcc: victim@example.com X-Evil: 1"
    assert [name.lower() for name in msg] == [
        "subject", "from", "to", "date", "message-id", "list-unsubscribe",
        "x-nudge-delivery", "mime-version", "content-type",
    ]  # fmt: skip
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    # Only the person is a recipient on the wire as well.
    assert r.delivery("onboard/1/hello").to_address == "eve@example.com"


async def test_a_missing_attribute_fails_the_delivery_with_template_and_line(
    tmp_path: Path,
) -> None:
    templates = {**TEMPLATES, "hello": "<p>Hi</p>\n<p>Your company: {{ person.company }}</p>\n"}
    async with rig(tmp_path, templates=templates) as r:
        r.sign_up(T, "ana", email="ana@example.com")
        report = await r.tick(T)
        assert (report.sending.failed, report.sending.sent) == (1, 0)
        assert r.state("onboard/1/hello") == (
            "failed",
            "hello.html.j2 line 2: 'dict object' has no attribute 'company'",
        )
        assert r.delivery("onboard/1/hello").attempts == 0
        assert r.sink.stored == 0 and r.sink.connections == 0
        assert [d["reason"] for _, d in r.activity("message.failed")] == [
            "hello.html.j2 line 2: 'dict object' has no attribute 'company'"
        ]


@pytest.mark.parametrize(
    ("where", "template", "subject"),
    [
        ("body", "<p>{{ person.__class__.__mro__ }}</p>\n", "Hi"),
        ("subject", "<p>Hi</p>\n", "{{ person.__class__.__mro__[1].__subclasses__() }}"),
    ],
)
async def test_a_template_reaching_for_python_internals_fails_safely(
    tmp_path: Path, where: str, template: str, subject: str
) -> None:
    campaign = ONBOARD.replace(
        "subject: \"Hello {{ person.first_name | default('there') }}\"", f'subject: "{subject}"'
    )
    async with rig(tmp_path, campaign, templates={**TEMPLATES, "hello": template}) as r:
        r.sign_up(T, "ana", email="ana@example.com")
        assert (await r.tick(T)).sending.failed == 1
        state, reason = r.state("onboard/1/hello")
        assert state == "failed"
        assert reason is not None and "unsafe" in reason
        name = "hello.html.j2" if where == "body" else "subject"
        unsafe = "access to attribute '__class__' of 'dict' object is unsafe."
        assert reason == f"{name} line 1: {unsafe}"
        assert r.sink.stored == 0


# -- the message limit ------------------------------------------------------------------------

LIMITED = """\
id: burst
name: Three messages
state: active
trigger:
  event: signed_up
re_entry: once
exit: exit_only_at_end
steps:
  - id: first
    send: {template: hello, subject: "First"}
  - id: pause
    delay: 1h
  - id: second
    send: {template: hello, subject: "Second"}
  - id: third
    send: {template: hello, subject: "Third"}
"""


async def test_message_limit_holds_back_then_sends_then_gives_up(tmp_path: Path) -> None:
    # At most 1 campaign email per person per 24 h; give up after 12 h held back.
    async with rig(
        tmp_path,
        LIMITED,
        message_limit=1,
        message_limit_window_hours=24,
        limited_give_up_hours=12,
    ) as r:
        r.sign_up(T, "ana", email="ana@example.com")
        assert (await r.tick(T)).sending.sent == 1
        # T+1h: second and third are queued; ana got `first` at T: both are limited
        # until that send leaves the window: T + 24 h + 1 ms.
        report = await r.tick(T + HOUR)
        assert report.sending.limited == 2
        for key in ("burst/1/second", "burst/1/third"):
            d = r.delivery(key)
            assert (d.state, d.reason, d.next_attempt_at) == (
                "limited",
                "message_limit:1",
                T + 24 * HOUR + 1,
            )
        assert r.activity("message.limited")[0][0] == T + HOUR
        # Still inside the window: nothing is due.
        assert (await r.tick(T + 24 * HOUR)).sending.handled == 0
        # The window frees: `second` goes; `third` would be ana's second email in 24 h,
        # and it has been held back since T+1h, more than 12 h: undeliverable.
        report = await r.tick(T + 24 * HOUR + 1)
        assert (report.sending.sent, report.sending.undeliverable) == (1, 1)
        second = r.delivery("burst/1/second")
        assert (second.state, second.sent_at) == ("sent", T + 24 * HOUR + 1)
        assert r.state("burst/1/third") == ("undeliverable", "message_limit")
        assert (await r.tick(T + 3 * DAY)).sending.handled == 0
    assert [subject for _, _, subject in r.received()] == ["First", "Second"]


async def test_message_limit_counts_sends_planned_in_the_same_pass(tmp_path: Path) -> None:
    # Two messages due at once for one person, limit 1: only one goes in that tick.
    campaign = LIMITED.replace("  - id: pause\n    delay: 1h\n", "")
    async with rig(tmp_path, campaign, message_limit=1) as r:
        r.sign_up(T, "ana", email="ana@example.com")
        report = await r.tick(T)
        assert (report.sending.sent, report.sending.limited) == (1, 2)
        assert r.state("burst/1/second")[0] == "limited"
        assert r.delivery("burst/1/second").next_attempt_at == T + 24 * HOUR + 1
    assert r.sink.stored == 1


# -- the lease ----------------------------------------------------------------------------------


async def test_only_the_lease_holder_sends_and_a_dead_holder_is_taken_over(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path) as r:
        r.sign_up(T, "ana", email="ana@example.com")
        r.sign_up(T, "bo", email="bo@example.com")
        other = Scheduler(r.ws, r.outbox, r.clock, holder="console", lease_ms=15_000)
        r.clock.at_ms = T
        assert (await other.tick()).holder  # the console took the lease and sent
        assert r.sink.stored == 2
        r.sign_up(T + 5 * SECOND, "cy", email="cy@example.com")
        r.clock.at_ms = T + 10 * SECOND
        report = await r.scheduler.tick()
        assert not report.holder and report.sending.handled == 0
        # The console stops renewing; 15 s after its last renewal the lease is free.
        r.clock.at_ms = T + 15 * SECOND + 1
        assert (await r.scheduler.tick()).holder
        keys = [key for key, _, _ in r.received()]
        # The console's two went out concurrently (either order); cy's came from us later.
        assert sorted(keys[:2]) == ["onboard/1/hello", "onboard/2/hello"]
        assert keys[2:] == ["onboard/3/hello"]


async def test_a_row_left_in_sending_is_resent_with_the_same_message_id(tmp_path: Path) -> None:
    """What a restart after `kill -9` between SMTP's 250 and the `sent` commit finds."""
    async with rig(tmp_path) as r:
        r.sign_up(T, "ana", email="ana@example.com")
        await r.tick(T)
        d = r.delivery("onboard/1/hello")
        with r.ws.store.transaction():
            d.state, d.sent_at = "sending", None
            r.ws.store.deliveries.save(d)
        # A new process (a new outbox knows nothing in flight) resends it.
        outbox = Outbox(r.ws.store, r.ws.engine, r.ws.settings, r.outbox.mailer)
        report = await outbox.send_due(T + SECOND)
        assert (report.sent, report.resent_after_crash) == (1, 1)
        d = r.delivery("onboard/1/hello")
        assert (d.state, d.attempts, d.sent_at) == ("sent", 2, T + SECOND)
        ids = [str(m["Message-ID"]) for m in r.messages()]
        workspace = r.ws.store.kv.get("workspace_id")
        assert ids == [message_id_for(f"{workspace}/onboard/1/hello", "example.com")] * 2
        assert [(at, detail["attempt"]) for at, detail in r.activity("message.resending")] == [
            (T + SECOND, 2)
        ]


async def test_a_failing_tick_is_reported_and_the_scheduler_goes_on(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        scheduler = Scheduler(r.ws, r.outbox, r.ws.clock)
        calls = 0
        real_tick = scheduler.tick

        async def flaky_tick(now: int | None = None) -> TickReport:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise sqlite3.OperationalError("database is locked")
            stop.set()
            return await real_tick(now)

        scheduler.tick = flaky_tick  # type: ignore[method-assign]
        stop = asyncio.Event()
        reports: list[TickReport] = []
        await scheduler.run(stop, 0.0, reports.append)
        assert calls == 2
        assert reports[0].errors == ["OperationalError: database is locked"]
        assert reports[1].holder and reports[1].errors == []
