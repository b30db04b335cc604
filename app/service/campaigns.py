"""Loading campaign definitions and checking them (files, line numbers, templates)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.core.campaigns import (
    BroadcastTrigger,
    Campaign,
    CampaignVersion,
    SegmentTrigger,
    walk_steps,
)
from app.core.conditions import segment_refs
from app.core.templates import template_error
from app.core.yamlload import DefinitionError, DefinitionErrors, load_yaml_model


@dataclass(slots=True)
class LoadedCampaigns:
    """The outcome of reading the campaigns folder.

    Attributes:
        versions: usable campaigns by id.
        errors: what did not load, with file, line and reason.
    """

    versions: dict[str, CampaignVersion]
    errors: list[DefinitionError]


def load_campaigns(folder: Path, segment_ids: set[str]) -> LoadedCampaigns:
    """Read every `*.yaml` directly in the campaigns folder (segments live in `segments/`).

    A campaign is usable when its YAML validates, the segments it names exist, and its
    templates (`templates/<name>.html.j2`, optional `.txt.j2`) and subjects parse. One
    bad file never stops the others.
    """
    versions: dict[str, CampaignVersion] = {}
    errors: list[DefinitionError] = []
    if not folder.is_dir():
        return LoadedCampaigns({}, [])
    for path in sorted(folder.glob("*.y*ml")):
        name = str(path)
        try:
            source = path.read_text(encoding="utf-8")
            campaign = load_yaml_model(source, name, Campaign)
        except DefinitionErrors as exc:
            errors += exc.errors
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(DefinitionError(name, 1, f"cannot read: {exc}"))
            continue
        templates: dict[str, tuple[str, str | None]] = {}
        problems = _check(campaign, name, source, folder, segment_ids, templates)
        if campaign.id in versions:
            problems.append(
                DefinitionError(
                    name, 1, f"campaign id {campaign.id!r} is also in {versions[campaign.id].file}"
                )
            )
        if problems:
            errors += problems
            continue
        versions[campaign.id] = CampaignVersion(campaign, source, name, templates)
    return LoadedCampaigns(versions, errors)


def _line_of(source: str, needle: str) -> int:
    for number, line in enumerate(source.splitlines(), start=1):
        if needle in line:
            return number
    return 1


def campaign_segment_refs(campaign: Campaign) -> set[str]:
    """The ids of every segment a campaign names: its trigger, entry filter, goal and
    every condition of its steps (branches, splits, wait paths)."""
    refs: set[str] = set()
    if isinstance(campaign.trigger, SegmentTrigger):
        refs.add(campaign.trigger.segment_id)
    if isinstance(campaign.trigger, BroadcastTrigger):
        refs.add(campaign.trigger.broadcast.segment)
    if campaign.entry_filter is not None:
        refs |= segment_refs(campaign.entry_filter)
    if campaign.goal is not None and campaign.goal.segment_entered is not None:
        refs.add(campaign.goal.segment_entered)
    for step in walk_steps(campaign.steps):
        if step.branch is not None:
            refs |= segment_refs(step.branch.if_)
        for split_path in step.split.paths if step.split else []:
            refs |= segment_refs(split_path.when)
        for wait_path in step.wait_until.paths if step.wait_until else []:
            refs |= segment_refs(wait_path.when)
    return refs


def _check(
    campaign: Campaign,
    name: str,
    source: str,
    folder: Path,
    segment_ids: set[str],
    templates: dict[str, tuple[str, str | None]],
) -> list[DefinitionError]:
    errors: list[DefinitionError] = []
    refs = campaign_segment_refs(campaign)
    for step in walk_steps(campaign.steps):
        if step.send is not None:
            line = _line_of(source, f"id: {step.id}")
            problem = template_error(step.send.subject)
            if problem is not None:
                errors.append(DefinitionError(name, line, f"step {step.id}: subject: {problem[1]}"))
            errors += _check_template(folder, step.send.template, step.id, name, line, templates)
    for ref in sorted(refs - segment_ids):
        errors.append(DefinitionError(name, _line_of(source, ref), f"unknown segment {ref!r}"))
    return errors


def _check_template(
    folder: Path,
    template: str,
    step_id: str,
    name: str,
    line: int,
    templates: dict[str, tuple[str, str | None]],
) -> list[DefinitionError]:
    errors: list[DefinitionError] = []
    html = folder / "templates" / f"{template}.html.j2"
    text = folder / "templates" / f"{template}.txt.j2"
    if not html.is_file():
        return [DefinitionError(name, line, f"step {step_id}: template {html} does not exist")]
    sources: list[str | None] = []
    for path in (html, text):
        if not path.is_file():
            sources.append(None)
            continue
        try:
            body = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(DefinitionError(str(path), 1, f"cannot read: {exc}"))
            continue
        sources.append(body)
        problem = template_error(body)
        if problem is not None:
            errors.append(DefinitionError(str(path), problem[0], problem[1]))
    if not errors and sources[0] is not None:
        templates[template] = (sources[0], sources[1])
    return errors
