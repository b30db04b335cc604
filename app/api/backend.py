"""How requests reach the store: one dedicated thread owns the API's workspace.

A SQLite connection belongs to the thread that opened it, and every change is a short
`BEGIN IMMEDIATE` transaction. Requests are parsed on the event loop and then await
their store work on this one thread, in arrival order, so the loop (and, inside
`nudge serve`, the scheduler sharing it) never waits on a database lock. The scheduler
keeps its own connection; the two serialise on SQLite's write lock (WAL: readers never
block), exactly as `nudge ingest` beside `nudge serve` does.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from app.service.workspace import Workspace

T = TypeVar("T")


class Backend:
    """Runs store work on the thread that owns the workspace.

    Args:
        opener: opens the workspace; called on the owning thread at the first call.
    """

    def __init__(self, opener: Callable[[], Workspace]) -> None:
        self._opener = opener
        self._workspace: Workspace | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nudge-api")
        self._lock = threading.Lock()
        self._closed = False

    def _run(self, work: Callable[[Workspace], T]) -> T:
        if self._workspace is None:
            self._workspace = self._opener()
        return work(self._workspace)

    async def call(self, work: Callable[[Workspace], T]) -> T:
        """Run `work(workspace)` on the owning thread and return its result (or raise)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, work)

    def run(self, work: Callable[[Workspace], T]) -> T:
        """Run `work(workspace)` on the owning thread, blocking (tests, benches, reload)."""
        return self._executor.submit(self._run, work).result()

    def reload(self) -> None:
        """Take up changed campaign and segment definitions (after `nudge serve` did).

        Queued behind the requests already waiting; a reload with problems keeps the
        running set, as everywhere else.
        """
        with self._lock:
            if not self._closed and self._workspace is not None:
                self._executor.submit(self._run, lambda ws: ws.reload())

    def close(self) -> None:
        """Finish the queued work and close the workspace's database. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True

        def shut() -> None:
            if self._workspace is not None:
                self._workspace.store.close()
                self._workspace = None

        self._executor.submit(shut).result()
        self._executor.shutdown(wait=True)
