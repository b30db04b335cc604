"""Console fixtures: one seeded workspace (the showcase: samples plus synthetic trials on
a fixed clock) built once per session and copied for each test, so a test that pauses a
campaign or saves a draft never leaks into another."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from app.config import Settings, load_settings
from app.core.clock import FixedClock
from app.delivery.recording import RecordingMailer
from app.service.showcase import SHOWCASE_NOW_MS, seed_showcase
from app.ui.app import NudgeApp, make_app

FIXTURE_CAMPAIGNS = Path(__file__).parent / "fixtures" / "campaigns"


def _settings(root: Path) -> Settings:
    # A fixed secret: unsubscribe links (and so rendered messages) come out the same.
    return load_settings(
        database=root / "nudge.db", campaigns=root / "campaigns", secret_key="console-tests"
    )


@pytest.fixture(scope="session")
def seeded_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("seeded")
    shutil.copytree(FIXTURE_CAMPAIGNS, root / "campaigns")
    seed_showcase(_settings(root)).workspace.store.close()
    return root


@pytest.fixture
def console_settings(seeded_root: Path, tmp_path: Path) -> Settings:
    root = tmp_path / "workspace"
    shutil.copytree(seeded_root, root)
    return _settings(root)


@pytest.fixture
def make_console(console_settings: Settings) -> Callable[[], NudgeApp]:
    """Build the console over a fresh copy: fixed clock, no scheduler, recording mailer."""

    def build() -> NudgeApp:
        return make_app(
            console_settings,
            FixedClock(SHOWCASE_NOW_MS),
            run_scheduler=False,
            mailer=RecordingMailer(),
        )

    return build
