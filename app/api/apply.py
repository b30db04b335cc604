"""From request operations to `Ingestor.apply` and back to an answer.

Every endpoint ends here, so the API and `nudge ingest` share one path: the same
parser (`parse_operation`), the same 32 KB limit, the same transaction per batch.

Answers (DESIGN.md §4, RudderStack treats anything but 200 as a failure):

* one operation: 200 `{"success": true}` (plus `"duplicate": true` or `"skipped":
  reason`); a rejected one is a 400 (413 over 32 KB) and nothing is stored.
* a batch: 200 `{"success": true, "applied", "duplicates", "skipped": [...], "errors":
  [{"index", "code", "message"}]}`: a rejected operation is reported by its index in
  the batch and the rest applies, in one transaction. When every operation of a
  non-empty batch is rejected the answer is that error as a 400 (413 when they were
  all too large), with the same `errors` list, since nothing at all was stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.api.backend import Backend
from app.api.errors import ApiError
from app.core.errors import InvalidOperation
from app.core.operations import MAX_OPERATION_BYTES
from app.service.ingest import BatchReport, encoded_size

#: Turns one wire operation into the shape `parse_operation` reads; None (with a reason
#: in `Skip`) when it is valid but has nothing to do in Nudge.
Normaliser = Callable[[dict[str, Any]], dict[str, Any]]


class Skip(Exception):
    """A valid operation Nudge has no use for (a Segment `group`, a device): 200, skipped."""


@dataclass(slots=True)
class _Error:
    index: int
    code: str
    message: str


@dataclass(slots=True)
class _Prepared:
    ops: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    errors: list[_Error] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _prepare(items: Sequence[object], normalise: Normaliser) -> _Prepared:
    out = _Prepared()
    for index, item in enumerate(items):
        size = encoded_size(item)
        if size > MAX_OPERATION_BYTES:
            message = f"operation is {size} bytes; the limit is {MAX_OPERATION_BYTES}"
            out.errors.append(_Error(index, "too_large", message))
            continue
        if not isinstance(item, dict):
            out.errors.append(_Error(index, "invalid_operation", "an operation must be an object"))
            continue
        try:
            op = normalise(item)
        except InvalidOperation as exc:
            out.errors.append(_Error(index, exc.code, exc.message))
            continue
        except Skip as exc:
            out.skipped.append((index, str(exc)))
            continue
        out.ops.append(op)
        out.sizes.append(size)
        out.positions.append(index)
    return out


async def _apply(backend: Backend, prepared: _Prepared) -> BatchReport:
    if not prepared.ops:
        return BatchReport()
    ops, sizes = prepared.ops, prepared.sizes
    return await backend.call(lambda ws: ws.ingestor.apply(ops, sizes))


async def apply_one(
    backend: Backend, item: dict[str, Any], normalise: Normaliser = dict
) -> dict[str, Any]:
    """Apply one operation (a single-call endpoint).

    Returns:
        The 200 body.

    Raises:
        ApiError: 413 over 32 KB, 400 when the operation is rejected; nothing stored.
    """
    prepared = _prepare([item], normalise)
    if prepared.errors:
        error = prepared.errors[0]
        raise ApiError(413 if error.code == "too_large" else 400, error.code, error.message)
    if prepared.skipped:
        return {"success": True, "skipped": prepared.skipped[0][1]}
    report = await _apply(backend, prepared)
    if report.rejected:
        raise ApiError(400, "invalid_operation", report.rejected[0].reason)
    body: dict[str, Any] = {"success": True}
    if report.duplicates:
        body["duplicate"] = True
    if report.skipped:
        body["skipped"] = report.skipped[0].reason
    return body


async def apply_batch(
    backend: Backend, items: object, normalise: Normaliser = dict, field_name: str = "batch"
) -> dict[str, Any]:
    """Apply a batch in one transaction, reporting rejected operations by index.

    Args:
        items: the request's operation list (checked to be a list here).
        normalise: per-operation shape adapter.
        field_name: the list's name in the request body, for errors.

    Returns:
        The 200 body.

    Raises:
        ApiError: 400 when `items` is not a list, or when every operation was rejected
            (413 when they were all over 32 KB).
    """
    if not isinstance(items, list):
        raise ApiError(
            400, "invalid_batch", f"{field_name} must be a list of operations", field_name
        )
    prepared = _prepare(items, normalise)
    report = await _apply(backend, prepared)
    errors = list(prepared.errors)
    errors += [
        _Error(prepared.positions[p.index], "invalid_operation", p.reason) for p in report.rejected
    ]
    errors.sort(key=lambda e: e.index)
    skipped = [(prepared.positions[p.index], p.reason) for p in report.skipped]
    skipped = sorted(skipped + prepared.skipped)
    listed = [{"index": e.index, "code": e.code, "message": e.message} for e in errors]
    if items and len(errors) == len(items):
        too_large = all(e.code == "too_large" for e in errors)
        first = errors[0]
        raise ApiError(
            413 if too_large else 400,
            first.code,
            f"{field_name}[{first.index}]: {first.message}"
            + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            f"{field_name}[{first.index}]",
            {"errors": listed},
        )
    return {
        "success": True,
        "applied": report.applied,
        "duplicates": report.duplicates,
        "skipped": [{"index": i, "reason": r} for i, r in skipped],
        "errors": listed,
    }
