"""`nudge sink`: the local SMTP server the demo and the tests send to.

Kept out of `app/cli.py` (as the campaign and segment commands are); aiosmtpd loads only
when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=1025,
    show_default=True,
    help="TCP port (0: any free port).",
)
@click.option(
    "--maildir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/maildir"),
    show_default=True,
    help="Maildir that receives every accepted message, one file each.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Share of messages answered '451 4.3.0 try again later' (outage testing).",
)
@click.option("--seed", type=int, default=None, help="Seed for --fail-rate: a repeatable run.")
@click.option(
    "--reject",
    "reject",
    multiple=True,
    metavar="ADDRESS",
    help="Answer RCPT TO this address with '550 5.1.1 no such user' (repeatable).",
)
def sink(
    host: str, port: int, maildir: Path, fail_rate: float, seed: int | None, reject: tuple[str, ...]
) -> None:
    """Run a local SMTP server that stores every message in a Maildir, until Ctrl-C.

    Point Nudge at it with smtp.host/smtp.port (1025 is the default of both).
    """
    from app.delivery.sink import Sink, run_sink

    def ready(running: Sink) -> None:
        extra = f", answering {fail_rate:.0%} with 451" if fail_rate else ""
        click.echo(
            f"SMTP sink listening on {running.address}, storing messages in "
            f"{running.maildir}{extra} (Ctrl-C to stop)"
        )

    done = run_sink(host, port, maildir, fail_rate, seed, reject_recipients=reject, on_ready=ready)
    click.echo(
        f"stopped: {done.stored:,} stored, {done.refused:,} answered 451, "
        f"{done.rejected:,} recipients rejected"
    )
