"""SmtpMailer against a real SMTP server: the sink on 127.0.0.1, on the test's own loop."""

from __future__ import annotations

import asyncio
import email
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from email.policy import default
from pathlib import Path

import pytest

from app.core.errors import ConfigError
from app.delivery import SendOutcome, Sink, SmtpMailer
from tests.delivery.conftest import (
    FakeTime,
    build_message,
    maildir_files,
    settings_for,
    settle,
    stored_messages,
)

SENDER = "nudge@example.com"


async def send(mailer: SmtpMailer, n: int, to: str = "ana@example.com") -> SendOutcome:
    return await mailer.send(build_message(n, to=to), SENDER, [to])


async def test_messages_arrive_byte_identical_with_every_header(
    sink: Sink, mailer: SmtpMailer
) -> None:
    messages = [build_message(n, to=f"p{n}@example.com", filler=3000) for n in range(5)]
    for n, message in enumerate(messages):
        outcome = await mailer.send(message, SENDER, [f"p{n}@example.com"])
        assert (outcome.status, outcome.code) == ("sent", 250)
        assert "queued as" in outcome.response

    assert stored_messages(sink) == messages
    assert len(maildir_files(sink)) == 5
    parsed = email.message_from_bytes(stored_messages(sink)[3], policy=default)
    assert parsed["Subject"] == "Grüße #3, ça va ?"
    assert parsed["Message-ID"] == "<welcome.3.hello@nudge.example.com>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = parsed.get_body(("plain",))
    assert text is not None
    assert ".a line that starts with a dot\r\n..and two\r\n" in text.get_content()


async def test_lone_line_feeds_go_out_as_crlf(sink: Sink, mailer: SmtpMailer) -> None:
    outcome = await mailer.send(b"Subject: lf\n\nline one\nline two\n", SENDER, ["a@example.com"])
    assert outcome.status == "sent"
    assert stored_messages(sink) == [b"Subject: lf\r\n\r\nline one\r\nline two\r\n"]


async def test_a_4xx_answer_is_retry_and_the_connection_stays(
    sink: Sink, mailer: SmtpMailer
) -> None:
    sink.set_failing(True)
    assert await send(mailer, 1) == SendOutcome("retry", 451, "4.3.0 try again later")
    assert stored_messages(sink) == []
    sink.set_failing(False)
    assert (await send(mailer, 2)).status == "sent"
    assert sink.connections == 1


async def test_a_550_for_the_recipient_is_bounced(tmp_path: Path) -> None:
    async with (
        Sink(tmp_path / "md", reject_recipients=["Gone@Example.com"]) as sink,
        SmtpMailer(settings_for(sink)) as mailer,
    ):
        outcome = await send(mailer, 1, to="gone@example.com")
        assert outcome == SendOutcome("bounced", 550, "5.1.1 no such user")
        # The envelope was reset: the same connection carries the next message.
        assert (await send(mailer, 2)).status == "sent"
        assert (sink.rejected, sink.stored, sink.connections) == (1, 1, 1)


async def test_partial_acceptance_is_sent_and_names_the_refusals(tmp_path: Path) -> None:
    async with (
        Sink(tmp_path / "md", reject_recipients=["gone@example.com"]) as sink,
        SmtpMailer(settings_for(sink)) as mailer,
    ):
        message = build_message(1)
        outcome = await mailer.send(message, SENDER, ["ana@example.com", "gone@example.com"])
        assert outcome.status == "sent"
        assert "refused: gone@example.com 550 5.1.1 no such user" in outcome.response


async def test_a_stopped_sink_means_retry_and_the_pool_recovers(
    sink: Sink, mailer: SmtpMailer
) -> None:
    assert (await send(mailer, 1)).status == "sent"
    await sink.stop()

    # The pooled connection is gone (dropped or refused): retry, never bounced.
    first = await send(mailer, 2)
    assert (first.status, first.code) == ("retry", None)
    refused = await send(mailer, 3)
    assert (refused.status, refused.code) == ("retry", None)
    assert "SMTPConnectError" in refused.response
    assert "Error connecting" in refused.response

    await sink.start()  # the same port again
    assert (await send(mailer, 4)).status == "sent"
    assert [m == build_message(n) for n, m in zip((1, 4), stored_messages(sink), strict=True)]
    assert sink.stored == 2


async def test_a_connection_the_server_dropped_is_replaced_without_costing_a_retry(
    sink: Sink,
) -> None:
    time = FakeTime()
    async with SmtpMailer(
        settings_for(sink), idle_check_seconds=30.0, clock=time.clock, sleep=time.sleep
    ) as mailer:
        assert (await send(mailer, 1)).status == "sent"
        await sink.stop()
        await sink.start()
        time.now += 60.0  # idle long enough for a NOOP before reuse
        assert (await send(mailer, 2)).status == "sent"
        assert mailer.connections_opened == 2
    assert sink.stored == 2


async def test_a_pool_of_four_opens_four_connections_and_reuses_them(
    sink: Sink, mailer: SmtpMailer
) -> None:
    outcomes = await asyncio.gather(*(send(mailer, n) for n in range(40)))
    assert {o.status for o in outcomes} == {"sent"}
    assert (sink.connections, mailer.connections_opened) == (4, 4)

    outcomes = await asyncio.gather(*(send(mailer, n) for n in range(40, 60)))
    assert {o.status for o in outcomes} == {"sent"}
    assert sink.connections == 4
    assert sink.stored == 60
    assert sorted(stored_messages(sink)) == sorted(build_message(n) for n in range(60))


async def test_sequential_sends_share_one_connection(sink: Sink, mailer: SmtpMailer) -> None:
    for n in range(10):
        assert (await send(mailer, n)).status == "sent"
    assert sink.connections == 1


async def test_the_rate_limit_spans_the_pool(sink: Sink) -> None:
    time = FakeTime()
    settings = settings_for(sink, rate_per_second=20.0, pool_size=4)
    async with SmtpMailer(settings, burst=4.0, clock=time.clock, sleep=time.sleep) as mailer:
        for n in range(30):
            assert (await send(mailer, n)).status == "sent"
    assert sum(time.sleeps) == pytest.approx((30 - 4) / 20.0)
    assert sink.stored == 30


async def test_close_quits_every_connection_and_ends_the_mailer(
    sink: Sink, mailer: SmtpMailer
) -> None:
    await asyncio.gather(*(send(mailer, n) for n in range(8)))
    assert sink.open_connections == 4
    await mailer.close()
    await mailer.close()  # idempotent
    await settle(lambda: sink.open_connections == 0)
    assert sink.open_connections == 0
    with pytest.raises(RuntimeError, match="after close"):
        await send(mailer, 9)


async def test_close_waits_for_a_send_in_flight(sink: Sink, mailer: SmtpMailer) -> None:
    in_flight = asyncio.create_task(send(mailer, 1))
    await asyncio.sleep(0)
    await mailer.close()
    assert in_flight.done()
    assert in_flight.result().status == "sent"


async def test_sends_still_waiting_for_the_rate_limit_at_close_are_retries(sink: Sink) -> None:
    time = FakeTime()
    gate = asyncio.Event()

    async def held_sleep(seconds: float) -> None:
        await gate.wait()  # the rate limit holds these sends until the mailer is closing

    settings = settings_for(sink, rate_per_second=1.0, pool_size=1)
    mailer = SmtpMailer(settings, clock=time.clock, sleep=held_sleep)
    sends = [asyncio.create_task(send(mailer, n)) for n in range(3)]
    await settle(lambda: sink.stored == 1)
    closing = asyncio.create_task(mailer.close())
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(*sends)
    await closing

    assert outcomes[0].status == "sent"
    assert [o.response for o in outcomes[1:]] == ["mailer closed before sending"] * 2
    assert {o.status for o in outcomes[1:]} == {"retry"}
    assert sink.stored == 1


async def test_a_cancelled_send_drops_its_connection(
    sink: Sink, mailer: SmtpMailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await send(mailer, 1)).status == "sent"  # one warm pooled connection
    entered = asyncio.Event()

    async def stuck(*args: object) -> tuple[SendOutcome, bool]:
        entered.set()
        await asyncio.Future()  # mid-transaction, forever
        raise AssertionError("unreachable")

    monkeypatch.setattr(mailer, "_transact", stuck)
    task = asyncio.create_task(send(mailer, 2))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    monkeypatch.undo()

    # A connection left mid-transaction is in an unknown state: closed, not pooled.
    await settle(lambda: sink.open_connections == 0)
    assert sink.open_connections == 0
    assert (await send(mailer, 3)).status == "sent"
    assert sink.connections == 2


async def test_addresses_that_cannot_be_sent_to(sink: Sink, mailer: SmtpMailer) -> None:
    for bad in ("", "no-at-sign", "a b@example.com", "x@example.com>\r\nRCPT TO:<y@example.com"):
        outcome = await mailer.send(build_message(1), SENDER, [bad])
        assert (outcome.status, outcome.code) == ("bounced", None)
        assert "invalid recipient address" in outcome.response
    assert sink.connections == 0  # decided before touching the network

    with pytest.raises(ValueError, match="invalid sender"):
        await mailer.send(build_message(1), "nudge@example.com\r\nDATA", ["a@example.com"])
    with pytest.raises(ValueError, match="recipient"):
        await mailer.send(build_message(1), SENDER, [])
    with pytest.raises(TypeError, match="bytes"):
        await mailer.send("text", SENDER, ["a@example.com"])  # type: ignore[arg-type]


async def test_a_non_ascii_address_asks_for_smtputf8(sink: Sink, mailer: SmtpMailer) -> None:
    outcome = await send(mailer, 1, to="zoë@example.com")
    assert outcome.status == "sent"
    assert sink.stored == 1


def test_a_pool_needs_at_least_one_connection() -> None:
    from app.config import SmtpSettings

    with pytest.raises(ConfigError, match="pool_size"):
        SmtpMailer(SmtpSettings(pool_size=0))


# --- servers that misbehave: our side's problems are retries, never bounces --------------


async def serve(
    answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    async def never_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    async for port in serve(never_greet):
        yield port


@pytest.fixture
async def refusing_port() -> AsyncIterator[int]:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"554 5.3.2 not accepting mail\r\n")
        await writer.drain()
        writer.close()

    async for port in serve(refuse):
        yield port


async def test_a_server_that_never_answers_is_a_timeout_retry(silent_port: int) -> None:
    from app.config import SmtpSettings

    settings = SmtpSettings(host="127.0.0.1", port=silent_port, rate_per_second=0)
    async with SmtpMailer(settings, timeout=0.1) as mailer:
        outcome = await send(mailer, 1)
    assert (outcome.status, outcome.code) == ("retry", None)
    assert "Timed out" in outcome.response


async def test_a_refused_greeting_is_retry_even_with_a_5xx(refusing_port: int) -> None:
    from app.config import SmtpSettings

    settings = SmtpSettings(host="127.0.0.1", port=refusing_port, rate_per_second=0)
    async with SmtpMailer(settings) as mailer:
        outcome = await send(mailer, 1)
    assert (outcome.status, outcome.code) == ("retry", 554)


# --- STARTTLS, implicit TLS, AUTH ----------------------------------------------------------


async def test_starttls_with_auth(
    tmp_path: Path, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    async with Sink(
        tmp_path / "md", security="starttls", tls_context=server_tls, credentials=("nudge", "pw")
    ) as sink:
        settings = settings_for(sink, security="starttls", username="nudge", password="pw")
        async with SmtpMailer(settings, tls_context=client_tls) as mailer:
            assert (await send(mailer, 1)).status == "sent"
        # Without STARTTLS the sink refuses to go on (and offers no AUTH in the clear):
        # retries, not bounces.
        async with SmtpMailer(settings_for(sink)) as plain:
            outcome = await send(plain, 2)
        assert (outcome.status, outcome.code) == ("retry", 530)
        async with SmtpMailer(settings_for(sink, username="nudge", password="pw")) as plain:
            outcome = await send(plain, 3)
        assert (outcome.status, outcome.code) == ("retry", None)
        assert "AUTH" in outcome.response
    assert stored_messages(sink) == [build_message(1)]


async def test_implicit_tls(
    tmp_path: Path, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    async with Sink(tmp_path / "md", security="tls", tls_context=server_tls) as sink:
        settings = settings_for(sink, security="tls")
        async with SmtpMailer(settings, tls_context=client_tls) as mailer:
            assert (await send(mailer, 1)).status == "sent"
        # The certificate is checked: an unknown one is a retry, nothing sent.
        async with SmtpMailer(settings) as untrusting:
            outcome = await send(untrusting, 2)
        assert (outcome.status, outcome.code) == ("retry", None)
        assert "CERTIFICATE_VERIFY_FAILED" in outcome.response
    assert stored_messages(sink) == [build_message(1)]


async def test_wrong_credentials_are_retry_never_bounce(tmp_path: Path) -> None:
    async with Sink(tmp_path / "md", credentials=("nudge", "right")) as sink:
        async with SmtpMailer(settings_for(sink, username="nudge", password="wrong")) as mailer:
            outcome = await send(mailer, 1)
        assert (outcome.status, outcome.code) == ("retry", 535)
        async with SmtpMailer(settings_for(sink, username="nudge", password="right")) as mailer:
            assert (await send(mailer, 2)).status == "sent"
        async with SmtpMailer(settings_for(sink)) as anonymous:
            outcome = await send(anonymous, 3)
        # MAIL FROM refused with 530 "authentication required": our problem, a retry.
        assert (outcome.status, outcome.code) == ("retry", 530)
    assert sink.stored == 1
