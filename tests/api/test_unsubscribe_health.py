"""`/unsubscribe/{token}` (confirmation page, RFC 8058 one-click POST) and `/health`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.clock import FixedClock
from app.core.times import format_instant
from app.core.unsubscribe import make_token
from app.service.outbox import Outbox
from app.service.workspace import Workspace
from tests.api.conftest import NOW_MS, SEGMENT_AUTH, Kit, make_kit

ONBOARD = """\
id: onboard
name: Onboarding
state: active
trigger:
  event: signed_up
re_entry: once
exit: exit_only_at_end
steps:
  - id: hello
    send: {template: hello, subject: "Hello"}
"""


@pytest.fixture
def onboard(tmp_path: Path, clock: FixedClock) -> Iterator[Kit]:
    k = make_kit(
        tmp_path,
        clock,
        {"onboard.yaml": ONBOARD, "templates/hello.html.j2": "<p>Hi</p>\n"},
    )
    yield k
    k.backend.close()


def _token(ws: Workspace) -> str:
    [delivery] = ws.store.deliveries.listing(None, None, 10)
    secret = Outbox(ws.store, ws.engine, ws.settings, mailer=None).secret  # type: ignore[arg-type]
    return make_token(delivery.id, secret)


def _unsubscribed(kit: Kit) -> bool:
    person = kit.person("ann")
    assert person is not None
    return person.unsubscribed


def test_confirm_page_then_one_click_post_both_idempotent(onboard: Kit) -> None:
    with TestClient(onboard.app) as client:
        ops = [
            {"type": "identify", "userId": "ann", "traits": {"email": "ann@example.com"}},
            {"type": "track", "userId": "ann", "event": "signed_up"},
        ]
        assert (
            client.post("/v1/batch", json={"batch": ops}, headers=SEGMENT_AUTH).status_code == 200
        )
        onboard.run(lambda ws: ws.engine.advance(NOW_MS))
        token = onboard.run(_token)

        for _ in range(2):  # GET only shows the page: scanners fetch links
            page = client.get(f"/unsubscribe/{token}")
            assert page.status_code == 200 and 'method="post"' in page.text
            assert "ann@example.com" in page.text
        assert not _unsubscribed(onboard)

        for _ in range(2):
            done = client.post(
                f"/unsubscribe/{token}",
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            assert done.status_code == 200 and "Unsubscribed" in done.text
        assert _unsubscribed(onboard)
        activity = onboard.run(lambda ws: ws.store.activity.latest(100))
        assert [a.kind for a in activity].count("person.unsubscribed") == 1

        after = client.get(f"/unsubscribe/{token}")
        assert after.status_code == 200 and 'method="post"' not in after.text


def test_an_invalid_token_is_404_and_changes_nothing(onboard: Kit) -> None:
    with TestClient(onboard.app) as client:
        client.post(
            "/v1/batch",
            json={
                "batch": [{"type": "identify", "userId": "ann", "traits": {"email": "a@x.test"}}]
            },
            headers=SEGMENT_AUTH,
        )
        before = onboard.run(lambda ws: len(ws.store.activity.latest(100)))
        forged = "1.AAAAAAAAAAAAAAAAAAAAAA"
        for token in (forged, "nonsense", "1", "0.x"):
            assert client.get(f"/unsubscribe/{token}").status_code == 404
            assert client.post(f"/unsubscribe/{token}").status_code == 404
        assert not _unsubscribed(onboard)
        assert onboard.run(lambda ws: len(ws.store.activity.latest(100))) == before


def test_health_before_any_scheduler(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "database": "ok",
        "scheduler": {
            "holder": None,
            "sending": False,
            "lease_expires_at": None,
            "last_tick_at": None,
        },
    }


def test_health_names_the_lease_holder_and_its_last_tick(client: TestClient, kit: Kit) -> None:
    def hold(ws: Workspace) -> None:
        with ws.store.transaction():
            assert ws.store.lease.acquire("box:42", NOW_MS - 5_000, 60_000)
            ws.store.lease.mark_tick("box:42", NOW_MS - 5_000)

    kit.run(hold)
    scheduler = client.get("/health").json()["scheduler"]
    assert scheduler == {
        "holder": "box:42",
        "sending": True,
        "lease_expires_at": format_instant(NOW_MS - 5_000 + 60_000),
        "last_tick_at": format_instant(NOW_MS - 5_000),
    }
    kit.clock.advance(60_000)  # the lease lapsed 5 s ago
    assert client.get("/health").json()["scheduler"]["sending"] is False
