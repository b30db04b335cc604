"""What a simulation reads: its campaigns (files or drafts, checked as `nudge check`
checks them), the segments they need, and the operations to replay, in timestamp order.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from app.core.campaigns import Campaign, CampaignVersion
from app.core.conditions import Condition, segment_refs
from app.core.errors import InvalidOperation, NudgeError
from app.core.operations import MAX_OPERATION_BYTES, parse_operation
from app.core.segments import Segment
from app.core.yamlload import DefinitionError, DefinitionErrors, load_yaml_model

# `_check` is the very check `nudge check` and the loader run on a campaign file (subject
# and templates parse, segments exist): a draft must pass the same one.
from app.service.campaigns import _check, campaign_segment_refs
from app.service.logfiles import event_to_operation, open_lines
from app.service.segments import load_segments
from app.service.simulate import SimulationCancelled
from app.service.simulation_groups import IdentityGroups
from app.store import Store

#: Problems kept in a report (the counts cover them all).
MAX_PROBLEMS = 20


class DefinitionProblems(NudgeError):
    """Campaign or segment definitions with problems: one `file:line: reason` per line."""

    code = "invalid_definition"

    def __init__(self, errors: list[DefinitionError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass(slots=True)
class Definitions:
    """The campaign versions to simulate (forced active) and the segments they use."""

    versions: dict[str, CampaignVersion]
    segments: dict[str, Segment]
    files: dict[str, str]
    sources: dict[str, str]


def load_simulated(
    sources: list[tuple[str, str]], folder: Path, ids_must_differ: bool = True
) -> Definitions:
    """Read campaigns given as (name, YAML text), with templates and segments from
    `folder`.

    Each campaign runs as active whatever its `state`. Only the segments the campaigns
    use (and those these use in turn) are kept: membership of the others changes
    nothing a campaign does, and keeping it current costs a query per segment per
    operation.

    Raises:
        DefinitionProblems: every problem of the campaigns, and of the segments they
            use, with file and line.
    """
    loaded = load_segments(folder)
    errors: list[DefinitionError] = []
    versions: dict[str, CampaignVersion] = {}
    names: dict[str, str] = {}
    for name, text in sources:
        try:
            campaign = load_yaml_model(text, name, Campaign)
        except DefinitionErrors as exc:
            errors += exc.errors
            continue
        templates: dict[str, tuple[str, str | None]] = {}
        problems = _check(campaign, name, text, folder, set(loaded.segments), templates)
        if ids_must_differ and campaign.id in versions:
            problems.append(
                DefinitionError(
                    name, 1, f"campaign id {campaign.id!r} is also in {names[campaign.id]}"
                )
            )
        if problems:
            # A segment the campaign names that did not load: say why, not just "unknown".
            refs = campaign_segment_refs(campaign) - set(loaded.segments)
            errors += [e for e in loaded.errors if Path(e.file).stem in refs]
            errors += problems
            continue
        active = campaign.model_copy(update={"state": "active"})
        versions[campaign.id] = CampaignVersion(active, text, name, templates)
        names[campaign.id] = name
    if errors:
        raise DefinitionProblems(errors)
    used = _used_segments(versions, {k: s.core_condition for k, s in loaded.segments.items()})
    segments = {k: v for k, v in loaded.segments.items() if k in used}
    files = {k: v for k, v in loaded.files.items() if k in used}
    return Definitions(versions, segments, files, names)


def _used_segments(
    versions: dict[str, CampaignVersion], conditions: dict[str, Condition]
) -> set[str]:
    found: set[str] = set()
    todo: list[str] = []
    for version in versions.values():
        todo += sorted(campaign_segment_refs(version.campaign))
    while todo:
        seg_id = todo.pop()
        if seg_id in found or seg_id not in conditions:
            continue
        found.add(seg_id)
        todo += sorted(segment_refs(conditions[seg_id]))
    return found


# -- operations ------------------------------------------------------------------------------


@dataclass(slots=True)
class ReplayOp:
    """One operation to replay: its time (ms UTC), its JSON text, where it came from
    (`file:line`, or `db:seq`), and its node in the source's `IdentityGroups` (-1 when
    not grouped)."""

    timestamp: int
    raw: bytes
    where: str
    group: int = -1


@dataclass(slots=True)
class ReadOps:
    """Operations in replay order, and the lines that could not be read."""

    ops: list[ReplayOp] = field(default_factory=list)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)
    groups: IdentityGroups = field(default_factory=IdentityGroups)

    def reject(self, where: str, reason: str) -> None:
        """Count a line that cannot be replayed (the first few are kept with the reason)."""
        self.rejected += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {reason}")


@contextmanager
def bulk_objects() -> Iterator[None]:
    """The garbage collector paused while a loop builds many objects that live on (a
    million operations, a report's rows): each collection would walk them all again for
    nothing, as they hold no reference cycles (PERFORMANCE.md: 1.8-2.9x; reading a
    million-line log, 7.6 -> 5.6 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_log_files(paths: tuple[Path, ...], cancelled: Callable[[], bool] | None = None) -> ReadOps:
    """Read JSONL logs (either wire shape, `.gz` too) and sort their operations by
    timestamp; ties keep file order (files in the order given).

    A line that is not JSON, is over 32 KB, is not a valid operation or has no
    timestamp is rejected with `file:line: reason`; the rest replays.

    Args:
        paths: the logs, in order.
        cancelled: asked every 10,000 lines; when it says yes, `SimulationCancelled` is raised.

    Raises:
        NudgeError: when a file cannot be read.
        SimulationCancelled: as above.
    """
    for path in paths:
        if not path.is_file():
            raise NudgeError(f"cannot read {path}: no such file")
    found = ReadOps()
    with bulk_objects():
        for path in paths:
            _read_log(path, found, cancelled)
    found.ops.sort(key=lambda o: o.timestamp)  # stable: ties keep file order
    return found


def _read_log(path: Path, found: ReadOps, cancelled: Callable[[], bool] | None) -> None:
    """One log's lines into `found` (see `read_log_files`)."""
    with open_lines(str(path)) as lines:
        for number, line in enumerate(lines, start=1):
            if cancelled is not None and number % 10_000 == 0 and cancelled():
                raise SimulationCancelled("simulation cancelled")
            text = line.strip()
            if not text:
                continue
            where = f"{path}:{number}"
            if len(text) > MAX_OPERATION_BYTES:
                found.reject(
                    where, f"operation is {len(text)} bytes; the limit is {MAX_OPERATION_BYTES}"
                )
                continue
            try:
                raw = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                found.reject(where, f"not JSON ({exc})")
                continue
            if not isinstance(raw, dict) or raw.get("timestamp") is None:
                found.reject(where, "no timestamp (a replay needs one)")
                continue
            try:
                op = parse_operation(raw, 0)
            except InvalidOperation as exc:
                found.reject(where, exc.message)
                continue
            found.ops.append(ReplayOp(op.timestamp, text, where, found.groups.add(op)))


def count_history(database: Path, from_ms: int | None, to_ms: int | None) -> int:
    """How many events of the live database a `LiveHistory` replays.

    Raises:
        ConfigError: when the database cannot be opened read-only.
    """
    store = Store.open_readonly(database)
    try:
        return store.events.count_range(from_ms, to_ms)
    finally:
        store.close()


def iter_history(
    database: Path,
    from_ms: int | None,
    to_ms: int | None,
    groups: IdentityGroups | None = None,
) -> Iterator[ReplayOp]:
    """The live database's events over `[from_ms, to_ms)` as operations, in timestamp
    order (ties in the order they were applied), read through a read-only connection
    opened in the calling thread; with `groups`, each joined into them.

    Raises:
        ConfigError: when the database cannot be opened read-only.
    """
    store = Store.open_readonly(database)
    try:
        for event in store.events.iter_by_time(from_ms, to_ms):
            op = event_to_operation(event)
            group = -1 if groups is None else _group(groups, op)
            yield ReplayOp(event.timestamp, orjson.dumps(op), f"db:{event.seq}", group)
    finally:
        store.close()


def _group(groups: IdentityGroups, raw: dict[str, object]) -> int:
    try:
        return groups.add(parse_operation(raw, 0))
    except InvalidOperation:  # stored events always parse; ingest would reject it anyway
        return -1


def live_version(database: Path, campaign_id: str) -> tuple[str, str]:
    """(file, source) of the version of a campaign the live database runs (the one
    loaded last).

    Raises:
        NotFound: when the database never loaded that campaign.
    """
    from app.core.errors import NotFound

    store = Store.open_readonly(database)
    try:
        found = store.campaigns.latest_version(campaign_id)
    finally:
        store.close()
    if found is None:
        raise NotFound(f"campaign {campaign_id} has no live version in {database}")
    _hash, source, file = found
    return file or f"live:{campaign_id}", source
