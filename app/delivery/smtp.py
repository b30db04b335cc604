"""`SmtpMailer`: a small pool of reused aiosmtplib connections behind the `Mailer` seam.

Reuse is the point: a new connection per message costs about half the throughput
(PERFORMANCE.md "Mail"). The pool holds at most `pool_size` connections, opens them
only when a send finds none idle, and drops one the moment it misbehaves; the next send
opens a fresh one. A token bucket shared by the whole pool keeps the send rate.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib.email import parse_address

from app.config import SmtpSettings
from app.core.errors import ConfigError
from app.delivery.mailer import SendOutcome, outcome_for_code
from app.delivery.ratelimit import MonotonicClock, RateLimiter, Sleep

# What a network or a server can do to a session; anything else is a bug and propagates.
_SESSION_ERRORS = (aiosmtplib.SMTPException, OSError, TimeoutError)


@dataclass(slots=True, eq=False)
class _Connection:
    smtp: aiosmtplib.SMTP
    last_used: float  # limiter clock, seconds


class SmtpMailer:
    """Sends over SMTP with pooled connections, STARTTLS / TLS / AUTH and a rate limit.

    Outcomes (see `SendOutcome`): 2xx is `sent`; 4xx, timeouts and refused, reset or
    dropped connections are `retry`; a 5xx to RCPT or DATA is `bounced`. Problems that
    are ours rather than the recipient's are `retry` even with a 5xx code, because a
    bounce would wrongly mark the person's address as bad: failed AUTH or STARTTLS, a
    refused greeting, a refused sender (MAIL FROM). They end as undeliverable after the
    configured attempts, and the operator sees the reply in the delivery.

    Args:
        settings: host, port, security (`none`, `starttls`, `tls`), optional AUTH
            credentials, `rate_per_second` (0 or less: no limit) and `pool_size`.
        timeout: seconds allowed for connecting and for each SMTP command.
        burst: messages that may go back to back after an idle spell (see
            `RateLimiter`).
        tls_context: for STARTTLS and TLS; default the system's trust store with
            certificate and host name checks.
        local_hostname: the EHLO name; default this machine's fully qualified name.
        idle_check_seconds: a pooled connection idle this long gets a NOOP before it
            is used, so one the server has silently timed out is replaced instead of
            costing a message a retry.
        clock: monotonic seconds for the rate limit and idle checks (default: the
            event loop's clock).
        sleep: the rate limit's wait (default `asyncio.sleep`).

    Raises:
        ConfigError: when `settings.pool_size` is below 1.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        timeout: float = 30.0,
        burst: float = 1.0,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        idle_check_seconds: float = 30.0,
        clock: MonotonicClock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if settings.pool_size < 1:
            raise ConfigError(f"smtp.pool_size must be at least 1, got {settings.pool_size}")
        self.settings = settings
        self.timeout = timeout
        self.limiter = RateLimiter(settings.rate_per_second, burst, clock=clock, sleep=sleep)
        self.connections_opened = 0
        """How many connections this mailer has opened so far (reuse shows as a low count)."""
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        self._idle_check_seconds = idle_check_seconds
        self._slots = asyncio.Semaphore(settings.pool_size)
        # LIFO: under light load one warm connection does all the work and the others
        # are never opened.
        self._idle: list[_Connection] = []
        self._closed = False

    async def send(self, message: bytes, sender: str, recipients: list[str]) -> SendOutcome:
        """Send one message on a pooled connection, within the rate limit.

        Args:
            message: the whole message, bytes with CRLF line ends; sent as is (lone LF
                become CRLF and leading dots are stuffed, as SMTP requires).
            sender: the envelope sender, a bare address.
            recipients: the envelope recipients; Nudge passes exactly one. If a server
                accepts some and refuses others the outcome is `sent` and the response
                lists the refusals.

        Returns:
            The outcome. A recipient address that cannot go on an SMTP command line
            (empty, whitespace, angle brackets) is `bounced` without touching the
            network. Addresses beyond ASCII ask for SMTPUTF8; a server without it
            bounces them.

        Raises:
            RuntimeError: after `close`.
            TypeError: when `message` is not bytes.
            ValueError: when `recipients` is empty or the sender is not a usable
                address (a bug or a bad setting, not a recipient's problem).
        """
        if self._closed:
            raise RuntimeError("SmtpMailer.send after close")
        if not isinstance(message, bytes):
            raise TypeError(f"message must be bytes, not {type(message).__name__}")
        if not recipients:
            raise ValueError("a message needs at least one recipient")
        _check_address(sender, "sender")
        for recipient in recipients:
            try:
                _check_address(recipient, "recipient")
            except ValueError as exc:
                return SendOutcome("bounced", None, str(exc))
        options = [] if all(a.isascii() for a in (sender, *recipients)) else ["SMTPUTF8"]

        await self.limiter.acquire()
        async with self._slots:
            if self._closed:
                # close() began while this send waited for its turn: nothing went out,
                # so a later attempt is right (a shutdown must not lose the message).
                return SendOutcome("retry", None, "mailer closed before sending")
            try:
                connection = await self._checkout()
            except _SESSION_ERRORS as exc:
                return _failure(exc)
            keep = False
            try:
                outcome, keep = await self._transact(
                    connection, message, sender, recipients, options
                )
            finally:
                # Also reached on cancellation: a connection left mid-transaction has an
                # unknown state, so it is dropped rather than reused.
                self._checkin(connection, keep)
            return outcome

    async def close(self) -> None:
        """Wait for sends in flight, then QUIT every pooled connection. Idempotent.

        A send already on a connection may take up to `timeout` seconds per command to
        finish; its connection is quit with the others afterwards. A send still waiting
        for the rate limit or a free connection gets `retry` ("mailer closed before
        sending"); a `send` called after `close` raises RuntimeError.
        """
        if self._closed:
            return
        self._closed = True
        # Holding every slot means no send is on a connection any more.
        for _ in range(self.settings.pool_size):
            await self._slots.acquire()
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(c.smtp) for c in idle))
        # Let sends that queued behind close() through, to find the mailer closed.
        for _ in range(self.settings.pool_size):
            self._slots.release()

    async def __aenter__(self) -> SmtpMailer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _transact(
        self,
        connection: _Connection,
        message: bytes,
        sender: str,
        recipients: list[str],
        options: list[str],
    ) -> tuple[SendOutcome, bool]:
        """One MAIL/RCPT/DATA transaction. Returns the outcome and whether to keep the
        connection (it is also dropped later if the server hung up)."""
        try:
            refused, reply = await connection.smtp.sendmail(
                sender, recipients, message, mail_options=options
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            return outcome_for_code(first.code, first.message), True
        except aiosmtplib.SMTPSenderRefused as exc:
            # Our envelope sender was refused: no recipient's fault, never a bounce.
            return SendOutcome("retry", exc.code, f"sender refused: {exc.message}"), True
        except aiosmtplib.SMTPResponseException as exc:
            # DATA refused (or a 421 on the way): the server's code decides.
            return outcome_for_code(exc.code, exc.message), True
        except aiosmtplib.SMTPNotSupported as exc:
            # Only raised for SMTPUTF8, which only non-ASCII addresses ask for: this
            # server can never take them.
            return SendOutcome("bounced", None, exc.message), True
        except _SESSION_ERRORS as exc:
            # Dropped connection or read timeout. If the DATA reply was what got lost the
            # message may have arrived; invariant 3 accepts that rare case (the retry
            # carries the same Message-ID).
            return _failure(exc), False
        text = reply
        if refused:
            text += "; refused: " + ", ".join(
                f"{address} {answer.code} {answer.message}" for address, answer in refused.items()
            )
        return SendOutcome("sent", 250, text), True

    async def _checkout(self) -> _Connection:
        """An idle pooled connection that still works, else a new one.

        Raises:
            aiosmtplib.SMTPException, OSError, TimeoutError: when connecting, STARTTLS
                or AUTH fails.
        """
        now = self.limiter.now()
        while self._idle:
            connection = self._idle.pop()
            if not connection.smtp.is_connected:
                connection.smtp.close()
                continue
            if now - connection.last_used >= self._idle_check_seconds:
                try:
                    await connection.smtp.noop()
                except _SESSION_ERRORS:
                    connection.smtp.close()
                    continue
            return connection
        return await self._connect()

    async def _connect(self) -> _Connection:
        s = self.settings
        secure = s.security != "none"
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password if s.username is not None else None,
            local_hostname=self._local_hostname,
            timeout=self.timeout,
            use_tls=s.security == "tls",
            # False, not None, for "none": aiosmtplib would otherwise upgrade whenever
            # the server offers it, and fail on servers with self-signed certificates.
            start_tls=s.security == "starttls",
            tls_context=self._tls_context if secure else None,
        )
        # connect() also runs STARTTLS and AUTH, and closes the socket when they fail.
        await smtp.connect()
        self.connections_opened += 1
        return _Connection(smtp, self.limiter.now())

    def _checkin(self, connection: _Connection, keep: bool) -> None:
        # After close() this still returns the connection to the pool: close() is
        # waiting for this slot and quits whatever is idle.
        if keep and connection.smtp.is_connected:
            connection.last_used = self.limiter.now()
            self._idle.append(connection)
        else:
            connection.smtp.close()


@functools.lru_cache(maxsize=4096)
def _check_address(address: str, role: str) -> None:
    """Raise ValueError when `address` cannot go on a MAIL or RCPT command line.

    Cached: parsing costs about 25 µs, and the sender is the same on every message.
    """
    # parseaddr would quietly pick an address out of a string with a line break in it;
    # such a string is a bug or an injection attempt, never an address.
    if any(c in address for c in "\r\n\0"):
        raise ValueError(f"invalid {role} address {address!r}: control characters")
    try:
        parsed = parse_address(address)
    except ValueError as exc:
        raise ValueError(f"invalid {role} address {address!r}: {exc}") from None
    if not parsed or "@" not in parsed:
        raise ValueError(f"invalid {role} address {address!r}: not a mailbox")


def _failure(exc: BaseException) -> SendOutcome:
    """A `retry` outcome for a session that failed before or instead of a reply."""
    code = exc.code if isinstance(exc, aiosmtplib.SMTPResponseException) else None
    detail = exc.message if isinstance(exc, aiosmtplib.SMTPException) else str(exc)
    return SendOutcome("retry", code, f"{type(exc).__name__}: {detail or 'no detail'}")


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.quit()
    except _SESSION_ERRORS:
        pass
    finally:
        smtp.close()
