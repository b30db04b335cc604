"""The outbox: from a queued delivery to an email handed to SMTP, exactly once.

Invariant 3 of DESIGN.md. Each delivery moves through its states one transaction and
one activity row at a time:

    queued -> sending -> sent | queued (retry, backoff) | undeliverable | bounced
    queued -> suppressed | failed | limited (-> queued when the window frees up)

`sending` is written and committed *before* the message is handed to SMTP, with the
Message-ID derived from the delivery key, one delivery at a time: a row is marked right
before its own send and settled (its own transaction) right after, so at any instant at
most `concurrency` rows are in `sending`. A process that dies after SMTP accepted but
before `sent` was written leaves the row in `sending`: the next sender resends it with
the same Message-ID (the one ambiguous case, at most `concurrency` messages), and says
so in the activity log.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from app.config import Settings
from app.core.errors import NudgeError
from app.core.message import build_message, message_id_for, parse_address, resolve_addresses
from app.core.models import Delivery, Journey, Person
from app.core.render import History, RenderContext, Renderer
from app.core.times import HOUR_MS, SECOND_MS
from app.core.unsubscribe import make_token, unsubscribe_url
from app.delivery.mailer import Mailer, SendOutcome
from app.service.engine import Engine
from app.store import Store


@dataclass(slots=True)
class SendReport:
    """What one pass over the outbox did, by outcome."""

    sent: int = 0
    retried: int = 0
    bounced: int = 0
    undeliverable: int = 0
    suppressed: int = 0
    limited: int = 0
    failed: int = 0
    resent_after_crash: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Deliveries that changed state."""
        return (
            self.sent
            + self.retried
            + self.bounced
            + self.undeliverable
            + self.suppressed
            + self.limited
            + self.failed
        )


@dataclass(slots=True)
class _Ready:
    """A delivery checked and rendered, with what goes over the wire. `was` is the (state,
    attempts) it was read with: it is marked `sending` only if it still has them."""

    delivery: Delivery
    message: bytes
    sender: str
    recipients: list[str]
    was: tuple[str, int] = ("queued", 0)
    resend: bool = False


#: `parse_address` for From addresses, which repeat (one per campaign or setting).
_parse_from = lru_cache(maxsize=256)(parse_address)
#: `parse_address` for To addresses: each person's recurs with each of their messages
#: (the email package's parser costs about 0.1 ms a go). Sized to hold a workspace's
#: recent recipients (about 50 MB full); `Address` is immutable and a refused value
#: raises, so is never cached.
_parse_to = lru_cache(maxsize=1 << 17)(parse_address)


class _NoAddress(NudgeError):
    """Neither the person nor the trigger event gives an address to send to."""


class Outbox:
    """Sends due deliveries through a mailer.

    Args:
        store: the database.
        engine: for the exit-policy check right before a send, and the live campaign
            versions (whose templates are rendered).
        settings: limits, retries, addresses, public URL.
        mailer: where messages go (SMTP, or a recording mailer).
    """

    def __init__(self, store: Store, engine: Engine, settings: Settings, mailer: Mailer) -> None:
        self.store = store
        self.engine = engine
        # Templates compile once per campaign version (PERFORMANCE.md: 60x otherwise).
        self._renderers: dict[str, tuple[str, Renderer]] = {}
        self.settings = settings
        self.mailer = mailer
        self.workspace_id = store.kv.get("workspace_id") or ""
        self.secret = self._secret()
        # Deliveries this process put in `sending` and has not finished: any other row
        # in `sending` was left by a sender that stopped mid-way.
        self._in_flight: set[int] = set()
        #: Whether the message is flattened to its wire bytes for the mailer. The
        #: simulator, whose recording mailer keeps nothing, turns it off: the message
        #: is still built (so an invalid header fails the delivery as it would live)
        #: and the mailer is handed empty bytes.
        self.flatten = True

    def _secret(self) -> bytes:
        if self.settings.secret_key:
            return self.settings.secret_key.encode()
        with self.store.transaction():
            return self.store.kv.set_default("unsubscribe_secret", secrets.token_hex(32)).encode()

    async def send_due(
        self,
        now: int,
        limit: int = 500,
        concurrency: int = 4,
        only: int | None = None,
        to_override: str | None = None,
        keep_sending: Callable[[], bool] | None = None,
        resend_stale: bool = True,
    ) -> SendReport:
        """Prepare, send and settle up to `limit` due deliveries at `now` (ms UTC), at
        most `concurrency` on the wire at once.

        Args:
            only: send just this delivery (a test send), whatever its due time.
            to_override: its recipient instead of the person's address.
            keep_sending: asked (inside the transaction that marks each delivery
                `sending`) whether this process may still send, e.g. whether it still
                holds the scheduler lease (renewing it); once it says no, nothing more
                is sent in this pass and the rest stays as it was.
            resend_stale: also resend rows another sender left in `sending` (the
                scheduler allows it once it has held the lease for a lease period).
        """
        report = SendReport()
        # Sends planned in this pass per person: the message limit counts them too.
        planned: dict[int, list[int]] = {}
        if only is not None:
            delivery = self.store.deliveries.get(only)
            work = [(delivery, False)] if delivery is not None else []
            return await self._pipeline(work, now, 1, report, None, planned, to_override)
        with self.store.transaction():
            # Left in `sending` by a sender that died: SMTP may or may not have taken
            # them. They are resent with the same Message-ID, and the log says so.
            stale = [
                (d, True)
                for d in (self.store.deliveries.in_state("sending", limit) if resend_stale else [])
                if d.id not in self._in_flight
            ]
            due = [(d, False) for d in self.store.deliveries.due(now, limit)]
        return await self._pipeline(stale + due, now, concurrency, report, keep_sending, planned)

    async def _pipeline(
        self,
        work: list[tuple[Delivery, bool]],
        now: int,
        concurrency: int,
        report: SendReport,
        keep_sending: Callable[[], bool] | None,
        planned: dict[int, list[int]],
        to_override: str | None = None,
    ) -> SendReport:
        """Prepare, mark, send and settle each delivery, `concurrency` at a time.

        Each one is prepared just before its own send, so building the next message
        overlaps the mail server's work on the previous ones (building a message costs
        about as much as the server's side of sending it).
        """
        if not work:
            return report
        gate = asyncio.Semaphore(max(1, concurrency))
        stopped = False

        async def one(delivery: Delivery, resend: bool) -> None:
            nonlocal stopped
            async with gate:
                if stopped:
                    return
                with self.store.transaction():
                    if keep_sending is not None and not keep_sending():
                        stopped = True
                        report.errors.append("lost the scheduler lease; stopped sending")
                        return
                    item = self._prepare(delivery, now, report, resend, planned, to_override)
                    if item is None or not self._mark_sending(item, now, report):
                        return
                try:
                    outcome = await self.mailer.send(item.message, item.sender, item.recipients)
                except Exception as exc:  # a mailer bug: retried later, the pass goes on
                    outcome = SendOutcome("retry", None, f"{type(exc).__name__}: {exc}")
                    report.errors.append(f"delivery {item.delivery.id}: {outcome.response}")
                with self.store.transaction():
                    self._settle(item.delivery, outcome, now, report)
                    # Renew on every answer too, so that slow answers alone never let
                    # the lease lapse while messages are on the wire.
                    if keep_sending is not None and not stopped and not keep_sending():
                        stopped = True
                        report.errors.append("lost the scheduler lease; stopped sending")

        if concurrency <= 1:
            # One at a time: no tasks, no gate (the same order as the gathered tasks,
            # which start in order; a mailer that never waits runs them one by one).
            for delivery, resend in work:
                await one(delivery, resend)
        else:
            await asyncio.gather(*(one(delivery, resend) for delivery, resend in work))
        return report

    def _mark_sending(self, item: _Ready, now: int, report: SendReport) -> bool:
        """Mark one delivery `sending` (committed before SMTP sees it), unless it changed
        since it was read (an operator's retry, another sender): then it is left alone."""
        delivery = item.delivery
        if self.store.deliveries.state_of(delivery.id) != item.was:
            return False
        delivery.state = "sending"
        delivery.attempts += 1
        self.store.deliveries.save(delivery)
        kind = "message.resending" if item.resend else "message.sending"
        self._log(
            now, delivery, kind, {"attempt": delivery.attempts, "message_id": delivery.message_id}
        )
        if item.resend:
            report.resent_after_crash += 1
        self._in_flight.add(delivery.id)
        return True

    # -- before sending ---------------------------------------------------------------------

    def _prepare(
        self,
        delivery: Delivery,
        now: int,
        report: SendReport,
        resend: bool,
        planned: dict[int, list[int]],
        to_override: str | None = None,
    ) -> _Ready | None:
        """Check, render and build. None when it is not to be sent now (its new state is
        written); otherwise `_mark_sending` marks it right before its send."""
        person = self.store.people.get(delivery.person_id)
        # Read once: the checks and the message both need it, and neither writes it.
        journey = (
            self.store.journeys.get(delivery.journey_id)
            if delivery.journey_id is not None
            else None
        )
        reason = self._blocked(delivery, person, journey, now)
        if reason is not None:
            self._set(delivery, "suppressed", now, reason, "message.suppressed")
            report.suppressed += 1
            return None
        assert person is not None
        if (
            not delivery.test
            and not resend
            and self._over_limit(delivery, person, now, report, planned.get(person.id, []))
        ):
            return None
        was = (delivery.state, delivery.attempts)
        try:
            item = self._compose(delivery, person, journey, now, to_override)
        except _NoAddress:
            self._set(delivery, "suppressed", now, "no_email", "message.suppressed")
            report.suppressed += 1
            return None
        except NudgeError as exc:
            self._set(delivery, "failed", now, exc.message, "message.failed")
            report.failed += 1
            return None
        item.was, item.resend = was, resend
        if not delivery.test:
            planned.setdefault(person.id, []).append(now)
        return item

    def _blocked(
        self, delivery: Delivery, person: Person | None, journey: Journey | None, now: int
    ) -> str | None:
        """Why this delivery must not go out, or None (`journey`: the delivery's, if any)."""
        if person is None:
            return "person_deleted"
        if delivery.test:
            return None
        if person.unsubscribed:
            return "unsubscribed"
        if person.suppressed:
            return "suppressed"
        if journey is not None and journey.state == "exited":
            return f"journey_exited:{journey.exit_reason}"
        if journey is not None and not self.engine.still_eligible(journey, now):
            return "trigger_not_matched"
        return None

    def _over_limit(
        self, delivery: Delivery, person: Person, now: int, report: SendReport, planned: list[int]
    ) -> bool:
        limit = self.settings.message_limit
        if limit <= 0:
            return False
        window = self.settings.message_limit_window_hours * HOUR_MS
        sent = sorted(self.store.deliveries.sent_since(person.id, now - window) + planned)
        if len(sent) < limit:
            return False
        if now >= delivery.created_at + self.settings.limited_give_up_hours * HOUR_MS:
            self._set(delivery, "undeliverable", now, "message_limit", "message.undeliverable")
            report.undeliverable += 1
            return True
        # Free again once the oldest send in the window leaves it.
        delivery.next_attempt_at = sent[len(sent) - limit] + window + 1
        self._set(delivery, "limited", now, f"message_limit:{limit}", "message.limited")
        report.limited += 1
        return True

    def _compose(
        self,
        delivery: Delivery,
        person: Person,
        journey: Journey | None,
        now: int,
        to_override: str | None = None,
    ) -> _Ready:
        event = journey.trigger_event.get("properties", {}) if journey is not None else {}
        version = self.engine.versions.get(delivery.campaign_id)
        if version is None:
            raise NudgeError(f"campaign {delivery.campaign_id} is not loaded")
        cached = self._renderers.get(version.id)
        if cached is None or cached[0] != version.hash:
            cached = (version.hash, Renderer(version.templates))
            self._renderers[version.id] = cached
        renderer = cached[1]
        # A test goes only to the address it was created with (`send_test` stores it), on
        # a retry too; never to the person's own address instead.
        test_to = delivery.to_address if delivery.test else None
        addresses = resolve_addresses(
            to_override or test_to or person.email,
            delivery.from_address,
            delivery.reply_to,
            self.settings.smtp.from_address,
            event if isinstance(event, dict) else {},
        )
        if not addresses.to:
            raise _NoAddress("no email address")
        token = make_token(delivery.id, self.secret)
        url = unsubscribe_url(self.settings.public_url, token)
        context = RenderContext(
            person={**person.attributes, "id": person.external_id, "email": person.email},
            event=event if isinstance(event, dict) else {},
            campaign={"id": version.id, "name": version.campaign.name},
            unsubscribe_url=url,
            history=History(lambda name: self.store.events.facts(person.id, [name]), now),
        )
        rendered = renderer.render(delivery.template, delivery.subject, context)
        # Each address is parsed once and the parsed one reused for the message and the
        # envelope (the email package's parser costs about 0.1 ms a go); the From, one
        # for a whole campaign, is parsed once per process.
        sender = _parse_from(addresses.from_)
        recipient = _parse_to(addresses.to)
        domain = sender.domain or "nudge.local"
        # RFC 5322: globally unique. The key is unique in this database; the database's
        # own id makes it unique across databases too.
        delivery.message_id = delivery.message_id or message_id_for(
            f"{self.workspace_id}/{delivery.key}", domain
        )
        message = build_message(
            from_address=sender,
            to_address=recipient,
            reply_to=addresses.reply_to,
            subject=rendered.subject,
            html=rendered.html,
            text=rendered.text,
            message_id=delivery.message_id,
            date_ms=now,
            unsubscribe_url=url,
            unsubscribe_mailto=self.settings.unsubscribe_mailto,
            delivery_key=delivery.key,
        )
        delivery.to_address = addresses.to
        delivery.from_address = addresses.from_
        delivery.reply_to = addresses.reply_to
        delivery.rendered_subject, delivery.rendered_text = rendered.subject, rendered.text
        delivery.rendered_html = rendered.html
        # The envelope (`sender_and_recipients`) of the already parsed addresses.
        wire = message.as_bytes() if self.flatten else b""
        return _Ready(delivery, wire, sender.addr_spec, [recipient.addr_spec])

    # -- after sending ----------------------------------------------------------------------

    def _settle(
        self, delivery: Delivery, outcome: SendOutcome, now: int, report: SendReport
    ) -> None:
        self._in_flight.discard(delivery.id)
        delivery.smtp_response = f"{outcome.code or ''} {outcome.response}".strip()
        if outcome.status == "sent":
            delivery.state, delivery.sent_at, delivery.reason = "sent", now, None
            self.store.deliveries.save(delivery)
            self._log(now, delivery, "message.sent", {"message_id": delivery.message_id})
            report.sent += 1
        elif outcome.status == "bounced":
            self._set(delivery, "bounced", now, delivery.smtp_response, "message.bounced")
            if not delivery.test:
                # The address is bouncing: later campaign sends to it are suppressed. (A
                # test went to a test address: its bounce says nothing of the person's.)
                self.store.people.set_flags(delivery.person_id, suppressed=True)
            report.bounced += 1
        elif delivery.attempts >= self.settings.max_attempts:
            self._set(
                delivery, "undeliverable", now, delivery.smtp_response, "message.undeliverable"
            )
            report.undeliverable += 1
        else:
            backoff = int(
                self.settings.retry_base_seconds * SECOND_MS * 2 ** (delivery.attempts - 1)
            )
            delivery.next_attempt_at = now + backoff
            self._set(
                delivery,
                "queued",
                now,
                delivery.smtp_response,
                "message.retry",
                {"attempt": delivery.attempts, "next_attempt_at": delivery.next_attempt_at},
            )
            report.retried += 1

    def _set(
        self,
        delivery: Delivery,
        state: str,
        now: int,
        reason: str | None,
        kind: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        delivery.state, delivery.reason = state, reason
        self.store.deliveries.save(delivery)
        self._log(now, delivery, kind, {"reason": reason, **(extra or {})})

    def _log(self, now: int, delivery: Delivery, kind: str, detail: dict[str, Any]) -> None:
        self.store.activity.record(
            [
                (
                    now,
                    delivery.person_id,
                    kind,
                    delivery.campaign_id,
                    delivery.step_id,
                    {"delivery": delivery.key, "journey": delivery.journey_id, **detail},
                )
            ]
        )

    # -- unsubscribe --------------------------------------------------------------------------

    def unsubscribe(self, token: str, now: int) -> Delivery:
        """Unsubscribe the person a delivery went to (idempotent), recording the delivery.

        Raises:
            NotFound: for a token that is malformed, forged or names no delivery.
        """
        from app.core.errors import NotFound
        from app.core.unsubscribe import verify_token

        delivery_id = verify_token(token, self.secret)
        delivery = self.store.deliveries.get(delivery_id) if delivery_id is not None else None
        if delivery is None:
            raise NotFound("unknown unsubscribe link")
        with self.store.transaction():
            person = self.store.people.get(delivery.person_id)
            if person is not None and not person.unsubscribed:
                self.store.people.set_flags(person.id, unsubscribed=True)
                self._log(now, delivery, "person.unsubscribed", {})
        return delivery
