"""`nudge simulate`: replay recorded events through a campaign before it goes live."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.cli_support import parse_when, settings_options
from app.config import Settings

if TYPE_CHECKING:
    from app.service.simulation_report import SimulationReport


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
    help="JSONL log to replay (repeatable; .gz too), in the formats `nudge ingest` reads; "
    "not with --from/--to. Exits 1 when lines are rejected. Default: the database's events.",
)
@click.option(
    "--from",
    "from_",
    help="Replay the database's events from this date or time (2026-10-05, "
    "2026-10-05T12:00, 2026-10-05T12:00Z; without a zone: in the workspace timezone).",
)
@click.option(
    "--to", help="...up to (not including) this date or time, after --from; the clock runs to it."
)
@click.option("--until", help="Run the clock on to this date or time at the end (not before --to).")
@click.option(
    "--compare",
    "compare_with",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Another version of the campaign to run on the same events; the report reads "
    "base (CAMPAIGN) -> other (this file).",
)
@click.option(
    "--compare-live",
    is_flag=True,
    help="Compare with the version of this campaign the database runs; the report reads "
    "base (running version) -> other (CAMPAIGN): what changes if CAMPAIGN replaces it.",
)
@click.option("--person", help="Show this person's timeline (external id or email).")
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=8),
    help="Processes replaying at once (1-8), split by person (same report for any count). "
    "Default: one per core from 20,000 events on; 1 keeps a core free for `nudge serve`.",
)
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
    workers: int | None,
    as_json: bool,
    settings: Settings,
) -> None:
    """Replay events through CAMPAIGN on a virtual clock and report who enters, which
    path each person takes, which emails go out when, and who converts.

    Nothing is written to the database and nothing is sent: the simulation runs the
    production engine over a scratch database with a recording mailer.

    Times without a zone (dates, 2026-10-05T12:00) are read in the workspace time zone
    (`timezone` in nudge.toml, or NUDGE_TIMEZONE). Exits 1, after the report, when
    --events lines were rejected (listed as file:line: reason), and with a one-line
    error when none was valid.
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
    from_ms, to_ms = parse_when(from_, settings, "--from"), parse_when(to, settings, "--to")
    until_ms = parse_when(until, settings, "--until")
    _check_range((from_, to, until), from_ms, to_ms, until_ms)
    source: LiveHistory | LogFiles = (
        LogFiles(event_files) if event_files else LiveHistory(settings.database, from_ms, to_ms)
    )
    base = SimulationRequest(
        (CampaignSource(campaign),), source, settings, until_ms, person, workers
    )
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
        other_source = CampaignSource(text=live_text, name=f"running version ({name})")
    cancel = threading.Event()
    with _progress() as progress:
        try:
            if other_source is None:
                report = run(base, progress=progress, cancel=cancel)
                _check_events(report)
                click.echo(report_json(report) if as_json else render_report_text(report), nl=False)
                _fail_on_rejected(report, bool(event_files))
                return
            # The live version is the base: what changes if the draft replaces it.
            other = SimulationRequest(
                (other_source,), source, settings, until_ms, person, workers
            )
            first, second = (other, base) if compare_live else (base, other)
            result = compare(first, second, progress=progress, cancel=cancel)
        except KeyboardInterrupt:
            cancel.set()
            raise
    _check_events(result.base)
    click.echo(report_json(result) if as_json else render_comparison_text(result), nl=False)
    _fail_on_rejected(result.base, bool(event_files))


def _check_range(
    texts: tuple[str | None, str | None, str | None],
    from_ms: int | None,
    to_ms: int | None,
    until_ms: int | None,
) -> None:
    """Refuse an empty or backwards range: --to after --from, --until not before either.

    Args:
        texts: --from, --to and --until as given, for the message.

    Raises:
        click.ClickException: one line naming the two options and their values.
    """
    from_text, to_text, until_text = texts
    if from_ms is not None and to_ms is not None and to_ms <= from_ms:
        raise click.ClickException(f"--to {to_text} must be after --from {from_text}")
    if until_ms is not None:
        if to_ms is not None and until_ms < to_ms:
            raise click.ClickException(f"--until {until_text} must not be before --to {to_text}")
        if from_ms is not None and until_ms < from_ms:
            raise click.ClickException(
                f"--until {until_text} must not be before --from {from_text}"
            )


def _check_events(report: SimulationReport) -> None:
    """Refuse a replay in which no operation was valid (a file that is not a JSONL log),
    as `nudge ingest` would, naming the first bad lines.

    Raises:
        NudgeError: one line, `no valid operation in N lines (first: file:1: reason; ...)`.
    """
    from app.core.errors import NudgeError

    if report.rejected and report.rejected >= report.operations:
        first = "; ".join(report.problems[:2])
        raise NudgeError(
            f"no valid operation in {report.operations:,} lines; is it a JSONL log that "
            f"`nudge ingest` reads? (first: {first})"
        )


def _fail_on_rejected(report: SimulationReport, from_files: bool) -> None:
    """Exit 1 when some operations of --events files were rejected (after the report,
    which lists them), as `nudge ingest` does: the simulation ran without them."""
    if from_files and report.rejected:
        click.echo(
            f"Error: {report.rejected:,} of {report.operations:,} operations were rejected "
            "(listed in the report); the simulation ran without them",
            err=True,
        )
        raise SystemExit(1)
