"""A deterministic demo workspace for `nudge screenshots`: the demo generator's people
and behaviour (the data the shipped campaigns are written for), replayed on a fixed
clock through the real engine, scheduler and outbox, sending to a recording mailer.

`prepare_demo` loads the history (30 days, no journeys); then a few live days are fed
five virtual minutes at a time with a scheduler tick every quarter hour, as
`nudge demo --headless` does, but with nothing leaving the process. Same seed, same
people and days: the same database every time (Message-IDs aside).
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.core.clock import FixedClock
from app.core.times import DAY_MS
from app.delivery.mailer import SendOutcome
from app.delivery.recording import ACCEPTED, RecordingMailer, Script
from app.service.demo_data import DEMO_SEED, generate
from app.service.demo_run import FEED_STEP_MS, LIVE_FROM, TICK_EVERY_MS, DemoFeeder, prepare_demo
from app.service.outbox import Outbox
from app.service.scheduler import Scheduler
from app.service.workspace import Workspace

#: People generated (a prefix of the demo's 5,000) and live days replayed: enough for
#: every shipped campaign to have journeys at each step, a few seconds to build.
SEED_PEOPLE = 600
SEED_DAYS = 5


@dataclass(slots=True)
class DemoSeed:
    """What `seed_demo` built.

    Attributes:
        workspace: open on the caller's thread, its clock at `now`.
        now: where the replay ended, ms UTC (the console's fixed "now").
        fed: live operations ingested after the history.
        sent: messages the recording mailer was handed (bounced and deferred included).
    """

    workspace: Workspace
    now: int
    fed: int
    sent: int


def _bounce_some() -> Script:
    """A mailer script: about one address in 25 bounces, and one in 30 is deferred once
    (then accepted). The choice is a hash of the address, so the same people every run:
    the outbox and the decisions show every state."""
    deferred: set[str] = set()

    def answer(call: int, sender: str, recipients: list[str], message: bytes) -> SendOutcome:
        address = recipients[0].lower()
        code = zlib.crc32(address.encode())
        if code % 25 == 0:
            return SendOutcome("bounced", 550, "5.1.1 mailbox unavailable")
        if code % 30 == 1 and address not in deferred:
            deferred.add(address)
            return SendOutcome("retry", 451, "4.7.1 try again later")
        return ACCEPTED

    return answer


def _drift_prices(operations: list[dict[str, Any]]) -> None:
    """Every fifth live `added_to_cart` sends its price as a string ("49.00"), as a
    client release that formats numbers would: the event catalogue then shows drift,
    which the generator (clean by design) never produces."""
    carts = (
        op
        for op in operations
        if op.get("event") == "added_to_cart" and op["timestamp"] >= LIVE_FROM
    )
    for n, op in enumerate(carts):
        price = op.get("properties", {}).get("price")
        if n % 5 == 2 and isinstance(price, int | float):
            op["properties"] = {**op["properties"], "price": f"{price:.2f}"}


def demo_seed_now(days: int = SEED_DAYS) -> int:
    """Where `seed_demo(days=days)` ends: `days` after the demo's `LIVE_FROM`, ms UTC."""
    return LIVE_FROM + days * DAY_MS


def seed_demo(
    settings: Settings, people: int = SEED_PEOPLE, days: int = SEED_DAYS, seed: int = DEMO_SEED
) -> DemoSeed:
    """Build a fresh database from the demo generator and run `days` of it live.

    Args:
        settings: `database` is deleted and rebuilt; `campaigns` is the folder to run.
        people: people to generate (the first `people` of the demo).
        days: live days replayed after the 30 days of history.
        seed: the generator's seed.

    Raises:
        ConfigError: when the database cannot be opened or the campaigns folder is missing.
    """
    data = generate(people=people, seed=seed)
    _drift_prices(data.operations)
    history = prepare_demo(settings, data=data)
    ws = history.workspace
    clock = ws.clock
    assert isinstance(clock, FixedClock)
    mailer = RecordingMailer(_bounce_some())
    scheduler = Scheduler(ws, Outbox(ws.store, ws.engine, settings, mailer), clock, holder="seed")
    feeder = DemoFeeder(ws.ingestor, history.live)
    end = demo_seed_now(days)
    now = next_tick = history.live_from

    async def run() -> None:
        nonlocal now, next_tick
        while now < end:
            now = min(now + FEED_STEP_MS, end)
            clock.at_ms = now
            feeder.feed_until(now)
            if now >= next_tick or now == end:
                await scheduler.tick(now)
                next_tick = now + TICK_EVERY_MS

    try:
        asyncio.run(run())
    finally:
        scheduler.release()
    return DemoSeed(ws, end, feeder.position, len(mailer.records))
