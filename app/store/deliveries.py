"""The outbox: planned emails under a UNIQUE delivery key (DESIGN.md invariant 3)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlite_utils

from app.core.models import Delivery

_COLUMNS = (
    "id, key, journey_id, person_id, campaign_id, step_id, template, subject, created_at, "
    "from_address, reply_to, state, attempts, next_attempt_at, message_id, to_address, reason, "
    "rendered_subject, rendered_text, rendered_html, smtp_response, sent_at, test"
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
        attempts=row[12],
        next_attempt_at=row[13],
        message_id=row[14],
        to_address=row[15],
        reason=row[16],
        rendered_subject=row[17],
        rendered_text=row[18],
        rendered_html=row[19],
        smtp_response=row[20],
        sent_at=row[21],
        test=bool(row[22]),
    )


class DeliveriesRepo:
    """Reads and writes the outbox. Call writes inside `write_transaction`."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def queue(self, delivery: Delivery) -> bool:
        """Queue a delivery unless its key exists. Returns True when it was new."""
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO deliveries (key, journey_id, person_id, campaign_id, step_id, "
            "template, subject, created_at, from_address, reply_to, state, next_attempt_at, test) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                delivery.created_at
                if delivery.next_attempt_at is None
                else delivery.next_attempt_at,
                int(delivery.test),
            ),
        )
        if cursor.rowcount == 1:
            delivery.id = int(cursor.lastrowid or 0)
            return True
        return False

    def get(self, delivery_id: int) -> Delivery | None:
        """One delivery by id."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return _delivery(row) if row else None

    def state_of(self, delivery_id: int) -> tuple[str, int] | None:
        """(state, attempts) of one delivery, or None when there is no such delivery."""
        row = self._conn.execute(
            "SELECT state, attempts FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def by_key(self, key: str) -> Delivery | None:
        """One delivery by its key."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE key = ?", (key,)
        ).fetchone()
        return _delivery(row) if row else None

    def due(self, now: int, limit: int) -> list[Delivery]:
        """Queued or limited deliveries whose next attempt is due, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE state IN ('queued', 'limited') "
            "AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?",
            (now, limit),
        )
        return [_delivery(r) for r in rows]

    def in_state(self, state: str, limit: int = 1000) -> list[Delivery]:
        """Deliveries in one state, oldest first."""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM deliveries WHERE state = ? ORDER BY id LIMIT ?",
            (state, limit),
        )
        return [_delivery(r) for r in rows]

    def next_attempt(self) -> int | None:
        """The earliest next attempt of a queued or limited delivery, or None."""
        row = self._conn.execute(
            "SELECT min(next_attempt_at) FROM deliveries WHERE state IN ('queued', 'limited')"
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def save(self, d: Delivery) -> None:
        """Write back a delivery's state and what was sent."""
        self._conn.execute(
            "UPDATE deliveries SET state = ?, attempts = ?, next_attempt_at = ?, message_id = ?, "
            "to_address = ?, reason = ?, rendered_subject = ?, rendered_text = ?, "
            "rendered_html = ?, smtp_response = ?, sent_at = ?, from_address = ?, reply_to = ? "
            "WHERE id = ?",
            (
                d.state,
                d.attempts,
                d.next_attempt_at,
                d.message_id,
                d.to_address,
                d.reason,
                d.rendered_subject,
                d.rendered_text,
                d.rendered_html,
                d.smtp_response,
                d.sent_at,
                d.from_address,
                d.reply_to,
                d.id,
            ),
        )

    def sent_since(self, person_id: int, since: int) -> list[int]:
        """Send times (ms UTC) of a person's campaign emails at or after `since`, oldest
        first (test sends excluded): what the message limit counts."""
        rows = self._conn.execute(
            "SELECT sent_at FROM deliveries WHERE person_id = ? AND sent_at >= ? AND test = 0 "
            "AND state = 'sent' ORDER BY sent_at",
            (person_id, since),
        )
        return [int(r[0]) for r in rows]

    def listing(
        self, state: str | None = None, campaign: str | None = None, limit: int = 50
    ) -> list[Delivery]:
        """Latest deliveries first, optionally of one state and one campaign."""
        clauses, params = [], []
        if state is not None:
            clauses.append("state = ?")
            params.append(state)
        if campaign is not None:
            clauses.append("campaign_id = ?")
            params.append(campaign)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM deliveries {where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [_delivery(r) for r in rows]

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

    def outcomes(
        self, campaign_id: str
    ) -> Iterator[tuple[int, int | None, str, str, str | None, int | None, str | None, str | None]]:
        """A campaign's deliveries (tests left out) without their bodies, in creation order:
        (person_id, journey_id, step_id, state, reason, sent_at, rendered_subject,
        to_address). Streamed: a simulation report reads hundreds of thousands."""
        rows = self._conn.execute(
            "SELECT person_id, journey_id, step_id, state, reason, sent_at, rendered_subject, "
            "to_address FROM deliveries WHERE campaign_id = ? AND NOT test "
            "ORDER BY created_at, id",
            (campaign_id,),
        )
        for r in rows:
            yield (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7])

    def step_counts(self, campaign_id: str) -> dict[str, int]:
        """Per step id, deliveries queued (in any state) for a campaign."""
        rows = self._conn.execute(
            "SELECT step_id, count(*) FROM deliveries WHERE campaign_id = ? GROUP BY step_id",
            (campaign_id,),
        )
        return {r[0]: int(r[1]) for r in rows}

    def counts_by_state(self) -> dict[str, int]:
        """Deliveries per state."""
        rows = self._conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state")
        return {r[0]: int(r[1]) for r in rows}
