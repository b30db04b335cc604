"""Comparing two simulations of the same events: what a change to a campaign changes,
and for whom."""

from __future__ import annotations

from collections import Counter

from app.service.simulation_build import step_tree
from app.service.simulation_report import (
    CampaignFunnel,
    Comparison,
    MessageRow,
    PathChange,
    SimulationReport,
    StepDelta,
    StepFunnel,
)

#: What identifies a message across two runs: who, which campaign (by position), which
#: step, when, and what it said.
_MessageKey = tuple[str, int, str, int, str]


def _step_deltas(base: CampaignFunnel, other: CampaignFunnel) -> list[StepDelta]:
    mine = {s.id: s for s in base.steps}
    theirs = {s.id: s for s in other.steps}
    order = [s.id for s in base.steps] + [s.id for s in other.steps if s.id not in mine]
    zero = StepFunnel(id="", kind="", depth=0)
    out: list[StepDelta] = []
    for step_id in order:
        a, b = mine.get(step_id, zero), theirs.get(step_id, zero)
        shown = a if step_id in mine else b
        out.append(
            StepDelta(
                campaign=base.campaign,
                id=step_id,
                kind=shown.kind,
                depth=shown.depth,
                in_base=step_id in mine,
                in_other=step_id in theirs,
                reached=(a.reached, b.reached),
                sent=(a.sent, b.sent),
                waiting=(a.waiting, b.waiting),
                reached_delta=b.reached - a.reached,
                sent_delta=b.sent - a.sent,
            )
        )
    return out


def _message_keys(report: SimulationReport) -> dict[_MessageKey, list[MessageRow]]:
    position = {f.campaign: i for i, f in enumerate(report.campaigns)}
    found: dict[_MessageKey, list[MessageRow]] = {}
    for m in report.messages:
        key = (m.person, position.get(m.campaign, -1), m.step, m.at, m.subject)
        found.setdefault(key, []).append(m)
    return found


def _message_changes(
    base: SimulationReport, other: SimulationReport
) -> tuple[list[MessageRow], list[MessageRow]]:
    mine, theirs = _message_keys(base), _message_keys(other)
    added: list[MessageRow] = []
    removed: list[MessageRow] = []
    for key in mine.keys() | theirs.keys():
        a, b = mine.get(key, []), theirs.get(key, [])
        if len(b) > len(a):
            added += b[len(a) :]
        elif len(a) > len(b):
            removed += a[len(b) :]

    def order(m: MessageRow) -> tuple[int, str, str, str]:
        return (m.at, m.person, m.campaign, m.step)

    return sorted(added, key=order), sorted(removed, key=order)


def _label(report: SimulationReport) -> str:
    """What a side of a comparison is: its campaigns' sources (file or draft names)."""
    return ", ".join(f.source for f in report.campaigns) or "no campaign"


def compare_reports(base: SimulationReport, other: SimulationReport) -> Comparison:
    """What changes from `base` to `other` (two runs on the same events).

    Campaigns are matched by position (the first of one with the first of the other),
    so a draft may carry a new id.
    """
    comparison = Comparison(
        base_label=_label(base), other_label=_label(other), base=base, other=other
    )
    changes: list[PathChange] = []
    for a, b in zip(base.campaigns, other.campaigns, strict=False):
        comparison.steps += _step_deltas(a, b)
        comparison.converted[a.campaign] = (a.converted, b.converted)
        mine = {(j.person, j.entry_key, j.entered_at): j for j in a.journeys}
        theirs = {(j.person, j.entry_key, j.entered_at): j for j in b.journeys}
        for key in sorted(mine.keys() & theirs.keys()):
            if mine[key].path != theirs[key].path:
                changes.append(
                    PathChange(
                        person=key[0],
                        campaign=a.campaign,
                        entry_key=key[1],
                        entered_at=key[2],
                        base=mine[key].path,
                        other=theirs[key].path,
                    )
                )
    comparison.path_changes = changes
    comparison.messages_added, comparison.messages_removed = _message_changes(base, other)
    people: Counter[str] = Counter()
    for change in changes:
        people[change.person] += 1
    for m in comparison.messages_added + comparison.messages_removed:
        people[m.person] += 1
    comparison.people_affected = sorted(people)
    return comparison


__all__ = ["compare_reports", "step_tree"]
