"""Compiling a condition to one parameterised SQL expression over `people p`.

Every value travels as a bound parameter, JSON paths included; nothing from a
definition is ever pasted into the SQL text. The semantics mirror
`app.core.evaluate` exactly (a property test checks the two agree):

* every test yields 0 or 1, never NULL, so `NOT` means "does not hold";
* typed equality uses `json_type` beside `json_extract`;
* instants go through `nudge_instant(type, value)`, which calls the same Python
  function the single-person evaluator uses.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from app.core.conditions import (
    All,
    Any_,
    AttributeCondition,
    Condition,
    EventCondition,
    Not,
    NotPerformed,
    SegmentRef,
    Test,
    TimeRef,
    TriggerRef,
)
from app.core.errors import NudgeError
from app.core.evaluate import instant_of, is_number

Params = list[Any]
_NUMBER_TYPES = "('integer', 'real')"
_MIN_TIME = -(2**62)


@dataclass(frozen=True, slots=True)
class _Now:
    """A parameter that is the evaluation instant plus `offset` (ms), at most `cap`:
    what a compiled condition takes from the instant it is evaluated at."""

    offset: int = 0
    cap: int | None = None

    def at(self, now: int) -> int:
        value = now + self.offset
        return value if self.cap is None else min(value, self.cap)


@dataclass(frozen=True, slots=True)
class Compiled:
    """A condition compiled for any evaluation instant: the SQL text (the same at every
    instant) and its parameters, some of them taken from the instant."""

    sql: str
    template: tuple[Any, ...]

    def params(self, now: int) -> Params:
        """The parameters at evaluation instant `now` (ms UTC)."""
        return [p.at(now) if type(p) is _Now else p for p in self.template]


def json_path(path: str) -> str:
    """`a.b` -> `$."a"."b"` (quoted labels: any character but `"` is allowed in a name).

    Each label is written as a JSON string, escapes and all: SQLite compares a quoted
    label with the key as it is spelled in the stored JSON text, which orjson wrote, so
    a name with a backslash or a control character only matches in its escaped form.
    """
    return "$" + "".join("." + orjson.dumps(part).decode() for part in path.split("."))


def sql_instant(kind: str | None, value: object) -> int | None:
    """The `nudge_instant(json_type, json_extract)` SQL function: an instant or NULL."""
    if kind not in ("integer", "real", "text"):
        return None
    return _cached_instant(kind, value)


@functools.lru_cache(maxsize=1 << 18)
def _cached_instant(kind: str, value: object) -> int | None:
    # A scan calls this once per person: sweeps and date triggers meet the same stored
    # values again at every tick, and parsing an ISO instant costs about 1 us. The kind
    # is part of the key, so 1 (integer) and 1.0 (real) never share an entry.
    return instant_of(value)


#: A text that opens with an ISO 8601 calendar date (`YYYY-MM-DD`).
_ISO_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
_TWO_DAYS_MS = 2 * 86_400_000
#: 0001-01-01 and 9999-12-31 as ms UTC (what `instant_of` accepts).
_FIRST_MS, _LAST_MS = -62_135_596_800_000, 253_402_300_799_999


def _iso_day(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%d")


def iso_date_between_sql(jp: str, low: int, high: int) -> tuple[str, Params]:
    """A cheap test that is false only for attribute values that cannot be an instant in
    `[low, high]` (ms UTC): texts opening with an ISO date more than two days outside it.

    Whatever follows such a date (a time of day, a zone offset under 24 h) moves the
    instant less than two days from that day's midnight, so the test never drops a value
    `nudge_instant` would place in the range; it only spares the Python call for most of
    the others (a scan of everyone at every tick, e.g. a date trigger's).
    """
    first = "0000-00-00" if low - _TWO_DAYS_MS < _FIRST_MS else _iso_day(low - _TWO_DAYS_MS)
    last = "9999-99-99" if high + _TWO_DAYS_MS > _LAST_MS else _iso_day(high + _TWO_DAYS_MS)
    value = "substr(json_extract(p.attributes, ?), 1, 10)"
    return (
        f"(json_type(p.attributes, ?) IS NOT 'text' OR json_extract(p.attributes, ?) "
        f"NOT GLOB ? OR {value} BETWEEN ? AND ?)",
        [jp, jp, _ISO_DATE_GLOB, jp, first, last],
    )


def known_since_sql() -> tuple[str, Params]:
    """First seen, or the `created_at` attribute when it is an earlier time (ms UTC)."""
    path = json_path("created_at")
    return (
        "min(p.created_at, coalesce(nudge_instant(json_type(p.attributes, ?), "
        "json_extract(p.attributes, ?)), p.created_at))",
        [path, path],
    )


def known_by_sql(cutoff: int | _Now) -> tuple[str, Params]:
    """Known since at or before `cutoff`: `known_since_sql() <= cutoff`, written as "first
    seen <= cutoff or created_at <= cutoff" so the column settles most people without a
    call to `nudge_instant` (a Python function: 3-4x the cost of the whole test)."""
    path = json_path("created_at")
    return (
        "(p.created_at <= ? OR coalesce(nudge_instant(json_type(p.attributes, ?), "
        "json_extract(p.attributes, ?)) <= ?, 0))",
        [cutoff, path, path, cutoff],
    )


class Compiler:
    """Turns conditions into SQL for one evaluation instant.

    Args:
        segments: conditions of the segments `in_segment` may name (inlined).
        now: the evaluation instant, ms UTC.
        entry_at: the journey's entry time, for `since: entry`.
        bulk: for evaluating everyone at once: each event condition becomes one pass
            over its events through the (name, timestamp) index (`p.id IN (SELECT
            person_id ...)`) instead of one index probe per person (3-4x faster over
            100k people). Same results; slower when only a few people are evaluated
            (`matching(among=...)`), since the pass covers the whole window.
    """

    def __init__(
        self,
        segments: Mapping[str, Condition],
        now: int,
        entry_at: int | None = None,
        bulk: bool = False,
    ) -> None:
        self.segments = segments
        self.now = now
        self.entry_at = entry_at
        self.bulk = bulk

    def where(self, condition: Condition) -> tuple[str, Params]:
        """An SQL expression over `people p` that is 1 for members and 0 otherwise.

        Raises:
            NudgeError: for `since: entry` without an entry time, or an unknown segment.
        """
        compiled = self.compile(condition)
        return compiled.sql, compiled.params(self.now)

    def compile(self, condition: Condition) -> Compiled:
        """`where` for any evaluation instant (this compiler's `now` is not used): the
        SQL text depends on the condition alone, so it can be kept per definition and
        given each instant's parameters (`Compiled.params`).

        Raises:
            NudgeError: for `since: entry` without an entry time, or an unknown segment.
        """
        sql, template = self._where(condition)
        return Compiled(sql, tuple(template))

    def _where(self, condition: Condition) -> tuple[str, Params]:
        if isinstance(condition, All):
            return self._join(condition.all, " AND ", "1")
        if isinstance(condition, Any_):
            return self._join(condition.any, " OR ", "0")
        if isinstance(condition, NotPerformed):
            return self._where(condition.as_not())
        if isinstance(condition, Not):
            sql, params = self._where(condition.not_)
            target = condition.not_
            if (
                isinstance(target, EventCondition)
                and target.within is not None
                and target.plain_performed
            ):
                known, known_params = known_by_sql(_Now(-target.within))
                return f"(NOT {sql} AND {known})", params + known_params
            return f"(NOT {sql})", params
        if isinstance(condition, AttributeCondition):
            return test_sql(condition.test, "p.attributes", json_path(condition.attribute))
        if isinstance(condition, EventCondition):
            return self._event(condition)
        if isinstance(condition, SegmentRef):
            target_id = condition.segment_id
            if target_id not in self.segments:
                raise NudgeError(f"unknown segment {target_id!r}")
            sql, params = self._where(self.segments[target_id])
            return (f"(NOT {sql})" if condition.not_in_segment else sql), params
        raise NudgeError(f"cannot compile {type(condition).__name__}")

    def _join(self, parts: list[Condition], glue: str, empty: str) -> tuple[str, Params]:
        if not parts:
            return empty, []
        sqls, params = [], []
        for part in parts:
            sql, part_params = self._where(part)
            sqls.append(sql)
            params += part_params
        return "(" + glue.join(sqls) + ")", params

    def _event(self, condition: EventCondition) -> tuple[str, Params]:
        low: int | _Now = _MIN_TIME
        high = _Now()
        if condition.within is not None:
            low = _Now(-condition.within)
        elif condition.since == "entry":
            if self.entry_at is None:
                raise NudgeError("since: entry needs a journey (it has no meaning in a segment)")
            low = self.entry_at
        elif condition.between is not None:
            low = condition.between[0]
            high = _Now(cap=condition.between[1] - 1)
        # The (person_id, name, timestamp) index answers the range without a row read
        # unless property filters need the row.
        sql = "e.name = ? AND e.timestamp >= ? AND e.timestamp <= ?"
        params: Params = [condition.performed, low, high]
        for f in condition.where:
            filter_sql, filter_params = test_sql(f.test, "e.properties", json_path(f.property))
            sql += f" AND {filter_sql}"
            params += filter_params
        op, n = condition.count_test
        if self.bulk and n > 0:
            # Who has 1+ (or more than / exactly n) such events, in one pass; NOT NULL so
            # that IN is 0 or 1, never NULL (anonymous events have no person).
            found = f"SELECT e.person_id FROM events e WHERE {sql} AND e.person_id IS NOT NULL"
            if (op, n) == (">=", 1):
                return f"(p.id IN ({found}))", params
            having = {">=": ">=", "==": "=", "<=": ">"}[op]
            found += f" GROUP BY e.person_id HAVING count(*) {having} ?"
            return f"(p.id {'NOT IN' if op == '<=' else 'IN'} ({found}))", [*params, n]
        if self.bulk and op != ">=":
            # == 0 and <= 0: nobody with such an event.
            found = f"SELECT e.person_id FROM events e WHERE {sql} AND e.person_id IS NOT NULL"
            return f"(p.id NOT IN ({found}))", params
        sql = f"e.person_id = p.id AND {sql}"
        if (op, n) == (">=", 1):
            return f"EXISTS (SELECT 1 FROM events e WHERE {sql})", params
        if (op, n) in (("<=", 0), ("==", 0)):
            return f"(NOT EXISTS (SELECT 1 FROM events e WHERE {sql}))", params
        return f"((SELECT count(*) FROM events e WHERE {sql}) {'=' if op == '==' else op} ?)", [
            *params,
            n,
        ]


def _typed_equal_sql(type_sql: str, value_sql: str, operand: object) -> tuple[str, Params]:
    """`value` typed-equal to `operand`; `type_sql`/`value_sql` take no parameters here."""
    if isinstance(operand, bool):
        return f"{type_sql} = ?", ["true" if operand else "false"]
    if is_number(operand):
        return f"({type_sql} IN {_NUMBER_TYPES} AND {value_sql} = ?)", [operand]
    return f"({type_sql} = 'text' AND {value_sql} = ?)", [operand]


def test_sql(test: Test, column: str, path: str) -> tuple[str, Params]:
    """SQL for one operator on the JSON value at `path` in `column`: 1 or 0, never NULL
    (a relative time is a parameter taken from the evaluation instant, `_Now`)."""
    op, operand = test.operator, test.operand
    if isinstance(operand, TriggerRef):
        raise NudgeError("{trigger: ...} needs a journey (it has no meaning in a segment)")
    kind, value = f"json_type({column}, ?)", f"json_extract({column}, ?)"
    if op in ("equals", "not_equals"):
        sql, params = _equal_at(kind, value, path, operand)
        return (sql if op == "equals" else f"(NOT {sql})"), params
    if op == "exists":
        return f"(coalesce({kind}, 'null') <> 'null')", [path]
    if op == "missing":
        return f"(coalesce({kind}, 'null') = 'null')", [path]
    if op == "in":
        if not operand:
            return "0", []
        parts = [_equal_at(kind, value, path, item) for item in operand]
        return "(" + " OR ".join(p[0] for p in parts) + ")", [x for p in parts for x in p[1]]
    if op == "contains":
        element, element_params = _typed_equal_sql("j.type", "j.value", operand)
        sql = (
            f"({kind} = 'array' AND EXISTS (SELECT 1 FROM json_each({column}, ?) j "
            f"WHERE {element}))"
        )
        found: Params = [path, path, *element_params]
        if isinstance(operand, str):
            sql = f"(({kind} = 'text' AND instr({value}, ?) > 0) OR {sql})"
            found = [path, path, operand, *found]
        return f"coalesce({sql}, 0)", found
    symbol = ">" if op in ("greater", "after") else "<"
    if isinstance(operand, TimeRef):
        return (
            f"coalesce(nudge_instant({kind}, {value}) {symbol} ?, 0)",
            [path, path, _Now(operand.offset or 0) if operand.relative else operand.at],
        )
    return (
        f"coalesce({kind} IN {_NUMBER_TYPES} AND {value} {symbol} ?, 0)",
        [path, path, operand],
    )


def _equal_at(kind: str, value: str, path: str, operand: object) -> tuple[str, Params]:
    sql, params = _typed_equal_sql(kind, value, operand)
    # Each json_type / json_extract in the fragment takes the path as its own parameter.
    path_params: Params = [path] * sql.count("json_")
    return f"coalesce({sql}, 0)", path_params + params
