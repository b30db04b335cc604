"""`nudge deliveries list/show/retry`, `nudge send-test` and `nudge serve --once` as an
operator uses them, against a database built at a fixed time in the past and a local
SMTP sink (on its own thread: the commands run their own event loop)."""

from __future__ import annotations

import asyncio
import json
import mailbox
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.config import load_settings
from app.core.clock import FixedClock
from app.delivery.recording import RecordingMailer
from app.delivery.sink import Sink
from app.service.outbox import Outbox
from app.service.scheduler import Scheduler
from app.service.workspace import open_workspace
from app.store import Store
from tests.cli_kit import run
from tests.service.engine_kit import utc

T = utc("2026-11-02 09:00")

CAMPAIGN = """\
id: onboard
name: Onboarding
state: active
trigger:
  event: signed_up
re_entry: once
exit: exit_only_at_end
steps:
  - id: hello
    send: {template: hello, subject: "Hello {{ person.first_name | default('there') }}"}
  - id: pause
    delay: 30d
  - id: followup
    send: {template: hello, subject: "Still there?"}
"""
#: Reads first_name without `default`: Bo, who has none, gets a failed delivery.
BROKEN = "<p>Hi {{ person.first_name }}</p>\n"
FIXED = "<p>Hi {{ person.first_name | default('there') }}</p>\n"
FAILED_REASON = "hello.html.j2 line 1: 'dict object' has no attribute 'first_name'"


@pytest.fixture(autouse=True)
def _isolated(clean_cwd: Path) -> None:
    """Every test in `clean_cwd` (see tests/conftest.py)."""


@pytest.fixture
def workspace_files(tmp_path: Path) -> tuple[Path, Path]:
    """(database, campaigns folder): Ana's hello sent at T, Bo's failed at T."""
    folder = tmp_path / "campaigns"
    (folder / "templates").mkdir(parents=True)
    (folder / "onboard.yaml").write_text(CAMPAIGN)
    (folder / "templates" / "hello.html.j2").write_text(BROKEN)
    db = tmp_path / "nudge.db"
    settings = load_settings(database=db, campaigns=folder)
    clock = FixedClock(T)
    ws = open_workspace(settings, clock)
    ops = [
        {"type": "identify", "userId": "ana", "traits": {"email": "ana@example.com",
         "first_name": "Ana"}, "timestamp": T},
        {"type": "track", "userId": "ana", "event": "signed_up", "timestamp": T},
        {"type": "identify", "userId": "bo", "traits": {"email": "bo@example.com"},
         "timestamp": T},
        {"type": "track", "userId": "bo", "event": "signed_up", "timestamp": T},
    ]  # fmt: skip
    assert ws.ingestor.apply(ops).rejected == []
    outbox = Outbox(ws.store, ws.engine, settings, RecordingMailer())
    report = asyncio.run(Scheduler(ws, outbox, clock).tick())
    assert (report.sending.sent, report.sending.failed) == (1, 1)
    ws.store.close()
    return db, folder


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    with Sink(tmp_path / "maildir") as running:
        monkeypatch.setenv("NUDGE_SMTP__PORT", str(running.port))
        yield running


def received(sink: Sink) -> list[tuple[str, str, str]]:
    box = mailbox.Maildir(sink.maildir, create=False)
    found = []
    for key in sink.keys:
        msg = message_from_bytes(box.get_bytes(key), policy=default)
        found.append((str(msg["X-Nudge-Delivery"]), str(msg["To"]), str(msg["Subject"])))
    return found


def test_deliveries_list_latest_first_with_filters(workspace_files: tuple[Path, Path]) -> None:
    db, folder = workspace_files
    result = run("deliveries", "list", "--db", db, "--campaigns", folder)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"      2  failed        2026-11-02T09:00:00.000Z  onboard/hello  -  {FAILED_REASON}",
        "      1  sent          2026-11-02T09:00:00.000Z  onboard/hello  ana@example.com",
    ]
    sent = run("deliveries", "list", "--state", "sent", "--json", "--db", db)
    rows = [json.loads(line) for line in sent.output.splitlines()]
    assert rows == [
        {
            "id": 1,
            "key": "onboard/1/hello",
            "state": "sent",
            "campaign": "onboard",
            "step": "hello",
            "to": "ana@example.com",
            "created_at": "2026-11-02T09:00:00.000Z",
            "sent_at": "2026-11-02T09:00:00.000Z",
            "attempts": 1,
            "reason": None,
            "test": False,
        }
    ]
    assert run("deliveries", "list", "--campaign", "other", "--db", db).output == ""


def test_deliveries_show_headers_and_both_parts(workspace_files: tuple[Path, Path]) -> None:
    db, _ = workspace_files
    result = run("deliveries", "show", "onboard/1/hello", "--db", db)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == [
        "Delivery:    1 onboard/1/hello",
        "State:       sent",
        "Attempts:    1",
        "SMTP:        250 OK recorded",
    ]
    assert "Subject:     Hello Ana" in lines
    assert "To:          ana@example.com" in lines
    assert "From:        Nudge <nudge@example.com>" in lines
    assert "Sent:        2026-11-02T09:00:00.000Z" in lines
    assert lines[lines.index("--- text ---") + 1] == "Hi Ana"
    assert lines[lines.index("--- html ---") + 1] == "<p>Hi Ana</p>"
    # By row id too; an unknown one is a one-line error.
    assert run("deliveries", "show", "2", "--db", db).output.splitlines()[1] == (
        f"State:       failed ({FAILED_REASON})"
    )
    missing = run("deliveries", "show", "99", "--db", db)
    assert missing.exit_code == 1
    assert missing.output == "Error: no delivery '99'\n"


def test_retry_a_failed_delivery_after_fixing_the_template_then_serve_sends_it(
    workspace_files: tuple[Path, Path], sink: Sink
) -> None:
    db, folder = workspace_files
    refused = run("deliveries", "retry", "onboard/1/hello", "--db", db)
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: delivery 1 is sent; only failed, undeliverable, bounced, limited, "
        "suppressed can be retried\n"
    )
    (folder / "templates" / "hello.html.j2").write_text(FIXED)
    result = run("deliveries", "retry", "onboard/2/hello", "--db", db)
    assert (result.exit_code, result.output) == (0, "delivery 2 queued again\n")
    store = Store.open(db)
    d = store.deliveries.by_key("onboard/2/hello")
    assert d is not None and (d.state, d.reason) == ("queued", None)
    store.close()

    served = run("serve", "--once", "--db", db, "--campaigns", folder)
    assert served.exit_code == 0, served.output
    assert "sent 1," in served.output
    assert received(sink) == [("onboard/2/hello", "bo@example.com", "Hello there")]
    store = Store.open(db)
    d = store.deliveries.by_key("onboard/2/hello")
    assert d is not None and (d.state, d.attempts) == ("sent", 1)
    kinds = [e.kind for e in store.activity.latest(100)]
    store.close()
    assert "message.retry_requested" in kinds


def test_send_test_renders_with_the_persons_data_and_sends_now(
    workspace_files: tuple[Path, Path], sink: Sink
) -> None:
    db, folder = workspace_files
    result = run("send-test", "onboard", "followup", "ana", "--db", db, "--campaigns", folder)
    assert result.exit_code == 0, result.output
    assert result.output == "test delivery 3: sent to ana@example.com\n"
    other = run("send-test", "onboard", "hello", "ana", "--to", "qa@example.com", "--db", db,
                "--campaigns", folder)  # fmt: skip
    assert other.output == "test delivery 4: sent to qa@example.com\n"
    got = received(sink)
    assert [(key.split("/")[:4], to, subject) for key, to, subject in got] == [
        (["test", "onboard", "followup", "1"], "ana@example.com", "Still there?"),
        (["test", "onboard", "hello", "1"], "qa@example.com", "Hello Ana"),
    ]
    store = Store.open(db)
    tests = [d for d in store.deliveries.all() if d.test]
    # A test is not part of a journey and not counted by the message limit.
    assert [(d.state, d.journey_id) for d in tests] == [("sent", None), ("sent", None)]
    ana = store.people.by_external_id("ana")
    assert ana is not None
    assert len(store.deliveries.sent_since(ana.id, 0)) == 1
    store.close()
    # Mistakes are one line each.
    step = run("send-test", "onboard", "nope", "ana", "--db", db, "--campaigns", folder)
    assert (step.exit_code, step.output) == (1, "Error: campaign onboard has no step 'nope'\n")
    delay = run("send-test", "onboard", "pause", "ana", "--db", db, "--campaigns", folder)
    assert (delay.exit_code, delay.output) == (1, "Error: step pause is a delay step, not a send\n")
    nobody = run("send-test", "onboard", "hello", "zed", "--db", db, "--campaigns", folder)
    assert (nobody.exit_code, nobody.output) == (1, "Error: no person with id or email 'zed'\n")
    assert sink.stored == 2


def test_deliveries_list_rejects_an_unknown_state(workspace_files: tuple[Path, Path]) -> None:
    db, _ = workspace_files
    result = CliRunner().invoke(cli, ["deliveries", "list", "--state", "bogus", "--db", str(db)])
    assert result.exit_code == 2
    assert "Invalid value for '--state'" in result.output


def test_deliveries_show_says_when_a_queued_one_is_tried_next(
    workspace_files: tuple[Path, Path],
) -> None:
    db, folder = workspace_files
    # Retrying the failed delivery queues it again, due at the retry time.
    assert run("deliveries", "retry", "2", "--db", db, "--campaigns", folder).exit_code == 0
    lines = run("deliveries", "show", "2", "--db", db).output.splitlines()
    assert lines[1] == "State:       queued"
    assert lines[4].startswith("Next try:    ")


def test_a_retried_test_send_goes_only_to_its_test_address(
    workspace_files: tuple[Path, Path], sink: Sink
) -> None:
    db, folder = workspace_files
    # A test to an address that cannot be sent to fails, and says so with exit 1.
    failed = run("send-test", "onboard", "hello", "ana", "--to", "not an email", "--db", db,
                 "--campaigns", folder)  # fmt: skip
    assert failed.exit_code == 1
    assert failed.output.startswith("test delivery 3: failed to not an email (")
    assert run("deliveries", "retry", "3", "--db", db).exit_code == 0
    served = run("serve", "--once", "--db", db, "--campaigns", folder)
    assert served.exit_code == 0, served.output
    # Retried, it went to the test address again (and failed again), never to Ana.
    assert received(sink) == []
    store = Store.open(db)
    d = store.deliveries.get(3)
    store.close()
    assert d is not None and d.test
    assert (d.state, d.to_address, d.sent_at) == ("failed", "not an email", None)


def test_a_retried_test_send_to_a_good_address_reaches_that_address(
    workspace_files: tuple[Path, Path], sink: Sink
) -> None:
    db, folder = workspace_files
    sent = run("send-test", "onboard", "hello", "ana", "--to", "qa@example.com", "--db", db,
               "--campaigns", folder)  # fmt: skip
    assert sent.output == "test delivery 3: sent to qa@example.com\n"
    # The operator marks it failed as if the first try had not got through, then retries.
    store = Store.open(db)
    d = store.deliveries.get(3)
    assert d is not None
    d.state, d.reason = "failed", "451 try again"
    with store.transaction():
        store.deliveries.save(d)
    store.close()
    assert run("deliveries", "retry", "3", "--db", db).exit_code == 0
    assert run("serve", "--once", "--db", db, "--campaigns", folder).exit_code == 0
    to = [address for _key, address, _subject in received(sink)]
    assert to == ["qa@example.com", "qa@example.com"]


def test_a_failed_send_test_exits_1(workspace_files: tuple[Path, Path], sink: Sink) -> None:
    db, folder = workspace_files
    # Bo has no first_name: the broken template fails to render for him.
    result = run("send-test", "onboard", "hello", "bo", "--db", db, "--campaigns", folder)
    assert result.exit_code == 1
    assert result.output == f"test delivery 3: failed to (no address) ({FAILED_REASON})\n"
    assert sink.stored == 0
