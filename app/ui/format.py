"""How the console writes times and numbers: in the workspace time zone, compact."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app.core.times import DAY_MS, HOUR_MS, MINUTE_MS


def when(ms: int | None, zone: ZoneInfo) -> str:
    """`2026-10-14 12:00:05` in `zone`; `-` for None."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")


def short(ms: int | None, zone: ZoneInfo) -> str:
    """`10-14 12:00` in `zone` (a table column); `-` for None."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%m-%d %H:%M")


def ago(ms: int | None, now: int) -> str:
    """How long before `now`: `12s ago`, `5m ago`, `3h ago`, `2d ago`; `never` for None."""
    if ms is None:
        return "never"
    delta = now - ms
    if delta < 0:
        return "in " + ago(now, ms).removesuffix(" ago")
    for unit, size in (("d", DAY_MS), ("h", HOUR_MS), ("m", MINUTE_MS)):
        if delta >= size:
            return f"{delta // size}{unit} ago"
    return f"{delta // 1000}s ago"


def cut(text: str, width: int) -> str:
    """`text` on one line, at most `width` characters (an ellipsis marks the cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: max(width - 1, 0)] + "…"
