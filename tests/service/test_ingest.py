"""Ingest semantics, one rule per test. Expected values follow from the rule as stated."""

from __future__ import annotations

from typing import Any

from app.service.ingest import Ingestor
from app.store import Store
from tests.conftest import NOW_MS

DAY = 86_400_000
T0 = 1_790_000_000_000  # 2026-09-21T14:13:20Z, earlier than NOW_MS


def track(user: str | None, name: str, ts: int | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"type": "track", "event": name, **extra}
    if user is not None:
        op["userId"] = user
    if ts is not None:
        op["timestamp"] = ts
    return op


def identify(
    user: str | None, traits: dict[str, Any], ts: int | None = None, **extra: Any
) -> dict[str, Any]:
    op: dict[str, Any] = {"type": "identify", "traits": traits, **extra}
    if user is not None:
        op["userId"] = user
    if ts is not None:
        op["timestamp"] = ts
    return op


def cio(action: str, identifiers: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"type": "person", "action": action, **extra}
    if identifiers is not None:
        op["identifiers"] = identifiers
    return op


# -- identify ---------------------------------------------------------------------------


def test_identify_merges_attributes(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply([identify("u1", {"plan": "trial", "seats": 1}, T0)])
    ingestor.apply([identify("u1", {"seats": 3, "company": "Acme"}, T0 + 1000)])
    person = store.people.by_external_id("u1")
    assert person is not None
    assert person.attributes == {"plan": "trial", "seats": 3, "company": "Acme"}
    assert person.updated_at == T0 + 1000


def test_identify_null_removes_attribute(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply([identify("u1", {"plan": "trial", "coupon": "X1"}, T0)])
    ingestor.apply([identify("u1", {"coupon": None}, T0 + 1)])
    person = store.people.by_external_id("u1")
    assert person is not None and person.attributes == {"plan": "trial"}


def test_older_timestamp_update_loses_per_attribute(ingestor: Ingestor, store: Store) -> None:
    # The update made at T0+2d arrives first; the one made at T0+1d arrives later and
    # must lose for `plan` but still set `color`, which nothing newer has touched.
    ingestor.apply([identify("u1", {"plan": "pro", "_timestamp": (T0 + 2 * DAY) // 1000})])
    ingestor.apply(
        [identify("u1", {"plan": "trial", "color": "red", "_timestamp": (T0 + DAY) // 1000})]
    )
    person = store.people.by_external_id("u1")
    assert person is not None
    assert person.attributes == {"plan": "pro", "color": "red"}
    assert person.attribute_times == {"plan": T0 + 2 * DAY, "color": T0 + DAY}


def test_older_null_does_not_remove_newer_value(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply([identify("u1", {"plan": "pro"}, T0 + DAY)])
    ingestor.apply([identify("u1", {"plan": None}, T0)])
    person = store.people.by_external_id("u1")
    assert person is not None and person.attributes == {"plan": "pro"}


def test_update_only_never_creates(ingestor: Ingestor, store: Store) -> None:
    report = ingestor.apply([cio("identify", {"id": "ghost"}, attributes={"a": 1}, _update=True)])
    assert store.people.count() == 0
    assert report.applied == 0
    assert [p.index for p in report.skipped] == [0]
    # ...but it does update someone who exists.
    ingestor.apply([identify("u1", {"a": 1}, T0)])
    ingestor.apply(
        [cio("identify", {"id": "u1"}, attributes={"a": 2, "_update": True}, timestamp=T0 + 1)]
    )
    person = store.people.by_external_id("u1")
    assert person is not None and person.attributes == {"a": 2}


def test_email_matches_case_insensitively(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply(
        [cio("identify", {"email": "Ann@Example.com"}, attributes={"a": 1}, timestamp=T0)]
    )
    ingestor.apply(
        [cio("identify", {"email": "ann@example.COM"}, attributes={"b": 2}, timestamp=T0 + 1)]
    )
    assert store.people.count() == 1
    person = store.people.by_email("ANN@EXAMPLE.COM")
    assert person is not None
    # The second identify named the same address in other case: not a change of email.
    assert person.email == "Ann@Example.com"
    assert person.attributes == {"email": "Ann@Example.com", "a": 1, "b": 2}


def test_id_claims_a_person_known_by_email(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply([cio("identify", {"email": "bo@example.com"}, attributes={}, timestamp=T0)])
    ingestor.apply(
        [cio("identify", {"id": "u9", "email": "bo@example.com"}, attributes={}, timestamp=T0 + 1)]
    )
    assert store.people.count() == 1
    person = store.people.by_external_id("u9")
    assert person is not None and person.email == "bo@example.com"


def test_email_of_another_person_is_rejected(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply([identify("u1", {"email": "a@example.com"}, T0), identify("u2", {}, T0)])
    report = ingestor.apply([identify("u2", {"email": "A@example.com", "x": 1}, T0 + 1)])
    assert [p.index for p in report.rejected] == [0]
    assert "already belongs" in report.rejected[0].reason
    u2 = store.people.by_external_id("u2")
    assert u2 is not None and u2.attributes == {}
    assert store.events.counts_by_type() == {"identify": 2}


# -- track and page ---------------------------------------------------------------------


def test_track_trims_name_defaults_timestamp_and_creates_person(
    ingestor: Ingestor, store: Store
) -> None:
    ingestor.apply([track("u1", "  signed_up \n")])
    [event] = list(store.events.iter_range())
    assert event.name == "signed_up"
    assert event.timestamp == NOW_MS  # no timestamp: the received time
    assert event.received_at == NOW_MS
    person = store.people.by_external_id("u1")
    assert person is not None and event.person_id == person.id
    assert person.created_at == NOW_MS


def test_repeated_dedupe_key_is_a_successful_no_op(ingestor: Ingestor, store: Store) -> None:
    first = ingestor.apply([track("u1", "a", T0, messageId="m-1")])
    second = ingestor.apply(
        [track("u1", "a", T0, messageId="m-1"), cio("event", {"id": "u1"}, name="b", id="m-1")]
    )
    assert (first.applied, first.duplicates) == (1, 0)
    assert (second.applied, second.duplicates, second.rejected) == (0, 2, [])
    assert store.events.count() == 1


def test_page_takes_name_or_url(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply(
        [
            {"type": "page", "userId": "u1", "name": "Pricing", "timestamp": T0},
            cio("page", {"id": "u1"}, name="https://example.com/docs", timestamp=T0 + 1),
            {"type": "page", "userId": "u1", "properties": {"url": "https://example.com/x"}},
        ]
    )
    names = [(e.type, e.name) for e in store.events.iter_range()]
    assert names == [
        ("page", "Pricing"),
        ("page", "https://example.com/docs"),
        ("page", "https://example.com/x"),
    ]


def test_anonymous_events_join_person_on_identify_within_30_days(
    ingestor: Ingestor, store: Store
) -> None:
    identify_at = T0 + 40 * DAY
    ingestor.apply(
        [
            {
                "type": "track",
                "anonymousId": "a1",
                "event": "too_old",
                "timestamp": identify_at - 31 * DAY,
            },
            {
                "type": "track",
                "anonymousId": "a1",
                "event": "recent",
                "timestamp": identify_at - 29 * DAY,
            },
            {
                "type": "track",
                "anonymousId": "other",
                "event": "not_mine",
                "timestamp": identify_at - DAY,
            },
        ]
    )
    ingestor.apply([identify("u1", {"email": "u1@example.com"}, identify_at, anonymousId="a1")])
    person = store.people.by_external_id("u1")
    assert person is not None
    owners = {e.name: e.person_id for e in store.events.iter_range()}
    assert owners == {"too_old": None, "recent": person.id, "not_mine": None, None: person.id}
    # First seen moves back to the earliest activity now attached.
    assert person.created_at == identify_at - 29 * DAY


def test_anonymous_association_inside_one_batch(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply(
        [
            {"type": "track", "anonymousId": "a1", "event": "viewed", "timestamp": T0},
            identify("u1", {}, T0 + 1000, anonymousId="a1"),
        ]
    )
    person = store.people.by_external_id("u1")
    assert person is not None
    assert [e.person_id for e in store.events.iter_range()] == [person.id, person.id]


# -- delete, suppress, merge ------------------------------------------------------------


def test_delete_removes_person_and_their_events(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply([identify("u1", {"a": 1}, T0), track("u1", "x", T0), track("u2", "y", T0)])
    report = ingestor.apply([cio("delete", {"id": "u1"}, timestamp=T0 + 1)])
    assert report.applied == 1
    assert store.people.by_external_id("u1") is None
    kinds = [(e.type, e.name) for e in store.events.iter_range()]
    assert kinds == [("track", "y"), ("delete", None)]
    assert [a.kind for a in store.activity.latest()] == ["person.deleted"]


def test_a_new_person_never_gets_the_id_of_someone_deleted_or_merged_away(
    ingestor: Ingestor, store: Store
) -> None:
    # Deliveries and decisions keep a deleted person's id: a newcomer given the same id
    # would inherit them (their message limit, their log).
    ingestor.apply([identify("u1", {}, T0), identify("u2", {}, T0), identify("u3", {}, T0)])
    ids = {u: store.people.by_external_id(u).id for u in ("u1", "u2", "u3")}  # type: ignore[union-attr]
    assert sorted(ids.values()) == [1, 2, 3]
    ingestor.apply([cio("delete", {"id": "u3"}, timestamp=T0 + 1)])
    ingestor.apply([identify("u4", {}, T0 + 2)])
    assert store.people.by_external_id("u4").id == 4  # type: ignore[union-attr]
    merge = {"type": "person", "action": "merge", "primary": {"id": "u1"},
             "secondary": {"id": "u4"}, "timestamp": T0 + 3}  # fmt: skip
    assert ingestor.apply([merge]).applied == 1
    ingestor.apply([identify("u5", {}, T0 + 4)])
    assert store.people.by_external_id("u5").id == 5  # type: ignore[union-attr]


def test_delete_of_nobody_is_skipped(ingestor: Ingestor, store: Store) -> None:
    report = ingestor.apply([cio("delete", {"id": "nobody"})])
    # Nothing to delete, but the operation itself is kept in the log.
    assert (report.applied, len(report.skipped), store.people.count()) == (0, 1, 0)
    assert [e.type for e in store.events.iter_range()] == ["delete"]


def test_suppressed_identifier_stays_out_until_unsuppressed(
    ingestor: Ingestor, store: Store
) -> None:
    ingestor.apply([identify("u1", {"email": "s@example.com"}, T0)])
    ingestor.apply([cio("suppress", {"id": "u1"}, timestamp=T0 + 1)])
    assert store.people.count() == 0
    # Both identifiers of the suppressed person stay out.
    back = ingestor.apply(
        [identify("u1", {"a": 1}, T0 + 2), cio("event", {"email": "S@example.com"}, name="x")]
    )
    assert (back.applied, len(back.skipped)) == (0, 2)
    assert store.people.count() == 0
    ingestor.apply([cio("unsuppress", {"id": "u1"}, timestamp=T0 + 3)])
    again = ingestor.apply([identify("u1", {"a": 1}, T0 + 4)])
    assert again.applied == 1
    assert store.people.count() == 1


def test_merge_moves_secondary_into_primary(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply(
        [
            identify("p", {"plan": "pro", "name": "Pat"}, T0 + DAY),
            cio(
                "identify",
                {"email": "pat@example.com"},
                attributes={"plan": "trial", "city": "Oslo"},
                timestamp=T0,
            ),
            cio("event", {"email": "pat@example.com"}, name="viewed", timestamp=T0),
        ]
    )
    report = ingestor.apply(
        [
            {
                "type": "person",
                "action": "merge",
                "primary": {"id": "p"},
                "secondary": {"email": "pat@example.com"},
            }
        ]
    )
    assert report.applied == 1
    assert store.people.count() == 1
    person = store.people.by_external_id("p")
    assert person is not None
    # Primary's attributes win; secondary fills the gaps, email included.
    assert person.attributes == {
        "plan": "pro",
        "name": "Pat",
        "city": "Oslo",
        "email": "pat@example.com",
    }
    assert person.email == "pat@example.com"
    assert person.created_at == T0
    assert {e.person_id for e in store.events.iter_range()} == {person.id}


# -- batches and bad input --------------------------------------------------------------


def test_bad_operations_are_rejected_with_index_and_the_rest_applies(
    ingestor: Ingestor, store: Store
) -> None:
    report = ingestor.apply(
        [
            track("u1", "ok_1", T0),
            {"type": "track", "userId": "u1"},  # no event name
            {"type": "identify", "traits": {"plan": "x"}},  # no identifier
            {"type": "track", "userId": "u1", "event": "big", "properties": {"blob": "x" * 40_000}},
            "not an object",
            {"type": "alias", "userId": "u1"},
            track("u1", "bad_time", timestamp="yesterday"),
            track("u1", "ok_2", T0 + 1),
        ]
    )
    assert report.applied == 2
    assert [p.index for p in report.rejected] == [1, 2, 3, 4, 5, 6]
    reasons = [p.reason for p in report.rejected]
    assert "no name" in reasons[0]
    assert "userId or an email" in reasons[1]
    assert "limit is 32768" in reasons[2]
    assert [e.name for e in store.events.iter_range()] == ["ok_1", "ok_2"]


def test_naive_iso_timestamp_is_rejected(ingestor: Ingestor, store: Store) -> None:
    report = ingestor.apply([track("u1", "x", timestamp="2026-01-01T10:00:00")])
    assert "no time zone" in report.rejected[0].reason
    assert store.events.count() == 0


def test_iso_and_seconds_timestamps_agree(ingestor: Ingestor, store: Store) -> None:
    ingestor.apply(
        [
            track("u1", "iso", timestamp="2026-10-01T09:00:00.250+02:00"),
            cio("event", {"id": "u1"}, name="secs", timestamp=1790838000.25),
        ]
    )
    # 09:00:00.250 at +02:00 is 07:00:00.250Z = 1790838000250 ms.
    assert [e.timestamp for e in store.events.iter_range()] == [1790838000250, 1790838000250]


def test_a_timestamp_beyond_year_9999_rejects_only_its_operation(
    ingestor: Ingestor, store: Store
) -> None:
    report = ingestor.apply(
        [
            track("u1", "huge", timestamp=1e300),
            identify("u1", {"plan": "x", "_timestamp": 1e300}, T0),
            track("u1", "ok", T0),
        ]
    )
    assert [p.index for p in report.rejected] == [0, 1]
    assert [e.name for e in store.events.iter_range()] == ["ok"]
