"""Injected time (DESIGN.md invariant 2): only `SystemClock` reads the wall clock.

All times are integer milliseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time in ms since the epoch (UTC)."""

    def now_ms(self) -> int:
        """Return the current time, ms since the epoch, UTC."""
        ...


class SystemClock:
    """The wall clock. The one place in Nudge allowed to read it."""

    def now_ms(self) -> int:
        """Return the wall-clock time, ms since the epoch, UTC."""
        return time.time_ns() // 1_000_000


class FixedClock:
    """A clock that stays where it is told: tests and replays.

    Args:
        at_ms: the instant it shows, ms since the epoch, UTC.
    """

    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms

    def now_ms(self) -> int:
        """Return the fixed instant, ms since the epoch, UTC."""
        return self.at_ms

    def advance(self, ms: int) -> None:
        """Move the clock forward by `ms` milliseconds (negative moves it back)."""
        self.at_ms += ms
