"""Engine benchmark: ingest with the journey engine on against ingest alone, and
`advance` throughput over 100,000 due journeys.

Run: `.venv/bin/python bench/engine.py` (or `make bench`); `--people 10000 --events
100000` for a quick run. Generates seeded Segment operations for a product with a trial
(each person: an `identify` with email, plan, `trial_ends_at` and sometimes a time zone,
then `signed_up`; afterwards `app_login`, `page_viewed`, `feature_activated` with a
`feature_name`, `added_to_cart` with a `cart_id` and often an `order_completed` for it
within hours, upgrades to a paid plan, ...; each person active at their own rate, a
third of them going quiet after a while; time order over 28 days). Five active
campaigns are written as YAML, with their templates and one segment, into a temporary
campaigns folder:

* `welcome` (event `signed_up`): send, `wait_until` a feature is activated (max 2d),
  `branch` on three logins since entry; goal `order_completed` within 14d, exit on
  conversion;
* `feature_tips` (event `feature_activated`, `key: feature_name`): delay 1d, send,
  delay 3d, send;
* `cart_abandonment` (event `added_to_cart`, `key: cart_id`): `wait_until`
  `order_completed` since entry with `max_time: 4h`, else a reminder;
* `win_back` (segment entered: `inactive_trials`, trial and no `app_login` in 7d): send,
  delay 3d, send; exit when the person no longer matches;
* `trial_ending` (date: `trial_ends_at` - 3d, entry filter still on trial): a 09:00-17:00
  weekday `time_window` in the person's zone, then send.

Then, in the same process:

(a) ingest: the operations go in batches of 5,000 through `workspace.ingestor.apply`
    of a workspace built with `open_workspace` over a fresh file database (segment
    refresh and `Engine.on_batch` in every batch's transaction), the clock set to each
    batch's last event (+1 min) so triggers fire; against a plain `Ingestor` with no
    hook over another fresh file database, on the same operations and clock times.
    The two sides take turns batch by batch, so a load spike from another process
    lands on both. Only `apply` is timed. Every `--tick-every` batches (about 3.4 h of
    event time each at the defaults), untimed for (a) but timed and printed on their
    own, the scheduler's journey work runs as `Scheduler.tick` does it (before it
    sends): `Engine.advance(now)`, then a segment sweep (`SegmentKeeper.sweep_moves` +
    `Engine.on_moves`), so journeys move on, wait, time out and exit. Steps that fell
    due since the last tick for a person a batch touches run inside that batch (the
    engine does those first), so rarer ticks move work into the timed figure, never
    out of it. Goal: engine on at 25% or more of ingest alone. The outcome
    fingerprint (a digest of every journey, delivery and decision) is the same for two
    runs with the same arguments: a speed-up that changes behaviour shows there.
(b) advance: a workspace of its own (fresh database) with one campaign (`signed_up`: send, delay 1d,
    send, delay 2d, send); `--due` people sign up through the ingest path (untimed),
    then one `advance` to just past the delay is timed: `report.steps / seconds`, where
    each journey reaches two steps (the send, then the next delay). Goal: 20,000 journey
    steps/s.

It always exits 0: a slow machine is a figure, not a failure. Generation is not timed;
the generated dicts are frozen out of the garbage collector (`gc.freeze`) first. The
default run takes about 3-4 minutes on two idle cores, most of it outside the timed
parts (generation, the scheduler ticks, the sign-ups of (b)).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from app.config import load_settings
from app.core.clock import FixedClock
from app.core.times import DAY_MS, HOUR_MS, MINUTE_MS, format_instant
from app.service.ingest import Ingestor
from app.service.workspace import Workspace, open_workspace
from app.store import Store

BATCH = 5_000
#: A scheduler tick (`advance`, then a segment sweep) after every this many batches. Each
#: tick scans every person for the date trigger and for profile age (about 0.3 s at
#: 100k people), which is what keeps the default run from ticking after every batch.
TICK_EVERY = 4
INGEST_GOAL = 0.25
STEPS_GOAL = 20_000
#: 2026-09-01T00:00:00Z: the first operation.
START_MS = 1_788_220_800_000
SPAN_MS = 28 * DAY_MS

FEATURES = [
    "dashboards", "alerts", "integrations", "exports", "sso", "api_keys", "comments",
    "templates",
]  # fmt: skip
# (name, weight) of the everyday events; carts and orders are added around them.
EVENTS = [
    ("page_viewed", 30), ("app_login", 20), ("item_viewed", 10), ("search_performed", 8),
    ("feature_activated", 6), ("report_viewed", 5), ("added_to_cart", 4),
    ("project_created", 3), ("invite_sent", 2), ("settings_changed", 2),
]  # fmt: skip
SOURCES = ["web", "ios", "android"]
ZONES = [None, None, None, "America/New_York", "Europe/Paris", "Asia/Tokyo"]
FIRST_NAMES = ["Ada", "Ben", "Chloé", "Dev", "Emi", "Femi", "Gus", "Hana", "Ivo", "Jun"]

SEGMENTS = {
    "inactive_trials": """\
id: inactive_trials
name: Trial users gone quiet
description: On a trial and no app_login for a week (known for a week or more).
condition:
  all:
    - attribute: plan
      equals: trial
    - not_performed: app_login
      within: 7d
""",
}

CAMPAIGNS = {
    "welcome": """\
id: welcome
name: Welcome and first key action
state: active
trigger:
  event: signed_up
re_entry: once
exit: exit_on_conversion
goal: {performed: order_completed, within: 14d}
steps:
  - id: hello
    send: {template: welcome, subject: "Welcome, {{ person.first_name }}"}
  - id: wait_activation
    wait_until:
      paths:
        - id: activated
          when: {performed: feature_activated, since: entry}
      max_time: 2d
  - id: check_logins
    branch:
      if: {performed: app_login, since: entry, at_least: 3}
      then:
        - id: power_user
          send: {template: power_user, subject: "You're flying"}
      else:
        - id: getting_started
          send: {template: getting_started, subject: "Getting started in 3 steps"}
""",
    "feature_tips": """\
id: feature_tips
name: Tips for each feature turned on
state: active
trigger:
  event: feature_activated
  key: feature_name
re_entry: once
steps:
  - id: settle
    delay: 1d
  - id: first_tip
    send: {template: feature_tip, subject: "Get more from {{ event.feature_name }}"}
  - id: later
    delay: 3d
  - id: deep_dive
    send: {template: feature_deep_dive, subject: "{{ event.feature_name }}: a deep dive"}
""",
    "cart_abandonment": """\
id: cart_abandonment
name: Cart left behind
state: active
trigger:
  event: added_to_cart
  key: cart_id
re_entry: once
steps:
  - id: wait_order
    wait_until:
      paths:
        - id: ordered
          when: {performed: order_completed, since: entry}
      max_time: 4h
      timeout:
        - id: reminder
          send: {template: cart_reminder, subject: "You left something in your cart"}
""",
    "win_back": """\
id: win_back
name: Win back quiet trials
state: active
trigger:
  segment_entered: inactive_trials
re_entry: after_rematch
exit: exit_on_trigger_not_matched
steps:
  - id: miss_you
    send: {template: miss_you, subject: "We miss you"}
  - id: pause
    delay: 3d
  - id: last_call
    send: {template: last_call, subject: "Still there?"}
""",
    "trial_ending": """\
id: trial_ending
name: Trial ends in 3 days
state: active
trigger:
  date: {attribute: trial_ends_at, offset: -3d}
entry_filter: {attribute: plan, equals: trial}
steps:
  - id: office_hours
    time_window: {from: "09:00", to: "17:00", days: [weekdays]}
  - id: heads_up
    send: {template: trial_ending, subject: "Your trial ends soon"}
""",
}

DRIP = """\
id: drip
name: Onboarding drip
state: active
trigger:
  event: signed_up
steps:
  - id: day0
    send: {template: drip_day0, subject: "Welcome"}
  - id: wait1
    delay: 1d
  - id: day1
    send: {template: drip_day1, subject: "Day one"}
  - id: wait2
    delay: 2d
  - id: day3
    send: {template: drip_day3, subject: "Day three"}
"""


@dataclass(slots=True)
class Workload:
    """The generated operations, in time order, cut in batches.

    Attributes:
        raws: Segment operations as decoded JSON.
        sizes: their encoded sizes in bytes.
        clocks: per batch, the clock's reading when it arrives (its last operation + 1 min).
        counts: operations per type/name, for the summary.
    """

    raws: list[dict[str, Any]]
    sizes: list[int]
    clocks: list[int]
    counts: dict[str, int]


def _message_id(rng: random.Random) -> str:
    bits = f"{rng.getrandbits(128):032x}"
    return f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"


def generate(events: int, people: int, seed: int) -> Workload:
    """`events` operations for `people` people, seeded, in time order."""
    rng = random.Random(seed)
    end = START_MS + SPAN_MS
    # (timestamp, tie-breaker, user index, kind, name, properties or traits)
    items: list[tuple[int, int, int, str, str, dict[str, Any]]] = []
    signup = [START_MS + int(rng.random() * SPAN_MS * 0.9) for _ in range(people)]
    # A third go quiet at some point after signing up; the rest stay until the end.
    last = [s + int(rng.random() * (end - s)) if rng.random() < 1 / 3 else end for s in signup]
    rate = [rng.lognormvariate(0, 1.0) for _ in range(people)]
    for u in range(people):
        s = signup[u]
        traits: dict[str, Any] = {
            "email": f"user{u}@example.com",
            "first_name": FIRST_NAMES[u % len(FIRST_NAMES)],
            "plan": "trial",
            "trial_ends_at": format_instant(s + 14 * DAY_MS),
            "created_at": s // 1000,
        }
        zone = ZONES[rng.randrange(len(ZONES))]
        if zone is not None:
            traits["timezone"] = zone
        items.append((s, 0, u, "identify", "", traits))
        source = SOURCES[rng.randrange(3)]
        items.append((s + 1_000, 1, u, "track", "signed_up", {"plan": "trial", "source": source}))
        if rng.random() < 0.2:
            t = s + int(rng.uniform(1, 14) * DAY_MS)
            if t < last[u]:
                items.append((t, 0, u, "identify", "", {"plan": "pro"}))
                items.append((t + 1_000, 1, u, "track", "plan_upgraded", {"plan": "pro"}))
    rest = max(events - len(items), 0)
    owners = rng.choices(
        range(people),
        [r * (lst - s + HOUR_MS) for r, s, lst in zip(rate, signup, last, strict=True)],
        k=rest,
    )
    names = rng.choices([n for n, _ in EVENTS], [w for _, w in EVENTS], k=rest)
    carts = 0
    for u, name in zip(owners, names, strict=True):
        if len(items) >= events:
            break
        s = signup[u]
        t = s + 2_000 + int(rng.random() * (last[u] - s))
        props: dict[str, Any] = {"source": SOURCES[rng.randrange(3)]}
        if name == "feature_activated":
            props["feature_name"] = FEATURES[rng.randrange(len(FEATURES))]
        elif name in ("item_viewed", "added_to_cart"):
            props["sku"] = f"sku-{rng.randrange(2_000):04d}"
            props["price"] = round(rng.uniform(5, 300), 2)
        if name == "added_to_cart":
            carts += 1
            props["cart_id"] = f"cart-{carts:07d}"
            if rng.random() < 0.4:
                # Most orders follow within the hour; some only after the 4 h reminder.
                paid = t + int(rng.expovariate(1 / HOUR_MS))
                if paid < end:
                    order = {"cart_id": props["cart_id"], "value": props["price"]}
                    items.append((paid, 2, u, "track", "order_completed", order))
        items.append((t, 3, u, "track", name, props))
    items.sort(key=lambda item: (item[0], item[1], item[2]))
    del items[events:]

    raws: list[dict[str, Any]] = []
    sizes: list[int] = []
    counts: dict[str, int] = {}
    for ts, _, u, kind, name, body in items:
        raw: dict[str, Any] = {"type": kind, "userId": f"user-{u:06d}"}
        if kind == "identify":
            raw["traits"] = body
        else:
            raw["event"] = name
            raw["properties"] = body
        raw["timestamp"] = format_instant(ts)
        raw["messageId"] = _message_id(rng)
        raws.append(raw)
        sizes.append(len(orjson.dumps(raw)))
        label = name or kind
        counts[label] = counts.get(label, 0) + 1
    clocks = [
        items[min(start + BATCH, len(items)) - 1][0] + MINUTE_MS
        for start in range(0, len(items), BATCH)
    ]
    return Workload(raws, sizes, clocks, counts)


def write_folder(folder: Path, campaigns: dict[str, str], segments: dict[str, str]) -> None:
    """A campaigns folder: campaign files, segment files and a template per send step."""
    (folder / "segments").mkdir(parents=True)
    (folder / "templates").mkdir()
    for seg_id, text in segments.items():
        (folder / "segments" / f"{seg_id}.yaml").write_text(text, encoding="utf-8")
    for cid, text in campaigns.items():
        (folder / f"{cid}.yaml").write_text(text, encoding="utf-8")
        for line in text.splitlines():
            if "template:" in line:
                name = line.split("template:")[1].split(",")[0].strip()
                body = f"<p>Hi {{{{ person.first_name }}}},</p>\n<p>{name}</p>\n"
                (folder / "templates" / f"{name}.html.j2").write_text(body, encoding="utf-8")
                (folder / "templates" / f"{name}.txt.j2").write_text(
                    f"Hi {{{{ person.first_name }}}},\n{name}\n", encoding="utf-8"
                )


def open_bench_workspace(
    tmp: Path, name: str, campaigns: dict[str, str], segments: dict[str, str], clock: FixedClock
) -> Workspace:
    """A workspace over a fresh database and campaigns folder under `tmp`."""
    folder = tmp / f"{name}-campaigns"
    write_folder(folder, campaigns, segments)
    settings = load_settings(database=tmp / f"{name}.db", campaigns=folder, timezone="UTC")
    workspace = open_workspace(settings, clock=clock)
    if workspace.errors:
        raise SystemExit(f"campaigns did not load: {workspace.errors}")
    return workspace


@dataclass(slots=True)
class Ticks:
    """The scheduler's work between engine batches (see `TICK_EVERY`)."""

    count: int = 0
    seconds: float = 0.0
    steps: int = 0
    entered: int = 0
    moves: int = 0


def check(report: Any) -> None:
    """Stop the run when ingest refused anything: both sides must store every operation."""
    if report.rejected or report.skipped:
        raise SystemExit(f"ingest refused operations: {(report.rejected + report.skipped)[:3]}")


@dataclass(slots=True)
class Timings:
    """Seconds spent in `apply` on each side, and the ticks' totals."""

    alone: float = 0.0
    engine: float = 0.0
    ticks: Ticks = field(default_factory=Ticks)


def run_ingest(work: Workload, tmp: Path, every: int) -> tuple[Timings, Workspace]:
    """Each batch goes to a plain `Ingestor` (no hook) and then to the workspace's
    (engine on), both on the same clock time; a scheduler tick runs on the workspace
    after every `every` batches (and after the last). Interleaved, so both sides see the
    same machine: a load spike from elsewhere lands on both, not on one.

    Returns the timings and the (open) engine workspace.
    """
    clock = FixedClock(START_MS)
    ws = open_bench_workspace(tmp, "engine", CAMPAIGNS, SEGMENTS, clock)
    store = Store.open(tmp / "alone.db")
    alone = Ingestor(store, clock)
    raws, sizes = work.raws, work.sizes
    out = Timings()
    ticks = out.ticks
    for n, start in enumerate(range(0, len(raws), BATCH)):
        now = clock.at_ms = work.clocks[n]
        batch, lengths = raws[start : start + BATCH], sizes[start : start + BATCH]
        began = time.perf_counter()
        report = alone.apply(batch, lengths)
        out.alone += time.perf_counter() - began
        check(report)
        began = time.perf_counter()
        report = ws.ingestor.apply(batch, lengths)
        out.engine += time.perf_counter() - began
        check(report)
        if (n + 1) % every and n + 1 < len(work.clocks):
            continue
        # What `Scheduler.tick` does before it sends (the outbox is not part of this).
        began = time.perf_counter()
        done = ws.engine.advance(now)
        moves = ws.segments.sweep_moves(now)
        if moves:
            with ws.store.transaction():
                ws.engine.on_moves(moves, now)
        ticks.seconds += time.perf_counter() - began
        ticks.steps += done.steps
        ticks.entered += done.entered
        ticks.moves += len(moves)
        ticks.count += 1
    store.close()
    return out, ws


def summary(ws: Workspace) -> list[str]:
    """Per campaign: entered, active, completed, exited, converted, queued."""
    counts = ws.store.journeys.campaign_counts()
    queued = dict(
        ws.store.db.conn.execute("SELECT campaign_id, count(*) FROM deliveries GROUP BY 1")
    )
    lines = []
    for cid in sorted(CAMPAIGNS):
        c = counts.get(cid, {})
        lines.append(
            f"  {cid:<18}{c.get('entered', 0):>8,} entered {c.get('active', 0):>8,} active "
            f"{c.get('completed', 0):>8,} completed {c.get('exited', 0):>7,} exited "
            f"{c.get('converted', 0):>7,} converted {queued.get(cid, 0):>8,} queued"
        )
    return lines


def fingerprint(ws: Workspace) -> str:
    """A digest of every journey, delivery and decision: the same for two runs with the
    same arguments, so a speed-up that changes behaviour shows here."""
    digest = hashlib.sha256()
    conn = ws.store.db.conn
    for sql in (
        "SELECT campaign_id, person_id, entry_key, state, step_id, entered_at, step_since, "
        "next_due_at, path, last_message_at, converted_at, ended_at, exit_reason "
        "FROM journeys ORDER BY id",
        "SELECT key, created_at FROM deliveries ORDER BY id",
        "SELECT at, person_id, kind, campaign, step, detail FROM activity ORDER BY id",
    ):
        for row in conn.execute(sql):
            digest.update(orjson.dumps(row))
    return digest.hexdigest()[:16]


def run_advance(due: int, tmp: Path, seed: int) -> tuple[int, float, int, float]:
    """`due` people sign up (untimed but reported), then one timed `advance` past the delay.

    Returns (steps, seconds, deliveries queued, seconds the sign-ups took).
    """
    rng = random.Random(seed)
    now = START_MS + SPAN_MS
    clock = FixedClock(now)
    ws = open_bench_workspace(tmp, "advance", {"drip": DRIP}, {}, clock)
    raws = []
    for u in range(due):
        ts = now - HOUR_MS + u * HOUR_MS // max(due, 1)
        raws.append(
            {
                "type": "track",
                "userId": f"user-{u:06d}",
                "event": "signed_up",
                "properties": {"plan": "trial"},
                "timestamp": format_instant(ts),
                "messageId": _message_id(rng),
            }
        )
    began = time.perf_counter()
    for start in range(0, len(raws), BATCH):
        check(ws.ingestor.apply(raws[start : start + BATCH]))
    entry_s = time.perf_counter() - began
    waiting = ws.store.db.conn.execute(
        "SELECT count(*) FROM journeys WHERE state = 'active' AND step_id = 'wait1'"
    ).fetchone()[0]
    if waiting != due:
        raise SystemExit(f"expected {due} journeys at the delay, found {waiting}")
    gc.collect()
    began = time.perf_counter()
    report = ws.engine.advance(now + DAY_MS)
    seconds = time.perf_counter() - began
    ws.store.close()
    return report.steps, seconds, report.queued, entry_s


def verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW GOAL"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures. Always returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000, help="operations to ingest")
    parser.add_argument("--people", type=int, default=100_000, help="distinct people")
    parser.add_argument("--due", type=int, default=None, help="due journeys (default: --people)")
    parser.add_argument("--seed", type=int, default=5, help="random seed")
    parser.add_argument(
        "--tick-every", type=int, default=TICK_EVERY, help="batches between scheduler ticks"
    )
    args = parser.parse_args(argv)
    due = args.people if args.due is None else args.due

    began = time.perf_counter()
    work = generate(args.events, args.people, args.seed)
    top = sorted(work.counts.items(), key=lambda kv: -kv[1])
    print(
        f"generated {len(work.raws):,} operations for {args.people:,} people over "
        f"{SPAN_MS // DAY_MS} days in {time.perf_counter() - began:.1f} s"
    )
    print("  " + ", ".join(f"{k} {v:,}" for k, v in top))
    gc.collect()
    gc.freeze()

    n = len(work.raws)
    with tempfile.TemporaryDirectory(prefix="nudge-bench-") as name:
        tmp = Path(name)
        timings, ws = run_ingest(work, tmp, args.tick_every)
        alone_s, engine_s, ticks = timings.alone, timings.engine, timings.ticks
        lines = summary(ws)
        digest = fingerprint(ws)
        stored = ws.store.events.count()
        ws.store.close()
        gc.collect()
        steps, advance_s, queued, entry_s = run_advance(due, tmp, args.seed)

    alone_rate, engine_rate = n / alone_s, n / engine_s
    ratio = engine_rate / alone_rate
    batches = len(work.clocks)
    print(
        f"\n(a) ingest, {batches} batches of {BATCH:,}; goal: engine on at {INGEST_GOAL:.0%} "
        "or more of ingest alone"
    )
    for label, rate, seconds in (
        ("ingest alone   Ingestor.apply", alone_rate, alone_s),
        ("engine on      workspace.ingestor.apply", engine_rate, engine_s),
    ):
        print(f"  {label:<42}{rate:>9,.0f} events/s {seconds:7.2f} s")
    print(f"  ratio {ratio:.0%} of ingest alone   {verdict(ratio >= INGEST_GOAL)}")
    if stored != n:
        print(f"  WARNING: the engine workspace stored {stored:,} events, not {n:,}")
    print(
        f"  {ticks.count} scheduler ticks (advance + sweep), not in the figures above: "
        f"{ticks.seconds:.2f} s, {ticks.moves:,} segment moves, {ticks.entered:,} date entries, "
        f"{ticks.steps:,} steps"
    )
    print(f"  journeys after the run (outcome fingerprint {digest}):")
    for line in lines:
        print(line)

    rate = steps / advance_s if advance_s else float("inf")
    print(
        f"\n(b) advance over {due:,} due journeys (sign-ups took {entry_s:.1f} s, untimed); "
        f"goal {STEPS_GOAL:,} steps/s"
    )
    print(
        f"  Engine.advance  {steps:,} steps, {queued:,} queued in {advance_s:.2f} s: "
        f"{rate:,.0f} steps/s ({due / advance_s if advance_s else 0:,.0f} journeys/s)   "
        f"{verdict(rate >= STEPS_GOAL)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
