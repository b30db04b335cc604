"""Serving the API with uvicorn: inside `nudge serve`'s event loop, or in a thread.

The socket is bound here (not by uvicorn), so a taken port is a one-line `ConfigError`
before anything starts, and port 0 picks a free one whose number is then known.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from app.core.errors import ConfigError


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to its host (`nudge serve` owns Ctrl-C)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        #: Set once it accepts connections (or failed to start: check `started`).
        self.ready = threading.Event()

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host:port` (IPv6 when `host` is one).

    Raises:
        ConfigError: when the address cannot be bound (taken port, unknown host).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            raise
        sock.listen(2048)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


class ApiServer:
    """One uvicorn server over an ASGI app and a bound socket.

    Args:
        app: the ASGI app (`make_api`).
        sock: from `bind`.
        ssl: `ssl_certfile` / `ssl_keyfile` / ... uvicorn options (tests serve TLS).
    """

    def __init__(self, app: Any, sock: socket.socket, **ssl: Any) -> None:
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **ssl)
        self.server = _Server(config)
        self.sock = sock
        self.port: int = sock.getsockname()[1]

    async def serve(self) -> None:
        """Serve until `stop` is called."""
        await self.server.serve(sockets=[self.sock])

    def stop(self) -> None:
        """Ask the server to finish its open requests and return from `serve`."""
        self.server.should_exit = True

    @property
    def started(self) -> bool:
        """Whether it accepts connections."""
        return bool(self.server.started)


@contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, **ssl: Any
) -> Iterator[ApiServer]:
    """Run the app in a background thread for the block (tests, the bench).

    Yields:
        The started server (its `port` is the bound one).

    Raises:
        RuntimeError: when it did not start within 30 s.
    """
    server = ApiServer(app, bind(host, port), **ssl)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve())
        except BaseException as exc:  # reported to the caller below
            failed.append(exc)
        finally:
            server.server.ready.set()

    thread = threading.Thread(target=run, name="nudge-api-server", daemon=True)
    thread.start()
    if not server.server.ready.wait(30) or not server.started:
        server.stop()
        raise RuntimeError(f"the API server did not start: {failed[0] if failed else 'timeout'}")
    try:
        yield server
    finally:
        server.stop()
        thread.join(30)
        with contextlib.suppress(OSError):
            server.sock.close()
