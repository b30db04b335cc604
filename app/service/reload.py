"""Hot reload: watch the campaigns folder and swap in definitions that validate.

STYLE.md convention 8: the whole folder (segments, campaigns, templates) is read and
checked first; the live set changes only when there are no problems. With problems,
the last good set keeps running and the problems are reported with file and line, so
saving a half-edited file never switches a campaign off.

Editing a live campaign moves the people already in it by step id; people at a step
that no longer exists exit with reason `step_removed` (see `Engine.load`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import watchfiles

from app.core.errors import NotFound
from app.core.yamlload import DefinitionError
from app.service.definitions import TEMPLATE_SUFFIX

if TYPE_CHECKING:
    from app.service.workspace import Workspace

#: The files whose changes trigger a reload: definitions and templates. Editors' swap
#: and backup files (`.swp`, `~`, `4913`) end otherwise and are ignored.
WATCHED_SUFFIXES = (".yaml", ".yml", TEMPLATE_SUFFIX)

ResultHandler = Callable[[list[DefinitionError]], None]

# Also skips version-control and cache folders and emacs lock files (`.#name.yaml`).
_DEFAULT_FILTER = watchfiles.DefaultFilter()


def _watched(change: watchfiles.Change, path: str) -> bool:
    """watchfiles filter: definition and template files, outside VCS and cache folders."""
    return path.endswith(WATCHED_SUFFIXES) and _DEFAULT_FILTER(change, path)


class DefinitionsWatcher:
    """Reloads a workspace's definitions whenever a file under its campaigns folder
    (templates and segments included) changes.

    The workspace belongs to the thread that opened it (SQLite connections do not move
    between threads), so `check_once` and `run` must be called from that thread. A
    console that keeps its workspace on the main thread iterates `changes` in a worker
    and calls `check_once` back on the main thread.

    Args:
        workspace: the workspace to reload (`Workspace.reload`).
        debounce_ms: changes arriving within this many ms are grouped into one reload,
            so an editor's save (write, rename, chmod) reloads once.
    """

    def __init__(self, workspace: Workspace, debounce_ms: int = 1_600) -> None:
        self.workspace = workspace
        self.debounce_ms = debounce_ms

    def check_once(self) -> list[DefinitionError]:
        """Read the folder now and swap the definitions in if they all validate.

        Returns:
            The problems (file, line, reason); when there are any, nothing changed.
        """
        return self.workspace.reload()

    def changes(self, stop: threading.Event | None = None) -> Iterator[set[str]]:
        """The paths of watched files that changed, one set per debounced burst, until
        `stop` is set. Touches no store: safe in any thread.

        Args:
            stop: set it to end the iteration (watchfiles checks it between waits).

        Raises:
            NotFound: when the campaigns folder does not exist.
        """
        folder = self.workspace.settings.campaigns
        if not folder.is_dir():
            raise NotFound(f"campaigns folder {folder} does not exist")
        for batch in watchfiles.watch(
            folder,
            watch_filter=_watched,
            debounce=self.debounce_ms,
            stop_event=stop,
            recursive=True,
        ):
            yield {path for _change, path in batch}

    def run(
        self, stop: threading.Event | None = None, on_result: ResultHandler | None = None
    ) -> None:
        """Reload after every change under the campaigns folder until `stop` is set.

        Blocks the calling thread, which must own the workspace (see the class).

        Args:
            stop: set it to end the loop.
            on_result: called after each reload with its problems (an empty list: the
                new definitions are live).

        Raises:
            NotFound: when the campaigns folder does not exist.
        """
        for _paths in self.changes(stop):
            errors = self.check_once()
            if on_result is not None:
                on_result(errors)
