"""One `nudge demo` per database and Maildir: a second run on files another run holds
is refused with one line and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.service.demo_lock import DemoInUse, demo_files, exclusive, lock_path


def _demo(db: Path, maildir: Path) -> list[str]:
    return ["demo", "--headless", "--hours", "1", "--people", "50", "--db", str(db),
            "--maildir", str(maildir)]  # fmt: skip


def test_a_second_demo_on_a_held_database_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    db, maildir = tmp_path / "data" / "demo.db", tmp_path / "maildir"
    with demo_files(db, maildir):
        db.write_bytes(b"the first demo's database")
        result = CliRunner().invoke(cli, _demo(db, maildir))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        f"Error: {db} is in use by another nudge demo (it would be rebuilt under it); "
        "pass --db to run this one on another file"
    ]
    assert db.read_bytes() == b"the first demo's database"
    assert lock_path(db).exists()


def test_a_second_demo_on_another_database_but_the_same_maildir_is_refused(
    tmp_path: Path,
) -> None:
    maildir = tmp_path / "maildir"
    with demo_files(tmp_path / "first.db", maildir):
        result = CliRunner().invoke(cli, _demo(tmp_path / "second.db", maildir))
    assert result.exit_code == 1
    assert "pass --maildir" in result.output
    assert not (tmp_path / "second.db").exists()


def test_the_lock_is_released_when_the_run_ends(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    second = exclusive(db, "held")
    with exclusive(db, "held"), pytest.raises(DemoInUse, match="^held$"), second:
        pass
    with exclusive(db, "held"):  # free again
        pass
    # An error inside the run releases it too.
    with pytest.raises(RuntimeError), exclusive(db, "held"):
        raise RuntimeError("boom")
    with exclusive(db, "held"):
        pass
