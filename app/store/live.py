"""What the console's live view reads: events by sequence number, receive rates, the
latest decisions and the scheduler's numbers. Every query is bounded (keyset on `seq` or
`id`, LIMIT), so it costs the same on a million events as on a thousand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlite_utils

from app.core.models import ActivityEntry, Delivery, Event
from app.store.deliveries import _COLUMNS as _DELIVERY_COLUMNS
from app.store.deliveries import _delivery

_EVENT_COLUMNS = (
    "seq, person_id, anonymous_id, user_id, user_email, type, name, properties, timestamp, "
    "received_at, dedupe_key"
)
_ACTIVITY_COLUMNS = "id, at, person_id, kind, campaign, step, detail"


def _event(row: Sequence[Any]) -> Event:
    return Event(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        orjson.loads(row[7]),
        row[8],
        row[9],
        row[10],
    )


def _entry(row: Sequence[Any]) -> ActivityEntry:
    return ActivityEntry(row[0], row[1], row[2], row[3], row[4], row[5], orjson.loads(row[6]))


class LiveRepo:
    """Read-only queries for the live stream."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self._conn = db.conn

    def person_labels(self, person_ids: Iterable[int]) -> dict[int, str]:
        """How an operator knows each person: external id, else email, else `#<row id>`.

        One query for the whole page (ids are bound in chunks of 500, below SQLite's
        variable limit). A person no longer stored (deleted, merged away) is absent
        from the result.

        Args:
            person_ids: people row ids; duplicates and order do not matter.

        Returns:
            row id -> label, the same rule as `Person.label`.
        """
        wanted = sorted(set(person_ids))
        out: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT id, external_id, email FROM people WHERE id IN ({marks})", chunk
            )
            out.update((r[0], r[1] or r[2] or f"#{r[0]}") for r in rows)
        return out

    def last_seq(self) -> int:
        """The highest event sequence number (0 when there are no events)."""
        return int(self._conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])

    def events_page(
        self,
        limit: int,
        after_seq: int | None = None,
        before_seq: int | None = None,
        name: str | None = None,
        person_id: int | None = None,
    ) -> list[Event]:
        """Up to `limit` events, newest first, with `after_seq < seq < before_seq`,
        optionally of one name (track or page name) and one person."""
        clauses: list[str] = ["1"]
        params: list[Any] = []
        if after_seq is not None:
            clauses.append("seq > ?")
            params.append(after_seq)
        if before_seq is not None:
            clauses.append("seq < ?")
            params.append(before_seq)
        if name is not None:
            clauses.append("name = ?")
            params.append(name)
        if person_id is not None:
            clauses.append("person_id = ?")
            params.append(person_id)
        rows = self._conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE {' AND '.join(clauses)} "
            "ORDER BY seq DESC LIMIT ?",
            (*params, limit),
        )
        return [_event(r) for r in rows]

    def first_seq_received_since(self, since: int) -> int | None:
        """The lowest `seq` received at or after `since` (ms UTC), by binary search on the
        rowid: receive times grow with insertion order, and `received_at` has no index
        (one would cost every insert)."""
        # Two queries: SQLite answers a lone min() or max() from the rowid b-tree, but
        # both in one query scan the whole table (58 ms on a million events).
        low = self._conn.execute("SELECT min(seq) FROM events").fetchone()[0]
        high = self._conn.execute("SELECT max(seq) FROM events").fetchone()[0]
        if high is None or self._received_at_or_after(high) < since:
            return None
        while low < high:
            middle = (low + high) // 2
            if self._received_at_or_after(middle) >= since:
                high = middle
            else:
                low = middle + 1
        return int(low)

    def _received_at_or_after(self, seq: int) -> int:
        row = self._conn.execute(
            "SELECT received_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1", (seq,)
        ).fetchone()
        return int(row[0])

    def received_buckets(self, from_seq: int, since: int, bucket_ms: int) -> dict[int, int]:
        """Events received at or after `since`, counted per `bucket_ms` bucket (key: the
        bucket's start, ms UTC), among events with `seq >= from_seq`."""
        rows = self._conn.execute(
            "SELECT (received_at - ?) / ?, count(*) FROM events WHERE seq >= ? "
            "AND received_at >= ? GROUP BY 1",
            (since, bucket_ms, from_seq, since),
        )
        return {since + int(r[0]) * bucket_ms: int(r[1]) for r in rows}

    def activity_page(
        self, limit: int, after_id: int | None = None, kinds: Sequence[str] | None = None
    ) -> list[ActivityEntry]:
        """Up to `limit` decisions, newest first, above `after_id`, optionally of some kinds."""
        clauses: list[str] = ["1"]
        params: list[Any] = []
        if after_id is not None:
            clauses.append("id > ?")
            params.append(after_id)
        if kinds:
            # `+kind`: walk the log newest first and stop at the limit, rather than
            # gather every row of these kinds from the (kind, at) index and sort them.
            clauses.append(f"+kind IN ({','.join('?' * len(kinds))})")
            params += list(kinds)
        rows = self._conn.execute(
            f"SELECT {_ACTIVITY_COLUMNS} FROM activity WHERE {' AND '.join(clauses)} "
            "ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [_entry(r) for r in rows]

    def last_activity_id(self) -> int:
        """The latest activity row id (0 when the log is empty)."""
        return int(self._conn.execute("SELECT coalesce(max(id), 0) FROM activity").fetchone()[0])

    def kind_counts_since(self, kinds: Sequence[str], since: int) -> dict[str, int]:
        """Per decision kind, how many were taken at or after `since` (ms UTC)."""
        marks = ",".join("?" * len(kinds))
        rows = self._conn.execute(
            f"SELECT kind, count(*) FROM activity WHERE kind IN ({marks}) AND at >= ? "
            "GROUP BY kind",
            (*kinds, since),
        )
        return {r[0]: int(r[1]) for r in rows}

    def due_counts(self, now: int) -> tuple[int, int]:
        """(journeys due, deliveries due) at `now` (ms UTC)."""
        journeys = self._conn.execute(
            "SELECT count(*) FROM journeys WHERE state = 'active' AND next_due_at <= ?", (now,)
        ).fetchone()[0]
        deliveries = self._conn.execute(
            "SELECT count(*) FROM deliveries WHERE state IN ('queued', 'limited') "
            "AND next_attempt_at <= ?",
            (now,),
        ).fetchone()[0]
        return int(journeys), int(deliveries)

    def deliveries_page(
        self,
        limit: int,
        before_id: int | None = None,
        state: str | None = None,
        campaign: str | None = None,
    ) -> list[Delivery]:
        """Up to `limit` deliveries, latest first, below `before_id`, optionally of one state
        and one campaign."""
        clauses: list[str] = ["id < ?"]
        params: list[Any] = [before_id if before_id is not None else 2**62]
        if state is not None:
            clauses.append("state = ?")
            params.append(state)
        if campaign is not None:
            clauses.append("campaign_id = ?")
            params.append(campaign)
        rows = self._conn.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE {' AND '.join(clauses)} "
            "ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        return [_delivery(r) for r in rows]

    def delivery_state_counts(self, campaign: str | None = None) -> dict[str, int]:
        """Deliveries per state (tests excluded), of one campaign when `campaign` is given."""
        where, params = "test = 0", []
        if campaign is not None:
            where, params = "test = 0 AND campaign_id = ?", [campaign]
        rows = self._conn.execute(
            f"SELECT state, count(*) FROM deliveries WHERE {where} GROUP BY state", params
        )
        return {r[0]: int(r[1]) for r in rows}
