"""When a simulation must sweep segments: the instants at which an event leaves a
segment's window (`within: N`), exactly, so the moves land when they would live.

Live, the scheduler sweeps at every tick (about every second). A simulation ticks at due
instants only; the membership that changes with time alone changes at instants no
journey is due at. For the commonest such change, an event `E` leaving a `within: N`
window (it counts up to N and is out N + 1 ms after it happened), the next instant is
one indexed query per leaf. The other time-driven changes (profile age, attributes
compared with relative times, relative property filters) are swept on the hourly grid.

A sweep re-evaluates every kept segment, and finding the candidates of those other
changes reads every person (about 0.3 s at 100,000 people). So exact sweeps are made
only when every time-driven leaf of every kept segment is a plain event window (its
candidates come from the events index); otherwise all sweeps stay on the grid, since
one exact sweep per event of a frequent name would cost a scan of everyone each.
"""

from __future__ import annotations

from app.core.conditions import Condition, EventCondition

# The very walk the keeper's sweep uses to find its candidates: the two must agree on
# which leaves change with time.
from app.service.segments import _relative, _time_leaves
from app.store import Store


class SweepTimes:
    """The next instant an event leaves a window of a kept segment.

    Args:
        store: the scratch store.
        conditions: the kept segments' conditions, by id.
    """

    def __init__(self, store: Store, conditions: dict[str, Condition]) -> None:
        self.store = store
        windows: set[tuple[str, int]] = set()
        cheap = True
        for condition in conditions.values():
            for leaf, negated in _time_leaves(condition, conditions):
                plain = (
                    isinstance(leaf, EventCondition)
                    and not negated
                    and not any(_relative(f.test.operand) for f in leaf.where)
                )
                cheap = cheap and plain
                if isinstance(leaf, EventCondition) and leaf.within is not None:
                    windows.add((leaf.performed, leaf.within))
        self.windows = sorted(windows) if cheap else []
        self.names = {name for name, _ in self.windows}
        self.next: int | None = None

    def after_sweep(self, at: int) -> None:
        """Recompute the next instant after a sweep at `at`."""
        found = []
        for name, within in self.windows:
            first = self.store.events.first_after(name, at - within - 1)
            if first is not None:
                found.append(first + within + 1)
        self.next = min(found) if found else None

    def on_event(self, name: str, timestamp: int) -> None:
        """An event was stored: it leaves its windows N + 1 ms after it happened."""
        if name not in self.names:
            return
        for leaf_name, within in self.windows:
            if leaf_name == name:
                leaves = timestamp + within + 1
                self.next = leaves if self.next is None else min(self.next, leaves)
