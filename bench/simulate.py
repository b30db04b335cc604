"""Simulation benchmark: replay events through five campaigns against plain ingest of the
same events, and the simulator's peak memory.

Run: `.venv/bin/python bench/simulate.py` (or `make bench`); `--events 100000 --people
10000` for a quick run. The workload is `bench/engine.py`'s (seeded Segment operations
of a product with a trial, in time order) with its five campaigns and segment, written
as a JSONL log and a campaigns folder in a temporary directory. Then, in the same run:

(a) plain ingest: the log's operations go through an `Ingestor` with no hook (no
    segments, no engine) over a fresh file database, in batches of 5,000, the clock at
    each batch's last event; only `apply` is timed (reading and parsing the log too
    for the simulator, so the log is parsed here too, untimed). This is the ceiling.
(b) simulation: `simulate()` of the five campaigns over the same log, in a child
    process so that its memory is its own, not the generator's. The whole call is timed:
    reading and sorting the log, splitting it by person for the worker processes (one
    per core, `simulation_workers`), replaying every operation at its own instant with a
    scheduler tick at every due instant and every hour (segment sweeps, the date
    trigger), rendering and recording every message, merging the workers' outcomes and
    building the report. Peak memory is the largest sum of the resident sizes of the
    child and every process under it (its workers), sampled every 50 ms: what the
    machine must hold at once.

Goals: the simulation replays at least 25% of the plain-ingest rate (events/s) and its
peak memory stays under 2 GB. It always exits 0: a slow machine is a figure, not a
failure. `--workers 1` measures one process.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RATE_GOAL = 0.25
MEMORY_GOAL_MB = 2048
BATCH = 5_000


def _rss_kb(pid: int) -> int:
    """Resident size of a process and every process under it, KB (0 once gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        kids: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(k) for k in (task / "children").read_text().split()]
    except (OSError, StopIteration, ValueError):
        return 0
    return rss + sum(_rss_kb(kid) for kid in kids)


class _PeakSampler(threading.Thread):
    """Samples the resident size of this process tree every 50 ms; keeps the largest."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, _rss_kb(os.getpid()))


def child(log: Path, folder: Path, until: int, workers: int | None) -> None:
    """Run the simulation (in its own process) and print its figures as JSON."""
    from app.config import load_settings
    from app.service.simulate import CampaignSource, LogFiles, SimulationRequest, simulate
    from app.service.simulation_runner import worker_count

    settings = load_settings(campaigns=folder, database=folder / "unused.db", timezone="UTC")
    campaigns = tuple(CampaignSource(p) for p in sorted(folder.glob("*.yaml")))
    request = SimulationRequest(
        campaigns, LogFiles((log,)), settings, until_ms=until, workers=workers
    )
    sampler = _PeakSampler()
    sampler.start()
    began = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 100_000 == 0:
            took = time.perf_counter() - began
            print(f"    {done:,} / {total:,} replayed ({took:.0f} s)", file=sys.stderr)

    report = simulate(request, progress=progress)
    seconds = time.perf_counter() - began
    sampler.stop.set()
    sampler.join()
    own_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_kb = max(sampler.peak_kb, own_kb)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "operations": report.operations,
                "applied": report.applied,
                "rejected": report.rejected,
                "messages": len(report.messages),
                "peak_mb": peak_kb / 1024,
                "workers": worker_count(workers, report.operations),
                "funnels": {
                    f.campaign: {
                        "entered": f.entered,
                        "messages": f.messages,
                        "converted": f.converted,
                    }
                    for f in report.campaigns
                },
            }
        )
    )


def plain_ingest(log: Path, tmp: Path) -> tuple[float, int]:
    """Seconds spent in `Ingestor.apply` for the whole log, and operations applied."""
    from app.core.clock import FixedClock
    from app.core.times import parse_instant
    from app.service.ingest import Ingestor
    from app.store import Store

    lines = log.read_bytes().splitlines()
    raws = [orjson.loads(line) for line in lines]
    sizes = [len(line) for line in lines]
    del lines
    gc.freeze()
    clock = FixedClock(0)
    ingestor = Ingestor(Store.open(tmp / "plain.db"), clock)
    seconds = 0.0
    applied = 0
    for start in range(0, len(raws), BATCH):
        batch = raws[start : start + BATCH]
        clock.at_ms = parse_instant(batch[-1]["timestamp"], "timestamp")
        began = time.perf_counter()
        report = ingestor.apply(batch, sizes[start : start + BATCH])
        seconds += time.perf_counter() - began
        applied += report.applied
    return seconds, applied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    parser.add_argument("--child", nargs=3, metavar=("LOG", "FOLDER", "UNTIL"))
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]), args.workers)
        return
    import engine as engine_bench  # bench/engine.py: the workload and campaigns

    with tempfile.TemporaryDirectory(prefix="nudge-bench-sim-") as name:
        tmp = Path(name)
        began = time.perf_counter()
        work = engine_bench.generate(args.events, args.people, args.seed)
        log = tmp / "events.jsonl"
        with log.open("wb") as out:
            for raw in work.raws:
                out.write(orjson.dumps(raw) + b"\n")
        until = engine_bench.START_MS + engine_bench.SPAN_MS
        folder = tmp / "campaigns"
        engine_bench.write_folder(folder, engine_bench.CAMPAIGNS, engine_bench.SEGMENTS)
        count = len(work.raws)
        del work
        gc.collect()
        print(
            f"generated {count:,} operations for {args.people:,} people "
            f"({time.perf_counter() - began:.0f} s, untimed)"
        )
        plain_s, applied = plain_ingest(log, tmp)
        plain_rate = count / plain_s
        print(
            f"(a) plain ingest: {applied:,} applied in {plain_s:.1f} s = {plain_rate:,.0f} events/s"
        )
        run = subprocess.run(
            [sys.executable, __file__, "--child", str(log), str(folder), str(until)]
            + ([] if args.workers is None else ["--workers", str(args.workers)]),
            stdout=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
        if run.returncode != 0:
            print("(b) simulation failed (its error is above)")
            return
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        rate = figures["operations"] / figures["seconds"]
        ratio = rate / plain_rate
        print(
            f"(b) simulation: {figures['operations']:,} operations ({figures['rejected']} "
            f"rejected), {figures['messages']:,} messages in {figures['seconds']:.1f} s = "
            f"{rate:,.0f} events/s ({figures['workers']} "
            f"{'process' if figures['workers'] == 1 else 'worker processes'})"
        )
        for cid, funnel in figures["funnels"].items():
            print(
                f"    {cid:<18} entered {funnel['entered']:>7,}  messages "
                f"{funnel['messages']:>7,}  converted {funnel['converted']:>6,}"
            )
        verdict = "meets" if ratio >= RATE_GOAL else "misses"
        print(f"    ratio {ratio:.1%} of plain ingest ({verdict} the {RATE_GOAL:.0%} goal)")
        memory = "meets" if figures["peak_mb"] < MEMORY_GOAL_MB else "misses"
        print(
            f"    peak memory {figures['peak_mb']:,.0f} MB ({memory} the "
            f"{MEMORY_GOAL_MB:,} MB goal)"
        )


if __name__ == "__main__":
    main()
