"""A token bucket shared by every connection of a mailer: at most N messages per second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

MonotonicClock = Callable[[], float]
"""Seconds on a monotonic scale (the event loop's `time` by default)."""
Sleep = Callable[[float], Awaitable[None]]
"""Waits the given seconds (`asyncio.sleep` by default)."""


class RateLimiter:
    """Lets callers through at `rate_per_second` on average, `burst` at once after a pause.

    Implemented as GCRA (a token bucket kept as one "theoretical arrival time"): each
    caller reserves the next free slot before it sleeps, so concurrent callers never
    wake together and overshoot, and no lock is needed (nothing awaits between reading
    and moving the reservation). N callers arriving at once against a full bucket get
    through in (N - burst) / rate seconds.

    Args:
        rate_per_second: average messages per second; 0 or less means no limit.
        burst: how many may pass back to back after an idle spell (at least 1). 1 spaces
            every message by 1/rate, which keeps "at most rate per second" true over any
            one-second window to within one message.
        clock: monotonic seconds; default the running event loop's `time()`.
        sleep: the wait; default `asyncio.sleep`. Tests inject both to avoid real waits.

    Raises:
        ValueError: when `burst` is below 1.
    """

    def __init__(
        self,
        rate_per_second: float,
        burst: float = 1.0,
        *,
        clock: MonotonicClock | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate_per_second = rate_per_second
        self.burst = burst
        self._clock = clock
        self._sleep: Sleep = sleep or asyncio.sleep
        self._tat: float | None = None  # when the bucket would next be exactly full

    def now(self) -> float:
        """The limiter's clock, in monotonic seconds."""
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()

    async def acquire(self) -> float:
        """Wait until one more message may go.

        Returns:
            The seconds this caller waited (0.0 when it went straight through).
        """
        if self.rate_per_second <= 0:
            return 0.0
        interval = 1.0 / self.rate_per_second
        now = self.now()
        tat = now if self._tat is None else max(self._tat, now)
        # The earliest instant this caller conforms: up to `burst` slots may be early.
        start = max(now, tat - (self.burst - 1) * interval)
        self._tat = tat + interval
        wait = start - now
        if wait > 0:
            await self._sleep(wait)
            return wait
        return 0.0
