"""The language the shipped campaigns needed: `{trigger: <property>}` operands,
`delay_until` part of the way through a span, the broadcast trigger, and `history` and
`date` in templates. Times start at T0 = Monday 2024-06-03 10:00 UTC."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from app.core.campaigns import DelayUntilSpec
from app.core.conditions import Condition, normalise
from app.core.errors import NudgeError
from app.core.evaluate import Evaluator, PersonFacts
from app.core.render import History, RenderContext, Renderer, date_filter
from app.core.segments import Segment, check_segments
from app.store import Compiler
from tests.service.engine_kit import (
    DAY,
    HOUR,
    deliveries,
    identify,
    only_journey,
    open_ws,
    track,
    utc,
    write_campaign,
    write_segment,
)

T0 = utc("2024-06-03 10:00")
read_condition = TypeAdapter(Condition).validate_python

# -- {trigger: ...} ------------------------------------------------------------------------

VIEWED_THIS = {"performed": "viewed", "where": {"sku": {"trigger": "sku"}}, "at_least": 2}


def facts() -> PersonFacts:
    views = [("viewed", T0 - 3, {"sku": "a"}), ("viewed", T0 - 2, {"sku": "a"}),
             ("viewed", T0 - 1, {"sku": "b"})]  # fmt: skip
    return PersonFacts.build({"fav": "b"}, T0 - DAY, views)


def test_a_trigger_operand_compares_with_the_trigger_events_property() -> None:
    condition = normalise(read_condition(VIEWED_THIS))
    evaluator = Evaluator()
    assert evaluator.matches(condition, facts(), T0, trigger={"sku": "a"})  # 2 views of a
    assert not evaluator.matches(condition, facts(), T0, trigger={"sku": "b"})  # 1 of b
    fav = normalise(read_condition({"attribute": "fav", "equals": {"trigger": "sku"}}))
    assert evaluator.matches(fav, facts(), T0, trigger={"sku": "b"})


def test_without_the_trigger_property_equals_fails_and_not_equals_holds() -> None:
    evaluator = Evaluator()
    same = normalise(read_condition({"attribute": "fav", "equals": {"trigger": "sku"}}))
    other = normalise(read_condition({"attribute": "fav", "not_equals": {"trigger": "sku"}}))
    for trigger in (None, {}, {"sku": None}, {"sku": ["b"]}):
        assert not evaluator.matches(same, facts(), T0, trigger=trigger)
        assert evaluator.matches(other, facts(), T0, trigger=trigger)


def test_trigger_operands_are_for_campaigns_only() -> None:
    condition = normalise(read_condition(VIEWED_THIS))
    with pytest.raises(NudgeError, match="needs a journey"):
        Compiler({}, T0).where(condition)
    segment = Segment.model_validate({"id": "s", "name": "S", "condition": VIEWED_THIS})
    _, errors = check_segments({"s": segment}, {"s": "segments/s.yaml"})
    assert [e.message for e in errors] == ["{trigger: ...} only works in a campaign"]
    with pytest.raises(ValidationError):
        read_condition({"attribute": "fav", "greater": {"trigger": "sku"}})


def test_a_journey_waits_for_a_purchase_of_its_own_cart(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: cart
        name: Cart
        state: active
        trigger: {event: added, key: cart_id}
        steps:
          - id: wait
            wait_until:
              paths:
                - id: bought
                  when: {performed: bought, where: {cart_id: {trigger: cart_id}}, since: entry}
                  steps: [{id: stop, exit: true}]
              max_time: 4h
          - {id: remind, send: {template: t, subject: "Your cart"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    track(ws, T0, "u1", "added", {"cart_id": "c1"})
    track(ws, T0 + HOUR, "u1", "added", {"cart_id": "c2"})
    track(ws, T0 + 2 * HOUR, "u1", "bought", {"cart_id": "c2"})  # only c2 is bought
    ws.engine.advance(T0 + 6 * HOUR)
    assert deliveries(ws) == [("cart/1/remind", "2024-06-03 14:00:00")]


# -- delay_until: part of a span ----------------------------------------------------------


def test_delay_until_a_share_of_a_span(tmp_path: Path) -> None:
    write_campaign(
        tmp_path,
        """
        id: trial
        name: Trial
        state: active
        trigger: {event: started}
        steps:
          - id: most
            delay_until: {span: [trial_started_at, trial_ends_at], at: 80%}
          - {id: nudge, send: {template: t, subject: "Almost over"}}
        """,
    )
    ws = open_ws(tmp_path, T0)
    # A 10-day trial from T0: 80% is 8 days in, 2024-06-11 10:00.
    identify(ws, T0, "u1", trial_started_at="2024-06-03T10:00:00Z", trial_ends_at=T0 + 10 * DAY)
    track(ws, T0, "u1", "started")
    assert only_journey(ws, "u1").next_due_at == utc("2024-06-11 10:00")
    ws.engine.advance(utc("2024-06-12 00:00"))
    assert deliveries(ws) == [("trial/1/nudge", "2024-06-11 10:00:00")]


@pytest.mark.parametrize(
    "spec",
    [
        {"span": ["a", "b"]},
        {"attribute": "a", "at": 50},
        {"span": ["a", "b"], "at": "150%"},
        {"span": ["a", "b"], "at": "half"},
        {"span": ["a", "b"], "attribute": "c", "at": 10},
    ],
)
def test_delay_until_span_needs_a_share_and_only_a_span(spec: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DelayUntilSpec.model_validate(spec)


# -- broadcast -----------------------------------------------------------------------------

BROADCAST = """
id: news
name: News
state: active
trigger: {broadcast: {segment: fans, at: "AT"}}
steps:
  - {id: announce, send: {template: t, subject: "News"}}
"""


def test_a_broadcast_enters_the_segment_members_at_its_time_once(tmp_path: Path) -> None:
    write_segment(tmp_path, "id: fans\nname: Fans\ncondition: {attribute: fan, equals: true}\n")
    write_campaign(tmp_path, BROADCAST.replace("AT", "2024-06-04T15:00:00Z"))
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", fan=True)
    identify(ws, T0, "u2", fan=False)
    ws.engine.advance(utc("2024-06-04 14:59"))
    assert deliveries(ws) == []
    ws.engine.advance(utc("2024-06-04 15:00"))
    identify(ws, utc("2024-06-04 15:30"), "u3", fan=True)  # joins after the broadcast
    ws.engine.advance(utc("2024-06-04 16:00"))
    ws.engine.advance(utc("2024-06-05 16:00"))
    # u3 was not a member when it went out: only u1, once, at the broadcast time.
    assert deliveries(ws) == [("news/1/announce", "2024-06-04 15:00:00")]


def test_a_broadcast_time_already_past_at_go_live_sends_nothing(tmp_path: Path) -> None:
    write_segment(tmp_path, "id: fans\nname: Fans\ncondition: {attribute: fan, equals: true}\n")
    write_campaign(tmp_path, BROADCAST.replace("AT", "2024-06-01T15:00:00Z"))
    ws = open_ws(tmp_path, T0)
    identify(ws, T0, "u1", fan=True)
    ws.engine.advance(utc("2024-06-04 16:00"))
    assert deliveries(ws) == []


# -- templates: history and date -------------------------------------------------------------


def test_history_counts_a_persons_events_up_to_the_render_time() -> None:
    rows = {"viewed": [("viewed", T0 - 2, {"sku": "a"}), ("viewed", T0 - 1, {"sku": "b"}),
                       ("viewed", T0 + 1, {"sku": "a"})]}  # fmt: skip
    history = History(lambda name: rows.get(name, []), T0)
    assert history.count("viewed") == 2  # the one after T0 has not happened yet
    assert history.count("viewed", sku="a") == 1
    assert history.performed("viewed", sku="b")
    assert not history.performed("bought")
    source = "{{ history.count('viewed', sku='a') }} {{ history.performed('bought') }}"
    renderer = Renderer({"t": (source, None)})
    context = RenderContext(person={}, event={}, campaign={}, unsubscribe_url="", history=history)
    assert renderer.render("t", "s", context).html == "1 False"
    empty = RenderContext(person={}, event={}, campaign={}, unsubscribe_url="")
    assert renderer.render("t", "s", empty).html == "0 False"


def test_date_filter_shows_an_instant_in_a_zone() -> None:
    # 2026-10-27 23:30 UTC is 28 October in Berlin (UTC+1 after the change on the 25th).
    assert date_filter("2026-10-27T23:30:00Z") == "27 October 2026"
    assert date_filter("2026-10-27T23:30:00Z", "Europe/Berlin") == "28 October 2026"
    assert date_filter(1_793_143_800, "Nowhere/Atlantis") == "27 October 2026"
    with pytest.raises(ValueError):
        date_filter("soon")
