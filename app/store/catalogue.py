"""What the event catalogue and campaign funnels read: names with counts, recent
properties of a name, branch counts of a campaign, its latest journeys and versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import sqlite_utils

from app.core.models import Journey
from app.store.journeys import _COLUMNS as _JOURNEY_COLUMNS
from app.store.journeys import _journey


@dataclass(frozen=True, slots=True)
class NameSummary:
    """One event name (or `identify` for attribute updates) over the whole log.

    Attributes:
        type: track, page or identify.
        name: the event or page name ('' for identify).
        count: events; people: distinct people (anonymous events not counted).
        first_seen, last_seen: the earliest and latest event time, ms UTC.
    """

    type: str
    name: str
    count: int
    people: int
    first_seen: int
    last_seen: int


class CatalogueRepo:
    """Read-only queries over the events table for the catalogue."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def name_summaries(self) -> list[NameSummary]:
        """Every (type, name) of track, page and identify events, most frequent first.

        This reads the whole events table once: call it off the interface thread on
        large databases.
        """
        rows = self._conn.execute(
            "SELECT type, coalesce(name, ''), count(*), count(DISTINCT person_id), "
            "min(timestamp), max(timestamp) FROM events "
            "WHERE type IN ('track', 'page', 'identify') GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
        )
        return [NameSummary(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    def recent_properties(self, type_: str, name: str, limit: int) -> list[dict[str, Any]]:
        """The properties of the latest `limit` events of a (type, name), newest first."""
        if type_ == "identify":
            rows = self._conn.execute(
                "SELECT properties FROM events WHERE type = 'identify' ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
        else:
            rows = self._conn.execute(
                "SELECT properties FROM events WHERE name = ? AND type = ? "
                "ORDER BY timestamp DESC LIMIT ?",
                (name, type_, limit),
            )
        return [orjson.loads(r[0]) for r in rows]


class FunnelsRepo:
    """Read-only queries for a campaign's funnel."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def path_counts(self, campaign_id: str) -> dict[tuple[str, str], int]:
        """Per (step id, path label), how many times journeys of a campaign took that way
        out of the step: branches and splits, met wait paths, and `timeout`."""
        rows = self._conn.execute(
            "SELECT step, CASE kind WHEN 'wait.timed_out' THEN 'timeout' "
            "ELSE json_extract(detail, '$.path') END, count(*) FROM activity "
            "WHERE kind IN ('branch.taken', 'wait.met', 'wait.timed_out') AND campaign = ? "
            "GROUP BY 1, 2",
            (campaign_id,),
        )
        return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

    def latest_journeys(
        self, campaign_id: str, limit: int, before_id: int | None = None
    ) -> list[Journey]:
        """A campaign's journeys, latest entry first, below `before_id` (keyset paging)."""
        rows = self._conn.execute(
            f"SELECT {_JOURNEY_COLUMNS} FROM journeys WHERE campaign_id = ? AND id < ? "
            "ORDER BY id DESC LIMIT ?",
            (campaign_id, before_id if before_id is not None else 2**62, limit),
        )
        return [_journey(r) for r in rows]

    def latest_version(self, campaign_id: str) -> tuple[str, str] | None:
        """(hash, source) of the campaign version stored last, or None."""
        row = self._conn.execute(
            "SELECT hash, source FROM campaign_versions WHERE campaign_id = ? "
            "ORDER BY loaded_at DESC, rowid DESC LIMIT 1",
            (campaign_id,),
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))
