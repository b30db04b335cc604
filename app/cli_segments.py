"""`nudge segments ...`: who is in, who moved, and why."""

from __future__ import annotations

import json

import click

from app.cli_support import (
    NudgeGroup,
    open_cli_workspace,
    parse_when,
    settings_options,
    vars_of,
)
from app.config import Settings
from app.core.times import format_instant


@click.group(cls=NudgeGroup)
def segments() -> None:
    """Segments: who is in, who moved, and why."""


@segments.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@settings_options
def segments_list(as_json: bool, settings: Settings) -> None:
    """Every segment with its members and the moves of the last 24 h."""
    workspace = open_cli_workspace(settings, existing=True)
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
    workspace = open_cli_workspace(settings, existing=True)
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
    workspace = open_cli_workspace(settings, existing=True)
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
    workspace = open_cli_workspace(settings, existing=True)
    at = parse_when(at_text, settings) or workspace.clock.now_ms()
    changes = workspace.segments.sweep(at)
    for seg_id, (entered, exited) in sorted(changes.items()):
        click.echo(f"{seg_id:<28} +{entered:,} -{exited:,}")
    if not changes:
        click.echo("no segments to sweep")
