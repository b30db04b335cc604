"""`seed_demo`, the workspace `nudge screenshots` shows: the demo generator's people and
behaviour, replayed live for a few days on a fixed clock. Expected values come from the
generator's own output and the rules stated beside each assertion."""

from __future__ import annotations

import shutil
from pathlib import Path

from app.config import load_settings
from app.core.times import DAY_MS
from app.service.demo_data import generate
from app.service.demo_run import LIVE_FROM
from app.service.demo_seed import demo_seed_now, seed_demo

CAMPAIGNS = Path(__file__).resolve().parents[2] / "campaigns"


def test_seed_demo_replays_the_generated_days_and_drifts_some_prices(tmp_path: Path) -> None:
    shutil.copytree(CAMPAIGNS, tmp_path / "campaigns")
    settings = load_settings(database=tmp_path / "n.db", campaigns=tmp_path / "campaigns")
    seeded = seed_demo(settings, people=120, days=1)
    store = seeded.workspace.store
    try:
        end = LIVE_FROM + DAY_MS
        assert seeded.now == demo_seed_now(1) == end
        # Fed: exactly the generated operations from LIVE_FROM up to and including `end`.
        ops = generate(people=120).operations
        live = [op for op in ops if LIVE_FROM <= op["timestamp"] <= end]
        assert seeded.fed == len(live)
        # Every fifth live cart (the third, eighth, ...) carries its price as a string.
        carts = [op for op in ops if op.get("event") == "added_to_cart"]
        live_carts = [op for op in carts if LIVE_FROM <= op["timestamp"] <= end]
        stored = [
            e.properties["price"]
            for e in store.live.events_page(100_000, name="added_to_cart")
            if e.timestamp >= LIVE_FROM
        ]
        strings = [p for p in stored if isinstance(p, str)]
        assert len(stored) == len(live_carts)
        assert len(strings) == len([n for n in range(len(live_carts)) if n % 5 == 2])
        # The scheduler sent through the recording mailer: one call per delivery attempt.
        assert seeded.sent >= len([d for d in store.deliveries.all() if d.state == "sent"]) > 0
    finally:
        store.close()
