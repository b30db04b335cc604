"""Read-side views of campaigns and journeys, for `nudge campaigns` and `nudge journeys`
(and later the console): counts from the journeys table and the outbox, the step tree
of a loaded campaign, one person's journeys step by step from the activity log.

Nothing here writes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from app.core.campaigns import Step
from app.core.describe import describe_goal, describe_path, describe_step, describe_trigger
from app.core.errors import NotFound
from app.core.models import ActivityEntry, Journey, Person
from app.core.times import format_instant
from app.service.people import find_person
from app.store import Store

if TYPE_CHECKING:
    from app.service.workspace import Workspace

#: The `state` shown for a campaign that has journeys but whose file is gone or broken.
NOT_LOADED = "not loaded"


# -- campaigns list --------------------------------------------------------------------


@dataclass(slots=True)
class CampaignRow:
    """One line of `nudge campaigns list`: journey counts of a campaign.

    Attributes:
        state: draft, active, paused, archived, or `not loaded` (journeys remain but
            the file is gone or has errors).
        active: journeys in it now; entered: all journeys ever; converted: journeys
            whose goal converted; completed / exited: ended ones.
    """

    id: str
    name: str
    state: str
    active: int = 0
    entered: int = 0
    converted: int = 0
    completed: int = 0
    exited: int = 0


def campaign_rows(workspace: Workspace) -> list[CampaignRow]:
    """Every loaded campaign, and every campaign with journeys, by id."""
    counts = workspace.store.journeys.campaign_counts()
    versions = workspace.engine.versions
    rows = []
    for cid in sorted(versions.keys() | counts.keys()):
        version = versions.get(cid)
        c = counts.get(cid, {})
        rows.append(
            CampaignRow(
                cid,
                version.campaign.name if version else "",
                version.campaign.state if version else NOT_LOADED,
                active=c.get("active", 0),
                entered=c.get("entered", 0),
                converted=c.get("converted", 0),
                completed=c.get("completed", 0),
                exited=c.get("exited", 0),
            )
        )
    return rows


# -- campaigns show --------------------------------------------------------------------


@dataclass(slots=True)
class StepNode:
    """A step with its counts, and the paths nested under it.

    Attributes:
        summary: what the step does, in a few words (`send welcome_hello`, `delay 2d`).
        reached: journeys that ever arrived at it.
        waiting: active journeys at it now.
        queued: deliveries it created (any state); None for steps that send nothing.
    """

    id: str
    kind: str
    summary: str
    reached: int
    waiting: int
    queued: int | None
    paths: list[PathNode] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "id": self.id,
            "kind": self.kind,
            "summary": self.summary,
            "reached": self.reached,
            "waiting": self.waiting,
            "queued": self.queued,
            "paths": [p.as_dict() for p in self.paths],
        }


@dataclass(slots=True)
class PathNode:
    """A labelled way out of a step (`then`, `else`, a wait or split path, `timeout`).

    Attributes:
        summary: when it is taken (a condition, a percentage, a time), or ''.
    """

    label: str
    summary: str
    steps: list[StepNode] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "label": self.label,
            "summary": self.summary,
            "steps": [s.as_dict() for s in self.steps],
        }


@dataclass(slots=True)
class CampaignReport:
    """A loaded campaign: what it is, its journey counts and its step tree."""

    row: CampaignRow
    file: str
    version: str
    trigger: str
    goal: str | None
    exit: str
    steps: list[StepNode]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            **asdict(self.row),
            "file": self.file,
            "version": self.version,
            "trigger": self.trigger,
            "goal": self.goal,
            "exit": self.exit,
            "steps": [s.as_dict() for s in self.steps],
        }


def campaign_report(workspace: Workspace, campaign_id: str) -> CampaignReport:
    """A loaded campaign's step tree with, per step, journeys that reached it, journeys
    waiting at it now and deliveries it queued.

    Raises:
        NotFound: when no loaded campaign has that id.
    """
    row = next((r for r in campaign_rows(workspace) if r.id == campaign_id), None)
    version = workspace.engine.versions.get(campaign_id)
    if version is None:
        hint = (
            "its file is gone or did not load: see `nudge check`"
            if row
            else "see `nudge campaigns list`"
        )
        raise NotFound(f"no campaign {campaign_id!r} ({hint})")
    assert row is not None  # every loaded campaign has a row
    store = workspace.store
    counts = _StepCounts(
        store.journeys.reached_counts(campaign_id),
        store.journeys.step_counts(campaign_id),
        store.deliveries.step_counts(campaign_id),
    )
    campaign = version.campaign
    return CampaignReport(
        row,
        version.file,
        version.hash,
        describe_trigger(version),
        describe_goal(version),
        campaign.exit,
        [_node(step, counts) for step in campaign.steps],
    )


@dataclass(slots=True)
class _StepCounts:
    reached: dict[str, int]
    waiting: dict[str, int]
    queued: dict[str, int]


def _node(step: Step, counts: _StepCounts) -> StepNode:
    node = StepNode(
        step.id,
        step.kind,
        describe_step(step),
        counts.reached.get(step.id, 0),
        counts.waiting.get(step.id, 0),
        counts.queued.get(step.id, 0) if step.send is not None else None,
    )
    for label, kids in step.children():
        node.paths.append(
            PathNode(label, describe_path(step, label), [_node(k, counts) for k in kids])
        )
    return node


# -- journeys show ---------------------------------------------------------------------


@dataclass(slots=True)
class JourneyView:
    """One journey and its decisions, oldest first."""

    journey: Journey
    entries: list[ActivityEntry]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (times as ISO 8601 UTC)."""
        j = self.journey
        return {
            "journey": j.id,
            "campaign": j.campaign_id,
            "version": j.version,
            "state": j.state,
            "step": j.step_id,
            "entered_at": format_instant(j.entered_at),
            "next_due_at": None if j.next_due_at is None else format_instant(j.next_due_at),
            "converted_at": None if j.converted_at is None else format_instant(j.converted_at),
            "ended_at": None if j.ended_at is None else format_instant(j.ended_at),
            "exit_reason": j.exit_reason,
            "steps": [
                {
                    "at": format_instant(e.at),
                    "kind": e.kind,
                    "step": e.step,
                    "detail": {k: v for k, v in e.detail.items() if k != "journey"},
                }
                for e in self.entries
            ],
        }


@dataclass(slots=True)
class PersonJourneys:
    """Everything a person went through in campaigns, oldest journey first."""

    person: Person
    journeys: list[JourneyView]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "person": self.person.label,
            "email": self.person.email,
            "journeys": [j.as_dict() for j in self.journeys],
        }


def person_journeys(store: Store, key: str) -> PersonJourneys:
    """Every journey of a person (by id, email or `#row`), each with its decisions from
    the activity log, step by step.

    Raises:
        NotFound: when nobody matches.
    """
    person = find_person(store, key)
    by_journey: dict[int, list[ActivityEntry]] = {}
    for entry in store.journeys.activity_of_person(person.id):
        journey_id = entry.detail.get("journey")
        if isinstance(journey_id, int):
            by_journey.setdefault(journey_id, []).append(entry)
    views = [JourneyView(j, by_journey.get(j.id, [])) for j in store.journeys.for_person(person.id)]
    return PersonJourneys(person, views)
