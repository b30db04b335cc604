"""`nudge demo --headless --hours N`: the demo without the console. The generated live
behaviour is fed hour after virtual hour on a fixed clock, the scheduler ticks (journeys,
sweeps, sending over SMTP to the local sink), and at the end each campaign's funnel is
printed and the sink's Maildir is checked against the sent deliveries."""

from __future__ import annotations

import mailbox
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from app.config import Settings
from app.core.clock import FixedClock
from app.core.times import HOUR_MS, format_instant
from app.delivery.sink import Sink
from app.delivery.smtp import SmtpMailer
from app.service.demo_data import DEMO_PEOPLE
from app.service.demo_run import (
    FEED_STEP_MS,
    LIVE_FROM,
    TICK_EVERY_MS,
    DemoFeeder,
    Echo,
    prepare_demo,
)
from app.service.funnels import Funnel, campaign_funnel
from app.service.outbox import Outbox
from app.service.scheduler import Scheduler
from app.service.workspace import Workspace


@dataclass(slots=True)
class HeadlessResult:
    """What a headless demo run did.

    Attributes:
        start, end: the virtual period run, ms UTC.
        fed: live operations ingested.
        funnels: per campaign id, its funnel at the end.
        deliveries: deliveries by state at the end.
        maildir: messages in the sink's Maildir at the end.
        sent_keys: the delivery keys of the sent deliveries.
        maildir_keys: the delivery keys found in the Maildir's messages (`X-Nudge-Delivery`).
    """

    start: int
    end: int
    fed: int = 0
    funnels: dict[str, Funnel] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    maildir: int = 0
    sent_keys: list[str] = field(default_factory=list)
    maildir_keys: list[str] = field(default_factory=list)

    @property
    def maildir_matches(self) -> bool:
        """The Maildir holds exactly the sent deliveries (same keys, each once)."""
        return sorted(self.sent_keys) == sorted(self.maildir_keys)


def sink_settings(settings: Settings, port: int) -> Settings:
    """`settings` sending to the local sink: no TLS, no login, no rate limit."""
    smtp = settings.smtp.model_copy(
        update={
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "username": None,
            "password": None,
            "rate_per_second": 0,
        }
    )
    return settings.model_copy(update={"smtp": smtp})


async def run_headless(
    settings: Settings,
    hours: float,
    *,
    people: int = DEMO_PEOPLE,
    maildir: Path,
    live_from: int = LIVE_FROM,
    echo: Echo | None = None,
) -> HeadlessResult:
    """Build the demo database, then run `hours` of virtual time against a local sink.

    Args:
        settings: the demo database (rebuilt) and campaigns folder; SMTP is replaced by
            the sink's.
        hours: virtual hours to run from `live_from`.
        people: people to generate.
        maildir: the sink's Maildir (emptied first).
        live_from: where the virtual clock starts, ms UTC.
        echo: progress lines.

    Returns:
        What happened, with each campaign's funnel.
    """
    say = echo or (lambda _line: None)
    _empty_maildir(maildir)
    async with Sink(maildir) as sink:
        settings = sink_settings(settings, sink.port)
        history = prepare_demo(settings, people=people, live_from=live_from, echo=say)
        ws = history.workspace
        clock = ws.clock
        assert isinstance(clock, FixedClock)
        end = live_from + int(hours * HOUR_MS)
        result = HeadlessResult(live_from, end)
        say(f"{history.people:,} people; running {hours:g} h from {format_instant(live_from)}")
        mailer = SmtpMailer(settings.smtp)
        outbox = Outbox(ws.store, ws.engine, settings, mailer)
        scheduler = Scheduler(ws, outbox, clock, holder="nudge-demo")
        feeder = DemoFeeder(ws.ingestor, history.live)
        next_tick = live_from
        now = live_from
        try:
            while now < end:
                now = min(now + FEED_STEP_MS, end)
                clock.at_ms = now
                result.fed += feeder.feed_until(now)
                if now >= next_tick or now == end:
                    report = await scheduler.tick(now)
                    for error in report.errors + report.sending.errors:
                        say(f"tick {format_instant(now)}: {error}")
                    next_tick = now + TICK_EVERY_MS
                if (now - live_from) % (12 * HOUR_MS) == 0:
                    say(f"  {format_instant(now)}: {result.fed:,} operations fed")
        finally:
            scheduler.release()
            await mailer.close()
        _collect(ws, result, maildir)
        ws.store.close()
    return result


def _empty_maildir(maildir: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        folder = maildir / sub
        if folder.is_dir():
            for item in folder.iterdir():
                item.unlink()


def _collect(ws: Workspace, result: HeadlessResult, maildir: Path) -> None:
    states: Counter[str] = Counter()
    for delivery in ws.store.deliveries.all():
        states[delivery.state] += 1
        if delivery.state == "sent":
            result.sent_keys.append(delivery.key)
    result.deliveries = dict(sorted(states.items()))
    box = mailbox.Maildir(maildir, create=False)
    for key in box.iterkeys():
        message = box.get_message(key)
        result.maildir_keys.append(str(message.get("X-Nudge-Delivery", "")))
    result.maildir = len(result.maildir_keys)
    for cid in sorted(ws.engine.versions):
        result.funnels[cid] = campaign_funnel(ws, cid)


def funnel_lines(funnel: Funnel) -> list[str]:
    """A campaign's funnel as text: a heading with journeys, then a line per step and
    path with its count (and, for sends, messages queued)."""
    r = funnel.report.row
    lines = [
        f"{r.id} ({r.state}): {r.entered:,} entered, {r.active:,} active, "
        f"{r.converted:,} converted",
    ]
    for row in funnel.rows:
        indent = "  " * (row.depth + 1)
        if row.kind == "path":
            lines.append(f"{indent}-> {row.label}: {row.count:,}")
            continue
        queued = "" if row.queued is None else f", {row.queued:,} queued"
        waiting = f", {row.waiting:,} waiting" if row.waiting else ""
        lines.append(f"{indent}{row.label}: {row.count:,} reached{waiting}{queued}")
    return lines
