"""What one simulation request reads, ready to replay: its campaigns (files or drafts)
with the segments they use, the operations in replay order, and, for a range of the
recorded history, what was recorded before it (the state the campaigns go live on).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import orjson

from app.core.clock import FixedClock
from app.core.errors import NudgeError
from app.service.ingest import Ingestor
from app.service.simulate import LiveHistory, LogFiles, SimulationCancelled, SimulationRequest
from app.service.simulation_groups import IdentityGroups
from app.service.simulation_sources import (
    Definitions,
    ReadOps,
    ReplayOp,
    bulk_objects,
    count_history,
    iter_history,
    load_simulated,
    read_log_files,
)
from app.store import Store

#: Operations recorded before the replayed range, applied per transaction.
PRIOR_BATCH = 5_000


def load_request_definitions(request: SimulationRequest) -> Definitions:
    """The request's campaigns (files or drafts) with the segments they use.

    Raises:
        DefinitionProblems: with every `file:line: reason`.
        NudgeError: when a campaign file cannot be read.
    """
    texts: list[tuple[str, str]] = []
    for source in request.campaigns:
        name = source.name or (str(source.path) if source.path is not None else "draft")
        if source.text is not None:
            texts.append((name, source.text))
            continue
        if source.path is None:
            raise NudgeError("a campaign needs a file or draft text")
        try:
            texts.append((name, source.path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise NudgeError(f"cannot read {source.path}: {exc}") from None
    if not texts:
        raise NudgeError("no campaign to simulate")
    if not request.settings.campaigns.is_dir():
        raise NudgeError(
            f"campaigns folder {request.settings.campaigns} does not exist "
            "(templates and segments are read from it)"
        )
    return load_simulated(texts, request.settings.campaigns)


class ReplayInput:
    """The operations to replay, their count, and what reading them rejected."""

    def __init__(self, request: SimulationRequest, cancel: threading.Event | None) -> None:
        source = request.source
        self.rejected = 0
        self.problems: list[str] = []
        self.from_ms: int | None = None
        self.to_ms: int | None = None
        # Recorded before `from`: applied as the state the campaigns go live on.
        self.prior: Iterable[ReplayOp] = ()
        self._source = source
        self._read: ReadOps | None = None
        if isinstance(source, LogFiles):
            read = read_log_files(source.paths, None if cancel is None else cancel.is_set)
            self.rejected, self.problems = read.rejected, read.problems
            self.total = len(read.ops)
            # Reversed, so that each operation is dropped (popped) once replayed.
            read.ops.reverse()
            self._read = read
            self._ops: Iterable[ReplayOp] = _drain(read.ops)
        elif isinstance(source, LiveHistory):
            self.from_ms, self.to_ms = source.from_ms, source.to_ms
            self.total = count_history(source.database, source.from_ms, source.to_ms)
            self._ops = iter_history(source.database, source.from_ms, source.to_ms)
            if source.from_ms is not None:
                self.prior = iter_history(source.database, None, source.from_ms)
        else:  # pragma: no cover - the type says it cannot happen
            raise NudgeError(f"unknown event source {source!r}")

    def __iter__(self) -> Iterator[ReplayOp]:
        return iter(self._ops)

    def grouped(self) -> tuple[list[ReplayOp], list[ReplayOp], IdentityGroups]:
        """Everything at once, each operation with its node in the returned groups (what a
        replay split by person needs): (prior, operations in replay order, groups). The
        operations are handed over: iterating this input afterwards gives nothing."""
        if self._read is not None:
            read, self._read = self._read, None
            ops = read.ops[::-1]
            read.ops.clear()
            self._ops = ()
            return [], ops, read.groups
        source = self._source
        assert isinstance(source, LiveHistory)
        groups = IdentityGroups()
        prior: list[ReplayOp] = []
        with bulk_objects():
            if source.from_ms is not None:
                prior = list(iter_history(source.database, None, source.from_ms, groups))
            ops = list(iter_history(source.database, source.from_ms, source.to_ms, groups))
        self._ops = ()
        return prior, ops, groups


def _drain(ops: list[ReplayOp]) -> Iterator[ReplayOp]:
    """The operations of a reversed list, in order, each let go of once handed out."""
    while ops:
        yield ops.pop()


def apply_prior(
    store: Store, clock: FixedClock, ops: Iterable[ReplayOp], cancel: threading.Event | None
) -> int:
    """Apply what was recorded before the replayed range, as plain ingest (no segments,
    no campaigns yet), in batches: who people are (attributes, emails, merges) and what
    they did, so conditions and templates see the history they would see live.

    Returns:
        The number of operations applied.
    """
    ingestor = Ingestor(store, clock)
    batch: list[object] = []
    sizes: list[int] = []
    applied = 0
    last = clock.at_ms

    def flush() -> None:
        nonlocal applied
        if cancel is not None and cancel.is_set():
            raise SimulationCancelled("simulation cancelled")
        clock.at_ms = last
        applied += ingestor.apply(batch, sizes).applied
        batch.clear()
        sizes.clear()

    for op in ops:
        batch.append(orjson.loads(op.raw))
        sizes.append(len(op.raw))
        last = op.timestamp
        if len(batch) >= PRIOR_BATCH:
            flush()
    if batch:
        flush()
    return applied
