"""The demo: the behaviour generator, the feeder and `nudge demo --headless`."""

from __future__ import annotations

import mailbox
import threading
from collections import Counter
from pathlib import Path
from zoneinfo import available_timezones

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.config import Settings, load_settings
from app.core.clock import Clock, FixedClock
from app.core.times import DAY_MS, HOUR_MS
from app.service.demo_data import DEMO_START, generate
from app.service.demo_run import LIVE_FROM, prepare_demo, run_feeder
from app.store import Store

REPO = Path(__file__).resolve().parents[2]


def test_the_generator_is_seeded_and_a_smaller_run_is_a_prefix() -> None:
    small = generate(people=120)
    assert generate(people=120).operations == small.operations
    assert generate(people=120, seed=1).operations != small.operations
    larger = generate(people=200)
    firsts = {f"u-{10000 + i}" for i in range(120)}
    assert [op for op in larger.operations if op["userId"] in firsts] == small.operations


def test_the_demo_behaviour_has_the_promised_shape() -> None:
    data = generate()
    ops = data.operations
    assert data.people == 5000
    assert 100_000 <= len(ops) <= 250_000
    times = [op["timestamp"] for op in ops]
    assert times == sorted(times)
    assert times[0] >= DEMO_START and times[-1] < DEMO_START + 60 * DAY_MS
    assert len({op["messageId"] for op in ops}) == len(ops)
    created = {}
    for op in ops:
        if op["type"] == "identify" and "email" in op["traits"]:
            created.setdefault(op["userId"], op["traits"])
    first_op = {}
    for op in ops:
        first_op.setdefault(op["userId"], op)
    # Everyone starts with an identify that carries who they are.
    assert len(created) == 5000
    assert all(first_op[user]["type"] == "identify" for user in created)
    zones = Counter(t["timezone"] for t in created.values())
    assert len(zones) >= 15 and set(zones) <= available_timezones()
    assert {t["email"].rsplit("@", 1)[1] for t in created.values()} == {
        "example.com", "example.org", "example.net"
    }  # fmt: skip
    assert len({t["email"] for t in created.values()}) == 5000
    assert all(t["first_name"] and t["plan_type"] in ("trial", "shop") for t in created.values())
    trials = [t for t in created.values() if t["plan_type"] == "trial"]
    assert all("trial_started_at" in t and "trial_ends_at" in t for t in trials)
    names = Counter(op["event"] for op in ops if op["type"] == "track")
    # Uneven, as behaviour is: each step of the funnel is rarer than the one before.
    assert names["signed_up"] > names["email_verified"] > names["profile_completed"]
    assert names["profile_completed"] > names["contacts_imported"] > names["domain_verified"]
    assert names["viewed_product"] > names["added_to_cart"] > names["completed_purchase"]
    assert names["completed_purchase"] > names["submitted_review"] > names["returned_item"]
    for name in ("feature_activated", "integration_connected", "team_member_invited",
                 "upgraded", "app_login", "started_checkout", "order_shipped",
                 "used_promo_code", "template_saved", "campaign_sent"):  # fmt: skip
        assert names[name] > 0, name
    carts = [op["properties"] for op in ops if op.get("event") == "added_to_cart"]
    assert all({"cart_id", "product_id", "category", "price"} <= c.keys() for c in carts)


def test_history_starts_no_journey_and_the_feeder_follows_the_clock(tmp_path: Path) -> None:
    settings = load_settings(database=tmp_path / "demo.db", campaigns=REPO / "campaigns")
    history = prepare_demo(settings, people=150)
    ws = history.workspace
    assert history.live and all(op["timestamp"] >= LIVE_FROM for op in history.live)
    assert ws.store.funnels.latest_journeys("welcome", 10, None) == []
    ws.store.close()
    clock = FixedClock(LIVE_FROM + 24 * HOUR_MS)
    stop = threading.Event()
    due = [op for op in history.live if op["timestamp"] <= clock.at_ms]
    finished = threading.Event()
    feeder = run_feeder(
        settings, clock, history.live, stop, on_feed=lambda n, f: stop.set(), finished=finished
    )
    assert feeder.position == len(due) and feeder.rejected == []
    assert not finished.is_set()  # 29 demo days still to come
    store = Store.open(settings.database)
    events = [e for e in store.events.iter_range(LIVE_FROM) if e.name]
    assert len(events) == sum(1 for op in due if op["type"] == "track")
    store.close()
    # At the last operation's time everything is fed: the console's "demo feed finished".
    end, stop = FixedClock(history.live[-1]["timestamp"]), threading.Event()
    rest = history.live[len(due) :]
    feeder = run_feeder(
        settings, end, rest, stop, on_feed=lambda n, f: stop.set(), finished=finished
    )
    assert feeder.done and finished.is_set()


def test_headless_demo_prints_funnels_and_the_maildir_holds_the_sent_messages(
    tmp_path: Path,
) -> None:
    db, maildir = tmp_path / "demo.db", tmp_path / "maildir"
    result = CliRunner().invoke(
        cli,
        ["demo", "--headless", "--hours", "36", "--people", "400", "--db", str(db),
         "--maildir", str(maildir), "--campaigns", str(REPO / "campaigns")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "welcome (active): " in result.output
    assert "cart_abandonment (active): " in result.output
    store = Store.open(db)
    sent = sorted(d.key for d in store.deliveries.all() if d.state == "sent")
    store.close()
    box = mailbox.Maildir(maildir, create=False)
    keys = sorted(str(box.get_message(k)["X-Nudge-Delivery"]) for k in box.iterkeys())
    assert sent and keys == sent
    assert f"{len(sent):,} messages, the same messages" in result.output


def test_interactive_demo_wires_the_console_and_stops_what_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.ui.app as console
    from app.core.clock import AcceleratedClock

    seen: dict[str, object] = {}

    class FakeConsole:
        def __init__(self, settings: Settings, clock: Clock, **options: object) -> None:
            seen["notes"] = options.get("notes")
            seen["port"] = settings.smtp.port
            seen["clock"] = clock
            seen["feeding"] = [t.name for t in threading.enumerate()]
            store = Store.open(settings.database)
            seen["people"] = store.people.count()
            store.close()

        def run(self) -> None:
            seen["ran"] = True

    monkeypatch.setattr(console, "make_app", FakeConsole)
    db, maildir = tmp_path / "demo.db", tmp_path / "maildir"
    result = CliRunner().invoke(
        cli,
        ["demo", "--people", "100", "--rate", "60", "--db", str(db), "--maildir", str(maildir),
         "--campaigns", str(REPO / "campaigns")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["ran"] is True
    clock = seen["clock"]
    assert isinstance(clock, AcceleratedClock) and clock.rate == 60
    assert isinstance(seen["port"], int) and seen["port"] > 0  # the sink's free port
    assert "nudge-demo-feeder" in seen["feeding"]  # type: ignore[operator]
    assert isinstance(seen["people"], int) and seen["people"] > 100  # history is loaded
    # Quitting the console stopped the feeder and the sink.
    names = [t.name for t in threading.enumerate()]
    assert "nudge-demo-feeder" not in names and not any(n.startswith("nudge-sink") for n in names)
    assert "demo stopped" in result.output
    notes = seen["notes"]
    assert callable(notes) and notes() == ""  # the feed was not finished when it stopped
