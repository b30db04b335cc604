"""Evaluating a condition for one person, in Python (the bulk evaluator is SQL in
`app.store.segment_sql`; a property test keeps the two in agreement).

Semantics are those documented in `app.core.conditions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.conditions import (
    EARLIEST,
    INT_LIMIT,
    LATEST,
    All,
    Any_,
    AttributeCondition,
    Condition,
    EventCondition,
    Not,
    NotPerformed,
    PropertyFilter,
    SegmentRef,
    Test,
    TimeRef,
    TriggerRef,
)
from app.core.errors import InvalidOperation, NudgeError
from app.core.times import format_duration, format_instant, parse_instant

_MISSING = object()


def resolve_path(document: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path in nested JSON objects, or `_MISSING`."""
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def is_number(value: object) -> bool:
    """True for JSON numbers (booleans are not numbers here, unlike in Python)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_stored(number: Any) -> Any:
    """A JSON number as SQL reads it: a whole number past 64 bits (orjson keeps them up
    to 2**64 - 1) is the nearest double there."""
    return float(number) if isinstance(number, int) and number > INT_LIMIT else number


def typed_equal(value: object, operand: object) -> bool:
    """Equality without coercion: strings with strings, numbers with numbers (1 == 1.0),
    booleans with booleans."""
    if isinstance(operand, bool):
        return value is operand
    if is_number(operand):
        return is_number(value) and as_stored(value) == operand
    return isinstance(value, str) and value == operand


def instant_of(value: object) -> int | None:
    """An attribute or property read as an instant (ms UTC): Unix seconds or ms, or ISO 8601
    with a zone. None when it is not a time (nor when it is beyond the years 1 to 9999,
    which SQL could not hold either)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        instant = parse_instant(value)
    except (InvalidOperation, OverflowError, ValueError):
        return None
    return instant if EARLIEST <= instant <= LATEST else None


def apply_test(
    test: Test, value: object, now: int, trigger: Mapping[str, Any] | None = None
) -> bool:
    """Whether the value found at a path (`_MISSING` when absent) passes the test.

    Args:
        trigger: the journey's trigger event properties, for `{trigger: ...}` operands
            (None: there is none, so such an `equals` does not hold).
    """
    op, operand = test.operator, test.operand
    if isinstance(operand, TriggerRef):
        found = _MISSING if trigger is None else resolve_path(trigger, operand.trigger)
        equal = isinstance(found, bool | int | float | str) and typed_equal(value, found)
        return equal if op == "equals" else not equal
    if op == "equals":
        return typed_equal(value, operand)
    if op == "not_equals":
        return not typed_equal(value, operand)
    if op == "exists":
        return value is not _MISSING and value is not None
    if op == "missing":
        return value is _MISSING or value is None
    if op == "contains":
        if isinstance(value, str):
            return isinstance(operand, str) and operand in value
        if isinstance(value, list):
            return any(typed_equal(item, operand) for item in value)
        return False
    if op == "in":
        return any(typed_equal(value, item) for item in operand)
    if isinstance(operand, TimeRef):
        instant = instant_of(value)
        if instant is None:
            return False
        bound = operand.resolve(now)
        return instant > bound if op in ("greater", "after") else instant < bound
    if not is_number(value):
        return False
    value = as_stored(value)
    return bool(value > operand) if op == "greater" else bool(value < operand)


@dataclass(slots=True)
class PersonFacts:
    """What a condition can look at for one person.

    Attributes:
        attributes: current attributes.
        first_seen: first-seen time, ms UTC (the person's `created_at` column).
        events: per event name, (timestamp ms UTC, properties) pairs, any order.
    """

    attributes: dict[str, Any]
    first_seen: int
    events: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        attributes: dict[str, Any],
        first_seen: int,
        events: Iterable[tuple[str, int, dict[str, Any]]],
    ) -> PersonFacts:
        """Group (name, timestamp, properties) triples by name."""
        grouped: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for name, timestamp, properties in events:
            grouped.setdefault(name, []).append((timestamp, properties))
        return cls(attributes, first_seen, grouped)

    def known_since(self) -> int:
        """First seen, or the `created_at` attribute when it is an earlier time."""
        created = instant_of(self.attributes.get("created_at"))
        return self.first_seen if created is None else min(created, self.first_seen)


@dataclass(slots=True)
class Explanation:
    """Why a condition held or not: a line per node, with the nodes below it."""

    text: str
    result: bool
    children: list[Explanation] = field(default_factory=list)

    def lines(self, depth: int = 0) -> list[str]:
        """Indented lines, `yes`/`no` first."""
        out = [f"{'  ' * depth}{'yes' if self.result else 'no '}  {self.text}"]
        for child in self.children:
            out += child.lines(depth + 1)
        return out


class Evaluator:
    """Evaluates conditions for one person at a time.

    Args:
        segments: the conditions of the segments `in_segment` may name, by id
            (already checked for cycles by the loader).
    """

    def __init__(self, segments: Mapping[str, Condition] | None = None) -> None:
        self.segments = dict(segments or {})

    def matches(
        self,
        condition: Condition,
        person: PersonFacts,
        now: int,
        entry_at: int | None = None,
        trigger: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether `person` meets `condition` at `now` (ms UTC).

        Args:
            entry_at: the journey's entry time, for `since: entry`.
            trigger: the journey's trigger event properties, for `{trigger: ...}`.

        Raises:
            NudgeError: for `since: entry` without an entry time, or an unknown segment.
        """
        if isinstance(condition, All):
            return all(self.matches(c, person, now, entry_at, trigger) for c in condition.all)
        if isinstance(condition, Any_):
            return any(self.matches(c, person, now, entry_at, trigger) for c in condition.any)
        if isinstance(condition, AttributeCondition):
            return apply_test(
                condition.test, resolve_path(person.attributes, condition.attribute), now, trigger
            )
        if isinstance(condition, EventCondition):
            count = self._count(condition, person, now, entry_at, trigger)
            op, n = condition.count_test
            return count >= n if op == ">=" else count <= n if op == "<=" else count == n
        # The rarer forms share one definition with `explain`.
        return self.explain(condition, person, now, entry_at, detail=False, trigger=trigger).result

    def explain(
        self,
        condition: Condition,
        person: PersonFacts,
        now: int,
        entry_at: int | None = None,
        detail: bool = True,
        trigger: Mapping[str, Any] | None = None,
    ) -> Explanation:
        """Like `matches`, with the result of every sub-condition (for "why in / out?")."""
        if isinstance(condition, All):
            kids = [self.explain(c, person, now, entry_at, detail, trigger) for c in condition.all]
            return Explanation("all of", all(k.result for k in kids), kids if detail else [])
        if isinstance(condition, Any_):
            kids = [self.explain(c, person, now, entry_at, detail, trigger) for c in condition.any]
            return Explanation("any of", any(k.result for k in kids), kids if detail else [])
        if isinstance(condition, NotPerformed):
            return self.explain(condition.as_not(), person, now, entry_at, detail, trigger)
        if isinstance(condition, Not):
            inner = self.explain(condition.not_, person, now, entry_at, detail, trigger)
            result = not inner.result
            text = "not"
            target = condition.not_
            if (
                isinstance(target, EventCondition)
                and target.within is not None
                and target.plain_performed
            ):
                # Customer.io: "has not performed E in the last N days" only matches
                # people known for at least N days.
                old_enough = person.known_since() <= now - target.within
                result = result and old_enough
                if detail:
                    shown = format_duration(target.within)
                    text = f"not (and known for at least {shown}: {old_enough})"
            return Explanation(text, result, [inner] if detail else [])
        if isinstance(condition, AttributeCondition):
            value = resolve_path(person.attributes, condition.attribute)
            result = apply_test(condition.test, value, now, trigger)
            if not detail:  # `matches`: the texts would be thrown away
                return Explanation("", result)
            shown = "missing" if value is _MISSING else repr(value)
            text = f"attribute {condition.attribute} {_describe(condition.test)} (is {shown})"
            return Explanation(text, result)
        if isinstance(condition, EventCondition):
            count = self._count(condition, person, now, entry_at, trigger)
            op, n = condition.count_test
            result = count >= n if op == ">=" else count <= n if op == "<=" else count == n
            if not detail:
                return Explanation("", result)
            text = f"performed {condition.performed} {op} {n}{_window(condition)} (counted {count})"
            return Explanation(text, result)
        if isinstance(condition, SegmentRef):
            target_id = condition.segment_id
            if target_id not in self.segments:
                raise NudgeError(f"unknown segment {target_id!r}")
            inner = self.explain(self.segments[target_id], person, now, entry_at, detail, trigger)
            negate = condition.not_in_segment is not None
            text = f"{'not ' if negate else ''}in segment {target_id}"
            return Explanation(text, inner.result != negate, [inner] if detail else [])
        raise NudgeError(f"cannot evaluate {type(condition).__name__}")

    @staticmethod
    def _count(
        condition: EventCondition,
        person: PersonFacts,
        now: int,
        entry_at: int | None,
        trigger: Mapping[str, Any] | None = None,
    ) -> int:
        low, high = -(2**63), now  # events after now have not happened yet
        if condition.within is not None:
            low = now - condition.within
        elif condition.since == "entry":
            if entry_at is None:
                raise NudgeError("since: entry needs a journey (it has no meaning in a segment)")
            low = entry_at
        elif condition.between is not None:
            low = condition.between[0]
            high = min(now, condition.between[1] - 1)
        events = person.events.get(condition.performed, ())
        return count_events(events, condition.where, low, high, now, trigger)


def count_events(
    events: Iterable[tuple[int, dict[str, Any]]],
    where: Iterable[PropertyFilter],
    low: int,
    high: int,
    now: int,
    trigger: Mapping[str, Any] | None = None,
) -> int:
    """How many of these (timestamp, properties) events at `low <= timestamp <= high` (ms
    UTC) pass every property filter (its tests taken at `now`)."""
    count = 0
    for timestamp, properties in events:
        if low <= timestamp <= high and all(
            apply_test(f.test, resolve_path(properties, f.property), now, trigger) for f in where
        ):
            count += 1
    return count


def _describe(test: Test) -> str:
    operand = test.operand
    if isinstance(operand, TriggerRef):
        return f"{test.operator} the trigger event's {operand.trigger}"
    if isinstance(operand, TimeRef):
        if operand.at is not None:
            shown = format_instant(operand.at)
        else:
            offset = operand.offset or 0
            shown = (
                "now"
                if offset == 0
                else f"{format_duration(abs(offset))} " + ("ago" if offset < 0 else "from now")
            )
        return f"{test.operator} {shown}"
    if test.operator in ("exists", "missing"):
        return test.operator
    return f"{test.operator} {operand!r}"


def _window(condition: EventCondition) -> str:
    parts = []
    if condition.where:
        parts.append(
            " where " + ", ".join(f"{f.property} {_describe(f.test)}" for f in condition.where)
        )
    if condition.within is not None:
        parts.append(f" within {format_duration(condition.within)}")
    elif condition.since == "entry":
        parts.append(" since entry")
    elif condition.between is not None:
        start, end = condition.between
        parts.append(f" between {format_instant(start)} and {format_instant(end)}")
    return "".join(parts)
