"""Snapshots (pytest-textual-snapshot) of every mode at 120x36, of the drill-downs, and of
Live and a campaign funnel at 80x24, over the seeded showcase with a fixed clock.

Update after a deliberate change with `pytest tests/ui --snapshot-update`, then look at
the SVGs under `__snapshots__/` before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.ui.app import NudgeApp
from app.ui.screenshots import SCENES, settle

Build = Callable[[], NudgeApp]


# The simulation report's text belongs to the simulator (`simulation_text`); its wording
# is that module's to change, so its screen is covered by pilot tests, not a snapshot.
@pytest.mark.parametrize("scene", [s for s in SCENES if s != "simulation"])
def test_scene_at_120x36(scene: str, make_console: Build, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await SCENES[scene](pilot)

    assert snap_compare(make_console(), terminal_size=(120, 36), run_before=run_before)


@pytest.mark.parametrize("scene", ["live", "funnel"])
def test_small_terminal(scene: str, make_console: Build, snap_compare: Any) -> None:
    async def run_before(pilot: Any) -> None:
        await settle(pilot)
        await SCENES[scene](pilot)

    assert snap_compare(make_console(), terminal_size=(80, 24), run_before=run_before)
