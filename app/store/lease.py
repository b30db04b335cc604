"""The scheduler lease (one sender at a time) and small named values (kept secrets)."""

from __future__ import annotations

import sqlite_utils


class LeaseRepo:
    """The single lease row. Call inside `write_transaction` (BEGIN IMMEDIATE serialises
    two processes trying at once)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def acquire(self, holder: str, now: int, ttl_ms: int) -> bool:
        """Take or renew the lease until `now + ttl_ms` (ms UTC).

        Returns:
            True when `holder` holds it now: it held it already, nobody did, or the
            previous holder's lease had expired.
        """
        self._conn.execute(
            "INSERT OR IGNORE INTO scheduler_lease (id, holder, expires_at) VALUES (1, ?, ?)",
            (holder, now + ttl_ms),
        )
        cursor = self._conn.execute(
            "UPDATE scheduler_lease SET holder = ?, expires_at = ? "
            "WHERE id = 1 AND (holder = ? OR expires_at < ?)",
            (holder, now + ttl_ms, holder, now),
        )
        return cursor.rowcount == 1

    def release(self, holder: str) -> None:
        """Give the lease up (on a clean stop) so another process can take it at once."""
        self._conn.execute(
            "UPDATE scheduler_lease SET expires_at = 0 WHERE id = 1 AND holder = ?", (holder,)
        )

    def mark_tick(self, holder: str, at: int) -> None:
        """Record the holder's last finished tick."""
        self._conn.execute(
            "UPDATE scheduler_lease SET last_tick_at = ? WHERE id = 1 AND holder = ?", (at, holder)
        )

    def info(self) -> tuple[str, int, int | None] | None:
        """(holder, expires_at, last_tick_at), or None when nobody ever held it."""
        row = self._conn.execute(
            "SELECT holder, expires_at, last_tick_at FROM scheduler_lease WHERE id = 1"
        ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]), row[2])


class KvRepo:
    """Small named text values."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def get(self, name: str) -> str | None:
        """A value, or None."""
        row = self._conn.execute("SELECT value FROM kv WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_default(self, name: str, value: str) -> str:
        """Store `value` unless `name` has one; return the stored value."""
        self._conn.execute("INSERT OR IGNORE INTO kv (name, value) VALUES (?, ?)", (name, value))
        stored = self.get(name)
        assert stored is not None
        return stored
