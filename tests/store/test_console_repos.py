"""The console's read-only repos: keyset pages, receive-time search, catalogue counts,
branch counts, people search. Expected values are worked out from the rows written."""

from __future__ import annotations

from app.core.clock import FixedClock
from app.core.models import Delivery, Journey
from app.service.ingest import Ingestor
from app.store import Store
from app.store.timeline import TOP

MINUTE = 60_000


def _track(ingestor: Ingestor, who: str, name: str, n: int, **props: object) -> None:
    ingestor.apply(
        [{"type": "track", "userId": who, "event": name, "properties": props, "messageId": f"m{n}"}]
    )


def test_events_page_is_newest_first_with_keyset_and_filters(
    store: Store, ingestor: Ingestor
) -> None:
    for n in range(6):
        _track(ingestor, "ann" if n % 2 else "bob", "a" if n < 3 else "b", n)
    assert store.live.last_seq() == 6
    assert [e.seq for e in store.live.events_page(3)] == [6, 5, 4]
    assert [e.seq for e in store.live.events_page(3, before_seq=4)] == [3, 2, 1]
    assert [e.seq for e in store.live.events_page(10, after_seq=4)] == [6, 5]
    assert [e.seq for e in store.live.events_page(10, name="a")] == [3, 2, 1]
    ann = store.people.by_external_id("ann")
    assert ann is not None
    # ann performed the events numbered 1, 3, 5: seqs 2, 4, 6.
    assert [e.seq for e in store.live.events_page(10, person_id=ann.id)] == [6, 4, 2]


def test_first_seq_received_since_finds_the_boundary(store: Store, clock: FixedClock) -> None:
    ingestor = Ingestor(store, clock)
    start = clock.at_ms
    for minute in range(10):
        clock.at_ms = start + minute * MINUTE
        _track(ingestor, "ann", "x", minute)  # seq = minute + 1
    assert store.live.first_seq_received_since(start + 4 * MINUTE) == 5
    assert store.live.first_seq_received_since(start + 4 * MINUTE + 1) == 6
    assert store.live.first_seq_received_since(start) == 1
    assert store.live.first_seq_received_since(start + 10 * MINUTE) is None
    # Buckets of 5 minutes from minute 2: minutes 2-6 hold 5 events, 7-9 hold 3.
    assert store.live.received_buckets(1, start + 2 * MINUTE, 5 * MINUTE) == {
        start + 2 * MINUTE: 5,
        start + 7 * MINUTE: 3,
    }


def test_timeline_pages_follow_their_own_keys(store: Store, ingestor: Ingestor) -> None:
    for n in range(5):
        _track(ingestor, "ann", "x", n)
    ann = store.people.by_external_id("ann")
    assert ann is not None
    first = store.timeline.events_before(ann.id, TOP, 2)
    assert [e.seq for e in first] == [5, 4]
    rest = store.timeline.events_before(ann.id, (first[-1].timestamp, first[-1].seq), 10)
    assert [e.seq for e in rest] == [3, 2, 1]
    assert store.timeline.event_count(ann.id) == 5


def test_people_search_matches_id_email_and_attribute_values_literally(
    store: Store, ingestor: Ingestor
) -> None:
    ingestor.apply(
        [
            {"type": "identify", "userId": "u-1", "traits": {"email": "ann@x.io", "plan": "gold"}},
            {"type": "identify", "userId": "u-2", "traits": {"email": "bob@y.io", "note": "50%"}},
            {"type": "identify", "userId": "u_3", "traits": {"plan": "GOLDEN"}},
        ]
    )
    labels = lambda text: [p.external_id for p in store.timeline.search_people(text, 10)]  # noqa: E731
    assert labels("gold") == ["u-1", "u_3"]  # case-insensitive, attribute values
    assert labels("BOB@") == ["u-2"]
    assert labels("50%") == ["u-2"]  # % is a character here, not a wildcard
    assert labels("u_") == ["u_3"]  # and so is _
    assert labels("") == ["u-1", "u-2", "u_3"]
    assert [p.external_id for p in store.timeline.search_people("", 10, after_id=1)] == [
        "u-2",
        "u_3",
    ]


def test_catalogue_counts_people_and_dates_per_name(store: Store, ingestor: Ingestor) -> None:
    ops = [
        {"type": "track", "userId": "a", "event": "buy", "properties": {"amount": 5},
         "timestamp": "2026-01-01T00:00:00Z", "messageId": "1"},
        {"type": "track", "userId": "a", "event": "buy", "properties": {"amount": "7"},
         "timestamp": "2026-01-03T00:00:00Z", "messageId": "2"},
        {"type": "track", "userId": "b", "event": "buy", "properties": {},
         "timestamp": "2026-01-02T00:00:00Z", "messageId": "3"},
        {"type": "identify", "userId": "b", "traits": {"plan": "x"},
         "timestamp": "2026-01-02T00:00:00Z", "messageId": "4"},
    ]  # fmt: skip
    ingestor.apply(ops)
    found = {(s.type, s.name): s for s in store.catalogue.name_summaries()}
    buy = found[("track", "buy")]
    assert (buy.count, buy.people) == (3, 2)
    assert (buy.first_seen, buy.last_seen) == (1_767_225_600_000, 1_767_398_400_000)
    assert found[("identify", "")].count == 1
    # Newest first by event time: the "7", then {}, then the 5.
    assert store.catalogue.recent_properties("track", "buy", 10) == [
        {"amount": "7"},
        {},
        {"amount": 5},
    ]


def _journey(store: Store, campaign: str, person: int, path: list[str]) -> int:
    return store.journeys.insert(
        Journey(0, campaign, "v1", person, "", "active", path[-1], 0, 0, path=path)
    )


def test_funnel_branch_counts_and_latest_journeys(store: Store, ingestor: Ingestor) -> None:
    ingestor.apply([{"type": "identify", "userId": "a", "traits": {}}])
    with store.transaction():
        ids = [_journey(store, "c", 1, ["s1"]) for _ in range(3)]
        _journey(store, "other", 1, ["s1"])
        store.activity.record(
            [
                (1, 1, "branch.taken", "c", "check", {"path": "then"}),
                (2, 1, "branch.taken", "c", "check", {"path": "then"}),
                (3, 1, "branch.taken", "c", "check", {"path": "else"}),
                (4, 1, "wait.met", "c", "wait", {"path": "did_it"}),
                (5, 1, "wait.timed_out", "c", "wait", {}),
                (6, 1, "branch.taken", "other", "check", {"path": "then"}),
            ]
        )
        store.campaigns.save_version("c", "h1", "state: active", "c.yaml", 10)
        store.campaigns.save_version("c", "h2", "state: paused", "c.yaml", 20)
    assert store.funnels.path_counts("c") == {
        ("check", "then"): 2,
        ("check", "else"): 1,
        ("wait", "did_it"): 1,
        ("wait", "timeout"): 1,
    }
    assert [j.id for j in store.funnels.latest_journeys("c", 2)] == [ids[2], ids[1]]
    assert [j.id for j in store.funnels.latest_journeys("c", 2, before_id=ids[1])] == [ids[0]]
    assert store.funnels.latest_version("c") == ("h2", "state: paused")
    assert store.funnels.latest_version("nope") is None


def test_deliveries_page_filters_and_pages(store: Store) -> None:
    with store.transaction():
        for n, state in enumerate(["sent", "bounced", "sent", "queued"]):
            d = Delivery(f"k{n}", None, 1, "c" if n < 3 else "d", "s", "t", "subj", n)
            store.deliveries.queue(d)
            d.state = state
            store.deliveries.save(d)
    assert [d.id for d in store.live.deliveries_page(10)] == [4, 3, 2, 1]
    assert [d.id for d in store.live.deliveries_page(10, state="sent")] == [3, 1]
    assert [d.id for d in store.live.deliveries_page(10, campaign="d")] == [4]
    assert [d.id for d in store.live.deliveries_page(2, before_id=3)] == [2, 1]
    assert store.live.delivery_state_counts() == {"sent": 2, "bounced": 1, "queued": 1}
    assert store.live.delivery_state_counts("c") == {"sent": 2, "bounced": 1}
    assert store.live.delivery_state_counts("none") == {}
