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


class AcceleratedClock:
    """Virtual time that runs `rate` times as fast as real time, from a start instant:
    the demo's clock (one demo hour per real second is `rate=3600`).

    Changing the rate keeps the virtual time continuous: the clock is re-anchored at
    the instant of the change. Reads the monotonic clock, so a wall-clock jump never
    moves virtual time.

    Args:
        start_ms: the virtual instant it shows now, ms since the epoch, UTC.
        rate: virtual seconds per real second (> 0).
        rates: the steps `faster()` and `slower()` move between.
    """

    RATES: tuple[float, ...] = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0)

    def __init__(
        self, start_ms: int, rate: float = 3600.0, rates: tuple[float, ...] | None = None
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rates = tuple(sorted(rates or self.RATES))
        self._anchor_virtual = start_ms
        self._anchor_real = time.monotonic_ns()
        self._rate = float(rate)

    @property
    def rate(self) -> float:
        """Virtual seconds per real second."""
        return self._rate

    def now_ms(self) -> int:
        """Return the virtual time, ms since the epoch, UTC."""
        elapsed_ns = time.monotonic_ns() - self._anchor_real
        return self._anchor_virtual + int(elapsed_ns * self._rate) // 1_000_000

    def set_rate(self, rate: float) -> None:
        """Run at `rate` from now on (virtual time does not jump)."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._anchor_virtual = self.now_ms()
        self._anchor_real = time.monotonic_ns()
        self._rate = float(rate)

    def faster(self) -> float:
        """Step up to the next rate in `rates` (stays at the top); returns the rate."""
        higher = [r for r in self.rates if r > self._rate]
        self.set_rate(higher[0] if higher else self._rate)
        return self._rate

    def slower(self) -> float:
        """Step down to the previous rate in `rates` (stays at the bottom); returns it."""
        lower = [r for r in self.rates if r < self._rate]
        self.set_rate(lower[-1] if lower else self._rate)
        return self._rate

    def describe(self) -> str:
        """The rate for a header: `1 h/s`, `15 min/s`, `1 min/s`."""
        seconds = self._rate
        if seconds >= 3600:
            return f"{seconds / 3600:g} h/s"
        if seconds >= 60:
            return f"{seconds / 60:g} min/s"
        return f"{seconds:g}x"
