"""Delivery benchmark: the outbox (render + build + send) against raw sends of the same bytes.

Run: `.venv/bin/python bench/delivery.py` (or `make bench`); `--messages 1000` for a quick
run, `--profile 25` to see where the real path's time goes. Setup, untimed: a campaign
(`signed_up`: one send step, a subject with the person's first name, a ~3 KB HTML
template and a text template) is written into a temporary campaigns folder; `--messages`
people are identified (email, first name, company, plan, city) and sign up through the
ingest path of a workspace over a fresh file database, so the engine queues one delivery
each. A local SMTP sink stores what it accepts in a Maildir in a temporary folder; by
default it runs as a subprocess (`nudge sink --port 0`), as it would beside `nudge serve`
and on a core of its own; `--sink thread` runs it in this process instead, sharing the
GIL with the sender. The Maildir is in memory (a temporary folder on /dev/shm, when there
is one) unless `--maildir-on disk`: Python's `mailbox.Maildir.add` fsyncs every message
on the sink's event loop, which on a busy virtual disk has capped the sink itself (so
both sides) at 150-200 messages/s, and the sink is not what is measured. The database
is on disk either way. Then, in the same run:

* real: `Outbox.send_due(now, limit=N / rounds, concurrency=4)` with an `SmtpMailer`
  (pool of 4, rate limit 100,000/s): checks, render, build, `sending` written, send,
  settle;
* ceiling: the very bytes the real path just put on the wire (read back from the
  Maildir, untimed) sent again with `SmtpMailer.send` by 4 concurrent workers over a
  second mailer with the same settings, each with its delivery's envelope.

The sides take turns (`--rounds`, default 5: real 1,000, ceiling 1,000, real 1,000, ...)
so that load from elsewhere on the machine lands on both. It prints both rates
(messages/s), the ratio and this process's CPU time per message on each side (the sink
subprocess not included). Goals: the real path at 500 messages/s or more end to end,
and at 30% or more of the ceiling. It checks that every delivery ended `sent` and that
the Maildir holds 2 x N messages. It always exits 0: a slow machine is a figure, not a
failure.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import SmtpSettings, load_settings
from app.core.clock import FixedClock
from app.core.message import sender_and_recipients
from app.core.times import MINUTE_MS, format_instant
from app.delivery.smtp import SmtpMailer
from app.service.outbox import Outbox
from app.service.workspace import Workspace, open_workspace

BATCH = 5_000
RATE_GOAL = 500.0
RATIO_GOAL = 0.30
#: SMTP connections (the pool) and messages on the wire at once, on both sides.
CONNECTIONS = 4
#: Well above what the sink can take: the limiter is on the path but never the limit.
RATE_PER_SECOND = 100_000
#: 2026-09-01T00:00:00Z: the sign-ups; the sends happen a minute after the last.
START_MS = 1_788_220_800_000

CAMPAIGN = """\
id: newsletter
name: Product newsletter
state: active
trigger:
  event: signed_up
entry_filter: {attribute: email, exists: true}
exit: exit_on_conversion
goal: {performed: upgraded, within: 14d}
steps:
  - id: issue
    send:
      template: newsletter_issue
      subject: "{{ person.first_name | default('Hello') }}, what's new at {{ person.company | default('your team') }}"
"""  # noqa: E501

# A realistic marketing email: inline styles, a header, three stories, a call to action,
# a footer with the unsubscribe link; about 3 KB once rendered.
HTML = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>What's new</title></head>
<body style="margin: 0; padding: 0; background: #f4f5f7;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background: #f4f5f7;">
<tr><td align="center" style="padding: 24px 12px;">
<table role="presentation" width="560" cellpadding="0" cellspacing="0" style="background: #ffffff; border-radius: 8px; font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; color: #1f2933; line-height: 1.5;">
  <tr><td style="padding: 28px 32px 8px;">
    <p style="font-size: 13px; color: #7b8794; margin: 0;">{{ campaign.name }} &middot; September</p>
    <h1 style="font-size: 22px; margin: 8px 0 0;">Hi {{ person.first_name | default('there') }}, here is what changed this month</h1>
  </td></tr>
  <tr><td style="padding: 8px 32px;">
    <p>Thanks for trying us out{% if person.company is defined %} at {{ person.company }}{% endif %}.
       You are on the <strong>{{ person.plan | default('trial') }}</strong> plan{% if person.city is defined %},
       and we picked the stories below for teams in {{ person.city }}{% endif %}.</p>
    <h2 style="font-size: 17px; margin: 20px 0 4px;">Dashboards that share themselves</h2>
    <p style="margin: 0 0 12px;">Schedule any dashboard to land in your team's inbox every Monday morning,
       with the numbers that moved highlighted. No more screenshots pasted into chat threads.</p>
    <h2 style="font-size: 17px; margin: 20px 0 4px;">Alerts with context</h2>
    <p style="margin: 0 0 12px;">An alert now says why it fired: the three events that tipped the metric
       over its threshold, with links straight to the people behind them.</p>
    <h2 style="font-size: 17px; margin: 20px 0 4px;">Faster exports</h2>
    <p style="margin: 0 0 12px;">Exports of up to a million rows now finish in seconds, and large ones
       arrive as a compressed file by email when they are ready.</p>
  </td></tr>
  <tr><td align="center" style="padding: 16px 32px 28px;">
    <a href="https://app.example.com/whats-new?utm_source=newsletter&amp;utm_campaign={{ campaign.id }}&amp;uid={{ person.id }}"
       style="display: inline-block; background: #2563eb; color: #ffffff; padding: 12px 22px; border-radius: 6px; text-decoration: none; font-weight: 600;">See everything that is new</a>
  </td></tr>
  <tr><td style="padding: 0 32px 24px;">
    <p style="margin: 0;">Questions? Reply to this email: a real person reads every answer.</p>
    <p style="margin: 12px 0 0;">Cheers,<br>The team</p>
  </td></tr>
</table>
<p style="font-family: Helvetica, Arial, sans-serif; font-size: 12px; color: #7b8794; max-width: 560px; margin: 16px auto 0;">
  You get this email because {{ person.email }} signed up for a trial of Example.
  <a href="{{ unsubscribe_url }}" style="color: #7b8794;">Unsubscribe</a> with one click.
  Example Inc., 1 Example Street, Springfield.
</p>
</td></tr>
</table>
</body>
</html>
"""  # noqa: E501

TEXT = """\
Hi {{ person.first_name | default('there') }}, here is what changed this month.

Thanks for trying us out{% if person.company is defined %} at {{ person.company }}{% endif %}.
You are on the {{ person.plan | default('trial') }} plan.

* Dashboards that share themselves: schedule any dashboard to land in your team's
  inbox every Monday morning, with the numbers that moved highlighted.
* Alerts with context: an alert now says why it fired, with links to the people
  behind the events.
* Faster exports: up to a million rows in seconds.

See everything that is new:
https://app.example.com/whats-new?utm_source=newsletter&utm_campaign={{ campaign.id }}

Questions? Reply to this email: a real person reads every answer.

Cheers,
The team

--
You get this email because {{ person.email }} signed up for a trial of Example.
Unsubscribe: {{ unsubscribe_url }}
"""

FIRST = ["Ana", "Bo", "Chloé", "Dmitri", "Eve", "Farah", "Grégoire", "Hana", "Ibrahim", "Jo"]
LAST = ["Silva", "Nguyen", "Müller", "Okafor", "Smith", "Kowalski", "Rossi", "Tanaka"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark & Wayne", "Vandelay"]
PLANS = ["trial", "starter", "pro"]
CITIES = ["Lisbon", "Berlin", "Montréal", "Lagos", "Osaka", "Austin"]


def generate(people: int, seed: int) -> list[dict[str, Any]]:
    """An identify then a `signed_up` per person, seeded, in time order."""
    rng = random.Random(seed)
    ops: list[dict[str, Any]] = []
    for u in range(people):
        ts = format_instant(START_MS + u * 100)
        user = f"user-{u:06d}"
        traits: dict[str, Any] = {
            "email": f"{user}@example.com",
            "last_name": rng.choice(LAST),
            "plan": rng.choice(PLANS),
        }
        # Some people lack a first name or a company: the templates' defaults show.
        if rng.random() < 0.9:
            traits["first_name"] = rng.choice(FIRST)
        if rng.random() < 0.8:
            traits["company"] = rng.choice(COMPANIES)
        if rng.random() < 0.5:
            traits["city"] = rng.choice(CITIES)
        bits = f"{rng.getrandbits(128):032x}"
        ops.append(
            {"type": "identify", "userId": user, "traits": traits, "timestamp": ts,
             "messageId": f"i-{bits}"}
        )  # fmt: skip
        ops.append(
            {"type": "track", "userId": user, "event": "signed_up", "timestamp": ts,
             "properties": {"plan": "trial"}, "messageId": f"t-{bits}"}
        )  # fmt: skip
    return ops


def open_bench_workspace(tmp: Path, people: int, seed: int, port: int) -> tuple[Workspace, int]:
    """A workspace whose outbox holds `people` queued deliveries; returns it and `now`."""
    folder = tmp / "campaigns"
    (folder / "templates").mkdir(parents=True)
    (folder / "newsletter.yaml").write_text(CAMPAIGN, encoding="utf-8")
    (folder / "templates" / "newsletter_issue.html.j2").write_text(HTML, encoding="utf-8")
    (folder / "templates" / "newsletter_issue.txt.j2").write_text(TEXT, encoding="utf-8")
    settings = load_settings(
        database=tmp / "bench.db",
        campaigns=folder,
        timezone="UTC",
        public_url="https://nudge.example.com",
        unsubscribe_mailto="unsubscribe@example.com",
        secret_key="bench-secret",
        smtp=SmtpSettings(
            port=port,
            pool_size=CONNECTIONS,
            rate_per_second=RATE_PER_SECOND,
            from_address="Example <news@example.com>",
        ),
    )
    now = START_MS + people * 100 + MINUTE_MS
    ws = open_workspace(settings, clock=FixedClock(now))
    if ws.errors:
        raise SystemExit(f"the campaign did not load: {ws.errors}")
    ops = generate(people, seed)
    for start in range(0, len(ops), BATCH):
        report = ws.ingestor.apply(ops[start : start + BATCH])
        if report.rejected or report.skipped:
            raise SystemExit(f"ingest refused operations: {(report.rejected + report.skipped)[:3]}")
    queued = ws.store.db.conn.execute(
        "SELECT count(*) FROM deliveries WHERE state = 'queued' AND next_attempt_at <= ?", (now,)
    ).fetchone()[0]
    if queued != people:
        raise SystemExit(f"expected {people:,} queued deliveries, found {queued:,}")
    return ws, now


# -- the sink -------------------------------------------------------------------------------


@contextmanager
def sink_process(maildir: Path) -> Iterator[tuple[int, int | None]]:
    """`nudge sink --port 0` as a subprocess; yields its port and process id, stops it
    with Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "sink", "--port", "0",
         "--maildir", str(maildir)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"listening on [^:\s]+:(\d+)", line)
        if found is None:
            raise SystemExit(f"the sink did not start: {line.strip() or 'no output'}")
        yield int(found.group(1)), proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def sink_thread(maildir: Path) -> Iterator[tuple[int, int | None]]:
    """A `Sink` on an event loop in a thread of this process; yields its port (no
    process id: its CPU time is this process's)."""
    from app.delivery.sink import Sink

    with Sink(maildir) as sink:
        yield sink.port, None


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) a process has used so far; 0 where /proc cannot say."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def maildir_messages(maildir: Path) -> list[Path]:
    return [p for sub in ("new", "cur") for p in (maildir / sub).iterdir()]


# -- the two sides --------------------------------------------------------------------------


@dataclass(slots=True)
class Timings:
    """Seconds each side spent sending (wall clock, and this process's CPU), summed over
    the rounds, and the sizes of what went out."""

    real: float = 0.0
    ceiling: float = 0.0
    real_cpu: float = 0.0
    ceiling_cpu: float = 0.0
    real_sink_cpu: float = 0.0
    ceiling_sink_cpu: float = 0.0
    sizes: list[int] = field(default_factory=list)


async def run_rounds(
    ws: Workspace,
    now: int,
    n: int,
    rounds: int,
    maildir: Path,
    sink_pid: int | None,
    profile: cProfile.Profile | None,
) -> Timings:
    """Alternate the two sides, `rounds` times over n / rounds deliveries each, so a load
    spike from elsewhere on the machine lands on both rather than on one."""
    settings = ws.settings.smtp
    real_mailer = SmtpMailer(settings, local_hostname="bench.example.com")
    ceiling_mailer = SmtpMailer(settings, local_hostname="bench.example.com")
    outbox = Outbox(ws.store, ws.engine, ws.settings, real_mailer)
    out = Timings()
    seen: set[str] = set()
    left = n
    for r in range(rounds):
        chunk = left // (rounds - r)
        left -= chunk
        gc.collect()
        if profile is not None:
            profile.enable()
        sink_cpu = cpu_seconds(sink_pid)
        began, cpu = time.perf_counter(), time.process_time()
        report = await outbox.send_due(now, limit=chunk, concurrency=settings.pool_size)
        out.real += time.perf_counter() - began
        out.real_cpu += time.process_time() - cpu
        out.real_sink_cpu += cpu_seconds(sink_pid) - sink_cpu
        if profile is not None:
            profile.disable()
        if report.sent != chunk or report.errors:
            raise SystemExit(f"the real path did not send all {chunk:,}: {report}")
        messages = wire_messages(ws, maildir, seen)
        if len(messages) != chunk:
            raise SystemExit(f"the sink stored {len(messages):,} messages, not {chunk:,}")
        out.sizes += [len(m) for m, _, _ in messages]
        gc.collect()
        sink_cpu = cpu_seconds(sink_pid)
        began, cpu = time.perf_counter(), time.process_time()
        await send_raw(ceiling_mailer, messages, settings.pool_size)
        out.ceiling += time.perf_counter() - began
        out.ceiling_cpu += time.process_time() - cpu
        out.ceiling_sink_cpu += cpu_seconds(sink_pid) - sink_cpu
        seen.update(p.name for p in maildir_messages(maildir))  # the ceiling's copies
    await real_mailer.close()
    await ceiling_mailer.close()
    return out


def wire_messages(
    ws: Workspace, maildir: Path, seen: set[str]
) -> list[tuple[bytes, str, list[str]]]:
    """The messages stored since the last call (as received: the exact bytes the real path
    put on the wire), in delivery order, each with its delivery's envelope."""
    by_id: dict[str, bytes] = {}
    for path in maildir_messages(maildir):
        if path.name in seen:
            continue
        seen.add(path.name)
        data = path.read_bytes()
        found = re.search(rb"^Message-ID: (<[^>]+>)", data, re.M | re.I)
        if found is None:
            raise SystemExit(f"no Message-ID in {path.name}")
        by_id[found.group(1).decode()] = data
    out = []
    rows = ws.store.db.conn.execute(
        "SELECT message_id, from_address, to_address FROM deliveries "
        "WHERE state = 'sent' ORDER BY id"
    )
    for message_id, from_address, to_address in rows:
        if message_id in by_id:
            sender, recipients = sender_and_recipients(from_address, to_address)
            out.append((by_id[message_id], sender, recipients))
    return out


async def send_raw(
    mailer: SmtpMailer, messages: list[tuple[bytes, str, list[str]]], workers: int
) -> None:
    """The ceiling: prebuilt bytes through `SmtpMailer.send`, `workers` at once."""
    items = iter(messages)
    failed: list[str] = []

    async def worker() -> None:
        for message, sender, recipients in items:
            outcome = await mailer.send(message, sender, recipients)
            if outcome.status != "sent":
                failed.append(outcome.response)

    await asyncio.gather(*(worker() for _ in range(workers)))
    if failed:
        raise SystemExit(f"the ceiling did not send everything: {failed[:3]}")


def load() -> str:
    """The 1-minute load average, as text (empty where the system cannot say)."""
    try:
        return f"load average {os.getloadavg()[0]:.1f}"
    except OSError:
        return "load average unknown"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW GOAL"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures. Always returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=5_000, help="deliveries to send")
    parser.add_argument(
        "--sink", choices=["process", "thread"], default="process", help="where the sink runs"
    )
    parser.add_argument(
        "--maildir-on", choices=["memory", "disk"], default="memory",
        help="the sink's Maildir: tmpfs (/dev/shm) or the temporary folder on disk",
    )  # fmt: skip
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N",
        help="profile the real path (cProfile) and print its top N functions",
    )  # fmt: skip
    parser.add_argument(
        "--rounds", type=int, default=5, help="turns each side takes (n / rounds messages each)"
    )
    parser.add_argument("--seed", type=int, default=11, help="random seed")
    args = parser.parse_args(argv)
    n = args.messages

    shm = Path("/dev/shm")
    in_memory = args.maildir_on == "memory" and shm.is_dir() and os.access(shm, os.W_OK)
    with (
        tempfile.TemporaryDirectory(prefix="nudge-bench-") as name,
        tempfile.TemporaryDirectory(
            prefix="nudge-bench-maildir-", dir=shm if in_memory else None
        ) as mail,
    ):
        tmp = Path(name)
        maildir = Path(mail) / "maildir"
        sink = sink_process if args.sink == "process" else sink_thread
        with sink(maildir) as (port, sink_pid):
            began = time.perf_counter()
            ws, now = open_bench_workspace(tmp, n, args.seed, port)
            print(
                f"queued {n:,} deliveries (ingest + engine) in {time.perf_counter() - began:.1f} s;"
                f" sink: {args.sink} on 127.0.0.1:{port}, Maildir "
                f"{'in memory' if in_memory else 'on disk'}; {load()}"
            )
            gc.collect()
            gc.freeze()
            profile = cProfile.Profile() if args.profile else None
            rounds = max(1, min(args.rounds, n))
            timings = asyncio.run(run_rounds(ws, now, n, rounds, maildir, sink_pid, profile))
            # The sink answers 250 only once a message is stored: nothing is on its way.
            stored = len(maildir_messages(maildir))
            ws.store.close()
            after = load()

    real_s, ceiling_s, sizes = timings.real, timings.ceiling, timings.sizes
    real_rate, ceiling_rate = n / real_s, n / ceiling_s
    ratio = real_rate / ceiling_rate
    print(
        f"messages: {sum(sizes) / len(sizes):,.0f} bytes on average "
        f"({min(sizes):,}-{max(sizes):,}), {CONNECTIONS} connections, "
        f"rate limit {RATE_PER_SECOND:,}/s, "
        f"{rounds} rounds of each side in turn"
    )
    t = timings
    for label, rate, seconds, cpu, sink_cpu in (
        ("real path  Outbox.send_due", real_rate, real_s, t.real_cpu, t.real_sink_cpu),
        ("ceiling    SmtpMailer.send (raw bytes)", ceiling_rate, ceiling_s, t.ceiling_cpu,
         t.ceiling_sink_cpu),
    ):  # fmt: skip
        sink_part = f", sink {sink_cpu / n * 1000:.2f}" if sink_pid is not None else ""
        print(
            f"{label:<40}{rate:>8,.0f} messages/s {seconds:7.2f} s"
            f"   CPU ms/message: sender {cpu / n * 1000:.2f}{sink_part}"
        )
    print(f"end to end {real_rate:,.0f} messages/s (goal {RATE_GOAL:,.0f})   "
          f"{verdict(real_rate >= RATE_GOAL)}")  # fmt: skip
    print(f"ratio      {ratio:.0%} of the ceiling (goal {RATIO_GOAL:.0%})   "
          f"{verdict(ratio >= RATIO_GOAL)}")  # fmt: skip
    print(f"machine: {os.cpu_count()} CPUs, {after} at the end (other work slows both sides)")
    if stored != 2 * n:
        print(f"WARNING: the Maildir holds {stored:,} messages, not {2 * n:,}")
    else:
        print(f"Maildir: {stored:,} messages (2 x {n:,}), as expected")
    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
