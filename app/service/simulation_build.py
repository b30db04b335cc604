"""Reading a finished simulation's scratch store into a `SimulationReport`: funnels from
the journeys and the activity log (invariant 5), messages from the outbox, a person's
timeline from their events and the decisions about them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

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

#: Detail keys that differ between two runs of the same inputs (derived from the scratch
#: database's random id), left out of timelines.
_RANDOM_DETAIL = frozenset({"message_id"})
#: Decisions whose detail names the path taken at a step.
_PATH_KINDS = {"branch.taken", "wait.met"}


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
) -> tuple[CampaignFunnel, list[MessageRow], list[str]]:
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
    exited: Counter[str] = Counter()
    paths: Counter[tuple[str, ...]] = Counter()
    rows: list[JourneyPath] = []
    for journey in journeys:
        rows.append(
            JourneyPath(
                person=labels.get(journey.person_id, f"#{journey.person_id}"),
                entry_key=journey.entry_key,
                entered_at=journey.entered_at,
                path=list(journey.path),
                state=journey.state,
                exit_reason=journey.exit_reason,
                converted_at=journey.converted_at,
            )
        )
        paths[tuple(journey.path)] += 1
        for step_id in set(journey.path):
            if step_id in by_id:
                by_id[step_id].reached += 1
        if journey.converted_at is not None:
            funnel.converted += 1
        at = by_id.get(journey.step_id or "")
        if journey.state == "active":
            funnel.active += 1
            if at is not None:
                at.waiting += 1
            continue
        reason = journey.exit_reason or journey.state
        if journey.state == "completed":
            funnel.completed += 1
        else:
            exited[reason] += 1
        if at is not None:
            at.exited[reason] = at.exited.get(reason, 0) + 1
    funnel.journeys = sorted(rows, key=lambda r: (r.entered_at, r.person, r.entry_key))
    funnel.exited = dict(sorted(exited.items()))
    funnel.conversion_rate = round(funnel.converted / funnel.entered, 6) if funnel.entered else 0.0
    funnel.paths = [
        PathCount(steps=list(p), journeys=n)
        for p, n in sorted(paths.items(), key=lambda item: (-item[1], item[0]))
    ]
    for at_step, kind, label, count in store.activity.decision_counts(campaign.id):
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
    messages: list[MessageRow] = []
    problems: list[str] = []
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
            funnel.messages += 1
            if step is not None:
                step.sent += 1
            messages.append(
                MessageRow(
                    person=labels.get(person_id, f"#{person_id}"),
                    campaign=campaign.id,
                    step=step_id,
                    entry_key=keys.get(journey_id or 0, ""),
                    at=sent_at,
                    at_iso=format_instant(sent_at),
                    subject=subject or "",
                    to=to or "",
                )
            )
            continue
        key = f"suppressed:{why}" if state == "suppressed" and why else state
        if state == "failed" and why:
            problems.append(f"{campaign.id}/{step_id}: {why}")
        if step is not None:
            step.skipped[key] = step.skipped.get(key, 0) + 1
    for step in steps:
        step.skipped = dict(sorted(step.skipped.items()))
        step.exited = dict(sorted(step.exited.items()))
        step.paths = dict(sorted(step.paths.items()))
    funnel.steps = steps
    return funnel, messages, sorted(set(problems))


def _clean(detail: Any) -> Any:
    """A detail with its keys sorted (recursively) and run-specific ids left out."""
    if isinstance(detail, dict):
        return {k: _clean(detail[k]) for k in sorted(detail) if k not in _RANDOM_DETAIL}
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


def build_report(
    store: Store,
    definitions: Definitions,
    *,
    start: int | None,
    end: int | None,
    counts: tuple[int, int, int, int, int],
    problems: list[str],
    person: str | None,
    prior: int = 0,
) -> SimulationReport:
    """The report of a finished replay.

    Args:
        store: the scratch store.
        definitions: the campaigns simulated (in request order) and their sources.
        start, end: the virtual span, ms UTC.
        counts: operations, applied, duplicates, skipped, rejected.
        problems: `where: reason` of rejected operations (the first few).
        person: whose timeline to include, or None.
        prior: operations recorded before the range, applied as the starting state.

    Raises:
        NotFound: when `person` is not in the replay.
    """
    labels = {p.id: p.label for p in store.people.iter_all()}
    report = SimulationReport(
        start=start,
        start_iso=None if start is None else format_instant(start),
        end=end,
        end_iso=None if end is None else format_instant(end),
        people=len(labels),
        prior=prior,
    )
    report.operations, report.applied, report.duplicates, report.skipped, report.rejected = counts
    messages: list[MessageRow] = []
    failures: list[str] = []
    for cid, version in definitions.versions.items():
        funnel, sent, failed = _funnel(store, version, definitions.sources[cid], labels)
        report.campaigns.append(funnel)
        messages += sent
        failures += failed
    report.messages = sorted(
        messages, key=lambda m: (m.at, m.campaign, m.person, m.step, m.entry_key)
    )
    report.problems = problems + failures[: max(0, 20 - len(problems))]
    if person is not None:
        report.person, report.timeline = timeline(store, person)
    return report
