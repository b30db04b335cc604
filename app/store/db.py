"""Opening the one SQLite file, and the write transaction every change goes through."""

from __future__ import annotations

import os
import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

import sqlite_utils

from app.core.errors import ConfigError
from app.store.schema import MIGRATIONS
from app.store.segment_sql import sql_instant


def open_database(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) a Nudge database and bring its schema up to date.

    WAL journal (readers never block the writer), foreign keys on, `synchronous=NORMAL`
    (durable at checkpoints; measured 3x the throughput of FULL), a 64 MB page cache
    (the 2 MB default cost up to 1.8x on bulk inserts, PERFORMANCE.md) and a 5 s busy
    timeout so a second process waits instead of failing.

    Args:
        path: a file path, or `:memory:` for a private in-memory database.

    Raises:
        ConfigError: when the file cannot be opened or is not a SQLite database.
    """
    memory = str(path) == ":memory:"
    if not memory and Path(path).exists() and not _writable(Path(path)):
        # SQLite would quietly open it read-only, and the first write would fail.
        raise ConfigError(
            f"cannot open database {path}: the file or its folder is read-only "
            "(this command writes)"
        )
    try:
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(memory=True) if memory else sqlite_utils.Database(path)
        conn = db.conn
        if not memory:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
        # The segment compiler reads instants through the very function the Python
        # evaluator uses, so the two cannot disagree on what counts as a time.
        conn.create_function("nudge_instant", 2, sql_instant, deterministic=True)
        MIGRATIONS.apply(db)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise ConfigError(f"cannot open database {path}: {exc}") from None
    return db


def _writable(target: Path) -> bool:
    """Whether this process may write the file and create its -wal beside it."""
    return os.access(target, os.W_OK) and os.access(target.resolve().parent, os.W_OK)


def open_readonly(path: str | Path) -> sqlite_utils.Database:
    """Open an existing Nudge database for reading only (`mode=ro`): nothing, not even
    a migration, can write to it (the simulator reads the live file this way).

    Raises:
        ConfigError: when the file does not exist or is not a SQLite database.
    """
    target = Path(path)
    if not target.is_file():
        raise ConfigError(f"cannot open database {path}: no such file")
    try:
        try:
            conn = _connect_readonly(target, "mode=ro")
        except sqlite3.OperationalError:
            # A WAL database needs its -shm file, which a reader cannot create in a
            # folder it may not write to. With no -wal content to miss, reading the
            # file as an immutable snapshot is exact.
            wal = target.with_name(target.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise
            conn = _connect_readonly(target, "mode=ro&immutable=1")
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"cannot open database {path}: {exc}") from None
    return sqlite_utils.Database(conn)


def _connect_readonly(target: Path, query: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{target.resolve().as_uri()}?{query}", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA query_only=ON")
        conn.create_function("nudge_instant", 2, sql_instant, deterministic=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def open_for_reading(path: str | Path) -> sqlite_utils.Database:
    """Open an existing Nudge database for a command that only reads it.

    A file this process may write is opened as `open_database` does (so a pending
    migration is applied). A read-only file, or one in a read-only folder (a backup, a
    reporting user), is opened with `open_readonly`, which works as long as its schema
    is current.

    Raises:
        ConfigError: when the file does not exist, cannot be read, or is read-only and
            needs a migration first.
    """
    target = Path(path)
    if not target.is_file():
        raise ConfigError(f"cannot open database {path}: no such file")
    if _writable(target):
        try:
            return open_database(target)
        except ConfigError as exc:
            if "readonly" not in exc.message:
                raise
    db = open_readonly(target)
    pending = MIGRATIONS.pending(db)
    if pending:
        db.close()
        raise ConfigError(
            f"database {path} is read-only and needs a schema migration "
            f"({', '.join(m.name for m in pending)}); open it once with write access "
            "(any nudge command run by its owner)"
        )
    return db


#: How many `write_transaction` blocks have been rolled back (whole or to a savepoint),
#: by this process. Whatever mirrors the database in memory (`instant_index`) starts
#: over when it moves: the rolled-back writes are gone, its copy of them is not.
rollbacks = 0

_SAVEPOINT = "SAVEPOINT nudge_nested"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT nudge_nested"
_RELEASE = "RELEASE SAVEPOINT nudge_nested"


def write_transaction(db: sqlite_utils.Database) -> AbstractContextManager[None]:
    """Run the block as one write transaction: all of it lands, or none of it.

    `BEGIN IMMEDIATE` takes the write lock up front, so a second writer (the watch
    folder, the API) waits on the busy timeout instead of failing half-way.
    Nested use joins the outer transaction through a savepoint.
    """
    return _WriteTransaction(db.conn)


class _WriteTransaction:
    """One `write_transaction` block. A class rather than a generator-based context
    manager: blocks are entered hundreds of thousands of times in a simulation (every
    operation, tick and message), and the generator's machinery cost as much as the
    savepoint itself."""

    __slots__ = ("_conn", "_nested")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._nested = False

    def __enter__(self) -> None:
        # Nested: a savepoint of one fixed name. Nested ones stack, and RELEASE /
        # ROLLBACK TO take the innermost of that name (SQLite's rule), so this is
        # sqlite-utils' `atomic()` without a fresh random name (a statement compiled
        # anew) per use.
        self._nested = self._conn.in_transaction
        self._conn.execute(_SAVEPOINT if self._nested else "BEGIN IMMEDIATE")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        global rollbacks
        conn = self._conn
        if kind is None:
            if self._nested:
                conn.execute(_RELEASE)
            else:
                conn.commit()
            return
        rollbacks += 1
        if not self._nested:
            conn.rollback()
        elif conn.in_transaction:
            # A RAISE(ROLLBACK) can end the whole transaction, savepoints and all.
            conn.execute(_ROLLBACK_TO)
            conn.execute(_RELEASE)
        # Returning None lets the exception go on.
