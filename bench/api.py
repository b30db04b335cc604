"""HTTP API benchmark: `/v1/batch` over real sockets against `nudge ingest` of the same events.

Run: `.venv/bin/python bench/api.py` (or `make bench`); `--events 20000` for a quick run.
Generates seeded Segment track events (the generator of `bench/ingest.py`), then in the
same run:

* file: the events as a JSONL file, applied the way `nudge ingest` does (a workspace
  over a fresh file database, `ingest_lines` over the file) — the ceiling;
* http: a `nudge serve --port 0` subprocess over another fresh database (the API beside
  the scheduler, as in production), and `--clients` threads (default 4), each with one
  keep-alive connection, posting `/v1/batch` requests of `--batch` events (default 100)
  until the events run out. Bodies are encoded before the clock starts; the time runs
  from the first request to the last answer.

Both sides store the same rows (checked: the event count of each database). It prints
both rates (events/s) and their ratio; goals: at least 5,000 events/s over HTTP and at
least 30% of the file rate. It always exits 0: a slow machine is a figure, not a failure.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
from ingest import generate  # bench/ingest.py, beside this file

from app.config import load_settings
from app.core.clock import FixedClock
from app.service.logfiles import IngestSummary, ingest_lines, open_lines
from app.service.workspace import open_workspace
from app.store import Store

GOAL_RATE = 5_000
GOAL_RATIO = 0.30
WRITE_KEY = "bench-key"
NUDGE = Path(sys.executable).parent / "nudge"


def run_file(lines: Path, folder: Path, received: int) -> float:
    """`nudge ingest` of the JSONL file into a fresh database; the seconds taken."""
    settings = load_settings(database=folder / "file.db", campaigns=folder / "campaigns")
    workspace = open_workspace(settings, FixedClock(received))
    summary = IngestSummary()
    began = time.perf_counter()
    with open_lines(str(lines)) as source:
        ingest_lines(workspace.ingestor, source, str(lines), summary)
    elapsed = time.perf_counter() - began
    workspace.store.close()
    if summary.rejected or summary.skipped:
        raise SystemExit(f"file ingest refused events: {(summary.rejected + summary.skipped)[:3]}")
    return elapsed


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    """`nudge serve --port 0` over a fresh database; (process, port, log)."""
    log = folder / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUDGE_")}
    env["NUDGE_API_KEYS"] = f'["{WRITE_KEY}"]'
    env["NUDGE_SMTP__PORT"] = "1"  # no campaigns: nothing is sent
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(NUDGE), "serve", "--db", "http.db", "--campaigns", "campaigns", "--port", "0"],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"HTTP API on http://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return process, int(found.group(1)), log
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"nudge serve did not start:\n{log.read_text()}")


def run_http(bodies: list[bytes], port: int, clients: int) -> float:
    """Post every body from `clients` threads; the seconds from first request to last answer."""
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": auth}
    lock = threading.Lock()
    queue = list(reversed(bodies))
    failures: list[str] = []
    start = threading.Barrier(clients + 1)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            connection.request("POST", "/v1/batch", body, headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200 or orjson.loads(answer)["errors"]:
                failures.append(f"{response.status} {answer[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return elapsed


def stored(path: Path) -> int:
    store = Store.open(path)
    try:
        return store.events.count()
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()

    work = generate(args.events, args.people, args.seed)
    bodies = [
        orjson.dumps({"batch": work.raws[i : i + args.batch]})
        for i in range(0, len(work.raws), args.batch)
    ]
    with tempfile.TemporaryDirectory(prefix="nudge-bench-api-") as tmp:
        folder = Path(tmp)
        (folder / "campaigns").mkdir()
        lines = folder / "events.jsonl"
        lines.write_bytes(b"\n".join(orjson.dumps(raw) for raw in work.raws) + b"\n")

        file_s = run_file(lines, folder, work.received)
        process, port, log = start_server(folder)
        try:
            http_s = run_http(bodies, port, args.clients)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        counts = (stored(folder / "file.db"), stored(folder / "http.db"))
        if counts != (args.events, args.events):
            raise SystemExit(
                f"stored {counts} events, expected {args.events} each:\n{log.read_text()}"
            )

    file_rate = args.events / file_s
    http_rate = args.events / http_s
    ratio = http_rate / file_rate
    print(f"api: {args.events:,} events, {args.clients} clients x /v1/batch of {args.batch}")
    print(f"  nudge ingest (file): {file_rate:>10,.0f} events/s  ({file_s:.2f} s)")
    print(f"  HTTP /v1/batch     : {http_rate:>10,.0f} events/s  ({http_s:.2f} s)")
    rate_ok = "ok" if http_rate >= GOAL_RATE else "BELOW GOAL"
    ratio_ok = "ok" if ratio >= GOAL_RATIO else "BELOW GOAL"
    print(f"  HTTP rate: goal >= {GOAL_RATE:,}/s: {rate_ok}")
    print(f"  ratio {ratio:.0%} of file ingest (goal >= {GOAL_RATIO:.0%}): {ratio_ok}")


if __name__ == "__main__":
    main()
