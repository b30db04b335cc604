"""What every `nudge` command shares: settings options, one-line errors, progress, output.

Kept apart from `app/cli.py` so the command file reads as a list of commands.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from app.config import Settings, load_settings
from app.core.errors import NudgeError
from app.core.times import parse_instant
from app.service.logfiles import IngestSummary
from app.store import Store

if TYPE_CHECKING:
    from app.service.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


class NudgeGroup(click.Group):
    """A click group that turns every error into one line: no traceback reaches an operator.

    `NUDGE_DEBUG=1` lets unexpected errors through with their traceback, for developers.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NudgeError as exc:
            raise click.ClickException(exc.message) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise click.Abort() from None
        except BrokenPipeError:
            # Output piped into `head` and closed early: not an error for the operator.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (the process is ending)
            raise click.exceptions.Exit(0) from None
        except Exception as exc:
            if os.environ.get("NUDGE_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {exc} (NUDGE_DEBUG=1 shows the traceback)"
            ) from None


def settings_options(func: F) -> F:
    """Add `--db` and `--campaigns` to a command and hand it a `settings` argument."""

    @click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="SQLite database (default: settings, data/nudge.db).",
    )
    @click.option(
        "--campaigns",
        "campaigns_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Campaigns folder (default: settings, campaigns/).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, db_path: Path | None, campaigns_dir: Path | None, **kwargs: Any) -> Any:
        settings = load_settings(database=db_path, campaigns=campaigns_dir)
        return func(*args, settings=settings, **kwargs)

    return wrapper  # type: ignore[return-value]


def parse_when(text: str | None, settings: Settings, name: str = "time") -> int | None:
    """Read a `--since`/`--until` value: a time with a zone, or a date (midnight) or local
    time (`2026-10-05T12:00`) read in the workspace zone (`settings.timezone`).

    Raises:
        NudgeError: when it is neither, or an impossible date (`2026-02-30`).
    """
    if text is None:
        return None
    return parse_instant(text, name, zone=settings.zone)


@contextmanager
def byte_progress(total: int | None, label: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar over bytes on a terminal; silent when output is not a terminal.

    Yields:
        A function to call with the bytes consumed since the last call.
    """
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def file_size(path: str) -> int | None:
    """A file's size for a progress total; None for stdin and compressed files."""
    if path == "-" or path.endswith(".gz"):
        return None
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def echo_summary(summary: IngestSummary, as_json: bool, limit: int = 20) -> None:
    """Print what an ingest or import did: counts, then skipped and rejected lines."""
    if as_json:
        import json

        click.echo(json.dumps(summary.as_dict(), indent=2))
        return
    click.echo(
        f"{summary.lines:,} operations: {summary.applied:,} applied, "
        f"{summary.duplicates:,} duplicates, {len(summary.skipped):,} skipped, "
        f"{len(summary.rejected):,} rejected"
    )
    for title, problems in (("skipped", summary.skipped), ("rejected", summary.rejected)):
        for problem in problems[:limit]:
            click.echo(f"  {title} {problem}")
        if len(problems) > limit:
            click.echo(f"  ... and {len(problems) - limit:,} more {title}")


def open_store(settings: Settings) -> Store:
    """The database alone (for commands that need no definitions), created if missing."""
    return Store.open(settings.database)


def require_database(settings: Settings) -> None:
    """Refuse a missing database: a command that only reads must not create one (and its
    folder) at a mistyped `--db`.

    Raises:
        click.ClickException: when there is no file at `settings.database`.
    """
    path = Path(settings.database)
    if str(path) != ":memory:" and not path.exists():
        raise click.ClickException(
            f"no database at {path} (run nudge ingest or nudge demo first, or pass --db)"
        )


def open_read_store(settings: Settings) -> Store:
    """The existing database, for a command that only reads it; read-only when the file or
    its folder is (a backup, a reporting user).

    Raises:
        click.ClickException: when there is no database.
        ConfigError: when it cannot be opened, or is read-only and needs a migration.
    """
    require_database(settings)
    return Store.open_for_reading(settings.database)


def open_cli_workspace(settings: Settings, *, existing: bool = False) -> Workspace:
    """Open the workspace; definitions that did not load are listed on stderr.

    Args:
        existing: refuse a missing database (commands that only read) instead of
            creating it.
    """
    from app.service.workspace import open_workspace

    if existing:
        require_database(settings)
    if settings.campaigns.exists() and not settings.campaigns.is_dir():
        raise click.ClickException(
            f"campaigns folder {settings.campaigns} is a file, not a folder (pass --campaigns DIR)"
        )
    workspace = open_workspace(settings)
    for error in workspace.errors:
        click.echo(f"warning: {error}", err=True)
    return workspace


def vars_of(row: object) -> dict[str, object]:
    """A dataclass row as a dict, for --json."""
    from dataclasses import asdict, is_dataclass

    return asdict(row) if is_dataclass(row) and not isinstance(row, type) else {}
