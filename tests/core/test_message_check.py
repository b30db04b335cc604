"""`check_message` fails exactly when `build_message` does (the simulator sends with the
first, live sends with the second)."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.message import build_message, check_message

GOOD: dict[str, Any] = {
    "subject": "Welcome, Ève",
    "text": "Hello\nthere",
    "html": "<p>Hello</p>",
    "from_address": "Nudge Team <team@example.com>",
    "to_address": "Eve Dupont <eve@example.com>",
    "reply_to": "help@example.com",
    "date_ms": 1_767_225_600_000,
    "delivery_key": "welcome/42/hello",
    "unsubscribe_url": "https://example.com/u/abc",
    "unsubscribe_mailto": "unsub@example.com",
}

CASES: list[dict[str, Any]] = [
    {},
    {"reply_to": None, "unsubscribe_url": None, "unsubscribe_mailto": None},
    {"message_id": "<abc@example.com>"},
    {"message_id": "no angle brackets"},
    {"message_id": ""},
    {"from_address": "not an address"},
    {"to_address": "eve@"},
    {"to_address": "a@example.com, b@example.com"},
    {"reply_to": "help@"},
    {"unsubscribe_url": "javascript:alert(1)"},
    {"unsubscribe_url": "https://example.com/" + "a" * 900},
    {"unsubscribe_mailto": "mailto:not valid"},
    {"message_id_domain": "bad domain"},
    {"subject": "x" * 200, "delivery_key": "k" * 120},
    {"text": "lone \udc80 surrogate"},
    {"html": "<p>\ud800</p>"},
]


def _outcome(build: Any, args: dict[str, Any]) -> tuple[str, str] | None:
    try:
        build(**args)
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return None


@pytest.mark.parametrize("change", CASES)
def test_check_fails_exactly_when_build_does(change: dict[str, Any]) -> None:
    args = {**GOOD, **change}
    assert _outcome(check_message, args) == _outcome(build_message, args)


def test_the_good_message_passes_and_the_bad_ones_fail() -> None:
    # The cases above compare like with like; this keeps them from all passing (or all
    # failing) for the same reason.
    assert _outcome(check_message, GOOD) is None
    assert _outcome(check_message, {**GOOD, "message_id": "nope"}) == (
        "MessageError",
        "invalid Message-ID 'nope'",
    )
    assert _outcome(check_message, {**GOOD, "to_address": "eve@"})[0] == "InvalidAddress"  # type: ignore[index]
