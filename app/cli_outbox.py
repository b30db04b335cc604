"""`nudge serve`, `nudge deliveries ...`, `nudge send-test`: the outbox and the scheduler."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from app.cli_support import (
    NudgeGroup,
    open_cli_workspace,
    open_read_store,
    open_store,
    require_database,
    settings_options,
)
from app.config import Settings
from app.core.clock import SystemClock
from app.core.times import format_instant

if TYPE_CHECKING:
    from app.api.backend import Backend
    from app.api.server import ApiServer
    from app.core.yamlload import DefinitionError
    from app.service.outbox import Outbox
    from app.service.workspace import Workspace


def _outbox(workspace: Workspace) -> Outbox:
    from app.delivery.smtp import SmtpMailer
    from app.service.outbox import Outbox

    return Outbox(
        workspace.store, workspace.engine, workspace.settings, SmtpMailer(workspace.settings.smtp)
    )


@click.command()
@click.option("--once", is_flag=True, help="Run one tick and exit (for cron or a check).")
@click.option("--host", default=None, help="HTTP API bind address (default: settings api_host).")
@click.option("--port", type=int, default=None, help="HTTP API port (default: settings api_port).")
@click.option("--no-api", is_flag=True, help="Run the scheduler without the HTTP API.")
@settings_options
def serve(once: bool, host: str | None, port: int | None, no_api: bool, settings: Settings) -> None:
    """Run the scheduler: journeys, segment sweeps, sending; hot-reload campaigns; ingest
    the watch folder when one is set; serve the HTTP Track API (unless --no-api or
    --once). Stops cleanly on Ctrl-C or SIGTERM."""
    updates = {k: v for k, v in (("api_host", host), ("api_port", port)) if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    asyncio.run(_serve(settings, once, api=not no_api))


async def _serve(settings: Settings, once: bool, api: bool = False) -> None:
    from app.service.reload import DefinitionsWatcher
    from app.service.scheduler import Scheduler, TickReport

    workspace = open_cli_workspace(settings)
    outbox = _outbox(workspace)
    scheduler = Scheduler(
        workspace,
        outbox,
        workspace.clock,
        concurrency=settings.smtp.pool_size,
        lease_ms=int(settings.lease_seconds * 1000),
    )
    if once:
        try:
            report = await scheduler.tick()
            _echo_tick(report)
        finally:
            scheduler.release()
            await outbox.mailer.close()
        return
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # File watching blocks, so it runs in a thread and only raises a flag; the reload
    # itself runs on this thread, which owns the database connection.
    changed = threading.Event()
    thread_stop = threading.Event()
    watcher = DefinitionsWatcher(workspace)

    def watch_definitions() -> None:
        for _ in watcher.changes(thread_stop):
            changed.set()

    threading.Thread(target=watch_definitions, daemon=True).start()
    folder = None
    if settings.watch_folder is not None:
        from app.service.watch import WatchFolder

        folder = WatchFolder(
            workspace.ingestor, workspace.store, settings.watch_folder, workspace.clock
        )

    echo_reload = ReloadEcho()

    def before_tick() -> None:
        if changed.is_set():
            changed.clear()
            errors = workspace.reload()
            echo_reload(errors)
            if not errors and http is not None:
                http.backend.reload()
        if folder is not None:
            summary = folder.catch_up()
            if summary.lines:
                click.echo(
                    f"ingested {summary.applied:,} of {summary.lines:,} operations from "
                    f"{settings.watch_folder}"
                )

    waiting = False

    def on_tick(report: TickReport) -> None:
        nonlocal waiting
        if report.errors and not report.holder:
            for error in report.errors:
                click.echo(f"{format_instant(report.at)}  tick failed: {error}", err=True)
            return
        if not report.holder:
            if not waiting:
                _echo_tick(report)  # once: another process sends until its lease lapses
            waiting = True
            return
        waiting = False
        if report.queued or report.sending.handled or report.errors:
            _echo_tick(report)

    http = _start_api(settings, workspace) if api else None
    click.echo(f"serving {settings.database} (SMTP {settings.smtp.host}:{settings.smtp.port})")
    try:
        await scheduler.run(stop, settings.scheduler_interval_seconds, on_tick, before_tick)
    finally:
        thread_stop.set()
        if http is not None:
            await http.stop()
        await outbox.mailer.close()
        click.echo("stopped")


class ReloadEcho:
    """Says what a hot reload did. The same problems are said once: one save often
    reaches the watcher as two changes, and each reload finds them again."""

    def __init__(self) -> None:
        self._said: list[str] = []

    def __call__(self, errors: list[DefinitionError]) -> None:
        """Print the reload's outcome: `reloaded ...`, or the problems (stderr) unless
        they are the ones just printed."""
        if not errors:
            self._said = []
            click.echo("reloaded campaigns and segments")
            return
        lines = [str(error) for error in errors]
        if lines == self._said:
            return
        self._said = lines
        click.echo("reload kept the running definitions:", err=True)
        for line in lines:
            click.echo(f"  {line}", err=True)


def _start_api(settings: Settings, workspace: Workspace) -> _Http | None:
    """Bind the HTTP API and start serving it in this event loop (beside the scheduler).

    When the address cannot be bound (another `nudge serve` on this host has it, as a
    standby waiting for the lease does), the scheduler runs on without the API, and
    says so: sending must not stop over a port.
    """
    from app.api.app import make_api
    from app.api.backend import Backend
    from app.api.server import ApiServer, bind
    from app.core.errors import ConfigError
    from app.service.workspace import open_workspace

    try:
        sock = bind(settings.api_host, settings.api_port)
    except ConfigError as exc:
        click.echo(f"warning: HTTP API not started: {exc.message}", err=True)
        return None
    clock = workspace.clock
    # The API's own workspace (its own connection) lives on the backend's thread.
    backend = Backend(lambda: open_workspace(settings, clock))
    server = ApiServer(make_api(settings, backend, clock, close_backend=False), sock)
    task = asyncio.create_task(server.serve())
    click.echo(f"HTTP API on http://{settings.api_host}:{server.port}")
    if not settings.api_keys:
        click.echo("warning: no api_keys set: every track call gets 401", err=True)
    return _Http(server, backend, task)


@dataclass
class _Http:
    """The running API: its server, its backend and the task serving it."""

    server: ApiServer
    backend: Backend
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Finish open requests, stop serving, close the API's database connection."""
        self.server.stop()
        await self.task
        self.backend.close()


def _echo_tick(report: object) -> None:
    from app.service.scheduler import TickReport

    assert isinstance(report, TickReport)
    if not report.holder:
        click.echo(f"{format_instant(report.at)}  another process holds the lease; not sending")
        return
    s = report.sending
    click.echo(
        f"{format_instant(report.at)}  steps {report.steps}, entered {report.entered}, "
        f"queued {report.queued}, sent {s.sent}, retried {s.retried}, bounced {s.bounced}, "
        f"suppressed {s.suppressed}, limited {s.limited}, failed {s.failed}"
    )
    for error in report.errors + s.errors:
        click.echo(f"  error: {error}", err=True)


STATES = (
    "queued",
    "sending",
    "sent",
    "failed",
    "bounced",
    "suppressed",
    "limited",
    "undeliverable",
)


@click.group(cls=NudgeGroup)
def deliveries() -> None:
    """The outbox: what was sent, what waits, and why."""


@deliveries.command(name="list")
@click.option("--state", type=click.Choice(STATES), help="Only deliveries in this state.")
@click.option("--campaign", help="Only this campaign.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON lines.")
@settings_options
def deliveries_list(
    state: str | None, campaign: str | None, limit: int, as_json: bool, settings: Settings
) -> None:
    """Latest deliveries first."""
    store = open_read_store(settings)
    for d in store.deliveries.listing(state, campaign, limit):
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "id": d.id,
                        "key": d.key,
                        "state": d.state,
                        "campaign": d.campaign_id,
                        "step": d.step_id,
                        "to": d.to_address,
                        "created_at": format_instant(d.created_at),
                        "sent_at": None if d.sent_at is None else format_instant(d.sent_at),
                        "attempts": d.attempts,
                        "reason": d.reason,
                        "test": d.test,
                    }
                )
            )
        else:
            when = format_instant(d.sent_at or d.created_at)
            click.echo(
                f"{d.id:>7}  {d.state:<13} {when}  {d.campaign_id}/{d.step_id}  "
                f"{d.to_address or '-'}  {'(test) ' if d.test else ''}{d.reason or ''}".rstrip()
            )


@deliveries.command(name="show")
@click.argument("key")
@settings_options
def deliveries_show(key: str, settings: Settings) -> None:
    """One delivery (by id or key): headers and both parts as sent."""
    from app.service.deliveries import get_delivery
    from app.service.delivery_views import headers_of

    d = get_delivery(open_read_store(settings), key)
    rows = headers_of(d)
    for name, value in rows:
        click.echo(f"{name + ':':<12} {value}")
    click.echo("\n--- text ---")
    click.echo(d.rendered_text or "(not rendered yet)")
    click.echo("--- html ---")
    click.echo(d.rendered_html or "(not rendered yet)")


@deliveries.command(name="retry")
@click.argument("key")
@settings_options
def deliveries_retry(key: str, settings: Settings) -> None:
    """Queue a failed, bounced, undeliverable, limited or suppressed delivery again."""
    from app.service.deliveries import retry_delivery

    require_database(settings)
    d = retry_delivery(open_store(settings), key, SystemClock().now_ms())
    click.echo(f"delivery {d.id} queued again")


@click.command(name="send-test")
@click.argument("campaign")
@click.argument("step")
@click.argument("person")
@click.option("--to", "to_address", help="Send to this address instead of the person's.")
@settings_options
def send_test(
    campaign: str, step: str, person: str, to_address: str | None, settings: Settings
) -> None:
    """Render STEP of CAMPAIGN with PERSON's data and send it now, marked as a test."""
    from app.service.deliveries import send_test as run_test

    workspace = open_cli_workspace(settings, existing=True)
    outbox = _outbox(workspace)

    async def go() -> None:
        try:
            d, _ = await run_test(
                outbox, campaign, step, person, workspace.clock.now_ms(), to_address
            )
        finally:
            await outbox.mailer.close()
        click.echo(
            f"test delivery {d.id}: {d.state} to {d.to_address or '(no address)'}"
            + (f" ({d.reason})" if d.reason else "")
        )
        if d.state != "sent":
            raise SystemExit(1)

    asyncio.run(go())
