"""The event catalogue: every event name with its counts and dates, its property keys with
the JSON types observed and example values, and the properties whose type varies
(schema drift: `amount` sent as 49 by one client and "49" by another breaks a numeric
condition silently, so operators must see it before building a campaign on it).

Types and examples come from the latest `SAMPLE` events of each name, not the whole log:
the cost stays one bounded read per name however large the database grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.store import NameSummary, Store

#: How many of a name's latest events are read for its property types.
SAMPLE = 500
_EXAMPLES = 3


@dataclass(slots=True)
class PropertyStats:
    """One property key of an event name.

    Attributes:
        key: the property (nested keys joined with dots: `cart.total`).
        types: JSON type -> how many sampled events had it with that type.
        examples: a few distinct values seen, as JSON-ish text.
        seen: sampled events that had the key.
    """

    key: str
    types: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    seen: int = 0

    @property
    def drifts(self) -> bool:
        """Whether the key came with more than one type (null aside)."""
        return len([t for t in self.types if t != "null"]) > 1


@dataclass(slots=True)
class CatalogueEntry:
    """One event name and what its properties look like."""

    summary: NameSummary
    properties: list[PropertyStats]
    sampled: int

    @property
    def label(self) -> str:
        """`name` for track events, `page: name` for pages, `identify` for attributes."""
        s = self.summary
        if s.type == "identify":
            return "identify (attributes)"
        return s.name if s.type == "track" else f"{s.type}: {s.name}"

    @property
    def drifting(self) -> list[PropertyStats]:
        """The properties whose type varies."""
        return [p for p in self.properties if p.drifts]


def json_type(value: Any) -> str:
    """The JSON type of a decoded value: string, integer, number, boolean, null, object,
    array."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return "array"


def property_stats(samples: list[dict[str, Any]]) -> list[PropertyStats]:
    """Keys (nested objects flattened with dots) with types and examples, by key."""
    stats: dict[str, PropertyStats] = {}

    def visit(prefix: str, props: dict[str, Any]) -> None:
        for key, value in props.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                visit(f"{path}.", value)
                continue
            entry = stats.setdefault(path, PropertyStats(path))
            kind = json_type(value)
            entry.types[kind] = entry.types.get(kind, 0) + 1
            entry.seen += 1
            shown = value if isinstance(value, str) else repr(value)
            shown = f'"{value}"' if isinstance(value, str) else shown
            if len(entry.examples) < _EXAMPLES and shown not in entry.examples:
                entry.examples.append(shown[:40])

    for props in samples:
        visit("", props)
    return [stats[k] for k in sorted(stats)]


def event_catalogue(store: Store) -> list[CatalogueEntry]:
    """Every event name (track, page, identify) with counts, dates and property stats,
    most frequent first.

    Reads the whole events table once (the counts): on a large database, call it from a
    worker thread with its own `Store`.
    """
    out = []
    for summary in store.catalogue.name_summaries():
        samples = store.catalogue.recent_properties(summary.type, summary.name, SAMPLE)
        out.append(CatalogueEntry(summary, property_stats(samples), len(samples)))
    return out


def catalogue_of(database: Path) -> list[CatalogueEntry]:
    """`event_catalogue` over its own connection to `database` (for a worker thread: a
    store belongs to the thread that opened it)."""
    store = Store.open(database)
    try:
        return event_catalogue(store)
    finally:
        store.close()
