"""The events table: rows in, `Event` out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
import sqlite_utils

from app.core.models import Event

_COLUMNS = (
    "seq, person_id, anonymous_id, user_id, user_email, type, name, properties, timestamp, "
    "received_at, dedupe_key"
)
_CHUNK = 500

#: The shape `insert_rows` takes: (person_id, anonymous_id, user_id, user_email, type,
#: name, properties JSON text, timestamp ms, received_at ms, dedupe_key).
EventRow = tuple[
    int | None, str | None, str | None, str | None, str, str | None, str, int, int, str | None
]


def _event(row: Sequence[Any]) -> Event:
    return Event(
        seq=row[0],
        person_id=row[1],
        anonymous_id=row[2],
        user_id=row[3],
        user_email=row[4],
        type=row[5],
        name=row[6],
        properties=orjson.loads(row[7]),
        timestamp=row[8],
        received_at=row[9],
        dedupe_key=row[10],
    )


class EventsRepo:
    """Reads and writes events. Call writes inside `write_transaction`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def insert_rows(self, rows: Sequence[EventRow]) -> None:
        """Append events (already deduplicated by the caller)."""
        self._conn.executemany(
            "INSERT INTO events (person_id, anonymous_id, user_id, user_email, type, name, "
            "properties, timestamp, received_at, dedupe_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of `keys` that some stored event already carries."""
        wanted = list(keys)
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT dedupe_key FROM events WHERE dedupe_key IN ({marks})"
            found.update(row[0] for row in self._conn.execute(sql, chunk))
        return found

    def associate_anonymous(self, anonymous_id: str, person_id: int, since: int) -> int | None:
        """Give a person the anonymous events with this id at or after `since` (ms UTC).

        Returns:
            The earliest timestamp among the events moved, or None when none were.
        """
        row = self._conn.execute(
            "SELECT min(timestamp) FROM events WHERE person_id IS NULL AND anonymous_id = ? "
            "AND timestamp >= ?",
            (anonymous_id, since),
        ).fetchone()
        if row[0] is None:
            return None
        self._conn.execute(
            "UPDATE events SET person_id = ? WHERE person_id IS NULL AND anonymous_id = ? "
            "AND timestamp >= ?",
            (person_id, anonymous_id, since),
        )
        return int(row[0])

    def move(self, from_person: int, to_person: int) -> None:
        """Reassign every event of one person to another (merge)."""
        self._conn.execute(
            "UPDATE events SET person_id = ? WHERE person_id = ?", (to_person, from_person)
        )

    def for_person(self, person_id: int, limit: int = 20) -> list[Event]:
        """A person's latest events, newest first (timestamp, then insertion order)."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE person_id = ? "
            "ORDER BY timestamp DESC, seq DESC LIMIT ?",
            (person_id, limit),
        )
        return [_event(row) for row in rows]

    def facts(self, person_id: int, names: Iterable[str]) -> list[tuple[str, int, Any]]:
        """(name, timestamp, properties) of a person's events with these names."""
        wanted = sorted(set(names))
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        rows = self._conn.execute(
            f"SELECT name, timestamp, properties FROM events WHERE person_id = ? "
            f"AND name IN ({marks})",
            (person_id, *wanted),
        )
        return [(r[0], r[1], orjson.loads(r[2])) for r in rows]

    def iter_range(self, since: int | None = None, until: int | None = None) -> Iterator[Event]:
        """Events with `since <= timestamp < until` (either bound optional), in insertion order.

        Insertion order is the order they were applied, which is what a replay needs.
        """
        where, params = _time_range(since, until)
        for row in self._conn.execute(
            f"SELECT {_COLUMNS} FROM events {where} ORDER BY seq", params
        ):
            yield _event(row)

    def iter_by_time(self, since: int | None = None, until: int | None = None) -> Iterator[Event]:
        """Events with `since <= timestamp < until` (either bound optional), in timestamp
        order, ties in insertion order: the order a replay applies them in."""
        where, params = _time_range(since, until)
        for row in self._conn.execute(
            f"SELECT {_COLUMNS} FROM events {where} ORDER BY timestamp, seq", params
        ):
            yield _event(row)

    def count_range(self, since: int | None = None, until: int | None = None) -> int:
        """How many events have `since <= timestamp < until` (either bound optional)."""
        where, params = _time_range(since, until)
        row = self._conn.execute(f"SELECT count(*) FROM events {where}", params).fetchone()
        return int(row[0])

    def first_after(self, name: str, after: int) -> int | None:
        """The earliest time (ms UTC) of a person's event `name` later than `after`, or
        None (the simulator's next segment-sweep instant)."""
        row = self._conn.execute(
            "SELECT min(timestamp) FROM events WHERE name = ? AND timestamp > ? "
            "AND person_id IS NOT NULL",
            (name, after),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def count(self) -> int:
        """How many events there are."""
        return int(self._conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def counts_by_name(self) -> dict[str, int]:
        """Track events per name, most frequent first (pages and identifies are not named)."""
        rows = self._conn.execute(
            "SELECT name, count(*) AS n FROM events WHERE type = 'track' "
            "GROUP BY name ORDER BY n DESC, name"
        )
        return {row[0]: int(row[1]) for row in rows}

    def counts_by_type(self) -> dict[str, int]:
        """Events per type (track, identify, page, ...)."""
        rows = self._conn.execute("SELECT type, count(*) FROM events GROUP BY type ORDER BY type")
        return {row[0]: int(row[1]) for row in rows}

    def last_timestamp(self) -> int | None:
        """The latest event time, ms UTC, or None when there are no events."""
        row = self._conn.execute("SELECT max(timestamp) FROM events").fetchone()
        return None if row[0] is None else int(row[0])


def _time_range(since: int | None, until: int | None) -> tuple[str, list[int]]:
    """A WHERE clause for `since <= timestamp < until` (either bound optional) and its
    parameters; an empty clause when neither is given."""
    clauses, params = [], []
    if since is not None:
        clauses.append("timestamp >= ?")
        params.append(since)
    if until is not None:
        clauses.append("timestamp < ?")
        params.append(until)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params
