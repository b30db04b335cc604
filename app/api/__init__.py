"""HTTP Track API (Customer.io v1/v2 and Segment-spec shapes), unsubscribe pages and health,
served by uvicorn inside `nudge serve`."""

from __future__ import annotations

from app.api.app import ApiState, make_api
from app.api.backend import Backend

__all__ = ["ApiState", "Backend", "make_api"]
