"""Simulation reports and comparisons as plain text for a terminal."""

from __future__ import annotations

import orjson

from app.service.simulation_report import CampaignFunnel, Comparison, SimulationReport

#: Rows of long lists shown in text (the JSON has them all).
_SHOW = 50


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def _funnel_lines(funnel: CampaignFunnel) -> list[str]:
    lines = [
        f"campaign {funnel.campaign} ({funnel.name}) version {funnel.version} from {funnel.source}",
        f"  entered {funnel.entered} journeys ({funnel.people} people); active at the end "
        f"{funnel.active}, completed {funnel.completed}"
        + (f", exited: {_counts(funnel.exited)}" if funnel.exited else ""),
        f"  converted {funnel.converted} ({funnel.conversion_rate:.1%}); messages sent "
        f"{funnel.messages}",
        "  steps:",
    ]
    for step in funnel.steps:
        indent = "    " + "  " * step.depth
        label = f"[{step.branch}] " if step.branch else ""
        parts = [f"reached {step.reached}"]
        if step.kind == "send":
            parts.append(f"sent {step.sent}")
        if step.skipped:
            parts.append(f"skipped: {_counts(step.skipped)}")
        if step.paths:
            parts.append(f"paths: {_counts(step.paths)}")
        if step.waiting:
            parts.append(f"waiting {step.waiting}")
        if step.exited:
            parts.append(f"ended: {_counts(step.exited)}")
        lines.append(f"{indent}{label}{step.id} ({step.kind}): " + "; ".join(parts))
    lines.append("  paths:")
    for path in funnel.paths[:_SHOW]:
        lines.append(f"    {path.journeys:>7}  {' > '.join(path.steps) or '(no step)'}")
    if len(funnel.paths) > _SHOW:
        lines.append(f"    ... {len(funnel.paths) - _SHOW} more")
    return lines


def report_text(report: SimulationReport) -> str:
    """The report as text: span and counts, each campaign's funnel and paths, the
    messages (the first 50), and the person's timeline when one was asked for."""
    lines = [
        f"replayed {report.operations} operations from {report.start_iso or '-'} to "
        f"{report.end_iso or '-'}: applied {report.applied}, duplicates {report.duplicates}, "
        f"skipped {report.skipped}, rejected {report.rejected}; {report.people} people"
        + (f" (after {report.prior} operations recorded before)" if report.prior else ""),
    ]
    lines += [f"  {p}" for p in report.problems]
    for funnel in report.campaigns:
        lines.append("")
        lines += _funnel_lines(funnel)
    lines.append("")
    lines.append(f"messages: {len(report.messages)}")
    for m in report.messages[:_SHOW]:
        key = f" [{m.entry_key}]" if m.entry_key else ""
        lines.append(f"  {m.at_iso}  {m.person}{key}  {m.campaign}/{m.step}  {m.subject}")
    if len(report.messages) > _SHOW:
        lines.append(f"  ... {len(report.messages) - _SHOW} more (--json lists them all)")
    if report.person is not None:
        lines.append("")
        lines.append(f"timeline of {report.person}:")
        for entry in report.timeline:
            where = f" {entry.campaign}/{entry.step}" if entry.campaign else ""
            detail = orjson.dumps(entry.detail, option=orjson.OPT_SORT_KEYS).decode()
            lines.append(f"  {entry.at_iso}  {entry.kind}{where}  {detail}")
    return "\n".join(lines) + "\n"


def comparison_text(comparison: Comparison) -> str:
    """A comparison as text: which side is which (`base (X) -> other (Y)`), then per
    step (base -> other), conversions, changed paths, messages added and removed, and
    the people affected."""
    lines: list[str] = [
        f"base ({comparison.base_label}) -> other ({comparison.other_label}): "
        "every 'a -> b' below reads base -> other",
        "",
    ]
    for delta in comparison.steps:
        indent = "  " * delta.depth
        mark = (
            ""
            if delta.in_base and delta.in_other
            else (" (new)" if delta.in_other else " (removed)")
        )
        sent = (
            f"; sent {delta.sent[0]} -> {delta.sent[1]} ({delta.sent_delta:+d})"
            if delta.kind == "send"
            else ""
        )
        lines.append(
            f"{delta.campaign} {indent}{delta.id}{mark}: reached {delta.reached[0]} -> "
            f"{delta.reached[1]} ({delta.reached_delta:+d}){sent}"
        )
    for cid, (a, b) in comparison.converted.items():
        lines.append(f"{cid}: converted {a} -> {b} ({b - a:+d})")
    lines.append("")
    lines.append(f"journeys whose path changed: {len(comparison.path_changes)}")
    for change in comparison.path_changes[:_SHOW]:
        key = f" [{change.entry_key}]" if change.entry_key else ""
        lines.append(
            f"  {change.person}{key}: {' > '.join(change.base)}  =>  {' > '.join(change.other)}"
        )
    for title, rows in (
        ("messages added (sent by other, not by base)", comparison.messages_added),
        ("messages removed (sent by base, not by other)", comparison.messages_removed),
    ):
        lines.append(f"{title}: {len(rows)}")
        for m in rows[:_SHOW]:
            lines.append(f"  {m.at_iso}  {m.person}  {m.campaign}/{m.step}  {m.subject}")
    lines.append(f"people affected: {len(comparison.people_affected)}")
    shown = comparison.people_affected[:_SHOW]
    if shown:
        lines.append(
            "  " + ", ".join(shown) + (" ..." if len(comparison.people_affected) > _SHOW else "")
        )
    return "\n".join(lines) + "\n"
