"""The seam between Nudge and a mail server: one `send`, one `close`, an outcome per message.

Shaped like httpx's transport: the service layer holds a `Mailer` and never learns whether
it talks SMTP (`SmtpMailer`), records for a test or a simulation (`RecordingMailer`), or
something else. Nudge hands over one recipient per message, so an outcome is per recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

SendStatus = Literal["sent", "retry", "bounced"]
"""What became of one message: accepted, try again later, or refused for good."""


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What the mail server made of one message.

    Attributes:
        status: `sent` (2xx: the server took responsibility), `retry` (4xx, a timeout, a
            refused or dropped connection, or a problem on our side of the session such
            as failed AUTH: worth trying again later) or `bounced` (5xx for the
            recipient, or an address that cannot be sent to: permanent).
        code: the SMTP reply code, or None when there was no reply (connection errors,
            timeouts, addresses refused before any command was sent).
        response: the server's reply text, or a one-line description of what went wrong.
    """

    status: SendStatus
    code: int | None
    response: str


def outcome_for_code(code: int, response: str) -> SendOutcome:
    """Classify an SMTP reply to the message itself (MAIL, RCPT or DATA).

    Args:
        code: the three-digit SMTP reply code.
        response: the reply text, kept as is.

    Returns:
        `sent` for 2xx, `bounced` for 5xx, and `retry` for everything else: 4xx, and
        codes a server should never send here (1xx, 3xx, garbage), because retrying
        costs an attempt while a wrong bounce marks a person's address as bad.
    """
    if 200 <= code < 300:
        return SendOutcome("sent", code, response)
    if 500 <= code < 600:
        return SendOutcome("bounced", code, response)
    return SendOutcome("retry", code, response)


class Mailer(Protocol):
    """Anything that hands a built message to a mail server and says what happened.

    Implementations never raise for what a mail server or the network does: that is an
    outcome. They raise only for programming errors (a closed mailer, no recipients,
    a message that is not bytes).
    """

    async def send(self, message: bytes, sender: str, recipients: list[str]) -> SendOutcome:
        """Send one message.

        Args:
            message: the whole message as bytes (headers and body, CRLF line ends).
            sender: the envelope sender (MAIL FROM), a bare address.
            recipients: the envelope recipients (RCPT TO); Nudge passes exactly one.

        Returns:
            The outcome for the message (for its recipient).
        """
        ...

    async def close(self) -> None:
        """Release connections. Idempotent; no `send` may follow."""
        ...
