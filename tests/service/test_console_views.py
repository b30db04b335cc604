"""The console's use cases: receive rate, scheduler status, timeline pages, catalogue
drift, funnels and campaign edits. Expected values come from the rows written or from
the rule stated beside each assertion."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.config import load_settings
from app.core.clock import FixedClock
from app.core.errors import NudgeError
from app.service.campaign_edit import apply_action, campaign_file, check_draft, with_state
from app.service.catalogue import property_stats
from app.service.funnels import campaign_funnel
from app.service.ingest import Ingestor
from app.service.live import describe_decision, ingest_rate, person_labels, scheduler_status
from app.service.showcase import seed_showcase
from app.service.timeline import TimelineCursor, timeline_page
from app.service.workspace import Workspace
from app.store import Store

FIXTURE = Path(__file__).resolve().parents[1] / "ui" / "fixtures" / "campaigns"
MINUTE = 60_000


def test_ingest_rate_counts_per_minute_oldest_first(store: Store, clock: FixedClock) -> None:
    ingestor = Ingestor(store, clock)
    now = clock.at_ms
    # Received (in insertion order, as receive times grow) two hours before now, twice
    # 3 minutes before, and once 1 minute before.
    for n, ago in enumerate([120, 3, 3, 1]):
        clock.at_ms = now - ago * MINUTE
        ingestor.apply([{"type": "track", "userId": "a", "event": "x", "messageId": f"{n}"}])
    rate = ingest_rate(store, now, minutes=5)
    # Minutes [now-5m, now-4m), ..., [now-1m, now): the 3-minutes-ago pair is in the
    # third bucket, the 1-minute-ago one in the fifth.
    assert rate == [0, 0, 2, 0, 1]


def test_scheduler_status_reads_the_lease_and_the_last_hour(store: Store) -> None:
    now = 1_000_000_000_000
    assert scheduler_status(store, now).holder is None
    with store.transaction():
        store.lease.acquire("host:1", now - 1000, 15_000)
        store.lease.mark_tick("host:1", now - 1000)
        store.activity.record(
            [
                (now - 10 * MINUTE, 1, "message.sent", "c", "s", {}),
                (now - 90 * MINUTE, 1, "message.sent", "c", "s", {}),  # over an hour ago
                (now - MINUTE, 1, "message.bounced", "c", "s", {}),
            ]
        )
    status = scheduler_status(store, now)
    assert (status.holder, status.held, status.last_tick_at) == ("host:1", True, now - 1000)
    assert (status.sent_1h, status.failed_1h) == (1, 1)
    assert scheduler_status(store, now + 20_000).held is False  # 15 s lease ran out


def test_timeline_pages_neither_lose_nor_repeat_items(store: Store, ingestor: Ingestor) -> None:
    for n in range(7):
        ingestor.apply(
            [{"type": "track", "userId": "a", "event": f"e{n}", "messageId": f"m{n}",
              "timestamp": 1_000_000 + n * 1000}]
        )  # fmt: skip
    person = store.people.by_external_id("a")
    assert person is not None
    with store.transaction():
        store.activity.record(
            [(1_000_000 + n * 1000 + 500, person.id, "journey.entered", "c", None, {})
             for n in range(4)]
        )  # fmt: skip
    seen: list[tuple[int, str]] = []
    cursor = TimelineCursor()
    while not cursor.done:
        items, cursor = timeline_page(store, person.id, cursor, limit=3)
        seen += [(i.at, i.title) for i in items]
    # 7 events and 4 decisions, newest first, each once.
    assert len(seen) == 11
    assert seen == sorted(seen, key=lambda x: x[0], reverse=True)
    assert [t for _, t in seen].count("journey.entered") == 4


def test_property_stats_flag_keys_whose_type_varies() -> None:
    stats = {
        p.key: p
        for p in property_stats(
            [{"amount": 5, "cart": {"id": "c1"}}, {"amount": "5"}, {"amount": None}]
        )
    }
    assert stats["amount"].types == {"integer": 1, "string": 1, "null": 1}
    assert stats["amount"].drifts
    assert stats["cart.id"].types == {"string": 1} and not stats["cart.id"].drifts
    assert not property_stats([{"x": 1}, {"x": None}])[0].drifts  # null is absence, not drift


def test_describe_decision_gives_the_reason() -> None:
    from app.core.models import ActivityEntry

    entry = ActivityEntry(1, 0, 1, "journey.exited", "welcome", "hello", {"reason": "converted"})
    assert describe_decision(entry) == "journey.exited welcome/hello (converted)"


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("showcase")
    shutil.copytree(FIXTURE, root / "campaigns")
    settings = load_settings(database=root / "nudge.db", campaigns=root / "campaigns")
    return seed_showcase(settings).workspace


def test_funnel_paths_lead_to_their_first_step(showcase: Workspace) -> None:
    rows = {(r.kind, r.label): r for r in campaign_funnel(showcase, "welcome").rows}
    # A journey that takes a path with steps reaches the path's first step.
    assert rows[("path", "then")].count == rows[("step", "celebrate")].count
    assert rows[("path", "else")].count == rows[("step", "guide")].count
    # Every journey that reached `check` took exactly one of its two paths.
    assert rows[("step", "check")].count == (
        rows[("path", "then")].count + rows[("path", "else")].count
    )
    # The wait: met paths and timeouts, plus those still waiting, plus those that left
    # (converted) while waiting, add up to the journeys that reached it.
    wait = rows[("step", "wait_first_action")]
    assert wait.count >= rows[("path", "did_it")].count + rows[("path", "timeout")].count


def test_with_state_replaces_or_adds_the_state_line() -> None:
    text = "id: x\nname: X\nstate: draft   # review first\nsteps: []\n"
    assert (
        with_state(text, "active") == "id: x\nname: X\nstate: active   # review first\nsteps: []\n"
    )
    assert with_state("id: x\nname: X\nsteps: []\n", "paused") == (
        "id: x\nname: X\nstate: paused\nsteps: []\n"
    )
    # A nested `state:` key is not the campaign's.
    nested = "id: x\nname: X\nsteps:\n  - id: s\n    update_attributes: {state: a}\n"
    assert with_state(nested, "active").count("state: active") == 1


def test_check_draft_names_the_real_file_and_line(showcase: Workspace) -> None:
    path, text = campaign_file(showcase, "welcome")
    broken = text.replace("re_entry: once", "re_entry: sometimes")
    line = broken.splitlines().index("re_entry: sometimes") + 1
    errors = check_draft(showcase, "welcome", broken)
    assert {(e.file, e.line) for e in errors} == {(str(path), line)}
    renamed = text.replace("id: welcome", "id: hello_again")
    assert "keep 'welcome'" in check_draft(showcase, "welcome", renamed)[0].message
    assert check_draft(showcase, "welcome", text) == []


def test_an_action_that_does_not_apply_changes_nothing(showcase: Workspace) -> None:
    before = showcase.engine.versions["welcome"].hash
    with pytest.raises(NudgeError, match="it is active"):
        apply_action(showcase, "welcome", "resume")
    assert showcase.engine.versions["welcome"].hash == before


def test_person_labels_name_people_as_operators_know_them_in_one_query(
    store: Store, ingestor: Ingestor
) -> None:
    ingestor.apply(
        [
            {
                "type": "identify",
                "userId": "u-7",
                "traits": {"email": "a@example.com"},
                "messageId": "1",
            },
            {
                "type": "identify",
                "traits": {"email": "b@example.com"},
                "anonymousId": "x",
                "messageId": "2",
            },
        ]
    )
    by_key = {p.external_id or p.email: p.id for p in store.people.iter_all()}
    queries: list[str] = []
    store.db.conn.set_trace_callback(queries.append)
    try:
        labels = person_labels(store, [by_key["u-7"], by_key["b@example.com"], None, 999])
    finally:
        store.db.conn.set_trace_callback(None)
    # The rule: external id, else email, else the row id; an id nobody has keeps "#id".
    assert labels == {by_key["u-7"]: "u-7", by_key["b@example.com"]: "b@example.com", 999: "#999"}
    assert len(queries) == 1  # one lookup for the page, not one per row
