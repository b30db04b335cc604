"""`nudge simulate`: byte-identical JSON across processes, text, compare, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.config import load_settings
from app.service.workspace import open_workspace
from tests.service.simulate_kit import live_database, offer_folder


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli-sim")
    live_database(tmp / "live.db").close()
    offer_folder(tmp / "campaigns")
    return tmp / "live.db", tmp / "campaigns"


def _args(db: Path, folder: Path, *more: str) -> list[str]:
    return [
        "simulate", str(folder / "offer.yaml"), "--db", str(db), "--campaigns", str(folder),
        "--until", "2016-10-01", *more,
    ]  # fmt: skip


def test_json_is_the_same_bytes_in_two_processes(live: tuple[Path, Path]) -> None:
    db, folder = live
    code = "from app.cli import main; main()"
    command = [sys.executable, "-c", code, *_args(db, folder, "--json")]
    runs = [subprocess.run(command, capture_output=True, check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1]
    report = json.loads(runs[0])
    assert report["campaigns"][0]["campaign"] == "offer"
    assert report["campaigns"][0]["messages"] == len(report["messages"]) > 0


def test_text_report_and_compare(live: tuple[Path, Path], tmp_path: Path) -> None:
    db, folder = live
    runner = CliRunner()
    result = runner.invoke(cli, _args(db, folder, "--person", "Application_287203067"))
    assert result.exit_code == 0, result.output
    assert "campaign offer" in result.output
    assert "timeline of Application_287203067" in result.output

    shorter = tmp_path / "offer_7d.yaml"
    shorter.write_text((folder / "offer.yaml").read_text().replace("14d", "7d"))
    result = runner.invoke(cli, _args(db, folder, "--compare", str(shorter)))
    assert result.exit_code == 0, result.output
    base, other = folder / "offer.yaml", shorter
    assert result.output.splitlines()[0].startswith(f"base ({base}) -> other ({other})")
    assert "journeys whose path changed:" in result.output
    assert "reminder" in result.output


def test_errors_are_one_line(live: tuple[Path, Path], tmp_path: Path) -> None:
    db, folder = live
    runner = CliRunner()
    result = runner.invoke(cli, _args(tmp_path / "missing.db", folder))
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot open database")
    assert "Traceback" not in result.output

    result = runner.invoke(cli, _args(db, folder, "--compare-live"))
    assert result.exit_code == 1
    assert "has no live version" in result.output

    result = runner.invoke(cli, _args(db, folder, "--events", str(tmp_path / "nope.jsonl")))
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: cannot read {tmp_path / 'nope.jsonl'}: no such file"


def test_compare_live_takes_the_version_the_database_runs(
    live: tuple[Path, Path], tmp_path: Path
) -> None:
    db, folder = live
    copy = tmp_path / "running.db"
    copy.write_bytes(db.read_bytes())
    # The workspace loads the 14-day version into the database (as `nudge serve` would).
    open_workspace(load_settings(database=copy, campaigns=folder)).store.close()
    draft = tmp_path / "offer.yaml"
    draft.write_text((folder / "offer.yaml").read_text().replace("14d", "7d"))
    result = CliRunner().invoke(
        cli,
        ["simulate", str(draft), "--db", str(copy), "--campaigns", str(folder),
         "--until", "2016-10-01", "--compare-live", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.output)
    # The running version is the base: the report reads what the draft changes.
    assert comparison["base"]["campaigns"][0]["source"].startswith("running version (")
    assert comparison["base_label"] == comparison["base"]["campaigns"][0]["source"]
    assert comparison["other_label"] == str(draft)
    reminder = next(s for s in comparison["steps"] if s["id"] == "reminder")
    assert reminder["sent_delta"] > 0
    assert comparison["messages_added"]


def test_events_with_no_valid_line_is_a_one_line_error(
    live: tuple[Path, Path], tmp_path: Path
) -> None:
    db, folder = live
    text = tmp_path / "cdnow.txt"
    text.write_text(" 00001 19970101  1   11.77\n 00002 19970112  1   12.00\n")
    result = CliRunner().invoke(
        cli, ["simulate", str(folder / "offer.yaml"), "--campaigns", str(folder),
              "--events", str(text)],
    )  # fmt: skip
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: no valid operation in 2 lines")
    assert f"{text}:1: not JSON" in lines[0]
    assert f"{text}:2: not JSON" in lines[0]
    assert "1970" not in result.output


def test_events_with_some_rejected_lines_report_then_exit_1(
    live: tuple[Path, Path], tmp_path: Path
) -> None:
    db, folder = live
    log = tmp_path / "mixed.jsonl"
    good = '{"type":"identify","userId":"p1","traits":{"email":"p1@example.com"},'
    log.write_text(good + '"timestamp":"2016-06-01T10:00:00Z"}\nnot json\n')
    result = CliRunner().invoke(
        cli, ["simulate", str(folder / "offer.yaml"), "--campaigns", str(folder),
              "--events", str(log)],
    )  # fmt: skip
    assert result.exit_code == 1
    # The report is printed (one operation applied, one rejected with its line) ...
    assert "replayed 2 operations" in result.stdout
    assert "applied 1," in result.stdout and "rejected 1;" in result.stdout
    assert f"{log}:2: not JSON" in result.stdout
    # ... then the error says how many were left out.
    assert result.stderr.strip() == (
        "Error: 1 of 2 operations were rejected (listed in the report); "
        "the simulation ran without them"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--from", "2016-07-05", "--to", "2016-07-01"],
         "Error: --to 2016-07-01 must be after --from 2016-07-05"),
        (["--to", "2016-07-05", "--until", "2016-07-01"],
         "Error: --until 2016-07-01 must not be before --to 2016-07-05"),
        (["--from", "2016-13-45"],
         "Error: --from '2016-13-45' is not a valid date (month must be in 1..12)"),
        (["--to", "2016-02-30"],
         "Error: --to '2016-02-30' is not a valid date (day is out of range for month)"),
    ],
)  # fmt: skip
def test_bad_ranges_and_impossible_dates_are_one_line_errors(
    live: tuple[Path, Path], options: list[str], message: str
) -> None:
    db, folder = live
    result = CliRunner().invoke(
        cli, ["simulate", str(folder / "offer.yaml"), "--db", str(db), "--campaigns",
              str(folder), *options],
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.output.strip() == message


def test_local_times_are_read_in_the_workspace_zone(live: tuple[Path, Path]) -> None:
    db, folder = live
    # Europe/Madrid is UTC+2 in July 2016 (summer time): 12:00 there is 10:00 UTC.
    result = CliRunner().invoke(
        cli, ["simulate", str(folder / "offer.yaml"), "--db", str(db), "--campaigns",
              str(folder), "--from", "2016-07-01T12:00", "--to", "2016-07-02", "--json"],
        env={"NUDGE_TIMEZONE": "Europe/Madrid"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["start_iso"] == "2016-07-01T10:00:00.000Z"
    # A date alone is midnight in that zone: 22:00 UTC the day before.
    assert report["end_iso"] == "2016-07-01T22:00:00.000Z"
