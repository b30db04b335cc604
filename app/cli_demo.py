"""`nudge demo` (what `make demo` runs): the shipped campaigns on generated behaviour.

Interactive: a fresh `data/demo.db` with 30 days of history, the local SMTP sink on a
free port (Maildir under `data/demo/`), the console on an accelerated clock (one demo
hour per real second; `+` / `-` change it) while a feeder thread ingests the next 30
days as the clock passes them. Quitting the console stops the feeder and the sink.

`--headless --hours N` runs the same without the console and prints each campaign's
funnel.

One run per database and Maildir: a second run on files another holds is refused
(`app.service.demo_lock`).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import click

from app.config import Settings
from app.core.errors import NudgeError


@click.command()
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/demo.db"),
    show_default=True,
    help="Demo database (rebuilt on every run).",
)
@click.option(
    "--campaigns",
    "campaigns_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Campaigns folder (default: settings, campaigns/).",
)
@click.option(
    "--maildir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/demo/maildir"),
    show_default=True,
    help="Where the local SMTP sink stores what the demo sends.",
)
@click.option("--headless", is_flag=True, help="Run without the console; print funnels.")
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True, max=30 * 24),
    default=72.0,
    show_default=True,
    help="Headless: demo hours to run.",
)
@click.option(
    "--people",
    type=click.IntRange(min=1, max=50_000),
    default=5000,
    show_default=True,
    help="People to generate.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=1, max=86_400),
    default=3600.0,
    show_default=True,
    help="Console: demo seconds per real second (3600: an hour a second).",
)
def demo(
    db_path: Path,
    campaigns_dir: Path | None,
    maildir: Path,
    headless: bool,
    hours: float,
    people: int,
    rate: float,
) -> None:
    """Run the shipped campaigns on generated behaviour: the console on an accelerated
    clock, or with --headless, N demo hours and each campaign's funnel."""
    from app.config import load_settings
    from app.service.demo_lock import demo_files

    settings = load_settings(database=db_path, campaigns=campaigns_dir)
    # A second demo on the same files would delete them under the first: refuse.
    with demo_files(settings.database, maildir):
        if headless:
            _headless(settings, hours, people, maildir)
        else:
            _interactive(settings, people, maildir, rate)


def _headless(settings: Settings, hours: float, people: int, maildir: Path) -> None:
    from app.service.demo_headless import funnel_lines, run_headless

    result = asyncio.run(
        run_headless(settings, hours, people=people, maildir=maildir, echo=click.echo)
    )
    click.echo("")
    for funnel in result.funnels.values():
        for line in funnel_lines(funnel):
            click.echo(line)
        click.echo("")
    states = ", ".join(f"{count:,} {state}" for state, count in result.deliveries.items())
    click.echo(f"deliveries: {states or 'none'}")
    same = "the same messages" if result.maildir_matches else "NOT the same messages"
    click.echo(
        f"maildir {maildir}: {result.maildir:,} messages, {same} as the "
        f"{len(result.sent_keys):,} sent deliveries"
    )
    if not result.maildir_matches:
        raise NudgeError("the sink's Maildir does not hold exactly the sent deliveries")


def _interactive(settings: Settings, people: int, maildir: Path, rate: float) -> None:
    from app.core.clock import AcceleratedClock
    from app.delivery.sink import Sink
    from app.service.demo_headless import sink_settings
    from app.service.demo_run import prepare_demo, start_feeder

    try:
        from app.ui.app import make_app
    except ImportError:
        raise NudgeError(
            "the console is not available in this checkout; try nudge demo --headless"
        ) from None
    click.echo("building the demo database...")
    with Sink(maildir) as sink:
        settings = sink_settings(settings, sink.port)
        settings = settings.model_copy(update={"scheduler_interval_seconds": 0.25})
        history = prepare_demo(settings, people=people, echo=click.echo)
        history.workspace.store.close()
        clock = AcceleratedClock(history.live_from, rate=rate)
        thread, stop, finished = start_feeder(settings, clock, history.live)
        try:
            make_app(settings, clock, notes=lambda: _feed_note(finished)).run()
        finally:
            stop.set()
            thread.join()
    click.echo(f"demo stopped; the messages it sent are in {maildir}")


def _feed_note(finished: threading.Event) -> str:
    """The console's top bar note: the generated behaviour runs out after 30 demo days
    (about 12 real minutes at x3600); from then on nothing new comes in."""
    return "demo feed finished" if finished.is_set() else ""
