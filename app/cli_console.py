"""`nudge console` (also `nudge` alone) and `nudge screenshots`.

Textual loads only inside these commands, so the rest of the CLI never pays for it.
"""

from __future__ import annotations

from pathlib import Path

import click

from app.cli_support import require_database, settings_options
from app.config import Settings


@click.command()
@click.option(
    "--no-scheduler",
    is_flag=True,
    help="Do not run the scheduler or hot reload in the console (look only).",
)
@settings_options
def console(no_scheduler: bool, settings: Settings) -> None:
    """Open the operator console: live stream, people, segments, campaigns, deliveries,
    events. Keys 1-6 switch modes; ctrl+p opens the command palette; q quits."""
    from app.ui.app import make_app

    require_database(settings)
    make_app(settings, run_scheduler=not no_scheduler).run()


@click.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("screenshots"),
    show_default=True,
    help="Folder the SVG files are written to.",
)
@click.option(
    "--campaigns",
    "campaigns_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("campaigns"),
    show_default=True,
    help="Campaigns folder (copied: the screenshots never change it).",
)
def screenshots(out_dir: Path, campaigns_dir: Path) -> None:
    """Write an SVG of every mode, a person's timeline, a campaign funnel, the editor
    with an error and a simulation report, from seeded demo data and a fixed clock."""
    from app.ui.screenshots import write_screenshots

    for path in write_screenshots(out_dir, campaigns_dir):
        click.echo(f"wrote {path}")
