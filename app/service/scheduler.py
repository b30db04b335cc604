"""The scheduler: what makes Nudge run unattended. One object, two front ends (the
console drives `tick` from a worker; `nudge serve` runs `run`).

A tick (a) advances due journeys, (b) sweeps time-based segment membership and lets
segment-triggered campaigns react, (c) sends due deliveries. Only the holder of the
lease row sends; a holder that dies stops renewing and another process takes over once
the lease expires, so two processes never send the same delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.clock import Clock
from app.service.outbox import Outbox, SendReport
from app.service.workspace import Workspace

#: A lease outlives a few missed ticks, not a dead process for long (`lease_seconds`).
LEASE_MS = 15_000


@dataclass(slots=True)
class TickReport:
    """What one tick did.

    Attributes:
        holder: whether this process held the lease (only then does it do anything).
        steps, entered, queued: from advancing journeys.
        moves: segment moves found by the sweep.
        sending: the outbox report.
        next_due_at: the earliest next journey step or delivery attempt, ms UTC.
        errors: one line per problem (a tick never raises for them).
    """

    at: int
    holder: bool = False
    steps: int = 0
    entered: int = 0
    queued: int = 0
    moves: int = 0
    sending: SendReport = field(default_factory=SendReport)
    next_due_at: int | None = None
    errors: list[str] = field(default_factory=list)


def default_holder() -> str:
    """A name for this process: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Scheduler:
    """Ticks the workspace: journeys, segment sweep, outbox.

    Args:
        workspace: store, segments, engine.
        outbox: sends deliveries.
        clock: the time each tick acts at.
        holder: this process's name in the lease.
        concurrency: messages on the wire at once (the SMTP pool size).
        batch: most deliveries handled per tick.
        lease_ms: how long the lease lasts without renewal; it is renewed at each tick and
            before each message, so a holder that dies loses it this long afterwards.
    """

    def __init__(
        self,
        workspace: Workspace,
        outbox: Outbox,
        clock: Clock,
        holder: str | None = None,
        concurrency: int = 4,
        batch: int = 500,
        lease_ms: int = LEASE_MS,
    ) -> None:
        self.workspace = workspace
        self.outbox = outbox
        self.clock = clock
        self.holder = holder or default_holder()
        self.concurrency = concurrency
        self.batch = batch
        self.lease_ms = lease_ms
        # When this process last started holding the lease (None: it does not hold it).
        self._held_since: int | None = None

    def _lease(self, now: int) -> bool:
        store = self.workspace.store
        with store.transaction():
            return store.lease.acquire(self.holder, now, self.lease_ms)

    async def tick(
        self, now: int | None = None, *, sweep: bool = True, dates: bool = True
    ) -> TickReport:
        """Do everything due at `now` (default: the clock's), if this process holds the
        lease. Never raises for a problem in the data: it is reported instead.

        Args:
            sweep, dates: run the segment sweep and the date-trigger scan (both read
                every person). Live ticks do both; the simulator, which ticks at every
                due instant, does them on its sweep instants only.
        """
        at = self.clock.now_ms() if now is None else now
        report = TickReport(at)
        if not self._lease(at):
            self._held_since = None
            return report
        report.holder = True
        if self._held_since is None:
            self._held_since = at
        # Rows another process left in `sending` are resent only once this process has
        # held the lease for a whole lease period: a previous holder that merely lost
        # the lease (a slow server) has settled its in-flight messages by then, and one
        # that died never will (then the resend is the ambiguous case of invariant 3).
        settled = at - self._held_since >= self.lease_ms
        ws = self.workspace
        advanced = ws.engine.advance(at, dates=dates)
        report.steps, report.entered, report.queued = (
            advanced.steps,
            advanced.entered,
            advanced.queued,
        )
        moves = ws.segments.sweep_moves(at) if sweep else []
        if moves:
            with ws.store.transaction():
                ws.engine.on_moves(moves, at)
        report.moves = len(moves)

        # Renewed before each message too: a pass longer than the lease (a slow server, a
        # low rate limit) stops sending the moment the lease is lost, rather than
        # racing the process that took over.
        def keep_sending() -> bool:
            return self._lease(self.clock.now_ms() if now is None else at)

        if not keep_sending():
            return report
        report.sending = await self.outbox.send_due(
            at, self.batch, self.concurrency, keep_sending=keep_sending, resend_stale=settled
        )
        with ws.store.transaction():
            ws.store.lease.mark_tick(self.holder, at)
        journeys_due = ws.store.journeys.next_due()
        deliveries_due = ws.store.deliveries.next_attempt()
        dues = [d for d in (journeys_due, deliveries_due) if d is not None]
        report.next_due_at = min(dues) if dues else None
        return report

    async def run(
        self,
        stop: asyncio.Event,
        interval_s: float,
        on_tick: Callable[[TickReport], None] | None = None,
        before_tick: Callable[[], None] | None = None,
    ) -> None:
        """Tick until `stop` is set; the next tick is armed after the last finishes. When
        there is more due right away (a full batch), the next tick comes at once."""
        try:
            while not stop.is_set():
                if before_tick is not None:
                    before_tick()
                try:
                    report = await self.tick()
                except Exception as exc:  # a daemon outlives one bad tick
                    # E.g. the database stayed locked past the busy timeout: every change
                    # of the tick was one transaction, so nothing is half-done; try again.
                    report = TickReport(
                        self.clock.now_ms(), errors=[f"{type(exc).__name__}: {exc}"]
                    )
                if on_tick is not None:
                    on_tick(report)
                busy = report.sending.handled >= self.batch
                if busy:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)
        finally:
            self.release()

    def release(self) -> None:
        """Give the lease up (a clean stop), so another process can send at once."""
        with self.workspace.store.transaction():
            self.workspace.store.lease.release(self.holder)
