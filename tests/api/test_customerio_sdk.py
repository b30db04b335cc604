"""Customer.io's own Python client (customerio 3.x) against Nudge over TLS.

The client always speaks HTTPS: the server runs with a certificate from a CA made by
`trustme` in the test, and the client trusts that CA through `REQUESTS_CA_BUNDLE` (the
requests library's own option); the client itself is used as shipped, pointed at
127.0.0.1 by its `host` and `port` arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from customerio import CustomerIO
from customerio.client_base import CustomerIOException

from app.core.clock import FixedClock
from tests.api.conftest import API_KEY, NOW_MS, SITE_ID, FailFirst, Kit, make_kit, serving


@pytest.fixture
def cio(
    kit: Kit, tls_files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[CustomerIO]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files["ca"])
    with serving(kit.app, tls_files) as server:
        client = CustomerIO(SITE_ID, API_KEY, host="127.0.0.1", port=server.port, retries=2)
        yield client
        client.close()


def test_identify_track_page_and_anonymous_events_land(cio: CustomerIO, kit: Kit) -> None:
    cio.track_anonymous("anon-7", "viewed_pricing", {"plan": "pro"}, id="a-1")
    cio.identify("c1", email="Ann@example.com", plan="trial", anonymous_id="anon-7")
    cio.track("c1", "purchase", {"total": 12}, id="t-1", timestamp=1_793_400_000)
    cio.pageview("c1", "/pricing", referrer="ad")
    cio.backfill("c1", "imported", 1_793_300_000, source="csv")

    person = kit.person("c1")
    assert person is not None
    assert person.email == "Ann@example.com"
    assert person.attributes == {"email": "Ann@example.com", "plan": "trial"}
    events = kit.events()
    assert [(e.type, e.name) for e in events] == [
        ("track", "viewed_pricing"),
        ("identify", None),
        ("track", "purchase"),
        ("page", "/pricing"),
        ("track", "imported"),
    ]
    anonymous, _, purchase, page, backfill = events
    # The identify carried the anonymous id: the earlier anonymous event joined c1.
    assert anonymous.person_id == person.id and anonymous.anonymous_id == "anon-7"
    assert (purchase.properties, purchase.dedupe_key) == ({"total": 12}, "t-1")
    assert purchase.timestamp == 1_793_400_000_000
    assert page.properties == {"referrer": "ad"} and page.timestamp == NOW_MS
    assert backfill.timestamp == 1_793_300_000_000


def test_delete_suppress_unsuppress_merge_and_devices(cio: CustomerIO, kit: Kit) -> None:
    cio.identify("gone", plan="x")
    cio.delete("gone")
    assert kit.person("gone") is None

    cio.identify("blocked", plan="x")
    cio.suppress("blocked")
    assert kit.person("blocked") is None
    cio.identify("blocked", plan="y")  # suppressed: answered 200, nothing comes back
    assert kit.person("blocked") is None
    cio.unsuppress("blocked")
    cio.identify("blocked", plan="z")
    back = kit.person("blocked")
    assert back is not None and back.attributes == {"plan": "z"}

    cio.identify("main", plan="pro")
    cio.identify("dup", plan="free", city="Oslo")
    cio.track("dup", "opened_app", id="o-1")
    cio.merge_customers("id", "main", "id", "dup")
    main = kit.person("main")
    assert kit.person("dup") is None and main is not None
    assert main.attributes == {"plan": "pro", "city": "Oslo"}  # the primary's win
    opened = [e for e in kit.events() if e.name == "opened_app"]
    assert [e.person_id for e in opened] == [main.id]

    before = len(kit.events())
    cio.add_device("main", "device-1", "ios", last_used=1_793_400_000)
    cio.delete_device("main", "device-1")
    assert len(kit.events()) == before  # accepted, nothing to store for email


def test_v2_batch_applies_in_one_request(cio: CustomerIO, kit: Kit) -> None:
    cio.batch(
        [
            {
                "type": "person",
                "action": "identify",
                "identifiers": {"id": "b1"},
                "attributes": {"plan": "pro"},
            },
            {
                "type": "person",
                "action": "event",
                "identifiers": {"id": "b1"},
                "name": "login",
                "id": "l-1",
            },
            {
                "type": "person",
                "action": "event",
                "identifiers": {"id": "b2"},
                "name": "login",
                "id": "l-2",
            },
        ]
    )
    assert [(e.type, e.user_id, e.name) for e in kit.events()] == [
        ("identify", "b1", None),
        ("track", "b1", "login"),
        ("track", "b2", "login"),
    ]


def test_ids_with_a_space_a_slash_and_a_non_ascii_letter_round_trip(
    cio: CustomerIO, kit: Kit
) -> None:
    ids = ["ann smith", "team/ann", "zoë", "a b/ç%2F"]
    for cid in ids:
        cio.identify(cid, plan="x")
        cio.track(cid, "hello")
    assert [kit.person(cid) is not None for cid in ids] == [True] * 4
    assert [e.user_id for e in kit.events() if e.type == "track"] == ids
    cio.delete("team/ann")
    assert kit.person("team/ann") is None and kit.person("ann smith") is not None


def test_wrong_api_key_raises_in_the_client_and_stores_nothing(
    kit: Kit, tls_files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files["ca"])
    with serving(kit.app, tls_files) as server:
        client = CustomerIO(SITE_ID, "wrong", host="127.0.0.1", port=server.port)
        with pytest.raises(CustomerIOException, match="401"):
            client.track("c1", "e")
        client.close()
    assert kit.events() == []


def test_a_retried_event_with_an_id_is_stored_once(
    tmp_path: Path, clock: FixedClock, tls_files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first answer is lost (500 after the event was stored); the client retries
    (urllib3 `Retry` on 500) and the event `id` makes the retry a no-op.

    Customer.io v1 identify, delete and events without `id` have no dedupe key: a
    retried identify stores its identify event twice (same attributes, so the person
    is the same), shown below as it is.
    """
    kit = make_kit(tmp_path, clock)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files["ca"])
    paths = {"/api/v1/customers/c1/events", "/api/v1/customers/c1"}
    app = FailFirst(kit.app, paths)
    try:
        with serving(app, tls_files) as server:
            client = CustomerIO(SITE_ID, API_KEY, host="127.0.0.1", port=server.port)
            client.track("c1", "purchase", {"total": 5}, id="p-1")
            client.identify("c1", plan="pro")
            client.close()
        assert sorted(app.failed) == sorted(paths)
        events = kit.events()
        assert [(e.type, e.name) for e in events] == [
            ("track", "purchase"),
            ("identify", None),
            ("identify", None),
        ]
        person = kit.person("c1")
        assert person is not None and person.attributes == {"plan": "pro"}
    finally:
        kit.backend.close()
