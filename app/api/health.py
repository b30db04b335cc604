"""`GET /health`: for monitoring. No auth; says nothing about people or events.

200 `{"status": "ok", "database": "ok", "scheduler": {...}}` when the database answers,
503 `{"code": "unavailable", "message"}` when it does not. The scheduler part names the
lease holder, whether its lease is current (`sending`), when it expires and the last
finished tick (ISO 8601 UTC; null when never).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.app import api_state
from app.core.errors import NudgeError
from app.core.times import format_instant
from app.service.workspace import Workspace

router = APIRouter(tags=["Health"])
log = logging.getLogger("nudge.api")


def _lease(ws: Workspace) -> tuple[str, int, int | None] | None:
    return ws.store.lease.info()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Database reachable, scheduler lease holder, last tick."""
    state = api_state(request)
    try:
        info = await state.backend.call(_lease)
    except (sqlite3.Error, OSError, NudgeError) as exc:
        log.warning("health: database not reachable: %s", exc)
        body = {"code": "unavailable", "message": f"database not reachable: {exc}"}
        return JSONResponse(body, status_code=503)
    now = state.clock.now_ms()
    scheduler: dict[str, Any] = {
        "holder": None,
        "sending": False,
        "lease_expires_at": None,
        "last_tick_at": None,
    }
    if info is not None:
        holder, expires_at, last_tick = info
        scheduler = {
            "holder": holder,
            "sending": expires_at > now,
            "lease_expires_at": format_instant(expires_at) if expires_at > 0 else None,
            "last_tick_at": None if last_tick is None else format_instant(last_tick),
        }
    return JSONResponse({"status": "ok", "database": "ok", "scheduler": scheduler})
