"""`nudge serve` serves the API beside the scheduler (a real subprocess, a real port)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.store import Store
from tests.api.conftest import SEGMENT_AUTH

NUDGE = Path(sys.executable).parent / "nudge"


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> object:
    """Poll until `condition()` is truthy (a deadline, not a timing assumption)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def nudge_serve(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    (tmp_path / "campaigns").mkdir(exist_ok=True)
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
    env.update(
        {
            "NUDGE_API_KEYS": '["write-1"]',
            "NUDGE_SCHEDULER_INTERVAL_SECONDS": "0.05",
            "NUDGE_SMTP__PORT": "1",  # nothing is sent: no campaigns
        }
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(NUDGE), "serve", "--db", "nudge.db", "--campaigns", "campaigns", *args],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process, log
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def test_serve_answers_track_calls_and_health_then_stops_cleanly(tmp_path: Path) -> None:
    with nudge_serve(tmp_path, "--port", "0") as (process, log):
        found = _wait_for(
            lambda: re.search(r"HTTP API on http://127\.0\.0\.1:(\d+)", log.read_text()),
            "the API line",
        )
        assert isinstance(found, re.Match)
        base = f"http://127.0.0.1:{found.group(1)}"
        r = httpx.post(
            f"{base}/v1/track",
            json={"userId": "u1", "event": "signed_up", "messageId": "m-1"},
            headers=SEGMENT_AUTH,
        )
        assert r.status_code == 200 and r.json() == {"success": True}
        holder = f"{socket.gethostname()}:{process.pid}"

        def ticked() -> bool:
            scheduler = httpx.get(f"{base}/health").json()["scheduler"]
            return scheduler["holder"] == holder and scheduler["last_tick_at"] is not None

        _wait_for(ticked, "a scheduler tick seen by /health")
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert "stopped" in log.read_text()
    store = Store.open(tmp_path / "nudge.db")
    try:
        assert [(e.user_id, e.name) for e in store.events.iter_range()] == [("u1", "signed_up")]
    finally:
        store.close()


def test_a_taken_port_leaves_the_scheduler_running_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with nudge_serve(tmp_path, "--port", str(port)) as (process, log):
            _wait_for(lambda: "serving" in log.read_text(), "the serving line")
            assert f"warning: HTTP API not started: cannot listen on 127.0.0.1:{port}" in (
                log.read_text()
            )
            assert process.poll() is None
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
