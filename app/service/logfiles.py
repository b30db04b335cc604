"""Event log files: JSONL in, JSONL out (DESIGN.md §5).

`ingest_lines` reads operations one per line (either wire shape, detected per line) and
applies them in batches; `export_events` writes the store back out as Customer.io v2
JSONL that `ingest_lines` reads into an identical store.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from app.core.errors import NudgeError
from app.core.models import Event
from app.core.operations import MAX_OPERATION_BYTES
from app.core.times import format_instant
from app.service.ingest import BatchReport, Ingestor
from app.store import Store

#: Lines per transaction: large enough for group commit (PERFORMANCE.md: 10k rows per
#: commit ran 4x one-per-event), small enough that a progress bar moves.
BATCH_LINES = 5_000

Progress = Callable[[int], None]


@dataclass(slots=True)
class LineProblem:
    """A line that was not applied: where it is and why."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"


@dataclass(slots=True)
class IngestSummary:
    """The outcome of reading one or more sources.

    Attributes:
        lines: operations read (blank lines not counted).
        applied: operations that changed the store.
        duplicates: operations whose dedupe key was already stored.
        skipped: valid operations with nothing to do, with where and why.
        rejected: invalid operations, with where and why; nothing of them was stored.
    """

    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    skipped: list[LineProblem] = field(default_factory=list)
    rejected: list[LineProblem] = field(default_factory=list)

    def add_report(self, report: BatchReport, source: str, line_numbers: list[int]) -> None:
        """Fold in a batch report whose indexes point into `line_numbers`."""
        self.applied += report.applied
        self.duplicates += report.duplicates
        self.skipped += [
            LineProblem(source, line_numbers[p.index], p.reason) for p in report.skipped
        ]
        self.rejected += [
            LineProblem(source, line_numbers[p.index], p.reason) for p in report.rejected
        ]

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return {
            "lines": self.lines,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "skipped": [str(p) for p in self.skipped],
            "rejected": [str(p) for p in self.rejected],
        }


@contextmanager
def open_source(path: str) -> Iterator[IO[bytes]]:
    """Open a log for reading as bytes: `-` is stdin, a `.gz` name is gunzipped.

    Raises:
        NudgeError: when the file cannot be opened.
    """
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        handle: IO[bytes] = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise NudgeError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        yield handle


@contextmanager
def open_lines(path: str) -> Iterator[Iterator[bytes]]:
    """Open a log (see `open_source`) and yield its lines as bytes.

    Raises:
        NudgeError: when the file cannot be opened, or breaks off while being read (a
            truncated gzip, a read error); lines before the break stay applied.
    """
    with open_source(path) as handle:
        yield _guarded(handle, path)


def _guarded(handle: IO[bytes], path: str) -> Iterator[bytes]:
    try:
        yield from handle
    except (OSError, EOFError, zlib.error) as exc:
        raise NudgeError(f"cannot read {path}: {exc}") from None


def ingest_lines(
    ingestor: Ingestor,
    lines: Iterable[bytes],
    source: str,
    summary: IngestSummary,
    *,
    first_line: int = 1,
    progress: Progress | None = None,
    batch_lines: int = BATCH_LINES,
) -> None:
    """Apply JSONL operations, one per line, in batches of `batch_lines`.

    A line that is not JSON, is over 32 KB, or is not a valid operation is rejected
    with its line number; the lines around it still apply.

    Args:
        ingestor: applies the batches.
        lines: raw lines (with or without their newline).
        source: the name used in problems (a file name, `-`).
        summary: receives the counts and problems.
        first_line: the line number of the first line (a watched file resumes mid-way).
        progress: called with the number of bytes consumed after each batch.
    """
    first_rejected = len(summary.rejected)
    raws: list[object] = []
    sizes: list[int] = []
    numbers: list[int] = []
    consumed = 0

    def apply() -> None:
        nonlocal consumed
        if raws:
            summary.add_report(ingestor.apply(raws, sizes), source, numbers)
        raws.clear()
        sizes.clear()
        numbers.clear()
        if progress is not None:
            progress(consumed)
        consumed = 0

    for number, line in enumerate(lines, start=first_line):
        consumed += len(line)
        text = line.strip()
        if not text:
            continue
        summary.lines += 1
        if len(text) > MAX_OPERATION_BYTES:
            summary.rejected.append(
                LineProblem(
                    source,
                    number,
                    f"operation is {len(text)} bytes; the limit is {MAX_OPERATION_BYTES}",
                )
            )
            continue
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            summary.rejected.append(LineProblem(source, number, f"not JSON ({exc})"))
            continue
        raws.append(raw)
        sizes.append(len(text))
        numbers.append(number)
        if len(raws) >= batch_lines:
            apply()
    apply()
    # Lines rejected before parsing are noted at once, the rest per batch: list them
    # in file order.
    summary.rejected[first_rejected:] = sorted(
        summary.rejected[first_rejected:], key=lambda p: p.line
    )


def ingest_files(
    ingestor: Ingestor, paths: Iterable[str], progress: Progress | None = None
) -> IngestSummary:
    """Ingest JSONL files (plain, `.gz`, or `-` for stdin) in order.

    Raises:
        NudgeError: when a file cannot be read (files before it stay applied).
    """
    summary = IngestSummary()
    for path in paths:
        with open_lines(path) as lines:
            ingest_lines(ingestor, lines, path, summary, progress=progress)
    return summary


def event_to_operation(event: Event) -> dict[str, Any]:
    """Write a stored event as a Customer.io v2 operation that ingests back to the same rows.

    The identifiers are the ones the operation originally named (not the person's
    current ones), so a replay resolves identities, merges included, as they were.
    """
    op: dict[str, Any] = {"type": "person", "timestamp": format_instant(event.timestamp)}
    who = {}
    if event.user_id is not None:
        who["id"] = event.user_id
    if event.user_email is not None:
        who["email"] = event.user_email
    if event.type == "merge":
        op.update(action="merge", primary=who, secondary=event.properties["secondary"])
    elif event.type in ("delete", "suppress", "unsuppress"):
        op.update(action=event.type, identifiers=who)
    else:
        op["action"] = "event" if event.type == "track" else event.type
        if who:
            op["identifiers"] = who
        if event.name is not None:
            op["name"] = event.name
        op["attributes"] = event.properties
    if event.anonymous_id is not None:
        op["anonymous_id"] = event.anonymous_id
    if event.dedupe_key is not None:
        op["id"] = event.dedupe_key
    return op


def export_events(
    store: Store, out: IO[bytes], since: int | None = None, until: int | None = None
) -> int:
    """Write events with `since <= timestamp < until` as JSONL, in the order they were applied.

    Identify events carry the traits as they were given, so a replay rebuilds every
    attribute with its update time.

    Returns:
        The number of lines written.
    """
    written = 0
    buffer = io.BytesIO()
    for event in store.events.iter_range(since, until):
        buffer.write(orjson.dumps(event_to_operation(event)))
        buffer.write(b"\n")
        written += 1
        if buffer.tell() > 1 << 20:
            out.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue())
    return written


def export_to_path(store: Store, path: str, since: int | None, until: int | None) -> int:
    """Export to a file (`.gz` compresses, `-` is stdout). See `export_events`.

    Raises:
        NudgeError: when the file cannot be written.
    """
    if path == "-":
        count = export_events(store, sys.stdout.buffer, since, until)
        sys.stdout.buffer.flush()
        return count
    try:
        target = Path(path)
        with gzip.open(target, "wb") if path.endswith(".gz") else target.open("wb") as out:
            return export_events(store, out, since, until)
    except OSError as exc:
        raise NudgeError(f"cannot write {path}: {exc.strerror or exc}") from None
