"""Pure domain: models, operations, time, attribute rules. No I/O, no Textual, no SQL."""

from __future__ import annotations

from app.core.clock import Clock, FixedClock, SystemClock
from app.core.errors import InvalidOperation, NudgeError
from app.core.models import ActivityEntry, Event, Person
from app.core.operations import Operation, parse_operation

__all__ = [
    "ActivityEntry",
    "Clock",
    "Event",
    "FixedClock",
    "InvalidOperation",
    "NudgeError",
    "Operation",
    "Person",
    "SystemClock",
    "parse_operation",
]
