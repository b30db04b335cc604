"""The API over a real workspace (a file database, an empty campaigns folder, a fixed
clock), reachable in-process (`client`) or over real sockets (`serve`, `serve_tls`).

Database checks go through `Kit.run`, on the thread that owns the API's workspace, so
they read exactly what the API committed.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trustme
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.app import make_api
from app.api.backend import Backend
from app.api.server import ApiServer, serve_in_thread
from app.config import Settings, load_settings
from app.core.clock import FixedClock
from app.core.models import Event, Person
from app.service.workspace import Workspace, open_workspace
from tests.conftest import NOW_MS

T = TypeVar("T")

SITE_ID = "site-1"
API_KEY = "key-1"
WRITE_KEY = "write-1"
CIO_AUTH = {"Authorization": "Basic " + base64.b64encode(b"site-1:key-1").decode()}
SEGMENT_AUTH = {"Authorization": "Basic " + base64.b64encode(b"write-1:").decode()}


@dataclass
class Kit:
    """A running API and ways to look into its database."""

    settings: Settings
    clock: FixedClock
    backend: Backend
    app: FastAPI

    def run(self, work: Callable[[Workspace], T]) -> T:
        """Run `work` on the API's workspace (its own thread)."""
        return self.backend.run(work)

    def events(self) -> list[Event]:
        """Every stored event, in insertion order."""
        return self.run(lambda ws: list(ws.store.events.iter_range()))

    def person(self, external_id: str) -> Person | None:
        """The person with this id, or None."""
        return self.run(lambda ws: ws.store.people.by_external_id(external_id))

    def people(self) -> int:
        """How many people are stored."""
        return self.run(lambda ws: ws.store.people.count())


def make_kit(tmp_path: Path, clock: FixedClock, campaigns: dict[str, str] | None = None) -> Kit:
    """A kit over a fresh database in `tmp_path`; `campaigns` maps file names (under the
    campaigns folder) to their text."""
    folder = tmp_path / "campaigns"
    folder.mkdir(exist_ok=True)
    for name, text in (campaigns or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    settings = load_settings(
        database=tmp_path / "nudge.db",
        campaigns=folder,
        api_site_id=SITE_ID,
        api_keys=[API_KEY, WRITE_KEY],
    )
    backend = Backend(lambda: open_workspace(settings, clock))
    return Kit(settings, clock, backend, make_api(settings, backend, clock, close_backend=False))


@pytest.fixture
def kit(tmp_path: Path, clock: FixedClock) -> Iterator[Kit]:
    k = make_kit(tmp_path, clock)
    yield k
    k.backend.close()


@pytest.fixture
def client(kit: Kit) -> Iterator[TestClient]:
    with TestClient(kit.app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> dict[str, str]:
    """A certificate for 127.0.0.1 signed by the test CA, and the CA bundle."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    key_file = tmp_path / "server.key"
    chain_file = tmp_path / "server.pem"
    ca_file = tmp_path / "ca.pem"
    cert.private_key_pem.write_to_path(str(key_file))
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain_file))
    ca.cert_pem.write_to_path(str(ca_file))
    return {"ssl_certfile": str(chain_file), "ssl_keyfile": str(key_file), "ca": str(ca_file)}


@contextmanager
def serving(app: ASGIApp, tls: dict[str, str] | None = None) -> Iterator[ApiServer]:
    """Serve `app` on 127.0.0.1, a free port, over TLS when `tls` is given."""
    options: dict[str, Any] = {}
    if tls is not None:
        options = {k: v for k, v in tls.items() if k != "ca"}
        options["ssl_version"] = ssl.PROTOCOL_TLS_SERVER
    with serve_in_thread(app, **options) as server:
        yield server


class FailFirst:
    """Test-only middleware: the first request to each listed path is processed, then
    answered 500 (the response was lost), so the client retries something already stored.

    Args:
        app: the API.
        paths: raw paths whose first request fails.
    """

    def __init__(self, app: ASGIApp, paths: set[str]) -> None:
        self.app = app
        self.pending = set(paths)
        self.failed: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path not in self.pending:
            await self.app(scope, receive, send)
            return
        self.pending.discard(path)
        self.failed.append(path)

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                await send({"type": "http.response.body", "body": b'{"code":"lost"}'})

        await self.app(scope, receive, swallow)


__all__ = [
    "API_KEY",
    "CIO_AUTH",
    "NOW_MS",
    "SEGMENT_AUTH",
    "SITE_ID",
    "WRITE_KEY",
    "FailFirst",
    "Kit",
    "make_kit",
    "serving",
]
