"""Reading a request body: size limits, `Content-Encoding: gzip`, JSON.

Limits are Customer.io's and Segment's (DESIGN.md §4): 500 KB per request (a batch),
32 KB per operation. The body is counted as it arrives and after decompression, so a
small gzip body that inflates past the limit is refused without inflating all of it.
"""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from fastapi import Request

from app.api.errors import ApiError
from app.core.operations import MAX_BATCH_BYTES, MAX_OPERATION_BYTES
from app.service.ingest import encoded_size


async def read_json(request: Request, limit: int = MAX_BATCH_BYTES) -> dict[str, Any]:
    """The request body as a JSON object.

    Args:
        request: the incoming request.
        limit: the most bytes the (decompressed) body may have.

    Returns:
        The decoded object; an empty body reads as `{}` (DELETE requests carry `{}`).

    Raises:
        ApiError: 413 over `limit`; 400 for an unknown encoding, bad gzip, malformed
            JSON or JSON that is not an object.
    """
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise _too_large(limit)
    data = bytes(raw)
    if _gzipped(request):
        data = _gunzip(data, limit)
    else:
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise ApiError(400, "unsupported_encoding", f"Content-Encoding {encoding} is not read")
    if not data.strip():
        return {}
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return value


def check_operation_size(op: object, field: str | None = None) -> int:
    """The encoded size of one operation, checked against the 32 KB limit.

    Returns:
        The size in bytes (compact JSON), for `Ingestor.apply`.

    Raises:
        ApiError: 413 when it is over the limit.
    """
    size = encoded_size(op)
    if size > MAX_OPERATION_BYTES:
        raise ApiError(
            413,
            "too_large",
            f"operation is {size} bytes; the limit is {MAX_OPERATION_BYTES}",
            field,
        )
    return size


def _gzipped(request: Request) -> bool:
    return request.headers.get("content-encoding", "").strip().lower() == "gzip"


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, "invalid_gzip", f"the gzip body cannot be read: {exc}") from None
    if len(out) > limit:
        raise _too_large(limit)
    if not inflater.eof:
        raise ApiError(400, "invalid_gzip", "the gzip body is truncated")
    return out


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"the request body is over {limit // 1024} KB")
