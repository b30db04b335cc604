"""Storage adapter: the only package that speaks SQL (sqlite-utils over one SQLite file)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import sqlite_utils

from app.store.activity import ActivityRepo, ActivityRow
from app.store.campaigns import CampaignsRepo
from app.store.catalogue import CatalogueRepo, FunnelsRepo, NameSummary
from app.store.db import open_database, open_for_reading, open_readonly, write_transaction
from app.store.deliveries import DeliveriesRepo
from app.store.events import EventRow, EventsRepo
from app.store.journeys import JourneysRepo
from app.store.lease import KvRepo, LeaseRepo
from app.store.live import LiveRepo
from app.store.offsets import OffsetsRepo
from app.store.people import PeopleRepo
from app.store.segment_sql import Compiler
from app.store.segments import SegmentsRepo, StoredSegment
from app.store.suppressions import SuppressionsRepo, email_key, id_key
from app.store.timeline import TimelineRepo

#: A scratch database's settings (`Store.open_scratch`).
_SCRATCH_PRAGMAS = (
    "PRAGMA journal_mode=MEMORY",
    "PRAGMA synchronous=OFF",
    "PRAGMA cache_size=-131072",  # 128 MB
    "PRAGMA temp_store=MEMORY",
)


class Store:
    """One database and its repositories.

    Args:
        db: an open database (see `open_database`).
    """

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.people = PeopleRepo(db)
        self.events = EventsRepo(db)
        self.activity = ActivityRepo(db)
        self.suppressions = SuppressionsRepo(db)
        self.offsets = OffsetsRepo(db)
        self.segments = SegmentsRepo(db)
        self.journeys = JourneysRepo(db)
        self.deliveries = DeliveriesRepo(db)
        self.campaigns = CampaignsRepo(db)
        self.lease = LeaseRepo(db)
        self.kv = KvRepo(db)
        # Read-only views for the console.
        self.live = LiveRepo(db)
        self.catalogue = CatalogueRepo(db)
        self.funnels = FunnelsRepo(db)
        self.timeline = TimelineRepo(db)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open the database at `path` (`:memory:` for a scratch one).

        Raises:
            ConfigError: when it cannot be opened.
        """
        return cls(open_database(path))

    @classmethod
    def open_scratch(cls, path: str | Path) -> Store:
        """Open a throwaway database that one connection writes (a simulation's): no
        durability (journal in memory, no sync), a 128 MB cache. Savepoints still roll
        back (the journal stays), so a rejected operation leaves nothing.

        Raises:
            ConfigError: when it cannot be opened.
        """
        store = cls(open_database(path))
        for pragma in _SCRATCH_PRAGMAS:
            store.db.conn.execute(pragma)
        return store

    @classmethod
    def open_readonly(cls, path: str | Path) -> Store:
        """Open an existing database for reading only (see `open_readonly`).

        Raises:
            ConfigError: when it cannot be opened.
        """
        return cls(open_readonly(path))

    @classmethod
    def open_for_reading(cls, path: str | Path) -> Store:
        """Open an existing database for a command that only reads it (see
        `open_for_reading`): read-only when the file or its folder is.

        Raises:
            ConfigError: when it does not exist, or cannot be opened.
        """
        return cls(open_for_reading(path))

    def transaction(self) -> AbstractContextManager[None]:
        """All writes in the block land together or not at all (`write_transaction`)."""
        return write_transaction(self.db)

    def commit_and_begin(self) -> None:
        """Commit what is open and begin the next transaction: a long run of writes that
        shares its commits (`transaction` blocks inside it become savepoints)."""
        self.commit_open()
        self.db.conn.execute("BEGIN")

    def commit_open(self) -> None:
        """Commit the open transaction, if any."""
        if self.db.conn.in_transaction:
            self.db.conn.commit()

    def close(self) -> None:
        """Close the connection (what is not committed is dropped)."""
        self.db.close()


__all__ = [
    "ActivityRow",
    "Compiler",
    "EventRow",
    "NameSummary",
    "Store",
    "StoredSegment",
    "email_key",
    "id_key",
    "open_database",
    "open_for_reading",
    "open_readonly",
    "write_transaction",
]
