"""The simulator's contract (issue 6): the live database is only read and nothing is sent;
the same inputs give the same bytes; drafts with errors say where; progress, cancel and
a person's timeline.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from app.config import load_settings
from app.core.errors import NotFound, NudgeError
from app.delivery.smtp import SmtpMailer
from app.service.simulate import (
    CampaignSource,
    LiveHistory,
    LogFiles,
    SimulationCancelled,
    SimulationRequest,
    render_report_text,
    report_json,
    simulate,
)
from app.store import Store
from tests.service.simulate_kit import DAY, live_database, offer_folder, read_offers


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture
def live(tmp_path: Path) -> tuple[Path, Path, int]:
    store = live_database(tmp_path / "live.db")
    store.close()
    folder = tmp_path / "campaigns"
    offer_folder(folder)
    last = max(ts for o in read_offers().values() for _, ts in o.events)
    return tmp_path / "live.db", folder, last + 31 * DAY


def _request(db: Path, folder: Path, until: int, **more: object) -> SimulationRequest:
    settings = load_settings(database=db, campaigns=folder)
    files = tuple(CampaignSource(p) for p in sorted(folder.glob("*.yaml")))
    return SimulationRequest(files, LiveHistory(db), settings, until_ms=until, **more)  # type: ignore[arg-type]


def test_the_live_database_is_never_written_and_nothing_is_sent(
    live: tuple[Path, Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, folder, until = live

    def fail(*_args: object, **_kwargs: object) -> None:
        pytest.fail("the simulation used the SMTP mailer")

    monkeypatch.setattr(SmtpMailer, "__init__", fail)
    monkeypatch.setattr(SmtpMailer, "send", fail)
    # A live writer holds the file open (as `nudge serve` would), so the WAL exists too.
    writer = Store.open(db)
    writer.db.conn.execute("PRAGMA wal_autocheckpoint=0")
    with writer.transaction():
        writer.kv.set_default("probe", "1")
    wal = db.with_name(db.name + "-wal")
    before = (_digest(db), _digest(wal))
    assert before[1] is not None
    deliveries_before = writer.deliveries.counts_by_state()
    journeys_before = writer.journeys.campaign_counts()

    report = simulate(_request(db, folder, until))

    assert report.messages, "the simulation had something to send"
    assert (_digest(db), _digest(wal)) == before
    assert writer.deliveries.counts_by_state() == deliveries_before == {}
    assert writer.journeys.campaign_counts() == journeys_before == {}
    writer.close()


def test_same_inputs_same_bytes(live: tuple[Path, Path, int]) -> None:
    db, folder, until = live
    first = report_json(simulate(_request(db, folder, until, person="Application_287203067")))
    second = report_json(simulate(_request(db, folder, until, person="Application_287203067")))
    assert first == second
    assert '"message_id"' not in first


def test_progress_counts_operations_and_cancel_stops(live: tuple[Path, Path, int]) -> None:
    db, folder, until = live
    seen: list[tuple[int, int]] = []
    simulate(_request(db, folder, until), progress=lambda done, total: seen.append((done, total)))
    total = Store.open_readonly(db).events.count()
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    cancel = threading.Event()

    def stop_soon(done: int, total: int) -> None:
        cancel.set()

    with pytest.raises(SimulationCancelled):
        simulate(_request(db, folder, until), progress=stop_soon, cancel=cancel)


def test_a_persons_timeline_interleaves_events_and_decisions(
    live: tuple[Path, Path, int],
) -> None:
    db, folder, until = live
    app = "Application_287203067"
    report = simulate(_request(db, folder, until, person=app))
    assert report.person == app
    offers = [o for o in read_offers().values() if o.application == app]
    events = [e for e in report.timeline if e.source == "event"]
    # Every event of the application's ten offers, plus the identify with the email.
    assert len(events) == sum(len(o.events) for o in offers) + 1
    assert [e.at for e in report.timeline] == sorted(e.at for e in report.timeline)
    entered = [e for e in report.timeline if e.kind == "journey.entered"]
    sent = sum(1 for o in offers for name, _ in o.events if name.startswith("O_Sent"))
    assert len(entered) == sent
    assert f"timeline of {app}" in render_report_text(report)

    with pytest.raises(NotFound, match="nobody"):
        simulate(_request(db, folder, until, person="nobody"))


def test_a_draft_with_errors_names_file_and_line(live: tuple[Path, Path, int]) -> None:
    db, folder, until = live
    draft = "id: broken\nname: Broken\ntrigger: {event: x}\nsteps:\n  - id: a\n    wait: 3d\n"
    request = SimulationRequest(
        (CampaignSource(text=draft, name="edited.yaml"),),
        LiveHistory(db),
        load_settings(database=db, campaigns=folder),
    )
    with pytest.raises(NudgeError) as caught:
        simulate(request)
    assert caught.value.message.startswith("edited.yaml:5: ")
    missing = (
        "id: t\nname: T\ntrigger: {event: x}\nsteps:\n  - id: s\n"
        "    send: {template: nowhere, subject: Hi}\n"
    )
    request = SimulationRequest(
        (CampaignSource(text=missing, name="d.yaml"),), request.source, request.settings
    )
    with pytest.raises(NudgeError, match=r"^d\.yaml:5: .*nowhere"):
        simulate(request)


def test_log_files_replay_in_time_order_and_bad_lines_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "campaigns"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "hi.html.j2").write_text("<p>hi</p>")
    (folder / "c.yaml").write_text(
        "id: c\nname: C\ntrigger: {event: go}\nsteps:\n"
        "  - id: hi\n    send: {template: hi, subject: 'Hi {{ person.name }}'}\n"
    )
    late = '{"type":"track","userId":"a","event":"go","timestamp":"2024-01-02T00:00:00Z"}\n'
    early = (
        '{"type":"identify","userId":"a","traits":{"email":"a@x.org","name":"A"},'
        '"timestamp":"2024-01-01T00:00:00Z"}\n'
    )
    (tmp_path / "one.jsonl").write_text(late + "not json\n")
    (tmp_path / "two.jsonl").write_text(early + '{"type":"track","userId":"a","event":"go"}\n')
    request = SimulationRequest(
        (CampaignSource(folder / "c.yaml"),),
        LogFiles((tmp_path / "one.jsonl", tmp_path / "two.jsonl")),
        load_settings(database=tmp_path / "none.db", campaigns=folder),
    )
    report = simulate(request)
    # The identify (second file) is applied before the track (first file): the subject
    # renders with the name, so it was known when the message went out.
    assert [(m.person, m.subject) for m in report.messages] == [("a", "Hi A")]
    assert report.rejected == 2 and report.applied == 2
    assert report.problems[0].startswith(f"{tmp_path / 'one.jsonl'}:2: not JSON")
    assert report.problems[1] == f"{tmp_path / 'two.jsonl'}:2: no timestamp (a replay needs one)"
    assert not (tmp_path / "none.db").exists()


def _segment_run(tmp_path: Path, condition: str, trigger: str) -> list[tuple[str, str]]:
    """Simulate a campaign triggered by a segment move over a fixed log; (person, time)
    of each message."""
    folder = tmp_path / "campaigns"
    (folder / "segments").mkdir(parents=True)
    (folder / "templates").mkdir()
    (folder / "templates" / "miss.html.j2").write_text("<p>miss you</p>")
    (folder / "segments" / "seg.yaml").write_text(f"id: seg\nname: Seg\ncondition: {condition}\n")
    (folder / "miss.yaml").write_text(
        f"id: miss\nname: Miss\ntrigger: {{{trigger}: seg}}\nre_entry: every_time\n"
        "steps:\n  - id: m\n    send: {template: miss, subject: Miss you}\n"
    )
    lines = [
        ("a", "identify", "2024-03-01T00:00:00Z"),
        ("b", "identify", "2024-03-01T00:00:00Z"),
        ("a", "login", "2024-03-01T10:00:00.250Z"),
        ("b", "login", "2024-03-01T11:00:00Z"),
        ("b", "login", "2024-03-02T09:30:00Z"),
        ("a", "other", "2024-03-09T00:00:00Z"),
    ]
    log = tmp_path / "log.jsonl"
    with log.open("w") as out:
        for who, what, at in lines:
            if what == "identify":
                traits = {"email": f"{who}@x.org"}
                out.write(json.dumps({"type": what, "userId": who, "traits": traits,
                                      "timestamp": at}) + "\n")  # fmt: skip
            else:
                out.write(json.dumps({"type": "track", "userId": who, "event": what,
                                      "timestamp": at}) + "\n")  # fmt: skip
    request = SimulationRequest(
        (CampaignSource(folder / "miss.yaml"),),
        LogFiles((log,)),
        load_settings(database=tmp_path / "none.db", campaigns=folder),
    )
    return [(m.person, m.at_iso) for m in simulate(request).messages]


def test_a_segment_exit_by_time_alone_happens_at_its_instant(tmp_path: Path) -> None:
    # Leaving "active in the last 2 days" happens 2 days and 1 ms after the last login
    # (an event exactly 2 days old is still inside): the message goes out then, not at
    # the next hour or the next operation.
    got = _segment_run(tmp_path, "{performed: login, within: 2d}", "segment_exited")
    assert got == [("a", "2024-03-03T10:00:00.251Z"), ("b", "2024-03-04T09:30:00.001Z")]


def test_profile_age_moves_are_swept_on_the_hour(tmp_path: Path) -> None:
    # "No login in 2 days" has a profile-age side (known for 2 days), whose candidates
    # are a scan of everyone: such segments are swept on the hourly grid, so the same
    # instants as above become the next full hour.
    got = _segment_run(tmp_path, "{not_performed: login, within: 2d}", "segment_entered")
    assert got == [("a", "2024-03-03T11:00:00.000Z"), ("b", "2024-03-04T10:00:00.000Z")]


def test_a_broken_segment_a_draft_uses_is_named_with_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "campaigns"
    (folder / "segments").mkdir(parents=True)
    (folder / "segments" / "fans.yaml").write_text(
        "id: fans\nname: Fans\ncondition:\n  performed: like\n  within: often\n"
    )
    draft = "id: d\nname: D\ntrigger: {segment_entered: fans}\nsteps:\n  - id: x\n    delay: 1d\n"
    (tmp_path / "log.jsonl").write_text("")
    request = SimulationRequest(
        (CampaignSource(text=draft, name="draft.yaml"),),
        LogFiles((tmp_path / "log.jsonl",)),
        load_settings(database=tmp_path / "none.db", campaigns=folder),
    )
    with pytest.raises(NudgeError) as caught:
        simulate(request)
    lines = caught.value.message.splitlines()
    assert lines[0].startswith(f"{folder / 'segments' / 'fans.yaml'}:5: ")
    assert lines[1] == "draft.yaml:3: unknown segment 'fans'"
