"""What a person's timeline and the people search read, page by page (keyset paging on
each source's own order, so a person with a million events costs one page)."""

from __future__ import annotations

from typing import Any

import orjson
import sqlite_utils

from app.core.models import ActivityEntry, Delivery, Event, Person
from app.store.deliveries import _COLUMNS as _DELIVERY_COLUMNS
from app.store.deliveries import _delivery
from app.store.people import _COLUMNS as _PEOPLE_COLUMNS
from app.store.people import _person

_EVENT_COLUMNS = (
    "seq, person_id, anonymous_id, user_id, user_email, type, name, properties, timestamp, "
    "received_at, dedupe_key"
)
#: A cursor past every row: (time, id) pairs compare below it.
TOP: tuple[int, int] = (2**62, 2**62)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class TimelineRepo:
    """Read-only pages of one person's events, decisions and deliveries; people search."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def events_before(self, person_id: int, cursor: tuple[int, int], limit: int) -> list[Event]:
        """A person's events with (timestamp, seq) below `cursor`, newest first."""
        rows = self._conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE person_id = ? "
            "AND (timestamp < ? OR (timestamp = ? AND seq < ?)) "
            "ORDER BY timestamp DESC, seq DESC LIMIT ?",
            (person_id, cursor[0], cursor[0], cursor[1], limit),
        )
        return [
            Event(r[0], r[1], r[2], r[3], r[4], r[5], r[6], orjson.loads(r[7]), r[8], r[9], r[10])
            for r in rows
        ]

    def activity_before(
        self, person_id: int, cursor: tuple[int, int], limit: int
    ) -> list[ActivityEntry]:
        """A person's decisions with (at, id) below `cursor`, newest first."""
        rows = self._conn.execute(
            "SELECT id, at, person_id, kind, campaign, step, detail FROM activity "
            "WHERE person_id = ? AND (at < ? OR (at = ? AND id < ?)) "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (person_id, cursor[0], cursor[0], cursor[1], limit),
        )
        return [ActivityEntry(r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6])) for r in rows]

    def deliveries_before(
        self, person_id: int, cursor: tuple[int, int], limit: int
    ) -> list[Delivery]:
        """A person's deliveries with (created_at, id) below `cursor`, newest first."""
        rows = self._conn.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE person_id = ? "
            "AND (created_at < ? OR (created_at = ? AND id < ?)) "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (person_id, cursor[0], cursor[0], cursor[1], limit),
        )
        return [_delivery(r) for r in rows]

    def event_count(self, person_id: int) -> int:
        """How many events a person has."""
        row = self._conn.execute(
            "SELECT count(*) FROM events WHERE person_id = ?", (person_id,)
        ).fetchone()
        return int(row[0])

    def search_people(self, text: str, limit: int, after_id: int = 0) -> list[Person]:
        """People whose id, email or attributes (as JSON text) contain `text`
        (case-insensitive), in id order above `after_id`."""
        params: list[Any] = [after_id]
        where = "id > ?"
        if text:
            pattern = _like(text)
            where += (
                " AND (external_id LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\' "
                "OR attributes LIKE ? ESCAPE '\\')"
            )
            params += [pattern, pattern, pattern]
        rows = self._conn.execute(
            f"SELECT {_PEOPLE_COLUMNS} FROM people WHERE {where} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [_person(r) for r in rows]
