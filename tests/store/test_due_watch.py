"""`DueWatch` hands over the earliest due instant written to journeys (active) and
deliveries (queued or limited) since the last take; nothing else."""

from __future__ import annotations

from app.core.models import Delivery, Journey
from app.service.ingest import Ingestor
from app.store import Store
from app.store.due_watch import DueWatch


def _journey(due: int | None, state: str = "active") -> Journey:
    return Journey(0, "c", "v1", 1, "", state, "s1", 0, 0, next_due_at=due)


def test_the_earliest_due_instant_written_since_the_last_take(
    store: Store, ingestor: Ingestor
) -> None:
    ingestor.apply([{"type": "identify", "userId": "a", "traits": {}}])
    watch = DueWatch(store.db)
    assert watch.take() is None
    with store.transaction():
        first = _journey(500)
        first.id = store.journeys.insert(first)
        store.journeys.insert(_journey(700))
    assert watch.take() == 500
    assert watch.take() is None  # taken
    with store.transaction():
        first.next_due_at = 300
        store.journeys.update(first)
        # Not due work: an ended journey, a journey waiting for a change (no instant).
        store.journeys.insert(_journey(100, state="completed"))
        store.journeys.insert(_journey(None))
    assert watch.take() == 300
    with store.transaction():
        held = Delivery("k1", None, 1, "c", "s1", "t", "subject", 0, next_attempt_at=250)
        store.deliveries.queue(held)
        sent = Delivery("k2", None, 1, "c", "s1", "t", "subject", 0, next_attempt_at=50)
        sent.state = "sent"
        store.deliveries.queue(sent)
    assert watch.take() == 250
    with store.transaction():
        held = store.deliveries.by_key("k1")  # type: ignore[assignment]
        held.state, held.next_attempt_at = "limited", 150
        store.deliveries.save(held)
    assert watch.take() == 150
