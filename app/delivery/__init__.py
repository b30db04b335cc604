"""Delivery adapters: the `Mailer` seam, SMTP over a pooled aiosmtplib client, a recording
mailer for tests and simulation, and a local SMTP sink (aiosmtpd -> Maildir).

The only package that imports aiosmtplib or aiosmtpd (DESIGN.md invariant 6). Those load
on first use of `SmtpMailer`, `Sink` or `run_sink`, so code that needs only the protocol
and the recording mailer (the service layer, the simulator) pays nothing for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from app.delivery.mailer import Mailer, SendOutcome, SendStatus, outcome_for_code
from app.delivery.ratelimit import RateLimiter
from app.delivery.recording import RecordedSend, RecordingMailer

if TYPE_CHECKING:
    from app.delivery.sink import Sink, SinkError, run_sink
    from app.delivery.smtp import SmtpMailer

__all__ = [
    "Mailer",
    "RateLimiter",
    "RecordedSend",
    "RecordingMailer",
    "SendOutcome",
    "SendStatus",
    "Sink",
    "SinkError",
    "SmtpMailer",
    "outcome_for_code",
    "run_sink",
]

_LAZY = {
    "SmtpMailer": "app.delivery.smtp",
    "Sink": "app.delivery.sink",
    "SinkError": "app.delivery.sink",
    "run_sink": "app.delivery.sink",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
