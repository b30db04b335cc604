"""The watch folder: ingest JSONL logs as they grow, each line exactly once.

Every `*.jsonl` / `*.ndjson` file directly in the folder is read from the byte offset
already ingested for it. The offset lives in the database (`watch_offsets`, keyed by
the file's resolved absolute path) and is written in the same transaction as the events
of those bytes, so a crash or `kill -9` at any point neither loses nor repeats a line:
either both the events and the new offset landed, or neither did.

Only complete lines (ending in a newline) are read; a half-written last line waits for
its newline. A file now shorter than its stored offset was truncated or rotated, and is
read again from its start (the summary says so). A file replaced by one at least as
long as the part already read cannot be told from one that grew: rotate by renaming to
a new name instead (events carrying a messageId are still deduplicated either way).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import watchfiles

from app.core.clock import Clock
from app.core.errors import NotFound, NudgeError
from app.service.ingest import Ingestor
from app.service.logfiles import BATCH_LINES, IngestSummary, LineProblem, ingest_lines
from app.store import Store

#: The file names the folder picks up.
SUFFIXES = (".jsonl", ".ndjson")

# Read size: large enough that a big backlog streams at disk speed, small enough that a
# multi-GB file never sits in memory whole.
_BLOCK = 1 << 20

SummaryHandler = Callable[[IngestSummary], None]


class WatchFolder:
    """Ingests the JSONL files of one directory, resuming from the offsets in the store.

    Line numbers in problems are the file's own. To find the line number at a stored
    offset, the newlines before it are counted once per file per process (one read of
    the ingested prefix, at disk speed) and then carried forward in memory; the schema
    stores no line count, so nothing can drift between the two.

    Args:
        ingestor: applies the operations (it writes into `store`).
        store: holds the events and the offsets reached per file.
        directory: the folder to read; its subfolders are ignored.
        clock: stamps the offsets' `updated_at` (ms UTC).
    """

    def __init__(self, ingestor: Ingestor, store: Store, directory: Path, clock: Clock) -> None:
        self.ingestor = ingestor
        self.store = store
        self.directory = directory
        self.clock = clock
        # key -> (offset, line number at that offset), valid while the stored offset
        # still equals ours; anything else (another writer, a reset) triggers a recount.
        self._lines: dict[str, tuple[int, int]] = {}

    def files(self) -> list[Path]:
        """The files the folder ingests, in name order.

        Raises:
            NotFound: when the directory does not exist.
        """
        if not self.directory.is_dir():
            raise NotFound(f"watch folder {self.directory} does not exist")
        return sorted(
            p for p in self.directory.iterdir() if p.name.endswith(SUFFIXES) and p.is_file()
        )

    def catch_up(self) -> IngestSummary:
        """Ingest every complete line written since the last call (or the last run).

        Returns:
            What was read. A truncated or rotated file appears in `skipped` as a problem
            at line 0 of that file, then its lines are counted as usual.

        Raises:
            NotFound: when the directory does not exist.
            NudgeError: when a file cannot be read (files before it stay applied).
        """
        summary = IngestSummary()
        for path in self.files():
            self._ingest_file(path, summary)
        return summary

    def run(
        self,
        stop: threading.Event | None = None,
        on_summary: SummaryHandler | None = None,
    ) -> None:
        """Catch up, then catch up again after every change in the folder, until `stop` is set.

        Blocks the calling thread; run it in a worker or a thread of its own, with a
        store opened in that thread (a SQLite connection belongs to its thread).

        Args:
            stop: set it to end the loop (checked at least every few seconds).
            on_summary: called with the summary of the first catch-up, and of every
                later one that a change to a watched file triggered.

        Raises:
            NotFound: when the directory does not exist.
            NudgeError: when a file cannot be read.
        """
        summary = self.catch_up()
        if on_summary is not None:
            on_summary(summary)
        for _changes in watchfiles.watch(
            self.directory,
            watch_filter=_watched,
            stop_event=stop,
            recursive=False,
        ):
            summary = self.catch_up()
            if on_summary is not None:
                on_summary(summary)

    # -- one file ---------------------------------------------------------------------

    def _ingest_file(self, path: Path, summary: IngestSummary) -> None:
        source = str(path)
        key = str(path.resolve())
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            return  # removed between listing and opening: nothing left to read
        except OSError as exc:
            raise NudgeError(f"cannot read {source}: {exc.strerror or exc}") from None
        with handle:
            offset = self.store.offsets.get(key)
            if os.fstat(handle.fileno()).st_size < offset:
                summary.skipped.append(
                    LineProblem(
                        source,
                        0,
                        f"file is shorter than the {offset} bytes already ingested "
                        "(truncated or rotated); reading it again from the start",
                    )
                )
                # Stored at once: should the new content be short of a full line, the
                # next pass must not report the same truncation again.
                with self.store.transaction():
                    self.store.offsets.set(key, 0, self.clock.now_ms())
                offset, line = 0, 1
            else:
                line = self._line_at(key, handle, offset)
            handle.seek(offset)
            batch: list[bytes] = []
            tail = b""
            while block := handle.read(_BLOCK):
                lines = (tail + block).split(b"\n")
                tail = lines.pop()  # no newline yet: waits for the next pass
                batch += lines
                while len(batch) >= BATCH_LINES:
                    chunk = batch[:BATCH_LINES]
                    del batch[:BATCH_LINES]
                    offset, line = self._commit(key, source, chunk, offset, line, summary)
            if batch:
                offset, line = self._commit(key, source, batch, offset, line, summary)
        self._lines[key] = (offset, line)

    def _commit(
        self,
        key: str,
        source: str,
        lines: list[bytes],
        offset: int,
        line: int,
        summary: IngestSummary,
    ) -> tuple[int, int]:
        """Apply complete lines (newlines removed) and move the offset past them, together.

        Returns:
            The new offset and the line number found there.
        """
        end = offset + sum(map(len, lines)) + len(lines)  # + one newline per line
        with self.store.transaction():
            ingest_lines(self.ingestor, lines, source, summary, first_line=line)
            self.store.offsets.set(key, end, self.clock.now_ms())
        return end, line + len(lines)

    def _line_at(self, key: str, handle: IO[bytes], offset: int) -> int:
        """The 1-based line number of the line that starts at byte `offset`."""
        cached = self._lines.get(key)
        if cached is not None and cached[0] == offset:
            return cached[1]
        handle.seek(0)
        newlines = 0
        left = offset
        while left > 0 and (block := handle.read(min(_BLOCK, left))):
            newlines += block.count(b"\n")
            left -= len(block)
        return newlines + 1


def _watched(_change: watchfiles.Change, path: str) -> bool:
    return path.endswith(SUFFIXES)
