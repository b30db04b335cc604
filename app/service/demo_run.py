"""`nudge demo`: a fresh demo database with history, then live behaviour fed in as the
(virtual) clock passes it, the shipped campaigns and the scheduler sending to a local
SMTP sink.

The timeline: the generator covers 60 days from `DEMO_START`. The first 30 days are
history, loaded before the campaigns go live (old behaviour starts no journey, as when
Nudge is installed on an existing product). The demo's clock starts at `LIVE_FROM`, the
first instant after the history, and the remaining days are fed in as that clock reaches
each operation's timestamp: interactively by a `DemoFeeder` on an accelerated clock,
headless (`run_headless`) on a fixed clock stepped a few minutes at a time.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import Settings
from app.core.clock import Clock, FixedClock
from app.core.times import DAY_MS, MINUTE_MS
from app.service.demo import SAMPLES
from app.service.demo_data import DEMO_PEOPLE, DEMO_START, DemoData, generate
from app.service.importers import import_cdnow
from app.service.ingest import Ingestor
from app.service.workspace import Workspace, open_workspace
from app.store import Store

#: Where the demo's clock starts: after 30 days of history.
LIVE_FROM = DEMO_START + 30 * DAY_MS
#: Operations per ingest batch (one transaction each).
BATCH = 500

Echo = Callable[[str], None]


@dataclass(slots=True)
class DemoHistory:
    """A prepared demo database.

    Attributes:
        workspace: open on the caller's thread, its clock at `live_from`.
        live: the generated operations not yet ingested (timestamp >= `live_from`), in
            time order.
        live_from: where the demo's clock starts, ms UTC.
        loaded: operations ingested as history (generated ones plus the CDNOW sample).
        people: people in the database.
    """

    workspace: Workspace
    live: list[dict[str, Any]]
    live_from: int
    loaded: int
    people: int


def fresh_database(path: Path) -> None:
    """Remove a database file and its WAL companions (the demo always starts clean)."""
    if str(path) == ":memory:":
        return
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


def prepare_demo(
    settings: Settings,
    *,
    people: int = DEMO_PEOPLE,
    live_from: int = LIVE_FROM,
    data: DemoData | None = None,
    echo: Echo | None = None,
) -> DemoHistory:
    """Build a fresh demo database: the committed CDNOW sample and the generated history
    before `live_from`, then open the workspace (segments evaluated, campaigns live) at
    `live_from`.

    Args:
        settings: `database` is deleted and rebuilt; `campaigns` is the folder to run.
        people: how many people to generate (ignored when `data` is given).
        live_from: the end of the history and the start of the demo's clock, ms UTC.
        data: generated behaviour to use instead of generating it.
        echo: progress lines.

    Raises:
        ConfigError: when the database cannot be opened or the campaigns folder is missing.
    """
    say = echo or (lambda _line: None)
    fresh_database(settings.database)
    clock = FixedClock(live_from)
    data = data if data is not None else generate(people=people)
    cut = bisect.bisect_left([op["timestamp"] for op in data.operations], live_from)
    store = Store.open(settings.database)
    loaded = 0
    cdnow = import_cdnow(Ingestor(store, clock), str(SAMPLES / "cdnow_sample.txt"), settings.zone)
    say(f"CDNOW sample: {cdnow.applied:,} purchases")
    loaded += cdnow.applied
    ingestor = Ingestor(store, clock)
    history = data.operations[:cut]
    for start in range(0, len(history), 2_000):
        report = ingestor.apply(history[start : start + 2_000])
        loaded += report.applied
    say(f"generated history: {cut:,} operations before the demo starts")
    store.close()
    workspace = open_workspace(settings, clock)
    return DemoHistory(
        workspace=workspace,
        live=data.operations[cut:],
        live_from=live_from,
        loaded=loaded,
        people=workspace.store.people.count(),
    )


@dataclass(slots=True)
class DemoFeeder:
    """Ingests the generated operations as the clock passes their timestamps.

    Each `feed_until(now)` applies, in order and in batches, the operations with a
    timestamp at or before `now`, through the ingestor (so segments and journeys react
    as to any live traffic; the received time is the ingestor's clock).

    Args:
        ingestor: where operations go (a workspace's, with its change hook).
        operations: Segment-spec operations in time order.

    Attributes:
        position: how many operations were fed. applied: what ingest applied of them.
        rejected: ingest's reasons for operations it rejected (none expected).
        errors: feeds that failed (`run_feeder` retries them).
    """

    ingestor: Ingestor
    operations: list[dict[str, Any]]
    position: int = 0
    applied: int = 0
    rejected: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Whether every operation was fed."""
        return self.position >= len(self.operations)

    @property
    def next_at(self) -> int | None:
        """The timestamp of the next operation to feed, ms UTC (None when done)."""
        return None if self.done else int(self.operations[self.position]["timestamp"])

    def feed_until(self, now: int) -> int:
        """Apply every pending operation with timestamp <= `now`; returns how many."""
        end = self.position
        while end < len(self.operations) and self.operations[end]["timestamp"] <= now:
            end += 1
        fed = end - self.position
        for start in range(self.position, end, BATCH):
            report = self.ingestor.apply(self.operations[start : min(start + BATCH, end)])
            self.applied += report.applied
            self.rejected += [p.reason for p in report.rejected]
            # Each batch is its own transaction: a failure later retries only the rest.
            self.position = min(start + BATCH, end)
        return fed


def run_feeder(
    settings: Settings,
    clock: Clock,
    operations: list[dict[str, Any]],
    stop: threading.Event,
    interval_s: float = 0.2,
    on_feed: Callable[[int, DemoFeeder], None] | None = None,
    finished: threading.Event | None = None,
) -> DemoFeeder:
    """Feed `operations` as `clock` passes them, until `stop` is set (run it in a thread
    of its own: it opens its own workspace, so its own SQLite connection).

    Every `interval_s` real seconds it feeds what the clock has passed. When all is fed
    it keeps waiting for `stop` (the demo goes on; the scheduler still has work).

    Args:
        settings: the demo database and campaigns folder.
        clock: the demo's clock (an `AcceleratedClock`), shared with the console.
        operations: `DemoHistory.live`.
        stop: set it to end the loop.
        interval_s: real seconds between feeds.
        on_feed: called after each feed that applied something, with (count, feeder).
        finished: set once every operation was fed (the console says so: no new
            behaviour comes after that).

    Returns:
        The feeder, once stopped (what it fed).
    """
    workspace = open_workspace(settings, clock)
    feeder = DemoFeeder(workspace.ingestor, operations)
    try:
        while not stop.is_set():
            try:
                fed = feeder.feed_until(clock.now_ms())
            except Exception as exc:  # the demo outlives one bad feed (e.g. a locked database)
                # The failed batch rolled back and is tried again next time (and a batch
                # that did land is a no-op the second time: its operations have ids).
                feeder.errors.append(f"{type(exc).__name__}: {exc}")
                fed = 0
            if fed and on_feed is not None:
                on_feed(fed, feeder)
            if feeder.done and finished is not None:
                finished.set()
            stop.wait(interval_s)
    finally:
        workspace.store.close()
    return feeder


def start_feeder(
    settings: Settings, clock: Clock, operations: list[dict[str, Any]]
) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """`run_feeder` in a daemon thread.

    Returns:
        (the thread, stop: set it then join the thread to stop, finished: set once every
        operation was fed).
    """
    stop, finished = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=run_feeder,
        args=(settings, clock, operations, stop),
        kwargs={"finished": finished},
        name="nudge-demo-feeder",
    )
    thread.daemon = True
    thread.start()
    return thread, stop, finished


#: Headless: how far the clock moves between feeds, and between scheduler ticks.
FEED_STEP_MS = 5 * MINUTE_MS
TICK_EVERY_MS = 15 * MINUTE_MS
