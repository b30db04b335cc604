"""Customer.io Track API: v1 paths and v2 `entity` / `batch`, HTTP Basic `site_id:api_key`.

Each v1 call becomes the equivalent v2 person operation (DESIGN.md §5) and goes through
`Ingestor.apply` like a line of `nudge ingest`:

| v1 call | v2 operation |
|---|---|
| `PUT /customers/{id}` (body: attributes; `anonymous_id` joins anonymous events) | identify |
| `DELETE /customers/{id}` | delete |
| `POST /customers/{id}/events` (`name`, `data`, `id`, `timestamp`, `type: page`) | event / page |
| `POST /events` (`anonymous_id`) | event without identifiers |
| `POST /customers/{id}/suppress`, `/unsuppress` | suppress, unsuppress |
| `POST /merge_customers` (`primary`, `secondary`) | merge |

The id in the path is always the person's `id` (not an email or a `cio_id`), decoded
exactly (`%2F` is part of it). Devices are accepted and skipped: Nudge sends email only.
Customer.io v1 has no dedupe key except an event's optional `id`: a client retry of a
call without one stores it again.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.app import api_state, path_id
from app.api.apply import Skip, apply_batch, apply_one
from app.api.body import read_json
from app.api.schemas import (
    CIO_ANONYMOUS_EVENT,
    CIO_DEVICE,
    CIO_EVENT,
    CIO_IDENTIFY,
    CIO_MERGE,
    CIO_V2_BATCH,
    CIO_V2_OPERATION,
    body,
    no_body,
)
from app.core.errors import InvalidOperation

router = APIRouter(prefix="/api", tags=["Customer.io Track API"])

Answer = dict[str, Any]


async def _authorised_body(request: Request) -> dict[str, Any]:
    api_state(request).credentials.check(request)
    return await read_json(request)


def _person(customer_id: str, action: str, **fields: Any) -> dict[str, Any]:
    return {"type": "person", "action": action, "identifiers": {"id": customer_id}, **fields}


def _event_fields(data: dict[str, Any]) -> dict[str, Any]:
    attributes = data.get("data")
    if attributes is not None and not isinstance(attributes, dict):
        raise InvalidOperation("data must be an object")
    fields: dict[str, Any] = {"name": data.get("name"), "attributes": attributes or {}}
    for key in ("id", "timestamp"):
        if data.get(key) is not None:
            fields[key] = data[key]
    return fields


def _event_action(data: dict[str, Any]) -> str:
    kind = data.get("type", "event")
    if kind in (None, "event"):
        return "event"
    if kind == "page":
        return "page"
    raise InvalidOperation(f"unsupported event type {kind!r} (event or page)")


@router.put("/v1/customers/{customer_id}", openapi_extra=body(CIO_IDENTIFY))
async def identify(customer_id: str, request: Request) -> Answer:
    """Create or update a person: the body's keys are attributes (null removes one)."""
    data = await _authorised_body(request)
    cid = path_id(customer_id)
    attributes = {k: v for k, v in data.items() if k not in ("id", "anonymous_id")}
    op = _person(cid, "identify", attributes=attributes)
    if data.get("anonymous_id") is not None:
        op["anonymous_id"] = data["anonymous_id"]
    return await apply_one(api_state(request).backend, op)


@router.delete("/v1/customers/{customer_id}", openapi_extra=no_body())
async def delete(customer_id: str, request: Request) -> Answer:
    """Delete a person (their events go with them)."""
    await _authorised_body(request)
    op = _person(path_id(customer_id), "delete")
    return await apply_one(api_state(request).backend, op)


@router.post("/v1/customers/{customer_id}/events", openapi_extra=body(CIO_EVENT))
async def track(customer_id: str, request: Request) -> Answer:
    """Record an event (or a page view with `type: page`) for a person."""
    data = await _authorised_body(request)
    cid = path_id(customer_id)

    def build(raw: dict[str, Any]) -> dict[str, Any]:
        return _person(cid, _event_action(raw), **_event_fields(raw))

    return await apply_one(api_state(request).backend, data, build)


@router.post("/v1/events", openapi_extra=body(CIO_ANONYMOUS_EVENT))
async def track_anonymous(request: Request) -> Answer:
    """Record an anonymous event; it joins a person identified with its `anonymous_id`."""
    data = await _authorised_body(request)

    def build(raw: dict[str, Any]) -> dict[str, Any]:
        op = {"type": "person", "action": _event_action(raw), **_event_fields(raw)}
        if raw.get("anonymous_id") is not None:
            op["anonymous_id"] = raw["anonymous_id"]
        return op

    return await apply_one(api_state(request).backend, data, build)


@router.post("/v1/customers/{customer_id}/suppress", openapi_extra=no_body())
async def suppress(customer_id: str, request: Request) -> Answer:
    """Delete a person and keep their identifiers from coming back."""
    await _authorised_body(request)
    return await apply_one(api_state(request).backend, _person(path_id(customer_id), "suppress"))


@router.post("/v1/customers/{customer_id}/unsuppress", openapi_extra=no_body())
async def unsuppress(customer_id: str, request: Request) -> Answer:
    """Let a suppressed identifier come back."""
    await _authorised_body(request)
    return await apply_one(api_state(request).backend, _person(path_id(customer_id), "unsuppress"))


def _device(raw: dict[str, Any]) -> dict[str, Any]:
    device = raw.get("device")
    if not isinstance(device, dict):
        raise InvalidOperation("device must be an object")
    if not isinstance(device.get("id"), str) or not device["id"].strip():
        raise InvalidOperation("device.id must be a non-empty string")
    raise Skip("devices are not used: Nudge sends email only")


@router.put("/v1/customers/{customer_id}/devices", openapi_extra=body(CIO_DEVICE))
async def add_device(customer_id: str, request: Request) -> Answer:
    """Accepted and skipped (push devices have no use in an email system)."""
    data = await _authorised_body(request)
    path_id(customer_id)
    return await apply_one(api_state(request).backend, data, _device)


@router.delete("/v1/customers/{customer_id}/devices/{device_id}", openapi_extra=no_body())
async def delete_device(customer_id: str, device_id: str, request: Request) -> Answer:
    """Accepted and skipped, like adding one."""
    await _authorised_body(request)
    path_id(customer_id)
    path_id(device_id, "device_id")
    return {"success": True, "skipped": "devices are not used: Nudge sends email only"}


@router.post("/v1/merge_customers", openapi_extra=body(CIO_MERGE))
async def merge_customers(request: Request) -> Answer:
    """Fold the secondary person into the primary (the primary's attributes win)."""
    data = await _authorised_body(request)

    def build(raw: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "person",
            "action": "merge",
            "primary": raw.get("primary"),
            "secondary": raw.get("secondary"),
        }

    return await apply_one(api_state(request).backend, data, build)


def _v2(raw: dict[str, Any]) -> dict[str, Any]:
    kind = raw.get("type")
    if kind != "person":
        raise InvalidOperation(f"unsupported type {kind!r} (Nudge reads type person)")
    return raw


@router.post("/v2/entity", openapi_extra=body(CIO_V2_OPERATION))
async def entity(request: Request) -> Answer:
    """One v2 person operation (identify, event, page, screen, delete, suppress, ...)."""
    data = await _authorised_body(request)
    return await apply_one(api_state(request).backend, data, _v2)


@router.post("/v2/batch", openapi_extra=body(CIO_V2_BATCH))
async def batch(request: Request) -> Answer:
    """Many v2 operations in one transaction; rejected ones are reported by index."""
    data = await _authorised_body(request)
    return await apply_batch(api_state(request).backend, data.get("batch"), _v2)
