"""Ingest benchmark: the real ingest path against a bare `executemany` ceiling.

Run: `.venv/bin/python bench/ingest.py` (or `make bench`); `--events 100000 --people
10000` for a quick run. Generates seeded Segment track events (userId, one of 20 event
names, a few properties, ISO 8601 timestamps in time order over 60 days, a random
messageId each), then in the same process:

* real: `Ingestor.apply` in batches of 5,000 (what `logfiles.ingest_lines` does, with
  the line lengths passed as sizes) into a fresh file database;
* ceiling: the same event rows, already built (person ids, properties JSON, times in
  ms) and inserted with one `executemany` per 5,000 rows, one transaction each, into
  the events table of another fresh database with the real schema (its people are
  inserted first, untimed, so the foreign key holds on both sides).

It prints both rates (events/s) and their ratio; the goal is the real path at 50% or
more of the ceiling. It always exits 0: a slow machine is a figure, not a failure.
Generation is not timed; the 1M generated dicts are frozen out of the garbage
collector (`gc.freeze`) before either side runs, so neither pays to scan them.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from app.core.clock import FixedClock
from app.core.times import DAY_MS, HOUR_MS, format_instant
from app.service.ingest import Ingestor
from app.store import EventRow, Store

BATCH = 5_000
GOAL = 0.5
#: 2026-09-01T00:00:00Z: the first event; the clock reads one hour after the last.
START_MS = 1_788_220_800_000
SPAN_MS = 60 * DAY_MS

# Product events, most frequent first; the weights fall off like real usage does.
NAMES = [
    "page_viewed", "app_login", "feature_used", "search_performed", "item_viewed",
    "button_clicked", "file_uploaded", "comment_added", "project_opened", "report_viewed",
    "invite_sent", "project_created", "export_started", "settings_changed", "plan_viewed",
    "signed_up", "trial_started", "checkout_started", "order_completed", "subscription_cancelled",
]  # fmt: skip
WEIGHTS = [1 / (rank + 1) for rank in range(len(NAMES))]
PLANS = ["trial", "starter", "pro", "enterprise"]
SOURCES = ["web", "ios", "android", "api"]


@dataclass(slots=True)
class Workload:
    """The generated events, in both shapes.

    Attributes:
        raws: Segment track operations as decoded JSON (what `Ingestor.apply` takes).
        sizes: their encoded sizes in bytes (a JSONL line's length).
        rows: the event rows the real path stores for them (`EventRow`), for the ceiling.
        people: external ids in order of first appearance (person id = index + 1).
        received: the clock's time, ms UTC (every row's `received_at`).
    """

    raws: list[dict[str, Any]]
    sizes: list[int]
    rows: list[EventRow]
    people: list[str]
    received: int


def generate(events: int, people: int, seed: int) -> Workload:
    """Build `events` track events for `people` people, seeded, in time order."""
    rng = random.Random(seed)
    names = rng.choices(NAMES, WEIGHTS, k=events)
    received = START_MS + SPAN_MS + HOUR_MS
    raws: list[dict[str, Any]] = []
    sizes: list[int] = []
    rows: list[EventRow] = []
    person_ids: dict[str, int] = {}
    step = SPAN_MS / max(events, 1)
    for i, name in enumerate(names):
        user = f"user-{rng.randrange(people):06d}"
        ms = START_MS + int(i * step)
        properties: dict[str, Any] = {
            "plan": rng.choice(PLANS),
            "source": rng.choice(SOURCES),
            "duration_ms": rng.randrange(50, 60_000),
        }
        if name in ("item_viewed", "order_completed", "checkout_started"):
            properties["item_id"] = f"sku-{rng.randrange(5_000):04d}"
            properties["value"] = round(rng.uniform(5, 500), 2)
        bits = f"{rng.getrandbits(128):032x}"
        message_id = f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"
        raw = {
            "type": "track",
            "userId": user,
            "event": name,
            "properties": properties,
            "timestamp": format_instant(ms),
            "messageId": message_id,
        }
        raws.append(raw)
        sizes.append(len(orjson.dumps(raw)))
        person = person_ids.setdefault(user, len(person_ids) + 1)
        props = orjson.dumps(properties).decode()
        rows.append((person, None, user, None, "track", name, props, ms, received, message_id))
    return Workload(raws, sizes, rows, list(person_ids), received)


def run_real(work: Workload, path: Path) -> float:
    """Ingest through `Ingestor.apply` in batches; returns the seconds taken."""
    store = Store.open(path)
    ingestor = Ingestor(store, FixedClock(work.received))
    raws, sizes = work.raws, work.sizes
    began = time.perf_counter()
    for start in range(0, len(raws), BATCH):
        report = ingestor.apply(raws[start : start + BATCH], sizes[start : start + BATCH])
        if report.rejected or report.skipped:
            raise SystemExit(f"real path refused events: {(report.rejected + report.skipped)[:3]}")
    elapsed = time.perf_counter() - began
    store.close()
    return elapsed


def run_ceiling(work: Workload, path: Path) -> float:
    """Insert the prepared rows with bare `executemany`; returns the seconds taken."""
    store = Store.open(path)
    conn = store.db.conn
    with store.transaction():
        conn.executemany(
            "INSERT INTO people (id, external_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
            ((i + 1, user, START_MS, START_MS) for i, user in enumerate(work.people)),
        )
    # `insert_rows` is one bare `executemany` of the rows as given: the same statement
    # (and so the same columns) the real path ends with, and nothing else.
    insert = store.events.insert_rows
    rows = work.rows
    began = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        insert(rows[start : start + BATCH])
        conn.commit()
    elapsed = time.perf_counter() - began
    store.close()
    return elapsed


def fingerprint(path: Path) -> tuple[Any, ...]:
    """Cheap proof that both databases hold the same events."""
    store = Store.open(path)
    try:
        row = store.db.conn.execute(
            "SELECT count(*), sum(person_id), sum(timestamp), count(DISTINCT dedupe_key), "
            "sum(length(properties)), count(DISTINCT name), sum(length(user_id)), "
            "count(user_email), count(anonymous_id) FROM events"
        ).fetchone()
        return tuple(row)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures. Always returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to ingest")
    parser.add_argument("--people", type=int, default=100_000, help="distinct userIds")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    work = generate(args.events, args.people, args.seed)
    print(
        f"generated {len(work.raws):,} events for {len(work.people):,} people "
        f"in {time.perf_counter() - began:.1f} s"
    )
    gc.collect()
    gc.freeze()

    with tempfile.TemporaryDirectory(prefix="nudge-bench-") as tmp:
        real_db, ceiling_db = Path(tmp) / "real.db", Path(tmp) / "ceiling.db"
        real_s = run_real(work, real_db)
        gc.collect()
        ceiling_s = run_ceiling(work, ceiling_db)
        same = fingerprint(real_db) == fingerprint(ceiling_db)

    n = len(work.rows)
    real_rate, ceiling_rate = n / real_s, n / ceiling_s
    ratio = real_rate / ceiling_rate
    for label, rate, seconds in (
        (f"real path  Ingestor.apply x{BATCH:,}", real_rate, real_s),
        (f"ceiling    executemany x{BATCH:,}", ceiling_rate, ceiling_s),
    ):
        print(f"{label:<36}{rate:>9,.0f} events/s {seconds:7.2f} s")
    print(f"ratio      {ratio:.0%} of the ceiling (goal {GOAL:.0%})")
    if not same:
        print("WARNING: the two databases hold different events")
    print("PASS" if ratio >= GOAL else "BELOW GOAL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
