"""Segment definitions and memberships."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson
import sqlite_utils

from app.store.segment_sql import Params, iso_date_between_sql, json_path


@dataclass(frozen=True, slots=True)
class StoredSegment:
    """A segment definition as last synced, and when its membership was last brought up
    to date (ms UTC, None if never)."""

    id: str
    name: str
    hash: str
    evaluated_at: int | None


def _ids(ids: Iterable[int]) -> str:
    return orjson.dumps(sorted(ids)).decode()


class SegmentsRepo:
    """Reads and writes segments and their members. Call writes inside `write_transaction`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    # -- definitions -------------------------------------------------------------------

    def stored(self) -> dict[str, StoredSegment]:
        """Every synced segment, by id."""
        rows = self._conn.execute("SELECT id, name, hash, evaluated_at FROM segments")
        return {r[0]: StoredSegment(r[0], r[1], r[2], r[3]) for r in rows}

    def upsert(self, seg_id: str, name: str, description: str, definition: str, hash_: str) -> None:
        """Store a definition (a changed hash resets `evaluated_at`)."""
        self._conn.execute(
            "INSERT INTO segments (id, name, description, definition, hash) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
            "description = excluded.description, definition = excluded.definition, "
            "evaluated_at = CASE WHEN hash = excluded.hash THEN evaluated_at END, "
            "hash = excluded.hash",
            (seg_id, name, description, definition, hash_),
        )

    def delete(self, seg_id: str) -> None:
        """Forget a segment and its members."""
        self._conn.execute("DELETE FROM segments WHERE id = ?", (seg_id,))

    def set_evaluated(self, seg_id: str, at: int) -> None:
        """Record that membership is up to date as of `at` (ms UTC)."""
        self._conn.execute("UPDATE segments SET evaluated_at = ? WHERE id = ?", (at, seg_id))

    # -- evaluation --------------------------------------------------------------------

    def matching(
        self, where_sql: str, params: Params, among: Iterable[int] | None = None
    ) -> set[int]:
        """Ids of people for whom the compiled condition holds (optionally among some)."""
        sql = f"SELECT p.id FROM people p WHERE {where_sql}"
        if among is not None:
            sql = (
                "SELECT p.id FROM people p WHERE p.id IN (SELECT value FROM json_each(?)) "
                f"AND {where_sql}"
            )
            params = [_ids(among), *params]
        return {row[0] for row in self._conn.execute(sql, params)}

    def matching_and_members(
        self, seg_id: str, where_sql: str, params: Params, among: Iterable[int]
    ) -> tuple[set[int], set[int]]:
        """Among some people: those for whom the compiled condition holds (`matching`) and
        those who are members now (`members`), in one query instead of two."""
        rows = self._conn.execute(
            "SELECT j.value, "
            f"EXISTS (SELECT 1 FROM people p WHERE p.id = j.value AND {where_sql}), "
            "EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = ? "
            "AND m.person_id = j.value) FROM json_each(?) j",
            [*params, seg_id, _ids(among)],
        )
        matching: set[int] = set()
        members: set[int] = set()
        for person_id, holds, member in rows:
            if holds:
                matching.add(person_id)
            if member:
                members.add(person_id)
        return matching, members

    def count_matching(self, where_sql: str, params: Params) -> int:
        """How many people the compiled condition holds for."""
        row = self._conn.execute(f"SELECT count(*) FROM people p WHERE {where_sql}", params)
        return int(row.fetchone()[0])

    # -- members -----------------------------------------------------------------------

    def members(self, seg_id: str, among: Iterable[int] | None = None) -> set[int]:
        """Current members' ids (optionally only those among `among`)."""
        if among is None:
            rows = self._conn.execute(
                "SELECT person_id FROM segment_members WHERE segment_id = ?", (seg_id,)
            )
        else:
            rows = self._conn.execute(
                "SELECT person_id FROM segment_members WHERE segment_id = ? "
                "AND person_id IN (SELECT value FROM json_each(?))",
                (seg_id, _ids(among)),
            )
        return {row[0] for row in rows}

    def add_members(self, seg_id: str, ids: Iterable[int], since: int) -> None:
        """Make people members from `since` (ms UTC)."""
        self._conn.executemany(
            "INSERT OR IGNORE INTO segment_members (segment_id, person_id, since) VALUES (?, ?, ?)",
            ((seg_id, pid, since) for pid in ids),
        )

    def remove_members(self, seg_id: str, ids: Iterable[int]) -> None:
        """End people's membership."""
        self._conn.executemany(
            "DELETE FROM segment_members WHERE segment_id = ? AND person_id = ?",
            ((seg_id, pid) for pid in ids),
        )

    def member_count(self, seg_id: str) -> int:
        """How many members a segment has."""
        row = self._conn.execute(
            "SELECT count(*) FROM segment_members WHERE segment_id = ?", (seg_id,)
        ).fetchone()
        return int(row[0])

    def member_page(self, seg_id: str, limit: int, after_id: int = 0) -> list[tuple[int, int]]:
        """(person id, since) of members with id above `after_id`, in id order."""
        rows = self._conn.execute(
            "SELECT person_id, since FROM segment_members WHERE segment_id = ? AND person_id > ? "
            "ORDER BY person_id LIMIT ?",
            (seg_id, after_id, limit),
        )
        return [(r[0], r[1]) for r in rows]

    def memberships(self, person_id: int) -> dict[str, int]:
        """Segment id -> since, for one person."""
        rows = self._conn.execute(
            "SELECT segment_id, since FROM segment_members WHERE person_id = ?", (person_id,)
        )
        return {r[0]: r[1] for r in rows}

    def changes_since(self, since: int) -> dict[str, tuple[int, int]]:
        """Per segment id, (entered, exited) counts in the activity log at or after `since`."""
        rows = self._conn.execute(
            "SELECT json_extract(detail, '$.segment'), kind, count(*) FROM activity "
            "WHERE kind IN ('segment.entered', 'segment.exited') AND at >= ? GROUP BY 1, 2",
            (since,),
        )
        out: dict[str, tuple[int, int]] = {}
        for seg_id, kind, count in rows:
            entered, exited = out.get(seg_id, (0, 0))
            out[seg_id] = (
                (entered + count, exited)
                if kind == "segment.entered"
                else (
                    entered,
                    exited + count,
                )
            )
        return out

    # -- sweep candidates ----------------------------------------------------------------

    def with_events_between(self, name: str, low: int, high: int) -> set[int]:
        """People with an event `name` at `low <= timestamp <= high` (ms UTC)."""
        rows = self._conn.execute(
            "SELECT DISTINCT person_id FROM events WHERE name = ? AND timestamp BETWEEN ? AND ? "
            "AND person_id IS NOT NULL",
            (name, low, high),
        )
        return {row[0] for row in rows}

    def with_events(self, name: str) -> set[int]:
        """People with any event `name`."""
        rows = self._conn.execute(
            "SELECT DISTINCT person_id FROM events WHERE name = ? AND person_id IS NOT NULL",
            (name,),
        )
        return {row[0] for row in rows}

    def known_since_between(self, low: int, high: int) -> set[int]:
        """People first known (see `known_since_sql`) at `low <= t <= high`."""
        # min(first seen, created_at attribute) in [low, high], written so the column
        # settles most rows before the Python instant function is called.
        path = json_path("created_at")
        instant = "nudge_instant(json_type(p.attributes, ?), json_extract(p.attributes, ?))"
        rows = self._conn.execute(
            f"SELECT p.id FROM people p WHERE p.created_at >= ? "
            f"AND (p.created_at <= ? OR coalesce({instant} <= ?, 0)) "
            f"AND coalesce({instant} >= ?, 1)",
            [low, high, path, path, high, path, path, low],
        )
        return {row[0] for row in rows}

    def attribute_instant_between(self, path: str, low: int, high: int) -> set[int]:
        """People whose attribute at `path`, read as an instant, is in `[low, high]`."""
        jp = json_path(path)
        # The date test first settles most rows without the Python instant function.
        near, params = iso_date_between_sql(jp, low, high)
        rows = self._conn.execute(
            f"SELECT p.id FROM people p WHERE {near} AND nudge_instant(json_type("
            "p.attributes, ?), json_extract(p.attributes, ?)) BETWEEN ? AND ?",
            [*params, jp, jp, low, high],
        )
        return {row[0] for row in rows}
