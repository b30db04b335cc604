"""PacedRefresh: only when stale, never more often than the floor, and never more than
its share of the time (worked out with a scripted duration meter)."""

from __future__ import annotations

from app.ui.refresh import PacedRefresh


def test_refreshes_only_when_stale_and_paced_by_their_cost() -> None:
    now = [0.0]
    runs: list[float] = []

    def refresh() -> None:
        runs.append(now[0])
        now[0] += 0.5  # each refresh takes half a second

    pacer = PacedRefresh(refresh, floor_s=2.0, share=0.1, timer=lambda: now[0])
    now[0] = 3.0
    pacer.tick()
    assert runs == []  # nothing changed
    pacer.mark_stale()
    pacer.tick()
    assert runs == [3.0]  # stale and past the 2 s floor
    # It took 0.5 s, so the next may start 0.5 / 0.1 = 5 s after it ended (at 3.5 s).
    pacer.mark_stale()
    now[0] = 8.4
    pacer.tick()
    assert runs == [3.0]
    now[0] = 8.5
    pacer.tick()
    assert runs == [3.0, 8.5]
