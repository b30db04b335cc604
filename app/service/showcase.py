"""A lively, repeatable workspace for the console's snapshots, screenshots and benches.

The committed samples (`load_demo`) hold people and events but no journeys: their events
are far older than the 72 h trigger age when loaded. This adds a few days of synthetic
trial sign-ups replayed on a virtual clock through the live engine, so campaigns have
journeys at every step, the outbox has sent, bounced and queued deliveries, and the
activity log has decisions. Same seed, same clock: the same database every time.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.core.clock import FixedClock
from app.core.times import HOUR_MS, MINUTE_MS, format_instant
from app.delivery.mailer import SendOutcome
from app.delivery.recording import ACCEPTED, RecordingMailer
from app.service.demo import load_demo
from app.service.outbox import Outbox
from app.service.workspace import Workspace, open_workspace
from app.store import Store

#: 2026-10-15T12:00:00Z: the "now" the showcase ends at.
SHOWCASE_NOW_MS = 1_792_065_600_000
#: Sign-ups spread over the 3.5 days before it.
_SPAN_MS = 84 * HOUR_MS
_FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Femi",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kira",
    "Luca",
    "Mina",
    "Noor",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
)


@dataclass(slots=True)
class Showcase:
    """What `seed_showcase` built: the open workspace (on the caller's thread) and the
    clock it ended at."""

    workspace: Workspace
    clock: FixedClock


def _ops(rng: random.Random, people: int) -> list[tuple[int, dict[str, Any]]]:
    """(timestamp ms, Segment-spec operation) for `people` synthetic trial sign-ups."""
    out: list[tuple[int, dict[str, Any]]] = []
    start = SHOWCASE_NOW_MS - _SPAN_MS
    for n in range(people):
        uid = f"trial-{n + 1:03d}"
        at = start + rng.randrange(_SPAN_MS - 2 * HOUR_MS)
        name = _FIRST_NAMES[n % len(_FIRST_NAMES)]
        traits: dict[str, Any] = {
            "email": f"{name.lower()}.{n + 1}@example.net",
            "first_name": name,
            "plan_type": "trial",
            "trial_ends_at": format_instant(at + 14 * 24 * HOUR_MS),
        }
        if n % 7 == 3:
            traits["seats"] = str(rng.randrange(2, 9))  # a string among numbers: drift
        else:
            traits["seats"] = rng.randrange(1, 9)
        out.append((at, _op("identify", uid, at, n, traits=traits)))
        source = rng.choice(("ad", "pricing", "referral"))
        out.append(
            (at + 5_000, _op("track", uid, at + 5_000, n, "signed_up", plan="trial", source=source))
        )
        for k in range(rng.randrange(0, 4)):
            login = at + rng.randrange(10 * MINUTE_MS, 60 * HOUR_MS)
            out.append((login, _op("track", uid, login, n * 10 + k, "app_login")))
        if rng.random() < 0.55:
            made = at + rng.randrange(20 * MINUTE_MS, 48 * HOUR_MS)
            template = rng.choice(("blank", "kanban", "crm"))
            out.append((made, _op("track", uid, made, n, "project_created", template=template)))
        if rng.random() < 0.18:
            paid = at + rng.randrange(2 * HOUR_MS, 70 * HOUR_MS)
            out.append(
                (
                    paid,
                    _op(
                        "track",
                        uid,
                        paid,
                        n,
                        "upgraded",
                        plan="team",
                        amount=rng.choice((19, 49, 49.5)),
                    ),
                )
            )
    return sorted((t, op) for t, op in out if t < SHOWCASE_NOW_MS)


def _op(
    kind: str, uid: str, at: int, n: int, event: str = "", *, traits: Any = None, **props: Any
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "type": kind,
        "userId": uid,
        "timestamp": format_instant(at),
        "messageId": f"showcase-{kind}-{event or 'id'}-{uid}-{n}",
    }
    if kind == "identify":
        op["traits"] = traits
    else:
        op["event"] = event
        op["properties"] = props
    return op


def _bounce_some(call: int, sender: str, recipients: list[str], message: bytes) -> SendOutcome:
    """Every ninth address bounces, every thirteenth is deferred: the outbox has states."""
    address = recipients[0]
    if address.startswith(("kira.", "sven.")):
        return SendOutcome("bounced", 550, "5.1.1 mailbox unavailable")
    if address.startswith("omar."):
        return SendOutcome("retry", 451, "4.7.1 try again later")
    return ACCEPTED


def seed_showcase(settings: Settings, people: int = 48, seed: int = 7) -> Showcase:
    """Fill an empty database with the demo samples plus `people` synthetic trials.

    The samples are loaded first (received at the start of the replay); then the
    trials' operations are applied one by one on a virtual clock set to each one's
    time, with the engine advanced and the outbox sending (to a recording mailer that
    bounces and defers a few addresses) as time passes. Ends at `SHOWCASE_NOW_MS`.

    Args:
        settings: the database (should be new) and the campaigns folder.
        people: how many synthetic trial sign-ups.
        seed: the random seed (same seed, same database).

    Raises:
        ConfigError: when the database cannot be opened or the folder is missing.
    """
    clock = FixedClock(SHOWCASE_NOW_MS - _SPAN_MS - HOUR_MS)
    store = Store.open(settings.database)
    load_demo(store, settings, clock)
    store.close()
    workspace = open_workspace(settings, clock)
    outbox = Outbox(workspace.store, workspace.engine, settings, RecordingMailer(_bounce_some))

    def run_until(t: int) -> None:
        clock.at_ms = t
        workspace.engine.advance(t)
        asyncio.run(outbox.send_due(t))

    last = clock.at_ms
    for at, op in _ops(random.Random(seed), people):
        # The scheduler would have looked in between: every quarter hour of virtual time.
        while last + 15 * MINUTE_MS < at:
            last += 15 * MINUTE_MS
            run_until(last)
        clock.at_ms = at
        workspace.ingestor.apply([op])
    while last + 15 * MINUTE_MS < SHOWCASE_NOW_MS:
        last += 15 * MINUTE_MS
        run_until(last)
    run_until(SHOWCASE_NOW_MS)
    workspace.segments.sweep_moves(SHOWCASE_NOW_MS)
    return Showcase(workspace, clock)
