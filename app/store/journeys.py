"""Journeys: who is where in which campaign, and when to look at them again."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlite_utils

from app.core.models import ActivityEntry, Journey

_COLUMNS = (
    "id, campaign_id, version, person_id, entry_key, state, step_id, entered_at, step_since, "
    "next_due_at, trigger_event, time_window, path, last_message_at, converted_at, ended_at, "
    "exit_reason"
)


def _journey(row: Sequence[Any]) -> Journey:
    return Journey(
        id=row[0],
        campaign_id=row[1],
        version=row[2],
        person_id=row[3],
        entry_key=row[4],
        state=row[5],
        step_id=row[6],
        entered_at=row[7],
        step_since=row[8],
        next_due_at=row[9],
        trigger_event=orjson.loads(row[10]),
        time_window=row[11],
        path=orjson.loads(row[12]),
        last_message_at=row[13],
        converted_at=row[14],
        ended_at=row[15],
        exit_reason=row[16],
    )


def _values(j: Journey) -> tuple[Any, ...]:
    return (
        j.campaign_id,
        j.version,
        j.person_id,
        j.entry_key,
        j.state,
        j.step_id,
        j.entered_at,
        j.step_since,
        j.next_due_at,
        orjson.dumps(j.trigger_event).decode(),
        j.time_window,
        orjson.dumps(j.path).decode(),
        j.last_message_at,
        j.converted_at,
        j.ended_at,
        j.exit_reason,
    )


#: Built once: `update` runs for every journey step the engine takes.
_UPDATE = "UPDATE journeys SET {} WHERE id = ?".format(
    ", ".join(f"{c} = ?" for c in _COLUMNS.removeprefix("id, ").split(", "))
)


class JourneysRepo:
    """Reads and writes journeys. Call writes inside `write_transaction`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def insert(self, journey: Journey) -> int:
        """Store a new journey; sets and returns its id."""
        cursor = self._conn.execute(
            f"INSERT INTO journeys ({_COLUMNS.removeprefix('id, ')}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _values(journey),
        )
        journey.id = int(cursor.lastrowid or 0)
        return journey.id

    def snapshot(self, journey: Journey) -> tuple[Any, ...]:
        """What `update` would write for this journey now (to pass back as `unless`)."""
        return _values(journey)

    def update(self, journey: Journey, unless: tuple[Any, ...] | None = None) -> None:
        """Write back a journey's state; skipped when it still equals `unless` (a
        `snapshot` taken earlier), since the row then already holds it."""
        values = _values(journey)
        if values != unless:
            self._conn.execute(_UPDATE, (*values, journey.id))

    def get(self, journey_id: int) -> Journey | None:
        """One journey by id."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM journeys WHERE id = ?", (journey_id,)
        ).fetchone()
        return _journey(row) if row else None

    def due(self, now: int, limit: int, campaigns: Iterable[str]) -> list[Journey]:
        """Active journeys of these campaigns due at or before `now`, earliest first (ties by
        id). Journeys of other (paused, removed) campaigns hold."""
        # `+campaign_id` keeps SQLite off the (campaign_id, state) index: through it, every
        # call read and sorted all active journeys of the campaigns to return the first
        # `limit` (33 ms a call at 100k journeys); the partial `journeys_due` index gives
        # them in order, and stops after `limit`.
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM journeys WHERE state = 'active' AND next_due_at <= ? "
            "AND +campaign_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY next_due_at, id LIMIT ?",
            (now, orjson.dumps(sorted(campaigns)).decode(), limit),
        )
        return [_journey(r) for r in rows]

    def next_due(self) -> int | None:
        """The earliest due time of any active journey, or None."""
        row = self._conn.execute(
            "SELECT min(next_due_at) FROM journeys WHERE state = 'active'"
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def for_person(self, person_id: int, active_only: bool = False) -> list[Journey]:
        """A person's journeys, oldest first."""
        extra = " AND state = 'active'" if active_only else ""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM journeys WHERE person_id = ?{extra} ORDER BY id",
            (person_id,),
        )
        return [_journey(r) for r in rows]

    def for_people(
        self, person_ids: Iterable[int], goals: Iterable[str] | None = None
    ) -> list[Journey]:
        """Active or recently ended journeys of these people (for goals, exits, waits).

        Args:
            goals: when given, only the campaigns (ids) whose ended journeys can still
                convert: completed journeys of other campaigns are left out.
        """
        ids = sorted(set(person_ids))
        # One person (an operation's usual batch) is one index probe; several are a list.
        params: list[object] = [ids[0] if len(ids) == 1 else orjson.dumps(ids).decode()]
        who = "person_id = ?" if len(ids) == 1 else "person_id IN (SELECT value FROM json_each(?))"
        ended = ""
        if goals is not None:
            ended = " AND campaign_id IN (SELECT value FROM json_each(?))"
            params.append(orjson.dumps(sorted(goals)).decode())
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM journeys WHERE {who} "
            f"AND (state = 'active' OR (state = 'completed' AND converted_at IS NULL{ended})) "
            "ORDER BY id",
            params,
        )
        return [_journey(r) for r in rows]

    def entries(self, campaign_id: str, person_id: int, entry_key: str) -> list[Journey]:
        """Earlier journeys of this person in this campaign with this key, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM journeys WHERE campaign_id = ? AND person_id = ? "
            "AND entry_key = ? ORDER BY id",
            (campaign_id, person_id, entry_key),
        )
        return [_journey(r) for r in rows]

    def active_in(self, campaign_id: str) -> list[Journey]:
        """Active journeys of a campaign."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM journeys WHERE campaign_id = ? AND state = 'active' "
            "ORDER BY id",
            (campaign_id,),
        )
        return [_journey(r) for r in rows]

    def all_in(self, campaign_id: str) -> list[Journey]:
        """Every journey of a campaign (active or ended), in entry order."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM journeys WHERE campaign_id = ? ORDER BY id", (campaign_id,)
        )
        return [_journey(r) for r in rows]

    def campaign_counts(self) -> dict[str, dict[str, int]]:
        """Per campaign: entered, active, completed, exited, converted."""
        rows = self._conn.execute(
            "SELECT campaign_id, count(*), sum(state = 'active'), sum(state = 'completed'), "
            "sum(state = 'exited'), count(converted_at) FROM journeys GROUP BY campaign_id"
        )
        keys = ("entered", "active", "completed", "exited", "converted")
        return {r[0]: dict(zip(keys, (int(x or 0) for x in r[1:]), strict=True)) for r in rows}

    def step_counts(self, campaign_id: str) -> dict[str, int]:
        """Per step id, how many active journeys of a campaign are at it now."""
        rows = self._conn.execute(
            "SELECT step_id, count(*) FROM journeys WHERE campaign_id = ? AND state = 'active' "
            "GROUP BY step_id",
            (campaign_id,),
        )
        return {r[0]: int(r[1]) for r in rows}

    def reached_counts(self, campaign_id: str) -> dict[str, int]:
        """Per step id, how many journeys of a campaign ever reached it."""
        rows = self._conn.execute(
            "SELECT j.value, count(*) FROM journeys, json_each(journeys.path) j "
            "WHERE campaign_id = ? GROUP BY j.value",
            (campaign_id,),
        )
        return {r[0]: int(r[1]) for r in rows}

    def activity_of_person(self, person_id: int) -> list[ActivityEntry]:
        """A person's journey decisions (activity rows that name a campaign), oldest
        first (ties in decision order); `detail["journey"]` says whose journey."""
        rows = self._conn.execute(
            "SELECT id, at, person_id, kind, campaign, step, detail FROM activity "
            "WHERE person_id = ? AND campaign IS NOT NULL ORDER BY at, id",
            (person_id,),
        )
        return [ActivityEntry(r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6])) for r in rows]
