"""Merging what the worker processes of one simulation found, each over its own people
(`simulation_groups`), into what a single replay over everyone finds: counts add up,
lists are merged in the report's own order, and nothing depends on which worker held whom.
"""

from __future__ import annotations

from collections import Counter

from app.service.simulation_build import ReplayOutcome, journey_order, message_order
from app.service.simulation_report import CampaignFunnel, PathCount, StepFunnel


def merge_outcomes(parts: list[ReplayOutcome]) -> ReplayOutcome:
    """One outcome from the outcomes of disjoint sets of people (same campaigns, in the
    same order; their journeys and messages in any order: sorted here). Raises nothing;
    an empty list is not allowed (IndexError)."""
    first = parts[0]
    merged = ReplayOutcome(
        people=sum(p.people for p in parts),
        funnels=[_merge_funnel([p.funnels[i] for p in parts]) for i in range(len(first.funnels))],
        messages=sorted((m for p in parts for m in p.messages), key=message_order),
        failures=[
            sorted({line for p in parts for line in p.failures[i]})
            for i in range(len(first.failures))
        ],
    )
    for part in parts:
        if part.person is not None:
            merged.person, merged.timeline = part.person, part.timeline
    return merged


def _merge_funnel(parts: list[CampaignFunnel]) -> CampaignFunnel:
    first = parts[0]
    funnel = CampaignFunnel(
        campaign=first.campaign, name=first.name, version=first.version, source=first.source
    )
    for part in parts:
        funnel.entered += part.entered
        funnel.people += part.people
        funnel.active += part.active
        funnel.completed += part.completed
        funnel.converted += part.converted
        funnel.messages += part.messages
    funnel.exited = _add([p.exited for p in parts])
    funnel.conversion_rate = round(funnel.converted / funnel.entered, 6) if funnel.entered else 0.0
    funnel.steps = [_merge_step([p.steps[i] for p in parts]) for i in range(len(first.steps))]
    paths: Counter[tuple[str, ...]] = Counter()
    for part in parts:
        for path in part.paths:
            paths[tuple(path.steps)] += path.journeys
    funnel.paths = [
        PathCount(steps=list(p), journeys=n)
        for p, n in sorted(paths.items(), key=lambda item: (-item[1], item[0]))
    ]
    funnel.journeys = sorted((j for p in parts for j in p.journeys), key=journey_order)
    return funnel


def _merge_step(parts: list[StepFunnel]) -> StepFunnel:
    step = parts[0].model_copy(update={"reached": 0, "sent": 0, "waiting": 0})
    for part in parts:
        step.reached += part.reached
        step.sent += part.sent
        step.waiting += part.waiting
    step.skipped = _add([p.skipped for p in parts])
    step.exited = _add([p.exited for p in parts])
    step.paths = _add([p.paths for p in parts])
    return step


def _add(counts: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for one in counts:
        total.update(one)
    return dict(sorted(total.items()))
