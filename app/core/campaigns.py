"""Campaign definitions: one YAML file each under `campaigns/`.

```yaml
id: welcome
name: Welcome and first key action
state: active                      # draft | active | paused | archived
trigger:
  event: signed_up                 # or segment_entered / segment_exited: <id>,
  where: {plan: trial}             #    or date: {attribute: trial_ends_at, offset: -3d}
                                   # (event: [a, b] enters on any of several events)
entry_filter: {attribute: email, exists: true}
re_entry: once                     # once | every_time | after_rematch | {after: 30d}
exit: exit_on_conversion
goal: {performed: project_created, within: 14d}
steps:
  - id: hello
    send: {template: welcome_hello, subject: "Welcome, {{ person.first_name | default('there') }}"}
  - id: wait_first_action
    wait_until:
      paths:
        - id: did_it
          when: {performed: project_created, since: entry}
      max_time: 36h
  - id: check
    branch:
      if: {performed: project_created, since: entry}
      then:
        - id: celebrate
          send: {template: welcome_celebrate, subject: "Nice work"}
      else:
        - id: guide
          send: {template: welcome_guide, subject: "Getting started in 3 steps"}
```

Steps have stable ids (unique in the campaign) so an edited campaign can move people
already in flight: a journey remembers the id of the step it is at.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from app.core.conditions import (
    Condition,
    PropertyFilter,
    normalise,
    where_shorthand,
)
from app.core.errors import NudgeError
from app.core.evaluate import instant_of, resolve_path
from app.core.schedule import parse_time_of_day, parse_weekdays
from app.core.times import parse_duration, parse_instant

ExitPolicy = Literal[
    "exit_on_conversion",
    "exit_on_trigger_not_matched",
    "exit_on_trigger_not_matched_or_conversion",
    "exit_only_at_end",
]
CampaignState = Literal["draft", "active", "paused", "archived"]
_STEP_ID = r"^[A-Za-z0-9_\-]+$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _duration(value: Any) -> int:
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("must be a duration such as 15m, 36h or 7d")


def _signed_duration(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0
    if isinstance(value, str) and value.strip().startswith("-"):
        return -_duration(value.strip()[1:])
    return _duration(value)


# -- triggers ----------------------------------------------------------------------------


class EventTrigger(_Model):
    """Enter when the person performs an event (with property filters).

    `event` is one event name, or a non-empty list of distinct names: any of them
    enters (`event: [O_Sent (mail and online), O_Sent (online only)]`). Customer.io
    triggers a campaign on one event; the list is Nudge's extension, and it behaves
    as one campaign: the same `where`, `key` and `re_entry` apply whichever listed
    event arrives. `key` names a property (e.g. `cart_id`): one journey per distinct
    value.
    """

    event: str | tuple[str, ...]
    where: list[PropertyFilter] = Field(default_factory=list)
    key: str | None = None

    @field_validator("event", mode="before")
    @classmethod
    def _event(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value  # one name: exactly as before the list form
        if not isinstance(value, list | tuple):
            raise ValueError("must be an event name or a list of event names")
        if not value:
            raise ValueError("the list of events is empty: name at least one event")
        seen: set[str] = set()
        for index, name in enumerate(value, start=1):
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"event {index} of the list is not an event name")
            if name in seen:
                raise ValueError(f"the list names event {name!r} twice")
            seen.add(name)
        return tuple(value)

    @property
    def events(self) -> tuple[str, ...]:
        """The event names that enter, in the order written (one for a single name)."""
        return (self.event,) if isinstance(self.event, str) else self.event

    @field_validator("where", mode="before")
    @classmethod
    def _where(cls, value: Any) -> Any:
        return where_shorthand(value)


class SegmentTrigger(_Model):
    """Enter when the person enters (or leaves) a segment.

    `audience: current_and_future` also enters everyone already in the segment when
    the campaign starts; `future_only` (the default) only those who move afterwards.
    """

    segment_entered: str | None = None
    segment_exited: str | None = None
    audience: Literal["future_only", "current_and_future"] = "future_only"

    @model_validator(mode="after")
    def _one(self) -> SegmentTrigger:
        if (self.segment_entered is None) == (self.segment_exited is None):
            raise ValueError("use one of segment_entered, segment_exited")
        if self.segment_exited is not None and self.audience == "current_and_future":
            raise ValueError("current_and_future only applies to segment_entered")
        return self

    @property
    def segment_id(self) -> str:
        """The segment watched."""
        return self.segment_entered or self.segment_exited or ""


class DateSpec(_Model):
    """A timestamp attribute plus an offset (`offset: -3d` is three days before)."""

    attribute: str
    offset: int = 0

    @field_validator("offset", mode="before")
    @classmethod
    def _offset(cls, value: Any) -> int:
        return _signed_duration(value)


class DateTrigger(_Model):
    """Enter at the instant an attribute's time plus the offset arrives (not when the
    attribute arrives): `date: {attribute: trial_ends_at, offset: -3d}`."""

    date: DateSpec


class BroadcastSpec(_Model):
    """Who a broadcast goes to and when: the segment's members at `at` (ISO 8601)."""

    segment: str
    at: int

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> int:
        try:
            return parse_instant(value, "at")
        except NudgeError as exc:
            raise ValueError(exc.message) from None


class BroadcastTrigger(_Model):
    """A one-time announcement: at `at`, everyone then in the segment enters (once, with
    entry time `at`), and the steps run through the same scheduler as any journey. The
    audience is evaluated when the scheduler reaches `at` (event windows at `at`,
    attributes as they are then: live, within a tick). A time already past when the
    campaign first goes live sends nothing (as for date triggers):
    `broadcast: {segment: active_users, at: "2026-10-08T15:00:00Z"}`."""

    broadcast: BroadcastSpec


def _trigger_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            EventTrigger: "event",
            SegmentTrigger: "segment",
            DateTrigger: "date",
            BroadcastTrigger: "broadcast",
        }.get(type(value))
    if isinstance(value, dict):
        if "event" in value:
            return "event"
        if "segment_entered" in value or "segment_exited" in value:
            return "segment"
        if "date" in value:
            return "date"
        if "broadcast" in value:
            return "broadcast"
    return None


Trigger = Annotated[
    Annotated[EventTrigger, Tag("event")]
    | Annotated[SegmentTrigger, Tag("segment")]
    | Annotated[DateTrigger, Tag("date")]
    | Annotated[BroadcastTrigger, Tag("broadcast")],
    Discriminator(
        _trigger_kind,
        custom_error_type="unknown_trigger",
        custom_error_message=(
            "not a trigger: use event, segment_entered, segment_exited, date or broadcast"
        ),
    ),
]


class ReEntryAfter(_Model):
    """Re-enter once this long has passed since the last entry."""

    after: int

    @field_validator("after", mode="before")
    @classmethod
    def _after(cls, value: Any) -> int:
        return _duration(value)


ReEntry = Literal["once", "every_time", "after_rematch"] | ReEntryAfter


class Goal(_Model):
    """A conversion goal: an event (with filters) or a segment entry, within a window
    (at most 90 days, Customer.io) counted from entry or from the last message."""

    performed: str | None = None
    where: list[PropertyFilter] = Field(default_factory=list)
    segment_entered: str | None = None
    within: int
    counted_from: Literal["entry", "message"] = Field(default="entry", alias="from")

    @field_validator("where", mode="before")
    @classmethod
    def _where(cls, value: Any) -> Any:
        return where_shorthand(value)

    @field_validator("within", mode="before")
    @classmethod
    def _window(cls, value: Any) -> int:
        ms = _duration(value)
        if ms > 90 * 86_400_000:
            raise ValueError("a conversion window is at most 90d")
        return ms

    @model_validator(mode="after")
    def _one(self) -> Goal:
        if (self.performed is None) == (self.segment_entered is None):
            raise ValueError("use one of performed, segment_entered")
        if self.segment_entered is not None and self.where:
            raise ValueError("where applies to performed goals only")
        return self


# -- steps -------------------------------------------------------------------------------


class SendSpec(_Model):
    """A message: the template (files `templates/<name>.html.j2` and optional
    `.txt.j2` beside the campaigns) and the subject (a Jinja template too)."""

    template: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    subject: str
    from_address: str | None = Field(default=None, alias="from")
    reply_to: str | None = None


class DelayUntilSpec(_Model):
    """Wait until a time: a timestamp attribute, or the trigger event's time or one of
    its properties, or a point part of the way between two timestamp attributes
    (`span: [trial_started_at, trial_ends_at]`, `at: 80%`), plus an offset."""

    attribute: str | None = None
    event_property: str | None = None
    trigger_time: bool = False
    span: tuple[str, str] | None = None
    at: float | None = None
    offset: int = 0

    @field_validator("offset", mode="before")
    @classmethod
    def _offset(cls, value: Any) -> int:
        return _signed_duration(value)

    @field_validator("at", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().endswith("%"):
            value = value.strip()[:-1]
        try:
            percent = float(value)
        except (TypeError, ValueError):
            raise ValueError("must be a percentage such as 50%") from None
        if not 0 <= percent <= 100:
            raise ValueError("must be between 0% and 100%")
        return percent

    @model_validator(mode="after")
    def _one(self) -> DelayUntilSpec:
        given = [
            self.attribute is not None,
            self.event_property is not None,
            self.trigger_time,
            self.span is not None,
        ]
        if sum(given) != 1:
            raise ValueError("use one of attribute, event_property, trigger_time, span")
        if (self.span is None) != (self.at is None):
            raise ValueError("span and at go together: span: [start, end], at: 50%")
        return self

    def target(self, trigger_event: dict[str, Any], attributes: dict[str, Any]) -> int | None:
        """The instant to wait for, ms UTC, from the journey's trigger event (`name`,
        `timestamp`, `properties`) and the person's attributes; None when it names no time
        (the step is then skipped)."""
        if self.trigger_time:
            base = trigger_event.get("timestamp")
            return None if base is None else int(base) + self.offset
        if self.span is not None and self.at is not None:
            start, end = (instant_of(resolve_path(attributes, name)) for name in self.span)
            if start is None or end is None:
                return None
            return start + round((end - start) * self.at / 100) + self.offset
        if self.event_property is not None:
            value = resolve_path(trigger_event.get("properties") or {}, self.event_property)
        else:
            value = resolve_path(attributes, self.attribute or "")
        instant = instant_of(value)
        return None if instant is None else instant + self.offset


class TimeWindowSpec(_Model):
    """Allowed days and hours, in the person's time zone (else the workspace's). It holds
    only the next message; later delays count from when it was released.

    `from: "09:00"`, `to: "17:00"` (end excluded), `days: [weekdays]` by default.
    """

    days: list[str] = Field(default_factory=lambda: ["weekdays"])
    start: str = Field(alias="from")
    end: str = Field(alias="to")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 17:30 as the base-60 integer 1050: read it back.
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            value = f"{value // 60:02d}:{value % 60:02d}"
        parse_time_of_day(value)
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        parse_weekdays(value)
        return value

    @property
    def weekdays(self) -> frozenset[int]:
        """Allowed weekdays, 0 = Monday."""
        return parse_weekdays(self.days)


class WaitPath(_Model):
    """One way out of a wait: when its condition is met (first met wins)."""

    id: str = Field(pattern=_STEP_ID)
    when: Condition
    steps: list[Step] = Field(default_factory=list)


class WaitUntilSpec(_Model):
    """Wait until one path's condition holds, or `max_time` passes (then the
    `timeout` steps run, if any). Already true on arrival means no wait."""

    paths: list[WaitPath] = Field(min_length=1)
    max_time: int | None = None
    timeout: list[Step] = Field(default_factory=list)

    @field_validator("max_time", mode="before")
    @classmethod
    def _max(cls, value: Any) -> int | None:
        return None if value is None else _duration(value)


class BranchSpec(_Model):
    """True/false on a condition, evaluated on arrival."""

    if_: Condition = Field(alias="if")
    then: list[Step] = Field(default_factory=list)
    else_: list[Step] = Field(default_factory=list, alias="else")


class SplitPath(_Model):
    """One way of a split: taken when `when` holds (first match wins)."""

    id: str = Field(pattern=_STEP_ID)
    when: Condition
    steps: list[Step] = Field(default_factory=list)


class SplitSpec(_Model):
    """Multi-way split: the first path whose condition holds, else `else`."""

    paths: list[SplitPath] = Field(min_length=1)
    else_: list[Step] = Field(default_factory=list, alias="else")


class CohortPath(_Model):
    """One cohort of a random split."""

    id: str = Field(pattern=_STEP_ID)
    percent: float = Field(gt=0, le=100)
    steps: list[Step] = Field(default_factory=list)


class CohortSpec(_Model):
    """Random cohorts by a stable hash of person and campaign (a replay takes the same
    path); the percentages add up to 100."""

    paths: list[CohortPath] = Field(min_length=2)

    @model_validator(mode="after")
    def _sum(self) -> CohortSpec:
        total = sum(p.percent for p in self.paths)
        if abs(total - 100) > 1e-9:
            raise ValueError(f"cohort percentages add up to {total:g}, not 100")
        return self


class DelaySpec(_Model):
    """A delay: its length, and whether it was written in days or weeks (then it keeps
    the person's local wall time across DST changes; see `app.core.schedule.add_delay`)."""

    ms: int
    calendar: bool

    @model_validator(mode="before")
    @classmethod
    def _read(cls, value: Any) -> Any:
        if isinstance(value, str):
            unit = value.strip()[-1:]
            return {"ms": _duration(value), "calendar": unit in ("d", "w")}
        if isinstance(value, dict):
            return value
        raise ValueError("must be a duration such as 15m, 36h or 7d")


class Step(_Model):
    """One step: an `id` and exactly one action."""

    id: str = Field(pattern=_STEP_ID)
    send: SendSpec | None = None
    delay: DelaySpec | None = None
    delay_until: DelayUntilSpec | None = None
    time_window: TimeWindowSpec | None = None
    wait_until: WaitUntilSpec | None = None
    branch: BranchSpec | None = None
    split: SplitSpec | None = None
    random_cohort: CohortSpec | None = None
    update_attributes: dict[str, Any] | None = None
    exit: Literal[True] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_action(cls, data: Any) -> Any:
        if isinstance(data, dict):
            actions = [k for k in data if k != "id"]
            known = set(STEP_TYPES)
            unknown = [k for k in actions if k not in known]
            if unknown:
                raise ValueError(
                    f"unknown step type {unknown[0]!r} (use one of {', '.join(STEP_TYPES)})"
                )
            if len(actions) != 1:
                raise ValueError("a step has an id and exactly one action")
        return data

    @property
    def kind(self) -> str:
        """The step's action name."""
        for name in STEP_TYPES:
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated steps have an action")

    def children(self) -> list[tuple[str, list[Step]]]:
        """The nested step lists of this step, each with the label of its path."""
        if self.branch is not None:
            return [("then", self.branch.then), ("else", self.branch.else_)]
        if self.split is not None:
            return [(p.id, p.steps) for p in self.split.paths] + [("else", self.split.else_)]
        if self.random_cohort is not None:
            return [(p.id, p.steps) for p in self.random_cohort.paths]
        if self.wait_until is not None:
            return [(p.id, p.steps) for p in self.wait_until.paths] + [
                ("timeout", self.wait_until.timeout)
            ]
        return []


STEP_TYPES = (
    "send",
    "delay",
    "delay_until",
    "time_window",
    "wait_until",
    "branch",
    "split",
    "random_cohort",
    "update_attributes",
    "exit",
)

WaitPath.model_rebuild()
WaitUntilSpec.model_rebuild()
BranchSpec.model_rebuild()
SplitPath.model_rebuild()
SplitSpec.model_rebuild()
CohortPath.model_rebuild()


class Campaign(_Model):
    """A campaign as written by an operator (see the module docstring)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    name: str
    description: str = ""
    state: CampaignState = "draft"
    trigger: Trigger
    entry_filter: Condition | None = None
    re_entry: ReEntry = "once"
    exit: ExitPolicy = "exit_only_at_end"
    goal: Goal | None = None
    from_address: str | None = Field(default=None, alias="from")
    reply_to: str | None = None
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _checks(self) -> Campaign:
        seen: set[str] = set()
        for step in walk_steps(self.steps):
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            seen.add(step.id)
        if self.exit != "exit_only_at_end" and "conversion" in self.exit and self.goal is None:
            raise ValueError(f"exit: {self.exit} needs a goal")
        return self


def walk_steps(steps: list[Step]) -> list[Step]:
    """Every step, depth first, in the order they are written."""
    out: list[Step] = []
    for step in steps:
        out.append(step)
        for _, kids in step.children():
            out += walk_steps(kids)
    return out


@dataclass(frozen=True, slots=True)
class Place:
    """Where a step sits: the step, and the id of the step that follows it once it (and
    any path it took) is done (None: the journey ends)."""

    step: Step
    next_id: str | None


@dataclass
class CampaignVersion:
    """A loaded campaign version: the model, its source text and hash, and the step
    graph (every step's place) the engine walks.

    Attributes:
        campaign: the validated definition.
        source: the file's text as loaded.
        hash: sha256 of the source and its templates (first 16 hex digits): a journey
            remembers it.
        file: where it was loaded from.
        templates: per template name, (HTML source, text source or None).
    """

    campaign: Campaign
    source: str
    file: str = ""
    templates: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    hash: str = ""
    places: dict[str, Place] = field(default_factory=dict)
    first_step: str = ""

    def __post_init__(self) -> None:
        # Templates are part of the version: editing one is a new version too.
        digest = hashlib.sha256(self.source.encode())
        for name in sorted(self.templates):
            html, text = self.templates[name]
            digest.update(f"\0{name}\0{html}\0{text or ''}".encode())
        self.hash = digest.hexdigest()[:16]
        self.places = {}
        _place(self.campaign.steps, None, self.places)
        self.first_step = self.campaign.steps[0].id

    @property
    def id(self) -> str:
        """The campaign id."""
        return self.campaign.id

    def entry_of(self, steps: list[Step], after: str | None) -> str | None:
        """The first step of a nested list, or (empty list) the step after the parent."""
        return steps[0].id if steps else after

    @property
    def entry_filter(self) -> Condition | None:
        """The entry filter with sugar rewritten."""
        f = self.campaign.entry_filter
        return None if f is None else normalise(f)


def _place(steps: list[Step], after: str | None, places: dict[str, Place]) -> None:
    for index, step in enumerate(steps):
        following = steps[index + 1].id if index + 1 < len(steps) else after
        places[step.id] = Place(step, following)
        for _, kids in step.children():
            _place(kids, following, places)
