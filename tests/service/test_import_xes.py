"""XES importer: people and events from traces, typed attributes, keys, filters, problems.

Expected figures come from reading the sample with plain Python (or by hand), never
from the importer.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from app.core.errors import NudgeError
from app.service.importers import import_xes
from app.service.ingest import Ingestor
from app.store import Store

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "bpic2017_sample.xes.gz"

# 2016-01-02T09:17:05.720Z: 16,802 days after the epoch (46 years of 365 days plus
# 11 leap days, and 1 day into 2016), then 9 h 17 min 5.720 s.
FIRST_EVENT_MS = 16_802 * 86_400_000 + (9 * 3600 + 17 * 60 + 5) * 1000 + 720


def sample_text() -> str:
    return gzip.decompress(SAMPLE.read_bytes()).decode()


def sample_traces() -> list[str]:
    return re.findall(r"<trace>.*?</trace>", sample_text())


def s(key: str, value: str) -> str:
    return f'<string key="{key}" value="{value}"/>'


def event(name: str, at: str, lifecycle: str = "complete", **more: str) -> str:
    extra = "".join(s(k, v) for k, v in more.items())
    return (
        f"<event>{s('concept:name', name)}{s('lifecycle:transition', lifecycle)}"
        f'<date key="time:timestamp" value="{at}"/>{extra}</event>'
    )


def trace(case: str, person: str | None, *events: str, amount: str = "1000.0") -> str:
    who = s("ApplicationID", person) if person is not None else ""
    return (
        f"<trace>{s('concept:name', case)}{who}"
        f'<float key="OfferedAmount" value="{amount}"/><int key="NumberOfTerms" value="12"/>'
        f'<boolean key="Selected" value="true"/>'
        f'<date key="Signed" value="2016-03-01T10:00:00.000+01:00"/>'
        f"{''.join(events)}</trace>"
    )


def write(tmp_path: Path, *traces: str, name: str = "log.xes", xmlns: bool = False) -> str:
    ns = ' xmlns="http://www.xes-standard.org/"' if xmlns else ""
    text = (
        f'<?xml version="1.0" encoding="UTF-8"?><log xes.version="1.0"{ns}>'
        f'<global scope="trace">{s("ApplicationID", "UNKNOWN")}</global>'
        f"{''.join(traces)}</log>"
    )
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    return str(path)


def test_sample_gives_one_person_per_application_and_one_event_per_xes_event(
    ingestor: Ingestor, store: Store
) -> None:
    traces = sample_traces()
    applications = {
        re.search(r'key="ApplicationID" value="([^"]*)"', t).group(1)  # type: ignore[union-attr]
        for t in traces
    }
    events = sum(t.count("<event>") for t in traces)
    assert (len(traces), len(applications), events) == (210, 124, 920)

    summary = import_xes(ingestor, str(SAMPLE))

    assert summary.rejected == [] and summary.skipped == []
    assert (summary.lines, summary.applied, summary.duplicates) == (events, events, 0)
    assert store.people.count() == len(applications)
    assert store.events.count() == events
    names = re.findall(r'<event>.*?key="concept:name" value="([^"]*)"', sample_text())
    assert store.events.counts_by_name() == {n: names.count(n) for n in set(names)}


def test_the_first_sample_event_carries_its_own_and_its_offers_attributes(
    ingestor: Ingestor, store: Store
) -> None:
    import_xes(ingestor, str(SAMPLE))

    first = next(store.events.iter_range())
    person = store.people.by_external_id("Application_196483749")
    assert person is not None and first.person_id == person.id
    assert (first.type, first.name, first.timestamp) == ("track", "O_Create Offer", FIRST_EVENT_MS)
    assert first.dedupe_key == "xes:event:Offer_247135719"
    # Read off the first trace of the sample by hand.
    assert first.properties == {
        "Action": "Created",
        "org:resource": "User_17",
        "EventOrigin": "Offer",
        "EventID": "Offer_247135719",
        "lifecycle:transition": "complete",
        "offer_id": "Offer_247135719",
        "MonthlyCost": 201.76,
        "Selected": False,
        "ApplicationID": "Application_196483749",
        "FirstWithdrawalAmount": 10000.0,
        "CreditScore": 0,
        "OfferedAmount": 10000.0,
        "NumberOfTerms": 57,
        "Accepted": True,
    }


def test_a_second_import_adds_nothing(ingestor: Ingestor, store: Store) -> None:
    import_xes(ingestor, str(SAMPLE), person_attributes=True)
    count = store.events.count()

    again = import_xes(ingestor, str(SAMPLE), person_attributes=True)

    assert (again.applied, again.duplicates) == (0, again.lines)
    assert store.events.count() == count


def test_typed_attributes_and_the_case_id(ingestor: Ingestor, store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, trace("Offer_1", "App_1", event("O_Sent", "2016-03-01T09:00:00Z")))

    import_xes(ingestor, path)

    [only] = store.events.iter_range()
    assert only.properties == {
        "offer_id": "Offer_1",
        "ApplicationID": "App_1",
        "OfferedAmount": 1000.0,
        "NumberOfTerms": 12,
        "Selected": True,
        "Signed": "2016-03-01T10:00:00.000+01:00",
        "lifecycle:transition": "complete",
    }
    assert [type(only.properties[k]) for k in ("OfferedAmount", "NumberOfTerms", "Selected")] == [
        float,
        int,
        bool,
    ]
    assert only.dedupe_key == "xes:trace:Offer_1:1"


def test_lifecycle_filter_keeps_only_the_listed_transitions(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        trace(
            "Offer_1",
            "App_1",
            event("Review", "2016-03-01T09:00:00Z", "start"),
            event("Review", "2016-03-01T10:00:00Z", "complete"),
            event("Call", "2016-03-01T11:00:00Z", "start"),
        ),
    )

    summary = import_xes(ingestor, path, lifecycles=frozenset({"complete"}))

    assert (summary.lines, summary.applied) == (1, 1)
    [kept] = store.events.iter_range()
    assert (kept.name, kept.properties["lifecycle:transition"]) == ("Review", "complete")


def test_lifecycle_filter_that_matches_nothing_imports_nothing(
    ingestor: Ingestor, store: Store
) -> None:
    # Every event of the BPIC 2017 offer log is `complete`.
    assert 'key="lifecycle:transition" value="start"' not in sample_text()

    summary = import_xes(ingestor, str(SAMPLE), lifecycles=frozenset({"start"}))

    assert (summary.lines, store.events.count(), store.people.count()) == (0, 0, 0)


def test_person_attributes_send_one_identify_per_trace_at_its_first_event(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        trace(
            "Offer_1",
            "App_1",
            event("O_Sent", "2016-03-01T10:00:00Z"),
            event("O_Created", "2016-03-01T09:00:00Z"),  # earlier, though later in the file
            amount="1000.0",
        ),
        trace("Offer_2", "App_1", event("O_Created", "2016-03-05T09:00:00Z"), amount="2500.0"),
    )

    summary = import_xes(ingestor, path, person_attributes=True)

    assert (summary.lines, summary.applied) == (5, 5)
    rows = [(e.type, e.name, e.timestamp) for e in store.events.iter_range()]
    march_1_9h = 1_456_822_800_000  # 2016-03-01T09:00:00Z
    assert rows == [
        ("identify", None, march_1_9h),
        ("track", "O_Sent", march_1_9h + 3_600_000),
        ("track", "O_Created", march_1_9h),
        ("identify", None, march_1_9h + 4 * 86_400_000),
        ("track", "O_Created", march_1_9h + 4 * 86_400_000),
    ]
    first_identify = next(store.events.iter_range())
    assert first_identify.properties == {
        "offer_id": "Offer_1",
        "OfferedAmount": 1000.0,
        "NumberOfTerms": 12,
        "Selected": True,
        "Signed": "2016-03-01T10:00:00.000+01:00",
    }
    assert first_identify.dedupe_key == "xes:trace:Offer_1:attributes"
    person = store.people.by_external_id("App_1")
    assert person is not None
    # The later offer's terms are the person's now.
    assert (person.attributes["offer_id"], person.attributes["OfferedAmount"]) == (
        "Offer_2",
        2500.0,
    )
    assert "ApplicationID" not in person.attributes


def test_without_person_attributes_people_have_no_attributes(
    ingestor: Ingestor, store: Store
) -> None:
    import_xes(ingestor, str(SAMPLE))
    assert store.events.counts_by_type() == {"track": 920}
    assert all(p.attributes == {} for p in store.people.iter_all())


def test_a_trace_without_the_person_attribute_is_rejected_and_the_others_apply(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        trace("Offer_1", "App_1", event("O_Created", "2016-03-01T09:00:00Z")),
        trace(
            "Offer_2",
            None,
            event("O_Created", "2016-03-01T09:00:00Z"),
            event("O_Sent", "2016-03-01T09:00:00Z"),
        ),
        trace("Offer_3", "App_3", event("O_Created", "2016-03-01T09:00:00Z")),
    )

    summary = import_xes(ingestor, path, person_attributes=True)

    [problem] = summary.rejected
    assert (problem.source, problem.line) == (path, 2)
    assert problem.reason == (
        "trace #2 (Offer_2) has no ApplicationID attribute; its 2 events were not imported"
    )
    assert sorted(p.external_id or "" for p in store.people.iter_all()) == ["App_1", "App_3"]
    assert store.events.counts_by_type() == {"identify": 2, "track": 2}


def test_another_person_key_names_other_people(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        trace("Offer_1", "App_1", event("O_Created", "2016-03-01T09:00:00Z")),
        trace("Offer_2", "App_1", event("O_Created", "2016-03-01T09:00:00Z")),
    )
    import_xes(ingestor, path, person_key="concept:name")
    assert sorted(p.external_id or "" for p in store.people.iter_all()) == ["Offer_1", "Offer_2"]


def test_a_bad_event_is_rejected_and_its_neighbours_apply(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        trace(
            "Offer_1",
            "App_1",
            event("O_Created", "2016-03-01T09:00:00Z"),
            event("O_Sent", "2016-03-01 09:00"),  # no zone
            "<event><string key='concept:name' value='O_Late'/></event>",
            event("O_Returned", "2016-03-02T09:00:00Z"),
        ),
        '<trace><string key="concept:name" value="Offer_2"/>'
        '<string key="ApplicationID" value="App_2"/><int key="NumberOfTerms" value="twelve"/>'
        + event("O_Created", "2016-03-01T09:00:00Z")
        + "</trace>",
    )

    summary = import_xes(ingestor, path)

    assert [(p.line, p.reason) for p in summary.rejected] == [
        (
            1,
            "trace #1 (Offer_1) event #2: time:timestamp '2016-03-01 09:00' has no time "
            "zone (add Z or +00:00)",
        ),
        (1, "trace #1 (Offer_1) event #3: no time:timestamp"),
        (
            2,
            "trace #2 (Offer_2): NumberOfTerms 'twelve' is not an int; its 1 events were "
            "not imported",
        ),
    ]
    assert [e.name for e in store.events.iter_range()] == ["O_Created", "O_Returned"]
    assert (summary.lines, summary.applied) == (5, 2)


def test_ties_in_time_keep_file_order(ingestor: Ingestor, store: Store, tmp_path: Path) -> None:
    at = "2016-03-01T09:00:00.000Z"
    path = write(
        tmp_path,
        trace("Offer_1", "App_1", event("B", at), event("A", at), event("C", at)),
    )
    import_xes(ingestor, path)
    person = store.people.by_external_id("App_1")
    assert person is not None
    # Newest first: with equal times, the last in the file comes first.
    assert [e.name for e in store.events.for_person(person.id)] == ["C", "A", "B"]


def test_event_ids_are_keys_unless_they_repeat(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    at = "2016-03-01T09:00:00Z"
    path = write(
        tmp_path,
        trace("Offer_1", "App_1", event("O_Created", at, EventID="E1")),
        # The same EventID on another event must not swallow it.
        trace(
            "Offer_2",
            "App_1",
            event("O_Created", at, EventID="E2"),
            event("O_Sent", at, EventID="E1"),
        ),
    )

    summary = import_xes(ingestor, path)

    assert (summary.applied, summary.duplicates) == (3, 0)
    assert [e.dedupe_key for e in store.events.iter_range()] == [
        "xes:event:E1",
        "xes:event:E2",
        "xes:trace:Offer_2:2",
    ]
    assert import_xes(ingestor, path).duplicates == 3


def test_namespaced_and_gzipped_logs_read_the_same(
    ingestor: Ingestor, store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        trace("Offer_1", "App_1", event("O_Created", "2016-03-01T09:00:00Z")),
        name="log.xes.gz",
        xmlns=True,
    )
    calls: list[int] = []

    summary = import_xes(ingestor, path, progress=calls.append)

    assert (summary.applied, summary.rejected) == (1, [])
    [only] = store.events.iter_range()
    assert only.properties["NumberOfTerms"] == 12
    assert sum(calls) == len(gzip.decompress(Path(path).read_bytes()))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<log><trace><event>", "is not well-formed XML"),
        (b"<html><body/></html>", "is not an XES log"),
    ],
)
def test_a_broken_file_is_one_clear_error(
    ingestor: Ingestor, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.xes"
    path.write_bytes(content)
    with pytest.raises(NudgeError, match=message):
        import_xes(ingestor, str(path))


def test_a_truncated_gzip_is_one_clear_error(ingestor: Ingestor, tmp_path: Path) -> None:
    path = tmp_path / "cut.xes.gz"
    path.write_bytes(SAMPLE.read_bytes()[:50_000])
    with pytest.raises(NudgeError, match="cannot read"):
        import_xes(ingestor, str(path))


def test_a_missing_file_is_one_clear_error(ingestor: Ingestor, tmp_path: Path) -> None:
    with pytest.raises(NudgeError, match="cannot read"):
        import_xes(ingestor, str(tmp_path / "missing.xes.gz"))
