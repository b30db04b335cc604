"""Segment definitions: one YAML file each under `campaigns/segments/`.

```yaml
id: inactive_trials
name: Trial users gone quiet
description: On a trial and no app_login for a week.
condition:
  all:
    - attribute: plan_type
      equals: trial
    - not_performed: app_login
      within: 7d
```
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict, Field

from app.core.conditions import Condition, normalise, segment_refs, uses_entry, uses_trigger
from app.core.yamlload import DefinitionError


class Segment(BaseModel):
    """A named condition whose members Nudge keeps current.

    Attributes:
        id: stable id (lowercase letters, digits, underscores); campaigns refer to it.
        name: shown to operators.
        description: what the segment is for.
        condition: who is in (see `app.core.conditions`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    name: str
    description: str = ""
    condition: Condition

    @property
    def core_condition(self) -> Condition:
        """The condition with sugar rewritten (`not_performed` -> `not: performed`)."""
        return normalise(self.condition)

    @property
    def definition_hash(self) -> str:
        """A hash of the condition: when it changes, membership is recomputed."""
        text = json.dumps(self.condition.model_dump(mode="json", by_alias=True), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_segments(
    segments: dict[str, Segment], files: dict[str, str]
) -> tuple[dict[str, Segment], list[DefinitionError]]:
    """Drop segments that refer to unknown segments, sit on a reference cycle, or count
    `since: entry` (which only a journey has).

    Args:
        segments: parsed segments by id.
        files: the file each id came from (for errors).

    Returns:
        The usable segments and an error (file, line 1, reason) for each one dropped.
    """
    errors: list[DefinitionError] = []
    bad: set[str] = set()
    for seg_id, segment in segments.items():
        if uses_entry(segment.condition):
            errors.append(
                DefinitionError(files[seg_id], 1, "since: entry only works in a campaign")
            )
            bad.add(seg_id)
        if uses_trigger(segment.condition):
            errors.append(
                DefinitionError(files[seg_id], 1, "{trigger: ...} only works in a campaign")
            )
            bad.add(seg_id)
        for ref in sorted(segment_refs(segment.condition) - segments.keys()):
            errors.append(DefinitionError(files[seg_id], 1, f"refers to unknown segment {ref!r}"))
            bad.add(seg_id)
    # Depth-first search for cycles; everything on one is unusable.
    state: dict[str, int] = {}
    for start in sorted(segments):
        path: list[str] = []
        _visit(start, segments, state, path, bad, errors, files)
    # A segment referring to a dropped one is dropped too (until nothing changes).
    changed = True
    while changed:
        changed = False
        for seg_id, segment in segments.items():
            if seg_id not in bad and segment_refs(segment.condition) & bad:
                refs = ", ".join(sorted(segment_refs(segment.condition) & bad))
                errors.append(
                    DefinitionError(files[seg_id], 1, f"refers to unusable segment {refs}")
                )
                bad.add(seg_id)
                changed = True
    return {k: v for k, v in segments.items() if k not in bad}, errors


def _visit(
    node: str,
    segments: dict[str, Segment],
    state: dict[str, int],
    path: list[str],
    bad: set[str],
    errors: list[DefinitionError],
    files: dict[str, str],
) -> None:
    if state.get(node) == 2 or node not in segments:
        return
    if state.get(node) == 1:
        cycle = path[path.index(node) :] + [node]
        for member in cycle[:-1]:
            if member not in bad:
                bad.add(member)
                errors.append(
                    DefinitionError(files[member], 1, f"segment cycle: {' -> '.join(cycle)}")
                )
        return
    state[node] = 1
    path.append(node)
    for ref in sorted(segment_refs(segments[node].condition)):
        _visit(ref, segments, state, path, bad, errors, files)
    path.pop()
    state[node] = 2
