"""The outbox: planned emails under a UNIQUE delivery key (DESIGN.md invariant 3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlite_utils

from app.core.models import Delivery

_COLUMNS = (
    "id, key, journey_id, person_id, campaign_id, step_id, template, subject, created_at, "
    "from_address, reply_to, state"
)


def _delivery(row: Sequence[Any]) -> Delivery:
    return Delivery(
        id=row[0],
        key=row[1],
        journey_id=row[2],
        person_id=row[3],
        campaign_id=row[4],
        step_id=row[5],
        template=row[6],
        subject=row[7],
        created_at=row[8],
        from_address=row[9],
        reply_to=row[10],
        state=row[11],
    )


class DeliveriesRepo:
    """Reads and writes the outbox. Call writes inside `write_transaction`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def queue(self, delivery: Delivery) -> bool:
        """Queue a delivery unless its key exists. Returns True when it was new."""
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO deliveries (key, journey_id, person_id, campaign_id, step_id, "
            "template, subject, created_at, from_address, reply_to, state, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                delivery.key,
                delivery.journey_id,
                delivery.person_id,
                delivery.campaign_id,
                delivery.step_id,
                delivery.template,
                delivery.subject,
                delivery.created_at,
                delivery.from_address,
                delivery.reply_to,
                delivery.state,
                delivery.created_at,
            ),
        )
        return cursor.rowcount == 1

    def for_person(self, person_id: int) -> list[Delivery]:
        """A person's deliveries, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE person_id = ? ORDER BY created_at, id",
            (person_id,),
        )
        return [_delivery(r) for r in rows]

    def all(self) -> list[Delivery]:
        """Every delivery in creation order (tests, simulation reports)."""
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM deliveries ORDER BY created_at, id")
        return [_delivery(r) for r in rows]

    def step_counts(self, campaign_id: str) -> dict[str, int]:
        """Per step id, deliveries queued (in any state) for a campaign."""
        rows = self._conn.execute(
            "SELECT step_id, count(*) FROM deliveries WHERE campaign_id = ? GROUP BY step_id",
            (campaign_id,),
        )
        return {r[0]: int(r[1]) for r in rows}
