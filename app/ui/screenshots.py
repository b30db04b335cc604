"""`nudge screenshots`: an SVG of every mode and of the main drill-downs, from the seeded
showcase workspace and a fixed clock. The snapshot tests walk the same scenes.

Each scene drives the console with the keyboard, as an operator would.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea

from app.config import Settings, load_settings
from app.core.clock import FixedClock
from app.delivery.recording import RecordingMailer
from app.service.showcase import SHOWCASE_NOW_MS, seed_showcase
from app.ui.app import NudgeApp, make_app

Scene = Callable[[Pilot[Any]], Awaitable[None]]
SIZE = (120, 36)


async def settle(pilot: Pilot[Any]) -> None:
    """Let workers finish and the screen repaint; stop cursors blinking (stable SVGs)."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, Input | TextArea):
            widget.cursor_blink = False
    await pilot.pause()


async def _keys(pilot: Pilot[Any], *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.pause()
    await settle(pilot)


async def _row(pilot: Pilot[Any], key: str, selector: str = "DataTable") -> None:
    table = pilot.app.screen.query_one(selector, DataTable)
    table.move_cursor(row=table.get_row_index(key))
    await _keys(pilot, "enter")


async def live(pilot: Pilot[Any]) -> None:
    await _keys(pilot, "1")


async def people(pilot: Pilot[Any]) -> None:
    await _keys(pilot, "2")


async def person(pilot: Pilot[Any]) -> None:
    await _keys(pilot, "2", "slash", *"trial-004", "enter", "enter")


async def segments(pilot: Pilot[Any]) -> None:
    await _keys(pilot, "3")


async def segment(pilot: Pilot[Any]) -> None:
    await _keys(pilot, "3")
    await _row(pilot, "inactive_trials")
    await _keys(pilot, "w", *"trial-002", "enter")


async def campaigns(pilot: Pilot[Any]) -> None:
    await _keys(pilot, "4")


async def funnel(pilot: Pilot[Any]) -> None:
    await _keys(pilot, "4")
    await _row(pilot, "welcome")


async def editor_error(pilot: Pilot[Any]) -> None:
    await funnel(pilot)
    await _keys(pilot, "e")
    area = pilot.app.screen.query_one(TextArea)
    # A typo an operator makes: a state that does not exist.
    area.load_text(re.sub(r"(?m)^state: \w+", "state: paused_for_now", area.text, count=1))
    await _keys(pilot, "ctrl+s")


async def simulation(pilot: Pilot[Any]) -> None:
    await funnel(pilot)
    await _keys(pilot, "s", "tab", "tab", "tab", *"trial-004")
    await _keys(pilot, "ctrl+r")


async def deliveries(pilot: Pilot[Any]) -> None:
    await _keys(pilot, "5")


async def events(pilot: Pilot[Any]) -> None:
    await _keys(pilot, "6")
    # Show a name whose properties drift: the attributes sent with identify.
    table = pilot.app.screen.query_one("#names", DataTable)
    for index in range(table.row_count):
        if "identify" in str(table.get_row_at(index)[0]):
            table.move_cursor(row=index)
    await settle(pilot)


#: name -> scene, in the order the README shows them.
SCENES: dict[str, Scene] = {
    "live": live,
    "people": people,
    "person": person,
    "segments": segments,
    "segment": segment,
    "campaigns": campaigns,
    "funnel": funnel,
    "editor_error": editor_error,
    "simulation": simulation,
    "deliveries": deliveries,
    "events": events,
}


def showcase_settings(root: Path, campaigns: Path) -> Settings:
    """Settings for a showcase under `root`, with a copy of `campaigns` (edits and
    pauses never touch the original) and a fixed secret (stable rendered messages)."""
    shutil.copytree(campaigns, root / "campaigns")
    return load_settings(
        database=root / "nudge.db", campaigns=root / "campaigns", secret_key="showcase"
    )


def showcase_app(settings: Settings) -> NudgeApp:
    """The console over a showcase workspace: fixed clock, no scheduler, nothing sent."""
    return make_app(
        settings, FixedClock(SHOWCASE_NOW_MS), run_scheduler=False, mailer=RecordingMailer()
    )


def write_screenshots(out_dir: Path, campaigns: Path) -> list[Path]:
    """Seed a scratch showcase workspace and write `<scene>.svg` for every scene.

    Returns:
        The files written.

    Raises:
        ConfigError: when `campaigns` is not a campaigns folder.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="nudge-shots-") as scratch:
        template = Path(scratch) / "template"
        template.mkdir()
        seed_showcase(showcase_settings(template, campaigns)).workspace.store.close()
        for name, scene in SCENES.items():
            root = Path(scratch) / name
            shutil.copytree(template, root)
            settings = load_settings(
                database=root / "nudge.db", campaigns=root / "campaigns", secret_key="showcase"
            )
            path = out_dir / f"{name}.svg"
            asyncio.run(_shoot(showcase_app(settings), scene, path))
            written.append(path)
    return written


async def _shoot(app: NudgeApp, scene: Scene, path: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await scene(pilot)
        app.save_screenshot(path.name, str(path.parent))
