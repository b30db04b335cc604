"""Edit a campaign's YAML. Saving validates the draft exactly as a reload would; problems
are listed with their line numbers beside the text and the running version stays; a
clean draft replaces the file and goes live (journeys in flight move by step id)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from app.core.yamlload import DefinitionError
from app.service.campaign_edit import campaign_file, save_draft
from app.ui.messages import DraftRejected, DraftSaved
from app.ui.modals.confirm import ConfirmModal
from app.ui.screens.base import NudgeScreen
from app.ui.widgets.yaml_area import YamlArea


class EditorScreen(NudgeScreen):
    """The editor for one campaign file.

    Args:
        campaign_id: the campaign.
    """

    TITLE = "Edit"
    AUTO_FOCUS = "#draft"
    CSS_PATH = "editor.tcss"
    # Below 100 columns the problems go under the text, which keeps the full width.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+r", "simulate", "Simulate draft", priority=True),
        Binding("escape", "close", "Back"),
    ]

    def __init__(self, campaign_id: str) -> None:
        super().__init__()
        self.campaign_id = campaign_id
        self.saved_text = ""
        self.errors: list[DefinitionError] = []
        #: The text the listed problems were found in.
        self.checked_text = ""

    def body(self) -> ComposeResult:
        with Horizontal(id="editor-body"):
            yield YamlArea(id="draft")
            with VerticalScroll(id="problems-box"):
                yield Static("", id="problems", markup=False)

    def on_mount(self) -> None:
        found = self.attempt(campaign_file, self.workspace, self.campaign_id)
        if found is None:
            self.app.pop_screen()
            return
        path, text = found
        self.saved_text = text
        area = self.query_one(YamlArea)
        area.load_text(text)
        area.focus()
        self.show_problems([], f"{path}\nctrl+s saves (checked first); Esc goes back.")

    def show_problems(self, errors: list[DefinitionError], note: str = "") -> None:
        """List problems by line beside the text (or a note when there are none)."""
        self.errors = errors
        box = self.query_one("#problems", Static)
        if errors:
            self.checked_text = self.query_one(YamlArea).text
            lines = [f"{len(errors)} problem{'s' if len(errors) != 1 else ''}; not saved:"]
            lines += [f"line {e.line}: {e.message}" for e in errors]
            box.update("\n".join(lines))
            self.query_one("#problems-box").add_class("-errors")
        else:
            box.update(note)
            self.query_one("#problems-box").remove_class("-errors")

    def on_text_area_changed(self) -> None:
        """Once the draft is edited, the problems listed are those of the last check."""
        if self.errors and self.query_one(YamlArea).text != self.checked_text:
            n = len(self.errors)
            lines = [f"{n} problem{'s' if n != 1 else ''} at the last check (edited since;"]
            lines += ["ctrl+s checks again):"]
            lines += [f"line {e.line}: {e.message}" for e in self.errors]
            self.query_one("#problems", Static).update("\n".join(lines))

    def action_save(self) -> None:
        """Check the draft; save and reload when it is clean."""
        text = self.query_one(YamlArea).text
        errors = self.attempt(save_draft, self.workspace, self.campaign_id, text)
        if errors is None:
            return
        if errors:
            self.post_message(DraftRejected(self.campaign_id, errors))
            self.show_problems(errors)
            first = errors[0].line
            self.query_one(YamlArea).move_cursor((max(first - 1, 0), 0), center=True)
            return
        self.saved_text = text
        version = self.workspace.engine.versions[self.campaign_id].hash
        self.post_message(DraftSaved(self.campaign_id, version))
        self.show_problems([], f"saved: version {version[:8]} is live")
        self.notify(f"{self.campaign_id}: version {version[:8]} is live")

    def action_simulate(self) -> None:
        """Simulate the draft as it stands, compared with the running version: the
        simulator opens and starts at once (over its default range, the last week)."""
        from app.ui.screens.simulate import SimulateScreen

        draft = self.query_one(YamlArea).text
        self.app.push_screen(SimulateScreen(self.campaign_id, draft, run_now=True))

    def action_close(self) -> None:
        """Back; ask first when the draft has unsaved changes."""
        if self.query_one(YamlArea).text == self.saved_text:
            self.app.pop_screen()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.pop_screen()

        self.app.push_screen(
            ConfirmModal("Discard the unsaved changes? The running version stays.", "Discard"),
            answered,
        )
