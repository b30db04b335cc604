"""JSONL ingest (bad lines reported by line number) and the export -> ingest round trip."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from app.core.clock import FixedClock
from app.core.errors import NudgeError
from app.service.ingest import Ingestor
from app.service.logfiles import IngestSummary, export_events, ingest_files, ingest_lines
from app.store import Store
from tests.conftest import NOW_MS

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def lines(*ops: Any) -> list[bytes]:
    return [(op if isinstance(op, str) else json.dumps(op)).encode() + b"\n" for op in ops]


def test_bad_lines_are_reported_by_line_and_good_lines_around_them_apply(
    ingestor: Ingestor, store: Store
) -> None:
    good = {"type": "track", "userId": "u1", "event": "ok", "timestamp": NOW_MS}
    summary = IngestSummary()
    ingest_lines(
        ingestor,
        lines(
            good,  # 1
            "{not json",  # 2
            {"type": "track", "userId": "u1", "properties": {}},  # 3: no name
            "",  # 4: blank, ignored
            {"type": "identify", "traits": {"plan": "x"}},  # 5: no identifier
            {"type": "track", "userId": "u1", "event": "big", "properties": {"b": "x" * 40_000}},
            {**good, "event": "ok_again"},  # 7
        ),
        "log.jsonl",
        summary,
        batch_lines=2,  # several batches: line numbers must survive batching
    )
    assert [(p.line, p.source) for p in summary.rejected] == [
        (2, "log.jsonl"),
        (3, "log.jsonl"),
        (5, "log.jsonl"),
        (6, "log.jsonl"),
    ]
    assert "not JSON" in summary.rejected[0].reason
    assert "no name" in summary.rejected[1].reason
    assert "limit is 32768" in summary.rejected[3].reason
    assert (summary.lines, summary.applied) == (6, 2)
    assert [e.name for e in store.events.iter_range()] == ["ok", "ok_again"]
    assert store.people.count() == 1


def test_gzip_and_missing_files(tmp_path: Path, ingestor: Ingestor, store: Store) -> None:
    path = tmp_path / "log.jsonl.gz"
    with gzip.open(path, "wb") as out:
        out.writelines(lines({"type": "track", "userId": "u1", "event": "a"}))
    summary = ingest_files(ingestor, [str(path)])
    assert (summary.applied, store.events.count()) == (1, 1)
    with pytest.raises(NudgeError, match="cannot read"):
        ingest_files(ingestor, [str(tmp_path / "missing.jsonl")])


def _people(store: Store) -> list[tuple[Any, ...]]:
    return sorted(
        (
            p.external_id or "",
            p.email or "",
            json.dumps(p.attributes, sort_keys=True),
            json.dumps(p.attribute_times, sort_keys=True),
            p.created_at,
            p.updated_at,
        )
        for p in store.people.iter_all()
    )


def _events(store: Store) -> list[tuple[Any, ...]]:
    owner = {p.id: p.external_id or p.email for p in store.people.iter_all()}
    return [
        (
            owner.get(e.person_id) if e.person_id else None,
            e.anonymous_id,
            e.user_id,
            e.user_email,
            e.type,
            e.name,
            json.dumps(e.properties, sort_keys=True),
            e.timestamp,
            e.dedupe_key,
        )
        for e in store.events.iter_range()
    ]


def test_export_then_ingest_rebuilds_the_same_store() -> None:
    from zoneinfo import ZoneInfo

    from app.service.importers import import_cdnow, import_xes

    first = Store.open(":memory:")
    ingestor = Ingestor(first, FixedClock(NOW_MS))
    ingest_files(ingestor, [str(SAMPLES / "product_events.jsonl")])
    import_cdnow(ingestor, str(SAMPLES / "cdnow_sample.txt"), ZoneInfo("America/New_York"))
    import_xes(ingestor, str(SAMPLES / "bpic2017_sample.xes.gz"), person_attributes=True)
    # Deletes, suppressions and merges must replay too.
    ingestor.apply(
        [
            {"type": "person", "action": "delete", "identifiers": {"id": "00002"}},
            {"type": "person", "action": "suppress", "identifiers": {"id": "00003"}},
        ]
    )
    exported = io.BytesIO()
    count = export_events(first, exported)
    assert count == first.events.count()

    second = Store.open(":memory:")
    summary = IngestSummary()
    ingest_lines(
        Ingestor(second, FixedClock(NOW_MS + 1)),
        exported.getvalue().splitlines(),
        "export",
        summary,
    )
    assert summary.rejected == []
    assert first.people.count() > 300
    assert _people(second) == _people(first)
    assert _events(second) == _events(first)
    assert second.suppressions.count() == first.suppressions.count() == 1


def test_truncated_gzip_is_a_clear_error_and_earlier_lines_stay(
    tmp_path: Path, ingestor: Ingestor, store: Store
) -> None:
    payload = b"".join(
        lines(*({"type": "track", "userId": f"u{i}", "event": "e"} for i in range(20_000)))
    )
    whole = gzip.compress(payload)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(NudgeError, match=r"cannot read .*cut\.jsonl\.gz"):
        ingest_files(ingestor, [str(path)])
    # Whole batches read before the break were applied; the rest was not.
    assert 0 < store.events.count() < 20_000
