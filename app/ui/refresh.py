"""Refreshing aggregate views (campaign counts, funnels) without hogging the interface
thread: a refresh runs only after live data changed, and waits at least ten times as
long as the last one took, so on a database where counting takes 200 ms the console
spends at most a tenth of its time on it."""

from __future__ import annotations

import time
from collections.abc import Callable


class PacedRefresh:
    """Runs `action` when asked to and it is due.

    Args:
        action: the refresh (on the interface thread).
        floor_s: the shortest interval between two refreshes, seconds.
        share: the most of the time the refresh may take (0.1: a tenth).
        timer: seconds from a monotonic clock (a duration meter, not the time of day).
    """

    def __init__(
        self,
        action: Callable[[], object],
        floor_s: float = 2.0,
        share: float = 0.1,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.action = action
        self.floor_s = floor_s
        self.share = share
        self.timer = timer
        self.stale = False
        self._cost = 0.0
        self._last = timer()

    def mark_stale(self, *_: object) -> None:
        """Something the view shows may have changed."""
        self.stale = True

    def tick(self) -> None:
        """Refresh if stale and due (call from a timer)."""
        now = self.timer()
        wait = max(self.floor_s, self._cost / self.share)
        if not self.stale or now - self._last < wait:
            return
        self.stale = False
        self.action()
        self._last = self.timer()
        self._cost = self._last - now
