"""Campaign versions as loaded, and the engine's marks (e.g. last date-trigger scan)."""

from __future__ import annotations

import sqlite_utils


class CampaignsRepo:
    """Reads and writes campaign versions and engine marks."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def save_version(self, campaign_id: str, hash_: str, source: str, file: str, at: int) -> None:
        """Keep a loaded version's source (once per hash)."""
        self._conn.execute(
            "INSERT OR IGNORE INTO campaign_versions (campaign_id, hash, source, file, loaded_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (campaign_id, hash_, source, file, at),
        )

    def version_source(self, campaign_id: str, hash_: str) -> str | None:
        """The source text of a stored version."""
        row = self._conn.execute(
            "SELECT source FROM campaign_versions WHERE campaign_id = ? AND hash = ?",
            (campaign_id, hash_),
        ).fetchone()
        return None if row is None else str(row[0])

    def latest_version(self, campaign_id: str) -> tuple[str, str, str] | None:
        """(hash, source, file) of the version of a campaign loaded last (the running
        one), or None when it was never loaded."""
        row = self._conn.execute(
            "SELECT hash, source, file FROM campaign_versions WHERE campaign_id = ? "
            "ORDER BY loaded_at DESC, rowid DESC LIMIT 1",
            (campaign_id,),
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]))

    def mark(self, name: str) -> int | None:
        """A named instant (ms UTC) the engine keeps, or None."""
        row = self._conn.execute(
            "SELECT value FROM engine_marks WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else int(row[0])

    def set_mark(self, name: str, value: int) -> None:
        """Set a named instant."""
        self._conn.execute(
            "INSERT INTO engine_marks (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )
