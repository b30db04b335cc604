"""The activity log: every engine and ingest decision (DESIGN.md invariant 5)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlite_utils

from app.core.models import ActivityEntry

#: The shape `record` takes: (at ms, person_id, kind, campaign, step, detail).
ActivityRow = tuple[int, int | None, str, str | None, str | None, dict[str, Any]]


class ActivityRepo:
    """Appends to and reads the activity log. Call writes inside `write_transaction`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def record(self, rows: Iterable[ActivityRow]) -> None:
        """Append decisions."""
        self._conn.executemany(
            "INSERT INTO activity (at, person_id, kind, campaign, step, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                (at, person, kind, campaign, step, orjson.dumps(detail).decode())
                for at, person, kind, campaign, step, detail in rows
            ),
        )

    def for_person(self, person_id: int, limit: int = 20) -> list[ActivityEntry]:
        """A person's latest decisions, newest first."""
        rows = self._conn.execute(
            "SELECT id, at, person_id, kind, campaign, step, detail FROM activity "
            "WHERE person_id = ? ORDER BY at DESC, id DESC LIMIT ?",
            (person_id, limit),
        )
        return [ActivityEntry(r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6])) for r in rows]

    def latest(self, limit: int = 50) -> list[ActivityEntry]:
        """The latest decisions, newest first."""
        rows = self._conn.execute(
            "SELECT id, at, person_id, kind, campaign, step, detail FROM activity "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [ActivityEntry(r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6])) for r in rows]

    def decision_counts(
        self, campaign: str, kinds: Sequence[str]
    ) -> list[tuple[str | None, str, str | None, int]]:
        """How many decisions of these kinds a campaign made, per (step, kind, label),
        where the label is the detail's `path` (branches, waits) or `reason` (skips,
        exits). Found through the kind index: the log's many other rows are not read."""
        marks = ", ".join("?" * len(kinds))
        rows = self._conn.execute(
            "SELECT step, kind, coalesce(json_extract(detail, '$.path'), "
            "json_extract(detail, '$.reason')) AS label, count(*) FROM activity "
            f"WHERE kind IN ({marks}) AND campaign = ? "
            "GROUP BY step, kind, label ORDER BY step, kind, label",
            (*kinds, campaign),
        )
        return [(r[0], r[1], None if r[2] is None else str(r[2]), int(r[3])) for r in rows]
