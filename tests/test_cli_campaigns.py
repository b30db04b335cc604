"""`nudge check`, `nudge campaigns`, `nudge journeys` and `nudge advance` as an operator
uses them: file:line errors, exit codes, and counts worked out by hand."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from app.cli import cli
from app.config import load_settings
from app.core.clock import FixedClock
from app.service.workspace import Workspace, open_workspace

REPO = Path(__file__).resolve().parents[1]

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_793_610_000_000  # Monday 2026-11-02T09:00:00Z


@pytest.fixture(autouse=True)
def _isolated(clean_cwd: Path) -> None:
    """Every test in `clean_cwd` (see tests/conftest.py)."""


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def template(folder: Path, name: str, text: str = "<p>Hi {{ person.first_name }}</p>\n") -> Path:
    return write(folder / "templates" / f"{name}.html.j2", text)


# -- nudge check -----------------------------------------------------------------------

GOOD = """
    id: good
    name: Good
    trigger: {event: signed_up}
    steps:
      - id: hello
        send: {template: hello, subject: "Hi {{ person.first_name | default('there') }}"}
    """


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "campaigns"
    template(root, "hello")
    write(root / "good.yaml", GOOD)
    write(
        root / "segments" / "trials.yaml",
        "id: trials\nname: T\ncondition: {attribute: plan, equals: trial}\n",
    )
    return root


def test_check_on_a_clean_folder_says_ok_and_opens_no_database(
    folder: Path, tmp_path: Path
) -> None:
    result = run("check")
    assert (result.exit_code, result.output) == (0, "ok: 1 campaigns, 1 segments\n")
    assert not (tmp_path / "data").exists()


def test_check_names_a_yaml_error(folder: Path) -> None:
    write(
        folder / "broken.yaml",
        """
        id: broken
        name: Broken
        trigger: {event: signed_up
        steps:
          - id: hello
            send: {template: hello, subject: Hi}
        """,
    )
    result = run("check")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "campaigns/broken.yaml:4: not valid YAML: expected ',' or '}', but got ':'",
        "1 error",
    ]


def test_check_names_an_unknown_step_type(folder: Path) -> None:
    write(
        folder / "typo.yaml",
        """
        id: typo
        name: Typo
        trigger: {event: signed_up}
        steps:
          - id: hello
            send: {template: hello, subject: Hi}
          - id: later
            wiat: 1d
        """,
    )
    result = run("check")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        "campaigns/typo.yaml:7: steps.1: unknown step type 'wiat' (use one of send, delay, "
        "delay_until, time_window, wait_until, branch, split, random_cohort, "
        "update_attributes, exit)"
    )


def test_check_names_a_branch_without_its_if(folder: Path) -> None:
    write(
        folder / "branchy.yaml",
        """
        id: branchy
        name: Branchy
        trigger: {event: signed_up}
        steps:
          - id: check
            branch:
              then:
                - id: celebrate
                  send: {template: hello, subject: Nice}
        """,
    )
    result = run("check")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "campaigns/branchy.yaml:6: steps.0.branch.if: Field required",
        "1 error",
    ]


def test_check_names_a_template_syntax_error(folder: Path) -> None:
    # Two campaigns send it: each problem is still listed once.
    write(folder / "again.yaml", GOOD.replace("id: good", "id: again"))
    template(folder, "hello", "<p>Hello</p>\n<p>{{ person.first_name | default('there') </p>\n")
    write(folder / "templates" / "hello.txt.j2", "Hello\n{% if person.plan %}\nHi\n")
    result = run("check")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "campaigns/templates/hello.html.j2:2: unexpected '/'",
        "campaigns/templates/hello.txt.j2:2: Unexpected end of template. Jinja was looking for "
        "the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to "
        "be closed is 'if'.",
        "2 errors",
    ]


def test_check_finds_a_broken_template_no_campaign_uses_yet(folder: Path) -> None:
    template(folder, "draft_idea", "{% for x in y %}\n")
    result = run("check")
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith("campaigns/templates/draft_idea.html.j2:1: ")


def test_check_lists_every_problem_of_every_file(folder: Path) -> None:
    write(folder / "a.yaml", "id: a\nname: A\ntrigger: {event: x}\nsteps: [\n")
    write(folder / "segments" / "bad.yaml", "id: bad\nname: B\ncondition: {foo: 1}\n")
    result = run("check", "--campaigns", str(folder))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == "2 errors"
    assert lines[0].startswith(f"{folder}/segments/bad.yaml:3: condition: not a condition")
    assert lines[1].startswith(f"{folder}/a.yaml:5: not valid YAML")


def test_check_on_a_missing_folder_is_a_one_line_error() -> None:
    result = run("check", "--campaigns", "nowhere")
    assert (result.exit_code, result.output) == (
        1,
        "Error: campaigns folder nowhere does not exist\n",
    )


def test_the_shipped_campaigns_pass_check() -> None:
    result = run("check", "--campaigns", str(REPO / "campaigns"))
    assert result.exit_code == 0, result.output
    assert result.output == "ok: 13 campaigns, 10 segments\n"


# -- a small scenario, worked out by hand ----------------------------------------------
#
# `welcome` (active): hello is sent on sign-up; then wait up to 1 day for a project;
# then a branch: a project since entry -> celebrate, else -> guide. Upgrading within
# 14 days is the goal and ends the journey (exit_on_conversion). `later` is a draft.
#
#   T0        ana signs up        journey 1: hello queued, waits (due T0 + 1d)
#   T0 + 1h   bo signs up         journey 2: hello queued, waits (due T0 + 1h + 1d)
#   T0 + 2h   ana creates a project: did_it met -> check -> then -> celebrate queued,
#                                 journey 1 completed
#   T0 + 3h   cy signs up         journey 3: hello queued, waits
#   T0 + 4h   cy upgrades         goal converted, journey 3 exited (converted)
#   T0 + 20h  dee signs up        journey 4: hello queued, waits (due T0 + 1d + 20h)
#   `nudge advance --at T0 + 1d + 1h`: bo's wait times out at T0 + 1d + 1h -> check ->
#                                 else -> guide queued, journey 2 completed (2 steps,
#                                 1 queued); dee keeps waiting.
#
# So: 4 entered, 1 active (dee at wait_project), 1 converted (cy); reached: hello 4,
# wait_project 4, check 2, celebrate 1, guide 1; queued: hello 4, celebrate 1, guide 1.

WELCOME = """
    id: welcome
    name: Welcome
    state: active
    trigger: {event: signed_up}
    exit: exit_on_conversion
    goal: {performed: upgraded, within: 14d}
    steps:
      - id: hello
        send: {template: hello, subject: Hi}
      - id: wait_project
        wait_until:
          paths:
            - id: did_it
              when: {performed: project_created, since: entry}
          max_time: 1d
      - id: check
        branch:
          if: {performed: project_created, since: entry}
          then:
            - id: celebrate
              send: {template: celebrate, subject: Nice work}
          else:
            - id: guide
              send: {template: guide, subject: Getting started}
    """

LATER = """
    id: later
    name: Later
    trigger: {segment_entered: trials}
    steps:
      - id: nudge
        send: {template: hello, subject: "Still there?"}
    """


def track(ws: Workspace, at: int, user: str, event: str, **traits: str) -> None:
    assert isinstance(ws.clock, FixedClock)
    ws.clock.at_ms = at
    ops: list[dict[str, object]] = []
    if traits:
        ops.append({"type": "identify", "userId": user, "traits": traits, "timestamp": at})
    ops.append({"type": "track", "userId": user, "event": event, "timestamp": at})
    assert ws.ingestor.apply(ops).rejected == []


@pytest.fixture
def scenario(tmp_path: Path) -> None:
    root = tmp_path / "campaigns"
    for name in ("hello", "celebrate", "guide"):
        template(root, name)
    write(root / "welcome.yaml", WELCOME)
    write(root / "later.yaml", LATER)
    write(
        root / "segments" / "trials.yaml",
        "id: trials\nname: T\ncondition: {attribute: plan, equals: trial}\n",
    )
    ws = open_workspace(load_settings(database="n.db", campaigns=root), clock=FixedClock(T0))
    assert ws.errors == []
    track(ws, T0, "ana", "signed_up", email="ana@example.com")
    track(ws, T0 + HOUR, "bo", "signed_up", email="bo@example.com")
    track(ws, T0 + 2 * HOUR, "ana", "project_created")
    track(ws, T0 + 3 * HOUR, "cy", "signed_up")
    track(ws, T0 + 4 * HOUR, "cy", "upgraded")
    track(ws, T0 + 20 * HOUR, "dee", "signed_up")
    ws.store.close()
    result = run("advance", "--at", "2026-11-03T10:00:00Z", "--db", "n.db")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "advanced to 2026-11-03T10:00:00.000Z: 0 entered, 2 steps, 1 queued",
        "next due: 2026-11-04T05:00:00.000Z",
    ]


def test_advance_twice_at_the_same_time_does_nothing_more(scenario: None) -> None:
    result = run("advance", "--at", "2026-11-03T10:00:00Z", "--json", "--db", "n.db")
    out = json.loads(result.output)
    assert {k: out[k] for k in ("entered", "steps", "queued", "at", "next_due_at")} == {
        "entered": 0,
        "steps": 0,
        "queued": 0,
        "at": "2026-11-03T10:00:00.000Z",
        "next_due_at": "2026-11-04T05:00:00.000Z",
    }


def test_campaigns_list(scenario: None) -> None:
    result = run("campaigns", "list", "--db", "n.db")
    assert result.exit_code == 0, result.output
    assert [line.split() for line in result.output.splitlines()] == [
        ["campaign", "state", "active", "entered", "converted", "name"],
        ["later", "draft", "0", "0", "0", "Later"],
        ["welcome", "active", "1", "4", "1", "Welcome"],
    ]
    rows = json.loads(run("campaigns", "list", "--json", "--db", "n.db").output)
    assert rows[1] == {
        "id": "welcome",
        "name": "Welcome",
        "state": "active",
        "active": 1,
        "entered": 4,
        "converted": 1,
        "completed": 2,
        "exited": 1,
    }


def test_campaigns_show_prints_the_step_tree_with_counts(scenario: None) -> None:
    result = run("campaigns", "show", "welcome", "--db", "n.db")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "welcome: Welcome"
    assert "  trigger   event signed_up" in lines
    assert "  goal      performed upgraded within 14d of entry" in lines
    assert "  journeys  4 entered, 1 active, 2 completed, 1 exited, 1 converted" in lines
    tree = lines[lines.index("reached waiting  queued  step") + 1 :]
    assert tree == [
        '      4       0       4  hello: send hello "Hi"',
        "      4       1       -  wait_project: wait until, at most 1d",
        "                           did_it: when performed project_created since entry",
        "                           timeout: after 1d",
        "      2       0       -  check: branch if performed project_created since entry",
        "                           then:",
        '      1       0       1      celebrate: send celebrate "Nice work"',
        "                           else:",
        '      1       0       1      guide: send guide "Getting started"',
    ]


def test_campaigns_show_json_nests_paths(scenario: None) -> None:
    shown = json.loads(run("campaigns", "show", "welcome", "--json", "--db", "n.db").output)
    steps = {s["id"]: s for s in shown["steps"]}
    assert [(s["id"], s["reached"], s["waiting"], s["queued"]) for s in shown["steps"]] == [
        ("hello", 4, 0, 4),
        ("wait_project", 4, 1, None),
        ("check", 2, 0, None),
    ]
    then, else_ = steps["check"]["paths"]
    assert (then["label"], then["steps"][0]["id"], then["steps"][0]["queued"]) == (
        "then",
        "celebrate",
        1,
    )
    assert (else_["label"], else_["steps"][0]["id"], else_["steps"][0]["queued"]) == (
        "else",
        "guide",
        1,
    )


def test_campaigns_show_unknown_is_a_one_line_error(scenario: None) -> None:
    result = run("campaigns", "show", "nope", "--db", "n.db")
    assert (result.exit_code, result.output) == (
        1,
        "Error: no campaign 'nope' (see `nudge campaigns list`)\n",
    )


def test_journeys_show_walks_a_journey_step_by_step(scenario: None, tmp_path: Path) -> None:
    # A version is the first 16 hex digits of the sha256 of the campaign file followed
    # by each template it sends, by name ("\0name\0html\0text").
    folder = tmp_path / "campaigns"
    source = (folder / "welcome.yaml").read_text()
    digest = hashlib.sha256(source.encode())
    for name in sorted({m for m in ("hello", "guide", "celebrate") if f"template: {m}" in source}):
        html = (folder / "templates" / f"{name}.html.j2").read_text()
        digest.update(f"\0{name}\0{html}\0".encode())
    version = digest.hexdigest()[:16]
    result = run("journeys", "show", "ana@example.com", "--db", "n.db")
    assert result.exit_code == 0, result.output
    lines = [line.split(None, 3) for line in result.output.splitlines()[3:]]
    assert result.output.splitlines()[:3] == [
        "ana (ana@example.com): 1 journey",
        "",
        f"welcome journey #1 (version {version}): completed at 2026-11-02T11:00:00.000Z",
    ]
    t0, t2 = "2026-11-02T09:00:00.000Z", "2026-11-02T11:00:00.000Z"
    assert lines == [
        [t0, "journey.entered", "-", "trigger=event signed_up"],
        [t0, "step.reached", "hello", "type=send"],
        [t0, "message.queued", "hello", "delivery=welcome/1/hello"],
        [t0, "step.reached", "wait_project", "type=wait_until"],
        [t2, "wait.met", "wait_project", "path=did_it"],
        [t2, "step.reached", "check", "type=branch"],
        [t2, "branch.taken", "check", "path=then"],
        [t2, "step.reached", "celebrate", "type=send"],
        [t2, "message.queued", "celebrate", "delivery=welcome/1/celebrate"],
        [t2, "journey.completed", "celebrate", "reason=completed"],
    ]


def test_journeys_show_gives_the_exit_reason_and_the_conversion(scenario: None) -> None:
    out = run("journeys", "show", "cy", "--db", "n.db").output.splitlines()
    assert out[0] == "cy (no email): 1 journey"
    assert out[2].endswith(
        "exited at 2026-11-02T13:00:00.000Z: converted (converted at 2026-11-02T13:00:00.000Z)"
    )
    assert [line.split()[1:3] for line in out[3:]] == [
        ["journey.entered", "-"],
        ["step.reached", "hello"],
        ["message.queued", "hello"],
        ["step.reached", "wait_project"],
        ["goal.converted", "-"],
        ["journey.exited", "wait_project"],
    ]
    assert out[-1].endswith("reason=converted")


def test_journeys_show_an_active_journey_and_json(scenario: None) -> None:
    out = run("journeys", "show", "dee", "--db", "n.db").output.splitlines()
    assert out[2].endswith("active at wait_project, waiting for 2026-11-04T05:00:00.000Z")
    shown = json.loads(run("journeys", "show", "bo", "--json", "--db", "n.db").output)
    (journey,) = shown["journeys"]
    assert (journey["journey"], journey["state"], journey["exit_reason"]) == (
        2,
        "completed",
        "completed",
    )
    at = "2026-11-03T10:00:00.000Z"  # bo's wait ends: entered T0 + 1h, at most 1d
    assert [(s["at"], s["kind"], s["step"], s["detail"]) for s in journey["steps"][-6:]] == [
        (at, "wait.timed_out", "wait_project", {}),
        (at, "step.reached", "check", {"type": "branch"}),
        (at, "branch.taken", "check", {"path": "else"}),
        (at, "step.reached", "guide", {"type": "send"}),
        (at, "message.queued", "guide", {"delivery": "welcome/2/guide"}),
        (at, "journey.completed", "guide", {"reason": "completed"}),
    ]


def test_journeys_show_unknown_person_is_a_one_line_error(scenario: None) -> None:
    result = run("journeys", "show", "zed", "--db", "n.db")
    assert (result.exit_code, result.output) == (1, "Error: no person with id or email 'zed'\n")


def test_a_campaign_whose_file_broke_is_listed_as_not_loaded(
    scenario: None, tmp_path: Path
) -> None:
    (tmp_path / "campaigns" / "welcome.yaml").write_text("id: welcome\nname: [\n")
    result = run("campaigns", "list", "--db", "n.db")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: campaigns/welcome.yaml:3: not valid YAML")
    assert [line.split() for line in result.stdout.splitlines()][1:] == [
        ["later", "draft", "0", "0", "0", "Later"],
        ["welcome", "not", "loaded", "1", "4", "1"],
    ]
    shown = run("campaigns", "show", "welcome", "--db", "n.db")
    assert shown.exit_code == 1
    assert shown.output.endswith(
        "Error: no campaign 'welcome' (its file is gone or did not load: see `nudge check`)\n"
    )


def test_help_lists_the_campaign_commands() -> None:
    out = run("--help").output
    for command in ("check", "advance", "campaigns", "journeys"):
        assert command in out
