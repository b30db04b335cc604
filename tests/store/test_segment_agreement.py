"""Property test: the SQL compiler (bulk) and the Python evaluator (one person) agree.

Hypothesis makes small populations (1-8 people, 0-12 events each) loaded through the
ingest path into a fresh in-memory store, a random condition and up to three segments
it may name, and insists that

    {people the SQL expression selects} == {people Evaluator.matches accepts}

for every node of every condition tree (so an `any` cannot hide a leaf that
disagrees), with the compiler in both forms (per person and `bulk`), and that
`Evaluator.explain` gives the same answer as `matches`.

Each example draws a small pool (a few instants, scalars, keys and event names) and
takes most values from it, so that data and operands collide: the same instant is an
event time and a window edge, the same key is in a trait and a path. The semantics both
sides must follow are in the docstring of `app.core.conditions`; the explicit
`@example`s pin the trickiest boundaries with answers worked out by hand.

Not generated: strings holding U+0000. SQLite 3.40's `json_extract` cuts text at the
first NUL, so SQL and Python read such a string differently (a known limitation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from app.core.clock import FixedClock
from app.core.conditions import All, Any_, Condition, Not, normalise
from app.core.evaluate import Evaluator, PersonFacts
from app.service.ingest import Ingestor
from app.store import Compiler, Store

NOW = 1_793_491_200_000  # 2026-11-01T00:00:00Z
HOUR = 3_600_000
DAY = 86_400_000
#: The journey entry time `since: entry` counts from.
ENTRY_AT = NOW - 3 * DAY

CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)

PEOPLE = [f"u{i}" for i in range(8)]

# -- vocabulary --------------------------------------------------------------------------

STRINGS = ["trial", "pro", "Trial", "tri", "", "1", "5", "true", "[]", "a b", "ümlaut", 'q"uote']
INTS = [0, 1, -1, 2, 5, 50, 51, 2**53 + 1, 2**63 - 1]
FLOATS = [0.5, 1.0, 2.5, 50.0, -0.0, 1e-7, 9_007_199_254_740_992.0, 2.0**63, 2.0**64]
SCALARS: list[Any] = [*STRINGS, *INTS, *FLOATS, True, False]
#: Values only: JSON holds them, a condition operand may not (ints past 64 bits).
HUGE = [2**63, 2**64 - 1, 1e300]
NUMBERS = [v for v in SCALARS if not isinstance(v, bool | str)]

EVENT_NAMES = ["login", "purchase", "signup", "Login"]
ATTRIBUTE_KEYS = [
    "plan",
    "age",
    "flag",
    "tags",
    "company",
    "created_at",
    "signed_up_at",
    "back\\slash",
    "tab\tkey",
]
PROPERTY_KEYS = ["plan", "total", "items", "cart", "back\\slash"]
#: Keys of nested objects, reached by dotted paths (`company.size`); "0" tries a list.
SUBKEYS = ["size", "name", "meta"]

#: Offsets from now (ms) that sit on or next to the windows conditions use.
OFFSETS = sorted(
    {
        sign * size + nudge
        for sign in (-1, 1)
        for size in (0, HOUR, 2 * HOUR, DAY, 3 * DAY, 7 * DAY, 30 * DAY)
        for nudge in (-1, 0, 1)
    }
    | {-400 * DAY, -10 * 365 * DAY}
)
DURATIONS = ["1ms", "1h", "2h", "1d", "3d", "7d", "30d", "1w"]
ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
JUNK_TIMES = ["yesterday", "2026-13-01T00:00:00Z", "now", "nan", "1e300"]


def iso(ms: int, zone: timezone | None) -> str:
    """ms UTC as ISO 8601 in `zone` (None: naive local text, which is not a time)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone or UTC)
    text = moment.isoformat(timespec="milliseconds")
    return text if zone is not None else text[: -len("+00:00")]


@st.composite
def instants(draw: st.DrawFn) -> int:
    """An instant (ms UTC) near now, most often on a window boundary."""
    if draw(st.booleans()):
        return NOW + draw(st.sampled_from(OFFSETS))
    return NOW + draw(st.integers(-40 * DAY, 10 * DAY))


@dataclass(frozen=True)
class Pool:
    """What one example draws from most of the time, so that the values in the data and
    the operands of the conditions collide (the same instant as an event time and a
    window edge, the same key in a trait and a path)."""

    instants: list[int]
    scalars: list[Any]
    keys: list[str]
    properties: list[str]
    names: list[str]

    def pick(self, items: list[Any], vocabulary: list[Any]) -> st.SearchStrategy[Any]:
        """Mostly one of the pool's items, sometimes anything from the vocabulary."""
        mine = st.sampled_from(items)
        return st.one_of(mine, mine, mine, st.sampled_from(vocabulary))

    def instant(self) -> st.SearchStrategy[int]:
        mine = st.sampled_from(self.instants)
        return st.one_of(mine, mine, mine, instants())

    def scalar(self) -> st.SearchStrategy[Any]:
        return self.pick(self.scalars, SCALARS)

    def number(self) -> st.SearchStrategy[Any]:
        own = [v for v in self.scalars if v in NUMBERS and not isinstance(v, bool)]
        return self.pick(own or NUMBERS, NUMBERS)


def unique_lists(items: list[Any], most: int) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.sampled_from(items), min_size=1, max_size=most, unique=True)


pools = st.builds(
    Pool,
    st.lists(instants(), min_size=1, max_size=4),
    st.lists(st.sampled_from(SCALARS), min_size=1, max_size=4),
    unique_lists(ATTRIBUTE_KEYS, 3),
    unique_lists(PROPERTY_KEYS, 2),
    unique_lists(EVENT_NAMES, 2),
)


@st.composite
def time_values(draw: st.DrawFn, pool: Pool, garbage: bool = True) -> Any:
    """An instant written as Unix seconds, Unix ms or ISO 8601 with an offset; with
    `garbage`, also naive ISO text and strings that are no time at all."""
    ms = draw(pool.instant())
    forms = ["seconds", "ms", "iso", "seconds_text"]
    if garbage:
        forms += ["naive", "junk"]
    form = draw(st.sampled_from(forms))
    if form == "seconds":
        return ms // 1000 if ms % 1000 == 0 else ms / 1000
    if form == "ms":
        return ms
    if form == "iso":
        return iso(ms, draw(st.sampled_from(ZONES)))
    if form == "seconds_text":
        return str(ms // 1000)
    if form == "naive":
        return iso(ms, None)
    return draw(st.sampled_from(JUNK_TIMES))


def values(pool: Pool, depth: int = 2) -> st.SearchStrategy[Any]:
    """An attribute or property value: a scalar, a time, a list, or (for dotted paths)
    an object (nulls inside objects and event properties stay)."""
    leaf = st.one_of(
        pool.scalar(), pool.scalar(), time_values(pool), st.none(), st.sampled_from(HUGE)
    )
    if depth == 0:
        return leaf
    lists = st.lists(st.one_of(leaf, st.lists(pool.scalar(), max_size=2)), max_size=4)
    objects = st.dictionaries(
        st.sampled_from(SUBKEYS), values(pool, depth - 1), min_size=1, max_size=3
    )
    return st.one_of(leaf, leaf, lists, objects)


@st.composite
def paths(draw: st.DrawFn, keys: list[str], vocabulary: list[str]) -> str:
    """A key, often with one or two dotted sub-keys (`company.size`, `tags.0`)."""
    mine = st.sampled_from(keys)
    parts = [draw(st.one_of(mine, mine, mine, st.sampled_from([*vocabulary, "nothing"])))]
    depth = draw(st.sampled_from([0, 0, 0, 1, 1, 2]))
    parts += [draw(st.sampled_from([*SUBKEYS, "0"])) for _ in range(depth)]
    return ".".join(parts)


@st.composite
def operations(draw: st.DrawFn, pool: Pool, shape: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Identify and track operations (Segment shape), shuffled: per person, `shape` says
    how many identifies (0: known from events only) and how many events."""
    ops: list[dict[str, Any]] = []
    traits = st.dictionaries(
        pool.pick(pool.keys, ATTRIBUTE_KEYS), values(pool), min_size=1, max_size=4
    )
    properties = st.dictionaries(
        pool.pick(pool.properties, PROPERTY_KEYS), values(pool), max_size=3
    )
    for user, (identifies, events) in zip(PEOPLE, shape, strict=False):
        for _ in range(identifies):
            identify: dict[str, Any] = {"type": "identify", "userId": user}
            identify["traits"] = draw(traits)
            if draw(st.integers(0, 3)) == 0:
                identify["traits"]["created_at"] = draw(time_values(pool))
            identify["timestamp"] = draw(time_values(pool, garbage=False))
            ops.append(identify)
        for _ in range(events):
            kind = draw(st.sampled_from(["track", "track", "track", "page"]))
            name = draw(pool.pick(pool.names, EVENT_NAMES))
            event: dict[str, Any] = {"type": kind, "userId": user}
            event["event" if kind == "track" else "name"] = name
            event["properties"] = draw(properties)
            if draw(st.integers(0, 5)):  # without a timestamp: received now
                event["timestamp"] = draw(time_values(pool, garbage=False))
            ops.append(event)
    return draw(st.permutations(ops))


# -- conditions --------------------------------------------------------------------------


def time_refs(pool: Pool, numbers: bool) -> st.SearchStrategy[Any]:
    """A time operand: relative (`3d ago`, `2h from now`, `now`), ISO 8601, or Unix
    seconds / ms (given as numbers only where a number means a time)."""
    relative = st.builds(
        lambda d, way: f"{d} {way}",
        st.sampled_from(DURATIONS),
        st.sampled_from(["ago", "from now"]),
    )
    absolute = st.builds(iso, pool.instant(), st.sampled_from(ZONES))
    options: list[st.SearchStrategy[Any]] = [st.just("now"), relative, relative, absolute]
    if numbers:
        options += [st.builds(lambda ms: ms // 1000, pool.instant()), pool.instant()]
    return st.one_of(*options)


OPERATORS = [
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
]


@st.composite
def operator_tests(draw: st.DrawFn, pool: Pool) -> dict[str, Any]:
    """One operator with a fitting operand."""
    op = draw(st.sampled_from(OPERATORS))
    if op in ("equals", "not_equals", "contains"):
        return {op: draw(pool.scalar())}
    if op in ("exists", "missing"):
        return {op: True}
    if op == "in":
        return {op: draw(st.lists(pool.scalar(), max_size=3))}
    if op in ("greater", "less"):
        return {op: draw(st.one_of(pool.number(), time_refs(pool, numbers=False)))}
    return {op: draw(time_refs(pool, numbers=True))}


@st.composite
def attribute_conditions(draw: st.DrawFn, pool: Pool) -> dict[str, Any]:
    path = draw(paths(pool.keys, ATTRIBUTE_KEYS))
    return {"attribute": path, **draw(operator_tests(pool))}


@st.composite
def event_conditions(draw: st.DrawFn, pool: Pool, negated: bool = False) -> dict[str, Any]:
    """`performed` (or `not_performed`) with filters, a count and a window."""
    name = draw(pool.pick(pool.names, EVENT_NAMES))
    out: dict[str, Any] = {"not_performed" if negated else "performed": name}
    filters = draw(
        st.lists(
            st.builds(
                lambda p, t: {"property": p, **t},
                paths(pool.properties, PROPERTY_KEYS),
                operator_tests(pool),
            ),
            max_size=2,
        )
    )
    if filters:
        if draw(st.booleans()) and all("equals" in f for f in filters):
            out["where"] = {f["property"]: f["equals"] for f in filters}  # the shorthand
        else:
            out["where"] = filters
    window = draw(st.sampled_from(["none", "within", "within", "between", "since"]))
    if window == "within":
        out["within"] = draw(st.sampled_from(DURATIONS))
    elif window == "between":
        start, end = sorted(draw(st.lists(pool.instant(), min_size=2, max_size=2, unique=True)))
        out["between"] = [
            start // 1000 if start % 1000 == 0 and draw(st.booleans()) else start,
            iso(end, draw(st.sampled_from(ZONES))),
        ]
    elif window == "since":
        out["since"] = "entry"
    if not negated:
        count = draw(st.sampled_from(["none", "at_least", "at_most", "exactly"]))
        if count != "none":
            out[count] = draw(st.integers(0, 3))
    return out


def conditions(pool: Pool, refs: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A random condition; `in_segment` / `not_in_segment` only name `refs`."""
    leaves = [
        attribute_conditions(pool),
        attribute_conditions(pool),
        event_conditions(pool),
        event_conditions(pool, negated=True),
    ]
    if refs:
        leaves.append(
            st.builds(
                lambda key, seg: {key: seg},
                st.sampled_from(["in_segment", "not_in_segment"]),
                st.sampled_from(refs),
            )
        )
    return st.recursive(
        st.one_of(*leaves),
        lambda inner: st.one_of(
            st.builds(lambda cs: {"all": cs}, st.lists(inner, max_size=3)),
            st.builds(lambda cs: {"any": cs}, st.lists(inner, max_size=3)),
            st.builds(lambda c: {"not": c}, inner),
        ),
        max_leaves=6,
    )


@dataclass(frozen=True)
class Scenario:
    """People and events to ingest, segments (each may name the ones before it), and the
    condition under test. `expected` (explicit examples) holds, for "condition" and for
    segment ids, the user ids that must match."""

    ops: list[dict[str, Any]]
    condition: dict[str, Any]
    segments: dict[str, dict[str, Any]] = field(default_factory=dict)
    expected: dict[str, set[str]] = field(default_factory=dict)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    # Sizes first: Hypothesis draws what comes after a large draw (the pool) closer to
    # its simplest, which left most examples with one person and no events.
    people = draw(st.sampled_from(range(1, len(PEOPLE) + 1)))
    shape = [
        (draw(st.sampled_from([1, 1, 1, 2, 0])), draw(st.sampled_from(range(13))))
        for _ in range(people)
    ]
    how_many_segments = draw(st.sampled_from([0, 1, 2, 3]))
    pool = draw(pools)
    segments: dict[str, dict[str, Any]] = {}
    for index in range(how_many_segments):
        segments[f"s{index}"] = draw(conditions(pool, list(segments)))
    condition = draw(conditions(pool, list(segments)))
    return Scenario(draw(operations(pool, shape)), condition, segments)


# -- the property ------------------------------------------------------------------------


def parse(definition: dict[str, Any]) -> Condition | None:
    """The validated, normalised condition, or None when validation rejects it."""
    try:
        return normalise(CONDITION.validate_python(definition))
    except ValidationError:
        return None


def track(user: str, name: str, at: Any, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": name,
        "timestamp": at,
        "properties": properties,
    }


def identify(user: str, at: Any, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "timestamp": at, "traits": traits}


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario=scenarios())
# An event exactly `within` ago is inside; 1 ms older is out. Profile age: known exactly 7d.
@example(
    scenario=Scenario(
        ops=[
            identify("u0", NOW - 30 * DAY),
            track("u0", "login", NOW - 7 * DAY),
            identify("u1", NOW - 30 * DAY),
            track("u1", "login", NOW - 7 * DAY - 1),
            identify("u2", NOW - 7 * DAY),
            identify("u3", NOW - 7 * DAY + 1),
        ],
        condition={"performed": "login", "within": "7d"},
        segments={"quiet": {"not_performed": "login", "within": "7d"}},
        expected={"condition": {"u0"}, "quiet": {"u1", "u2"}},
    )
)
@example(
    scenario=Scenario(
        ops=[
            identify("u0", NOW - 30 * DAY),
            track("u0", "login", NOW - 7 * DAY - 1),
            identify("u1", NOW - 7 * DAY),
            identify("u2", NOW - 7 * DAY + 1),
            # created_at earlier than first seen makes them old enough.
            identify("u3", NOW - DAY, created_at=(NOW - 8 * DAY) // 1000),
        ],
        condition={"not_performed": "login", "within": "7d"},
        expected={"condition": {"u0", "u1", "u3"}},
    )
)
# Typed equality: true is not 1, and 1 is not true; 1 is 1.0.
@example(
    scenario=Scenario(
        ops=[
            identify("u0", NOW - DAY, flag=True),
            identify("u1", NOW - DAY, flag=1),
            identify("u2", NOW - DAY, flag=1.0),
            identify("u3", NOW - DAY, flag="1"),
        ],
        condition={"attribute": "flag", "equals": 1},
        segments={"is_true": {"attribute": "flag", "equals": True}},
        expected={"condition": {"u1", "u2"}, "is_true": {"u0"}},
    )
)
# contains: a substring of a string, a whole (typed) element of a list.
@example(
    scenario=Scenario(
        ops=[
            identify("u0", NOW - DAY, tags=["beta", "trial"]),
            identify("u1", NOW - DAY, tags="on trial plan"),
            identify("u2", NOW - DAY, tags=["trials"]),
            identify("u3", NOW - DAY, tags=[1, True]),
            identify("u4", NOW - DAY, tags={"trial": True}),
        ],
        condition={"attribute": "tags", "contains": "trial"},
        segments={"one": {"attribute": "tags", "contains": 1}},
        expected={"condition": {"u0", "u1"}, "one": {"u3"}},
    )
)
# A timestamp attribute in each form (Unix seconds, Unix ms, ISO 8601 with an offset)
# and forms that are no time (naive ISO, a boolean, a number too large).
@example(
    scenario=Scenario(
        ops=[
            identify("u0", NOW - DAY, signed_up_at=(NOW - 2 * DAY) // 1000),
            identify("u1", NOW - DAY, signed_up_at=NOW - 2 * DAY),
            identify("u2", NOW - DAY, signed_up_at=iso(NOW - 2 * DAY, ZONES[2])),
            identify("u3", NOW - DAY, signed_up_at=iso(NOW - 2 * DAY, None)),
            identify("u4", NOW - DAY, signed_up_at=True),
            identify("u5", NOW - DAY, signed_up_at=(NOW - 3 * DAY) // 1000),
            identify("u6", NOW - DAY, signed_up_at=1e300),  # past the year 9999: no time
        ],
        condition={"attribute": "signed_up_at", "after": "3d ago"},
        segments={"before": {"attribute": "signed_up_at", "before": "1d ago"}},
        expected={"condition": {"u0", "u1", "u2"}, "before": {"u0", "u1", "u2", "u5"}},
    )
)
# contains "" (in any string, and an element of a list holding ""); never on an object or
# inside a nested list.
@example(
    scenario=Scenario(
        ops=[
            identify("u0", NOW - DAY, tags="trial"),
            identify("u1", NOW - DAY, tags=""),
            identify("u2", NOW - DAY, tags=["", "x"]),
            identify("u3", NOW - DAY, tags={"a": "trial", "b": ""}),
            identify("u4", NOW - DAY, tags=[["trial", ""]]),
        ],
        condition={"attribute": "tags", "contains": ""},
        segments={"trial": {"attribute": "tags", "contains": "trial"}},
        expected={"condition": {"u0", "u1", "u2"}, "trial": {"u0"}},
    )
)
# Whole numbers past 64 bits (JSON allows up to 2**64 - 1) read as the nearest double.
@example(
    scenario=Scenario(
        ops=[
            identify("u0", NOW - DAY, n=2**64 - 1),
            identify("u1", NOW - DAY, n=2**63),
            identify("u2", NOW - DAY, n=2**63 - 1),
            identify("u3", NOW - DAY, n=2.0**64),
        ],
        condition={"attribute": "n", "equals": 2.0**64},
        segments={
            "above": {"attribute": "n", "greater": 2.0**63},
            "max": {"attribute": "n", "equals": 2**63 - 1},
        },
        expected={"condition": {"u0", "u3"}, "above": {"u0", "u3"}, "max": {"u2"}},
    )
)
# Nested nulls do not exist; names with a backslash or a tab are reachable.
@example(
    scenario=Scenario(
        ops=[
            identify("u0", NOW - DAY, **{"back\\slash": 1, "company": {"size": None}}),
            identify("u1", NOW - DAY, **{"tab\tkey": "x", "company": {"size": 0}}),
        ],
        condition={"attribute": "company.size", "exists": True},
        segments={
            "slash": {"attribute": "back\\slash", "equals": 1},
            "tab": {"attribute": "tab\tkey", "exists": True},
        },
        expected={"condition": {"u1"}, "slash": {"u0"}, "tab": {"u1"}},
    )
)
# between [a, b) keeps a and leaves b out; page views count; events after now do not.
@example(
    scenario=Scenario(
        ops=[
            track("u0", "purchase", NOW - DAY),
            track("u1", "purchase", iso(NOW - 2 * DAY, ZONES[1])),
            track("u2", "purchase", NOW - DAY - 1),
            {"type": "page", "userId": "u3", "name": "purchase", "timestamp": NOW - 2 * DAY},
            track("u4", "purchase", NOW + 1),
        ],
        condition={"performed": "purchase", "between": [iso(NOW - 2 * DAY, UTC), NOW - DAY]},
        segments={"ever": {"performed": "purchase"}},
        expected={"condition": {"u1", "u2", "u3"}, "ever": {"u0", "u1", "u2", "u3"}},
    )
)
def test_sql_and_python_agree(scenario: Scenario) -> None:
    condition = parse(scenario.condition)
    segments = {k: parse(v) for k, v in scenario.segments.items()}
    if condition is None or any(v is None for v in segments.values()):
        # Rejected at load time: nothing to evaluate. (Generated definitions are valid.)
        raise AssertionError(f"a generated definition was rejected: {scenario}")
    refs: dict[str, Condition] = {k: v for k, v in segments.items() if v is not None}

    store = Store.open(":memory:")
    try:
        report = Ingestor(store, FixedClock(NOW)).apply(scenario.ops)
        assert report.rejected == [], report.rejected
        people = list(store.people.iter_all())
        facts = {
            p.id: PersonFacts.build(
                p.attributes, p.created_at, store.events.facts(p.id, EVENT_NAMES)
            )
            for p in people
        }
        evaluator = Evaluator(refs)
        # Per person (an index probe each) and in bulk (one pass over the events).
        compilers = [Compiler(refs, NOW, ENTRY_AT), Compiler(refs, NOW, ENTRY_AT, bulk=True)]
        # Every node of every tree, so a leaf's disagreement is not hidden by an any/all.
        targets = [
            (label, i, node)
            for label, tree in [("condition", condition), *refs.items()]
            for i, node in enumerate(nodes(tree))
        ]
        names = {p.id: p.external_id for p in people}
        for label, i, target in targets:
            in_python = {
                pid for pid, f in facts.items() if evaluator.matches(target, f, NOW, ENTRY_AT)
            }
            explained = {
                pid
                for pid, f in facts.items()
                if evaluator.explain(target, f, NOW, ENTRY_AT).result
            }
            for compiler in compilers:
                sql, params = compiler.where(target)
                in_sql = store.segments.matching(sql, params)
                assert in_sql == in_python, (
                    f"{label} node {i} (bulk={compiler.bulk}): SQL {sorted(in_sql)} but Python "
                    f"{sorted(in_python)}; people "
                    f"{[(p.id, p.attributes, p.created_at) for p in people]}"
                )
            assert explained == in_python, f"{label} node {i}: explain and matches disagree"
            if i == 0 and label in scenario.expected:
                assert {names[pid] for pid in in_python} == scenario.expected[label], label
    finally:
        store.close()


def nodes(condition: Condition) -> list[Condition]:
    """The condition and all its sub-conditions, depth first."""
    children: list[Condition] = []
    if isinstance(condition, All):
        children = list(condition.all)
    elif isinstance(condition, Any_):
        children = list(condition.any)
    elif isinstance(condition, Not):
        children = [condition.not_]
    return [condition, *(n for c in children for n in nodes(c))]


@pytest.mark.parametrize(
    "definition",
    [
        {"attribute": "a", "before": 1e300},  # Unix ms far past the year 9999
        {"attribute": "a", "after": "1e300"},
        {"attribute": "a", "greater": "99999999999999w ago"},
        {"performed": "x", "within": "99999999999999w"},
        {"performed": "x", "between": [0, 1e300]},
        {"attribute": "a", "equals": 2**64},  # no 64-bit SQL integer holds it
        {"attribute": "a", "in": [1, -(2**63) - 1]},
        {"attribute": "a", "less": 2**63},
        {"performed": "x", "at_least": 2**63},
    ],
)
def test_operands_sql_cannot_hold_are_rejected(definition: dict[str, Any]) -> None:
    # Accepted, they made the SQL evaluator fail (OverflowError binding the parameter)
    # while the Python one answered.
    assert parse(definition) is None
