"""The engine with an event trigger on any of several events (`event: [a, b]`, Nudge's
extension of Customer.io's one-event trigger): either event enters, the campaign keeps
one journey per key whichever event arrives, and the re-entry policy decides whether
the other event (same key) starts a second journey while the first is in flight.

Every test starts at T0 = Monday 2024-06-03 10:00 UTC. A delivery key is
`campaign/journey id/step id`; journey ids count from 1 in each fresh database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.service.workspace import Workspace
from tests.service.engine_kit import (
    HOUR,
    activity_details,
    deliveries,
    journeys,
    open_ws,
    set_clock,
    track,
    utc,
)
from tests.service.engine_kit import (
    write_campaign as _write,
)

T0 = utc("2024-06-03 10:00")
MAIL = "O_Sent (mail and online)"
ONLINE = "O_Sent (online only)"
MINUTE = 60_000

OFFER = """
id: offer
name: Offer reminder
state: active
trigger:
  event: [O_Sent (mail and online), O_Sent (online only)]
  where: {{channel: web}}
  key: offer_id
re_entry: {re_entry}
steps:
  - id: wait_reply
    wait_until:
      paths:
        - id: closed
          when: {{performed: O_Refused, since: entry, where: {{offer_id: {{trigger: offer_id}}}}}}
          steps:
            - {{id: closed_exit, exit: true}}
      max_time: 2h
      timeout:
        - {{id: reminder, send: {{template: t, subject: "Offer {{{{ event.offer_id }}}}"}}}}
"""


def _world(tmp_path: Path, re_entry: str = "once") -> Workspace:
    _write(tmp_path, OFFER.format(re_entry=re_entry))
    return open_ws(tmp_path, T0)


def _sent(ws: Workspace, at: int, user: str, event: str, offer: str, **more: Any) -> None:
    track(ws, at, user, event, {"offer_id": offer, "channel": "web", **more})


def _keys(ws: Workspace, user: str) -> list[tuple[str, str, str]]:
    return [(j.entry_key, j.trigger_event["name"], j.state) for j in journeys(ws, user)]


def test_either_event_enters_and_others_do_not(tmp_path: Path) -> None:
    ws = _world(tmp_path)
    _sent(ws, T0, "a1", MAIL, "o1")
    _sent(ws, T0, "a2", ONLINE, "o2")
    _sent(ws, T0, "a3", "O_Returned", "o3")  # not listed
    track(ws, T0, "a4", MAIL, {"offer_id": "o4", "channel": "post"})  # listed, but `where` fails
    assert _keys(ws, "a1") == [("o1", MAIL, "active")]
    assert _keys(ws, "a2") == [("o2", ONLINE, "active")]
    assert journeys(ws, "a3") == journeys(ws, "a4") == []
    assert [d["trigger"] for d in activity_details(ws, "journey.entered")] == [
        f"event {MAIL} or {ONLINE}"
    ] * 2
    # Both wait 2 h for a refusal, then get the reminder with their own offer id.
    ws.engine.advance(T0 + 3 * HOUR)
    assert deliveries(ws) == [
        ("offer/1/reminder", "2024-06-03 12:00:00"),
        ("offer/2/reminder", "2024-06-03 12:00:00"),
    ]


def test_once_one_journey_per_key_whichever_event(tmp_path: Path) -> None:
    ws = _world(tmp_path, "once")
    _sent(ws, T0, "a1", MAIL, "o1")  # journey 1
    _sent(ws, T0 + 10 * MINUTE, "a1", ONLINE, "o1")  # same offer, in flight: nothing
    _sent(ws, T0 + 20 * MINUTE, "a1", ONLINE, "o2")  # another offer: journey 2
    assert _keys(ws, "a1") == [("o1", MAIL, "active"), ("o2", ONLINE, "active")]
    # o1 refused: its journey ends; `once` still keeps the other event out of o1.
    track(ws, T0 + 30 * MINUTE, "a1", "O_Refused", {"offer_id": "o1"})
    _sent(ws, T0 + 40 * MINUTE, "a1", ONLINE, "o1")
    assert _keys(ws, "a1") == [("o1", MAIL, "exited"), ("o2", ONLINE, "active")]


def test_both_events_in_one_batch_start_one_journey(tmp_path: Path) -> None:
    ws = _world(tmp_path, "once")
    set_clock(ws, T0)
    ops = [
        {"type": "track", "userId": "a1", "event": name, "timestamp": T0,
         "properties": {"offer_id": "o1", "channel": "web"}}
        for name in (ONLINE, MAIL)
    ]  # fmt: skip
    assert ws.ingestor.apply(ops).rejected == []
    assert _keys(ws, "a1") == [("o1", ONLINE, "active")]


def test_after_rematch_waits_for_the_journey_to_end(tmp_path: Path) -> None:
    ws = _world(tmp_path, "after_rematch")
    _sent(ws, T0, "a1", MAIL, "o1")
    _sent(ws, T0 + 10 * MINUTE, "a1", ONLINE, "o1")  # in flight: nothing
    assert _keys(ws, "a1") == [("o1", MAIL, "active")]
    track(ws, T0 + 20 * MINUTE, "a1", "O_Refused", {"offer_id": "o1"})  # journey 1 exits
    _sent(ws, T0 + 30 * MINUTE, "a1", ONLINE, "o1")  # ended: the other event re-enters
    assert _keys(ws, "a1") == [("o1", MAIL, "exited"), ("o1", ONLINE, "active")]


def test_every_time_lets_the_other_event_start_a_second_journey(tmp_path: Path) -> None:
    ws = _world(tmp_path, "every_time")
    _sent(ws, T0, "a1", MAIL, "o1")
    _sent(ws, T0 + 10 * MINUTE, "a1", ONLINE, "o1")
    assert _keys(ws, "a1") == [("o1", MAIL, "active"), ("o1", ONLINE, "active")]
    ws.engine.advance(T0 + 3 * HOUR)
    assert deliveries(ws) == [
        ("offer/1/reminder", "2024-06-03 12:00:00"),
        ("offer/2/reminder", "2024-06-03 12:10:00"),
    ]


def test_a_single_event_name_still_enters_only_on_that_event(tmp_path: Path) -> None:
    _write(tmp_path, OFFER.format(re_entry="once").replace(f"[{MAIL}, {ONLINE}]", f'"{MAIL}"'))
    ws = open_ws(tmp_path, T0)
    _sent(ws, T0, "a1", MAIL, "o1")
    _sent(ws, T0, "a2", ONLINE, "o2")
    assert _keys(ws, "a1") == [("o1", MAIL, "active")]
    assert journeys(ws, "a2") == []
    assert [d["trigger"] for d in activity_details(ws, "journey.entered")] == [f"event {MAIL}"]
