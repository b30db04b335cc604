"""Reading the whole campaigns folder at once: segments, campaigns and templates.

`nudge check`, `open_workspace` and hot reload all read the folder through
`load_definitions`, so "check is clean" and "reload swaps" mean the same thing. It
touches no database: checking a folder never needs one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.core.errors import NotFound
from app.core.templates import template_error
from app.core.yamlload import DefinitionError
from app.service.campaigns import LoadedCampaigns, load_campaigns
from app.service.segments import LoadedSegments, load_segments

#: Where message templates live, under the campaigns folder.
TEMPLATES = "templates"
#: Template file names: `<name>.html.j2` and the optional `<name>.txt.j2`.
TEMPLATE_SUFFIX = ".j2"


@dataclass(slots=True)
class Definitions:
    """Everything read from a campaigns folder.

    Attributes:
        segments: the usable segments (and their files).
        campaigns: the usable campaign versions.
        templates: how many template files were found (used or not).
        errors: every problem with file, line and reason, each once, campaigns' and
            segments' first, then templates no campaign uses.
    """

    segments: LoadedSegments
    campaigns: LoadedCampaigns
    templates: int = 0
    errors: list[DefinitionError] = field(default_factory=list)


def load_definitions(folder: Path) -> Definitions:
    """Read and check every segment, campaign and template under `folder`.

    One bad file never stops the others: it is reported and left out (and so is a
    campaign that needs it). Templates are parsed whether or not a campaign sends
    them, so a broken one is found before someone starts using it.

    Args:
        folder: the campaigns folder (`segments/` and `templates/` inside it). A
            folder that does not exist holds no definitions.

    Returns:
        What loaded, and what did not (file, line, reason).
    """
    segments = load_segments(folder)
    campaigns = load_campaigns(folder, set(segments.segments))
    errors = _unique(segments.errors + campaigns.errors)
    templates = sorted((folder / TEMPLATES).glob(f"*{TEMPLATE_SUFFIX}"))
    seen_files = {e.file for e in errors}
    for path in templates:
        name = str(path)
        if name in seen_files:
            continue  # load_campaigns parsed it already, as a template a step sends
        try:
            problem = template_error(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(DefinitionError(name, 1, f"cannot read: {exc}"))
            continue
        if problem is not None:
            errors.append(DefinitionError(name, problem[0], problem[1]))
    return Definitions(segments, campaigns, len(templates), errors)


def _unique(errors: list[DefinitionError]) -> list[DefinitionError]:
    """The errors in order, each once: two campaigns sending one broken template report
    it once."""
    return list(dict.fromkeys(errors))


def check_definitions(folder: Path) -> Definitions:
    """`load_definitions` for `nudge check`, where a missing folder is a mistake (a typo
    in `--campaigns`), not an empty workspace.

    Raises:
        NotFound: when `folder` is not a directory.
    """
    if not folder.is_dir():
        raise NotFound(f"campaigns folder {folder} does not exist")
    return load_definitions(folder)
