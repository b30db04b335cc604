"""`IndexedSegmentsRepo` (the simulator's scratch store) answers the two instant scans
exactly as the plain `SegmentsRepo` does, through inserts, updates, deletes and a
rolled-back savepoint."""

from __future__ import annotations

import random

from app.core.models import Person
from app.store import Store, write_transaction
from app.store.instant_index import IndexedSegmentsRepo
from app.store.segments import SegmentsRepo

NOW = 1_793_491_200_000  # 2026-11-01T00:00:00Z
DAY = 86_400_000


def _value(rnd: random.Random) -> object:
    """An attribute value: ISO texts with zones, Unix seconds and ms, numeric texts, and
    things that are no time at all."""
    at = NOW + rnd.randint(-20, 20) * DAY + rnd.randint(0, DAY)
    kind = rnd.randrange(8)
    if kind == 0:
        month, day, hour = rnd.randint(10, 12), rnd.randint(1, 28), rnd.randint(0, 9)
        return f"2026-{month:02d}-{day:02d}T0{hour}:00:00Z"
    if kind == 1:
        return f"2026-11-0{rnd.randint(1, 9)}T12:00:00+{rnd.randint(0, 23):02d}:30"
    if kind == 2:
        return at // 1000
    if kind == 3:
        return at
    if kind == 4:
        return str(at // 1000)
    if kind == 5:
        return rnd.choice([True, None, "soon", [1], {"a": 1}, "2026-13-45T00:00:00Z"])
    return at / 1000


def _person(rnd: random.Random, pid: int) -> Person:
    attributes: dict[str, object] = {"plan": "trial"}
    for name in ("trial_ends_at", "created_at"):
        if rnd.random() < 0.8:
            attributes[name] = _value(rnd)
    first = NOW + rnd.randint(-20, 20) * DAY
    return Person(pid, f"p{pid}", None, attributes, {}, first, first)


def _windows(rnd: random.Random) -> list[tuple[int, int]]:
    windows = [(-(2**62), 2**62)]
    for _ in range(12):
        low = NOW + rnd.randint(-22, 22) * DAY + rnd.randint(0, DAY)
        windows.append((low, low + rnd.choice([0, 3_600_000, DAY, 5 * DAY])))
    return windows


def test_the_index_answers_as_the_scans_do_through_every_kind_of_write() -> None:
    rnd = random.Random(11)
    store = Store.open(":memory:")
    indexed = IndexedSegmentsRepo(store.db)
    plain = SegmentsRepo(store.db)
    next_id = 1

    def agree() -> None:
        for low, high in _windows(rnd):
            for path in ("trial_ends_at", "created_at", "plan"):
                assert indexed.attribute_instant_between(path, low, high) == (
                    plain.attribute_instant_between(path, low, high)
                )
            assert indexed.known_since_between(low, high) == plain.known_since_between(low, high)

    for round_ in range(6):
        with write_transaction(store.db):
            fresh = [_person(rnd, next_id + i) for i in range(150)]
            next_id += len(fresh)
            store.people.insert_many(fresh)
            ids = list(range(1, next_id))
            changed = [_person(rnd, pid) for pid in rnd.sample(ids, 40)]
            store.people.update_many(p for p in changed if store.people.get(p.id))
            for pid in rnd.sample(ids, 10):
                store.people.delete(pid)
            agree()
            if round_ % 2:
                # A savepoint rolled back: its writes and the index's notes of them go.
                try:
                    with write_transaction(store.db):
                        store.people.update_many(
                            p
                            for p in (_person(rnd, pid) for pid in ids[:60])
                            if store.people.get(p.id)
                        )
                        agree()
                        raise RuntimeError("undo")
                except RuntimeError:
                    pass
        agree()
