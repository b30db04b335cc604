"""`nudge sink` as an operator runs it, and `run_sink` behind it."""

from __future__ import annotations

import mailbox
import os
import select
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.delivery import Sink, run_sink
from tests.delivery.conftest import build_message

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_help_names_every_option() -> None:
    assert "sink" in CliRunner().invoke(cli, ["--help"]).output
    result = CliRunner().invoke(cli, ["sink", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--maildir", "--fail-rate", "--seed", "--reject"):
        assert option in result.output
    assert "data/maildir" in result.output
    assert "1025" in result.output


def test_a_taken_port_is_a_one_line_error(tmp_path: Path, taken_port: int) -> None:
    result = CliRunner().invoke(
        cli, ["sink", "--port", str(taken_port), "--maildir", str(tmp_path / "md")]
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot listen on 127.0.0.1:{taken_port}: address already in use\n"
    )


def test_a_fail_rate_outside_0_to_1_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sink", "--fail-rate", "2", "--maildir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--fail-rate" in result.output


def test_run_sink_returns_the_stopped_sink(tmp_path: Path) -> None:
    seen: list[str] = []

    def ready(sink: Sink) -> None:
        seen.append(sink.address)
        sink.request_stop()

    done = run_sink("127.0.0.1", 0, tmp_path / "md", 0.5, 1, on_ready=ready)
    assert seen == [done.address]
    assert done.port != 0
    assert (tmp_path / "md" / "new").is_dir()


def test_the_command_runs_until_ctrl_c(tmp_path: Path) -> None:
    maildir = tmp_path / "md"
    code = "from app.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "sink", "--port", "0", "--maildir", str(maildir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")},
        # A shell running the suite in the background starts children with SIGINT
        # ignored; Ctrl-C is what this test is about, so give it back its default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler),
    )
    try:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], 30)
        assert readable, "nudge sink printed nothing"
        line = proc.stdout.readline()
        assert line.startswith("SMTP sink listening on 127.0.0.1:")
        assert f"storing messages in {maildir}" in line
        port = int(line.split("127.0.0.1:")[1].split(",")[0])

        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("nudge@example.com", ["ana@example.com"], build_message(1))
        # Ctrl-C once the message is on disk (the 250 can come a moment before the
        # file lands), so the interrupt meets an idle server, as an operator's would.
        deadline = time.monotonic() + 10
        while not list((maildir / "new").glob("*")) and time.monotonic() < deadline:
            time.sleep(0.01)

        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out == "stopped: 1 stored, 0 answered 451, 0 recipients rejected\n"
    box = mailbox.Maildir(maildir, create=False)
    # A Mailbox iterates over messages; the bytes need the keys.
    assert [box.get_bytes(key) for key in box.keys()] == [build_message(1)]  # noqa: SIM118
