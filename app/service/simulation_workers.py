"""A long simulation split by person across worker processes.

The engine decides about each person on their own, and operations reach across people
only through shared identifiers (`simulation_groups`). So the operations are split into
parts that share no identifier, each part is replayed by a worker process exactly as a
whole replay would (same start instant, same sweep grid and broadcast instants, same end,
the production engine, scheduler and outbox over a scratch database of its own), and the
parts' outcomes are merged (`simulation_merge`). The report is the same for any number of
workers; `tests/service/test_simulate_workers.py` checks it against one process.

Workers are fresh interpreters (`python -m app.service.simulation_workers SPEC`: the
console calls this from a thread, and forking a threaded process is unsafe). Each reads
its part from a file in the simulation's temporary folder, reports progress on its
stdout and leaves its outcome in a file; a cancelled simulation kills its workers.
"""

from __future__ import annotations

import gc
import os
import pickle
import resource
import selectors
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.config import Settings
from app.core.errors import NudgeError
from app.service.simulate import Progress, SimulationCancelled, SimulationRequest
from app.service.simulation_build import ReplayOutcome, assemble, dump_outcome, load_outcome
from app.service.simulation_groups import split
from app.service.simulation_inputs import ReplayInput
from app.service.simulation_merge import merge_outcomes
from app.service.simulation_report import SimulationReport
from app.service.simulation_sources import MAX_PROBLEMS, Definitions, ReplayOp, bulk_objects

#: How often (seconds) the parent looks at the cancel event while it waits.
_POLL_S = 0.1


@dataclass(frozen=True)
class _Part:
    """What one worker replays (pickled to it)."""

    index: int
    settings: Settings
    definitions: Definitions
    prior_file: Path
    ops_file: Path
    outcome_file: Path
    result_file: Path
    database: Path
    start: int
    end: int
    person: str | None


@dataclass
class _Done:
    """What one worker hands back in its result file (its outcome is in its own file)."""

    counts: tuple[int, int, int, int]  # applied, duplicates, skipped, rejected
    problems: list[tuple[int, str]]
    prior: int
    clock: int
    peak_kb: int


def run_in_workers(
    request: SimulationRequest,
    definitions: Definitions,
    ops: ReplayInput,
    workers: int,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> SimulationReport:
    """Replay `ops` in `workers` processes, split by person, and report as one replay.

    Raises:
        SimulationCancelled: soon after `cancel` is set (the workers are stopped).
        NudgeError: what a worker raised (a failed tick), or a worker that died.
        NotFound: when `request.person` is in no part.
    """
    prior, replayed, groups = ops.grouped()
    total = ops.total
    if not replayed:  # nothing to split: the one-process path handles it
        raise NudgeError("a split replay needs operations")
    start = replayed[0].timestamp
    if ops.from_ms is not None:
        start = min(ops.from_ms, start)
    end = request.until_ms if request.until_ms is not None else ops.to_ms
    if end is None:
        end = replayed[-1].timestamp
    # One split of both: a person's history before the range goes where their replay goes.
    every = split([groups.root(op.group) for op in (*prior, *replayed)], workers)
    prior_parts, parts = every[: len(prior)], every[len(prior) :]
    del groups  # a key per identifier and event id: let it go before the workers run
    with tempfile.TemporaryDirectory(prefix="nudge-sim-") as name:
        folder = Path(name)
        before = [_Chunks(folder / f"part-{index}.prior") for index in range(workers)]
        mine = [_Chunks(folder / f"part-{index}.ops") for index in range(workers)]
        for op, part in zip(prior, prior_parts, strict=True):
            before[part].add((op.timestamp, op.raw, op.where))
        for position, (op, part) in enumerate(zip(replayed, parts, strict=True)):
            mine[part].add((position, op.timestamp, op.raw, op.where))
        for chunks in (*before, *mine):
            chunks.close()
        specs = [
            _Part(
                index,
                request.settings,
                definitions,
                before[index].path,
                mine[index].path,
                folder / f"part-{index}.outcome",
                folder / f"part-{index}.result",
                folder / f"part-{index}.db",
                start,
                end,
                request.person,
            )  # fmt: skip
            for index in range(workers)
        ]
        del prior, replayed, every, parts, prior_parts
        gc.collect()
        done = _run_parts(specs, total, progress, cancel)
        # Read once every worker has exited (and let go of its memory).
        with bulk_objects():
            merged = merge_outcomes([_load(spec.outcome_file) for spec in specs])
    applied, duplicates, skipped, rejected = (sum(d.counts[i] for d in done) for i in range(4))
    problems = sorted(p for d in done for p in d.problems)
    return assemble(
        merged,
        start=start,
        end=max(d.clock for d in done),
        counts=(total + ops.rejected, applied, duplicates, skipped, rejected + ops.rejected),
        problems=(ops.problems + [text for _, text in problems])[:MAX_PROBLEMS],
        person=request.person,
        prior=sum(d.prior for d in done),
    )


def _run_parts(
    specs: list[_Part], total: int, progress: Progress | None, cancel: threading.Event | None
) -> list[_Done]:
    """Start a worker per part and wait for all of them, passing their progress on.

    A worker is `python -m app.service.simulation_workers SPEC` (a fresh interpreter; not
    `multiprocessing`, whose start-up needs a real stderr, which the console has
    replaced): it prints how many operations it replayed, one count a line, and leaves
    its result in its part's files.
    """
    root = str(Path(__file__).resolve().parents[2])  # the folder holding `app`
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p
    )}  # fmt: skip
    selector = selectors.DefaultSelector()
    workers: list[subprocess.Popen[bytes]] = []
    counts = [0] * len(specs)
    pending = [b""] * len(specs)
    try:
        for spec in specs:
            spec_file = spec.ops_file.with_suffix(".spec")
            with spec_file.open("wb") as out:
                pickle.dump(spec, out, protocol=pickle.HIGHEST_PROTOCOL)
            worker = subprocess.Popen(
                [sys.executable, "-m", __name__, str(spec_file)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                # Nothing of a worker's may land on the terminal the console draws on;
                # its errors come back in its result file.
                stderr=subprocess.DEVNULL,
                env=env,
            )
            workers.append(worker)
            assert worker.stdout is not None
            selector.register(worker.stdout, selectors.EVENT_READ, spec.index)
        while selector.get_map():
            if cancel is not None and cancel.is_set():
                raise SimulationCancelled("simulation cancelled")
            for key, _ in selector.select(timeout=_POLL_S):
                index = key.data
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                lines = (pending[index] + chunk).split(b"\n")
                pending[index] = lines.pop()
                if lines:
                    counts[index] = int(lines[-1])
                    if progress is not None:
                        progress(sum(counts), total)
        done = [_result(spec, worker.wait()) for spec, worker in zip(specs, workers, strict=True)]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
            if worker.stdout is not None:
                worker.stdout.close()
        selector.close()
    if progress is not None:
        progress(total, total)
    return done


def _result(spec: _Part, exit_code: int) -> _Done:
    """What a finished worker left: its figures, or the error it raised.

    Raises:
        The worker's error (as it raised it, when it could be pickled); NudgeError for a
        worker that stopped without a word (killed, out of memory).
    """
    try:
        with spec.result_file.open("rb") as source:
            kind, value = pickle.load(source)
    except (OSError, EOFError, pickle.UnpicklingError):
        raise NudgeError(
            f"simulation worker {spec.index} stopped unexpectedly (exit code {exit_code})"
        ) from None
    if kind == "error":
        raise value
    result: _Done = value
    return result


def _main(spec_file: str) -> int:
    """A worker process: replay one part; leave ("done", figures) or ("error", exc) in
    its result file, the outcome in its outcome file."""
    with open(spec_file, "rb") as source:
        spec: _Part = pickle.load(source)
    try:
        outcome: tuple[str, Any] = ("done", _replay_part(spec))
    except BaseException as exc:  # handed to the parent, which raises it
        try:
            pickle.dumps(exc)
        except Exception:
            exc = NudgeError(f"{type(exc).__name__}: {exc}")
        outcome = ("error", exc)
    with spec.result_file.open("wb") as out:
        pickle.dump(outcome, out, protocol=pickle.HIGHEST_PROTOCOL)
    return 0 if outcome[0] == "done" else 1


class _Chunks:
    """A file of rows written in pickled chunks, so that neither side holds a part whole:
    the parent writes each row as it goes, a worker reads them back a chunk at a time."""

    SIZE = 10_000

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out = path.open("wb")
        self._rows: list[tuple[Any, ...]] = []

    def add(self, row: tuple[Any, ...]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.SIZE:
            self._flush()

    def close(self) -> None:
        self._flush()
        self._out.close()

    def _flush(self) -> None:
        if self._rows:
            pickle.dump(self._rows, self._out, protocol=pickle.HIGHEST_PROTOCOL)
            self._rows = []

    @staticmethod
    def read(path: Path) -> Iterator[Any]:
        """The rows of a chunk file, in order (the file is removed once read)."""
        with path.open("rb") as source:
            while True:
                try:
                    chunk = pickle.load(source)
                except EOFError:
                    break
                yield from chunk
        path.unlink()


def _load(path: Path) -> ReplayOutcome:
    with path.open("rb") as source:
        outcome = load_outcome(source)
    path.unlink()
    return outcome


def _replayed(count: int) -> None:
    """Tell the parent how far this worker is (a line on stdout)."""
    sys.stdout.write(f"{count}\n")
    sys.stdout.flush()


def _replay_part(spec: _Part) -> _Done:
    from app.service.simulation_replay import Replay

    prior = (ReplayOp(t, raw, where) for t, raw, where in _Chunks.read(spec.prior_file))
    replay = Replay(spec.settings, spec.definitions, spec.database, spec.start, prior)
    try:
        ops = (
            (position, ReplayOp(t, raw, where))
            for position, t, raw, where in _Chunks.read(spec.ops_file)
        )
        _replayed(replay.replay(ops, None, _replayed))
        replay.finish(spec.end, None)
        with spec.outcome_file.open("wb") as out, bulk_objects():
            dump_outcome(replay.store, spec.definitions, spec.person, out)
        return _Done(
            (replay.applied, replay.duplicates, replay.skipped, replay.rejected),
            replay.problems,
            replay.prior,
            replay.clock.at_ms,
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        )
    finally:
        replay.close()


if __name__ == "__main__":
    # Run from the module imported under its own name, so that what the worker pickles
    # names `app.service.simulation_workers`, which the parent can load, not `__main__`.
    from app.service.simulation_workers import _main as main

    sys.exit(main(sys.argv[1]))
