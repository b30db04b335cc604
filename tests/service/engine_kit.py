"""Helpers for the journey engine tests: campaign files in a temporary folder, a
workspace on a fixed clock, ingest shortcuts and readers of what the engine stored.

Times in the tests are written as UTC wall times (`utc("2024-06-03 10:00")`) so every
expected instant can be checked by reading it, not by running the code.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.config import load_settings
from app.core.clock import FixedClock
from app.core.models import Journey
from app.service.workspace import Workspace, open_workspace

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def utc(text: str) -> int:
    """`"2024-06-03 10:00"` (UTC) as ms since the epoch."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def iso(ms: int) -> str:
    """ms since the epoch as `"2024-06-03 10:00"` (UTC): readable assertion failures."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def write_campaign(folder: Path, text: str, name: str | None = None) -> Path:
    """Write a campaign file (dedented), and an HTML template for every `template:` it
    names that does not exist yet."""
    body = textwrap.dedent(text).lstrip("\n")
    cid = re.search(r"^id:\s*(\S+)", body, re.MULTILINE)
    assert cid is not None, "a campaign needs an id"
    path = folder / (name or f"{cid.group(1)}.yaml")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    (folder / "templates").mkdir(exist_ok=True)
    for template in re.findall(r"template:\s*([A-Za-z0-9_\-]+)", body):
        html = folder / "templates" / f"{template}.html.j2"
        if not html.exists():
            html.write_text("<p>Hello {{ person.first_name | default('there') }}</p>\n")
    return path


def write_segment(folder: Path, text: str) -> Path:
    """Write `segments/<id>.yaml`."""
    body = textwrap.dedent(text).lstrip("\n")
    sid = re.search(r"^id:\s*(\S+)", body, re.MULTILINE)
    assert sid is not None, "a segment needs an id"
    (folder / "segments").mkdir(parents=True, exist_ok=True)
    path = folder / "segments" / f"{sid.group(1)}.yaml"
    path.write_text(body)
    return path


def open_ws(folder: Path, at: int, database: str | Path = ":memory:", **settings: Any) -> Workspace:
    """A workspace over `folder` whose clock shows `at`; every definition must load."""
    ws = open_workspace(
        load_settings(database=str(database), campaigns=folder, **settings), clock=FixedClock(at)
    )
    assert ws.errors == [], ws.errors
    return ws


def set_clock(ws: Workspace, at: int) -> None:
    assert isinstance(ws.clock, FixedClock)
    ws.clock.at_ms = at


def track(
    ws: Workspace,
    at: int,
    user: str,
    event: str,
    properties: dict[str, Any] | None = None,
    timestamp: int | None = None,
) -> None:
    """Ingest one track event received at `at` (happened at `timestamp`, default `at`)."""
    set_clock(ws, at)
    op: dict[str, Any] = {
        "type": "track",
        "userId": user,
        "event": event,
        "properties": properties or {},
        "timestamp": at if timestamp is None else timestamp,
    }
    report = ws.ingestor.apply([op])
    assert report.rejected == [], report.rejected


def identify(ws: Workspace, at: int, user: str, **traits: Any) -> None:
    """Ingest one identify received (and happened) at `at`."""
    set_clock(ws, at)
    report = ws.ingestor.apply(
        [{"type": "identify", "userId": user, "traits": traits, "timestamp": at}]
    )
    assert report.rejected == [], report.rejected


def pid(ws: Workspace, user: str) -> int:
    person = ws.store.people.by_external_id(user)
    assert person is not None, user
    return person.id


def journeys(ws: Workspace, user: str) -> list[Journey]:
    return ws.store.journeys.for_person(pid(ws, user))


def only_journey(ws: Workspace, user: str) -> Journey:
    found = journeys(ws, user)
    assert len(found) == 1, found
    return found[0]


def deliveries(ws: Workspace) -> list[tuple[str, str]]:
    """Every queued delivery as (key, created_at in UTC), in creation order."""
    return [(d.key, iso(d.created_at)) for d in ws.store.deliveries.all()]


def activity(ws: Workspace, kind: str | None = None) -> list[tuple[str, str | None, str]]:
    """The activity log, oldest first, as (kind, step, at in UTC); only `kind` if given."""
    rows = list(reversed(ws.store.activity.latest(100_000)))
    return [(r.kind, r.step, iso(r.at)) for r in rows if kind is None or r.kind == kind]


def activity_details(ws: Workspace, kind: str) -> list[dict[str, Any]]:
    rows = list(reversed(ws.store.activity.latest(100_000)))
    return [r.detail for r in rows if r.kind == kind]


def activity_counts(ws: Workspace) -> Counter[str]:
    return Counter(r.kind for r in ws.store.activity.latest(100_000))


def snapshot(ws: Workspace) -> tuple[Any, ...]:
    """Everything the engine writes: deliveries, journeys, activity (for idempotence)."""
    every_journey = [
        j for p in ws.store.people.iter_all() for j in ws.store.journeys.for_person(p.id)
    ]
    return (
        [(d.key, d.created_at, d.state) for d in ws.store.deliveries.all()],
        [
            (j.id, j.state, j.step_id, j.next_due_at, j.exit_reason, j.converted_at, j.path)
            for j in every_journey
        ],
        len(ws.store.activity.latest(1_000_000)),
    )
