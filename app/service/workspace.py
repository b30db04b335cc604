"""One place that wires a workspace together for the CLI (and later the API and console):
settings -> store, clock, segments, ingestor."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.config import Settings
from app.core.clock import Clock, SystemClock
from app.core.yamlload import DefinitionError
from app.service.ingest import Ingestor
from app.service.segments import SegmentKeeper, load_segments
from app.store import Store


@dataclass
class Workspace:
    """What the use cases run over.

    Attributes:
        segment_errors: definitions that did not load (file, line, reason); the other
            segments are live.
    """

    settings: Settings
    store: Store
    clock: Clock
    segments: SegmentKeeper
    ingestor: Ingestor
    segment_errors: list[DefinitionError] = field(default_factory=list)


def open_workspace(settings: Settings, clock: Clock | None = None) -> Workspace:
    """Open the database, load the segments (syncing new or changed definitions) and
    build an ingestor that keeps membership current.

    Raises:
        ConfigError: when the database cannot be opened.
    """
    clock = clock or SystemClock()
    store = Store.open(settings.database)
    loaded = load_segments(settings.campaigns)
    keeper = SegmentKeeper(store, loaded.segments, loaded.files)
    keeper.sync(clock.now_ms())
    ingestor = Ingestor(store, clock, on_change=keeper.refresh)
    return Workspace(settings, store, clock, keeper, ingestor, loaded.errors)
