"""Byte offsets reached per watched file, so a restart resumes exactly where it stopped."""

from __future__ import annotations

import sqlite_utils


class OffsetsRepo:
    """Reads and writes watch-folder offsets. Write inside the same transaction as the
    events of those bytes, so offset and events land together or not at all."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def get(self, path: str) -> int:
        """The byte offset already ingested from `path` (0 for a new file)."""
        row = self._conn.execute(
            "SELECT offset FROM watch_offsets WHERE path = ?", (path,)
        ).fetchone()
        return int(row[0]) if row else 0

    def set(self, path: str, offset: int, at: int) -> None:
        """Record that `path` has been ingested up to byte `offset`, at `at` (ms UTC)."""
        self._conn.execute(
            "INSERT INTO watch_offsets (path, offset, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET offset = excluded.offset, "
            "updated_at = excluded.updated_at",
            (path, offset, at),
        )
