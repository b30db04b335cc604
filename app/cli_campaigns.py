"""`nudge check`, `nudge advance`, `nudge campaigns ...`, `nudge journeys ...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.cli_support import (
    NudgeGroup,
    open_cli_workspace,
    open_read_store,
    parse_when,
    settings_options,
    vars_of,
)
from app.config import Settings
from app.core.times import format_instant

if TYPE_CHECKING:
    from app.service.reports import JourneyView, StepNode


@click.command()
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


@click.command()
@click.option("--at", "at_text", help="Advance to this time (ISO 8601 or a date; default now).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@settings_options
def advance(at_text: str | None, as_json: bool, settings: Settings) -> None:
    """Run the journeys due up to a time: date-trigger entries, delays, timeouts."""
    workspace = open_cli_workspace(settings, existing=True)
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


@click.group(cls=NudgeGroup)
def campaigns() -> None:
    """Campaigns: their state, funnels and step trees."""


@campaigns.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@settings_options
def campaigns_list(as_json: bool, settings: Settings) -> None:
    """Every campaign with its state and journeys: active now, entered, converted."""
    from app.service.reports import campaign_rows

    rows = campaign_rows(open_cli_workspace(settings, existing=True))
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

    report = campaign_report(open_cli_workspace(settings, existing=True), campaign_id)
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


@click.group(cls=NudgeGroup)
def journeys() -> None:
    """Journeys: where people are in campaigns, and how they got there."""


@journeys.command(name="show")
@click.argument("person")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@settings_options
def journeys_show(person: str, as_json: bool, settings: Settings) -> None:
    """Every journey of PERSON (id, email or #row), step by step with times and reasons."""
    from app.service.reports import person_journeys

    view = person_journeys(open_read_store(settings), person)
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
