"""The `nudge` command. Thin: each command reads settings, calls `app.service`, prints.

Heavy imports live inside the command that needs them, so `nudge --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.cli_support import (
    NudgeGroup,
    byte_progress,
    echo_summary,
    file_size,
    parse_when,
    settings_options,
)
from app.config import Settings
from app.core.times import format_instant
from app.store import Store

if TYPE_CHECKING:
    from app.service.reports import JourneyView, StepNode
    from app.service.workspace import Workspace


def _open(settings: Settings) -> Store:
    return Store.open(settings.database)


def _workspace(settings: Settings) -> Workspace:
    """Open the workspace; definitions that did not load are listed on stderr."""
    from app.service.workspace import open_workspace

    workspace = open_workspace(settings)
    for error in workspace.errors:
        click.echo(f"warning: {error}", err=True)
    return workspace


@click.group(cls=NudgeGroup)
@click.version_option(package_name="nudge")
def cli() -> None:
    """Nudge: behavioural email for small teams.

    Settings come from ./nudge.toml and NUDGE_* environment variables; every
    command also takes --db and --campaigns.
    """


@cli.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@settings_options
def ingest(files: tuple[str, ...], as_json: bool, settings: Settings) -> None:
    """Ingest JSONL event logs (Segment or Customer.io v2 lines; .gz; - for stdin).

    Exits 1 when some lines were rejected; they are listed with file:line and reason.
    """
    from app.service.logfiles import IngestSummary, ingest_lines, open_lines

    ingestor = _workspace(settings).ingestor
    summary = IngestSummary()
    for path in files:
        with open_lines(path) as lines, byte_progress(file_size(path), path) as advance:
            ingest_lines(ingestor, lines, path, summary, progress=advance)
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
        _open(settings), file, parse_when(since, settings), parse_when(until, settings)
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
    from app.config import load_settings
    from app.service.importers import import_cdnow

    zone = load_settings(timezone=zone_name).zone if zone_name else settings.zone
    ingestor = _workspace(settings).ingestor
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

    ingestor = _workspace(settings).ingestor
    with byte_progress(file_size(file), file) as advance:
        summary = import_xes(
            ingestor, file, person_key, frozenset(lifecycles) or None, person_attributes, advance
        )
    echo_summary(summary, as_json)
    if summary.rejected:
        raise SystemExit(1)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--once", is_flag=True, help="Ingest what is there now, then exit.")
@settings_options
def watch(directory: Path, once: bool, settings: Settings) -> None:
    """Ingest JSONL files dropped or appended in DIRECTORY, each line exactly once."""
    from app.service.watch import WatchFolder

    workspace = _workspace(settings)
    folder = WatchFolder(workspace.ingestor, workspace.store, directory, workspace.clock)
    if once:
        echo_summary(folder.catch_up(), as_json=False)
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

    view = person_view(_open(settings), key, limit)
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

    for p in list_people(_open(settings), limit, after_id):
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

    result = workspace_stats(_open(settings))
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


@cli.command()
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/demo.db"),
    show_default=True,
    help="Demo database.",
)
@click.option("--campaigns", "campaigns_dir", type=click.Path(path_type=Path), default=None)
def demo(db_path: Path, campaigns_dir: Path | None) -> None:
    """Load the demo data (the committed samples) and summarise it.

    Until the console exists this is what `make demo` shows.
    """
    from app.config import load_settings
    from app.service.demo import load_demo
    from app.service.people import workspace_stats

    settings = load_settings(database=db_path, campaigns=campaigns_dir)
    store = _open(settings)
    for source, summary in load_demo(store, settings):
        click.echo(f"{source}: ", nl=False)
        echo_summary(summary, as_json=False, limit=5)
    result = workspace_stats(store)
    click.echo(f"\n{settings.database}: {result.people:,} people, {result.events:,} events")
    for name, count in list(result.events_by_name.items())[:12]:
        click.echo(f"  {name:<32} {count:,}")
    click.echo("\nTry: .venv/bin/nudge stats --db data/demo.db")
    click.echo("     .venv/bin/nudge people show 00001 --db data/demo.db")


@cli.group(cls=NudgeGroup)
def segments() -> None:
    """Segments: who is in, who moved, and why."""


@segments.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@settings_options
def segments_list(as_json: bool, settings: Settings) -> None:
    """Every segment with its members and the moves of the last 24 h."""
    workspace = _workspace(settings)
    rows = workspace.segments.summaries(workspace.clock.now_ms())
    if as_json:
        click.echo(json.dumps([vars_of(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo(f"no segments in {settings.campaigns / 'segments'}")
        return
    click.echo(f"{'segment':<28} {'members':>9} {'+24h':>7} {'-24h':>7}  name")
    for r in rows:
        click.echo(f"{r.id:<28} {r.members:>9,} {r.entered_24h:>7,} {r.exited_24h:>7,}  {r.name}")


@segments.command(name="show")
@click.argument("segment_id")
@click.option(
    "--at",
    "at_text",
    help="Evaluate afresh at this time (ISO 8601) instead of "
    "showing the stored membership; changes nothing.",
)
@click.option("--members", "show_members", is_flag=True, help="List members too.")
@click.option("--limit", default=50, show_default=True, help="How many members to list.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@settings_options
def segments_show(
    segment_id: str,
    at_text: str | None,
    show_members: bool,
    limit: int,
    as_json: bool,
    settings: Settings,
) -> None:
    """A segment's definition and member count (stored, or evaluated --at a time)."""
    workspace = _workspace(settings)
    keeper, store = workspace.segments, workspace.store
    segment = keeper.segment(segment_id)
    at = parse_when(at_text, settings)
    if at is None:
        count = store.segments.member_count(segment_id)
        ids = [pid for pid, _ in store.segments.member_page(segment_id, limit)]
        when = "now (stored membership)"
    else:
        members = keeper.members_at(segment_id, at)
        count, ids, when = len(members), sorted(members)[:limit], f"at {format_instant(at)}"
    labels = [p.label for p in (store.people.get(i) for i in ids) if p is not None]
    if as_json:
        out = {
            "id": segment.id,
            "name": segment.name,
            "members": count,
            "at": None if at is None else format_instant(at),
        }
        if show_members:
            out["member_ids"] = labels
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"{segment.id}: {segment.name}")
    if segment.description:
        click.echo(f"  {segment.description}")
    source = keeper.files.get(segment_id)
    if source:
        click.echo(f"  defined in {source}")
    click.echo(f"members {when}: {count:,}")
    if show_members:
        for label in labels:
            click.echo(f"  {label}")
        if count > len(labels):
            click.echo(f"  ... and {count - len(labels):,} more")


@segments.command(name="check")
@click.argument("segment_id")
@click.argument("person")
@click.option("--at", "at_text", help="Evaluate at this time (ISO 8601; default now).")
@settings_options
def segments_check(segment_id: str, person: str, at_text: str | None, settings: Settings) -> None:
    """Is PERSON in SEGMENT, and which sub-condition decided it?"""
    workspace = _workspace(settings)
    at = parse_when(at_text, settings) or workspace.clock.now_ms()
    inside, explanation, stored = workspace.segments.check(segment_id, person, at)
    click.echo(
        f"{person} is {'IN' if inside else 'OUT of'} {segment_id} at {format_instant(at)}"
        f" (stored membership: {'in' if stored else 'out'})"
    )
    for line in explanation.lines(1):
        click.echo(line)


@segments.command(name="sweep")
@click.option("--at", "at_text", help="Sweep as of this time (ISO 8601; default now).")
@settings_options
def segments_sweep(at_text: str | None, settings: Settings) -> None:
    """Move people whose membership changed with time alone (windows, relative times)."""
    workspace = _workspace(settings)
    at = parse_when(at_text, settings) or workspace.clock.now_ms()
    changes = workspace.segments.sweep(at)
    for seg_id, (entered, exited) in sorted(changes.items()):
        click.echo(f"{seg_id:<28} +{entered:,} -{exited:,}")
    if not changes:
        click.echo("no segments to sweep")


@cli.command()
@click.option(
    "--campaigns",
    "campaigns_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Campaigns folder (default: settings, campaigns/).",
)
def check(campaigns_dir: Path | None) -> None:
    """Validate every campaign, segment and template; no database is opened.

    Prints each problem as file:line: reason and exits 1 when there is any.
    """
    from app.config import load_settings
    from app.service.definitions import check_definitions

    found = check_definitions(load_settings(campaigns=campaigns_dir).campaigns)
    for error in found.errors:
        click.echo(str(error))
    if found.errors:
        click.echo(f"{len(found.errors)} error{'s' if len(found.errors) != 1 else ''}")
        raise SystemExit(1)
    click.echo(
        f"ok: {len(found.campaigns.versions)} campaigns, {len(found.segments.segments)} segments"
    )


@cli.command()
@click.option("--at", "at_text", help="Advance to this time (ISO 8601 or a date; default now).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@settings_options
def advance(at_text: str | None, as_json: bool, settings: Settings) -> None:
    """Run the journeys due up to a time: date-trigger entries, delays, timeouts."""
    workspace = _workspace(settings)
    at = parse_when(at_text, settings)
    if at is None:
        at = workspace.clock.now_ms()
    report = workspace.engine.advance(at)
    next_due = workspace.store.journeys.next_due()
    if as_json:
        out = {
            **vars_of(report),
            "at": format_instant(at),
            "next_due_at": None if next_due is None else format_instant(next_due),
        }
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(
        f"advanced to {format_instant(at)}: {report.entered:,} entered, "
        f"{report.steps:,} steps, {report.queued:,} queued"
    )
    click.echo(f"next due: {format_instant(next_due) if next_due is not None else 'nothing'}")


@cli.group(cls=NudgeGroup)
def campaigns() -> None:
    """Campaigns: their state, funnels and step trees."""


@campaigns.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@settings_options
def campaigns_list(as_json: bool, settings: Settings) -> None:
    """Every campaign with its state and journeys: active now, entered, converted."""
    from app.service.reports import campaign_rows

    rows = campaign_rows(_workspace(settings))
    if as_json:
        click.echo(json.dumps([vars_of(r) for r in rows], indent=2))
        return
    if not rows:
        click.echo(f"no campaigns in {settings.campaigns}")
        return
    click.echo(
        f"{'campaign':<24} {'state':<10} {'active':>8} {'entered':>8} {'converted':>10}  name"
    )
    for r in rows:
        click.echo(
            f"{r.id:<24} {r.state:<10} {r.active:>8,} {r.entered:>8,} {r.converted:>10,}  {r.name}"
        )


@campaigns.command(name="show")
@click.argument("campaign_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@settings_options
def campaigns_show(campaign_id: str, as_json: bool, settings: Settings) -> None:
    """A campaign's steps as a tree: per step, journeys that reached it, are waiting at
    it now, and messages it queued."""
    from app.service.reports import campaign_report

    report = campaign_report(_workspace(settings), campaign_id)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    r = report.row
    click.echo(f"{r.id}: {r.name}")
    for label, value in (
        ("state", r.state),
        ("file", f"{report.file} (version {report.version})"),
        ("trigger", report.trigger),
        ("goal", report.goal or "-"),
        ("exit", report.exit),
        (
            "journeys",
            f"{r.entered:,} entered, {r.active:,} active, {r.completed:,} completed, "
            f"{r.exited:,} exited, {r.converted:,} converted",
        ),
    ):
        click.echo(f"  {label:<9} {value}")
    click.echo(f"\n{'reached':>7} {'waiting':>7} {'queued':>7}  step")
    for line in _tree_lines(report.steps, 0):
        click.echo(line)


def _tree_lines(steps: list[StepNode], depth: int) -> list[str]:
    """Counts on the left (so they line up), the step tree indented on the right."""
    lines = []
    blank = " " * 23
    for step in steps:
        queued = "-" if step.queued is None else f"{step.queued:,}"
        lines.append(
            f"{step.reached:>7,} {step.waiting:>7,} {queued:>7}  "
            f"{'    ' * depth}{step.id}: {step.summary}"
        )
        for path in step.paths:
            if not path.steps and not path.summary:
                continue  # an empty `else` or `timeout`: nothing to show
            summary = f" {path.summary}" if path.summary else ""
            lines.append(f"{blank}  {'    ' * depth}  {path.label}:{summary}")
            lines += _tree_lines(path.steps, depth + 1)
    return lines


@cli.group(cls=NudgeGroup)
def journeys() -> None:
    """Journeys: where people are in campaigns, and how they got there."""


@journeys.command(name="show")
@click.argument("person")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@settings_options
def journeys_show(person: str, as_json: bool, settings: Settings) -> None:
    """Every journey of PERSON (id, email or #row), step by step with times and reasons."""
    from app.service.reports import person_journeys

    view = person_journeys(_open(settings), person)
    if as_json:
        click.echo(json.dumps(view.as_dict(), indent=2))
        return
    p = view.person
    count = len(view.journeys)
    click.echo(f"{p.label} ({p.email or 'no email'}): {count} journey{'s' if count != 1 else ''}")
    for item in view.journeys:
        click.echo("")
        click.echo(_journey_heading(item))
        for e in item.entries:
            detail = " ".join(
                f"{k}={v if isinstance(v, str) else json.dumps(v)}"
                for k, v in e.detail.items()
                if k != "journey"
            )
            click.echo(
                f"  {format_instant(e.at)}  {e.kind:<18} {e.step or '-':<20} {detail}".rstrip()
            )


def _journey_heading(item: JourneyView) -> str:
    j = item.journey
    if j.state == "active":
        due = format_instant(j.next_due_at) if j.next_due_at is not None else "a change"
        state = f"active at {j.step_id or '-'}, waiting for {due}"
    elif j.state == "completed":
        state = f"completed at {format_instant(j.ended_at or 0)}"
    else:
        state = f"exited at {format_instant(j.ended_at or 0)}: {j.exit_reason}"
    if j.converted_at is not None:
        state += f" (converted at {format_instant(j.converted_at)})"
    return f"{j.campaign_id} journey #{j.id} (version {j.version}): {state}"


def vars_of(row: object) -> dict[str, object]:
    """A dataclass row as a dict, for --json."""
    from dataclasses import asdict, is_dataclass

    return asdict(row) if is_dataclass(row) and not isinstance(row, type) else {}


def main() -> None:
    """Entry point of the `nudge` command."""
    cli(prog_name="nudge")
