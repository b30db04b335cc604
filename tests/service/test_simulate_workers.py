"""A simulation split by person across worker processes reports exactly what one process
reports: the identity groups keep together every operation that can affect another
(anonymous ids joined later, merges, moved emails, suppressions by email, a retried event
id), the parts share the start, the sweep grid and the end, and the outcomes merge into
the same bytes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from app.config import load_settings
from app.core.errors import NotFound
from app.core.operations import parse_operation
from app.service import simulation_workers
from app.service.demo_data import generate
from app.service.simulate import (
    CampaignSource,
    LogFiles,
    SimulationCancelled,
    SimulationRequest,
    report_json,
    simulate,
)
from app.service.simulation_groups import IdentityGroups, split
from app.service.simulation_runner import MAX_WORKERS, WORKERS_FROM, worker_count

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400_000
T0 = 1_790_000_000_000  # 2026-09-21T13:33:20Z


def _iso(ms: int) -> str:
    from app.core.times import format_instant

    return format_instant(ms)


def _seg(kind: str, at: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "timestamp": _iso(at), **fields}


def _cio(action: str, at: int, **fields: Any) -> dict[str, Any]:
    return {"type": "person", "action": action, "timestamp": _iso(at), **fields}


#: Operations that reach across people, each case in a group of its own.
LINKED: list[dict[str, Any]] = [
    # ann clicks before anyone knows her; her identify joins the anonymous click, so she
    # is in `clickers` (clicked within 7 days) and the segment campaign greets her.
    _seg("track", T0, anonymousId="anon-ann", event="clicked"),
    _seg("identify", T0 + 1000, userId="ann", anonymousId="anon-ann",
         traits={"email": "ann@example.com"}),
    # bob's click and cat's retry of the same event id: cat's is a duplicate.
    _seg("identify", T0 + 2000, userId="bob", traits={"email": "bob@example.com"}),
    _seg("identify", T0 + 2000, userId="cat", traits={"email": "cat@example.com"}),
    _seg("track", T0 + 3000, userId="bob", event="clicked", messageId="m-1"),
    _seg("track", T0 + 4000, userId="cat", event="clicked", messageId="m-1"),
    # hal's address was suppressed before hal was identified with it: hal is skipped.
    _cio("suppress", T0 + 5000, identifiers={"email": "hal@example.com"}),
    _seg("identify", T0 + 6000, userId="hal", traits={"email": "hal@example.com"}),
    _seg("track", T0 + 7000, userId="hal", event="clicked"),
    # gus is merged into fay: gus's click is fay's, and fay is in `clickers`.
    _seg("identify", T0 + 8000, userId="fay", traits={"email": "fay@example.com"}),
    _seg("identify", T0 + 8000, userId="gus", traits={"email": "gus@example.com"}),
    _seg("track", T0 + 9000, userId="gus", event="clicked"),
    _cio("merge", T0 + 10_000, primary={"id": "fay"}, secondary={"id": "gus"}),
    # ivy takes dan's address: dan's later sends go to nobody or ivy, as ingest decides.
    _seg("identify", T0 + 11_000, userId="dan", traits={"email": "dan@example.com"}),
    _seg("identify", T0 + 12_000, userId="ivy", traits={"email": "dan@example.com"}),
    _seg("track", T0 + 13_000, userId="dan", event="clicked"),
    _seg("track", T0 + 14_000, userId="ivy", event="clicked"),
    # Unlinked people, so the parts are not trivially one.
    *[
        op
        for n in range(6)
        for op in (
            _seg("identify", T0 + 20_000 + n, userId=f"p{n}",
                 traits={"email": f"p{n}@example.com"}),
            _seg("track", T0 + DAY + n * 3_600_000, userId=f"p{n}", event="clicked"),
        )
    ],
]  # fmt: skip

HELLO = """\
id: hello
name: Hello clickers
trigger: {event: clicked}
re_entry: every_time
steps:
  - id: wait_a_day
    delay: 1d
  - id: hello
    send: {template: hello, subject: "Hello {{ person.id }}"}
"""

GREET = """\
id: greet
name: Greet the segment
trigger: {segment_entered: clickers}
steps:
  - id: greet
    send: {template: hello, subject: "Welcome {{ person.id }}"}
"""


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "campaigns"
    (folder / "templates").mkdir(parents=True)
    (folder / "segments").mkdir()
    (folder / "templates" / "hello.html.j2").write_text("<p>Hi {{ person.id }}</p>\n")
    (folder / "segments" / "clickers.yaml").write_text(
        "id: clickers\nname: Clickers\ncondition: {performed: clicked, within: 7d}\n"
    )
    (folder / "hello.yaml").write_text(HELLO)
    (folder / "greet.yaml").write_text(GREET)
    return folder


def _request(
    folder: Path, log: Path, workers: int, until: int, person: str | None = None
) -> SimulationRequest:
    settings = load_settings(database=folder / "unused.db", campaigns=folder, timezone="UTC")
    sources = tuple(CampaignSource(p) for p in sorted(folder.glob("*.yaml")))
    return SimulationRequest(
        sources, LogFiles((log,)), settings, until_ms=until, person=person, workers=workers
    )


def _write(path: Path, ops: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(op) + "\n" for op in ops))
    return path


def _parts_seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record how many operations each worker got (the split is really used)."""
    import pickle

    seen: list[int] = []
    real = simulation_workers._run_parts

    def spy(specs: list[Any], *args: Any) -> Any:
        for spec in specs:
            rows = 0
            with spec.ops_file.open("rb") as f:
                while True:
                    try:
                        rows += len(pickle.load(f))
                    except EOFError:
                        break
            seen.append(rows)
        return real(specs, *args)

    monkeypatch.setattr(simulation_workers, "_run_parts", spy)
    return seen


def test_identity_groups_join_what_ingest_joins() -> None:
    groups = IdentityGroups()
    nodes = [groups.add(parse_operation(op, 0)) for op in LINKED]
    roots = [groups.root(n) for n in nodes]
    ann, bob_cat, hal, fay_gus, dan_ivy = (
        roots[0:2], roots[2:6], roots[6:9], roots[9:13], roots[13:17]
    )  # fmt: skip
    for linked in (ann, bob_cat, hal, fay_gus, dan_ivy):
        assert len(set(linked)) == 1
    apart = {ann[0], bob_cat[0], hal[0], fay_gus[0], dan_ivy[0], *roots[17:]}
    assert len(apart) == 5 + 6  # the linked cases and six loners, all different


def test_split_balances_parts_and_never_cuts_a_group() -> None:
    roots = [0, 0, 0, 0, 1, 1, 2, 2, 3, -1]
    parts = split(roots, 2)
    # Largest first (ties by root), each to the lighter part: 0 (4 ops) -> part 0;
    # 1 (2) -> 1; 2 (2) -> 1; then -1 (1, no group: always part 0) -> loads 5 and 4;
    # 3 (1) -> part 1.
    assert parts == [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    assert split(roots, 2) == parts


def test_worker_count() -> None:
    assert worker_count(None, WORKERS_FROM - 1) == 1
    assert worker_count(3, 10) == 3
    assert worker_count(0, 10) == 1
    assert worker_count(64, 10) == MAX_WORKERS == 8
    assert worker_count(None, WORKERS_FROM) >= 1


def test_linked_people_split_across_workers_report_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path)
    log = _write(tmp_path / "linked.jsonl", LINKED)
    until = T0 + 9 * DAY
    one = simulate(_request(folder, log, 1, until))
    seen = _parts_seen(monkeypatch)
    # As many workers as allowed (8) for 11 groups: no two of the five linked groups
    # share a part (the largest go first, each to the emptiest part), so a link the
    # groups missed would split linked operations across processes.
    split_report = simulate(_request(folder, log, 11, until))
    assert len(seen) == 8 and all(seen), seen
    assert report_json(split_report) == report_json(one)
    # The cases did what they are there for (else the check above proves little).
    assert one.duplicates == 1  # cat's retry of m-1
    # hal's identify (his address is suppressed); his click by id alone makes a person
    # with no address, whom nothing reaches.
    assert one.skipped == 1
    greeted = {m.person for m in one.messages if m.campaign == "greet"}
    assert {"ann", "fay"} <= greeted and not {"cat", "hal"} & greeted
    hello = [m.person for m in one.messages if m.campaign == "hello"]
    # bob's click enters `hello` (cat's is a duplicate; ann's was anonymous; gus's
    # journey ended with gus at the merge, a day before its send).
    assert hello.count("bob") == 1
    assert not {"cat", "ann", "fay", "gus"} & set(hello)


def test_person_timeline_and_unknown_person_with_workers(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    log = _write(tmp_path / "linked.jsonl", LINKED)
    until = T0 + 9 * DAY
    one = simulate(_request(folder, log, 1, until, person="fay"))
    two = simulate(_request(folder, log, 3, until, person="fay"))
    assert two.person == "fay" and two.timeline == one.timeline and one.timeline
    with pytest.raises(NotFound, match="nobody"):
        simulate(_request(folder, log, 3, until, person="nobody"))


def test_demo_data_through_every_campaign_same_report_with_workers(tmp_path: Path) -> None:
    data = generate(people=120)
    log = _write(tmp_path / "demo.jsonl", data.operations)
    campaigns = ROOT / "campaigns"
    settings = load_settings(database=tmp_path / "unused.db", campaigns=campaigns)
    sources = tuple(
        CampaignSource(p) for p in sorted(campaigns.glob("*.yaml")) if p.stem != "win_back"
    )

    def run(workers: int) -> str:
        request = SimulationRequest(
            sources, LogFiles((log,)), settings, until_ms=data.end_ms, workers=workers
        )
        return report_json(simulate(request))

    single = run(1)
    assert json.loads(single)["messages"], "the demo sends something"
    assert run(2) == single


def test_cancel_stops_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(tmp_path)
    ops = [
        op
        for n in range(3_000)
        for op in (
            _seg("identify", T0 + n, userId=f"q{n}", traits={"email": f"q{n}@example.com"}),
            _seg("track", T0 + DAY + n * 1000, userId=f"q{n}", event="clicked"),
        )
    ]
    log = _write(tmp_path / "many.jsonl", ops)
    cancel = threading.Event()
    calls: list[int] = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if done >= 1_000:
            cancel.set()

    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(simulation_workers.subprocess, "Popen", popen)
    with pytest.raises(SimulationCancelled):
        simulate(_request(folder, log, 2, T0 + 9 * DAY), progress=progress, cancel=cancel)
    assert calls and max(calls) < len(ops)
    assert len(started) == 2 and all(p.poll() is not None for p in started)


def test_workers_start_from_a_console_that_replaced_stdout_and_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The console replaces sys.stdout and sys.stderr with objects that have no real file
    # descriptor (multiprocessing refused to start there: "bad value(s) in fds_to_keep").
    class Captured(io.StringIO):
        def fileno(self) -> int:
            return -1

    folder = _folder(tmp_path)
    log = _write(tmp_path / "linked.jsonl", LINKED)
    monkeypatch.setattr(sys, "stdout", Captured())
    monkeypatch.setattr(sys, "stderr", Captured())
    report = simulate(_request(folder, log, 2, T0 + 9 * DAY))
    assert report.operations == len(LINKED)


def test_a_worker_error_reaches_the_caller(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    settings = load_settings(database=folder / "unused.db", campaigns=folder)
    from app.service.simulation_inputs import load_request_definitions

    definitions = load_request_definitions(_request(folder, tmp_path / "none.jsonl", 2, T0))
    part = simulation_workers._Part(
        0, settings, definitions, tmp_path / "missing.prior", tmp_path / "missing.ops",
        tmp_path / "p.outcome",
        tmp_path / "p.result", tmp_path / "p.db", T0, T0 + DAY, None,
    )  # fmt: skip
    with pytest.raises(FileNotFoundError, match="missing.prior"):
        simulation_workers._run_parts([part], 1, None, None)


def test_recorded_history_with_a_prior_range_same_report_with_workers(tmp_path: Path) -> None:
    from app.service.simulate import LiveHistory
    from tests.service.simulate_kit import live_database, offer_folder, read_offers

    live_database(tmp_path / "live.db").close()
    folder = tmp_path / "campaigns"
    offer_folder(folder)
    times = sorted(ts for offer in read_offers().values() for _, ts in offer.events)
    # From the middle on: the first half is applied first as the state (prior) in each
    # worker, split by the same groups as the replayed half.
    middle = times[len(times) // 2]
    settings = load_settings(database=tmp_path / "live.db", campaigns=folder)

    def run(workers: int) -> str:
        request = SimulationRequest(
            (CampaignSource(folder / "offer.yaml"),),
            LiveHistory(tmp_path / "live.db", middle, None),
            settings,
            until_ms=times[-1] + 31 * DAY,
            workers=workers,
        )
        return report_json(simulate(request))

    single = run(1)
    report = json.loads(single)
    assert report["prior"] > 0 and report["messages"]
    assert run(3) == single
