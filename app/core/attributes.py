"""How identify traits change a person's attributes (Customer.io semantics)."""

from __future__ import annotations

from typing import Any

from app.core.operations import DIRECTIVES
from app.core.times import parse_instant


def update_time(traits: dict[str, Any], op_time: int) -> int:
    """The time an identify's updates count as made: its `_timestamp`, else the operation's.

    Args:
        traits: the traits as given.
        op_time: the operation's timestamp, ms UTC.

    Raises:
        InvalidOperation: when `_timestamp` is not a time.
    """
    given = traits.get("_timestamp")
    return op_time if given is None else parse_instant(given, "_timestamp")


def apply_traits(
    attributes: dict[str, Any],
    times: dict[str, int],
    traits: dict[str, Any],
    at: int,
) -> bool:
    """Merge `traits` into `attributes` in place, attribute by attribute.

    Rules (Customer.io): a trait overwrites the attribute; `null` removes it; an update
    made earlier than the one that last set (or removed) that attribute is ignored, so
    out-of-order arrivals converge (ties: the later arrival wins). Directives
    (`_timestamp`, `_update`) are not attributes.

    Args:
        attributes: current attributes, changed in place.
        times: per-attribute update times (ms UTC), changed in place.
        traits: the identify's traits.
        at: when this update was made (see `update_time`), ms UTC.

    Returns:
        True when any attribute value changed.
    """
    changed = False
    for key, value in traits.items():
        if key in DIRECTIVES:
            continue
        previous = times.get(key)
        if previous is not None and at < previous:
            continue
        times[key] = at
        if value is None:
            if key in attributes:
                del attributes[key]
                changed = True
        elif key not in attributes or attributes[key] != value:
            attributes[key] = value
            changed = True
    return changed
