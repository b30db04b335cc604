"""The compiler's bulk form (`Compiler(..., bulk=True)`: one pass per event condition)
selects exactly the people the per-person form and the Python evaluator select."""

from __future__ import annotations

import random
from typing import Any

import pytest
from pydantic import TypeAdapter

from app.core.clock import FixedClock
from app.core.conditions import Condition, normalise
from app.core.evaluate import Evaluator, PersonFacts
from app.service.ingest import Ingestor
from app.store import Compiler, Store

NOW = 1_793_491_200_000  # 2026-11-01T00:00:00Z
HOUR = 3_600_000
DAY = 86_400_000
CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)

CONDITIONS: list[dict[str, Any]] = [
    {"performed": "login", "within": "7d"},
    {"not_performed": "login", "within": "7d"},
    {"not": {"performed": "login"}},
    {"performed": "login", "at_least": 0},
    {"performed": "login", "at_least": 2, "within": "7d"},
    {"performed": "login", "at_most": 0, "within": "7d"},
    {"performed": "login", "at_most": 1, "within": "7d"},
    {"performed": "login", "exactly": 0},
    {"performed": "login", "exactly": 2},
    {"performed": "purchase", "where": {"plan": "pro"}, "at_least": 2},
    {"performed": "purchase", "where": [{"property": "value", "greater": 20}]},
    {"performed": "purchase", "between": [NOW - 10 * DAY, NOW - 2 * DAY], "at_most": 1},
    {"not": {"performed": "purchase", "within": "3d", "at_least": 2}},
    {
        "any": [
            {"all": [{"attribute": "plan", "equals": "trial"}, {"performed": "login"}]},
            {"not_performed": "purchase", "within": "2d"},
        ]
    },
]


def track(name: str, properties: dict[str, Any], at: int, **who: str) -> dict[str, Any]:
    return {"type": "track", "event": name, "properties": properties, "timestamp": at, **who}


@pytest.fixture(scope="module")
def population() -> tuple[Store, dict[int, PersonFacts]]:
    """Twenty people with logins and purchases around the 2, 3, 7 and 10 day edges, and
    anonymous events (no person) of the same names."""
    rng = random.Random(5)
    store = Store.open(":memory:")
    ops: list[dict[str, Any]] = []
    for i in range(20):
        first = NOW - rng.choice([1, 5, 8, 40]) * DAY
        plan = rng.choice(["trial", "pro"])
        ops.append(
            {"type": "identify", "userId": f"u{i}", "traits": {"plan": plan}, "timestamp": first}
        )
        for _ in range(rng.randrange(5)):
            ts = NOW - rng.choice([0, 1, 2, 3, 7, 10]) * DAY + rng.choice([-1, 0, 1, HOUR])
            name = rng.choice(["login", "purchase"])
            props = {"plan": rng.choice(["pro", "trial"]), "value": rng.choice([10, 20, 30])}
            at = max(ts, first)
            ops.append(track(name, props, at, userId=f"u{i}"))
    for name in ("login", "purchase"):
        ops.append(track(name, {"plan": "pro", "value": 30}, NOW - DAY, anonymousId="anon"))
    report = Ingestor(store, FixedClock(NOW)).apply(ops)
    assert report.rejected == []
    events: dict[int, list[tuple[str, int, dict[str, Any]]]] = {}
    for e in store.events.iter_range():
        if e.person_id is not None and e.name:
            events.setdefault(e.person_id, []).append((e.name, e.timestamp, e.properties))
    facts = {
        p.id: PersonFacts.build(p.attributes, p.created_at, events.get(p.id, []))
        for p in store.people.iter_all()
    }
    return store, facts


@pytest.mark.parametrize("raw", CONDITIONS, ids=[str(c) for c in CONDITIONS])
def test_bulk_form_selects_the_same_people(
    population: tuple[Store, dict[int, PersonFacts]], raw: dict[str, Any]
) -> None:
    store, facts = population
    condition = normalise(CONDITION.validate_python(raw))
    expected = {pid for pid, f in facts.items() if Evaluator().matches(condition, f, NOW)}
    some = set(list(facts)[::3])
    for bulk in (False, True):
        sql, params = Compiler({}, NOW, bulk=bulk).where(condition)
        assert store.segments.matching(sql, params) == expected, f"bulk={bulk}"
        assert store.segments.matching(sql, params, some) == expected & some, f"bulk={bulk}"
        # One query for both: who matches, and who is a member (nobody: none stored).
        found = store.segments.matching_and_members("any", sql, params, some | {10**9})
        assert found == (expected & some, set()), f"bulk={bulk}"


@pytest.mark.parametrize("raw", CONDITIONS, ids=[str(c) for c in CONDITIONS])
def test_a_compiled_condition_serves_every_instant(raw: dict[str, Any]) -> None:
    # The keeper compiles a segment once and binds each refresh's instant.
    condition = normalise(CONDITION.validate_python(raw))
    for bulk in (False, True):
        compiled = Compiler({}, NOW, bulk=bulk).compile(condition)
        for at in (NOW, NOW - 5 * DAY, NOW + 3 * HOUR + 7):
            assert (compiled.sql, compiled.params(at)) == Compiler({}, at, bulk=bulk).where(
                condition
            )
