"""`nudge screenshots`: an SVG of every mode and of the main drill-downs, from the demo
generator's data (`seed_demo`) and a fixed clock. The snapshot tests walk the same scenes
over the showcase (`SHOWCASE_CAST`).

Each scene drives the console with the keyboard, as an operator would.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea

from app.config import Settings, load_settings
from app.core.clock import FixedClock
from app.delivery.recording import RecordingMailer
from app.service.demo_seed import seed_demo
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


@dataclass(frozen=True, slots=True)
class Cast:
    """Who and what the scenes open, per seeded workspace.

    Attributes:
        person: a person id with a rich timeline (opened from People, simulated).
        segment: a segment to open; why: a person asked about with `w`.
        campaign: a campaign with branches (funnel, editor, simulation).
        drift: the start of an Events row whose properties drift.
        search: what People searches for first ("": the list as it opens).
    """

    person: str
    segment: str
    why: str
    campaign: str
    drift: str
    search: str = ""


#: The showcase (`seed_showcase`, fixture campaigns): what the snapshot tests walk.
SHOWCASE_CAST = Cast("trial-004", "inactive_trials", "trial-002", "welcome", "identify")
#: The demo generator's data (`seed_demo`, shipped campaigns): `nudge screenshots`.
# People searches the generated people: the CDNOW sample's people (ids only) come first.
DEMO_CAST = Cast(
    "u-10441", "inactive_trials", "u-10206", "welcome", "added_to_cart", search="example.com"
)


def scenes(cast: Cast) -> dict[str, Scene]:
    """name -> scene, in the order the README shows them, opening what `cast` names."""

    async def live(pilot: Pilot[Any]) -> None:
        await _keys(pilot, "1")

    async def people(pilot: Pilot[Any]) -> None:
        await _keys(pilot, "2")
        if cast.search:
            await _keys(pilot, "slash", *cast.search, "enter")

    async def person(pilot: Pilot[Any]) -> None:
        await _keys(pilot, "2", "slash", *cast.person, "enter", "enter")

    async def segments(pilot: Pilot[Any]) -> None:
        await _keys(pilot, "3")

    async def segment(pilot: Pilot[Any]) -> None:
        await _keys(pilot, "3")
        await _row(pilot, cast.segment)
        await _keys(pilot, "w", *cast.why, "enter")

    async def campaigns(pilot: Pilot[Any]) -> None:
        await _keys(pilot, "4")

    async def funnel(pilot: Pilot[Any]) -> None:
        await _keys(pilot, "4")
        await _row(pilot, cast.campaign)

    async def editor_error(pilot: Pilot[Any]) -> None:
        await funnel(pilot)
        await _keys(pilot, "e")
        area = pilot.app.screen.query_one(TextArea)
        # A typo an operator makes: a state that does not exist.
        area.load_text(re.sub(r"(?m)^state: \w+", "state: paused_for_now", area.text, count=1))
        await _keys(pilot, "ctrl+s")

    async def simulation(pilot: Pilot[Any]) -> None:
        # A draft that waits half as long before its first check, simulated against the
        # running version: the report ends with the comparison.
        await funnel(pilot)
        await _keys(pilot, "e")
        area = pilot.app.screen.query_one(TextArea)
        area.load_text(re.sub(r"(?m)^(\s+(?:delay|max_time): )36h", r"\g<1>18h", area.text))
        await _keys(pilot, "ctrl+r", "tab", "tab", "tab", *cast.person)
        await _keys(pilot, "ctrl+r")

    async def deliveries(pilot: Pilot[Any]) -> None:
        await _keys(pilot, "5")

    async def events(pilot: Pilot[Any]) -> None:
        await _keys(pilot, "6")
        # Show a name whose properties drift.
        table = pilot.app.screen.query_one("#names", DataTable)
        for index in range(table.row_count):
            if str(table.get_row_at(index)[0]).startswith(cast.drift):
                table.move_cursor(row=index)
        await settle(pilot)

    return {
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


#: The showcase's scenes (the snapshot tests).
SCENES: dict[str, Scene] = scenes(SHOWCASE_CAST)


def scratch_settings(root: Path, campaigns: Path) -> Settings:
    """Settings for a workspace under `root`, with a copy of `campaigns` (edits and
    pauses never touch the original) and a fixed secret (stable rendered messages)."""
    if not (root / "campaigns").exists():
        shutil.copytree(campaigns, root / "campaigns")
    return load_settings(
        database=root / "nudge.db", campaigns=root / "campaigns", secret_key="showcase"
    )


def still_app(settings: Settings, now: int) -> NudgeApp:
    """The console over a seeded workspace: fixed clock, no scheduler, nothing sent."""
    return make_app(settings, FixedClock(now), run_scheduler=False, mailer=RecordingMailer())


def write_screenshots(out_dir: Path, campaigns: Path) -> list[Path]:
    """Seed a scratch workspace from the demo generator (`seed_demo`: its people and
    behaviour, a few live days replayed through the engine, scheduler and outbox on a
    fixed clock) and write `<scene>.svg` for every scene, each on its own copy.

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
        seeded = seed_demo(scratch_settings(template, campaigns))
        seeded.workspace.store.close()
        for name, scene in scenes(DEMO_CAST).items():
            root = Path(scratch) / name
            shutil.copytree(template, root)
            path = out_dir / f"{name}.svg"
            app = still_app(scratch_settings(root, campaigns), seeded.now)
            asyncio.run(_shoot(app, scene, path))
            written.append(path)
    return written


async def _shoot(app: NudgeApp, scene: Scene, path: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await scene(pilot)
        app.save_screenshot(path.name, str(path.parent))
