"""The Track API in-process: shapes, answers, limits and bad input (nothing stored)."""

from __future__ import annotations

import base64
import gzip

import orjson
from fastapi.testclient import TestClient

from app.core.operations import MAX_OPERATION_BYTES
from tests.api.conftest import CIO_AUTH, NOW_MS, SEGMENT_AUTH, Kit


def test_segment_track_lands_as_a_person_and_an_event(client: TestClient, kit: Kit) -> None:
    r = client.post(
        "/v1/track",
        json={
            "userId": "u1",
            "event": "  signed_up ",
            "properties": {"plan": "trial"},
            "timestamp": "2026-10-31T12:00:00Z",
            "messageId": "m-1",
        },
        headers=SEGMENT_AUTH,
    )
    assert r.status_code == 200 and r.json() == {"success": True}
    [event] = kit.events()
    assert (event.type, event.name, event.user_id, event.properties) == (
        "track",
        "signed_up",
        "u1",
        {"plan": "trial"},
    )
    # 2026-10-31T12:00Z is 12 hours before the clock's 2026-11-01T00:00Z.
    assert event.timestamp == NOW_MS - 12 * 3_600_000
    assert event.received_at == NOW_MS
    assert event.dedupe_key == "m-1"
    assert kit.person("u1") is not None


def test_a_repeated_message_id_is_a_success_that_stores_nothing(
    client: TestClient, kit: Kit
) -> None:
    body = {"userId": "u1", "event": "e", "messageId": "same"}
    first = client.post("/v1/track", json=body, headers=SEGMENT_AUTH)
    again = client.post("/v1/track", json=body, headers=SEGMENT_AUTH)
    assert first.json() == {"success": True}
    assert again.status_code == 200 and again.json() == {"success": True, "duplicate": True}
    assert len(kit.events()) == 1


def test_write_key_in_the_body_authorises_a_segment_call(client: TestClient, kit: Kit) -> None:
    r = client.post("/v1/identify", json={"userId": "u1", "writeKey": "write-1", "traits": {}})
    assert r.status_code == 200
    assert kit.person("u1") is not None


def test_identify_reads_context_traits_under_traits(client: TestClient, kit: Kit) -> None:
    body = {
        "userId": "u1",
        "context": {"traits": {"email": "Ann@Example.com", "plan": "trial", "age": 30}},
        "traits": {"plan": "pro"},
    }
    assert client.post("/v1/identify", json=body, headers=SEGMENT_AUTH).status_code == 200
    person = kit.person("u1")
    assert person is not None
    assert person.email == "Ann@Example.com"
    # `traits` wins over `context.traits` for a key in both.
    assert person.attributes == {"email": "Ann@Example.com", "plan": "pro", "age": 30}


def test_gzip_body_is_read(client: TestClient, kit: Kit) -> None:
    raw = orjson.dumps({"batch": [{"type": "track", "userId": "u1", "event": "e"}]})
    r = client.post(
        "/v1/batch",
        content=gzip.compress(raw),
        headers={**SEGMENT_AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["applied"] == 1
    assert [e.name for e in kit.events()] == ["e"]


def test_a_rejected_operation_in_a_batch_is_reported_by_index_and_the_rest_applies(
    client: TestClient, kit: Kit
) -> None:
    batch = [
        {"type": "track", "userId": "u1", "event": "one"},
        {"type": "track", "userId": "u1"},  # no event name
        {"type": "bogus", "userId": "u1"},
        {"type": "track", "userId": "u1", "event": "big", "properties": {"x": "y" * 40_000}},
        {"type": "group", "userId": "u1", "groupId": "g"},
        {"type": "track", "userId": "u1", "event": "two"},
    ]
    r = client.post("/v1/batch", json={"batch": batch}, headers=SEGMENT_AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["applied"] == 2 and body["duplicates"] == 0
    assert [(e["index"], e["code"]) for e in body["errors"]] == [
        (1, "invalid_operation"),
        (2, "invalid_operation"),
        (3, "too_large"),
    ]
    assert "event" in body["errors"][0]["message"]
    assert "'bogus'" in body["errors"][1]["message"]
    assert [s["index"] for s in body["skipped"]] == [4]
    assert [e.name for e in kit.events()] == ["one", "two"]


def test_customerio_v1_event_and_page(client: TestClient, kit: Kit) -> None:
    r1 = client.post(
        "/api/v1/customers/c1/events",
        json={"name": "purchase", "data": {"total": 12}, "id": "ev-1", "timestamp": 1_793_400_000},
        headers=CIO_AUTH,
    )
    r2 = client.post(
        "/api/v1/customers/c1/events",
        json={"name": "/pricing", "type": "page", "data": {}},
        headers=CIO_AUTH,
    )
    assert (r1.status_code, r2.status_code) == (200, 200)
    track, page = kit.events()
    assert (track.type, track.name, track.properties, track.dedupe_key) == (
        "track",
        "purchase",
        {"total": 12},
        "ev-1",
    )
    assert track.timestamp == 1_793_400_000 * 1000  # Customer.io sends Unix seconds
    assert (page.type, page.name, page.timestamp) == ("page", "/pricing", NOW_MS)


def test_delete_carries_an_empty_json_body(client: TestClient, kit: Kit) -> None:
    client.put("/api/v1/customers/c1", json={"plan": "trial"}, headers=CIO_AUTH)
    r = client.request("DELETE", "/api/v1/customers/c1", json={}, headers=CIO_AUTH)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert kit.person("c1") is None


def test_a_slash_inside_an_id_stays_in_the_id(client: TestClient, kit: Kit) -> None:
    r = client.put("/api/v1/customers/team%2Fann", json={"plan": "pro"}, headers=CIO_AUTH)
    assert r.status_code == 200
    assert kit.person("team/ann") is not None
    r = client.post("/api/v1/customers/team%2Fann/events", json={"name": "x"}, headers=CIO_AUTH)
    assert r.status_code == 200
    assert [e.user_id for e in kit.events()] == ["team/ann", "team/ann"]


# -- bad input: the documented 4xx, nothing stored -----------------------------------------


def _nothing_stored(kit: Kit) -> None:
    assert kit.events() == [] and kit.people() == 0


def test_wrong_auth_is_401(client: TestClient, kit: Kit) -> None:
    wrong_key = "Basic " + base64.b64encode(b"site-1:nope").decode()
    wrong_site = "Basic " + base64.b64encode(b"site-2:key-1").decode()
    for headers in ({}, {"Authorization": wrong_key}, {"Authorization": wrong_site}):
        r = client.put("/api/v1/customers/c1", json={"a": 1}, headers=headers)
        assert r.status_code == 401
        assert r.json()["code"] == "unauthorized" and r.json()["message"]
    r = client.post("/v1/track", json={"userId": "u", "event": "e", "writeKey": "nope"})
    assert r.status_code == 401
    bearer = {"Authorization": "Bearer write-1"}
    assert (
        client.post("/v1/track", json={"userId": "u", "event": "e"}, headers=bearer).status_code
        == 401
    )
    _nothing_stored(kit)


def test_malformed_json_is_400(client: TestClient, kit: Kit) -> None:
    for path, headers in (("/v1/batch", SEGMENT_AUTH), ("/api/v2/batch", CIO_AUTH)):
        r = client.post(path, content=b'{"batch": [', headers=headers)
        assert r.status_code == 400 and r.json()["code"] == "invalid_json"
    r = client.post("/v1/track", content=b"[1, 2]", headers=SEGMENT_AUTH)
    assert r.status_code == 400 and r.json()["code"] == "invalid_json"
    bad_gzip = {**SEGMENT_AUTH, "Content-Encoding": "gzip"}
    r = client.post("/v1/track", content=b"not gzip", headers=bad_gzip)
    assert r.status_code == 400 and r.json()["code"] == "invalid_gzip"
    _nothing_stored(kit)


def test_a_40_kb_event_is_413(client: TestClient, kit: Kit) -> None:
    big = {"x": "y" * 40 * 1024}
    r = client.post(
        "/v1/track", json={"userId": "u", "event": "e", "properties": big}, headers=SEGMENT_AUTH
    )
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert str(MAX_OPERATION_BYTES) in r.json()["message"]
    r = client.post(
        "/api/v1/customers/c1/events", json={"name": "e", "data": big}, headers=CIO_AUTH
    )
    assert r.status_code == 413
    # A batch whose only operation is too large stored nothing: 413 with its index.
    op = {
        "type": "person",
        "action": "event",
        "identifiers": {"id": "c"},
        "name": "e",
        "attributes": big,
    }
    r = client.post("/api/v2/batch", json={"batch": [op]}, headers=CIO_AUTH)
    assert r.status_code == 413 and r.json()["errors"][0]["index"] == 0
    _nothing_stored(kit)


def test_a_600_kb_batch_is_413(client: TestClient, kit: Kit) -> None:
    # 30 events of 20 KB each: every one is under 32 KB, the request is over 500 KB.
    batch = [
        {"type": "track", "userId": "u", "event": "e", "properties": {"x": "y" * 20_000}}
        for _ in range(30)
    ]
    raw = orjson.dumps({"batch": batch})
    assert len(raw) > 600 * 1000
    r = client.post("/v1/batch", content=raw, headers=SEGMENT_AUTH)
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    # Gzipped it is small on the wire, and still refused once inflated past 500 KB.
    gz = {**SEGMENT_AUTH, "Content-Encoding": "gzip"}
    r = client.post("/v1/batch", content=gzip.compress(raw), headers=gz)
    assert r.status_code == 413
    _nothing_stored(kit)


def test_an_unknown_type_is_400(client: TestClient, kit: Kit) -> None:
    r = client.post(
        "/api/v2/entity", json={"type": "object", "action": "identify"}, headers=CIO_AUTH
    )
    assert r.status_code == 400 and "'object'" in r.json()["message"]
    r = client.post(
        "/v1/batch", json={"batch": [{"type": "bogus", "userId": "u"}]}, headers=SEGMENT_AUTH
    )
    assert r.status_code == 400 and r.json()["field"] == "batch[0]"
    r = client.post(
        "/api/v1/customers/c1/events", json={"name": "e", "type": "email"}, headers=CIO_AUTH
    )
    assert r.status_code == 400 and "'email'" in r.json()["message"]
    r = client.post("/v1/batch", json={"batch": "nope"}, headers=SEGMENT_AUTH)
    assert r.status_code == 400 and r.json()["field"] == "batch"
    _nothing_stored(kit)


def test_no_traceback_for_an_unknown_route_or_method(client: TestClient) -> None:
    r = client.get("/api/v1/customers/c1", headers=CIO_AUTH)
    assert r.status_code == 405 and set(r.json()) == {"code", "message"}
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_an_unexpected_error_is_a_json_500_without_traceback(kit: Kit) -> None:
    @kit.app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(kit.app, raise_server_exceptions=False) as client:
        r = client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"code": "internal_error", "message": "unexpected RuntimeError"}


def test_segment_alias_from_an_anonymous_id_gives_its_events_to_the_user(
    client: TestClient, kit: Kit
) -> None:
    # Segment's usual alias: anonymous -> known. No person has anon-1 as id.
    page = {"anonymousId": "anon-1", "name": "Pricing", "timestamp": "2026-10-31T10:00:00Z"}
    assert client.post("/v1/page", json=page, headers=SEGMENT_AUTH).json() == {"success": True}
    alias = {"previousId": "anon-1", "userId": "u-1", "timestamp": "2026-10-31T12:00:00Z"}
    r = client.post("/v1/alias", json=alias, headers=SEGMENT_AUTH)
    assert r.status_code == 200 and r.json() == {"success": True}
    person = kit.person("u-1")
    assert person is not None
    [viewed] = [e for e in kit.events() if e.type == "page"]
    assert viewed.person_id == person.id
    # The person was first seen when the anonymous page view happened, 14 h before now.
    assert person.created_at == NOW_MS - 14 * 3_600_000
    assert kit.people() == 1


def test_segment_alias_of_a_known_person_still_merges(client: TestClient, kit: Kit) -> None:
    for uid in ("old", "new"):
        client.post("/v1/track", json={"userId": uid, "event": "e"}, headers=SEGMENT_AUTH)
    r = client.post("/v1/alias", json={"previousId": "old", "userId": "new"}, headers=SEGMENT_AUTH)
    assert r.json() == {"success": True}
    assert kit.person("old") is None and kit.people() == 1
    new = kit.person("new")
    assert new is not None
    assert {e.person_id for e in kit.events() if e.type == "track"} == {new.id}
