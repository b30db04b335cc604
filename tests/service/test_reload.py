"""Hot reload (STYLE.md convention 8): a good edit swaps and moves journeys by step id;
a bad one (YAML, template, segment) keeps the last good set and names file and line.

Driven through `DefinitionsWatcher.check_once` (one reload), and `run` over a stand-in
for `watchfiles.watch`, so nothing waits on the file system.

Every test starts at T0 = Monday 2024-06-03 10:00 UTC: u1 signs up and enters
`onboard` (journey 1), which queues `hello` at once and waits at `pause` until
T0 + 1 day.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import watchfiles

from app.config import load_settings
from app.core.clock import FixedClock
from app.core.errors import NotFound
from app.core.models import Journey
from app.core.yamlload import DefinitionError
from app.service import reload as reload_module
from app.service.reload import DefinitionsWatcher, _watched
from app.service.workspace import Workspace, open_workspace

T0 = 1_717_408_800_000  # 2024-06-03T10:00:00Z
DAY = 86_400_000

ONBOARD = """\
id: onboard
name: Onboarding
state: active
trigger: {event: signed_up}
steps:
  - id: hello
    send: {template: hello, subject: Hi}
  - id: pause
    delay: 1d
  - id: bye
    send: {template: bye, subject: Bye}
"""

# The same campaign with a `tip` after the pause.
ONBOARD_WITH_TIP = ONBOARD.replace(
    "  - id: bye\n", "  - id: tip\n    send: {template: tip, subject: A tip}\n  - id: bye\n"
)

# The same campaign without its pause.
ONBOARD_WITHOUT_PAUSE = ONBOARD.replace("  - id: pause\n    delay: 1d\n", "")

# Line 7 opens a flow mapping that never closes: the parser notices on line 8.
BROKEN_YAML = ONBOARD.replace("{template: hello, subject: Hi}", "{template: hello, subject: Hi")

SEGMENT = """\
id: trialists
name: On a trial
condition: {attribute: plan, equals: trial}
"""


@pytest.fixture(autouse=True)
def _isolated(clean_cwd: Path) -> None:
    """Every test in `clean_cwd` (see tests/conftest.py)."""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "campaigns"
    (root / "templates").mkdir(parents=True)
    (root / "segments").mkdir()
    for name in ("hello", "bye", "tip"):
        (root / "templates" / f"{name}.html.j2").write_text(
            f"<p>{name}, {{{{ person.first_name | default('there') }}}}</p>\n"
        )
    (root / "segments" / "trialists.yaml").write_text(SEGMENT)
    (root / "onboard.yaml").write_text(ONBOARD)
    return root


@pytest.fixture
def ws(folder: Path, tmp_path: Path) -> Iterator[Workspace]:
    settings = load_settings(database=tmp_path / "n.db", campaigns=folder)
    workspace = open_workspace(settings, clock=FixedClock(T0))
    assert workspace.errors == []
    report = workspace.ingestor.apply(
        [
            {"type": "identify", "userId": "u1", "traits": {"plan": "trial"}, "timestamp": T0},
            {"type": "track", "userId": "u1", "event": "signed_up", "timestamp": T0},
        ]
    )
    assert report.rejected == []
    yield workspace
    workspace.store.close()


def set_clock(ws: Workspace, at: int) -> None:
    assert isinstance(ws.clock, FixedClock)
    ws.clock.at_ms = at


def journey(ws: Workspace) -> Journey:
    found = ws.store.journeys.get(1)
    assert found is not None
    return found


def keys(ws: Workspace) -> list[str]:
    return [d.key for d in ws.store.deliveries.all()]


def live_hash(ws: Workspace) -> str:
    return ws.engine.versions["onboard"].hash


def hash_of(text: str) -> str:
    """The version hash by its rule: the YAML, then each template it sends (by name)."""
    digest = hashlib.sha256(text.encode())
    for name in sorted(n for n in ("hello", "bye", "tip") if f"template: {n}" in text):
        html = f"<p>{name}, {{{{ person.first_name | default('there') }}}}</p>\n"
        digest.update(f"\0{name}\0{html}\0".encode())
    return digest.hexdigest()[:16]


def test_the_starting_point(ws: Workspace) -> None:
    j = journey(ws)
    assert (j.state, j.step_id, j.next_due_at, j.version) == (
        "active",
        "pause",
        T0 + DAY,
        hash_of(ONBOARD),
    )
    assert keys(ws) == ["onboard/1/hello"]


def test_a_good_edit_swaps_and_moves_journeys_in_flight_by_step_id(
    ws: Workspace, folder: Path
) -> None:
    (folder / "onboard.yaml").write_text(ONBOARD_WITH_TIP)
    set_clock(ws, T0 + 3_600_000)
    assert DefinitionsWatcher(ws).check_once() == []
    # The engine runs the new version; journey 1 stays at `pause`, now of the new
    # version, with its due time untouched.
    assert live_hash(ws) == hash_of(ONBOARD_WITH_TIP) != hash_of(ONBOARD)
    j = journey(ws)
    assert (j.state, j.step_id, j.next_due_at, j.version) == (
        "active",
        "pause",
        T0 + DAY,
        hash_of(ONBOARD_WITH_TIP),
    )
    # The old version's source stays on record for the journeys that ran it.
    assert ws.store.campaigns.version_source("onboard", hash_of(ONBOARD)) == ONBOARD
    # When the pause ends it walks the new steps: tip, then bye, both at T0 + 1d.
    report = ws.engine.advance(T0 + DAY)
    assert (report.steps, report.queued) == (2, 2)
    assert keys(ws) == ["onboard/1/hello", "onboard/1/tip", "onboard/1/bye"]
    j = journey(ws)
    assert (j.state, j.path, j.ended_at) == (
        "completed",
        ["hello", "pause", "tip", "bye"],
        T0 + DAY,
    )


def test_a_journey_at_a_removed_step_exits_with_step_removed(ws: Workspace, folder: Path) -> None:
    (folder / "onboard.yaml").write_text(ONBOARD_WITHOUT_PAUSE)
    set_clock(ws, T0 + 3_600_000)
    assert DefinitionsWatcher(ws).check_once() == []
    assert live_hash(ws) == hash_of(ONBOARD_WITHOUT_PAUSE)
    j = journey(ws)
    assert (j.state, j.exit_reason, j.ended_at, j.next_due_at) == (
        "exited",
        "step_removed",
        T0 + 3_600_000,
        None,
    )
    exits = [e for e in ws.store.activity.latest() if e.kind == "journey.exited"]
    assert [(e.at, e.step, e.detail) for e in exits] == [
        (T0 + 3_600_000, "pause", {"journey": 1, "reason": "step_removed"})
    ]
    # Nothing is due any more: `bye` is never queued for journey 1.
    assert ws.engine.advance(T0 + DAY).steps == 0
    assert keys(ws) == ["onboard/1/hello"]


def test_a_yaml_error_keeps_the_old_version_and_names_file_and_line(
    ws: Workspace, folder: Path
) -> None:
    path = folder / "onboard.yaml"
    path.write_text(BROKEN_YAML)
    errors = DefinitionsWatcher(ws).check_once()
    assert len(errors) == 1
    assert (errors[0].file, errors[0].line) == (str(path), 8)
    assert errors[0].message.startswith("not valid YAML: ")
    assert ws.errors == errors
    # The last good version keeps running: same hash, journey untouched, and the pause
    # still ends in `bye`.
    assert live_hash(ws) == hash_of(ONBOARD)
    assert journey(ws).version == hash_of(ONBOARD)
    ws.engine.advance(T0 + DAY)
    assert keys(ws) == ["onboard/1/hello", "onboard/1/bye"]


def test_fixing_a_broken_file_swaps_on_the_next_reload(ws: Workspace, folder: Path) -> None:
    watcher = DefinitionsWatcher(ws)
    (folder / "onboard.yaml").write_text(BROKEN_YAML)
    assert watcher.check_once() != []
    (folder / "onboard.yaml").write_text(ONBOARD_WITH_TIP)
    assert watcher.check_once() == []
    assert ws.errors == []
    assert live_hash(ws) == hash_of(ONBOARD_WITH_TIP)


def test_a_template_syntax_error_blocks_the_edit_that_uses_it(ws: Workspace, folder: Path) -> None:
    tip = folder / "templates" / "tip.html.j2"
    tip.write_text("<p>Hello</p>\n<p>{% if person.first_name %}Hi{% endfor %}</p>\n")
    (folder / "onboard.yaml").write_text(ONBOARD_WITH_TIP)
    errors = DefinitionsWatcher(ws).check_once()
    assert [(e.file, e.line) for e in errors] == [(str(tip), 2)]
    assert "endfor" in errors[0].message
    assert live_hash(ws) == hash_of(ONBOARD)


def test_one_bad_file_anywhere_blocks_every_change(ws: Workspace, folder: Path) -> None:
    # A good campaign edit and a broken segment in the same save: all or nothing.
    (folder / "onboard.yaml").write_text(ONBOARD_WITH_TIP)
    bad = folder / "segments" / "typo.yaml"
    bad.write_text(
        "id: typo\nname: Typo\ncondition: {attribute: plan, equals: trial}\ncolour: red\n"
    )
    errors = DefinitionsWatcher(ws).check_once()
    assert errors == [DefinitionError(str(bad), 4, "colour: unknown field 'colour'")]
    assert live_hash(ws) == hash_of(ONBOARD)
    assert "typo" not in ws.segments.segments


def test_a_segment_edit_swaps_the_segments_the_engine_evaluates(
    ws: Workspace, folder: Path
) -> None:
    old_keeper = ws.segments
    assert ws.store.segments.member_count("trialists") == 1
    (folder / "segments" / "trialists.yaml").write_text(
        SEGMENT.replace("equals: trial", "equals: pro")
    )
    assert DefinitionsWatcher(ws).check_once() == []
    assert ws.segments is not old_keeper
    assert ws.engine.segments is ws.segments
    assert ws.engine.evaluator is ws.segments.evaluator
    # Evaluated anew: u1 (on a trial) is no longer a member.
    assert ws.store.segments.member_count("trialists") == 0


def test_a_reload_with_nothing_changed_swaps_nothing(ws: Workspace) -> None:
    versions, keeper = ws.engine.versions, ws.segments
    assert DefinitionsWatcher(ws).check_once() == []
    assert ws.engine.versions is versions
    assert ws.segments is keeper


def test_run_reloads_after_each_change_and_reports_the_result(
    ws: Workspace, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    path = str(folder / "onboard.yaml")

    def fake_watch(*paths: Path, **options: Any) -> Iterator[set[tuple[watchfiles.Change, str]]]:
        # Stands in for watchfiles: each "change" is written, then reported.
        seen.update(paths=paths, **options)
        (folder / "onboard.yaml").write_text(ONBOARD_WITH_TIP)
        yield {(watchfiles.Change.modified, path)}
        (folder / "onboard.yaml").write_text(BROKEN_YAML)
        yield {(watchfiles.Change.modified, path)}

    monkeypatch.setattr(reload_module.watchfiles, "watch", fake_watch)
    stop = threading.Event()
    results: list[list[DefinitionError]] = []
    hashes: list[str] = []

    def on_result(errors: list[DefinitionError]) -> None:
        results.append(errors)
        hashes.append(live_hash(ws))

    DefinitionsWatcher(ws).run(stop, on_result)
    assert seen["paths"] == (folder,)
    assert seen["stop_event"] is stop
    assert seen["recursive"] is True
    assert seen["watch_filter"] is _watched
    assert [[(e.file, e.line) for e in r] for r in results] == [[], [(path, 8)]]
    # The good edit went live; the broken one left it running.
    assert hashes == [hash_of(ONBOARD_WITH_TIP), hash_of(ONBOARD_WITH_TIP)]


def test_changes_reports_the_paths_of_each_burst(
    ws: Workspace, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_watch(*_paths: Path, **_options: Any) -> Iterator[set[tuple[watchfiles.Change, str]]]:
        yield {(watchfiles.Change.added, "a.yaml"), (watchfiles.Change.deleted, "b.yaml")}

    monkeypatch.setattr(reload_module.watchfiles, "watch", fake_watch)
    assert list(DefinitionsWatcher(ws).changes()) == [{"a.yaml", "b.yaml"}]


def test_watching_a_missing_folder_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    ws.settings = load_settings(database=tmp_path / "n.db", campaigns=tmp_path / "nope")
    with pytest.raises(NotFound, match="campaigns folder .*nope does not exist"):
        list(DefinitionsWatcher(ws).changes())


@pytest.mark.parametrize(
    ("path", "watched"),
    [
        ("/c/welcome.yaml", True),
        ("/c/segments/active.yml", True),
        ("/c/templates/hello.html.j2", True),
        ("/c/templates/hello.txt.j2", True),
        ("/c/.welcome.yaml.swp", False),
        ("/c/welcome.yaml~", False),
        ("/c/4913", False),
        ("/c/notes.md", False),
        ("/c/.git/welcome.yaml", False),
    ],
)
def test_only_definition_and_template_files_trigger_a_reload(path: str, watched: bool) -> None:
    assert _watched(watchfiles.Change.modified, path) is watched
