"""Which commands may create a database, and reading one this process may not write.

A command that only reads refuses a missing database (a mistyped --db must not create one,
nor its folder); a command that writes creates it. A read-only file or folder (a backup, a
reporting user) can still be read while its schema is current.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.store import Store
from tests.cli_kit import run

LOG = [
    {"type": "identify", "userId": "u1", "traits": {"email": "u1@example.com"},
     "timestamp": "2026-10-01T09:00:00Z"},
    {"type": "track", "userId": "u1", "event": "signed_up", "timestamp": "2026-10-01T09:00:01Z"},
    {"type": "track", "userId": "u2", "event": "app_login", "timestamp": "2026-10-02T09:00:00Z"},
]  # fmt: skip

MISSING = "Error: no database at {} (run nudge ingest or nudge demo first, or pass --db)\n"

#: Every command that only reads, with the arguments it needs besides --db.
READERS = [
    ("stats",),
    ("people", "show", "u1"),
    ("people", "list"),
    ("journeys", "show", "u1"),
    ("deliveries", "list"),
    ("deliveries", "show", "1"),
    ("deliveries", "retry", "1"),
    ("segments", "list"),
    ("segments", "show", "any"),
    ("campaigns", "list"),
    ("campaigns", "show", "any"),
    ("export", "-"),
    ("send-test", "c", "s", "u1"),
    ("advance",),
    ("console",),
]


@pytest.fixture(autouse=True)
def _isolated(clean_cwd: Path) -> None:
    # The default campaigns folder; commands that ingest refuse to run without one.
    (clean_cwd / "campaigns").mkdir()


def ingest(db: str) -> None:
    log = Path("log.jsonl")
    log.write_text("".join(json.dumps(op) + "\n" for op in LOG))
    result = run("ingest", str(log), "--db", db)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a))
def test_a_reading_command_refuses_a_missing_database_and_creates_nothing(
    args: tuple[str, ...],
) -> None:
    result = run(*args, "--db", "typo/x.db")
    assert (result.exit_code, result.output) == (1, MISSING.format("typo/x.db"))
    assert not Path("typo").exists()


def test_without_db_the_default_database_is_not_created_either() -> None:
    result = run("campaigns", "show", "welcome")
    assert (result.exit_code, result.output) == (1, MISSING.format("data/nudge.db"))
    assert not Path("data").exists()


def test_a_writing_command_creates_the_database_and_its_folder() -> None:
    ingest("new/x.db")
    assert Path("new/x.db").is_file()
    assert json.loads(run("stats", "--json", "--db", "new/x.db").output)["events"] == 3


# -- read-only files ------------------------------------------------------------------------


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file or folder read-only for this process: chmod, or for root (whom modes do
    not stop) the immutable attribute; skip where neither is possible."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make {path} read-only here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def reads_work(db: str) -> None:
    stats = run("stats", "--json", "--db", db)
    assert stats.exit_code == 0, stats.output
    assert (json.loads(stats.output)["people"], json.loads(stats.output)["events"]) == (2, 3)
    person = run("people", "show", "u1", "--db", db)
    assert person.output.splitlines()[0].startswith("u1  email=u1@example.com"), person.output
    assert run("people", "list", "--db", db).exit_code == 0
    assert run("deliveries", "list", "--db", db).exit_code == 0
    assert run("journeys", "show", "u1", "--db", db).exit_code == 0


def test_a_read_only_file_can_be_read_and_not_written() -> None:
    ingest("ro.db")
    before = Path("ro.db").read_bytes()
    with read_only(Path("ro.db")):
        reads_work("ro.db")
        # A command that writes keeps its one-line error.
        ingest_again = run("ingest", "log.jsonl", "--db", "ro.db")
        assert ingest_again.exit_code == 1
        assert ingest_again.output == (
            "Error: cannot open database ro.db: the file or its folder is read-only "
            "(this command writes)\n"
        )
    assert Path("ro.db").read_bytes() == before


def test_a_database_in_a_read_only_folder_can_be_read() -> None:
    Path("backup").mkdir()
    ingest("backup/ro.db")
    gc.collect()  # the command's connection, so that closing this one checkpoints
    Store.open("backup/ro.db").close()
    # Closed cleanly: no -wal or -shm left beside it, and none can be made there.
    assert sorted(p.name for p in Path("backup").iterdir()) == ["ro.db"]
    with read_only(Path("backup")):
        reads_work("backup/ro.db")
    assert sorted(p.name for p in Path("backup").iterdir()) == ["ro.db"]


def test_a_read_only_database_that_needs_a_migration_says_so() -> None:
    ingest("old.db")
    store = Store.open("old.db")
    with store.transaction():
        store.db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm005_workspace_id'")
    store.close()
    with read_only(Path("old.db")):
        result = run("stats", "--db", "old.db")
    assert result.exit_code == 1
    assert result.output == (
        "Error: database old.db is read-only and needs a schema migration (m005_workspace_id); "
        "open it once with write access (any nudge command run by its owner)\n"
    )
