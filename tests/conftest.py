"""Shared fixtures: an in-memory store, a fixed clock, an ingestor over both."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.clock import FixedClock
from app.service.ingest import Ingestor
from app.store import Store

#: 2026-11-01T00:00:00Z: the "now" of every test that does not set its own.
NOW_MS = 1_793_491_200_000


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW_MS)


@pytest.fixture
def store() -> Iterator[Store]:
    s = Store.open(":memory:")
    yield s
    s.close()


@pytest.fixture
def ingestor(store: Store, clock: FixedClock) -> Ingestor:
    return Ingestor(store, clock)


@pytest.fixture
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in `tmp_path` with no nudge.toml or NUDGE_* from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("NUDGE_"):
            monkeypatch.delenv(name)
    return tmp_path
