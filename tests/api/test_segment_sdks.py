"""Segment's (segment-analytics-python) and RudderStack's (rudder-sdk-python) libraries
against Nudge on 127.0.0.1, changing only their host.

Calls run in each client's `sync_mode` (one blocking POST of `/v1/batch` per call),
except the retry tests, which need the background consumer (only it retries) and wait
for it with `flush()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from app.core.clock import FixedClock
from tests.api.conftest import WRITE_KEY, FailFirst, Kit, make_kit, serving


@pytest.fixture
def url(kit: Kit) -> Iterator[str]:
    with serving(kit.app) as server:
        yield f"http://127.0.0.1:{server.port}"


def _segment(url: str, **options: Any) -> SegmentClient:
    return SegmentClient(WRITE_KEY, host=url, sync_mode=True, **options)


def test_segment_calls_land_as_people_and_events(url: str, kit: Kit) -> None:
    client = _segment(url)
    client.track(anonymous_id="anon-1", event="viewed_pricing", properties={"plan": "pro"})
    client.identify("u1", {"email": "ann@example.com", "plan": "trial"}, anonymous_id="anon-1")
    client.track("u1", "signed_up", {"source": "ad"}, message_id="m-1")
    client.page("u1", name="Pricing", properties={"url": "https://x.test/pricing"})
    client.screen("u1", name="Home")
    client.identify("old", {"city": "Oslo"})
    client.track("old", "opened_app")
    client.alias("old", "u1")
    client.group("u1", "acme", {"name": "Acme"})

    person = kit.person("u1")
    assert person is not None and kit.person("old") is None
    assert person.email == "ann@example.com"
    assert person.attributes == {"email": "ann@example.com", "plan": "trial", "city": "Oslo"}
    events = kit.events()
    assert [(e.type, e.name) for e in events] == [
        ("track", "viewed_pricing"),
        ("identify", None),
        ("track", "signed_up"),
        ("page", "Pricing"),
        ("screen", "Home"),
        ("identify", None),
        ("track", "opened_app"),
        ("merge", None),
    ]
    # The anonymous event joined u1 through the identify; the alias moved old's events.
    assert {e.person_id for e in events if e.type != "identify" or e.user_id == "u1"} == {person.id}
    signed_up = events[2]
    assert signed_up.properties == {"source": "ad"} and signed_up.dedupe_key == "m-1"


def test_rudderstack_identify_traits_from_context_and_gzip_bodies(url: str, kit: Kit) -> None:
    client = RudderClient(WRITE_KEY, host=url, sync_mode=True)
    assert client.gzip  # RudderStack's client gzips every request by default
    client.identify("r1", {"email": "rae@example.com", "plan": "pro"})
    client.track("r1", "order_completed", {"total": 30}, message_id="r-m-1")
    client.page("r1", name="Checkout")
    client.screen("r1", name="Cart")
    client.track(anonymous_id="anon-r", event="browsed")
    client.identify("r0", {"plan": "free"})
    client.alias("r0", "r1")
    client.group("r1", "acme", {"name": "Acme"})
    person = kit.person("r1")
    assert person is not None and kit.person("r0") is None
    assert person.email == "rae@example.com"
    assert person.attributes == {"email": "rae@example.com", "plan": "pro"}
    assert [(e.type, e.name) for e in kit.events()] == [
        ("identify", None),
        ("track", "order_completed"),
        ("page", "Checkout"),
        ("screen", "Cart"),
        ("track", "browsed"),
        ("identify", None),
        ("merge", None),
    ]


def test_segment_wrong_write_key_is_refused(url: str, kit: Kit) -> None:
    client = SegmentClient("wrong", host=url, sync_mode=True)
    with pytest.raises(Exception, match="401|unauthorized"):
        client.track("u1", "e")
    assert kit.events() == []


@pytest.mark.parametrize("library", ["segment", "rudderstack"])
def test_a_retried_batch_is_stored_once(library: str, tmp_path: Path, clock: FixedClock) -> None:
    """The first answer is lost (500 after the batch was stored); the consumer retries
    the same batch with the same messageIds, and the retry is a no-op."""
    kit = make_kit(tmp_path, clock)
    app = FailFirst(kit.app, {"/v1/batch"})
    errors: list[Exception] = []
    try:
        with serving(app) as server:
            url = f"http://127.0.0.1:{server.port}"
            options = {"host": url, "on_error": lambda e, _batch: errors.append(e)}
            client: Any = (
                SegmentClient(WRITE_KEY, **options)
                if library == "segment"
                else RudderClient(WRITE_KEY, **options)
            )
            client.identify("u1", {"plan": "pro"})
            client.track("u1", "signed_up", {"plan": "pro"})
            client.flush()
            client.join()
        assert app.failed == ["/v1/batch"] and errors == []
        assert [(e.type, e.name) for e in kit.events()] == [
            ("identify", None),
            ("track", "signed_up"),
        ]
    finally:
        kit.backend.close()


def test_segment_ids_with_a_space_a_slash_and_a_non_ascii_letter_round_trip(
    url: str, kit: Kit
) -> None:
    client = _segment(url)
    ids = ["ann smith", "team/ann", "zoë"]
    for user in ids:
        client.track(user, "hello")
    assert [e.user_id for e in kit.events()] == ids
    assert all(kit.person(user) is not None for user in ids)
