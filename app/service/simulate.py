"""The simulator's public API: replay recorded events through campaigns, before they go
live or after an edit, and compare two versions (DESIGN.md §4 "Simulation").

Invariant 1 is the contract: a simulation runs the production engine, segment keeper,
scheduler tick and outbox (templates render for real) over a scratch database with a
virtual clock (`FixedClock`, stepped) and a `RecordingMailer`. The live database is only
ever read (opened read-only), and nothing is sent.

Replay: operations in timestamp order (ties keep their order in the source). Before an
operation at time t is applied (at received time t), the scheduler ticks at every due
instant up to t (journey steps, wait timeouts, time windows, retries and held messages,
exactly at their due times), and at least once per sweep interval of virtual time so
that segment membership that changes with time alone moves. At the end the clock runs on
to `until_ms` (else the source's `to_ms`, else the last operation) the same way.

The console calls `simulate` / `compare` from a worker thread: each call opens its own
connections in that thread, reports progress as (operations replayed, total) and stops
with `SimulationCancelled` soon after `cancel` is set.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.config import Settings
from app.core.errors import NudgeError
from app.service.simulation_report import (
    CampaignFunnel,
    Comparison,
    JourneyPath,
    MessageRow,
    PathChange,
    PathCount,
    SimulationReport,
    StepDelta,
    StepFunnel,
    TimelineEntry,
    report_json,
)


@dataclass(frozen=True)
class CampaignSource:
    """A campaign to simulate: a saved file (`path`) or unsaved draft text (`text`).

    A draft's templates come from the campaigns folder's `templates/` and its segments
    from `segments/` (both under `Settings.campaigns`). Whatever its `state` says, the
    campaign runs as active in the simulation.

    Attributes:
        path: the YAML file, or None for a draft.
        text: the draft's YAML text (used when given, even with a path: an edited file
            not saved yet).
        name: how errors and the report name it (default: the path, else `draft`).
    """

    path: Path | None = None
    text: str | None = None
    name: str = ""


@dataclass(frozen=True)
class LiveHistory:
    """The recorded events of a Nudge database with `from_ms <= timestamp < to_ms`
    (either bound optional), opened read-only."""

    database: Path
    from_ms: int | None = None
    to_ms: int | None = None


@dataclass(frozen=True)
class LogFiles:
    """JSONL event logs in the formats `nudge ingest` reads (`.gz` too). Every operation
    needs a timestamp (a replay has no arrival time to fall back on)."""

    paths: tuple[Path, ...]


EventSource = LiveHistory | LogFiles


@dataclass(frozen=True)
class SimulationRequest:
    """What to simulate.

    Attributes:
        campaigns: one or more campaigns (ids must differ).
        source: the events.
        settings: the workspace's settings: `campaigns` (segments, templates), time
            zone, trigger age, message limit, From address. `database` is not used (the
            simulation has its own scratch database).
        until_ms: run the clock on to this instant at the end (ms UTC); default: the
            source's `to_ms`, else the last operation's time.
        person: a person (external id or email) whose timeline the report includes.
        workers: processes replaying at once. The engine decides about each person on
            their own (see `simulation_groups`), so a long replay is split by person and
            each part replayed in a process of its own; the report is the same for any
            count. None: one per core from 20,000 operations on, else 1.
    """

    campaigns: tuple[CampaignSource, ...]
    source: EventSource
    settings: Settings
    until_ms: int | None = None
    person: str | None = None
    workers: int | None = None


class Progress(Protocol):
    """Told how far a simulation is: operations replayed out of the total."""

    def __call__(self, done: int, total: int, /) -> None: ...


class SimulationCancelled(NudgeError):
    """The simulation was cancelled (its `cancel` event was set); nothing was kept."""

    code = "cancelled"


def simulate(
    request: SimulationRequest,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> SimulationReport:
    """Replay the request's events through its campaigns and report what happened.

    Args:
        request: campaigns, events, settings, horizon, person.
        progress: called now and then with (operations replayed, total), in the calling
            thread.
        cancel: when set, the simulation stops at the next operation or tick.

    Returns:
        The report (see `SimulationReport`).

    Raises:
        NudgeError: a campaign or segment with problems (every `file:line: reason`, one
            per line, in the message), an unreadable source, a person not found.
        SimulationCancelled: when `cancel` was set.
    """
    from app.service.simulation_runner import run_simulation

    return run_simulation(request, progress=progress, cancel=cancel)


def compare(
    base: SimulationRequest,
    other: SimulationRequest,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Comparison:
    """Simulate two versions on the same events and say what changes and for whom.

    Progress counts both runs: (done, 2 * total).

    Raises:
        NudgeError, SimulationCancelled: as `simulate`.
    """
    from app.service.simulation_compare import compare_reports

    total = [0]

    def first(done: int, count: int) -> None:
        total[0] = count
        if progress is not None:
            progress(done, 2 * count)

    def second(done: int, count: int) -> None:
        if progress is not None:
            progress(count + done, 2 * count)

    left = simulate(base, progress=first, cancel=cancel)
    right = simulate(other, progress=second, cancel=cancel)
    return compare_reports(left, right)


def render_report_text(report: SimulationReport) -> str:
    """The report as text for a terminal (funnels, paths, messages, timeline)."""
    from app.service.simulation_text import report_text

    return report_text(report)


def render_comparison_text(comparison: Comparison) -> str:
    """A comparison as text: step deltas, changed paths, messages added and removed."""
    from app.service.simulation_text import comparison_text

    return comparison_text(comparison)


__all__ = [
    "CampaignFunnel",
    "CampaignSource",
    "Comparison",
    "EventSource",
    "JourneyPath",
    "LiveHistory",
    "LogFiles",
    "MessageRow",
    "PathChange",
    "PathCount",
    "Progress",
    "SimulationCancelled",
    "SimulationReport",
    "SimulationRequest",
    "StepDelta",
    "StepFunnel",
    "TimelineEntry",
    "compare",
    "render_comparison_text",
    "render_report_text",
    "report_json",
    "simulate",
]
