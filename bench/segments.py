"""Segment benchmark: compiled membership SQL against hand-written SQL, single-person
evaluation, and a sweep against a full evaluation.

Run: `.venv/bin/python bench/segments.py` (or `make bench`); `--people 10000 --events
100000` for a quick run. Builds a seeded database (people with `plan_type` trial / pro /
free, a `created_at` signup attribute in Unix seconds, first seen over 90 days; events
of 20 names, `purchase` with properties, over the 90 days ending at a fixed `now`, each
person active at their own rate between first seen and, for some, the day they churned)
through the store's bulk inserts, not the ingest path. Then, for three typical segments:

1. `plan_type equals trial` and `performed app_login within 7d`;
2. `not_performed app_login within 7d` (with the profile-age rule) and `plan_type equals
   trial`;
3. `performed purchase at_least 3 within 30d`;

* full membership: the compiled SQL (`Compiler.where` + `SegmentsRepo.matching`) against
  a hand-written query with the same semantics on the same connection, in the same run
  (median of `--repeat` runs each, alternating; both must return the same people). The
  ceiling is the faster of two hand-written forms: correlated `EXISTS` / `count(*)` per
  person, and `p.id IN (SELECT person_id ... GROUP BY ...)` over the (name, timestamp)
  index. Goal: compiled within 2x of the ceiling.
* single-person checks: `Evaluator.matches` over prebuilt `PersonFacts` for `--checks`
  people (loaded in bulk). Goal: 20,000 checks/s. Its members must agree with the SQL.
* sweep: `SegmentKeeper.sync(now)` (a full evaluation that writes the memberships)
  against `sweep(now + 1h)`, which looks only at people whose membership can have moved.

It always exits 0: a slow machine is a figure, not a failure.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

from app.core.conditions import Condition
from app.core.evaluate import Evaluator, PersonFacts
from app.core.models import Person
from app.core.segments import Segment
from app.core.times import DAY_MS, HOUR_MS
from app.service.segments import SegmentKeeper
from app.store import Compiler, EventRow, Store

SQL_GOAL = 2.0
CHECKS_GOAL = 20_000
#: 2026-12-01T00:00:00Z: the last event's instant; segments are evaluated here.
NOW_MS = 1_796_083_200_000
SPAN_MS = 90 * DAY_MS
LOAD_BATCH = 100_000

# (name, weight): logins and views dominate, purchases are a few percent.
EVENTS = [
    ("page_viewed", 22), ("app_login", 14), ("feature_used", 10), ("search_performed", 7),
    ("item_viewed", 7), ("button_clicked", 6), ("file_uploaded", 4), ("comment_added", 4),
    ("project_opened", 4), ("report_viewed", 3), ("purchase", 3), ("invite_sent", 2),
    ("project_created", 2), ("export_started", 2), ("settings_changed", 2),
    ("plan_viewed", 2), ("checkout_started", 2), ("trial_started", 1), ("signed_up", 1),
    ("subscription_cancelled", 1),
]  # fmt: skip
SOURCES = ['{"source":"web"}', '{"source":"ios"}', '{"source":"android"}', '{"source":"api"}']
CURRENCIES = ["USD", "EUR", "GBP"]

SEGMENTS: dict[str, dict[str, Any]] = {
    "active_trials": {
        "all": [
            {"attribute": "plan_type", "equals": "trial"},
            {"performed": "app_login", "within": "7d"},
        ]
    },
    "quiet_trials": {
        "all": [
            {"not_performed": "app_login", "within": "7d"},
            {"attribute": "plan_type", "equals": "trial"},
        ]
    },
    "repeat_buyers": {"performed": "purchase", "at_least": 3, "within": "30d"},
}

W7, W30 = NOW_MS - 7 * DAY_MS, NOW_MS - 30 * DAY_MS
# The same conditions as a skilled person would write them by hand, two ways each:
# (label, SQL, parameters). Same semantics on this data: plan_type is always a string,
# the created_at attribute always Unix seconds (so known-since <= T is "first seen <= T
# or created_at * 1000 <= T").
HAND: dict[str, list[tuple[str, str, list[Any]]]] = {
    "active_trials": [
        (
            "EXISTS",
            "SELECT p.id FROM people p WHERE json_extract(p.attributes, '$.plan_type') = ? "
            "AND EXISTS (SELECT 1 FROM events e WHERE e.person_id = p.id AND e.name = ? "
            "AND e.timestamp BETWEEN ? AND ?)",
            ["trial", "app_login", W7, NOW_MS],
        ),
        (
            "IN",
            "SELECT p.id FROM people p WHERE json_extract(p.attributes, '$.plan_type') = ? "
            "AND p.id IN (SELECT person_id FROM events WHERE name = ? "
            "AND timestamp BETWEEN ? AND ?)",
            ["trial", "app_login", W7, NOW_MS],
        ),
    ],
    "quiet_trials": [
        (
            "EXISTS",
            "SELECT p.id FROM people p WHERE json_extract(p.attributes, '$.plan_type') = ? "
            "AND (p.created_at <= ? OR json_extract(p.attributes, '$.created_at') * 1000 <= ?) "
            "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.person_id = p.id AND e.name = ? "
            "AND e.timestamp BETWEEN ? AND ?)",
            ["trial", W7, W7, "app_login", W7, NOW_MS],
        ),
        (
            "IN",
            "SELECT p.id FROM people p WHERE json_extract(p.attributes, '$.plan_type') = ? "
            "AND (p.created_at <= ? OR json_extract(p.attributes, '$.created_at') * 1000 <= ?) "
            "AND p.id NOT IN (SELECT person_id FROM events WHERE name = ? "
            "AND timestamp BETWEEN ? AND ? AND person_id IS NOT NULL)",
            ["trial", W7, W7, "app_login", W7, NOW_MS],
        ),
    ],
    "repeat_buyers": [
        (
            "count",
            "SELECT p.id FROM people p WHERE (SELECT count(*) FROM events e "
            "WHERE e.person_id = p.id AND e.name = ? AND e.timestamp BETWEEN ? AND ?) >= ?",
            ["purchase", W30, NOW_MS, 3],
        ),
        (
            "GROUP BY",
            "SELECT person_id FROM events WHERE name = ? AND timestamp BETWEEN ? AND ? "
            "AND person_id IS NOT NULL GROUP BY person_id HAVING count(*) >= ?",
            ["purchase", W30, NOW_MS, 3],
        ),
    ],
}


def generate(people: int, events: int, seed: int) -> tuple[list[Person], list[EventRow]]:
    """Seeded people and events (events in time order, as they would have arrived)."""
    rng = random.Random(seed)
    first = [NOW_MS - int(rng.random() * SPAN_MS) for _ in range(people)]
    # 40% churned at some point after they were first seen; the rest are still active.
    last = [NOW_MS if rng.random() >= 0.4 else f + int(rng.random() * (NOW_MS - f)) for f in first]
    # Each person is active at their own rate (heavy-tailed) over their active days.
    rate = [rng.lognormvariate(0, 1.2) for _ in range(people)]
    weight = [r * (lst - f + HOUR_MS) for r, f, lst in zip(rate, first, last, strict=True)]
    # 1% of events are anonymous page views (no person yet).
    anonymous = events // 100
    owners = rng.choices(range(people), weight, k=events - anonymous)
    names = rng.choices([n for n, _ in EVENTS], [w for _, w in EVENTS], k=len(owners))
    timed: list[tuple[int, int, str]] = []
    for owner, name in zip(owners, names, strict=True):
        f = first[owner]
        timed.append((f + int(rng.random() * (last[owner] - f)), owner + 1, name))
    timed += [(NOW_MS - int(rng.random() * SPAN_MS), 0, "page_viewed") for _ in range(anonymous)]
    timed.sort()

    received = NOW_MS + HOUR_MS
    rows: list[EventRow] = []
    seen: dict[int, int] = {}
    for ts, pid, name in timed:
        if pid == 0:
            anon = f"anon-{rng.getrandbits(40):010x}"
            rows.append((None, anon, None, None, "page", name, SOURCES[0], ts, received, None))
            continue
        seen.setdefault(pid, ts)
        if name == "purchase":
            props = orjson.dumps(
                {
                    "amount": round(rng.lognormvariate(3.5, 0.8), 2),
                    "currency": rng.choice(CURRENCIES),
                    "sku": f"sku-{rng.randrange(2_000):04d}",
                }
            ).decode()
        else:
            props = SOURCES[rng.randrange(4)]
        rows.append((pid, None, f"user-{pid:06d}", None, "track", name, props, ts, received, None))

    persons: list[Person] = []
    for i in range(people):
        pid = i + 1
        seen_at = seen.get(pid, first[i])  # first seen: their earliest event
        days = (NOW_MS - seen_at) / DAY_MS
        # Recent sign-ups are mostly on a trial; older ones converted or fell back to free.
        trial = 0.8 if days < 14 else 0.35 if days < 30 else 0.1
        plan = rng.choices(["trial", "pro", "free"], [trial, (1 - trial) * 0.4, (1 - trial) * 0.6])
        attributes: dict[str, Any] = {
            "email": f"user{pid}@example.com",
            "plan_type": plan[0],
            "company": {"size": int(rng.paretovariate(1.2) * 3)},
        }
        if rng.random() < 0.8:
            # Signed up on the web, often a little before the first tracked event, and
            # for imported accounts (a fifth of them) long before.
            early = 30 * DAY_MS if rng.random() < 0.2 else 2 * DAY_MS
            attributes["created_at"] = (seen_at - int(rng.random() * early)) // 1000
        persons.append(
            Person(
                id=pid,
                external_id=f"user-{pid:06d}",
                email=attributes["email"],
                attributes=attributes,
                created_at=seen_at,
                updated_at=seen_at,
            )
        )
    return persons, rows


def load(path: Path, persons: list[Person], rows: list[EventRow]) -> Store:
    """A fresh database holding them, through the repositories' bulk inserts."""
    store = Store.open(path)
    with store.transaction():
        store.people.insert_many(persons)
    for start in range(0, len(rows), LOAD_BATCH):
        with store.transaction():
            store.events.insert_rows(rows[start : start + LOAD_BATCH])
    return store


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median seconds of `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def plan(store: Store, sql: str, params: list[Any]) -> str:
    """EXPLAIN QUERY PLAN, one line per step."""
    rows = store.db.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return "; ".join(r[3] for r in rows)


def load_facts(store: Store, ids: range, names: list[str]) -> dict[int, PersonFacts]:
    """PersonFacts for people `ids`, with their events of `names`, in two queries."""
    conn = store.db.conn
    people: dict[int, tuple[dict[str, Any], int]] = {}
    for pid, attrs, created in conn.execute(
        "SELECT id, attributes, created_at FROM people WHERE id BETWEEN ? AND ?",
        (ids.start, ids.stop - 1),
    ):
        people[pid] = (orjson.loads(attrs), created)
    events: dict[int, list[tuple[str, int, Any]]] = {pid: [] for pid in people}
    marks = ",".join("?" * len(names))
    for pid, name, ts, props in conn.execute(
        f"SELECT person_id, name, timestamp, properties FROM events "
        f"WHERE person_id BETWEEN ? AND ? AND name IN ({marks})",
        (ids.start, ids.stop - 1, *names),
    ):
        events[pid].append((name, ts, orjson.loads(props)))
    return {
        pid: PersonFacts.build(attrs, created, events[pid])
        for pid, (attrs, created) in people.items()
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW GOAL"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures. Always returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--people", type=int, default=100_000, help="people")
    parser.add_argument("--events", type=int, default=1_000_000, help="events")
    parser.add_argument("--checks", type=int, default=20_000, help="people checked one by one")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query")
    parser.add_argument("--seed", type=int, default=11, help="random seed")
    args = parser.parse_args(argv)

    adapter: TypeAdapter[Condition] = TypeAdapter(Condition)
    conditions = {seg_id: adapter.validate_python(raw) for seg_id, raw in SEGMENTS.items()}

    began = time.perf_counter()
    persons, rows = generate(args.people, args.events, args.seed)
    print(
        f"generated {len(persons):,} people and {len(rows):,} events "
        f"in {time.perf_counter() - began:.1f} s"
    )
    gc.collect()
    gc.freeze()

    with tempfile.TemporaryDirectory(prefix="nudge-bench-") as tmp:
        began = time.perf_counter()
        store = load(Path(tmp) / "segments.db", persons, rows)
        print(f"loaded in {time.perf_counter() - began:.1f} s (bulk inserts, not ingest)")
        del persons, rows
        try:
            run(store, conditions, args)
        finally:
            store.close()
    return 0


def run(store: Store, conditions: dict[str, Condition], args: argparse.Namespace) -> None:
    """The three measurements, on the loaded store."""
    conn = store.db.conn
    members: dict[str, set[int]] = {}
    totals = {False: 0.0, True: 0.0}

    def timed(sql: str, params: list[Any]) -> float:
        return median_time(lambda: conn.execute(sql, params).fetchall(), args.repeat)

    print(
        f"\nfull membership, median of {args.repeat}; goal: compiled within {SQL_GOAL:g}x of "
        "the best hand-written query"
    )
    for seg_id, condition in conditions.items():
        hand: list[tuple[float, str, str, list[Any]]] = []
        found: set[int] | None = None
        for label, sql, params in HAND[seg_id]:
            ids = {row[0] for row in conn.execute(sql, params)}
            assert found is None or ids == found, f"{seg_id}: the hand-written forms disagree"
            found = ids
            hand.append((timed(sql, params), label, sql, params))
        assert found is not None
        best_s, best_label, best_sql, best_params = min(hand)
        shown = "   ".join(f"{label} {t * 1000:.1f} ms" for t, label, _, _ in hand)
        print(f"{seg_id}: {len(found):,} members")
        print(f"  hand-written       {shown}")
        for bulk in (False, True):
            where, params = Compiler({}, NOW_MS, bulk=bulk).where(condition)
            compiled = store.segments.matching(where, params)
            assert compiled == found, f"{seg_id}: compiled (bulk={bulk}) disagrees with hand"
            sql = f"SELECT p.id FROM people p WHERE {where}"
            seconds = median_time(
                lambda w=where, p=params: store.segments.matching(w, p), args.repeat
            )
            totals[bulk] += seconds
            ratio = seconds / best_s
            name = "compiled bulk" if bulk else "compiled"
            print(
                f"  {name:<18} {seconds * 1000:.1f} ms   {ratio:.2f}x the best "
                f"({seconds / hand[bulk][0]:.2f}x {hand[bulk][1]})   {verdict(ratio <= SQL_GOAL)}"
            )
            print(f"    plan: {plan(store, sql, params)}")
        print(f"    plan {best_label}: {plan(store, best_sql, best_params)}")
        members[seg_id] = found

    count = min(args.checks, args.people)
    began = time.perf_counter()
    facts = load_facts(store, range(1, count + 1), ["app_login", "purchase"])
    print(
        f"\nsingle-person checks over {len(facts):,} people (facts loaded in "
        f"{time.perf_counter() - began:.1f} s); goal {CHECKS_GOAL:,} checks/s"
    )
    matches = Evaluator({}).matches
    people = list(facts.items())
    for seg_id, condition in conditions.items():
        inside = {pid for pid, f in people if matches(condition, f, NOW_MS)}
        expected = {pid for pid in members[seg_id] if pid in facts}
        assert inside == expected, f"{seg_id}: evaluator {len(inside)}, SQL {len(expected)}"
        seconds = median_time(
            lambda c=condition: [matches(c, f, NOW_MS) for _, f in people],
            max(args.repeat // 2, 1),
        )
        rate = len(people) / seconds
        print(
            f"  {seg_id:<14}{len(inside):>7,} members {rate:>11,.0f} checks/s "
            f"({seconds * 1e6 / len(people):.1f} µs each)   {verdict(rate >= CHECKS_GOAL)}"
        )

    segments = {
        seg_id: Segment(id=seg_id, name=seg_id.replace("_", " "), condition=condition)
        for seg_id, condition in conditions.items()
    }
    keeper = SegmentKeeper(store, segments)
    began = time.perf_counter()
    synced = keeper.sync(NOW_MS)
    sync_s = time.perf_counter() - began
    for seg_id, (entered, _) in synced.items():
        assert entered == len(members[seg_id]), f"{seg_id}: sync found {entered}"
    began = time.perf_counter()
    swept = keeper.sweep(NOW_MS + HOUR_MS)
    sweep_s = time.perf_counter() - began
    moved = ", ".join(f"{k} +{e}/-{x}" for k, (e, x) in swept.items())
    print(
        f"\nfull evaluation: SegmentKeeper.sync(now) {sync_s * 1000:.1f} ms (writes "
        f"{sum(len(m) for m in members.values()):,} memberships); its three queries alone "
        f"{totals[False] * 1000:.1f} ms ({totals[True] * 1000:.1f} ms in bulk form)"
    )
    print(
        f"sweep(now + 1h) {sweep_s * 1000:.1f} ms: {sweep_s / sync_s:.0%} of the full "
        f"evaluation, {sweep_s / totals[False]:.0%} of its queries ({moved})"
    )


if __name__ == "__main__":
    sys.exit(main())
