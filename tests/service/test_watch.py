"""The watch folder ingests each complete line exactly once, across passes and restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from app.core.clock import FixedClock
from app.service.ingest import Ingestor
from app.service.logfiles import LineProblem
from app.service.watch import WatchFolder
from app.store import Store

# 2024-05-01T10:00:00Z
NOW = 1_714_557_600_000


def track(message_id: str, user: str = "u1", event: str = "signed_up") -> bytes:
    """One Segment track line, newline included."""
    op = {
        "type": "track",
        "userId": user,
        "event": event,
        "timestamp": "2024-05-01T09:00:00Z",
        "messageId": message_id,
    }
    return orjson.dumps(op) + b"\n"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "n.db")
    yield opened
    opened.close()


def folder_for(store: Store, inbox: Path) -> WatchFolder:
    clock = FixedClock(NOW)
    return WatchFolder(Ingestor(store, clock), store, inbox, clock)


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def offset(store: Store, path: Path) -> int:
    return store.offsets.get(str(path.resolve()))


def test_lines_appended_later_are_ingested_once(store: Store, inbox: Path) -> None:
    log = inbox / "events.jsonl"
    append(log, track("m1") + track("m2"))
    watch = folder_for(store, inbox)

    first = watch.catch_up()
    assert (first.lines, first.applied, first.rejected) == (2, 2, [])
    assert store.events.count() == 2

    append(log, track("m3", event="logged_in"))
    second = watch.catch_up()
    assert (second.lines, second.applied) == (1, 1)
    assert store.events.count() == 3
    assert store.events.counts_by_name() == {"signed_up": 2, "logged_in": 1}

    third = watch.catch_up()
    assert (third.lines, third.applied) == (0, 0)
    assert store.events.count() == 3
    assert offset(store, log) == log.stat().st_size


def test_half_written_line_waits_for_its_newline(store: Store, inbox: Path) -> None:
    log = inbox / "events.jsonl"
    whole = track("m1")
    second = track("m2")
    append(log, whole + second[:20])
    watch = folder_for(store, inbox)

    early = watch.catch_up()
    assert (early.lines, early.applied) == (1, 1)
    assert offset(store, log) == len(whole)

    # Still no newline: nothing more, and the partial line is not rejected as bad JSON.
    append(log, second[20:-1])
    waiting = watch.catch_up()
    assert (waiting.lines, waiting.rejected) == (0, [])

    append(log, b"\n")
    done = watch.catch_up()
    assert (done.lines, done.applied, done.duplicates) == (1, 1, 0)
    assert store.events.count() == 2
    assert watch.catch_up().lines == 0
    assert offset(store, log) == len(whole) + len(second)


def test_restart_on_the_same_database_ingests_nothing_again(tmp_path: Path, inbox: Path) -> None:
    log = inbox / "events.ndjson"
    append(log, track("m1") + track("m2"))
    first_store = Store.open(tmp_path / "n.db")
    assert folder_for(first_store, inbox).catch_up().applied == 2
    first_store.close()

    append(log, b"not json\n")
    reopened = Store.open(tmp_path / "n.db")
    try:
        summary = folder_for(reopened, inbox).catch_up()
        # Only the new line is read, and it is numbered from the file's start (a fresh
        # process recounts the lines before the stored offset).
        assert (summary.lines, summary.applied, summary.duplicates) == (1, 0, 0)
        assert [p.line for p in summary.rejected] == [3]
        assert reopened.events.count() == 2
    finally:
        reopened.close()


def test_bad_lines_are_reported_with_file_line_numbers(store: Store, inbox: Path) -> None:
    log = inbox / "events.jsonl"
    append(
        log,
        track("m1")
        + b"{not json\n"
        + b"\n"  # blank: counts as a line of the file, not as an operation
        + b'{"type": "track", "event": "signed_up", "messageId": "m9"}\n'
        + track("m2"),
    )
    watch = folder_for(store, inbox)

    summary = watch.catch_up()
    assert (summary.lines, summary.applied) == (4, 2)
    assert [(p.source, p.line) for p in summary.rejected] == [(str(log), 2), (str(log), 4)]
    assert summary.rejected[0].reason.startswith("not JSON")
    assert summary.rejected[1].reason == "track needs a userId or an anonymousId"
    assert store.events.count() == 2

    # Numbering carries on into the next pass.
    append(log, track("m3") + b"[]\n")
    later = watch.catch_up()
    assert (later.lines, later.applied) == (2, 1)
    assert later.rejected == [LineProblem(str(log), 7, "an operation must be a JSON object")]


def test_truncated_file_starts_again_from_the_start(store: Store, inbox: Path) -> None:
    log = inbox / "events.jsonl"
    append(log, track("m1") + track("m2") + track("m3"))
    watch = folder_for(store, inbox)
    assert watch.catch_up().applied == 3

    # Rotated in place: a shorter file whose first line was seen before (same messageId).
    log.write_bytes(track("m1") + track("m4"))
    summary = watch.catch_up()
    assert [(p.source, p.line) for p in summary.skipped] == [(str(log), 0)]
    assert "reading it again from the start" in summary.skipped[0].reason
    assert (summary.lines, summary.applied, summary.duplicates) == (2, 1, 1)
    assert store.events.count() == 4
    assert offset(store, log) == log.stat().st_size

    # Emptied: reported once, and the reset is stored even though nothing was read.
    log.write_bytes(b"")
    assert len(watch.catch_up().skipped) == 1
    assert offset(store, log) == 0
    assert watch.catch_up().skipped == []

    append(log, b"\n" + b"{bad\n")
    again = watch.catch_up()
    assert [p.line for p in again.rejected] == [2]


def test_offset_and_events_land_together(
    store: Store, inbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = inbox / "events.jsonl"
    append(log, track("m1") + track("m2"))
    watch = folder_for(store, inbox)

    def fail(path: str, offset: int, at: int) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store.offsets, "set", fail)
    with pytest.raises(RuntimeError):
        watch.catch_up()
    assert store.events.count() == 0
    monkeypatch.undo()
    assert offset(store, log) == 0

    assert watch.catch_up().applied == 2
    assert store.events.count() == 2


def test_only_jsonl_and_ndjson_files_directly_inside_are_read(store: Store, inbox: Path) -> None:
    append(inbox / "a.jsonl", track("m1"))
    append(inbox / "b.ndjson", track("m2"))
    append(inbox / "notes.txt", track("m3"))
    (inbox / "old").mkdir()
    append(inbox / "old" / "c.jsonl", track("m4"))

    summary = folder_for(store, inbox).catch_up()
    assert (summary.lines, summary.applied) == (2, 2)
    assert store.events.count() == 2
