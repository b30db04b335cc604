"""Crash safety of `nudge serve` (DESIGN.md invariant 3, issue 5 acceptance).

`nudge serve` runs as a real subprocess against an SMTP sink running in this process (on
its own thread and loop), with 2,000 due deliveries. It is killed with SIGKILL once a
given share of the messages has arrived, started again, and left to finish. Then:

- every delivery reached the sink, and the database says `sent` for each;
- no message reached it twice, except deliveries that were in `sending` at the kill
  (at most the SMTP pool size, 4), and those carry the same Message-ID both times;
- the Maildir and the database agree on the set of Message-IDs.

Five rounds, killed after about 10%, 30%, 50%, 70% and 90% of the messages arrived.
The lease is 1 s here (`NUDGE_LEASE_SECONDS`): the restarted process has another pid,
so it is another holder and waits for the killed one's lease to expire.

A second test runs two `nudge serve` processes on one database at once, with a lease
shorter than a batch takes to send, then stops the one holding the lease: the other
takes over, and still no message is sent twice.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.parser import BytesHeaderParser
from email.policy import default
from pathlib import Path
from typing import IO

import pytest

from app.config import load_settings
from app.core.clock import FixedClock
from app.core.message import message_id_for
from app.delivery.sink import Sink
from app.service.workspace import open_workspace
from app.store import Store
from tests.service.engine_kit import utc

PEOPLE = 2_000
POOL = 4  # smtp.pool_size's default: at most this many rows are in `sending` at once
#: When the deliveries were queued: in the past, so `nudge serve` (wall clock) finds them due.
QUEUED_AT = utc("2026-11-01 00:00")
NUDGE = Path(sys.executable).parent / "nudge"

CAMPAIGN = """\
id: blast
name: One message to everyone who signs up
state: active
trigger:
  event: signed_up
re_entry: once
exit: exit_only_at_end
steps:
  - id: hello
    send: {template: hello, subject: "Hello {{ person.first_name }}"}
"""


def expected_key(n: int) -> str:
    """Person n (0-based, ingested in order) entered journey n + 1, which queued this."""
    return f"blast/{n + 1}/hello"


def expected_message_id(n: int, workspace: str) -> str:
    # From is settings' default `Nudge <nudge@example.com>`: the domain is example.com;
    # the key is prefixed by the database's own workspace id.
    return message_id_for(f"{workspace}/{expected_key(n)}", "example.com")


def workspace_of(db: Path) -> str:
    store = Store.open(db)
    workspace = store.kv.get("workspace_id")
    store.close()
    assert workspace
    return workspace


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("campaigns")
    (folder / "blast.yaml").write_text(CAMPAIGN)
    (folder / "templates").mkdir()
    (folder / "templates" / "hello.html.j2").write_text("<p>Hi {{ person.first_name }}</p>\n")
    return folder


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory, campaigns: Path) -> Path:
    """A database with 2,000 people who signed up, so 2,000 queued deliveries (built once,
    copied for each round)."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    ws = open_workspace(load_settings(database=path, campaigns=campaigns), FixedClock(QUEUED_AT))
    assert ws.errors == []
    ops: list[dict[str, object]] = []
    for n in range(PEOPLE):
        user = f"u{n:04d}"
        ops.append(
            {
                "type": "identify",
                "userId": user,
                "traits": {"email": f"p{n:04d}@example.com", "first_name": f"P{n}"},
                "timestamp": QUEUED_AT,
            }
        )
        ops.append({"type": "track", "userId": user, "event": "signed_up", "timestamp": QUEUED_AT})
    for start in range(0, len(ops), 1_000):
        assert ws.ingestor.apply(ops[start : start + 1_000]).rejected == []
    assert ws.store.deliveries.counts_by_state() == {"queued": PEOPLE}
    assert [d.key for d in ws.store.deliveries.all()] == [expected_key(n) for n in range(PEOPLE)]
    ws.store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ws.store.close()
    return path


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll `condition` every `every` seconds until it holds; fail naming `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def arrived(maildir: Path) -> int:
    return len(os.listdir(maildir / "new"))


def maildir_messages(maildir: Path) -> list[tuple[str, str, str, str]]:
    """Every stored message as (Message-ID, X-Nudge-Delivery, To, Subject)."""
    parser = BytesHeaderParser(policy=default)
    found = []
    for path in (maildir / "new").iterdir():
        with path.open("rb") as f:
            msg = parser.parse(f)
        found.append(
            (str(msg["Message-ID"]), str(msg["X-Nudge-Delivery"]), str(msg["To"]),
             str(msg["Subject"]))
        )  # fmt: skip
    return found


def db_states(db: Path) -> Counter[str]:
    store = Store.open(db)
    try:
        return Counter(store.deliveries.counts_by_state())
    finally:
        store.close()


class Server:
    """One `nudge serve` subprocess, its output in a file (a pipe nobody reads could fill)."""

    def __init__(self, db: Path, campaigns: Path, port: int, log: Path, **env: str) -> None:
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        environment = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
        environment.update(
            {
                "NUDGE_SMTP__PORT": str(port),
                "NUDGE_SMTP__RATE_PER_SECOND": "0",
                "NUDGE_SCHEDULER_INTERVAL_SECONDS": "0.05",
                "NUDGE_LEASE_SECONDS": "1",
                **env,
            }
        )
        self.process = subprocess.Popen(
            [str(NUDGE), "serve", "--db", str(db), "--campaigns", str(campaigns)],
            cwd=db.parent,  # no nudge.toml there
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def holder(self) -> str:
        """This process's name in the lease (`Scheduler` default: host:pid)."""
        import socket

        return f"{socket.gethostname()}:{self.process.pid}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> str:
        """SIGTERM, wait for a clean stop; the output."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self._log.close()
        return self.log_path.read_text()

    def output(self) -> str:
        return self.log_path.read_text()


@contextmanager
def serving(*args: object, **env: str) -> Iterator[Server]:
    server = Server(*args, **env)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(10)
        server._log.close()


@pytest.mark.parametrize("share", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_sigkill_mid_send_then_restart_loses_nothing_and_duplicates_only_in_flight(
    share: float, tmp_path: Path, template_db: Path, campaigns: Path
) -> None:
    db = tmp_path / "nudge.db"
    shutil.copy(template_db, db)
    maildir = tmp_path / "maildir"
    # Off the 500-delivery batch boundaries, where a pass is still rendering and nothing
    # is on the wire: the kill should land mid-send.
    kill_at = int(PEOPLE * share) + 10
    with Sink(maildir) as sink:
        # 1. Serve until about `share` of the messages arrived, then SIGKILL.
        with serving(db, campaigns, sink.port, tmp_path / "first.log") as first:
            wait_for(
                lambda: arrived(maildir) >= kill_at or first.process.poll() is not None,
                60,
                f"{kill_at} messages to arrive",
                every=0.02,
            )
            assert first.process.poll() is None, first.output()
            first.kill()
        at_kill = arrived(maildir)
        store = Store.open(db)
        in_flight = {d.key: d.message_id for d in store.deliveries.in_state("sending")}
        states_at_kill = store.deliveries.counts_by_state()
        store.close()
        assert 0 < at_kill < PEOPLE, "the kill must land mid-way"
        assert states_at_kill.get("sent", 0) < PEOPLE
        # Marked one at a time, right before its own send: never more than the pool.
        assert len(in_flight) <= POOL, in_flight

        # 2. Start again; wait until every delivery is sent.
        with serving(db, campaigns, sink.port, tmp_path / "second.log") as second:
            wait_for(
                lambda: db_states(db) == {"sent": PEOPLE} or second.process.poll() is not None,
                60,
                "every delivery to be sent after the restart",
            )
            output = second.stop()
        assert db_states(db) == {"sent": PEOPLE}, output
        assert "error" not in output, output

    messages = maildir_messages(maildir)
    by_id = Counter(mid for mid, _, _, _ in messages)
    duplicates = {mid for mid, count in by_id.items() if count > 1}
    print(
        f"kill after {at_kill} of {PEOPLE} arrived: {len(in_flight)} in sending, "
        f"{len(duplicates)} sent twice"
    )
    # Every delivery reached the sink, with the Message-ID of its key...
    workspace = workspace_of(db)
    expected = {expected_message_id(n, workspace) for n in range(PEOPLE)}
    assert set(by_id) == expected
    # ...once, except the ambiguous ones that were on the wire at the kill (same id).
    assert max(by_id.values()) <= 2
    assert duplicates <= set(in_flight.values())
    assert len(messages) == PEOPLE + len(duplicates)
    for mid, key, to, subject in messages:
        n = int(key.split("/")[1]) - 1
        assert (mid, key, to, subject) == (
            expected_message_id(n, workspace),
            expected_key(n),
            f"p{n:04d}@example.com",
            f"Hello P{n}",
        )
    # The database agrees with the Maildir.
    store = Store.open(db)
    rows = store.deliveries.all()
    store.close()
    assert {d.message_id for d in rows} == set(by_id)
    assert all(d.state == "sent" and d.sent_at is not None for d in rows)
    # A resent delivery was attempted twice; every other one once.
    resent = {d.key for d in rows if d.attempts == 2}
    assert {d.key for d in rows if d.attempts not in (1, 2)} == set()
    assert resent == set(in_flight)


def test_two_schedulers_on_one_database_never_send_twice(
    tmp_path: Path, template_db: Path, campaigns: Path
) -> None:
    """Two `nudge serve` on one file: only the lease holder sends. The lease (0.3 s) is
    far shorter than a batch of 500 takes at 400 messages/s (1.25 s), so a holder that
    only renewed at the start of each tick would lose it mid-batch; the holder is then
    stopped half-way and the other takes over."""
    db = tmp_path / "nudge.db"
    shutil.copy(template_db, db)
    maildir = tmp_path / "maildir"
    env = {"NUDGE_LEASE_SECONDS": "0.3", "NUDGE_SMTP__RATE_PER_SECOND": "400"}
    with (
        Sink(maildir) as sink,
        serving(db, campaigns, sink.port, tmp_path / "a.log", **env) as a,
        serving(db, campaigns, sink.port, tmp_path / "b.log", **env) as b,
    ):
        wait_for(lambda: arrived(maildir) >= PEOPLE // 2, 60, "half of the messages")
        store = Store.open(db)
        info = store.lease.info()
        store.close()
        assert info is not None
        holder, other = (a, b) if info[0] == a.holder else (b, a)
        assert info[0] == holder.holder, (info, a.holder, b.holder)
        holder.stop()  # a clean stop releases the lease: the other takes over at once
        wait_for(
            lambda: db_states(db) == {"sent": PEOPLE} or other.process.poll() is not None,
            60,
            "every delivery to be sent by the second process",
        )
        other_output = other.stop()
    assert db_states(db) == {"sent": PEOPLE}, other_output
    assert "sent" in other_output  # the second one did send after the takeover
    messages = maildir_messages(maildir)
    by_id = Counter(mid for mid, _, _, _ in messages)
    workspace = workspace_of(db)
    assert set(by_id) == {expected_message_id(n, workspace) for n in range(PEOPLE)}
    assert max(by_id.values()) == 1, [mid for mid, c in by_id.items() if c > 1]
    assert len(messages) == PEOPLE
