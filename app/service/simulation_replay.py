"""One simulation's scratch workspace: the production engine, segment keeper, scheduler
and outbox over a temporary database, a virtual clock stepped through every due instant,
and a recording mailer (DESIGN.md invariant 1). `simulation_runner` drives it over a
request's operations, in this process or in worker processes (`simulation_workers`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import orjson

from app.config import Settings
from app.core.campaigns import BroadcastTrigger, DateTrigger
from app.core.clock import FixedClock
from app.core.errors import NudgeError
from app.core.times import HOUR_MS
from app.delivery.recording import RecordingMailer
from app.service.engine import Engine
from app.service.ingest import BatchChanges, Ingestor
from app.service.outbox import Outbox
from app.service.scheduler import Scheduler, TickReport
from app.service.segments import SegmentKeeper
from app.service.simulate import SimulationCancelled
from app.service.simulation_inputs import apply_prior
from app.service.simulation_sources import MAX_PROBLEMS, Definitions, ReplayOp
from app.service.simulation_sweeps import SweepTimes
from app.service.workspace import Workspace
from app.store import Store
from app.store.due_watch import DueWatch
from app.store.instant_index import IndexedSegmentsRepo

#: Segments whose membership changes with time alone (and date triggers) are swept at
#: least this often in virtual time, on the hour, beside the due instants.
SWEEP_MS = HOUR_MS
#: Progress is reported every this many operations.
PROGRESS_EVERY = 1_000
#: Operations (and their ticks) per commit of the scratch database. Each operation and
#: each tick still runs in its own (nested) transaction, as live; only the commit is
#: shared, which nobody else can observe in a scratch file.
COMMIT_EVERY = 5_000
#: The scratch scheduler's lease never runs out between two virtual instants.
_LEASE_MS = 1 << 62
_HOLDER = "simulation"


class _SoleScheduler(Scheduler):
    """The production scheduler, but the scratch database has one sender: the lease,
    which never runs out in virtual time, is taken once instead of before every message
    (a write per message)."""

    _held = False

    def _lease(self, now: int) -> bool:
        if not self._held:
            self._held = super()._lease(now)
        return self._held


class Replay:
    """One simulation's scratch workspace and virtual clock.

    Args:
        settings: the workspace's settings (zone, limits, addresses).
        definitions: the campaigns (forced active) and the segments they use.
        database: the scratch database file.
        start: the virtual instant the campaigns go live at, ms UTC.
    """

    def __init__(
        self,
        settings: Settings,
        definitions: Definitions,
        database: Path,
        start: int,
        prior: Iterable[ReplayOp] = (),
        cancel: threading.Event | None = None,
    ) -> None:
        self.settings = settings.model_copy(
            update={"database": database, "secret_key": settings.secret_key or "simulation"}
        )
        self.clock = FixedClock(start)
        store = Store.open_scratch(database)
        # Date triggers and time-driven sweeps scan everyone's instants each hour of
        # virtual time: here they read a map kept current from the writes instead.
        store.segments = IndexedSegmentsRepo(store.db)
        self.store = store
        self.prior = apply_prior(store, self.clock, prior, cancel)
        self.clock.at_ms = start
        keeper = SegmentKeeper(store, definitions.segments, definitions.files)
        keeper.sync(start)
        engine = Engine(
            store, keeper, self.settings.zone, self.settings.trigger_max_age_hours * HOUR_MS
        )
        engine.load(definitions.versions, start)
        self.workspace = Workspace(
            self.settings, store, self.clock, keeper, engine, Ingestor(store, self.clock)
        )
        # Segment windows an event leaves at an exact instant are swept at that instant.
        self.windows = SweepTimes(store, keeper.conditions) if definitions.segments else None
        self.workspace.ingestor.on_change = self._on_change
        self.mailer = RecordingMailer()
        self.outbox = Outbox(store, engine, self.settings, self.mailer)
        # The recording mailer's copies are let go after each tick: the wire bytes
        # would be flattened for nobody (the message is still checked: `check_message`).
        self.outbox.flatten = False
        # One message at a time: the recording mailer answers at once, so the pool's
        # tasks would run one after the other anyway (see `_run_tick`).
        self.scheduler = _SoleScheduler(
            self.workspace,
            self.outbox,
            self.clock,
            holder=_HOLDER,
            lease_ms=_LEASE_MS,
            concurrency=1,
        )
        # Sweeps (and date triggers) need ticks even when nothing is due.
        self.sweeps = bool(definitions.segments) or any(
            isinstance(v.campaign.trigger, DateTrigger) for v in definitions.versions.values()
        )
        self.next_sweep = (start // SWEEP_MS + 1) * SWEEP_MS
        # Broadcasts go out at their own instants: each is a due instant of its own.
        self.broadcasts = sorted(
            v.campaign.trigger.broadcast.at
            for v in definitions.versions.values()
            if isinstance(v.campaign.trigger, BroadcastTrigger)
            and v.campaign.trigger.broadcast.at > start
        )
        self.next_due: int | None = None
        # The next due instant is followed from the writes (`DueWatch`); unknown at the
        # start and after a tick that found nothing to do, it is then asked for again.
        self.due_watch = DueWatch(store.db)
        self.due_unknown = True
        self.ticks = 0
        self.applied = 0
        self.duplicates = 0
        self.skipped = 0
        self.rejected = 0
        #: (position in the replay, `where: reason`) of the first rejected operations.
        self.problems: list[tuple[int, str]] = []

    def replay(
        self,
        ops: Iterable[tuple[int, ReplayOp]],
        cancel: threading.Event | None,
        replayed: Callable[[int], None] | None = None,
    ) -> int:
        """Replay (position, operation) pairs in order, each after a tick at every due
        instant before it; `replayed(count)` is called every `PROGRESS_EVERY` operations.
        Returns how many were replayed.

        Raises:
            SimulationCancelled: soon after `cancel` is set.
            NudgeError: when a scheduler tick fails.
        """
        done = 0
        for position, op in ops:
            if cancel is not None and cancel.is_set():
                raise SimulationCancelled("simulation cancelled")
            if done % COMMIT_EVERY == 0:
                self.group()
            self.run_until(op.timestamp, cancel)
            self.apply(op, position)
            done += 1
            if replayed is not None and done % PROGRESS_EVERY == 0:
                replayed(done)
        return done

    def finish(self, end: int | None, cancel: threading.Event | None) -> None:
        """Tick at every due instant up to `end` (None: the clock's instant, the last
        operation's), leave the clock there (or later) and commit."""
        self.group()
        target = self.clock.at_ms if end is None else end
        self.run_until(target, cancel)
        self.clock.at_ms = max(self.clock.at_ms, target)
        self.settle()

    def close(self) -> None:
        """Close the scratch database (what is not committed is dropped)."""
        self.store.close()

    def group(self) -> None:
        """Commit what the last operations did and open the next shared transaction."""
        self.store.commit_and_begin()

    def settle(self) -> None:
        """Commit the shared transaction (before the report reads the store)."""
        self.store.commit_open()

    def _on_change(self, changes: BatchChanges) -> None:
        self.workspace.after_batch(changes)
        if self.windows is not None:
            for event in changes.events:
                self.windows.on_event(event.name, event.timestamp)

    def _follow_due(self) -> None:
        """After an operation: the next due instant, lowered to any written since."""
        written = self.due_watch.take()
        if self.due_unknown:
            dues = [
                d
                for d in (self.store.journeys.next_due(), self.store.deliveries.next_attempt())
                if d is not None
            ]
            self.next_due = min(dues) if dues else None
            self.due_unknown = False
        elif written is not None and (self.next_due is None or written < self.next_due):
            self.next_due = written

    def run_until(self, t: int, cancel: threading.Event | None = None) -> None:
        """Tick at every due instant (and sweep instant) up to and including `t`."""
        stuck = 0
        while True:
            candidates = [d for d in (self.next_due,) if d is not None]
            if self.sweeps:
                candidates.append(self.next_sweep)
            if self.broadcasts:
                candidates.append(self.broadcasts[0])
            if self.windows is not None and self.windows.next is not None:
                candidates.append(self.windows.next)
            if not candidates:
                return
            at = max(min(candidates), self.clock.at_ms)
            if at > t:
                return
            if cancel is not None and cancel.is_set():
                raise SimulationCancelled("simulation cancelled")
            self.clock.at_ms = at
            # The sweep and the date scan read every person: they run on the hourly
            # grid, not at each of the (many) due instants between two of them; the
            # sweep also runs when an event leaves a segment's window.
            grid = self.sweeps and self.next_sweep <= at
            leaves = None if self.windows is None else self.windows.next
            sweep = grid or (leaves is not None and leaves <= at)
            tick = self.scheduler.tick(at, sweep=sweep, dates=grid)
            report = _run_tick(tick)
            # The report reads the scratch outbox; the mailer's copies of every message
            # (hundreds of thousands of bodies) would only hold memory.
            self.mailer.records.clear()
            self.ticks += 1
            if report.errors:
                raise NudgeError(f"scheduler tick at {at} failed: {report.errors[0]}")
            if grid:
                self.next_sweep = (at // SWEEP_MS + 1) * SWEEP_MS
            if sweep and self.windows is not None:
                self.windows.after_sweep(at)
            while self.broadcasts and self.broadcasts[0] <= at:
                self.broadcasts.pop(0)
            self.due_watch.take()  # the tick's own writes: its report has the outcome
            self.next_due = report.next_due_at
            # Something due again at the same instant (a full batch) ticks again; a tick
            # that changed nothing while still due would loop forever.
            busy = report.steps or report.entered or report.sending.handled or report.moves
            stuck = 0 if busy else stuck + 1
            if self.next_due is not None and self.next_due <= at and stuck:
                self.next_due = None  # looked at again after the next operation
                self.due_unknown = True

    def apply(self, op: ReplayOp, position: int) -> None:
        """Apply one operation at its own time (its received time too); `position` is its
        place in the whole replay (what orders the problems of a replay split by person)."""
        self.clock.at_ms = max(op.timestamp, self.clock.at_ms)
        raw = orjson.loads(op.raw)
        report = self.workspace.ingestor.apply([raw], [len(op.raw)])
        self.applied += report.applied
        self.duplicates += report.duplicates
        self.skipped += len(report.skipped)
        for problem in report.rejected:
            self.rejected += 1
            if len(self.problems) < MAX_PROBLEMS:
                self.problems.append((position, f"{op.where}: {problem.reason}"))
        self._follow_due()


def _run_tick(tick: Coroutine[Any, Any, TickReport]) -> TickReport:
    """Run a scheduler tick to its end without an event loop: with one message at a time
    and the recording mailer (which never waits), the coroutine never suspends, so an
    event loop's round trips (tens of thousands of ticks) buy nothing.

    Raises:
        NudgeError: if the tick waits on something after all (a mailer that does).
    """
    try:
        tick.send(None)
    except StopIteration as done:
        report: TickReport = done.value
        return report
    tick.close()
    raise NudgeError("a simulated scheduler tick waited on I/O; the simulation cannot")
