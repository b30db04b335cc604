"""Reading a finished simulation's scratch store into a `SimulationReport`: funnels from
the journeys and the activity log (invariant 5), messages from the outbox, a person's
timeline from their events and the decisions about them.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pydantic import TypeAdapter

from app.core.campaigns import CampaignVersion, Step
from app.core.errors import NotFound
from app.core.times import format_instant
from app.service.simulation_report import (
    CampaignFunnel,
    JourneyPath,
    MessageRow,
    PathCount,
    SimulationReport,
    StepFunnel,
    TimelineEntry,
)
from app.service.simulation_sources import Definitions
from app.store import Store

#: Detail keys that hold the scratch store's own ids (its random workspace id, journey
#: row ids, delivery keys made of them), left out of timelines: they differ between runs
#: of the same inputs split differently by person, and say nothing the campaign, step and
#: time beside them do not.
_STORE_IDS = frozenset({"message_id", "journey", "delivery"})
#: Decisions whose detail names the path taken at a step.
_PATH_KINDS = ("branch.taken", "wait.met")


def step_tree(
    steps: list[Step], depth: int = 0, parent: str | None = None, branch: str | None = None
) -> list[StepFunnel]:
    """Every step in tree order (depth first, as written) with depth, parent and the
    label of the path that holds it; counts at zero."""
    out: list[StepFunnel] = []
    for step in steps:
        out.append(
            StepFunnel(id=step.id, kind=step.kind, depth=depth, parent=parent, branch=branch)
        )
        for label, kids in step.children():
            out += step_tree(kids, depth + 1, step.id, label)
    return out


def _funnel(
    store: Store, version: CampaignVersion, source: str, labels: dict[int, str]
) -> tuple[CampaignFunnel, list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """A campaign's funnel (without its journeys), its journeys and its messages as
    plain rows (`JourneyPath` and `MessageRow` fields, unsorted: validated in bulk by
    `_add_part`, a fraction of building each model), and its template failures."""
    campaign = version.campaign
    steps = step_tree(campaign.steps)
    by_id = {s.id: s for s in steps}
    journeys = store.journeys.all_in(campaign.id)
    keys = {j.id: j.entry_key for j in journeys}
    funnel = CampaignFunnel(
        campaign=campaign.id, name=campaign.name, version=version.hash, source=source
    )
    funnel.entered = len(journeys)
    funnel.people = len({j.person_id for j in journeys})
    # Counted in plain counters, set on the models once: a pydantic attribute update
    # per journey and step costs more than the rest of the loop.
    exited: Counter[str] = Counter()
    paths: Counter[tuple[str, ...]] = Counter()
    reached: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    exited_at: dict[str, Counter[str]] = {s.id: Counter() for s in steps}
    states: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    for journey in journeys:
        rows.append(
            {
                "person": labels.get(journey.person_id, f"#{journey.person_id}"),
                "entry_key": journey.entry_key,
                "entered_at": journey.entered_at,
                "path": list(journey.path),
                "state": journey.state,
                "exit_reason": journey.exit_reason,
                "converted_at": journey.converted_at,
            }
        )
        paths[tuple(journey.path)] += 1
        reached.update(set(journey.path))
        if journey.converted_at is not None:
            states["converted"] += 1
        states[journey.state] += 1
        at = journey.step_id if journey.step_id in by_id else None
        if journey.state == "active":
            if at is not None:
                waiting[at] += 1
            continue
        reason = journey.exit_reason or journey.state
        if journey.state != "completed":
            exited[reason] += 1
        if at is not None:
            exited_at[at][reason] += 1
    funnel.converted, funnel.active = states["converted"], states["active"]
    funnel.completed = states["completed"]
    for node in steps:
        node.reached, node.waiting = reached[node.id], waiting[node.id]
        node.exited = dict(exited_at[node.id])
    funnel.exited = dict(sorted(exited.items()))
    funnel.conversion_rate = round(funnel.converted / funnel.entered, 6) if funnel.entered else 0.0
    funnel.paths = [
        PathCount(steps=list(p), journeys=n)
        for p, n in sorted(paths.items(), key=lambda item: (-item[1], item[0]))
    ]
    counted = (*_PATH_KINDS, "wait.timed_out", "step.skipped")
    for at_step, kind, label, count in store.activity.decision_counts(campaign.id, counted):
        step = by_id.get(at_step or "")
        if step is None:
            continue
        if kind in _PATH_KINDS and label is not None:
            step.paths[label] = step.paths.get(label, 0) + count
        elif kind == "wait.timed_out":
            step.paths["timeout"] = step.paths.get("timeout", 0) + count
        elif kind == "step.skipped":
            key = f"skipped:{label}"
            step.skipped[key] = step.skipped.get(key, 0) + count
    messages: list[dict[str, Any]] = []
    problems: list[str] = []
    sent: Counter[str] = Counter()
    for (
        person_id,
        journey_id,
        step_id,
        state,
        why,
        sent_at,
        subject,
        to,
    ) in store.deliveries.outcomes(campaign.id):
        step = by_id.get(step_id)
        if state == "sent" and sent_at is not None:
            sent[step_id] += 1
            messages.append(
                {
                    # Someone merged away or deleted by the end: the address it went to
                    # (a row id would differ between runs split differently by person).
                    "person": labels.get(person_id) or to or f"#{person_id}",
                    "campaign": campaign.id,
                    "step": step_id,
                    "entry_key": keys.get(journey_id or 0, ""),
                    "at": sent_at,
                    "at_iso": format_instant(sent_at),
                    "subject": subject or "",
                    "to": to or "",
                }
            )
            continue
        key = f"suppressed:{why}" if state == "suppressed" and why else state
        if state == "failed" and why:
            problems.append(f"{campaign.id}/{step_id}: {why}")
        if step is not None:
            step.skipped[key] = step.skipped.get(key, 0) + 1
    funnel.messages = len(messages)
    for step in steps:
        step.sent = sent[step.id]
        step.skipped = dict(sorted(step.skipped.items()))
        step.exited = dict(sorted(step.exited.items()))
        step.paths = dict(sorted(step.paths.items()))
    funnel.steps = steps
    return funnel, rows, messages, sorted(set(problems))


def _clean(detail: Any) -> Any:
    """A detail with its keys sorted (recursively) and run-specific ids left out."""
    if isinstance(detail, dict):
        return {k: _clean(detail[k]) for k in sorted(detail) if k not in _STORE_IDS}
    if isinstance(detail, list):
        return [_clean(v) for v in detail]
    return detail


def timeline(store: Store, person_key: str) -> tuple[str, list[TimelineEntry]]:
    """A person's events and the decisions about them, oldest first (at an equal time
    events come first, then decisions in the order they were made).

    Raises:
        NotFound: when nobody in the replay has this id or email.
    """
    person = store.people.by_external_id(person_key) or store.people.by_email(person_key)
    if person is None:
        raise NotFound(f"person {person_key} is not in the replayed events")
    rows: list[tuple[int, int, int, TimelineEntry]] = []
    for event in store.events.for_person(person.id, limit=1_000_000):
        kind = event.type if event.name is None else f"{event.type} {event.name}"
        entry = TimelineEntry(
            at=event.timestamp,
            at_iso=format_instant(event.timestamp),
            source="event",
            kind=kind,
            detail=_clean(event.properties),
        )
        rows.append((event.timestamp, 0, event.seq, entry))
    for decision in store.activity.for_person(person.id, limit=1_000_000):
        entry = TimelineEntry(
            at=decision.at,
            at_iso=format_instant(decision.at),
            source="decision",
            kind=decision.kind,
            campaign=decision.campaign,
            step=decision.step,
            detail=_clean(decision.detail),
        )
        rows.append((decision.at, 1, decision.id, entry))
    rows.sort(key=lambda r: r[:3])
    return person.label, [r[3] for r in rows]


@dataclass
class ReplayOutcome:
    """What a scratch store holds at the end of a replay, before the operation counts are
    added: what `assemble` makes a report of (`collect` reads it), and what a worker
    process hands back to be merged with the others' (`simulation_merge`).

    Attributes:
        people: people in the store.
        funnels: one per campaign, in request order (journeys in report order, except
            as `load_outcome` gives them: unsorted, the merge sorts).
        messages: every message sent, in report order (unsorted from `load_outcome`).
        failures: per campaign, its sorted distinct `campaign/step: template error`.
        person: the label of the person whose timeline was asked for, when found here.
        timeline: that person's timeline (empty when not found here).
    """

    people: int
    funnels: list[CampaignFunnel]
    messages: list[MessageRow]
    failures: list[list[str]]
    person: str | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)


def journey_order(j: JourneyPath) -> tuple[int, str, str]:
    """How a funnel lists journeys: by entry time, ties by person, key."""
    return (j.entered_at, j.person, j.entry_key)


def message_order(m: MessageRow) -> tuple[int, str, str, str, str]:
    """How a report lists messages: by time, ties by campaign, person, step, key."""
    return (m.at, m.campaign, m.person, m.step, m.entry_key)


def collect(
    store: Store, definitions: Definitions, person: str | None, *, must_find: bool = True
) -> ReplayOutcome:
    """Read a finished replay's scratch store.

    Args:
        person: whose timeline to read, or None.
        must_find: whether a `person` missing from this store is an error (a worker
            process holds only some people: the merge decides).

    Raises:
        NotFound: when `person` is not in the store and `must_find`.
    """
    outcome = ReplayOutcome(people=0, funnels=[], messages=[], failures=[])
    for part in _outcome_parts(store, definitions, person, must_find):
        _add_part(outcome, part)
    for funnel in outcome.funnels:
        funnel.journeys.sort(key=journey_order)
    outcome.messages.sort(key=message_order)
    return outcome


def dump_outcome(store: Store, definitions: Definitions, person: str | None, out: BinaryIO) -> None:
    """Write what `collect(..., must_find=False)` reads to a file, one campaign at a
    time, each let go of once written: a worker process holds one campaign's journeys
    and messages at most, not all of them (`load_outcome` reads it back)."""
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    for part in _outcome_parts(store, definitions, person, False):
        pickler.dump(part)
        pickler.clear_memo()
    pickler.dump(None)


def load_outcome(source: BinaryIO) -> ReplayOutcome:
    """What `dump_outcome` wrote, as `collect` gives it but unsorted (for
    `merge_outcomes`, which sorts what it merges)."""
    outcome = ReplayOutcome(people=0, funnels=[], messages=[], failures=[])
    while (part := pickle.load(source)) is not None:
        _add_part(outcome, part)
    return outcome


#: One piece of an outcome: ("campaign", funnel, journey rows, message rows, failures)
#: per campaign, then ("people", count, person label or None, timeline).
_Part = tuple[Any, ...]


def _outcome_parts(
    store: Store, definitions: Definitions, person: str | None, must_find: bool
) -> Iterator[_Part]:
    labels = {p.id: p.label for p in store.people.iter_all()}
    for cid, version in definitions.versions.items():
        yield ("campaign", *_funnel(store, version, definitions.sources[cid], labels))
    found: tuple[str | None, list[TimelineEntry]] = (None, [])
    if person is not None:
        try:
            found = timeline(store, person)
        except NotFound:
            if must_find:
                raise
    yield ("people", len(labels), *found)


#: Rows to models in one call of pydantic's core (about 2.5 us a row, against 3.4 us
#: for each model built on its own and 7 us for each unpickled).
_JOURNEYS = TypeAdapter(list[JourneyPath])
_MESSAGES = TypeAdapter(list[MessageRow])


def _add_part(outcome: ReplayOutcome, part: _Part) -> None:
    if part[0] == "campaign":
        _, funnel, journeys, sent, failed = part
        funnel.journeys = _JOURNEYS.validate_python(journeys)
        outcome.funnels.append(funnel)
        outcome.messages += _MESSAGES.validate_python(sent)
        outcome.failures.append(failed)
    else:
        _, outcome.people, outcome.person, outcome.timeline = part


def assemble(
    outcome: ReplayOutcome,
    *,
    start: int | None,
    end: int | None,
    counts: tuple[int, int, int, int, int],
    problems: list[str],
    person: str | None,
    prior: int = 0,
) -> SimulationReport:
    """The report of a finished replay from what its store(s) held (`collect`, or the
    workers' outcomes merged).

    Args:
        outcome: what the scratch store held (merged, for a replay split by person).
        start, end: the virtual span, ms UTC.
        counts: operations, applied, duplicates, skipped, rejected.
        problems: `where: reason` of rejected operations (the first few).
        person: whose timeline was asked for, or None.
        prior: operations recorded before the range, applied as the starting state.

    Raises:
        NotFound: when `person` was asked for and is not in the replay.
    """
    if person is not None and outcome.person is None:
        raise NotFound(f"person {person} is not in the replayed events")
    report = SimulationReport(
        start=start,
        start_iso=None if start is None else format_instant(start),
        end=end,
        end_iso=None if end is None else format_instant(end),
        people=outcome.people,
        prior=prior,
    )
    report.operations, report.applied, report.duplicates, report.skipped, report.rejected = counts
    report.campaigns = outcome.funnels
    report.messages = outcome.messages
    failures = [line for lines in outcome.failures for line in lines]
    report.problems = problems + failures[: max(0, 20 - len(problems))]
    report.person, report.timeline = outcome.person, outcome.timeline
    return report
