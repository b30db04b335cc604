"""One `nudge demo` per demo database: each run rebuilds its database (and empties its
Maildir), so a second run on the same files would delete them under the first one's
console. A run holds an advisory lock file beside each for as long as it runs; a second
run that finds one held refuses with a one-line error and changes nothing.

The lock is `flock` on `<path>.lock`: the operating system drops it when the process
ends, however it ends, so a crashed demo never leaves a stale lock behind. (The
scheduler lease cannot serve here: the demo's lease times are on its accelerated clock.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from app.core.errors import NudgeError

try:
    import fcntl
except ImportError:  # pragma: no cover (not POSIX: no lock, as before)
    fcntl = None  # type: ignore[assignment]


class DemoInUse(NudgeError):
    """Another demo run holds the database or Maildir this one would rebuild."""

    code = "demo_in_use"


def lock_path(path: Path) -> Path:
    """The lock file for `path`: `<path>.lock`, beside it."""
    return Path(f"{path}.lock")


@contextmanager
def exclusive(path: Path, refusal: str) -> Iterator[None]:
    """Hold the lock file of `path` (created with its folder when missing) until the
    block ends.

    Args:
        path: the database or folder the caller will rebuild.
        refusal: the one-line message when another process holds it.

    Raises:
        DemoInUse: another process holds the lock (nothing was changed).
    """
    if fcntl is None or str(path) == ":memory:":
        yield
        return
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoInUse(refusal) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def demo_files(database: Path, maildir: Path) -> Iterator[None]:
    """Hold both the demo database and the sink's Maildir for one run.

    Raises:
        DemoInUse: another `nudge demo` is using either; the message names the option
            that picks another one.
    """
    with ExitStack() as stack:
        stack.enter_context(
            exclusive(
                database,
                f"{database} is in use by another nudge demo (it would be rebuilt under "
                "it); pass --db to run this one on another file",
            )
        )
        stack.enter_context(
            exclusive(
                maildir,
                f"the Maildir {maildir} is in use by another nudge demo; pass --maildir "
                "to use another folder",
            )
        )
        yield
