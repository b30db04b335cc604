"""Ingest operations and how they are read from the two wire shapes Nudge accepts.

Shapes (DESIGN.md §5), told apart per operation by `type`:

* Segment spec: `{"type": "track"|"identify"|"page"|"screen", "userId", "anonymousId",
  "event", "name", "properties", "traits", "timestamp", "messageId"}`.
* Customer.io Track API v2: `{"type": "person", "action": "identify"|"event"|"page"|
  "screen"|"delete"|"suppress"|"unsuppress"|"merge", "identifiers": {"id"|"email"},
  "anonymous_id", "name", "attributes", "timestamp", "id"}`; merge has `primary` and
  `secondary` identifier objects, and may carry an `anonymous_id` (a Segment alias:
  used when no person is the secondary, see `Ingestor`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from app.core.errors import InvalidOperation
from app.core.times import parse_instant

OpKind = Literal["identify", "track", "page", "screen", "delete", "suppress", "unsuppress", "merge"]

#: Keys inside identify traits that steer the update instead of being stored as attributes.
DIRECTIVES = frozenset({"_timestamp", "_update"})

#: Customer.io and Segment accept at most 32 KB per operation.
MAX_OPERATION_BYTES = 32 * 1024
#: ...and at most 500 KB per batch request.
MAX_BATCH_BYTES = 500 * 1024

_SEGMENT_TYPES = {"track": "track", "identify": "identify", "page": "page", "screen": "screen"}
_CIO_ACTIONS: dict[str, OpKind] = {
    "identify": "identify",
    "event": "track",
    "page": "page",
    "screen": "screen",
    "delete": "delete",
    "suppress": "suppress",
    "unsuppress": "unsuppress",
    "merge": "merge",
}


@dataclass(slots=True)
class Identity:
    """Who an operation is about: an external id, an email, or both."""

    user_id: str | None = None
    email: str | None = None

    def __bool__(self) -> bool:
        return self.user_id is not None or self.email is not None

    def describe(self) -> str:
        """Name the identity for messages: `id 42`, `email a@b.c`."""
        return f"id {self.user_id}" if self.user_id is not None else f"email {self.email}"


@dataclass(slots=True)
class Operation:
    """One normalised ingest operation.

    Attributes:
        kind: what to do.
        timestamp: when it happened, ms UTC (the received time when not given).
        who: the person's identifiers (for merge: the primary).
        anonymous_id: the anonymous id it carries.
        name: event name (track) or page/screen name (trimmed); None otherwise.
        properties: event properties, or for identify the traits as given (nulls kept:
            they remove attributes).
        dedupe_key: Customer.io `id` / Segment `messageId`.
        update_only: Customer.io `_update: true`: never create a person.
        secondary: merge only: the person folded into `who`.
    """

    kind: OpKind
    timestamp: int
    who: Identity = field(default_factory=Identity)
    anonymous_id: str | None = None
    name: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None
    update_only: bool = False
    secondary: Identity | None = None


def parse_operation(raw: object, received_at: int) -> Operation:
    """Read one operation in Segment or Customer.io v2 shape.

    Args:
        raw: the decoded JSON object.
        received_at: when it arrived, ms UTC; the timestamp when none is given.

    Returns:
        The normalised operation.

    Raises:
        InvalidOperation: with a one-line reason (unknown type, no name, no identifier...).
    """
    if not isinstance(raw, dict):
        raise InvalidOperation("an operation must be a JSON object")
    kind_field = raw.get("type")
    if kind_field == "person":
        return _parse_customerio(raw, received_at)
    if isinstance(kind_field, str) and kind_field in _SEGMENT_TYPES:
        return _parse_segment(raw, received_at)
    if kind_field is None:
        raise InvalidOperation('operation has no "type"')
    raise InvalidOperation(f"unsupported operation type {kind_field!r}")


def _parse_segment(raw: dict[str, Any], received_at: int) -> Operation:
    kind: OpKind = _SEGMENT_TYPES[raw["type"]]  # type: ignore[assignment]
    timestamp = _timestamp(raw, received_at)
    anonymous_id = _text_id(raw.get("anonymousId"), "anonymousId")
    dedupe = _text_id(raw.get("messageId"), "messageId")
    if kind == "identify":
        traits = _object(raw.get("traits"), "traits")
        email = _email(traits.get("email"))
        who = Identity(_text_id(raw.get("userId"), "userId"), email)
        if not who:
            raise InvalidOperation("identify needs a userId or an email trait")
        return Operation(
            kind,
            timestamp,
            who,
            anonymous_id,
            properties=traits,
            dedupe_key=dedupe,
            update_only=traits.get("_update") is True,
        )
    who = Identity(_text_id(raw.get("userId"), "userId"))
    if not who and anonymous_id is None:
        raise InvalidOperation(f"{kind} needs a userId or an anonymousId")
    properties = _object(raw.get("properties"), "properties")
    if kind == "track":
        name = _name(raw.get("event"), 'track event has no name ("event")')
    else:
        name = _page_name(raw.get("name"), properties, kind)
    return Operation(kind, timestamp, who, anonymous_id, name, properties, dedupe)


def _parse_customerio(raw: dict[str, Any], received_at: int) -> Operation:
    action = raw.get("action")
    if not isinstance(action, str) or action not in _CIO_ACTIONS:
        raise InvalidOperation(f"unsupported person action {action!r}")
    kind = _CIO_ACTIONS[action]
    timestamp = _timestamp(raw, received_at)
    dedupe = _text_id(raw.get("id"), "id")
    anonymous_id = _text_id(raw.get("anonymous_id"), "anonymous_id")
    if kind == "merge":
        primary = _identifiers(raw.get("primary"), "primary")
        secondary = _identifiers(raw.get("secondary"), "secondary")
        if not primary or not secondary:
            raise InvalidOperation("merge needs primary and secondary identifiers")
        return Operation(
            kind, timestamp, primary, anonymous_id, dedupe_key=dedupe, secondary=secondary
        )
    attributes = _object(raw.get("attributes"), "attributes")
    who = _identifiers(raw.get("identifiers"), "identifiers")
    if kind == "identify":
        if who.email is None and "email" in attributes:
            who.email = _email(attributes.get("email"))
        if not who:
            raise InvalidOperation("identify needs an id or email identifier")
        update_only = raw.get("_update") is True or attributes.get("_update") is True
        return Operation(kind, timestamp, who, anonymous_id, None, attributes, dedupe, update_only)
    if kind in ("delete", "suppress", "unsuppress"):
        if not who:
            raise InvalidOperation(f"{kind} needs an id or email identifier")
        return Operation(kind, timestamp, who, dedupe_key=dedupe)
    if not who and anonymous_id is None:
        raise InvalidOperation(f"{kind} needs identifiers or an anonymous_id")
    if kind == "track":
        name = _name(raw.get("name"), 'event has no "name"')
    else:
        name = _page_name(raw.get("name"), attributes, kind)
    return Operation(kind, timestamp, who, anonymous_id, name, attributes, dedupe)


def _timestamp(raw: dict[str, Any], received_at: int) -> int:
    value = raw.get("timestamp")
    return received_at if value is None else parse_instant(value)


def _identifiers(value: object, field_name: str) -> Identity:
    if value is None:
        return Identity()
    if not isinstance(value, dict):
        raise InvalidOperation(f"{field_name} must be an object")
    if "cio_id" in value and "id" not in value and "email" not in value:
        raise InvalidOperation("cio_id identifiers are not supported; use id or email")
    return Identity(_text_id(value.get("id"), f"{field_name}.id"), _email(value.get("email")))


def _text_id(value: object, field_name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidOperation(f"{field_name} must be a string or an integer")
    text = str(value).strip()
    return text or None


def _email(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidOperation("email must be a string")
    text = value.strip()
    if not text:
        return None
    if "@" not in text or any(c in text for c in "\r\n \t"):
        raise InvalidOperation(f"email {text!r} is not an email address")
    return text


def _object(value: object, field_name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidOperation(f"{field_name} must be an object")
    return value


def _name(value: object, missing: str) -> str:
    if value is None:
        raise InvalidOperation(missing)
    if not isinstance(value, str):
        raise InvalidOperation("event name must be a string")
    name = value.strip()
    if not name:
        raise InvalidOperation(missing)
    return name


def _page_name(value: object, properties: dict[str, Any], kind: str) -> str:
    for candidate in (value, properties.get("url"), properties.get("path")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    raise InvalidOperation(f"{kind} has no name and no url")
