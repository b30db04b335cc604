"""One place that wires a workspace together for the CLI (and later the API, console and
simulator): settings -> store, segments, engine, ingestor."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.config import Settings
from app.core.clock import Clock, SystemClock
from app.core.times import HOUR_MS
from app.core.yamlload import DefinitionError
from app.service.campaigns import load_campaigns
from app.service.engine import Engine
from app.service.ingest import BatchChanges, Ingestor
from app.service.segments import SegmentKeeper, load_segments
from app.store import Store


@dataclass
class Workspace:
    """What the use cases run over.

    Attributes:
        errors: definitions that did not load (file, line, reason); the rest are live.
    """

    settings: Settings
    store: Store
    clock: Clock
    segments: SegmentKeeper
    engine: Engine
    ingestor: Ingestor
    errors: list[DefinitionError] = field(default_factory=list)

    def after_batch(self, changes: BatchChanges) -> None:
        """The ingest hook: segment membership first, then journeys (same transaction)."""
        moves = self.segments.refresh(changes.touched, changes.received)
        self.engine.on_batch(changes.touched, changes.events, moves, changes.received)

    def reload(self) -> list[DefinitionError]:
        """Read the definitions again; swap them in only if they all load.

        Returns:
            The errors; when there are any, the running definitions stay as they were.
        """
        loaded = load_segments(self.settings.campaigns)
        campaigns = load_campaigns(self.settings.campaigns, set(loaded.segments))
        errors = loaded.errors + campaigns.errors
        if errors:
            return errors
        now = self.clock.now_ms()
        self.segments = SegmentKeeper(self.store, loaded.segments, loaded.files)
        self.segments.sync(now)
        self.engine.segments = self.segments
        self.engine.evaluator = self.segments.evaluator
        self.engine.load(campaigns.versions, now)
        self.errors = []
        return []


def open_workspace(settings: Settings, clock: Clock | None = None) -> Workspace:
    """Open the database, load segments and campaigns (syncing new or changed ones), and
    build an ingestor that keeps membership and journeys current.

    Raises:
        ConfigError: when the database cannot be opened.
    """
    clock = clock or SystemClock()
    store = Store.open(settings.database)
    loaded = load_segments(settings.campaigns)
    keeper = SegmentKeeper(store, loaded.segments, loaded.files)
    now = clock.now_ms()
    keeper.sync(now)
    campaigns = load_campaigns(settings.campaigns, set(loaded.segments))
    engine = Engine(store, keeper, settings.zone, settings.trigger_max_age_hours * HOUR_MS)
    engine.load(campaigns.versions, now)
    workspace = Workspace(
        settings,
        store,
        clock,
        keeper,
        engine,
        Ingestor(store, clock),
        loaded.errors + campaigns.errors,
    )
    workspace.ingestor.on_change = workspace.after_batch
    return workspace
