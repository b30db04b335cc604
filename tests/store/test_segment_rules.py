"""Each operator of the condition language, with the right answer worked out by hand,
checked on both evaluators (Python, one person; SQL, bulk)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from app.core.clock import FixedClock
from app.core.conditions import Condition, normalise
from app.core.evaluate import Evaluator, PersonFacts
from app.service.ingest import Ingestor
from app.store import Compiler, Store

NOW = 1_790_000_000_000  # 2026-09-21T14:13:20Z
DAY = 86_400_000
CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)


def evaluate_both(
    condition: dict[str, Any],
    attributes: dict[str, Any] | None = None,
    events: list[tuple[str, int, dict[str, Any]]] = (),  # type: ignore[assignment]
    *,
    first_seen: int = NOW - 365 * DAY,
    segments: dict[str, dict[str, Any]] | None = None,
) -> bool:
    """Store one person (known since `first_seen`), evaluate both ways, insist they agree."""
    parsed = normalise(CONDITION.validate_python(condition))
    refs = {k: normalise(CONDITION.validate_python(v)) for k, v in (segments or {}).items()}
    store = Store.open(":memory:")
    ingestor = Ingestor(store, FixedClock(NOW))
    ops: list[dict[str, Any]] = [
        {"type": "identify", "userId": "p", "traits": attributes or {}, "timestamp": first_seen}
    ]
    ops += [
        {"type": "track", "userId": "p", "event": n, "properties": props, "timestamp": ts}
        for n, ts, props in events
    ]
    report = ingestor.apply(ops)
    assert report.rejected == []
    person = store.people.by_external_id("p")
    assert person is not None
    facts = PersonFacts.build(
        person.attributes,
        person.created_at,
        [(e.name or "", e.timestamp, e.properties) for e in store.events.iter_range() if e.name],
    )
    in_python = Evaluator(refs).matches(parsed, facts, NOW)
    sql, params = Compiler(refs, NOW).where(parsed)
    in_sql = person.id in store.segments.matching(sql, params)
    assert in_python == in_sql, "the two evaluators disagree"
    return in_python


# -- attributes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("test", "value", "expected"),
    [
        ({"equals": "trial"}, "trial", True),
        ({"equals": "trial"}, "Trial", False),  # case-sensitive
        ({"equals": 5}, 5.0, True),  # numbers compare as numbers
        ({"equals": 1}, True, False),  # typed: a boolean is not the number 1
        ({"equals": True}, True, True),
        ({"equals": "5"}, 5, False),  # typed: a string is not a number
        ({"not_equals": "trial"}, "pro", True),
        ({"not_equals": "trial"}, "trial", False),
        ({"contains": "@acme"}, "jo@acme.com", True),
        ({"contains": "beta"}, ["alpha", "beta"], True),
        ({"contains": "bet"}, ["alpha", "beta"], False),  # list elements match whole
        ({"contains": 2}, [1, 2, 3], True),
        ({"in": ["pro", "team"]}, "team", True),
        ({"in": ["pro", "team"]}, "trial", False),
        ({"greater": 10}, 10.5, True),
        ({"greater": 10}, 10, False),  # strict
        ({"less": 10}, "9", False),  # a string is not a number
        ({"exists": True}, "", True),  # an empty string exists
        ({"missing": True}, 0, False),
    ],
)
def test_attribute_operators(test: dict[str, Any], value: object, expected: bool) -> None:
    assert evaluate_both({"attribute": "a", **test}, {"a": value}) is expected


def test_absent_attribute() -> None:
    assert evaluate_both({"attribute": "a", "exists": True}, {}) is False
    assert evaluate_both({"attribute": "a", "missing": True}, {}) is True
    # not_equals is the negation of equals: someone without the attribute matches.
    assert evaluate_both({"attribute": "a", "not_equals": "x"}, {}) is True
    assert evaluate_both({"attribute": "a", "greater": 0}, {}) is False


def test_nested_attribute_path() -> None:
    attributes = {"company": {"size": 120, "name": "Acme"}}
    assert evaluate_both({"attribute": "company.size", "greater": 50}, attributes) is True
    assert evaluate_both({"attribute": "company.plan", "exists": True}, attributes) is False


# 2026-09-11T14:13:20Z, i.e. NOW - 10 days, in the three forms a timestamp arrives in.
TEN_DAYS_AGO_MS = NOW - 10 * DAY


@pytest.mark.parametrize(
    "value",
    [TEN_DAYS_AGO_MS // 1000, TEN_DAYS_AGO_MS, "2026-09-11T16:13:20+02:00"],
    ids=["unix-seconds", "unix-ms", "iso-with-offset"],
)
def test_timestamp_attribute_in_any_form(value: object) -> None:
    attributes = {"trial_started_at": value}
    before = {"attribute": "trial_started_at", "before": "9d ago"}
    assert evaluate_both(before, attributes) is True
    assert evaluate_both({**before, "before": "11d ago"}, attributes) is False
    after = {"attribute": "trial_started_at", "after": "2026-09-11T00:00:00Z"}
    assert evaluate_both(after, attributes) is True
    assert evaluate_both({"attribute": "trial_started_at", "after": "now"}, attributes) is False


def test_relative_time_in_the_future() -> None:
    # Trial ends in 2 days: "before 3d from now" holds, "before 1d from now" does not.
    attributes = {"trial_ends_at": (NOW + 2 * DAY) // 1000}
    assert evaluate_both({"attribute": "trial_ends_at", "before": "3d from now"}, attributes)
    assert not evaluate_both({"attribute": "trial_ends_at", "before": "1d from now"}, attributes)


def test_a_timestamp_without_a_zone_is_not_a_time() -> None:
    attributes = {"t": "2026-01-01T00:00:00"}
    assert evaluate_both({"attribute": "t", "before": "now"}, attributes) is False


# -- events --------------------------------------------------------------------------------


def test_window_boundary_exactly_n_days_ago_is_inside() -> None:
    condition = {"performed": "app_login", "within": "7d"}
    assert evaluate_both(condition, events=[("app_login", NOW - 7 * DAY, {})]) is True
    assert evaluate_both(condition, events=[("app_login", NOW - 7 * DAY - 1, {})]) is False


def test_events_after_now_have_not_happened() -> None:
    assert evaluate_both({"performed": "x"}, events=[("x", NOW + 1, {})]) is False


def test_counts() -> None:
    three = [("purchase", NOW - d * DAY, {}) for d in (1, 2, 40)]
    assert evaluate_both({"performed": "purchase", "at_least": 3}, events=three) is True
    # Within 30 days only two of the three count.
    assert (
        evaluate_both({"performed": "purchase", "at_least": 3, "within": "30d"}, events=three)
        is False
    )
    assert (
        evaluate_both({"performed": "purchase", "exactly": 2, "within": "30d"}, events=three)
        is True
    )
    assert (
        evaluate_both({"performed": "purchase", "at_most": 1, "within": "30d"}, events=three)
        is False
    )
    # at_most counts zero too: someone who never bought has bought at most once.
    assert evaluate_both({"performed": "purchase", "at_most": 1}) is True


def test_between_is_half_open() -> None:
    start, end = "2026-09-01T00:00:00Z", "2026-09-02T00:00:00Z"
    start_ms = 1_788_220_800_000  # 2026-09-01T00:00:00Z
    condition = {"performed": "x", "between": [start, end]}
    assert evaluate_both(condition, events=[("x", start_ms, {})]) is True
    assert evaluate_both(condition, events=[("x", start_ms + DAY, {})]) is False
    assert evaluate_both(condition, events=[("x", start_ms + DAY - 1, {})]) is True


def test_property_filter_on_a_nested_property() -> None:
    events = [("added_to_cart", NOW - DAY, {"cart": {"total": 80, "currency": "EUR"}})]
    big = {"performed": "added_to_cart", "where": [{"property": "cart.total", "greater": 50}]}
    assert evaluate_both(big, events=events) is True
    small = {"performed": "added_to_cart", "where": [{"property": "cart.total", "less": 50}]}
    assert evaluate_both(small, events=events) is False
    shorthand = {"performed": "added_to_cart", "where": {"cart.currency": "EUR"}}
    assert evaluate_both(shorthand, events=events) is True


def test_not_over_an_event_condition() -> None:
    condition = {"not": {"performed": "app_login"}}
    assert evaluate_both(condition, events=[("app_login", NOW - 100 * DAY, {})]) is False
    assert evaluate_both(condition, events=[("signed_up", NOW - 100 * DAY, {})]) is True


# -- profile age ---------------------------------------------------------------------------


def test_profile_age_rule() -> None:
    condition = {"not_performed": "app_login", "within": "7d"}
    # Known for 10 days, no login: matches.
    assert evaluate_both(condition, first_seen=NOW - 10 * DAY) is True
    # Known for 3 days, no login: too new to have "not logged in for 7 days".
    assert evaluate_both(condition, first_seen=NOW - 3 * DAY) is False
    # Exactly 7 days known counts as known for 7 days.
    assert evaluate_both(condition, first_seen=NOW - 7 * DAY) is True
    # A created_at attribute older than first-seen makes them known for longer.
    created = {"created_at": (NOW - 30 * DAY) // 1000}
    assert evaluate_both(condition, created, first_seen=NOW - 3 * DAY) is True
    # The `not: performed within` spelling follows the same rule.
    spelled = {"not": {"performed": "app_login", "within": "7d"}}
    assert evaluate_both(spelled, first_seen=NOW - 3 * DAY) is False


# -- composition ---------------------------------------------------------------------------


def test_all_any_not() -> None:
    attrs = {"plan_type": "trial", "seats": 3}
    trial = {"attribute": "plan_type", "equals": "trial"}
    big = {"attribute": "seats", "greater": 5}
    assert evaluate_both({"all": [trial, {"not": big}]}, attrs) is True
    assert evaluate_both({"all": [trial, big]}, attrs) is False
    assert evaluate_both({"any": [big, trial]}, attrs) is True
    assert evaluate_both({"all": []}, attrs) is True
    assert evaluate_both({"any": []}, attrs) is False


def test_segment_referencing_another() -> None:
    segments = {"trials": {"attribute": "plan_type", "equals": "trial"}}
    attrs = {"plan_type": "trial"}
    assert evaluate_both({"in_segment": "trials"}, attrs, segments=segments) is True
    assert evaluate_both({"not_in_segment": "trials"}, attrs, segments=segments) is False
    assert evaluate_both({"in_segment": "trials"}, {"plan_type": "pro"}, segments=segments) is False


# -- bad definitions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"attribute": "a", "equal": 1}, "unknown operator 'equal'"),
        ({"attribute": "a", "equals": 1, "less": 2}, "exactly one operator"),
        ({"performed": "x", "within": "7 days"}, "not a duration"),
        ({"performed": "x", "within": "7d", "since": "entry"}, "one of within, since, between"),
        ({"performed": "x", "at_least": 2, "exactly": 1}, "one of at_least, at_most, exactly"),
        ({"performed": "x", "between": ["2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"]}, "after"),
        ({"attribute": "a", "before": "soon"}, "not an ISO 8601 time"),
        ({"colour": "red"}, "not a condition"),
        ({"attribute": 'a."b"', "exists": True}, "not a path"),
    ],
)
def test_bad_conditions_are_rejected(condition: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CONDITION.validate_python(condition)
