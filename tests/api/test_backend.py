"""The backend: one thread owns the API's workspace; `reload` takes up edited definitions."""

from __future__ import annotations

import threading
from pathlib import Path

from app.core.clock import FixedClock
from tests.api.conftest import make_kit

WELCOME = """\
id: welcome
name: Welcome
state: {state}
trigger:
  event: signed_up
steps:
  - id: hello
    send: {{template: hello, subject: "Hi"}}
"""


def test_every_call_runs_on_one_thread(tmp_path: Path, clock: FixedClock) -> None:
    kit = make_kit(tmp_path, clock)
    try:
        names = {kit.run(lambda _ws: threading.current_thread().name) for _ in range(3)}
        assert len(names) == 1 and names != {threading.current_thread().name}
    finally:
        kit.backend.close()
    kit.backend.close()  # idempotent


def test_reload_takes_up_an_edited_campaign(tmp_path: Path, clock: FixedClock) -> None:
    kit = make_kit(
        tmp_path,
        clock,
        {
            "welcome.yaml": WELCOME.format(state="draft"),
            "templates/hello.html.j2": "<p>Hi</p>\n",
        },
    )
    try:
        state = kit.run(lambda ws: ws.engine.versions["welcome"].campaign.state)
        assert state == "draft"
        (tmp_path / "campaigns" / "welcome.yaml").write_text(WELCOME.format(state="active"))
        kit.backend.reload()
        state = kit.run(lambda ws: ws.engine.versions["welcome"].campaign.state)
        assert state == "active"
    finally:
        kit.backend.close()
