"""One segment: its definition as written, its members (lazily), and why a chosen person
is in or out."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static

from app.service.segment_views import segment_members, segment_source, why
from app.ui.format import cut
from app.ui.screens.base import NudgeScreen
from app.ui.widgets.paged_table import Ago, PagedTable, Row

PAGE = 100


class SegmentScreen(NudgeScreen):
    """A segment.

    Args:
        seg_id: the segment's id.
    """

    TITLE = "Segment"
    AUTO_FOCUS = "#members"
    CSS_PATH = "segment.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("w", "why", "Why in/out"),
    ]

    def __init__(self, seg_id: str) -> None:
        super().__init__()
        self.seg_id = seg_id

    def body(self) -> ComposeResult:
        with Horizontal(id="segment-top"):
            with VerticalScroll(id="definition-box"):
                yield Static("", id="definition", markup=False)
            with Vertical(id="why-box"):
                yield Input(placeholder="w: person id or email; Enter", id="who", compact=True)
                with VerticalScroll():
                    yield Static("", id="why", markup=False)
        yield Static(f"Members of {self.seg_id}", classes="section")
        yield PagedTable(self.load_members, ("person", "email", "member since"), id="members")

    def on_mount(self) -> None:
        source = self.attempt(segment_source, self.workspace.segments, self.seg_id)
        self.query_one("#definition", Static).update(source or "")
        table = self.query_one(PagedTable)
        table.load_page()
        table.focus()

    def load_members(self, after: Any) -> tuple[list[Row], Any]:
        found = (
            self.attempt(segment_members, self.workspace.store, self.seg_id, PAGE, after or 0) or []
        )
        rows: list[Row] = [
            (str(p.id), (cut(p.label, 24), cut(p.email or "-", 30), Ago(since)))
            for p, since in found
        ]
        return rows, (found[-1][0].id if len(found) == PAGE else None)

    def action_why(self) -> None:
        self.query_one("#who", Input).focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.explain(f"#{event.row_key.value}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.explain(event.value.strip())

    def explain(self, key: str) -> None:
        """Show why this person is in or out, now."""
        answer = self.attempt(why, self.workspace.segments, self.seg_id, key, self.now)
        if answer is None:
            return
        verdict = "IN" if answer.member else "OUT"
        stored = (
            "" if answer.stored == answer.member else " (stored membership differs: a sweep is due)"
        )
        self.query_one("#why", Static).update(
            f"{answer.person} is {verdict}{stored}\n" + "\n".join(answer.lines)
        )
