"""OpenAPI request bodies of the Track API (bodies are read by hand, see `body.py`, so
FastAPI cannot infer them). They describe the wire shapes for clients and for the
schemathesis run in the test suite; validation itself is `parse_operation`'s."""

from __future__ import annotations

from typing import Any

_ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
_ID = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
_TIME = {"oneOf": [{"type": "integer"}, {"type": "string"}]}
_IDENTIFIERS = {
    "type": "object",
    "properties": {"id": _ID, "email": {"type": "string"}},
}

CIO_IDENTIFY = {
    "type": "object",
    "description": "Attributes to merge; null removes one; `_update`, `_timestamp` steer it.",
    "properties": {
        "email": {"type": "string"},
        "anonymous_id": {"type": "string"},
        "_update": {"type": "boolean"},
        "_timestamp": _TIME,
    },
    "additionalProperties": True,
}
CIO_EVENT = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["event", "page"]},
        "data": _ANY_OBJECT,
        "id": {"type": "string"},
        "timestamp": _TIME,
    },
}
CIO_ANONYMOUS_EVENT = {
    **CIO_EVENT,
    "properties": {**CIO_EVENT["properties"], "anonymous_id": {"type": "string"}},  # type: ignore[dict-item]
}
CIO_DEVICE = {
    "type": "object",
    "required": ["device"],
    "properties": {
        "device": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "platform": {"type": "string"}},
        }
    },
}
CIO_EMPTY = {"type": "object", "description": "`{}`"}
CIO_MERGE = {
    "type": "object",
    "required": ["primary", "secondary"],
    "properties": {"primary": _IDENTIFIERS, "secondary": _IDENTIFIERS},
}
CIO_V2_OPERATION = {
    "type": "object",
    "required": ["type", "action"],
    "properties": {
        "type": {"type": "string", "enum": ["person"]},
        "action": {
            "type": "string",
            "enum": [
                "identify",
                "event",
                "page",
                "screen",
                "delete",
                "suppress",
                "unsuppress",
                "merge",
            ],
        },  # fmt: skip
        "identifiers": _IDENTIFIERS,
        "attributes": _ANY_OBJECT,
        "name": {"type": "string"},
        "id": {"type": "string"},
        "anonymous_id": {"type": "string"},
        "timestamp": _TIME,
        "primary": _IDENTIFIERS,
        "secondary": _IDENTIFIERS,
    },
}
CIO_V2_BATCH = {
    "type": "object",
    "required": ["batch"],
    "properties": {"batch": {"type": "array", "items": CIO_V2_OPERATION}},
}

SEGMENT_MESSAGE = {
    "type": "object",
    "properties": {
        "type": {
            "type": "string",
            "enum": ["track", "identify", "page", "screen", "alias", "group"],
        },
        "userId": _ID,
        "anonymousId": _ID,
        "previousId": _ID,
        "groupId": _ID,
        "event": {"type": "string"},
        "name": {"type": "string"},
        "properties": _ANY_OBJECT,
        "traits": _ANY_OBJECT,
        "context": _ANY_OBJECT,
        "timestamp": {"type": "string"},
        "messageId": {"type": "string"},
        "writeKey": {"type": "string"},
    },
}
SEGMENT_BATCH = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": SEGMENT_MESSAGE},
        "writeKey": {"type": "string"},
        "sentAt": {"type": "string"},
    },
}

_OK = {"description": "Applied (or a duplicate, or skipped)."}
_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            }
        }
    }
}


def body(schema: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route reading a JSON body of `schema`, with its answers."""
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": {
            "200": _OK,
            "400": {"description": "Bad shape (the message names the field).", **_ERROR},
            "401": {"description": "Unknown credentials.", **_ERROR},
            "413": {"description": "Over 32 KB per operation or 500 KB per request.", **_ERROR},
        },
    }


def no_body() -> dict[str, Any]:
    """`openapi_extra` for a route whose body is ignored (Customer.io DELETEs send `{}`)."""
    return {
        "responses": {
            "200": _OK,
            "401": {"description": "Unknown credentials.", **_ERROR},
        },
    }
