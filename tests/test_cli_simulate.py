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
    assert comparison["base"]["campaigns"][0]["source"].startswith("live ")
    reminder = next(s for s in comparison["steps"] if s["id"] == "reminder")
    assert reminder["sent_delta"] > 0
    assert comparison["messages_added"]
