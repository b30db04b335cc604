"""One-line errors that name the real problem: a folder given as a file, a file given as
the campaigns folder, an unknown time zone, an import filter that matched nothing, and a
hot-reload problem said once."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli_outbox import ReloadEcho
from app.core.yamlload import DefinitionError
from tests.cli_kit import run


@pytest.fixture(autouse=True)
def _isolated(clean_cwd: Path) -> None:
    # The default campaigns folder; commands that ingest refuse to run without one.
    (clean_cwd / "campaigns").mkdir()


def test_ingest_of_a_folder_says_it_is_a_folder() -> None:
    Path("incoming").mkdir()
    result = run("ingest", "incoming", "--db", "n.db")
    assert (result.exit_code, result.output) == (
        1,
        "Error: cannot read incoming: it is a folder (ingest its files, or "
        "nudge watch incoming --once)\n",
    )
    assert not Path("n.db").exists()


def test_a_file_as_the_campaigns_folder_says_it_is_a_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # From the environment (or nudge.toml), where click's own check does not apply.
    Path("README.md").write_text("# notes\n")
    monkeypatch.setenv("NUDGE_CAMPAIGNS", "README.md")
    Path("log.jsonl").write_text("")
    result = run("ingest", "log.jsonl", "--db", "n.db")
    assert (result.exit_code, result.output) == (
        1,
        "Error: campaigns folder README.md is a file, not a folder (pass --campaigns DIR)\n",
    )


def test_an_unknown_time_zone_is_a_plain_line(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("cdnow.txt").write_text("00001 19970101 1 11.77\n")
    flag = run("import", "cdnow", "cdnow.txt", "--timezone", "Mars/Olympus", "--db", "n.db")
    assert (flag.exit_code, flag.output) == (
        1,
        "Error: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)\n",
    )
    monkeypatch.setenv("NUDGE_TIMEZONE", "Mars/Olympus")
    setting = run("import", "cdnow", "cdnow.txt", "--db", "n.db")
    assert (setting.exit_code, setting.output) == (
        1,
        "Error: bad setting timezone: unknown time zone 'Mars/Olympus' (use an IANA name)\n",
    )


XES = (
    '<?xml version="1.0" encoding="UTF-8"?><log xes.version="1.0"><trace>'
    '<string key="concept:name" value="case-1"/><string key="ApplicationID" value="a-1"/>'
    '<event><string key="concept:name" value="Review"/>'
    '<string key="lifecycle:transition" value="complete"/>'
    '<date key="time:timestamp" value="2016-01-02T09:00:00.000+01:00"/></event>'
    "</trace></log>"
)


def test_an_xes_lifecycle_filter_that_matches_nothing_says_so_and_exits_1() -> None:
    Path("log.xes").write_text(XES)
    result = run("import", "xes", "log.xes", "--lifecycle", "bogus", "--db", "n.db")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "0 operations: 0 applied, 0 duplicates, 0 skipped, 0 rejected",
        "Error: no event in log.xes has lifecycle:transition bogus: nothing imported",
    ]
    # The one event is `complete`: that filter keeps it.
    kept = run("import", "xes", "log.xes", "--lifecycle", "complete", "--db", "n.db")
    assert kept.exit_code == 0, kept.output
    assert kept.output.startswith("1 operations: 1 applied")


def test_the_same_reload_problems_are_said_once(capsys: pytest.CaptureFixture[str]) -> None:
    echo = ReloadEcho()
    problem = DefinitionError("campaigns/welcome.yaml", 38, "delay: not a duration")
    echo([problem])
    echo([problem])  # the same save, seen as a second change
    first = capsys.readouterr()
    assert first.err == (
        "reload kept the running definitions:\n  campaigns/welcome.yaml:38: delay: not a duration\n"
    )
    echo([])
    echo([problem])  # broken again after a good reload: said again
    again = capsys.readouterr()
    assert again.out == "reloaded campaigns and segments\n"
    assert again.err == first.err
