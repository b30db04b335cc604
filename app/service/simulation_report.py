"""What a simulation reports, as pydantic models (the CLI prints them as text or JSON,
the console draws them).

Every time is ms since the epoch, UTC, with an ISO 8601 twin (`*_iso`) for reading.
Nothing in a report depends on the wall clock, on random ids or on dict order:
`report_json` of the same inputs is the same bytes in any process.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepFunnel(_Model):
    """One step of a campaign's step tree, with what happened there.

    Steps come in tree order (depth first, as written). `parent` is the id of the step
    whose path holds this one (None at the top level) and `branch` the label of that
    path (`then`, `else`, `timeout` or a path id), so a console can draw the tree.

    Attributes:
        id: the step id.
        kind: send, delay, delay_until, time_window, wait_until, branch, split,
            random_cohort, update_attributes or exit.
        depth: 0 at the top level, one more per enclosing path.
        parent: the enclosing step's id, or None.
        branch: the label of the enclosing path, or None at the top level.
        reached: journeys that reached this step (each journey once).
        sent: messages sent from this step (send steps).
        skipped: per reason, messages not sent (suppressed `no_email`, `failed` with a
            template error, `limited`, ...) and steps skipped by the engine.
        waiting: journeys still at this step when the simulation ended.
        exited: per reason, journeys that ended while at this step (`completed` too).
        paths: per path label (branches, splits, waits, cohorts), journeys that took it.
    """

    id: str
    kind: str
    depth: int
    parent: str | None = None
    branch: str | None = None
    reached: int = 0
    sent: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    waiting: int = 0
    exited: dict[str, int] = Field(default_factory=dict)
    paths: dict[str, int] = Field(default_factory=dict)


class PathCount(_Model):
    """A distinct path through a campaign (the step ids a journey reached, in order)."""

    steps: list[str]
    journeys: int


class JourneyPath(_Model):
    """One journey: whose, its key and entry time, the steps it reached, how it stands.

    Attributes:
        person: external id (else email, else `#row`). entry_key: '' without a key.
        entered_at: ms UTC. path: step ids reached, in order.
        state: active, completed or exited; exit_reason: why it ended (None if active).
        converted_at: when its goal converted, or None.
    """

    person: str
    entry_key: str
    entered_at: int
    path: list[str]
    state: str
    exit_reason: str | None = None
    converted_at: int | None = None


class CampaignFunnel(_Model):
    """One simulated campaign.

    Attributes:
        campaign: its id. name: its name. version: its version hash.
        source: where it came from (a file path, or the draft's name).
        entered: journeys that entered. people: distinct people who entered.
        active: journeys still active at the end. completed: journeys that ran to the end.
        exited: per reason, journeys that exited early.
        converted: journeys whose goal converted; conversion_rate = converted / entered
            (0.0 when none entered).
        messages: messages sent.
        steps: the step tree in order, with counts.
        paths: distinct paths, most frequent first (ties by the steps).
        journeys: every journey, by entry time (ties by person, key).
    """

    campaign: str
    name: str
    version: str
    source: str
    entered: int = 0
    people: int = 0
    active: int = 0
    completed: int = 0
    exited: dict[str, int] = Field(default_factory=dict)
    converted: int = 0
    conversion_rate: float = 0.0
    messages: int = 0
    steps: list[StepFunnel] = Field(default_factory=list)
    paths: list[PathCount] = Field(default_factory=list)
    journeys: list[JourneyPath] = Field(default_factory=list)


class MessageRow(_Model):
    """A message the simulation sent (to its recording mailer).

    Attributes:
        person: the person's external id (else email, else `#row`); for someone
            merged away or deleted by the end, the address it went to.
        campaign, step: where it came from. entry_key: the journey's key ('' without one).
        at: when it went out, ms UTC; at_iso: the same in ISO 8601.
        subject: the rendered subject.
        to: the address it went to.
    """

    person: str
    campaign: str
    step: str
    entry_key: str = ""
    at: int
    at_iso: str
    subject: str
    to: str = ""


class TimelineEntry(_Model):
    """One line of a person's timeline: an event they performed or a decision of the
    engine about them (the activity log), interleaved by time.

    Attributes:
        at: ms UTC; at_iso: the same in ISO 8601.
        source: `event` or `decision`.
        kind: the event type and name (`track O_Sent`, `identify`) or the decision kind
            (`journey.entered`, `wait.timed_out`, `message.sent`, ...).
        campaign, step: for decisions, where.
        detail: the event's properties or the decision's detail (keys sorted).
    """

    at: int
    at_iso: str
    source: str
    kind: str
    campaign: str | None = None
    step: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class SimulationReport(_Model):
    """The outcome of one simulation.

    Attributes:
        start, end: the virtual time span replayed: the first operation (or `from`) and
            the instant the clock was advanced to at the end (`to`, `--until` or the
            last operation), ms UTC, with ISO twins.
        prior: operations recorded before `from` (a `LiveHistory` with a start), applied
            first as the state the campaigns go live on: attributes, emails, history.
        operations: operations read from the source; applied / duplicates / skipped /
            rejected: what ingest made of them; problems: the first rejected ones,
            `source:line: reason`.
        people: people in the scratch store at the end.
        campaigns: one funnel per campaign, in the order given.
        messages: every message sent, by time (ties by campaign, person, step).
        person: the person asked for (`--person`), and their timeline.
    """

    start: int | None = None
    start_iso: str | None = None
    end: int | None = None
    end_iso: str | None = None
    prior: int = 0
    operations: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped: int = 0
    rejected: int = 0
    problems: list[str] = Field(default_factory=list)
    people: int = 0
    campaigns: list[CampaignFunnel] = Field(default_factory=list)
    messages: list[MessageRow] = Field(default_factory=list)
    person: str | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)


class StepDelta(_Model):
    """One step in two versions: its counts in each and the differences.

    A step present in only one version has zeros (and `in_base` / `in_other` False) on
    the other side.
    """

    campaign: str
    id: str
    kind: str
    depth: int
    in_base: bool
    in_other: bool
    reached: tuple[int, int]
    sent: tuple[int, int]
    waiting: tuple[int, int]
    reached_delta: int
    sent_delta: int


class PathChange(_Model):
    """A journey (person, campaign, key, entry time) that took a different path."""

    person: str
    campaign: str
    entry_key: str
    entered_at: int
    base: list[str]
    other: list[str]


class Comparison(_Model):
    """Two versions run on the same events.

    Every `x -> y` and `(x, y)` reads base -> other: what changes if `other` replaces
    `base` (with `--compare-live`, the base is the version the database runs).

    Attributes:
        base_label, other_label: what each side is, for reading the direction: its
            campaigns' sources (file names, `running version (file)`, or draft names).
        base, other: the two full reports.
        steps: per campaign (matched by position), every step of either version, in
            the base's tree order then the other's new steps.
        converted: (base, other) conversions per campaign id of the base.
        path_changes: journeys whose path differs (present in both runs).
        messages_added: sent by `other` and not by `base`; messages_removed: the reverse
            (matched on person, campaign position, step, time and subject).
        people_affected: the people in any of the three lists above, sorted.
    """

    base_label: str = ""
    other_label: str = ""
    base: SimulationReport
    other: SimulationReport
    steps: list[StepDelta] = Field(default_factory=list)
    converted: dict[str, tuple[int, int]] = Field(default_factory=dict)
    path_changes: list[PathChange] = Field(default_factory=list)
    messages_added: list[MessageRow] = Field(default_factory=list)
    messages_removed: list[MessageRow] = Field(default_factory=list)
    people_affected: list[str] = Field(default_factory=list)


def report_json(model: BaseModel, indent: bool = True) -> str:
    """A report or comparison as JSON with sorted keys: the same bytes for the same
    inputs, in any process."""
    option = orjson.OPT_SORT_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(model.model_dump(mode="json"), option=option).decode()
