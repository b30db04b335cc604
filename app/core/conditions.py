"""The condition language: one grammar for segments, trigger filters, branches,
wait-until paths, exit conditions and conversion goals.

Written in YAML by operators; every model forbids unknown keys so a typo fails loudly.

```yaml
all:
  - attribute: plan_type
    equals: trial
  - attribute: trial_ends_at
    before: 3d from now
  - performed: project_created
    where: {template: blank}          # property filters (shorthand: equals)
    at_least: 2
    within: 14d
  - not_performed: app_login           # = not: {performed: app_login, within: 7d}
    within: 7d
  - any:
      - in_segment: high_value
      - attribute: company.size        # dotted paths reach nested JSON
        greater: 50
```

Semantics (documented once, used by both evaluators):

* Equality is typed: a string equals only a string, a number only a number (1 == 1.0),
  a boolean only a boolean. A whole number from 2**63 on is read as the nearest
  double (as SQLite reads it). `not_equals` is the negation of `equals`, so it also
  matches people without the attribute.
* `exists` means the path resolves to a non-null value; `missing` is its negation.
* `contains`: a substring of a string attribute, or an element (typed-equal) of a list.
* `greater` / `less` with a number compare numbers; with a time (ISO 8601 string) they
  compare instants, as `after` / `before` do. Times may be given as ISO 8601, Unix
  seconds or Unix ms; relative times read `now`, `3d ago`, `7d from now`. Comparisons
  are strict. A time is an instant of the years 1 to 9999 (UTC), what ISO 8601 can
  write: a number or text beyond that (`1e300`) is no time, and in a condition an error.
* Event conditions count events with that name (track, page or screen) that happened
  at or before now. `within: 7d` keeps those with `now - 7d <= timestamp <= now`: an
  event exactly 7 days old is inside. `between: [a, b]` keeps `a <= timestamp < b`.
  `since: entry` (campaigns only) keeps those at or after the journey's entry.
  Without a count, `at_least: 1`.
* Profile age (Customer.io): a negated window, `not_performed: E, within: N` or
  `not: {performed: E, within: N}`, matches only people known for at least N: first
  seen, or their `created_at` attribute if earlier, at or before `now - N`.
* `in_segment: X` is X's condition, evaluated at the same instant; cycles are a load
  error.
* `equals: {trigger: product_id}` (campaigns only) compares with a property of the event
  that started the journey: "viewed *this* product", "a purchase of *this* cart". When
  the journey had no trigger event, or it lacks the property, `equals` does not hold
  (and `not_equals` does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from app.core.errors import InvalidOperation
from app.core.times import parse_duration, parse_instant

Scalar = Union[bool, int, float, str]  # noqa: UP007 (pydantic needs the order: bool first)

OPERATORS = (
    "equals",
    "not_equals",
    "exists",
    "missing",
    "contains",
    "in",
    "greater",
    "less",
    "before",
    "after",
)

#: The instants a time can be, ms UTC: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z.
EARLIEST = -62_135_596_800_000
LATEST = 253_402_300_799_999
#: The longest duration a window or an offset from now can be (so bounds stay instants
#: SQLite's 64-bit integers hold).
LONGEST = LATEST - EARLIEST
#: Whole numbers in a condition (operands, counts) must fit SQLite's 64-bit integers.
INT_LIMIT = 2**63 - 1

_RELATIVE = re.compile(r"^\s*(\d+\s*(?:ms|s|m|h|d|w))\s+(ago|from now)\s*$")
_PATH = re.compile(r'^[^."]+(\.[^."]+)*$')


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def check_instant(ms: int) -> int:
    """`ms` when it is a time (see `EARLIEST`, `LATEST`).

    Raises:
        ValueError: when it is not.
    """
    if not EARLIEST <= ms <= LATEST:
        raise ValueError("not a time between the years 1 and 9999")
    return ms


def check_span(ms: int) -> int:
    """`ms` when it is a duration a condition can use (see `LONGEST`).

    Raises:
        ValueError: when it is longer.
    """
    if abs(ms) > LONGEST:
        raise ValueError("the duration is longer than 10,000 years")
    return ms


class TimeRef(_Model):
    """A point in time: absolute (`at` ms UTC) or relative to now (`offset` ms, + is later)."""

    at: int | None = None
    offset: int | None = None

    def resolve(self, now: int) -> int:
        """The instant this refers to, ms UTC, at evaluation time `now`."""
        return self.at if self.at is not None else now + (self.offset or 0)

    @property
    def relative(self) -> bool:
        """True when the instant moves with the clock."""
        return self.at is None


def parse_time_ref(value: object) -> TimeRef:
    """Read `now`, `3d ago`, `7d from now`, an ISO 8601 time, or Unix seconds / ms.

    Raises:
        ValueError: when it is none of those.
    """
    if isinstance(value, str):
        text = value.strip()
        if text == "now":
            return TimeRef(offset=0)
        match = _RELATIVE.match(text)
        if match:
            amount = check_span(parse_duration(match.group(1)))
            return TimeRef(offset=-amount if match.group(2) == "ago" else amount)
    try:
        at = parse_instant(value, "time")
    except InvalidOperation as exc:
        raise ValueError(f"{exc.message}; or use now, '3d ago', '7d from now'") from None
    return TimeRef(at=check_instant(at))


class TriggerRef(_Model):
    """An operand taken from the journey's trigger event: `{trigger: product_id}` is
    that event's `product_id` property (a dotted path)."""

    trigger: str

    @field_validator("trigger")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value)


class Test(_Model):
    """One operator applied to a value found at a path (an attribute or a property).

    Exactly one operator is set. `in_` is spelled `in` in YAML. `equals` and `not_equals`
    also take `{trigger: <property>}` (see `TriggerRef`).
    """

    equals: Scalar | TriggerRef | None = None
    not_equals: Scalar | TriggerRef | None = None
    exists: Literal[True] | None = None
    missing: Literal[True] | None = None
    contains: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    greater: float | int | TimeRef | None = None
    less: float | int | TimeRef | None = None
    before: TimeRef | None = None
    after: TimeRef | None = None

    @field_validator("greater", "less", mode="before")
    @classmethod
    def _number_or_time(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a number or a time")
        if isinstance(value, int | float) or value is None or isinstance(value, TimeRef):
            return value
        return parse_time_ref(value)

    @field_validator("before", "after", mode="before")
    @classmethod
    def _time(cls, value: object) -> object:
        return value if value is None or isinstance(value, TimeRef) else parse_time_ref(value)

    @field_validator("equals", "not_equals", "contains", "in_", "greater", "less")
    @classmethod
    def _fits(cls, value: object) -> object:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int) and not isinstance(item, bool) and abs(item) > INT_LIMIT:
                raise ValueError(f"{item} does not fit in 64 bits")
        return value

    @property
    def operator(self) -> str:
        """The operator's YAML name."""
        for name in OPERATORS:
            if getattr(self, "in_" if name == "in" else name) is not None:
                return name
        raise AssertionError("validated tests have an operator")

    @property
    def operand(self) -> Any:
        """The operator's value."""
        return getattr(self, "in_" if self.operator == "in" else self.operator)


def _check_one_operator(data: Any, subject: str, path_key: str) -> Any:
    if isinstance(data, dict):
        unknown = [k for k in data if k not in OPERATORS and k not in ("in_", path_key)]
        if unknown:
            raise ValueError(f"unknown operator {unknown[0]!r} (use one of {', '.join(OPERATORS)})")
        given = [k for k in data if k in OPERATORS or k == "in_"]
        if len(given) != 1:
            names = ", ".join(OPERATORS)
            found = f"got {', '.join(given)}" if given else "got none"
            raise ValueError(f"{subject} needs exactly one operator ({names}); {found}")
    return data


def _check_path(value: str) -> str:
    if not _PATH.match(value):
        raise ValueError(f"{value!r} is not a path (names joined by dots, no quotes)")
    return value


def _split_test(data: Any, path_key: str, subject: str) -> Any:
    """YAML writes `{<path_key>: a.b, equals: x}`; the model holds the path and a `Test`."""
    _check_one_operator(data, subject, path_key)
    if isinstance(data, dict) and "test" not in data:
        data = dict(data)
        return {path_key: data.pop(path_key, None), "test": data}
    return data


class AttributeCondition(_Model):
    """A test on a person's attribute (`attribute: plan_type`, `equals: trial`)."""

    attribute: str
    test: Test

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        return _split_test(data, "attribute", "an attribute condition")

    @field_validator("attribute")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value)


class PropertyFilter(_Model):
    """A test on an event property (`property: cart.total`, `greater: 50`)."""

    property: str
    test: Test

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        return _split_test(data, "property", "a property filter")

    @field_validator("property")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value)


def where_shorthand(value: Any) -> Any:
    """Property filters may be written as a mapping `{path: value}`: equals on each."""
    if isinstance(value, dict):
        return [{"property": key, "equals": item} for key, item in value.items()]
    return value


class _EventFields(_Model):
    """What selects the events an event condition counts: property filters and a window."""

    where: list[PropertyFilter] = Field(default_factory=list)
    within: int | None = None
    since: Literal["entry"] | None = None
    between: tuple[int, int] | None = None

    @field_validator("where", mode="before")
    @classmethod
    def _where_shorthand(cls, value: Any) -> Any:
        return where_shorthand(value)

    @field_validator("within", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            return check_span(parse_duration(value))
        raise ValueError("must be a duration such as 15m, 36h or 7d")

    @field_validator("between", mode="before")
    @classmethod
    def _between(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError("must be a list of two times [from, to]")
        try:
            start, end = (check_instant(parse_instant(v, "between")) for v in value)
        except InvalidOperation as exc:
            raise ValueError(exc.message) from None
        if end <= start:
            raise ValueError("the second time must be after the first")
        return (start, end)

    @model_validator(mode="after")
    def _one_window(self) -> _EventFields:
        if sum(x is not None for x in (self.within, self.since, self.between)) > 1:
            raise ValueError("use one of within, since, between")
        return self


class EventCondition(_EventFields):
    """Performed an event, optionally filtered, counted and windowed."""

    performed: str
    at_least: int | None = Field(default=None, ge=0, le=INT_LIMIT)
    at_most: int | None = Field(default=None, ge=0, le=INT_LIMIT)
    exactly: int | None = Field(default=None, ge=0, le=INT_LIMIT)

    @model_validator(mode="after")
    def _one_count(self) -> EventCondition:
        if sum(x is not None for x in (self.at_least, self.at_most, self.exactly)) > 1:
            raise ValueError("use one of at_least, at_most, exactly")
        return self

    @property
    def count_test(self) -> tuple[str, int]:
        """(`>=`, `<=` or `==`, N): how the count of matching events is compared."""
        if self.at_most is not None:
            return "<=", self.at_most
        if self.exactly is not None:
            return "==", self.exactly
        return ">=", 1 if self.at_least is None else self.at_least

    @property
    def plain_performed(self) -> bool:
        """True for "performed at least once" (the form profile age applies to)."""
        return self.count_test == (">=", 1)


class NotPerformed(_EventFields):
    """Sugar: `not_performed: E` (+ where, window) is `not: {performed: E, ...}`."""

    not_performed: str

    def as_not(self) -> Not:
        """The equivalent `not: {performed: ...}`."""
        # Fields are already validated: construct without running the YAML readers again.
        inner = EventCondition.model_construct(
            performed=self.not_performed,
            where=self.where,
            within=self.within,
            since=self.since,
            between=self.between,
            at_least=None,
            at_most=None,
            exactly=None,
        )
        return Not.model_construct(not_=inner)


class SegmentRef(_Model):
    """`in_segment: X` (or `not_in_segment: X`): X's condition at the same instant."""

    in_segment: str | None = None
    not_in_segment: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SegmentRef:
        if (self.in_segment is None) == (self.not_in_segment is None):
            raise ValueError("use one of in_segment, not_in_segment")
        return self

    @property
    def segment_id(self) -> str:
        """The referenced segment's id."""
        return self.in_segment or self.not_in_segment or ""


class All(_Model):
    """Every sub-condition holds (an empty list holds)."""

    all: list[Condition]


class Any_(_Model):
    """At least one sub-condition holds (an empty list does not)."""

    any: list[Condition]


class Not(_Model):
    """The sub-condition does not hold (with the profile-age rule for windows)."""

    not_: Condition = Field(alias="not")


_KINDS = {
    "all": "all",
    "any": "any",
    "not": "not",
    "attribute": "attribute",
    "performed": "performed",
    "not_performed": "not_performed",
    "in_segment": "segment",
    "not_in_segment": "segment",
}


def _kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            All: "all",
            Any_: "any",
            Not: "not",
            AttributeCondition: "attribute",
            EventCondition: "performed",
            NotPerformed: "not_performed",
            SegmentRef: "segment",
        }.get(type(value))
    if isinstance(value, dict):
        for key, kind in _KINDS.items():
            if key in value:
                return kind
    return None


Condition = Annotated[
    Annotated[All, Tag("all")]
    | Annotated[Any_, Tag("any")]
    | Annotated[Not, Tag("not")]
    | Annotated[AttributeCondition, Tag("attribute")]
    | Annotated[EventCondition, Tag("performed")]
    | Annotated[NotPerformed, Tag("not_performed")]
    | Annotated[SegmentRef, Tag("segment")],
    Discriminator(
        _kind,
        custom_error_type="unknown_condition",
        custom_error_message=(
            "not a condition: use all, any, not, attribute, performed, not_performed, "
            "in_segment or not_in_segment"
        ),
    ),
]

All.model_rebuild()
Any_.model_rebuild()
Not.model_rebuild()


def normalise(condition: Condition) -> Condition:
    """Rewrite sugar into the core forms (`not_performed` into `not: {performed}`)."""
    if isinstance(condition, NotPerformed):
        return normalise(condition.as_not())
    if isinstance(condition, All):
        return All(all=[normalise(c) for c in condition.all])
    if isinstance(condition, Any_):
        return Any_(any=[normalise(c) for c in condition.any])
    if isinstance(condition, Not):
        return Not.model_construct(not_=normalise(condition.not_))
    return condition


def segment_refs(condition: Condition) -> set[str]:
    """The ids of the segments a condition refers to, at any depth."""
    if isinstance(condition, SegmentRef):
        return {condition.segment_id}
    if isinstance(condition, All):
        return set().union(*(segment_refs(c) for c in condition.all))
    if isinstance(condition, Any_):
        return set().union(*(segment_refs(c) for c in condition.any))
    if isinstance(condition, Not):
        return segment_refs(condition.not_)
    return set()


def uses_trigger(condition: Condition) -> bool:
    """True when some test compares with the trigger event (`{trigger: ...}`)."""

    def refers(tests: list[Test]) -> bool:
        return any(isinstance(t.operand, TriggerRef) for t in tests)

    if isinstance(condition, AttributeCondition):
        return refers([condition.test])
    if isinstance(condition, EventCondition | NotPerformed):
        return refers([f.test for f in condition.where])
    if isinstance(condition, All):
        return any(uses_trigger(c) for c in condition.all)
    if isinstance(condition, Any_):
        return any(uses_trigger(c) for c in condition.any)
    if isinstance(condition, Not):
        return uses_trigger(condition.not_)
    return False


def uses_entry(condition: Condition) -> bool:
    """True when some event condition counts `since: entry` (campaigns only)."""
    if isinstance(condition, EventCondition | NotPerformed):
        return condition.since == "entry"
    if isinstance(condition, All):
        return any(uses_entry(c) for c in condition.all)
    if isinstance(condition, Any_):
        return any(uses_entry(c) for c in condition.any)
    if isinstance(condition, Not):
        return uses_entry(condition.not_)
    return False


def event_names(condition: Condition, segments: Mapping[str, Condition]) -> set[str]:
    """The event names a condition counts, segments it refers to included."""
    if isinstance(condition, EventCondition):
        return {condition.performed}
    if isinstance(condition, NotPerformed):
        return {condition.not_performed}
    if isinstance(condition, All):
        return set().union(*(event_names(c, segments) for c in condition.all))
    if isinstance(condition, Any_):
        return set().union(*(event_names(c, segments) for c in condition.any))
    if isinstance(condition, Not):
        return event_names(condition.not_, segments)
    if isinstance(condition, SegmentRef) and condition.segment_id in segments:
        return event_names(segments[condition.segment_id], segments)
    return set()
