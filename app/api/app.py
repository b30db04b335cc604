"""The ASGI app: `make_api(...)`, used by `nudge serve`, the tests and the bench.

Routes: Customer.io Track API v1/v2 (`customerio.py`), Segment spec (`segment_spec.py`),
unsubscribe pages (`unsubscribe.py`), `/health` (`health.py`). Store work goes through a
`Backend` (one thread owns the workspace):

    backend = Backend(lambda: open_workspace(settings, clock))
    app = make_api(settings, backend, clock)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.auth import Credentials
from app.api.backend import Backend
from app.api.errors import ApiError, install_error_handlers
from app.config import Settings
from app.core.clock import Clock


@dataclass(slots=True)
class ApiState:
    """What every route needs.

    Attributes:
        backend: runs store work on the workspace's thread.
        credentials: accepted site id and keys.
        settings: the workspace settings.
        clock: the time requests are received at (health, unsubscribe).
    """

    backend: Backend
    credentials: Credentials
    settings: Settings
    clock: Clock


def api_state(request: Request) -> ApiState:
    """The `ApiState` of the app serving `request`."""
    state = request.app.state.nudge
    assert isinstance(state, ApiState)
    return state


def path_id(segment: str, name: str = "id") -> str:
    """An id from the path, exactly as the client meant it (see `RawPathRouting`).

    Raises:
        ApiError: 400 when the percent-encoding is not UTF-8, or the id is blank.
    """
    try:
        value = unquote(segment, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_id", f"the {name} in the path is not UTF-8", name) from None
    if not value.strip():
        raise ApiError(400, "invalid_id", f"the {name} in the path is blank", name)
    return value


class RawPathRouting:
    """Route on the raw, still percent-encoded path, so `%2F` inside an id stays in it.

    Servers decode the path before routing, which would split `a%2Fb` into two
    segments. Here the route sees the raw path (pure ASCII), and routes decode each
    path parameter with `path_id`. Customer.io's client percent-encodes every id
    (`quote(id, safe="")`), so a space, a slash and a non-ASCII letter all round-trip.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path")
            if raw:
                text = raw.decode("latin-1").split("?", 1)[0]
                scope = {**scope, "path": text}
        await self.app(scope, receive, send)


def make_api(
    settings: Settings, backend: Backend, clock: Clock, close_backend: bool = True
) -> FastAPI:
    """Build the app.

    Args:
        settings: keys, public URL.
        backend: runs store work on the thread that owns the API's workspace.
        clock: the API's clock (the workspace should use the same one).
        close_backend: close the backend when the app shuts down (False when its
            owner, `nudge serve`, closes it).

    Returns:
        The FastAPI app; `app.state.nudge` is its `ApiState`.
    """
    from app.api import customerio, health, segment_spec, unsubscribe

    state = ApiState(backend, Credentials(settings), settings, clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_backend:
            state.backend.close()

    app = FastAPI(
        title="Nudge Track API",
        version="1",
        description="Customer.io Track API (v1, v2) and Segment-spec ingest, one-click "
        "unsubscribe, health.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.nudge = state
    install_error_handlers(app)
    app.include_router(customerio.router)
    app.include_router(segment_spec.router)
    app.include_router(unsubscribe.router)
    app.include_router(health.router)
    app.add_middleware(RawPathRouting)
    return app
