"""One place that wires a workspace together for the CLI (and later the API, console and
simulator): settings -> store, segments, engine, ingestor."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.config import Settings
from app.core.clock import Clock, SystemClock
from app.core.errors import ConfigError
from app.core.times import HOUR_MS
from app.core.yamlload import DefinitionError
from app.service.definitions import Definitions, load_definitions
from app.service.engine import Engine
from app.service.ingest import BatchChanges, Ingestor
from app.service.segments import SegmentKeeper
from app.store import Store


@dataclass
class Workspace:
    """What the use cases run over.

    A workspace (its store above all) belongs to the thread that opened it: SQLite
    connections are not shared between threads.

    Attributes:
        errors: the problems (file, line, reason) found by the last load or reload.
            After `open_workspace` the definitions without problems are live; after a
            `reload` with problems the previous set is still the live one.
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
        """Read the definitions again; swap them in only if they all load (STYLE.md 8).

        Unlike `open_workspace`, which starts with whatever loads, a reload is all or
        nothing: a half-edited folder must not switch off the campaigns it broke. When
        nothing changed (same segment and campaign hashes) nothing is written. Otherwise,
        in one transaction, segments are stored and evaluated anew where they changed,
        and the engine takes the new campaign versions: journeys in flight move by step
        id, those at a step that no longer exists exit with reason `step_removed`.

        Returns:
            The problems (file, line, reason); when there are any, the running
            definitions stay as they were.

        Raises:
            sqlite3.Error: when the store cannot be written (e.g. another writer held
                the lock past the busy timeout); the transaction rolls back and the
                running set stays.
        """
        found = load_definitions(self.settings.campaigns)
        self.errors = found.errors
        if found.errors or not self._changed(found):
            return found.errors
        now = self.clock.now_ms()
        keeper = SegmentKeeper(self.store, found.segments.segments, found.segments.files)
        engine = self.engine
        previous = (engine.segments, engine.evaluator, engine.versions)
        try:
            with self.store.transaction():
                keeper.sync(now)
                # The engine reads conditions and membership through these while loading.
                engine.segments, engine.evaluator = keeper, keeper.evaluator
                engine.load(found.campaigns.versions, now)
        except BaseException:
            # The transaction rolled back: put the in-memory half back to match it.
            engine.segments, engine.evaluator, engine.versions = previous
            raise
        self.segments = keeper
        return []

    def _changed(self, found: Definitions) -> bool:
        """Whether `found` differs from the live set (any segment or campaign hash)."""
        segments = {k: s.definition_hash for k, s in found.segments.segments.items()}
        live_segments = {k: s.definition_hash for k, s in self.segments.segments.items()}
        versions = {k: v.hash for k, v in found.campaigns.versions.items()}
        live_versions = {k: v.hash for k, v in self.engine.versions.items()}
        return segments != live_segments or versions != live_versions


def open_workspace(settings: Settings, clock: Clock | None = None) -> Workspace:
    """Open the database, load segments and campaigns (syncing new or changed ones), and
    build an ingestor that keeps membership and journeys current.

    Definitions with problems are left out and listed in `Workspace.errors`; the rest
    go live.

    Raises:
        ConfigError: when the database cannot be opened.
    """
    clock = clock or SystemClock()
    if not settings.campaigns.is_dir():
        # Running without the definitions would silently forget every segment and
        # start no campaign: refuse instead.
        raise ConfigError(
            f"campaigns folder {settings.campaigns} does not exist "
            "(run where it is, or pass --campaigns DIR)"
        )
    store = Store.open(settings.database)
    found = load_definitions(settings.campaigns)
    keeper = SegmentKeeper(store, found.segments.segments, found.segments.files)
    now = clock.now_ms()
    keeper.sync(now)
    engine = Engine(store, keeper, settings.zone, settings.trigger_max_age_hours * HOUR_MS)
    engine.load(found.campaigns.versions, now)
    workspace = Workspace(
        settings, store, clock, keeper, engine, Ingestor(store, clock), found.errors
    )
    workspace.ingestor.on_change = workspace.after_batch
    return workspace
