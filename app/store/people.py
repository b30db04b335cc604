"""The people table: rows in, `Person` out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson
import sqlite_utils

from app.core.models import Person

_COLUMNS = (
    "id, external_id, email, attributes, attribute_times, created_at, updated_at, "
    "suppressed, unsubscribed"
)
# SQLite's default limit on bound parameters is 999 on older builds.
_CHUNK = 500

#: The highest person id ever deleted (kv): ids are not reused.
_HIGH_WATER = "people_deleted_max_id"


def _person(row: Sequence[Any]) -> Person:
    return Person(
        id=row[0],
        external_id=row[1],
        email=row[2],
        attributes=orjson.loads(row[3]),
        attribute_times=orjson.loads(row[4]),
        created_at=row[5],
        updated_at=row[6],
        suppressed=bool(row[7]),
        unsubscribed=bool(row[8]),
    )


def _values(person: Person) -> tuple[Any, ...]:
    return (
        person.external_id,
        person.email,
        orjson.dumps(person.attributes).decode(),
        orjson.dumps(person.attribute_times).decode(),
        person.created_at,
        person.updated_at,
        int(person.suppressed),
        int(person.unsubscribed),
        person.id,
    )


class PeopleRepo:
    """Reads and writes people. Call writes inside `write_transaction`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def get(self, person_id: int) -> Person | None:
        """The person with this internal id, or None."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM people WHERE id = ?", (person_id,)
        ).fetchone()
        return _person(row) if row else None

    def by_external_id(self, external_id: str) -> Person | None:
        """The person with this external id, or None."""
        found = self.find_many([external_id], [])
        return found[0] if found else None

    def by_email(self, email: str) -> Person | None:
        """The person with this email (case-insensitive), or None."""
        found = self.find_many([], [email])
        return found[0] if found else None

    def find_many(self, external_ids: Iterable[str], emails: Iterable[str]) -> list[Person]:
        """Everyone whose external id or email (case-insensitive) is among those given."""
        found: dict[int, Person] = {}
        for column, keys in (("external_id", list(external_ids)), ("email", list(emails))):
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT {_COLUMNS} FROM people WHERE {column} IN ({marks})"
                for row in self._conn.execute(sql, chunk):
                    found.setdefault(row[0], _person(row))
        return list(found.values())

    def next_id(self) -> int:
        """The id the next new person gets (ids are allocated by the writer). Never the
        id of someone deleted or merged away: their deliveries and decisions keep that
        id, and a new person must not inherit them (their message limit, their log)."""
        row = self._conn.execute(
            "SELECT max(coalesce((SELECT max(id) FROM people), 0), "
            f"coalesce((SELECT CAST(value AS INTEGER) FROM kv WHERE name = '{_HIGH_WATER}'), 0))"
            " + 1"
        ).fetchone()
        return int(row[0])

    def insert_many(self, people: Iterable[Person]) -> None:
        """Insert new people with the ids already allocated to them."""
        self._conn.executemany(
            "INSERT INTO people (external_id, email, attributes, attribute_times, created_at, "
            "updated_at, suppressed, unsubscribed, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_values(p) for p in people),
        )

    def update_many(self, people: Iterable[Person]) -> None:
        """Write back every column of existing people."""
        self._conn.executemany(
            "UPDATE people SET external_id = ?, email = ?, attributes = ?, attribute_times = ?, "
            "created_at = ?, updated_at = ?, suppressed = ?, unsubscribed = ? WHERE id = ?",
            (_values(p) for p in people),
        )

    def set_flags(
        self, person_id: int, suppressed: bool | None = None, unsubscribed: bool | None = None
    ) -> None:
        """Set a person's suppressed (bouncing) or unsubscribed flag."""
        if suppressed is not None:
            self._conn.execute(
                "UPDATE people SET suppressed = ? WHERE id = ?", (int(suppressed), person_id)
            )
        if unsubscribed is not None:
            self._conn.execute(
                "UPDATE people SET unsubscribed = ? WHERE id = ?", (int(unsubscribed), person_id)
            )

    def delete(self, person_id: int) -> None:
        """Delete a person; their events go with them (ON DELETE CASCADE). Their id is
        never given again (`next_id`)."""
        self._conn.execute(
            "INSERT INTO kv (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET "
            "value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            (_HIGH_WATER, str(person_id)),
        )
        self._conn.execute("DELETE FROM people WHERE id = ?", (person_id,))

    def count(self) -> int:
        """How many people there are."""
        return int(self._conn.execute("SELECT count(*) FROM people").fetchone()[0])

    def page(self, after_id: int, limit: int) -> list[Person]:
        """Up to `limit` people with id above `after_id`, in id order (keyset pagination)."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM people WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return [_person(row) for row in rows]

    def iter_all(self) -> Iterator[Person]:
        """Every person, in id order."""
        for row in self._conn.execute(f"SELECT {_COLUMNS} FROM people ORDER BY id"):
            yield _person(row)
