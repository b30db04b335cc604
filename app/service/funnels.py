"""A campaign's funnel: its step tree with, per step, journeys that reached it and wait
there now, and per branch, how many took it; flattened into rows ready to draw.

Counts come from the journeys table (steps) and the activity log (branches), the same
sources as `nudge campaigns show` (`app.service.reports`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.core.models import Journey
from app.service.reports import CampaignReport, StepNode, campaign_report

if TYPE_CHECKING:
    from app.service.workspace import Workspace


@dataclass(frozen=True, slots=True)
class FunnelRow:
    """One line of a drawn funnel.

    Attributes:
        depth: nesting (0 for top-level steps; paths and their steps go one deeper each).
        kind: `step` or `path`.
        label: the step id or path label.
        summary: what the step does, or when the path is taken.
        count: journeys that reached the step / took the path.
        waiting: active journeys at the step now (0 for paths).
        queued: messages the step queued (None when it sends nothing).
    """

    depth: int
    kind: str
    label: str
    summary: str
    count: int
    waiting: int = 0
    queued: int | None = None


@dataclass(slots=True)
class Funnel:
    """A campaign's report (counts, trigger, goal) and its funnel rows, in tree order."""

    report: CampaignReport
    rows: list[FunnelRow]

    @property
    def entered(self) -> int:
        """Journeys that entered: the 100% of every bar."""
        return self.report.row.entered


def campaign_funnel(workspace: Workspace, campaign_id: str) -> Funnel:
    """The funnel of a loaded campaign.

    Raises:
        NotFound: when no loaded campaign has that id.
    """
    report = campaign_report(workspace, campaign_id)
    paths = workspace.store.funnels.path_counts(campaign_id)
    rows: list[FunnelRow] = []

    def walk(steps: list[StepNode], depth: int) -> None:
        for step in steps:
            rows.append(
                FunnelRow(
                    depth, "step", step.id, step.summary, step.reached, step.waiting, step.queued
                )
            )
            for path in step.paths:
                taken = paths.get((step.id, path.label), 0)
                rows.append(FunnelRow(depth + 1, "path", path.label, path.summary, taken))
                walk(path.steps, depth + 2)

    walk(report.steps, 0)
    return Funnel(report, rows)


def recent_journeys(
    workspace: Workspace, campaign_id: str, limit: int = 50, before_id: int | None = None
) -> list[Journey]:
    """A campaign's journeys, latest entry first (keyset paging on the journey id)."""
    return workspace.store.funnels.latest_journeys(campaign_id, limit, before_id)
