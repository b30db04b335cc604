"""Post-purchase tips and cart abandonment, simulated on generated behaviour; expected
journeys worked out from the operations."""

from __future__ import annotations

from tests.campaigns.conftest import Simulated
from tests.campaigns.world import DAY, HOUR


def test_post_purchase(sim: Simulated) -> None:
    # One journey per order on order_shipped; the tips 24 h later. Goal: a review of that
    # order within 30 days (before the tips, it would skip them).
    entered, sent, converted = {}, set(), set()
    for p in sim.people.values():
        for at, props in p.events.get("order_shipped", []):
            key = (p.id, props["order_id"])
            entered[key] = at
            reviews = p.times("submitted_review", at, min(at + 30 * DAY, sim.end),
                              order_id=props["order_id"])  # fmt: skip
            if reviews:
                converted.add(key)
            if at + 24 * HOUR <= sim.end and not (reviews and reviews[0] <= at + 24 * HOUR):
                sent.add(key)
    assert sim.entered("post_purchase") == entered
    assert sim.sent("post_purchase", "how_to") == sent
    assert sim.converted("post_purchase") == converted
    assert converted and len(sent) < len(entered)


def test_cart_abandonment(sim: Simulated) -> None:
    # One journey per cart on added_to_cart. A purchase of that cart within 7 days is the
    # goal and ends the journey; without one within 4 h, one email whose copy is the
    # first that holds: lifetime value over 499.99, bought from the cart's category
    # before, viewed the product 3 times or more, else the plain reminder.
    entered: dict[tuple[str, str], int] = {}
    paths: dict[str, set[tuple[str, str]]] = {
        "high_value": set(), "category_fan": set(), "keen": set(), "else": set()
    }  # fmt: skip
    converted = set()
    for p in sim.people.values():
        for at, cart in p.events.get("added_to_cart", []):
            key = (p.id, cart["cart_id"])
            entered[key] = at
            bought = p.times("completed_purchase", at, min(at + 7 * DAY, sim.end),
                             cart_id=cart["cart_id"])  # fmt: skip
            if bought:
                converted.add(key)
            due = at + 4 * HOUR
            if due > sim.end or (bought and bought[0] <= due):
                continue
            ltv = p.attr("lifetime_value", due)
            if ltv is not None and ltv > 499.99:
                path = "high_value"
            elif p.did("completed_purchase", None, due, category=cart["category"]):
                path = "category_fan"
            elif len(p.times("viewed_product", None, due, product_id=cart["product_id"])) >= 3:
                path = "keen"
            else:
                path = "else"
            paths[path].add(key)
    assert sim.entered("cart_abandonment") == entered
    assert sim.converted("cart_abandonment") == converted
    assert sim.paths("cart_abandonment", "pick_copy") == {k: len(v) for k, v in paths.items()}
    # A purchase within the 4 h converts and ends the journey before the wait's own path.
    timed_out = sum(len(v) for v in paths.values())
    assert sim.paths("cart_abandonment", "wait_for_purchase") == {"timeout": timed_out}
    for path, step in (("high_value", "remind_high_value"), ("category_fan", "remind_category_fan"),
                       ("keen", "remind_keen"), ("else", "remind")):  # fmt: skip
        assert sim.sent("cart_abandonment", step) == paths[path], path
        assert paths[path], path  # the data exercises every variant
