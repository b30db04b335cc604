"""AcceleratedClock: virtual time at `rate` times real time, continuous across changes."""

from __future__ import annotations

import pytest

from app.core import clock as clock_module
from app.core.clock import AcceleratedClock

START = 1_790_000_000_000


@pytest.fixture
def real(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A hand-driven monotonic clock: set `real[0]` (ns)."""
    now = [5_000_000_000]
    monkeypatch.setattr(clock_module.time, "monotonic_ns", lambda: now[0])
    return now


def test_virtual_time_runs_rate_times_real_time(real: list[int]) -> None:
    clock = AcceleratedClock(START, rate=3600)
    assert clock.now_ms() == START
    real[0] += 2_000_000_000  # two real seconds = two virtual hours
    assert clock.now_ms() == START + 2 * 3_600_000


def test_changing_the_rate_keeps_time_continuous(real: list[int]) -> None:
    clock = AcceleratedClock(START, rate=3600, rates=(60, 3600, 7200))
    real[0] += 1_000_000_000
    assert clock.faster() == 7200
    assert clock.now_ms() == START + 3_600_000  # no jump at the change
    real[0] += 1_000_000_000
    assert clock.now_ms() == START + 3_600_000 + 7_200_000
    assert clock.faster() == 7200  # the top stays the top
    assert clock.slower() == 3600
    assert clock.slower() == 60
    assert clock.slower() == 60
    assert clock.rate == 60
    assert clock.describe() == "1 min/s"


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        AcceleratedClock(START, rate=0)
