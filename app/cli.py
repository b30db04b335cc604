"""The `nudge` command. Thin: each command reads settings, calls `app.service`, prints.

Heavy imports live inside the command that needs them, so `nudge --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from app.cli_campaigns import advance, campaigns, check, journeys
from app.cli_console import console, screenshots
from app.cli_delivery import sink
from app.cli_demo import demo
from app.cli_outbox import deliveries, send_test, serve
from app.cli_segments import segments
from app.cli_simulate import simulate
from app.cli_support import (
    NudgeGroup,
    byte_progress,
    echo_summary,
    file_size,
    open_cli_workspace,
    open_read_store,
    parse_when,
    settings_options,
)
from app.config import Settings
from app.core.times import format_instant


@click.group(cls=NudgeGroup, invoke_without_command=True)
@click.version_option(package_name="nudge")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Nudge: behavioural email for small teams.

    Settings come from ./nudge.toml and NUDGE_* environment variables; every
    command also takes --db and --campaigns. Without a command: the console.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(console)


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@settings_options
def ingest(files: tuple[str, ...], as_json: bool, settings: Settings) -> None:
    """Ingest JSONL event logs (Segment or Customer.io v2 lines; .gz; - for stdin).

    Exits 1 when some lines were rejected; they are listed with file:line and reason.
    """
    from app.service.logfiles import IngestSummary, ingest_lines, open_lines

    missing = [p for p in files if p != "-" and not Path(p).is_file()]
    if missing:
        # Checked before anything is applied, so a typo in the last name costs nothing.
        if Path(missing[0]).is_dir():
            raise click.ClickException(
                f"cannot read {missing[0]}: it is a folder (ingest its files, or "
                f"nudge watch {missing[0]} --once)"
            )
        raise click.ClickException(f"cannot read {missing[0]}: no such file")
    ingestor = open_cli_workspace(settings).ingestor
    summary = IngestSummary()
    try:
        for path in files:
            with open_lines(path) as lines, byte_progress(file_size(path), path) as advance:
                ingest_lines(ingestor, lines, path, summary, progress=advance)
    except KeyboardInterrupt:
        # Each batch commits whole, so what landed is exactly the applied count; the
        # batch on the way rolled back. Dedupe keys make a rerun apply only the rest.
        click.echo(
            f"interrupted: {summary.applied:,} operations applied, "
            f"{summary.duplicates:,} duplicates, before the stop (the batch on the way "
            "was rolled back); rerunning skips what landed only for operations that carry "
            "a messageId",
            err=True,
        )
        raise SystemExit(130) from None
    echo_summary(summary, as_json)
    if summary.rejected:
        raise SystemExit(1)


@cli.command()
@click.argument("file")
@click.option("--since", help="Only events at or after this date or time (ISO 8601).")
@click.option("--until", help="Only events before this date or time (ISO 8601).")
@settings_options
def export(file: str, since: str | None, until: str | None, settings: Settings) -> None:
    """Write events as JSONL (Customer.io v2 shape) that `nudge ingest` reads back.

    FILE may be - for stdout; a name ending in .gz is compressed.
    """
    from app.service.logfiles import export_to_path

    count = export_to_path(
        open_read_store(settings), file, parse_when(since, settings), parse_when(until, settings)
    )
    if file != "-":
        click.echo(f"{count:,} events written to {file}")


@cli.group(name="import", cls=NudgeGroup)
def import_() -> None:
    """Import real-world logs (CDNOW purchases, XES process logs)."""


@import_.command(name="cdnow")
@click.argument("file")
@click.option(
    "--timezone",
    "zone_name",
    help="Zone whose midnight each purchase date means (default: the workspace timezone).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@settings_options
def import_cdnow_command(
    file: str, zone_name: str | None, as_json: bool, settings: Settings
) -> None:
    """Import the CDNOW purchase log: one person per customer, one `purchase` per row."""
    from app.service.importers import import_cdnow

    zone = _zone(zone_name) if zone_name else settings.zone
    ingestor = open_cli_workspace(settings).ingestor
    with byte_progress(file_size(file), file) as advance:
        summary = import_cdnow(ingestor, file, zone, advance)
    echo_summary(summary, as_json)
    if summary.rejected:
        raise SystemExit(1)


@import_.command(name="xes")
@click.argument("file")
@click.option(
    "--person",
    "person_key",
    default="ApplicationID",
    show_default=True,
    help="Trace attribute that names the person.",
)
@click.option(
    "--lifecycle",
    "lifecycles",
    multiple=True,
    help="Keep only events with this lifecycle:transition (repeatable; default: all).",
)
@click.option(
    "--person-attributes/--no-person-attributes",
    default=False,
    show_default=True,
    help="Also store each trace's attributes as the person's attributes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@settings_options
def import_xes_command(
    file: str,
    person_key: str,
    lifecycles: tuple[str, ...],
    person_attributes: bool,
    as_json: bool,
    settings: Settings,
) -> None:
    """Import an XES event log (.xes or .xes.gz), streamed: one event per XES event."""
    from app.service.importers import import_xes

    ingestor = open_cli_workspace(settings).ingestor
    with byte_progress(file_size(file), file) as advance:
        summary = import_xes(
            ingestor, file, person_key, frozenset(lifecycles) or None, person_attributes, advance
        )
    echo_summary(summary, as_json)
    if lifecycles and not summary.lines:
        raise click.ClickException(
            f"no event in {file} has lifecycle:transition {' or '.join(lifecycles)}: "
            "nothing imported"
        )
    if summary.rejected:
        raise SystemExit(1)


def _zone(name: str) -> ZoneInfo:
    """An IANA time zone named on the command line.

    Raises:
        click.ClickException: for an unknown name.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.ClickException(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)"
        ) from None


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="Ingest what is there now, then exit.")
@settings_options
def watch(directory: Path, once: bool, settings: Settings) -> None:
    """Ingest JSONL files dropped or appended in DIRECTORY, each line exactly once."""
    from app.service.watch import WatchFolder

    workspace = open_cli_workspace(settings)
    folder = WatchFolder(workspace.ingestor, workspace.store, directory, workspace.clock)
    if once:
        summary = folder.catch_up()
        echo_summary(summary, as_json=False)
        if summary.rejected:
            raise SystemExit(1)
        return
    click.echo(f"watching {directory} (Ctrl-C to stop)")
    try:
        folder.run(on_summary=lambda s: echo_summary(s, as_json=False) if s.lines else None)
    except KeyboardInterrupt:
        click.echo("stopped")


@cli.group(cls=NudgeGroup)
def people() -> None:
    """Look at people."""


@people.command(name="show")
@click.argument("key")
@click.option("--limit", default=20, show_default=True, help="How many latest events to show.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@settings_options
def people_show(key: str, limit: int, as_json: bool, settings: Settings) -> None:
    """Show a person (by id, email or #row) with their latest events, newest first."""
    from app.service.people import person_view

    view = person_view(open_read_store(settings), key, limit)
    if as_json:
        click.echo(json.dumps(view.as_dict(), indent=2))
        return
    p = view.person
    click.echo(f"{p.label}  email={p.email or '-'}  first seen {format_instant(p.created_at)}")
    flags = [f for f, on in (("suppressed", p.suppressed), ("unsubscribed", p.unsubscribed)) if on]
    if flags:
        click.echo("  " + ", ".join(flags))
    click.echo("attributes:")
    for name in sorted(p.attributes):
        click.echo(f"  {name} = {json.dumps(p.attributes[name])}")
    click.echo(f"latest events ({len(view.events)}):")
    for e in view.events:
        props = json.dumps(e.properties, sort_keys=True)
        click.echo(f"  {format_instant(e.timestamp)}  {e.type:<9} {e.name or '-'}  {props}")
    if view.activity:
        click.echo("decisions:")
        for a in view.activity:
            click.echo(f"  {format_instant(a.at)}  {a.kind}  {json.dumps(a.detail)}")


@people.command(name="list")
@click.option("--limit", default=50, show_default=True)
@click.option("--after", "after_id", default=0, help="Row id to page after.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON lines.")
@settings_options
def people_list(limit: int, after_id: int, as_json: bool, settings: Settings) -> None:
    """List people in the order they were first stored."""
    from app.service.people import list_people

    for p in list_people(open_read_store(settings), limit, after_id):
        if as_json:
            click.echo(
                json.dumps(
                    {"row": p.id, "id": p.external_id, "email": p.email, "attributes": p.attributes}
                )
            )
        else:
            click.echo(f"#{p.id:<7} {p.external_id or '-':<20} {p.email or '-'}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as one JSON object.")
@settings_options
def stats(as_json: bool, settings: Settings) -> None:
    """Counts of people and events, events by name, and the last event time."""
    from app.service.people import workspace_stats

    result = workspace_stats(open_read_store(settings))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    last = format_instant(result.last_event_at) if result.last_event_at is not None else "-"
    click.echo(f"people: {result.people:,}")
    click.echo(f"events: {result.events:,}  (last at {last})")
    for kind, count in result.events_by_type.items():
        click.echo(f"  {kind:<12} {count:,}")
    if result.events_by_name:
        click.echo("events by name:")
        for name, count in result.events_by_name.items():
            click.echo(f"  {name:<32} {count:,}")


for _command in (segments, campaigns, journeys, check, advance, serve, deliveries, send_test, sink):
    cli.add_command(_command)
for _command in (console, screenshots):
    cli.add_command(_command)
cli.add_command(simulate)
cli.add_command(demo)


def main() -> None:
    """Entry point of the `nudge` command."""
    cli(prog_name="nudge")
