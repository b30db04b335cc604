"""Segment scans of everyone's instants, answered from an index kept in memory.

A date trigger looks for the people whose attribute instant (plus an offset) arrived
since the last scan; a time-driven segment sweep looks for attribute instants and
profile ages (`known_since`) that crossed a window. Each is a scan of every person that
calls the Python `nudge_instant` per row (about 0.1 s at 100k people). The simulator
runs them on every hour of virtual time, so at 100k people they came to about a third
of its run.

`IndexedSegmentsRepo` answers the same two questions from a per-person map of those
instants, computed by the very SQL expressions the plain scans use. Temporary triggers
on `people` note every person inserted, updated or deleted (by ingest, a merge, an
"update attributes" step, anything); before answering, those people are read again.
A rolled-back `write_transaction` (which takes its notes with it, while the maps may
already hold what it wrote) makes the maps start over. The answers are therefore exactly
the plain scans'.

Meant for a database one connection writes (the simulator's scratch file): another
connection's writes would not fire this connection's temporary triggers.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left, bisect_right, insort

import orjson
import sqlite_utils

from app.store import db as database
from app.store.segment_sql import json_path, known_since_sql
from app.store.segments import SegmentsRepo

_NOTES = "temp.nudge_people_changed"
_SETUP = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_NOTES.split('.')[1]} (id INTEGER NOT NULL)",
    "CREATE TEMP TRIGGER IF NOT EXISTS nudge_people_inserted AFTER INSERT ON main.people "
    "BEGIN INSERT INTO nudge_people_changed (id) VALUES (new.id); END",
    "CREATE TEMP TRIGGER IF NOT EXISTS nudge_people_updated AFTER UPDATE ON main.people "
    "BEGIN INSERT INTO nudge_people_changed (id) VALUES (new.id); END",
    "CREATE TEMP TRIGGER IF NOT EXISTS nudge_people_deleted AFTER DELETE ON main.people "
    "BEGIN INSERT INTO nudge_people_changed (id) VALUES (old.id); END",
)
_KNOWN = ""  # the key of the known-since map among the attribute paths ("" is no path)


class _Instants:
    """One map of instants: person id -> instant (ms UTC), and the same pairs in instant
    order, so that a range is found by bisection instead of a pass over everyone (a
    range of an hour holds a handful of 100k people)."""

    def __init__(self, found: dict[int, int]) -> None:
        self.by_person = found
        self.ordered = sorted((at, pid) for pid, at in found.items())

    def between(self, low: int, high: int) -> set[int]:
        """People whose instant is in `[low, high]`."""
        first = bisect_left(self.ordered, (low,))  # (low,) sorts before every (low, pid)
        last = bisect_right(self.ordered, (high, float("inf")))
        return {pid for _, pid in self.ordered[first:last]}

    def replace(self, ids: list[int], fresh: dict[int, int]) -> None:
        """Forget the instants of `ids`; take theirs from `fresh` (those that have one)."""
        for pid in ids:
            at = self.by_person.pop(pid, None)
            if at is not None:
                del self.ordered[bisect_left(self.ordered, (at, pid))]
        for pid, at in fresh.items():
            self.by_person[pid] = at
            insort(self.ordered, (at, pid))


class IndexedSegmentsRepo(SegmentsRepo):
    """`SegmentsRepo` whose `attribute_instant_between` and `known_since_between` read a
    per-person map of instants (ms UTC) instead of scanning every person.

    A map is built by one scan the first time a path is asked about; later writes to
    `people` are picked up through the triggers before each answer.
    """

    def __init__(self, db: sqlite_utils.Database) -> None:
        super().__init__(db)
        # Per attribute path ("" for known-since): each person's instant, where there is one.
        self._maps: dict[str, _Instants] = {}
        self._rollbacks = database.rollbacks

    def attribute_instant_between(self, path: str, low: int, high: int) -> set[int]:
        """People whose attribute at `path`, read as an instant, is in `[low, high]`."""
        return self._map(path).between(low, high)

    def known_since_between(self, low: int, high: int) -> set[int]:
        """People first known (see `known_since_sql`) at `low <= t <= high`."""
        return self._map(_KNOWN).between(low, high)

    def _map(self, key: str) -> _Instants:
        if not self._maps:
            # The triggers go in with the first map (until then, nothing to keep).
            for statement in _SETUP:
                self._conn.execute(statement)
        self._catch_up()
        found = self._maps.get(key)
        if found is None:
            found = self._maps[key] = _Instants(self._read(key, None))
        return found

    def _catch_up(self) -> None:
        """Read again the people written since the last answer."""
        if database.rollbacks != self._rollbacks:
            self._rollbacks = database.rollbacks
            self._conn.execute(f"DELETE FROM {_NOTES}")
            for key in self._maps:
                self._maps[key] = _Instants(self._read(key, None))
            return
        changed = sorted({r[0] for r in self._conn.execute(f"SELECT id FROM {_NOTES}")})
        if not changed:
            return
        self._conn.execute(f"DELETE FROM {_NOTES}")
        for key, found in self._maps.items():
            found.replace(changed, self._read(key, changed))

    def _read(self, key: str, ids: list[int] | None) -> dict[int, int]:
        if key == _KNOWN:
            expression, params = known_since_sql()
        else:
            jp = json_path(key)
            expression = "nudge_instant(json_type(p.attributes, ?), json_extract(p.attributes, ?))"
            params = [jp, jp]
        sql = f"SELECT p.id, {expression} FROM people p"
        if ids is not None:
            sql += " WHERE p.id IN (SELECT value FROM json_each(?))"
            params = [*params, orjson.dumps(ids).decode()]
        rows: sqlite3.Cursor = self._conn.execute(sql, params)
        return {pid: at for pid, at in rows if at is not None}
