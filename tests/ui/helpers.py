"""Shared by the console's pilot tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message
from textual.widgets import DataTable, Static

from app.ui.app import NudgeApp

SIZE = (120, 36)


def of(messages: list[Message], kind: type[Any]) -> list[Any]:
    """Messages of a kind, each once (the hook sees a bubbling message at every node)."""
    return list({id(m): m for m in messages if isinstance(m, kind)}.values())


def read(path: Path) -> str:
    return path.read_text()


def text(app: NudgeApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def open_welcome(pilot: Any) -> None:
    await pilot.press("4")
    await pilot.pause()
    table = pilot.app.screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index("welcome"))
    await pilot.press("enter")
    await pilot.pause()


async def open_simulator(pilot: Any) -> None:
    await open_welcome(pilot)
    await pilot.press("s")
    await pilot.pause()
