"""The Mailer seam: reply classification and the recording mailer."""

from __future__ import annotations

import pytest

from app.delivery import Mailer, RecordingMailer, SendOutcome, outcome_for_code
from tests.delivery.conftest import build_message


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (250, "sent"),
        (251, "sent"),
        (421, "retry"),
        (450, "retry"),
        (451, "retry"),
        (452, "retry"),
        (550, "bounced"),
        (552, "bounced"),
        (554, "bounced"),
        (354, "retry"),  # never a final answer: not worth a bounce
        (-1, "retry"),
    ],
)
def test_reply_codes_are_classified(code: int, status: str) -> None:
    assert outcome_for_code(code, "text") == SendOutcome(status, code, "text")  # type: ignore[arg-type]


async def test_recording_mailer_keeps_every_message_in_order() -> None:
    mailer: Mailer = (recording := RecordingMailer())
    messages = [build_message(i, to=f"p{i}@example.com") for i in range(3)]
    for i, message in enumerate(messages):
        outcome = await mailer.send(message, "nudge@example.com", [f"p{i}@example.com"])
        assert outcome.status == "sent"
    await mailer.close()

    assert [(r.sender, r.recipients, r.message) for r in recording.records] == [
        ("nudge@example.com", (f"p{i}@example.com",), messages[i]) for i in range(3)
    ]
    assert recording.sent == recording.records
    assert recording.closed


async def test_a_script_function_decides_per_message() -> None:
    def script(n: int, sender: str, recipients: list[str], message: bytes) -> SendOutcome:
        if recipients == ["gone@example.com"]:
            return outcome_for_code(550, "5.1.1 no such user")
        if n == 1:
            return outcome_for_code(451, "4.3.0 try again later")
        return outcome_for_code(250, "OK")

    mailer = RecordingMailer(script)
    statuses = [
        (await mailer.send(b"m", "s@example.com", [to])).status
        for to in ("a@example.com", "b@example.com", "gone@example.com", "b@example.com")
    ]

    assert statuses == ["sent", "retry", "bounced", "sent"]
    assert [r.recipients[0] for r in mailer.sent] == ["a@example.com", "b@example.com"]
    assert len(mailer.records) == 4


async def test_a_script_list_is_consumed_then_everything_is_accepted() -> None:
    mailer = RecordingMailer([outcome_for_code(451, "later"), outcome_for_code(421, "busy")])
    outcomes = [await mailer.send(b"m", "s@example.com", ["a@example.com"]) for _ in range(3)]
    assert [(o.status, o.code) for o in outcomes] == [("retry", 451), ("retry", 421), ("sent", 250)]


async def test_programming_errors_raise() -> None:
    mailer = RecordingMailer()
    with pytest.raises(ValueError, match="recipient"):
        await mailer.send(b"m", "s@example.com", [])
    with pytest.raises(TypeError, match="bytes"):
        await mailer.send("text", "s@example.com", ["a@example.com"])  # type: ignore[arg-type]
    async with mailer:
        pass
    with pytest.raises(RuntimeError, match="after close"):
        await mailer.send(b"m", "s@example.com", ["a@example.com"])
    assert mailer.records == []
