"""Each database gets its own random id (mixed into Message-IDs)."""

from __future__ import annotations

import re
from pathlib import Path

from app.store import Store


def test_every_database_has_its_own_stable_workspace_id(tmp_path: Path) -> None:
    first = Store.open(tmp_path / "a.db")
    a = first.kv.get("workspace_id")
    first.close()
    b = Store.open(tmp_path / "b.db").kv.get("workspace_id")
    assert a is not None and re.fullmatch(r"[0-9a-f]{16}", a)
    assert b is not None and a != b
    # Reopening keeps it: the Message-IDs of retries must not change.
    assert Store.open(tmp_path / "a.db").kv.get("workspace_id") == a
