"""A local SMTP server that keeps every message in a Maildir: the demo's and the tests' mail
server, and (with `fail_rate`, `set_failing`, `reject_recipients`) an outage simulator.

Messages are stored byte for byte as received (after SMTP dot-unstuffing), one file per
message, so a test can compare what Nudge built with what arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import ssl
import threading
import uuid
import warnings
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from app.core.errors import NudgeError

TEMPORARY_FAILURE = "451 4.3.0 try again later"
"""The answer to a message the sink refuses for now (fail_rate, set_failing, fail_first)."""
NO_SUCH_USER = "550 5.1.1 no such user"
"""The answer to RCPT TO for an address in `reject_recipients`."""


class SinkError(NudgeError):
    """The sink cannot start: the port is taken, or the Maildir cannot be created."""

    code = "sink_error"


class Sink:
    """An aiosmtpd server on this machine that stores what it accepts in a Maildir.

    Use it on the running event loop (`async with Sink(...) as sink`, or `await
    sink.start()` / `await sink.stop()`), or from synchronous code in a thread of its own
    (`with Sink(...) as sink`), e.g. beside a `nudge serve` subprocess.

    Answers, in this order: an address in `reject_recipients` gets `550 5.1.1` at RCPT;
    then at the end of DATA the first `fail_first` messages, and every message while
    `set_failing(True)`, get `451 4.3.0`; otherwise one draw from `random.Random(seed)`
    per message refuses it with probability `fail_rate`; the rest are stored and get
    `250`. So with a seed the refusals are exactly reproducible: message k (counting
    only those that reached the draw) is refused iff the k-th `random()` < `fail_rate`.

    Args:
        maildir: the Maildir folder; created (with cur/new/tmp) when missing.
        host: address to listen on.
        port: TCP port; 0 takes any free one (see `port` after `start`). A restarted
            sink listens on the port it had, so clients can reconnect.
        fail_rate: share of messages answered 451, between 0 and 1.
        seed: seed of the draw (None: unpredictable).
        fail_first: answer the first this many messages 451, then recover.
        reject_recipients: addresses (any case) answered `550 5.1.1 no such user`.
        security: `none`, `starttls` (offered and required) or `tls` (implicit TLS).
        tls_context: the server certificate, needed for `starttls` and `tls`.
        credentials: (user name, password) to require AUTH (PLAIN or LOGIN) with;
            over `none` AUTH is allowed in the clear, as a local test server may.
        hostname: the name in the greeting and EHLO reply (fixed, so that starting
            never waits on a DNS lookup of this machine's name).
        durable: fsync each message before answering 250. Off by default: it survives a
            crash of the sender either way, and only a power cut needs it.

    Attributes:
        stored: messages stored so far.
        refused: messages answered 451 so far.
        rejected: recipients answered 550 so far.
        connections: SMTP connections accepted so far (pool reuse shows as a low count).
        keys: Maildir keys of the stored messages, in arrival order.

    Raises:
        ValueError: for a `fail_rate` outside 0..1, or TLS without a `tls_context`.
    """

    def __init__(
        self,
        maildir: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        fail_rate: float = 0.0,
        seed: int | None = None,
        fail_first: int = 0,
        reject_recipients: Iterable[str] = (),
        security: Literal["none", "starttls", "tls"] = "none",
        tls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        hostname: str = "nudge-sink",
        durable: bool = False,
    ) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, got {fail_rate}")
        if security != "none" and tls_context is None:
            raise ValueError(f"security={security!r} needs a tls_context")
        self.maildir = Path(maildir)
        self.host = host
        self.port = port
        self.fail_rate = fail_rate
        self.fail_first = fail_first
        self.reject_recipients = frozenset(a.lower() for a in reject_recipients)
        self.security = security
        self.tls_context = tls_context
        self.credentials = credentials
        self.hostname = hostname
        self.durable = durable
        self.stored = 0
        self.refused = 0
        self.rejected = 0
        self.connections = 0
        self.keys: list[str] = []
        self._rng = random.Random(seed)
        self._failing = False
        self._seen = 0  # messages that reached the end of DATA
        self._sequence = 0
        self._run_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """`host:port` the sink listens on (the real port once started)."""
        return f"{self.host}:{self.port}"

    @property
    def open_connections(self) -> int:
        """SMTP connections open right now."""
        return sum(1 for s in self._sessions if s.transport is not None)

    def set_failing(self, failing: bool) -> None:
        """Answer every message 451 from now on (True) or stop doing so (False).

        Safe to call from any thread.
        """
        self._failing = failing

    async def start(self) -> None:
        """Create the Maildir and listen.

        Raises:
            SinkError: when the address is in use or not available, or the Maildir
                cannot be created; one line, ready for an operator.
            RuntimeError: when already started.
        """
        if self._server is not None:
            raise RuntimeError("the sink is already running")
        try:
            # Also when the folder exists: an empty one (a test's tmp_path) needs them too.
            for sub in ("cur", "new", "tmp"):
                (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create Maildir {self.maildir}: {exc.strerror}") from None
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        try:
            self._server = await self._loop.create_server(
                self._new_session,
                self.host,
                self.port,
                ssl=self.tls_context if self.security == "tls" else None,
            )
        except OSError as exc:
            # asyncio wraps the bind error in a long message; the errno says it in short.
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise SinkError(f"cannot listen on {self.address}: {reason}") from None
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every open connection, as a crashed server would.

        Clients see their next command fail. Idempotent.
        """
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        # Server.close() leaves accepted connections open (before Python 3.13).
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await server.wait_closed()
        # Let the closes happen (they complete on later loop iterations), so that when
        # stop() returns the sink is really gone. Bounded: a stuck peer cannot hang it.
        for _ in range(100):
            if not any(s.transport is not None for s in self._sessions):
                break
            await asyncio.sleep(0)
        if self._stop_requested is not None:
            self._stop_requested.set()

    def request_stop(self) -> None:
        """Ask `serve_until_stopped` to return. Safe to call from any thread."""
        if self._loop is not None and self._stop_requested is not None:
            self._loop.call_soon_threadsafe(self._stop_requested.set)

    async def serve_until_stopped(self) -> None:
        """Wait until `request_stop` or `stop` is called."""
        if self._stop_requested is None:
            raise RuntimeError("the sink is not running")
        await self._stop_requested.wait()

    async def __aenter__(self) -> Sink:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __enter__(self) -> Sink:
        """Run the sink on an event loop in a thread of its own until `__exit__`.

        Raises:
            SinkError: as `start`.
        """
        started = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                started.set()
                return
            started.set()
            await self.serve_until_stopped()
            await self.stop()

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name=f"nudge-sink-{self.port}", daemon=True
        )
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def __exit__(self, *exc_info: object) -> None:
        # The loop is closed already if its thread died; then there is nothing to stop.
        with contextlib.suppress(RuntimeError):
            self.request_stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _new_session(self) -> SMTP:
        self.connections += 1
        starttls = self.security == "starttls"
        with warnings.catch_warnings():
            # AUTH in the clear is deliberate for a local test sink; aiosmtpd would warn
            # on every connection.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            session = SMTP(
                _Handler(self),
                hostname=self.hostname,
                enable_SMTPUTF8=True,
                tls_context=self.tls_context if starttls else None,
                require_starttls=starttls,
                authenticator=self._authenticate if self.credentials else None,
                auth_required=self.credentials is not None,
                # Over implicit TLS aiosmtpd cannot tell the channel is encrypted; in the
                # clear a local test sink may allow AUTH on purpose.
                auth_require_tls=starttls,
                loop=self._loop,
            )
        self._sessions.add(session)
        return session

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.credentials is not None
            and (data.login.decode(), data.password.decode()) == self.credentials
        )
        # handled=False lets aiosmtpd answer "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=ok, handled=False)

    def _accept(self, envelope: Envelope) -> str:
        """Decide on, and store, one message at the end of DATA; return the reply."""
        self._seen += 1
        if self._seen <= self.fail_first or self._failing:
            self.refused += 1
            return TEMPORARY_FAILURE
        # Draw only when needed, so that without a fail rate the sequence never matters.
        if self.fail_rate > 0 and self._rng.random() < self.fail_rate:
            self.refused += 1
            return TEMPORARY_FAILURE
        try:
            key = self._store(envelope.original_content or b"")
        except OSError as exc:
            # A full disk is the sink's problem, not the recipient's: ask to try again.
            self.refused += 1
            return f"451 4.3.0 cannot store message: {exc.strerror}"
        self.keys.append(key)
        self.stored += 1
        return f"250 2.0.0 OK queued as {key}"

    def _store(self, content: bytes) -> str:
        """Deliver one message into the Maildir; return its key (its file name).

        The Maildir protocol: write into tmp/, then rename into new/, so a reader never
        sees half a message. Not `mailbox.Maildir.add`: it fsyncs every message (about
        2.6 ms here), which capped the sink below what one connection sends. Blocking
        file I/O on the loop is fine for 4 KB writes into the page cache.
        """
        self._sequence += 1
        # Unique per sink object (the Maildir may be shared) and sorted by arrival.
        key = f"{self._run_id}.{self._sequence:09d}"
        temporary = self.maildir / "tmp" / key
        with open(temporary, "wb") as file:
            file.write(content)
            if self.durable:
                file.flush()
                os.fsync(file.fileno())
        os.rename(temporary, self.maildir / "new" / key)
        return key


class _Handler:
    """aiosmtpd's hooks, delegating to the sink (kept apart so `Sink` has no `handle_*`)."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() in self._sink.reject_recipients:
            self._sink.rejected += 1
            return NO_SUCH_USER
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self._sink._accept(envelope)


def run_sink(
    host: str,
    port: int,
    maildir: str | os.PathLike[str],
    fail_rate: float = 0.0,
    seed: int | None = None,
    *,
    reject_recipients: Iterable[str] = (),
    on_ready: Callable[[Sink], None] | None = None,
) -> Sink:
    """Run a sink in the foreground until Ctrl-C (or `request_stop`), as `nudge sink` does.

    Args:
        host: address to listen on.
        port: TCP port (0: any free one).
        maildir: where messages are stored.
        fail_rate: share of messages answered 451 (0..1).
        seed: seed of the fail-rate draw.
        reject_recipients: addresses answered 550 at RCPT.
        on_ready: called once listening (the sink knows its real port then).

    Returns:
        The stopped sink, whose counters say what happened.

    Raises:
        SinkError: when it cannot listen or create the Maildir.
    """
    sink = Sink(
        maildir,
        host=host,
        port=port,
        fail_rate=fail_rate,
        seed=seed,
        reject_recipients=reject_recipients,
    )

    async def main() -> None:
        async with sink:
            if on_ready is not None:
                on_ready(sink)
            await sink.serve_until_stopped()

    # On Ctrl-C asyncio.run cancels main(), whose `async with` stops the sink, and then
    # raises KeyboardInterrupt: the normal way out here.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return sink
