"""The local SMTP sink: storage, scripted refusals, restarts, thread mode."""

from __future__ import annotations

import random
import smtplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.delivery import Sink, SinkError, SmtpMailer
from tests.delivery.conftest import build_message, maildir_files, settings_for, stored_messages

SENDER = "nudge@example.com"


async def send_many(sink: Sink, count: int) -> list[str]:
    async with SmtpMailer(settings_for(sink, pool_size=1)) as mailer:
        return [
            (await mailer.send(build_message(n), SENDER, ["ana@example.com"])).status
            for n in range(count)
        ]


@pytest.mark.parametrize(("seed", "rate"), [(7, 0.2), (42, 0.5), (2024, 0.05)])
async def test_fail_rate_with_a_seed_refuses_exactly_the_drawn_messages(
    tmp_path: Path, seed: int, rate: float
) -> None:
    draws = random.Random(seed)
    refused = [draws.random() < rate for _ in range(100)]

    async with Sink(tmp_path / "md", fail_rate=rate, seed=seed) as sink:
        statuses = await send_many(sink, 100)

    assert statuses == ["retry" if r else "sent" for r in refused]
    assert sink.refused == sum(refused)
    assert sink.stored == 100 - sum(refused)
    assert len(maildir_files(sink)) == 100 - sum(refused)
    assert stored_messages(sink) == [build_message(n) for n in range(100) if not refused[n]]


async def test_fail_first_refuses_then_recovers(tmp_path: Path) -> None:
    async with Sink(tmp_path / "md", fail_first=3) as sink:
        assert await send_many(sink, 5) == ["retry"] * 3 + ["sent"] * 2


async def test_set_failing_refuses_everything_until_switched_off(tmp_path: Path) -> None:
    async with Sink(tmp_path / "md") as sink:
        sink.set_failing(True)
        assert await send_many(sink, 4) == ["retry"] * 4
        sink.set_failing(False)
        assert await send_many(sink, 2) == ["sent"] * 2
        assert (sink.refused, sink.stored) == (4, 2)


async def test_a_restarted_sink_keeps_its_port_and_its_maildir(tmp_path: Path) -> None:
    sink = Sink(tmp_path / "md")
    await sink.start()
    port = sink.port
    assert port != 0
    assert await send_many(sink, 1) == ["sent"]
    await sink.stop()
    await sink.stop()  # idempotent
    await sink.start()
    assert sink.port == port
    assert await send_many(sink, 1) == ["sent"]
    await sink.stop()
    assert len(maildir_files(sink)) == 2


async def test_an_existing_empty_folder_becomes_a_maildir(tmp_path: Path) -> None:
    (tmp_path / "md").mkdir()
    async with Sink(tmp_path / "md") as sink:
        assert await send_many(sink, 1) == ["sent"]
    assert {p.name for p in (tmp_path / "md").iterdir()} == {"cur", "new", "tmp"}


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


async def test_a_taken_port_is_one_clear_error(tmp_path: Path, taken_port: int) -> None:
    with pytest.raises(SinkError) as caught:
        await Sink(tmp_path / "md", port=taken_port).start()
    expected = f"cannot listen on 127.0.0.1:{taken_port}: address already in use"
    assert caught.value.message == expected


async def test_an_impossible_maildir_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SinkError, match="cannot create Maildir"):
        await Sink(tmp_path / "file" / "md").start()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fail_rate"):
        Sink(tmp_path, fail_rate=1.5)
    with pytest.raises(ValueError, match="tls_context"):
        Sink(tmp_path, security="starttls")


def test_in_a_thread_of_its_own_for_synchronous_code(tmp_path: Path) -> None:
    message = build_message(1)
    with Sink(tmp_path / "md", reject_recipients=["gone@example.com"]) as sink:
        with smtplib.SMTP(sink.host, sink.port) as client:
            client.sendmail(SENDER, ["ana@example.com"], message)
            with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
                client.sendmail(SENDER, ["gone@example.com"], message)
        assert caught.value.recipients == {"gone@example.com": (550, b"5.1.1 no such user")}
    assert stored_messages(sink) == [message]
    assert (sink.stored, sink.rejected) == (1, 1)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((sink.host, sink.port), timeout=5).close()


def test_thread_mode_reports_a_taken_port(tmp_path: Path, taken_port: int) -> None:
    with pytest.raises(SinkError, match="address already in use"), Sink(tmp_path, port=taken_port):
        pass
