"""Suppressed identifiers: people deleted and kept from coming back (Customer.io suppress)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

_CHUNK = 500


def id_key(external_id: str) -> str:
    """The suppression key of an external id."""
    return f"id:{external_id}"


def email_key(email: str) -> str:
    """The suppression key of an email (case-insensitive)."""
    return f"email:{email.lower()}"


class SuppressionsRepo:
    """Reads and writes suppressed identifiers. Call writes inside `write_transaction`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def add(self, keys: Iterable[str], at: int) -> None:
        """Suppress these keys (see `id_key`, `email_key`) from `at` (ms UTC)."""
        self._conn.executemany(
            "INSERT OR IGNORE INTO suppressions (identifier, created_at) VALUES (?, ?)",
            ((key, at) for key in keys),
        )

    def remove(self, keys: Iterable[str]) -> None:
        """Lift the suppression of these keys."""
        self._conn.executemany(
            "DELETE FROM suppressions WHERE identifier = ?", ((key,) for key in keys)
        )

    def present(self, keys: Iterable[str]) -> set[str]:
        """Those of `keys` that are suppressed."""
        wanted = list(keys)
        found: set[str] = set()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT identifier FROM suppressions WHERE identifier IN ({marks})"
            found.update(row[0] for row in self._conn.execute(sql, chunk))
        return found

    def count(self) -> int:
        """How many identifiers are suppressed."""
        return int(self._conn.execute("SELECT count(*) FROM suppressions").fetchone()[0])
