"""Shared by the delivery tests: a real sink on 127.0.0.1, messages, an injected clock."""

from __future__ import annotations

import asyncio
import functools
import mailbox
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest

from app.config import SmtpSettings
from app.delivery.sink import Sink
from app.delivery.smtp import SmtpMailer


@functools.cache  # building costs about 1 ms; tests ask for the same ones twice
def build_message(n: int, to: str = "ana@example.com", filler: int = 0) -> bytes:
    """A message as Nudge sends them: multipart text + HTML, CRLF, UTF-8 subject.

    The text part starts a line with a dot (SMTP dot-stuffing must round-trip) and
    `filler` adds that many bytes of HTML.
    """
    msg = EmailMessage()
    msg["From"] = "Nudge <nudge@example.com>"
    msg["To"] = to
    msg["Subject"] = f"Grüße #{n}, ça va ?"
    msg["Message-ID"] = f"<welcome.{n}.hello@nudge.example.com>"
    msg["List-Unsubscribe"] = f"<https://nudge.example.com/u/{n}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(f"Hello {n}\n.a line that starts with a dot\n..and two\nbye\n")
    msg.add_alternative(f"<p>Hello {n}</p>" + "<p>" + "x" * filler + "</p>", subtype="html")
    msg.set_boundary(f"=-nudge-boundary-{n}")  # the default one is random
    return msg.as_bytes(policy=SMTP)


def stored_messages(sink: Sink) -> list[bytes]:
    """What the sink stored, in arrival order (read back from the Maildir)."""
    box = mailbox.Maildir(sink.maildir, create=False)
    return [box.get_bytes(key) for key in sink.keys]


def maildir_files(sink: Sink) -> list[Path]:
    """The message files in the Maildir (new/ and cur/)."""
    return [p for sub in ("new", "cur") for p in (sink.maildir / sub).iterdir()]


def settings_for(sink: Sink, **overrides: Any) -> SmtpSettings:
    """Settings that point at `sink`, without a rate limit unless one is given."""
    values: dict[str, Any] = {"host": sink.host, "port": sink.port, "rate_per_second": 0}
    values.update(overrides)
    return SmtpSettings(**values)


async def settle(condition: Any, rounds: int = 200) -> None:
    """Let the loop run until `condition()` holds: closes finish on later iterations."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)


class FakeTime:
    """An injected monotonic clock and sleep: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[Sink]:
    async with Sink(tmp_path / "maildir") as running:
        yield running


@pytest.fixture
async def mailer(sink: Sink) -> AsyncIterator[SmtpMailer]:
    smtp = SmtpMailer(settings_for(sink, pool_size=4))
    yield smtp
    await smtp.close()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def client_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))
