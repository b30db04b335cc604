"""`nudge simulate`: replay recorded events through a campaign before it goes live."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from app.cli_support import parse_when, settings_options
from app.config import Settings


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar over operations replayed, on a terminal only."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("replaying", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@click.command()
@click.argument("campaign", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--events",
    "event_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL log to replay (repeatable; .gz too). Default: the database's events.",
)
@click.option("--from", "from_", help="Replay the database's events from this date or time.")
@click.option("--to", help="...up to (not including) this date or time; the clock runs to it.")
@click.option("--until", help="Run the clock on to this date or time at the end.")
@click.option(
    "--compare",
    "compare_with",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Another version of the campaign to run on the same events.",
)
@click.option(
    "--compare-live",
    is_flag=True,
    help="Compare with the version of this campaign the database runs.",
)
@click.option("--person", help="Show this person's timeline (external id or email).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@settings_options
def simulate(
    campaign: Path,
    event_files: tuple[Path, ...],
    from_: str | None,
    to: str | None,
    until: str | None,
    compare_with: Path | None,
    compare_live: bool,
    person: str | None,
    as_json: bool,
    settings: Settings,
) -> None:
    """Replay events through CAMPAIGN on a virtual clock and report who enters, which
    path each person takes, which emails go out when, and who converts.

    Nothing is written to the database and nothing is sent: the simulation runs the
    production engine over a scratch database with a recording mailer.
    """
    from app.core.errors import NudgeError
    from app.service.simulate import (
        CampaignSource,
        LiveHistory,
        LogFiles,
        SimulationRequest,
        compare,
        render_comparison_text,
        render_report_text,
        report_json,
    )
    from app.service.simulate import simulate as run
    from app.service.simulation_sources import live_version

    if compare_with is not None and compare_live:
        raise click.UsageError("use one of --compare, --compare-live")
    if event_files and (from_ or to):
        raise click.UsageError("--from and --to select the database's events, not --events files")
    from_ms, to_ms = parse_when(from_, settings), parse_when(to, settings)
    until_ms = parse_when(until, settings)
    source: LiveHistory | LogFiles = (
        LogFiles(event_files) if event_files else LiveHistory(settings.database, from_ms, to_ms)
    )
    base = SimulationRequest((CampaignSource(campaign),), source, settings, until_ms, person)
    other_source: CampaignSource | None = None
    if compare_with is not None:
        other_source = CampaignSource(compare_with)
    elif compare_live:
        from app.core.campaigns import Campaign
        from app.core.yamlload import DefinitionErrors, load_yaml_model

        try:
            text = campaign.read_text(encoding="utf-8")
            cid = load_yaml_model(text, str(campaign), Campaign).id
        except OSError as exc:
            raise NudgeError(f"cannot read {campaign}: {exc.strerror or exc}") from None
        except DefinitionErrors as exc:
            raise NudgeError("\n".join(str(e) for e in exc.errors)) from None
        name, live_text = live_version(settings.database, cid)
        other_source = CampaignSource(text=live_text, name=f"live {name}")
    cancel = threading.Event()
    with _progress() as progress:
        try:
            if other_source is None:
                report = run(base, progress=progress, cancel=cancel)
                click.echo(report_json(report) if as_json else render_report_text(report), nl=False)
                return
            # The live version is the base: what changes if the draft replaces it.
            other = SimulationRequest((other_source,), source, settings, until_ms, person)
            first, second = (other, base) if compare_live else (base, other)
            result = compare(first, second, progress=progress, cancel=cancel)
        except KeyboardInterrupt:
            cancel.set()
            raise
    click.echo(report_json(result) if as_json else render_comparison_text(result), nl=False)
