"""Segments: loading definitions, keeping membership current, answering "why in / out?".

Membership changes in two ways, both recorded in the activity log as
`segment.entered` / `segment.exited` with the time:

* something happened to a person (an ingested operation): `refresh` re-evaluates just
  those people, in the ingest transaction, before the ingest call returns;
* time passed (windows, relative times, profile age): `sweep` re-evaluates only the
  people whose membership *can* have changed since the last sweep, found from the
  condition's time-dependent parts (an event leaving a 7-day window changes it exactly
  7 days after that event), so its cost follows the people affected, not the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from app.core.conditions import (
    All,
    Any_,
    AttributeCondition,
    Condition,
    EventCondition,
    Not,
    NotPerformed,
    SegmentRef,
    TimeRef,
)
from app.core.errors import NotFound
from app.core.evaluate import Evaluator, Explanation, PersonFacts
from app.core.segments import Segment, check_segments
from app.core.yamlload import DefinitionError, DefinitionErrors, load_yaml_model
from app.service.ingest import BatchChanges
from app.service.people import find_person
from app.store import Compiler, Store
from app.store.segment_sql import Compiled

ENTERED = "segment.entered"
EXITED = "segment.exited"


@dataclass(slots=True)
class LoadedSegments:
    """The outcome of reading the segment definitions.

    Attributes:
        segments: usable segments by id.
        files: the file each came from.
        errors: what did not load, with file, line and reason.
    """

    segments: dict[str, Segment]
    files: dict[str, str]
    errors: list[DefinitionError]


def load_segments(folder: Path) -> LoadedSegments:
    """Read every `segments/*.yaml` under a campaigns folder.

    One bad file never stops the others: it is reported and left out, and so is any
    segment that refers to it.
    """
    directory = folder / "segments"
    found: dict[str, Segment] = {}
    files: dict[str, str] = {}
    errors: list[DefinitionError] = []
    if not directory.is_dir():
        return LoadedSegments({}, {}, [])
    for path in sorted(directory.glob("*.y*ml")):
        name = str(path)
        try:
            segment = load_yaml_model(path.read_text(encoding="utf-8"), name, Segment)
        except DefinitionErrors as exc:
            errors += exc.errors
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(DefinitionError(name, 1, f"cannot read: {exc}"))
            continue
        if segment.id in found:
            errors.append(
                DefinitionError(
                    name, 1, f"segment id {segment.id!r} is also in {files[segment.id]}"
                )
            )
            continue
        found[segment.id] = segment
        files[segment.id] = name
    usable, problems = check_segments(found, files)
    return LoadedSegments(usable, {k: files[k] for k in usable}, errors + problems)


@dataclass(frozen=True, slots=True)
class Move:
    """Someone entered (or left) a segment at an instant (ms UTC)."""

    segment_id: str
    person_id: int
    entered: bool
    at: int


def count_moves(moves: list[Move]) -> dict[str, tuple[int, int]]:
    """Per segment id, (entered, exited)."""
    out: dict[str, tuple[int, int]] = {}
    for move in moves:
        entered, exited = out.get(move.segment_id, (0, 0))
        out[move.segment_id] = (entered + 1, exited) if move.entered else (entered, exited + 1)
    return out


@dataclass(slots=True)
class SegmentSummary:
    """One line of `nudge segments list`."""

    id: str
    name: str
    members: int
    entered_24h: int
    exited_24h: int


class SegmentKeeper:
    """Keeps the stored membership of a set of segments current.

    Args:
        store: where people, events and memberships live.
        segments: the loaded segments, by id.
    """

    def __init__(
        self, store: Store, segments: dict[str, Segment], files: dict[str, str] | None = None
    ) -> None:
        self.store = store
        self.segments = segments
        self.files = files or {}
        self.conditions: dict[str, Condition] = {k: v.core_condition for k, v in segments.items()}
        self.evaluator = Evaluator(self.conditions)
        # Per (segment id, bulk): its SQL, compiled once (the definitions of a keeper
        # never change; a reload makes a new keeper).
        self._compiled: dict[tuple[str, bool], Compiled] = {}
        # Until `sync` has stored the definitions there is no membership to keep current
        # (sync evaluates everyone anyway).
        self._synced = False
        self.synced_moves: list[Move] = []

    # -- keeping membership current ---------------------------------------------------

    def sync(self, now: int) -> dict[str, tuple[int, int]]:
        """Store the definitions; evaluate anew those that are new or changed, and forget
        those no longer defined.

        Returns:
            Per segment evaluated anew, (entered, exited) counts.
        """
        changes: dict[str, tuple[int, int]] = {}
        self.synced_moves = []
        with self.store.transaction():
            stored = self.store.segments.stored()
            for seg_id in stored.keys() - self.segments.keys():
                self.store.segments.delete(seg_id)
            for seg_id, segment in self.segments.items():
                previous = stored.get(seg_id)
                definition = orjson.dumps(segment.model_dump(mode="json", by_alias=True)).decode()
                self.store.segments.upsert(
                    seg_id, segment.name, segment.description, definition, segment.definition_hash
                )
                if previous is None or previous.hash != segment.definition_hash:
                    moves = self._apply(seg_id, None, now)
                    self.synced_moves += moves
                    changes[seg_id] = count_moves(moves).get(seg_id, (0, 0))
                    self.store.segments.set_evaluated(seg_id, now)
        self._synced = True
        return changes

    def on_batch(self, changes: BatchChanges) -> list[Move]:
        """An ingest hook: `refresh` the people a batch touched at its received time."""
        return self.refresh(changes.touched, changes.received)

    def refresh(self, person_ids: set[int], now: int) -> list[Move]:
        """Re-evaluate these people in every segment at `now` (call inside the transaction
        that changed them). Returns who moved."""
        if not person_ids or not self._synced:
            return []
        moves: list[Move] = []
        for seg_id in self.segments:
            moves += self._apply(seg_id, person_ids, now)
        return moves

    def sweep(self, now: int) -> dict[str, tuple[int, int]]:
        """Move the people whose membership changed with time alone since the last sweep.

        Returns:
            Per segment, (entered, exited) counts.
        """
        moves = self.sweep_moves(now)
        counts = count_moves(moves)
        return {seg_id: counts.get(seg_id, (0, 0)) for seg_id in self.segments}

    def sweep_moves(self, now: int) -> list[Move]:
        """`sweep`, returning every move (for segment-triggered campaigns)."""
        if not self._synced:
            self.sync(now)
            return self.synced_moves
        moves: list[Move] = []
        with self.store.transaction():
            stored = self.store.segments.stored()
            for seg_id in self.segments:
                last = stored[seg_id].evaluated_at if seg_id in stored else None
                if last is None or now < last:
                    # Never evaluated, or asked about the past: evaluate everyone.
                    moves += self._apply(seg_id, None, now)
                else:
                    candidates = self._candidates(self.conditions[seg_id], last, now)
                    if candidates:
                        moves += self._apply(seg_id, candidates, now)
                self.store.segments.set_evaluated(seg_id, now)
        return moves

    def _apply(self, seg_id: str, among: set[int] | None, now: int) -> list[Move]:
        """Evaluate (everyone, or `among`) in bulk, then record who entered and who left."""
        where, params = self._where(seg_id, now, bulk=among is None)
        if among is None:
            matching = self.store.segments.matching(where, params)
            current = self.store.segments.members(seg_id)
        else:
            matching, current = self.store.segments.matching_and_members(
                seg_id, where, params, among
            )
        entered, exited = matching - current, current - matching
        if not entered and not exited:
            return []  # the common case of a refresh: nothing to write or log
        if entered:
            self.store.segments.add_members(seg_id, entered, now)
        if exited:
            self.store.segments.remove_members(seg_id, exited)
        detail = {"segment": seg_id}
        self.store.activity.record(
            [(now, pid, ENTERED, None, None, detail) for pid in sorted(entered)]
            + [(now, pid, EXITED, None, None, detail) for pid in sorted(exited)]
        )
        return [Move(seg_id, pid, True, now) for pid in sorted(entered)] + [
            Move(seg_id, pid, False, now) for pid in sorted(exited)
        ]

    def _where(self, seg_id: str, now: int, bulk: bool) -> tuple[str, list[Any]]:
        """A segment's condition as SQL at `now` (`Compiler`): bulk for everyone at once
        (one pass per event condition), otherwise probes per person (for a few)."""
        compiled = self._compiled.get((seg_id, bulk))
        if compiled is None:
            compiler = Compiler(self.conditions, now, bulk=bulk)
            compiled = self._compiled[seg_id, bulk] = compiler.compile(self.conditions[seg_id])
        return compiled.sql, compiled.params(now)

    def _candidates(self, condition: Condition, last: int, now: int) -> set[int]:
        """Everyone whose membership can have changed in `(last, now]` by time alone."""
        found: set[int] = set()
        repo = self.store.segments
        for leaf, negated_window in _time_leaves(condition, self.conditions):
            if isinstance(leaf, EventCondition):
                # An event counts from its own instant (`timestamp <= now`) ...
                found |= repo.with_events_between(leaf.performed, last + 1, now)
                if leaf.within is not None:
                    # ... and leaves a window of N exactly N + 1 ms later.
                    found |= repo.with_events_between(
                        leaf.performed, last - leaf.within, now - leaf.within - 1
                    )
                if any(_relative(f.test.operand) for f in leaf.where):
                    found |= repo.with_events(leaf.performed)
                if negated_window and leaf.within is not None:
                    # Profile age: known for N from known_since + N on.
                    found |= repo.known_since_between(last - leaf.within, now - leaf.within)
            elif isinstance(leaf, AttributeCondition):
                offset = leaf.test.operand.offset or 0
                found |= repo.attribute_instant_between(
                    leaf.attribute, last + offset - 1, now + offset + 1
                )
        return found

    # -- reading ------------------------------------------------------------------------

    def summaries(self, now: int) -> list[SegmentSummary]:
        """Every segment with its member count and the moves of the last 24 h."""
        moves = self.store.segments.changes_since(now - 86_400_000)
        return [
            SegmentSummary(
                seg_id,
                segment.name,
                self.store.segments.member_count(seg_id),
                *moves.get(seg_id, (0, 0)),
            )
            for seg_id, segment in sorted(self.segments.items())
        ]

    def segment(self, seg_id: str) -> Segment:
        """A loaded segment.

        Raises:
            NotFound: when no usable segment has that id.
        """
        if seg_id not in self.segments:
            raise NotFound(f"no segment {seg_id!r} (see `nudge segments list`)")
        return self.segments[seg_id]

    def count_at(self, seg_id: str, at: int) -> int:
        """How many people would be members at `at` (ms UTC), evaluated afresh, read-only."""
        self.segment(seg_id)
        where, params = self._where(seg_id, at, bulk=True)
        return self.store.segments.count_matching(where, params)

    def members_at(self, seg_id: str, at: int) -> set[int]:
        """Ids of the people who would be members at `at`, evaluated afresh, read-only."""
        self.segment(seg_id)
        where, params = self._where(seg_id, at, bulk=True)
        return self.store.segments.matching(where, params)

    def facts(self, person_id: int, condition: Condition) -> PersonFacts:
        """What the Python evaluator needs about one person for one condition."""
        person = self.store.people.get(person_id)
        if person is None:
            raise NotFound(f"no person #{person_id}")
        names = {
            leaf.performed
            for leaf in _leaves(condition, self.conditions)
            if isinstance(leaf, EventCondition)
        }
        return PersonFacts.build(
            person.attributes, person.created_at, self.store.events.facts(person_id, names)
        )

    def check(self, seg_id: str, person_key: str, now: int) -> tuple[bool, Explanation, bool]:
        """Is this person in the segment at `now`, and which sub-conditions decided it?

        Returns:
            (in at `now`, the explanation, stored membership says in).

        Raises:
            NotFound: for an unknown segment or person.
        """
        self.segment(seg_id)
        person = find_person(self.store, person_key)
        condition = self.conditions[seg_id]
        explanation = self.evaluator.explain(condition, self.facts(person.id, condition), now)
        stored = seg_id in self.store.segments.memberships(person.id)
        return explanation.result, explanation, stored


def _leaves(condition: Condition, segments: dict[str, Condition]) -> Iterator[Condition]:
    for leaf, _ in _walk(condition, segments, False):
        yield leaf


def _walk(
    condition: Condition, segments: dict[str, Condition], negated_window: bool
) -> Iterator[tuple[Condition, bool]]:
    """Leaves of a condition (segments inlined), each with whether it is the window of a
    negated "performed" (the profile-age form)."""
    if isinstance(condition, All):
        for c in condition.all:
            yield from _walk(c, segments, False)
    elif isinstance(condition, Any_):
        for c in condition.any:
            yield from _walk(c, segments, False)
    elif isinstance(condition, NotPerformed):
        yield from _walk(condition.as_not(), segments, False)
    elif isinstance(condition, Not):
        inner = condition.not_
        profile = isinstance(inner, EventCondition) and inner.plain_performed
        yield from _walk(inner, segments, profile)
    elif isinstance(condition, SegmentRef):
        yield from _walk(segments[condition.segment_id], segments, False)
    else:
        yield condition, negated_window


def _relative(operand: object) -> bool:
    return isinstance(operand, TimeRef) and operand.relative


def _time_leaves(
    condition: Condition, segments: dict[str, Condition]
) -> Iterator[tuple[Condition, bool]]:
    """The leaves whose truth can change with time alone."""
    for leaf, negated_window in _walk(condition, segments, False):
        if isinstance(leaf, EventCondition) or (
            isinstance(leaf, AttributeCondition) and _relative(leaf.test.operand)
        ):
            yield leaf, negated_window
