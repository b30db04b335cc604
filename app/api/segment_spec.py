"""Segment spec HTTP API (what Segment's and RudderStack's libraries send).

`POST /v1/batch` and one call per path (`/v1/track`, `/identify`, `/page`, `/screen`,
`/alias`, `/group`). Auth: HTTP Basic with the write key as user name and an empty
password, or `writeKey` in the body. `Content-Encoding: gzip` is read (RudderStack's
client always gzips). `messageId` is the dedupe key: a client retry with the same one
is a no-op that still answers 200.

Shape adaptations before `parse_operation` (which reads the Segment shape itself):

* identify: traits come from `traits` and, as RudderStack sends them, from
  `context.traits` (`traits` wins for a key in both);
* alias: `previousId` is merged into `userId` (Customer.io's merge: the `userId`
  person's attributes win); when no person has `previousId` as id, it is taken as an
  anonymous id (Segment's usual alias, anonymous -> known): its events of the last 30
  days go to the `userId` person (created when new), as an identify carrying that
  `anonymousId` does;
* group: accepted and skipped (Nudge has no accounts or objects).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.api.app import api_state
from app.api.apply import Skip, apply_batch, apply_one
from app.api.body import read_json
from app.api.schemas import SEGMENT_BATCH, SEGMENT_MESSAGE, body
from app.core.errors import InvalidOperation

router = APIRouter(prefix="/v1", tags=["Segment spec"])

Answer = dict[str, Any]


async def _authorised_body(request: Request) -> dict[str, Any]:
    # The body is read first: the write key may be in it.
    data = await read_json(request)
    api_state(request).credentials.check(request, data.get("writeKey"))
    return data


def normalise(raw: dict[str, Any]) -> dict[str, Any]:
    """One Segment message in the shape `parse_operation` reads.

    Raises:
        InvalidOperation: for an alias without `userId` and `previousId`.
        Skip: for a group call.
    """
    kind = raw.get("type")
    if kind == "identify":
        context = raw.get("context")
        extra = context.get("traits") if isinstance(context, dict) else None
        traits = raw.get("traits")
        if isinstance(extra, dict) and (traits is None or isinstance(traits, dict)):
            return {**raw, "traits": {**extra, **(traits or {})}}
        return raw
    if kind == "alias":
        user_id, previous_id = raw.get("userId"), raw.get("previousId")
        if user_id is None or previous_id is None:
            raise InvalidOperation("alias needs a userId and a previousId")
        op: dict[str, Any] = {
            "type": "person",
            "action": "merge",
            "primary": {"id": user_id},
            "secondary": {"id": previous_id},
            # Used when no person has previousId as id: then it is an anonymous id.
            "anonymous_id": previous_id,
        }
        for wire, key in (("messageId", "id"), ("timestamp", "timestamp")):
            if raw.get(wire) is not None:
                op[key] = raw[wire]
        return op
    if kind == "group":
        raise Skip("group calls are not used: Nudge has no accounts")
    return raw


async def _one(request: Request, kind: str) -> Answer:
    data = await _authorised_body(request)
    message = {k: v for k, v in data.items() if k != "writeKey"}
    message["type"] = kind
    return await apply_one(api_state(request).backend, message, normalise)


@router.post("/batch", openapi_extra=body(SEGMENT_BATCH))
async def batch(request: Request) -> Answer:
    """Many messages in one transaction; rejected ones are reported by index."""
    data = await _authorised_body(request)
    return await apply_batch(api_state(request).backend, data.get("batch"), normalise)


@router.post("/track", openapi_extra=body(SEGMENT_MESSAGE))
async def track(request: Request) -> Answer:
    """An event (`event`, `properties`) by `userId` or `anonymousId`."""
    return await _one(request, "track")


@router.post("/identify", openapi_extra=body(SEGMENT_MESSAGE))
async def identify(request: Request) -> Answer:
    """Traits of a person (`traits`, or `context.traits`)."""
    return await _one(request, "identify")


@router.post("/page", openapi_extra=body(SEGMENT_MESSAGE))
async def page(request: Request) -> Answer:
    """A page view (`name`, or `properties.url` / `path`)."""
    return await _one(request, "page")


@router.post("/screen", openapi_extra=body(SEGMENT_MESSAGE))
async def screen(request: Request) -> Answer:
    """A mobile screen view."""
    return await _one(request, "screen")


@router.post("/alias", openapi_extra=body(SEGMENT_MESSAGE))
async def alias(request: Request) -> Answer:
    """Merge the `previousId` person into the `userId` person, or give the `userId`
    person the events of the anonymous id `previousId`."""
    return await _one(request, "alias")


@router.post("/group", openapi_extra=body(SEGMENT_MESSAGE))
async def group(request: Request) -> Answer:
    """Accepted and skipped."""
    return await _one(request, "group")
