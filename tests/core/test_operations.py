from __future__ import annotations

import pytest

from app.core.errors import InvalidOperation
from app.core.operations import Identity, parse_operation

RECEIVED = 1_700_000_000_000


def test_segment_track() -> None:
    op = parse_operation(
        {
            "type": "track",
            "userId": 42,
            "anonymousId": "a",
            "event": " Bought ",
            "properties": {"sku": "x"},
            "messageId": "m1",
        },
        RECEIVED,
    )
    assert (op.kind, op.who, op.anonymous_id, op.name) == ("track", Identity("42"), "a", "Bought")
    assert (op.properties, op.dedupe_key, op.timestamp) == ({"sku": "x"}, "m1", RECEIVED)


def test_segment_identify_takes_email_from_traits() -> None:
    op = parse_operation({"type": "identify", "traits": {"email": " a@b.co "}}, RECEIVED)
    assert op.who == Identity(None, "a@b.co")


def test_customerio_event_and_merge() -> None:
    op = parse_operation(
        {
            "type": "person",
            "action": "event",
            "identifiers": {"email": "a@b.co"},
            "name": "x",
            "attributes": {"n": 1},
            "id": "d1",
            "timestamp": 1_700_000_000,
        },
        RECEIVED,
    )
    assert (op.kind, op.who.email, op.properties, op.timestamp) == (
        "track",
        "a@b.co",
        {"n": 1},
        1_700_000_000_000,
    )
    merge = parse_operation(
        {"type": "person", "action": "merge", "primary": {"id": "1"}, "secondary": {"id": "2"}},
        RECEIVED,
    )
    assert (merge.who, merge.secondary) == (Identity("1"), Identity("2"))


def test_customerio_update_flag() -> None:
    op = parse_operation(
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"id": "1"},
            "attributes": {"a": 1, "_update": True},
        },
        RECEIVED,
    )
    assert op.update_only is True


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"type": "track", "userId": "1", "event": "   "}, "no name"),
        ({"type": "track", "event": "x"}, "userId or an anonymousId"),
        ({"type": "identify", "traits": {}}, "userId or an email"),
        (
            {"type": "identify", "userId": "1", "traits": {"email": "not-an-address"}},
            "not an email",
        ),
        ({"type": "group", "userId": "1"}, "unsupported operation type"),
        ({"userId": "1"}, 'no "type"'),
        (
            {"type": "person", "action": "fly", "identifiers": {"id": "1"}},
            "unsupported person action",
        ),
        ({"type": "person", "action": "merge", "primary": {"id": "1"}}, "primary and secondary"),
        (
            {"type": "person", "action": "event", "identifiers": {"cio_id": "c"}, "name": "x"},
            "cio_id",
        ),
        ({"type": "track", "userId": True, "event": "x"}, "string or an integer"),
        ({"type": "track", "userId": "1", "event": "x", "properties": [1]}, "must be an object"),
    ],
)
def test_invalid_operations(raw: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidOperation, match=reason):
        parse_operation(raw, RECEIVED)
