"""CDNOW importer: people, purchases, duplicates, time zones and bad rows.

Expected figures come from reading the sample with plain Python (or by hand), never
from the importer.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.core.errors import NudgeError
from app.service.importers import cdnow as cdnow_module
from app.service.importers import import_cdnow
from app.service.ingest import Ingestor
from app.store import Store

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "cdnow_sample.txt"
NEW_YORK = ZoneInfo("America/New_York")
HEADER = " customer_id  date number_of_cds  dollar_value\n"

# 1997-01-01T00:00:00Z is 852,076,800 s after the epoch (27 years of 365 days plus
# 6 leap days = 9,862 days); New York is UTC-5 in January, UTC-4 in July.
JAN_1_1997_UTC_MS = 852_076_800_000
HOUR_MS = 3_600_000


def sample_rows() -> list[tuple[str, ...]]:
    lines = SAMPLE.read_text().splitlines()
    return [tuple(line.split()) for line in lines[1:] if line.strip()]


def write(tmp_path: Path, *rows: str, header: bool = True) -> str:
    path = tmp_path / "cdnow.txt"
    path.write_text((HEADER if header else "") + "".join(f"{row}\n" for row in rows))
    return str(path)


def test_sample_gives_one_person_per_customer_and_one_event_per_distinct_row(
    ingestor: Ingestor, store: Store
) -> None:
    rows = sample_rows()
    customers = {row[0] for row in rows}
    distinct = set(rows)
    # The sample was cut to hold both quirks of the real file: exact duplicates, and
    # distinct purchases by one customer on one day.
    assert len(distinct) < len(rows)
    assert len({row[:2] for row in distinct}) < len(distinct)

    summary = import_cdnow(ingestor, str(SAMPLE), NEW_YORK)

    assert (len(rows), len(customers), len(distinct)) == (1176, 300, 1150)
    assert summary.lines == len(rows)
    assert summary.applied == len(distinct)
    assert summary.duplicates == len(rows) - len(distinct)
    assert summary.rejected == [] and summary.skipped == []
    assert store.people.count() == len(customers)
    assert store.events.count() == len(distinct)
    assert store.events.counts_by_name() == {"purchase": len(distinct)}


def test_a_second_import_adds_nothing_even_in_another_zone(
    ingestor: Ingestor, store: Store
) -> None:
    import_cdnow(ingestor, str(SAMPLE), NEW_YORK)
    events, people = store.events.count(), store.people.count()

    again = import_cdnow(ingestor, str(SAMPLE), ZoneInfo("Asia/Tokyo"))

    assert again.applied == 0
    assert again.duplicates == len(sample_rows())
    assert (store.events.count(), store.people.count()) == (events, people)


def test_same_day_purchases_that_differ_are_both_kept(ingestor: Ingestor, store: Store) -> None:
    # Customer 00002 bought twice on 1997-01-12 (the sample's lines 3 and 4).
    summary = import_cdnow(ingestor, str(SAMPLE), NEW_YORK)
    assert summary.rejected == []
    person = store.people.by_external_id("00002")
    assert person is not None
    purchases = sorted(
        (e.properties["cds"], e.properties["amount"])
        for e in store.events.for_person(person.id, limit=100)
        if e.timestamp == JAN_1_1997_UTC_MS + 11 * 24 * HOUR_MS + 5 * HOUR_MS
    )
    assert purchases == [(1, 12.0), (5, 77.0)]


def test_row_becomes_a_purchase_by_the_zero_padded_customer(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    import_cdnow(ingestor, write(tmp_path, " 00001 19970101  1   11.77"), NEW_YORK)

    person = store.people.by_external_id("00001")
    assert person is not None and store.people.by_external_id("1") is None
    [event] = store.events.iter_range()
    assert (event.type, event.name, event.person_id) == ("track", "purchase", person.id)
    assert event.properties == {"cds": 1, "amount": 11.77}
    assert isinstance(event.properties["cds"], int)
    assert isinstance(event.properties["amount"], float)
    assert person.created_at == event.timestamp


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        ("UTC", "19970101", JAN_1_1997_UTC_MS),
        ("America/New_York", "19970101", JAN_1_1997_UTC_MS + 5 * HOUR_MS),
        ("Asia/Tokyo", "19970101", JAN_1_1997_UTC_MS - 9 * HOUR_MS),
        # 1997-07-01 is day 181 of the year; New York is on summer time (UTC-4).
        ("America/New_York", "19970701", JAN_1_1997_UTC_MS + 181 * 24 * HOUR_MS + 4 * HOUR_MS),
    ],
)
def test_the_zone_decides_the_instant_of_midnight(
    ingestor: Ingestor, store: Store, tmp_path: Path, zone: str, day: str, expected: int
) -> None:
    import_cdnow(ingestor, write(tmp_path, f"00001 {day} 1 11.77"), ZoneInfo(zone))

    [event] = store.events.iter_range()
    assert event.timestamp == expected


def test_malformed_rows_are_rejected_with_their_line_and_neighbours_apply(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "00001 19970101 1 11.77",  # line 2
        "00001 19970102 1",  # 3: a field short
        "",  # 4: blank, ignored
        "00002 19970230 1 12.00",  # 5: no such date
        "00002 1997-01-03 1 12.00",  # 6: not YYYYMMDD
        "00003 19970104 two 12.00",  # 7
        "00003 19970104 2 $12",  # 8
        "00003 19970104 2 nan",  # 9
        "00004 19970105 3 30.00",  # 10
    )

    summary = import_cdnow(ingestor, path, NEW_YORK)

    assert [(p.source, p.line) for p in summary.rejected] == [
        (path, 3),
        (path, 5),
        (path, 6),
        (path, 7),
        (path, 8),
        (path, 9),
    ]
    reasons = [p.reason for p in summary.rejected]
    assert "expected 4 fields" in reasons[0]
    assert "19970230" in reasons[1] and "calendar date" in reasons[1]
    assert "YYYYMMDD" in reasons[2]
    assert "number_of_cds 'two'" in reasons[3]
    assert "dollar_value '$12'" in reasons[4]
    assert "dollar_value 'nan'" in reasons[5]
    assert (summary.lines, summary.applied) == (8, 2)
    assert sorted(p.external_id or "" for p in store.people.iter_all()) == ["00001", "00004"]
    assert [e.properties for e in store.events.iter_range()] == [
        {"cds": 1, "amount": 11.77},
        {"cds": 3, "amount": 30.0},
    ]


def test_line_numbers_survive_batching(
    ingestor: Ingestor, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cdnow_module, "BATCH_LINES", 2)
    rows = [f"{n:05d} 19970101 1 10.00" for n in range(1, 8)]
    rows[4] = "00005 19970101 1"  # line 6
    rows.append(rows[0])  # line 9: a duplicate in a later batch
    calls: list[int] = []

    summary = import_cdnow(ingestor, write(tmp_path, *rows), NEW_YORK, calls.append)

    assert [p.line for p in summary.rejected] == [6]
    assert (summary.applied, summary.duplicates) == (6, 1)
    assert store.events.count() == 6
    assert len(calls) > 2
    assert sum(calls) == (tmp_path / "cdnow.txt").stat().st_size


def test_a_file_without_the_header_imports_too(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    summary = import_cdnow(
        ingestor, write(tmp_path, "00001 19970101 1 11.77", header=False), NEW_YORK
    )
    assert (summary.lines, summary.applied, summary.rejected) == (1, 1, [])


def test_an_unreadable_file_is_one_clear_error(ingestor: Ingestor, tmp_path: Path) -> None:
    with pytest.raises(NudgeError, match="cannot read .*missing.txt"):
        import_cdnow(ingestor, str(tmp_path / "missing.txt"), NEW_YORK)
