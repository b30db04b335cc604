"""The `nudge` command as an operator uses it: exit codes, one-line errors, --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.store import Store
from tests.cli_kit import run

LOG = [
    {
        "type": "identify",
        "userId": "u1",
        "traits": {"email": "u1@example.com", "plan": "trial"},
        "timestamp": "2026-10-01T09:00:00Z",
    },
    {"type": "track", "userId": "u1", "event": "signed_up", "timestamp": "2026-10-01T09:00:01Z"},
    {"type": "track", "userId": "u2", "event": "app_login", "timestamp": "2026-10-02T09:00:00Z"},
    {"type": "track", "userId": "u1", "event": "app_login", "timestamp": "2026-10-03T09:00:00Z"},
]


@pytest.fixture(autouse=True)
def _isolated(clean_cwd: Path) -> None:
    # The default campaigns folder; commands that ingest refuse to run without one.
    (clean_cwd / "campaigns").mkdir()


def write_log(path: Path, ops: list[object]) -> Path:
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in ops))
    return path


def test_help_lists_the_commands() -> None:
    out = run("--help").output
    for command in ("ingest", "export", "import", "watch", "people", "stats"):
        assert command in out


def test_ingest_then_stats_json(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.jsonl", LOG)
    result = run("ingest", str(log), "--db", "n.db")
    assert result.exit_code == 0, result.output
    assert "4 operations: 4 applied" in result.output
    stats = json.loads(run("stats", "--json", "--db", "n.db").output)
    assert stats["people"] == 2
    assert stats["events"] == 4
    assert stats["events_by_name"] == {"app_login": 2, "signed_up": 1}
    assert stats["last_event_at"] == "2026-10-03T09:00:00.000Z"


def test_ingest_with_rejected_lines_exits_1_and_names_them(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.jsonl", [LOG[1], "{oops", {"type": "track", "userId": "u1"}])
    result = run("ingest", str(log), "--db", "n.db")
    assert result.exit_code == 1
    assert f"rejected {log}:2: not JSON" in result.output
    assert f"rejected {log}:3: track event has no name" in result.output
    assert json.loads(run("stats", "--json", "--db", "n.db").output)["events"] == 1


def test_an_interrupted_ingest_says_what_landed_and_a_rerun_applies_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.service.logfiles as logfiles

    # Clients send a messageId with each operation: a rerun skips what landed.
    ops = [{**op, "messageId": f"m{n}"} for n, op in enumerate(LOG)]
    first = write_log(tmp_path / "first.jsonl", ops[:2])
    second = write_log(tmp_path / "second.jsonl", ops[2:])
    real = logfiles.ingest_lines

    def stop_at_second(
        ingestor: Any, lines: Any, source: str, summary: Any, progress: Any = None
    ) -> Any:
        if source == str(second):
            raise KeyboardInterrupt  # Ctrl-C while the second file is read
        return real(ingestor, lines, source, summary, progress=progress)

    monkeypatch.setattr(logfiles, "ingest_lines", stop_at_second)
    result = CliRunner().invoke(cli, ["ingest", str(first), str(second), "--db", "n.db"])
    assert result.exit_code == 130
    # The first file's two operations committed; nothing of the second.
    assert "interrupted: 2 operations applied, 0 duplicates" in result.output
    assert json.loads(run("stats", "--json", "--db", "n.db").output)["events"] == 2
    monkeypatch.setattr(logfiles, "ingest_lines", real)
    again = run("ingest", str(first), str(second), "--db", "n.db")
    assert "4 operations: 2 applied, 2 duplicates" in again.output


def test_ingest_reads_stdin() -> None:
    result = run("ingest", "-", "--db", "n.db", input=json.dumps(LOG[2]) + "\n")
    assert result.exit_code == 0
    assert json.loads(run("stats", "--json", "--db", "n.db").output)["people"] == 1


def test_people_show_prints_attributes_and_latest_events_first(tmp_path: Path) -> None:
    run("ingest", str(write_log(tmp_path / "log.jsonl", LOG)), "--db", "n.db")
    out = run("people", "show", "U1@EXAMPLE.COM", "--db", "n.db").output
    assert out.splitlines()[0].startswith("u1  email=u1@example.com")
    assert 'plan = "trial"' in out
    login, signup = out.index("app_login"), out.index("signed_up")
    assert login < signup  # newest first
    as_json = json.loads(run("people", "show", "u1", "--json", "--db", "n.db").output)
    assert [e["name"] for e in as_json["events"]] == ["app_login", "signed_up", None]


def test_unknown_person_is_one_line_error() -> None:
    Store.open("n.db").close()
    result = CliRunner().invoke(cli, ["people", "show", "nobody", "--db", "n.db"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no person with id or email 'nobody'"


def test_bad_setting_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUDGE_TIMEZONE", "Mars/Olympus")
    result = CliRunner().invoke(cli, ["stats", "--db", "n.db"])
    assert result.exit_code == 1
    assert "unknown time zone 'Mars/Olympus'" in result.output
    assert "Traceback" not in result.output


def test_missing_file_is_one_line_error() -> None:
    result = CliRunner().invoke(cli, ["ingest", "nope.jsonl", "--db", "n.db"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot read nope.jsonl")


def test_export_and_ingest_round_trip_through_the_cli(tmp_path: Path) -> None:
    run("ingest", str(write_log(tmp_path / "log.jsonl", LOG)), "--db", "a.db")
    assert "4 events written" in run("export", "out.jsonl.gz", "--db", "a.db").output
    assert run("ingest", "out.jsonl.gz", "--db", "b.db").exit_code == 0
    a = json.loads(run("stats", "--json", "--db", "a.db").output)
    b = json.loads(run("stats", "--json", "--db", "b.db").output)
    assert a == b


def test_export_since_until_bounds(tmp_path: Path) -> None:
    run("ingest", str(write_log(tmp_path / "log.jsonl", LOG)), "--db", "a.db")
    out = run(
        "export", "-", "--since", "2026-10-02", "--until", "2026-10-03T09:00:00Z", "--db", "a.db"
    ).output
    assert [json.loads(line)["name"] for line in out.splitlines()] == ["app_login"]


def test_people_list_json() -> None:
    run("ingest", "-", "--db", "n.db", input="".join(json.dumps(o) + "\n" for o in LOG))
    rows = [
        json.loads(line)
        for line in run("people", "list", "--json", "--db", "n.db").output.splitlines()
    ]
    assert [r["id"] for r in rows] == ["u1", "u2"]


SEGMENT = """\
id: trials
name: Trial users
condition:
  attribute: plan
  equals: trial
"""


def test_segments_commands(tmp_path: Path) -> None:
    (tmp_path / "campaigns" / "segments").mkdir(parents=True, exist_ok=True)
    (tmp_path / "campaigns" / "segments" / "trials.yaml").write_text(SEGMENT)
    log = write_log(tmp_path / "log.jsonl", LOG)
    assert run("ingest", str(log), "--db", "n.db").exit_code == 0
    listing = run("segments", "list", "--db", "n.db").output
    # u1 entered when the ingest ran (the segment was synced before it).
    assert listing.splitlines()[1].split()[:4] == ["trials", "1", "1", "0"]
    shown = json.loads(
        run("segments", "show", "trials", "--json", "--members", "--db", "n.db").output
    )
    assert (shown["members"], shown["member_ids"]) == (1, ["u1"])
    check = run("segments", "check", "trials", "u2", "--db", "n.db").output
    assert check.startswith("u2 is OUT of trials")
    assert "no   attribute plan equals 'trial' (is missing)" in check
    result = CliRunner().invoke(cli, ["segments", "show", "nope", "--db", "n.db"])
    assert result.exit_code == 1
    assert "no segment 'nope'" in result.output


def test_bad_segment_file_warns_and_the_command_still_runs(tmp_path: Path) -> None:
    (tmp_path / "campaigns" / "segments").mkdir(parents=True, exist_ok=True)
    (tmp_path / "campaigns" / "segments" / "bad.yaml").write_text(
        "id: bad\nname: B\ncondition: {foo: 1}\n"
    )
    Store.open("n.db").close()
    result = CliRunner().invoke(cli, ["segments", "list", "--db", "n.db"])
    assert result.exit_code == 0
    assert "warning: campaigns/segments/bad.yaml:3: condition: not a condition" in result.output


def test_ingest_without_a_campaigns_folder_is_refused(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.jsonl", LOG)
    result = CliRunner().invoke(cli, ["ingest", str(log), "--db", "n.db", "--campaigns", "nope"])
    assert result.exit_code == 1
    assert "campaigns folder nope does not exist" in result.output
    assert not Path("n.db").exists()  # refused before the database was even created


def test_a_missing_file_among_several_applies_none(tmp_path: Path) -> None:
    good = write_log(tmp_path / "good.jsonl", LOG)
    result = CliRunner().invoke(cli, ["ingest", str(good), "missing.jsonl", "--db", "n.db"])
    assert result.exit_code == 1
    assert result.output == "Error: cannot read missing.jsonl: no such file\n"
    assert not Path("n.db").exists()  # refused before the database was even created


def test_watch_once_exits_1_when_a_line_was_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    write_log(folder / "a.jsonl", [LOG[1], "{oops"])
    result = CliRunner().invoke(cli, ["watch", str(folder), "--once", "--db", "n.db"])
    assert result.exit_code == 1
    assert "a.jsonl:2: not JSON" in result.output
    assert json.loads(run("stats", "--json", "--db", "n.db").output)["events"] == 1
