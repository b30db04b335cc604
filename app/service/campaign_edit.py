"""Editing a campaign from the console: check a draft, save it, change the state.

STYLE.md convention 8 applies to the editor too: a draft is checked exactly as a reload
would check it (the whole folder, with the draft in place of the file, in a scratch
copy), and the file is replaced only when there is no problem. An invalid draft never
replaces the running version; a valid one goes live through `Workspace.reload`, which
moves the journeys in flight by step id and stores the new version.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.campaigns import CampaignState, CampaignVersion
from app.core.errors import NotFound, NudgeError
from app.core.yamlload import DefinitionError
from app.service.definitions import load_definitions

if TYPE_CHECKING:
    from app.service.workspace import Workspace

#: Operator actions and the state each one sets, with the states it applies to.
ACTIONS: dict[str, tuple[CampaignState, tuple[str, ...]]] = {
    "activate": ("active", ("draft", "archived")),
    "pause": ("paused", ("active",)),
    "resume": ("active", ("paused",)),
}
_STATE_LINE = re.compile(r"^state:[ \t]*([^\s#]*)", re.M)


def campaign_file(workspace: Workspace, campaign_id: str) -> tuple[Path, str]:
    """The file a loaded campaign came from and its text now.

    Raises:
        NotFound: for a campaign that is not loaded, or whose file is gone.
    """
    version = workspace.engine.versions.get(campaign_id)
    if version is None or not version.file:
        raise NotFound(f"no campaign {campaign_id!r}")
    path = Path(version.file)
    try:
        return path, path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NotFound(f"cannot read {path}: {exc}") from None


def check_draft(workspace: Workspace, campaign_id: str, text: str) -> list[DefinitionError]:
    """The problems a draft of a campaign's file would have if saved (file, line, reason).

    The draft is checked in a scratch copy of the campaigns folder, so segments,
    templates and other campaigns are taken into account; its errors name the real
    file. The draft must keep the campaign's id.

    Raises:
        NotFound: for a campaign that is not loaded.
    """
    path, _ = campaign_file(workspace, campaign_id)
    folder = workspace.settings.campaigns
    with tempfile.TemporaryDirectory(prefix="nudge-draft-") as scratch:
        copy = Path(scratch) / "campaigns"
        shutil.copytree(folder, copy)
        relative = path.resolve().relative_to(folder.resolve())
        (copy / relative).write_text(text, encoding="utf-8")
        found = load_definitions(copy)
        errors = [
            DefinitionError(str(path), e.line, e.message)
            for e in found.errors
            if Path(e.file).resolve() == (copy / relative).resolve()
        ]
        draft = next(
            (
                v
                for v in found.campaigns.versions.values()
                if Path(v.file).resolve() == (copy / relative).resolve()
            ),
            None,
        )
    if not errors and draft is not None and draft.id != campaign_id:
        errors.append(
            DefinitionError(str(path), 1, f"id: keep {campaign_id!r} (a new id is a new campaign)")
        )
    if not errors and draft is None:
        errors.append(DefinitionError(str(path), 1, "the draft did not load"))
    return errors


def save_draft(workspace: Workspace, campaign_id: str, text: str) -> list[DefinitionError]:
    """Check a draft and, when it has no problem, write it and reload the definitions.

    Returns:
        The problems; when there are any, the file and the running version are unchanged.

    Raises:
        NotFound: for a campaign that is not loaded.
    """
    errors = check_draft(workspace, campaign_id, text)
    if errors:
        return errors
    path, before = campaign_file(workspace, campaign_id)
    _write(path, text)
    problems = workspace.reload()
    if problems:
        # Another file changed under us and broke the folder: put ours back as it was.
        _write(path, before)
        workspace.reload()
    return problems


def _write(path: Path, text: str) -> None:
    """Replace the file whole (write beside it, then rename): a reader never sees half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def with_state(text: str, state: str) -> str:
    """The campaign text with its top-level `state:` set (added after `name:` if absent);
    comments and everything else are kept."""
    if _STATE_LINE.search(text):
        return _STATE_LINE.sub(lambda m: f"state: {state}", text, count=1)
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith("name:"):
            lines.insert(index + 1, f"state: {state}\n")
            return "".join(lines)
    return f"state: {state}\n{text}"


def apply_action(workspace: Workspace, campaign_id: str, action: str) -> CampaignVersion:
    """Activate, pause or resume a campaign: its file's `state:` changes and the new
    version goes live (stored in the database; journeys in flight move to it).

    Raises:
        NotFound: for a campaign that is not loaded.
        NudgeError: for an action that does not apply to the campaign's state, or when
            the change cannot be saved (the problems are named).
    """
    if action not in ACTIONS:
        raise NudgeError(f"unknown action {action!r} (use {', '.join(ACTIONS)})")
    state, applies_to = ACTIONS[action]
    version = workspace.engine.versions.get(campaign_id)
    if version is None:
        raise NotFound(f"no campaign {campaign_id!r}")
    current = version.campaign.state
    if current not in applies_to:
        raise NudgeError(f"cannot {action} campaign {campaign_id}: it is {current}")
    _, text = campaign_file(workspace, campaign_id)
    errors = save_draft(workspace, campaign_id, with_state(text, state))
    if errors:
        raise NudgeError(f"cannot {action} {campaign_id}: {errors[0]}")
    return workspace.engine.versions[campaign_id]
