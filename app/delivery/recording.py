"""A `Mailer` that sends nothing: it records, and answers as it is told (tests, simulation)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.delivery.mailer import SendOutcome


@dataclass(frozen=True, slots=True)
class RecordedSend:
    """One call to `RecordingMailer.send`, with the outcome it was given.

    Attributes:
        sender: the envelope sender.
        recipients: the envelope recipients, in the order given.
        message: the message bytes exactly as handed over.
        outcome: what the mailer answered.
    """

    sender: str
    recipients: tuple[str, ...]
    message: bytes
    outcome: SendOutcome


Script = Callable[[int, str, list[str], bytes], SendOutcome]
"""Decides one answer: called with (0-based call number, sender, recipients, message)."""

ACCEPTED = SendOutcome("sent", 250, "OK recorded")
"""The answer when no script says otherwise."""


class RecordingMailer:
    """Records every message in order; answers `sent` unless a script says otherwise.

    Args:
        script: how to answer. A callable gets (call number, sender, recipients,
            message) and returns the outcome, so a test can bounce one address or fail
            the third attempt. An iterable of outcomes is consumed one per call, then
            every later call is accepted. None: accept everything.

    Attributes:
        records: every call, in order, including the ones answered retry or bounced.
        closed: whether `close` has been called.
    """

    def __init__(self, script: Script | Iterable[SendOutcome] | None = None) -> None:
        self.records: list[RecordedSend] = []
        self.closed = False
        self._script: Script | None = None
        self._queue: list[SendOutcome] = []
        if callable(script):
            self._script = script
        elif script is not None:
            # Reversed so that pop() takes the next one in O(1).
            self._queue = list(script)[::-1]

    async def send(self, message: bytes, sender: str, recipients: list[str]) -> SendOutcome:
        """Record the message and return the scripted outcome.

        Raises:
            RuntimeError: after `close`.
            TypeError: when `message` is not bytes.
            ValueError: when `recipients` is empty.
        """
        if self.closed:
            raise RuntimeError("RecordingMailer.send after close")
        if not isinstance(message, bytes):
            raise TypeError(f"message must be bytes, not {type(message).__name__}")
        if not recipients:
            raise ValueError("a message needs at least one recipient")
        if self._script is not None:
            outcome = self._script(len(self.records), sender, list(recipients), message)
        elif self._queue:
            outcome = self._queue.pop()
        else:
            outcome = ACCEPTED
        self.records.append(RecordedSend(sender, tuple(recipients), message, outcome))
        return outcome

    async def close(self) -> None:
        """Mark the mailer closed. Idempotent; the records stay readable."""
        self.closed = True

    @property
    def sent(self) -> list[RecordedSend]:
        """The calls that were answered `sent`: what a mail server would have accepted."""
        return [r for r in self.records if r.outcome.status == "sent"]

    async def __aenter__(self) -> RecordingMailer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
