"""The scheduler's next due instant, followed from the writes instead of asked after each.

The simulator needs the earliest due instant of the scheduler's work (an active journey's
next step, a queued or limited delivery's next attempt: `JourneysRepo.next_due` and
`DeliveriesRepo.next_attempt`) after every operation it replays, to know whether a tick
comes first. Two queries per operation; yet most operations move no due instant.

`DueWatch` installs temporary triggers that hand every due instant written to those rows
(insert, or an update of the instant or the state) to Python. A caller that knew the
earliest instant at some point (a scheduler tick reports it) takes the earliest written
since, and keeps the smaller. Deletes and rows leaving their due state are not noted: the
followed instant can only be too early, never too late. Too early costs a tick with
nothing to do, which reports the real one; no due work is ever passed over.

Meant for a database one connection writes (the simulator's scratch file): another
connection's writes would not fire this connection's temporary triggers.
"""

from __future__ import annotations

import sqlite_utils

_FUNCTION = "nudge_due_written"
_JOURNEY_DUE = "new.state = 'active' AND new.next_due_at IS NOT NULL"
_DELIVERY_DUE = "new.state IN ('queued', 'limited') AND new.next_attempt_at IS NOT NULL"
_SETUP = (
    "CREATE TEMP TRIGGER IF NOT EXISTS nudge_journey_due_inserted AFTER INSERT ON "
    f"main.journeys WHEN {_JOURNEY_DUE} BEGIN SELECT {_FUNCTION}(new.next_due_at); END",
    "CREATE TEMP TRIGGER IF NOT EXISTS nudge_journey_due_updated AFTER UPDATE OF "
    f"next_due_at, state ON main.journeys WHEN {_JOURNEY_DUE} "
    f"BEGIN SELECT {_FUNCTION}(new.next_due_at); END",
    "CREATE TEMP TRIGGER IF NOT EXISTS nudge_delivery_due_inserted AFTER INSERT ON "
    f"main.deliveries WHEN {_DELIVERY_DUE} "
    f"BEGIN SELECT {_FUNCTION}(new.next_attempt_at); END",
    "CREATE TEMP TRIGGER IF NOT EXISTS nudge_delivery_due_updated AFTER UPDATE OF "
    f"next_attempt_at, state ON main.deliveries WHEN {_DELIVERY_DUE} "
    f"BEGIN SELECT {_FUNCTION}(new.next_attempt_at); END",
)


class DueWatch:
    """Notes the due instants (ms UTC) this connection writes to journeys and deliveries.

    Args:
        db: the database (its connection gets the function and the triggers).
    """

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._earliest: int | None = None
        db.conn.create_function(_FUNCTION, 1, self._note, deterministic=False)
        for statement in _SETUP:
            db.conn.execute(statement)

    def _note(self, at: int) -> None:
        if self._earliest is None or at < self._earliest:
            self._earliest = at

    def take(self) -> int | None:
        """The earliest due instant written since the last take (None: none written)."""
        earliest, self._earliest = self._earliest, None
        return earliest
