"""Console benchmark: is the console as quick on a million events as on ten thousand?

Run: `.venv/bin/python bench/console.py` (or `make bench`); `--large 200000` for a
quicker run. Builds two databases through the store's bulk inserts (not the ingest
path), each with one person per 10 events, events of a dozen names over 90 days, one
person with exactly 1,000 events, and the `welcome` campaign with a journey (its path,
decisions and a delivery) for one person in ten. Segments are evaluated once before
measuring (that is the first `open_workspace`, not the console). Then, headless at
120x36, for each database (median of `--repeat` runs, small and large alternating):

* first paint: `make_app` to the Live screen mounted with its data;
* People: the key `2` to the first page of people shown;
* funnel: Campaigns, then Enter on `welcome`, to its funnel and journeys shown;
* person: a person with 1,000 events opened to the first page of their timeline.

Goal: each action costs at most 1.5x on the large database what it costs on the small
one (every list is a page; every count is bounded or indexed). The ceiling is the same
action on the small database, measured in the same run. It always exits 0: a slow
machine is a figure, not a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.config import Settings, load_settings
from app.core.clock import FixedClock
from app.core.models import Delivery, Journey, Person
from app.core.times import DAY_MS
from app.delivery.recording import RecordingMailer
from app.service.workspace import open_workspace
from app.store import EventRow, Store
from app.ui.app import make_app
from app.ui.screens.campaign import CampaignScreen
from app.ui.screens.person import PersonScreen

GOAL = 1.5
#: 2026-12-01T00:00:00Z: the console's fixed now; events span the 90 days before it.
NOW_MS = 1_796_083_200_000
SPAN_MS = 90 * DAY_MS
CAMPAIGNS = Path(__file__).resolve().parents[1] / "tests" / "ui" / "fixtures" / "campaigns"
NAMES = [
    ("app_login", 30), ("page_viewed", 25), ("feature_used", 15), ("purchase", 6),
    ("project_created", 5), ("search_performed", 5), ("signed_up", 3), ("upgraded", 2),
    ("O_Sent (online only)", 2), ("O_Returned", 1), ("O_Accepted", 1), ("invite_sent", 5),
]  # fmt: skip
HEAVY = "heavy-user"
PLANS = ("trial", "pro", "free")
PATHS = [
    ["hello", "wait_first_action"],
    ["hello", "wait_first_action", "check", "celebrate"],
    ["hello", "wait_first_action", "check", "guide"],
]


def build(folder: Path, events: int, seed: int = 7) -> Settings:
    """A database of `events` events (and one tenth as many people) under `folder`."""
    shutil.copytree(CAMPAIGNS, folder / "campaigns")
    settings = load_settings(database=folder / "nudge.db", campaigns=folder / "campaigns")
    rng = random.Random(seed)
    people = max(events // 10, 10)
    store = Store.open(settings.database)
    gc.disable()
    with store.transaction():
        store.people.insert_many(
            Person(
                id=n,
                external_id=HEAVY if n == 1 else f"u{n:07d}",
                email=f"p{n}@example.com",
                attributes={"plan_type": rng.choice(PLANS), "email": f"p{n}@example.com"},
                created_at=NOW_MS - SPAN_MS,
                updated_at=NOW_MS - SPAN_MS,
            )
            for n in range(1, people + 1)
        )  # fmt: skip
        names = [n for n, w in NAMES for _ in range(w)]
        step = max(events // 1_000, 1)  # every step-th event is the heavy user's
        times = sorted(NOW_MS - rng.randrange(SPAN_MS) for _ in range(events))
        rows: list[EventRow] = []
        for index, at in enumerate(times):
            who = 1 if index % step == 0 else rng.randrange(2, people + 1)
            name = rng.choice(names)
            props = '{"amount":42.5}' if name == "purchase" else '{"source":"web"}'
            rows.append((who, None, f"u{who}", None, "track", name, props, at, at, f"e{index}"))
            if len(rows) == 100_000:
                store.events.insert_rows(rows)
                rows = []
        store.events.insert_rows(rows)
    with store.transaction():
        for n in range(2, people + 1, 10):
            path = PATHS[n % 3]
            entered = NOW_MS - rng.randrange(SPAN_MS)
            state = "active" if len(path) == 2 else "completed"
            at = path[-1] if state == "active" else None
            jid = store.journeys.insert(
                Journey(0, "welcome", "bench", n, "", state, at, entered, entered, path=path)
            )
            store.activity.record(
                [(entered, n, "journey.entered", "welcome", None, {"journey": jid})]
                + [(entered, n, "step.reached", "welcome", s, {"journey": jid}) for s in path]
                + ([(entered + 1, n, "branch.taken", "welcome", "check",
                     {"journey": jid, "path": "then" if path[-1] == "celebrate" else "else"})]
                   if len(path) == 4 else [])
            )  # fmt: skip
            store.deliveries.queue(
                Delivery(f"welcome/{jid}/hello", jid, n, "welcome", "hello", "welcome_hello",
                         "Welcome", entered, state="sent")
            )  # fmt: skip
    gc.enable()
    store.close()
    # The first open evaluates every segment once; the console's opens then find them
    # current (as on any database that has been opened before).
    open_workspace(settings, FixedClock(NOW_MS)).store.close()
    return settings


async def _measure(settings: Settings) -> dict[str, float]:
    out: dict[str, float] = {}
    began = time.perf_counter()
    app = make_app(settings, FixedClock(NOW_MS), run_scheduler=False, mailer=RecordingMailer())
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        out["first paint"] = time.perf_counter() - began

        began = time.perf_counter()
        await pilot.press("2")
        await pilot.pause()
        assert app.screen.query_one("#people").row_count > 0  # type: ignore[attr-defined]
        out["open People"] = time.perf_counter() - began

        began = time.perf_counter()
        await pilot.press("4")
        await pilot.pause()
        table: Any = app.screen.query_one("#campaigns")
        table.move_cursor(row=table.get_row_index("welcome"))
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CampaignScreen)
        out["open a funnel"] = time.perf_counter() - began

        began = time.perf_counter()
        await app.push_screen(PersonScreen(HEAVY))
        await pilot.pause()
        assert isinstance(app.screen, PersonScreen)
        assert app.screen.header is not None, "the person did not open"
        assert app.screen.header.event_count == 1_000, app.screen.header.event_count
        out["open a person (1,000 events)"] = time.perf_counter() - began
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000, help="events in the small database")
    parser.add_argument("--large", type=int, default=1_000_000, help="events in the large one")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nudge-bench-console-") as scratch:
        sizes = {"small": args.small, "large": args.large}
        built: dict[str, Settings] = {}
        for label, events in sizes.items():
            began = time.perf_counter()
            built[label] = build(Path(scratch) / label, events)
            took = time.perf_counter() - began
            print(f"built the {label} database: {events:,} events in {took:.1f} s")
        runs: dict[str, list[dict[str, float]]] = {"small": [], "large": []}
        for _ in range(args.repeat):
            for label in ("small", "large"):
                runs[label].append(asyncio.run(_measure(built[label])))
        print(f"\n{'action':<30} {'small':>10} {'large':>10} {'ratio':>7}  goal <= {GOAL}x")
        for action in runs["small"][0]:
            small = statistics.median(r[action] for r in runs["small"])
            large = statistics.median(r[action] for r in runs["large"])
            ratio = large / small
            verdict = "ok" if ratio <= GOAL else "OVER"
            figures = f"{small * 1000:>8.1f}ms {large * 1000:>8.1f}ms {ratio:>6.2f}x"
            print(f"{action:<30} {figures}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
