"""Segments as the console shows them: the list with moves of the last 24 h, a segment's
definition as written, its members a page at a time, and "why is this person in or
out" (the Python evaluator's explanation, `SegmentKeeper.check`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.core.errors import NotFound
from app.core.models import Person
from app.service.people import find_person
from app.service.segments import SegmentKeeper, SegmentSummary
from app.store import Store


def segment_list(keeper: SegmentKeeper, now: int) -> list[SegmentSummary]:
    """Every loaded segment with members and entered / left in the 24 h before `now`."""
    return keeper.summaries(now)


def segment_source(keeper: SegmentKeeper, seg_id: str) -> str:
    """The segment's file as written (comments included).

    Raises:
        NotFound: for an unknown segment.
    """
    keeper.segment(seg_id)
    path = keeper.files.get(seg_id)
    if path is None:
        raise NotFound(f"segment {seg_id!r} has no file")
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise NotFound(f"cannot read {path}: {exc}") from None


def segment_members(
    store: Store, seg_id: str, limit: int = 100, after_id: int = 0
) -> list[tuple[Person, int]]:
    """(person, member since ms UTC) in person-id order after `after_id` (keyset)."""
    out = []
    for person_id, since in store.segments.member_page(seg_id, limit, after_id):
        person = store.people.get(person_id)
        if person is not None:
            out.append((person, since))
    return out


@dataclass(frozen=True, slots=True)
class Why:
    """The answer to "is this person in the segment, and why".

    Attributes:
        person: who (external id, else email, else `#row`).
        member: in at `now` by the definition.
        stored: the stored membership agrees that they are in.
        lines: the explanation, one line per condition, `yes`/`no` first.
    """

    person: str
    member: bool
    stored: bool
    lines: list[str]


def why(keeper: SegmentKeeper, seg_id: str, person_key: str, now: int) -> Why:
    """Explain a person's membership at `now`.

    Raises:
        NotFound: for an unknown segment or person.
    """
    member, explanation, stored = keeper.check(seg_id, person_key, now)
    label = find_person(keeper.store, person_key).label
    return Why(label, member, stored, explanation.lines())
