"""Running one simulation: its definitions and operations read, then replayed in a
scratch workspace (`simulation_replay.Replay`) in this process, or split by person across
worker processes for a long one (`simulation_workers`), and reported.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import threading
from pathlib import Path

from app.service.simulate import Progress, SimulationRequest
from app.service.simulation_build import assemble, collect
from app.service.simulation_inputs import ReplayInput, load_request_definitions
from app.service.simulation_replay import PROGRESS_EVERY, Replay
from app.service.simulation_report import SimulationReport
from app.service.simulation_sources import MAX_PROBLEMS, bulk_objects

#: From this many operations on, a simulation is split by person across worker
#: processes, one per core (`simulation_workers`); at most this many.
WORKERS_FROM = 20_000
MAX_WORKERS = 8


def run_simulation(
    request: SimulationRequest,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> SimulationReport:
    """See `app.service.simulate.simulate`.

    The scheduler's tick is a coroutine, run to its end without an event loop
    (`_run_tick`). Called from a thread whose loop is running (an async caller), the
    simulation runs in a thread of its own and this call waits for it (progress is then
    called from there).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run(request, progress, cancel)
    result: list[SimulationReport] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            result.append(_run(request, progress, cancel))
        except BaseException as exc:  # handed back to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=work, name="nudge-simulation")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return result[0]


def _run(
    request: SimulationRequest, progress: Progress | None, cancel: threading.Event | None
) -> SimulationReport:
    definitions = load_request_definitions(request)
    ops = ReplayInput(request, cancel)
    workers = worker_count(request.workers, ops.total)
    if workers > 1:
        from app.service.simulation_workers import run_in_workers

        return run_in_workers(request, definitions, ops, workers, progress, cancel)
    total = ops.total
    with tempfile.TemporaryDirectory(prefix="nudge-sim-") as folder:
        stream = iter(ops)
        head = next(stream, None)
        if head is None:
            first = ops.from_ms if ops.from_ms is not None else request.until_ms or 0
        else:
            first = head.timestamp if ops.from_ms is None else min(ops.from_ms, head.timestamp)
        replay = Replay(
            request.settings, definitions, Path(folder) / "scratch.db", first, ops.prior, cancel
        )
        try:

            def replayed(count: int) -> None:
                if progress is not None:
                    progress(count, total)

            everything = itertools.chain(() if head is None else (head,), stream)
            done = replay.replay(enumerate(everything), cancel, replayed)
            end = request.until_ms if request.until_ms is not None else ops.to_ms
            replay.finish(end, cancel)
            if progress is not None and (done == 0 or done % PROGRESS_EVERY):
                progress(done, total)
            with bulk_objects():
                report = assemble(
                    collect(replay.store, definitions, request.person),
                    start=first,
                    end=replay.clock.at_ms,
                    counts=(
                        done + ops.rejected,
                        replay.applied,
                        replay.duplicates,
                        replay.skipped,
                        replay.rejected + ops.rejected,
                    ),
                    problems=(ops.problems + [text for _, text in replay.problems])[:MAX_PROBLEMS],
                    person=request.person,
                    prior=replay.prior,
                )
            return report
        finally:
            replay.close()


def worker_count(asked: int | None, operations: int) -> int:
    """How many worker processes replay `operations`: `asked` when given (1 to
    `MAX_WORKERS`: each is an interpreter with its own scratch database), else one per
    core (at most `MAX_WORKERS`) from `WORKERS_FROM` operations on, below which starting
    processes costs more than it saves."""
    if asked is not None:
        return max(1, min(asked, MAX_WORKERS))
    if operations < WORKERS_FROM:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_WORKERS))
