"""An event trigger on any of several events (`event: [a, b]`): parsing, the errors of
a bad list (with file and line), and how the trigger reads in words.

Customer.io triggers a campaign on one event; the list is Nudge's extension. A single
name must keep parsing exactly as before.
"""

from __future__ import annotations

import pytest

from app.core.campaigns import Campaign, CampaignVersion, EventTrigger
from app.core.describe import describe_trigger
from app.core.yamlload import DefinitionErrors, load_yaml_model

SOURCE = """\
id: offer
name: Offer reminder
trigger:
  event: {event}
  key: offer_id
steps:
  - {{id: hi, send: {{template: t, subject: "Hi"}}}}
"""


def _load(event: str) -> Campaign:
    return load_yaml_model(SOURCE.format(event=event), "offer.yaml", Campaign)


def _error(event: str) -> str:
    with pytest.raises(DefinitionErrors) as caught:
        _load(event)
    assert len(caught.value.errors) == 1
    return str(caught.value.errors[0])


def test_a_single_name_parses_as_before() -> None:
    trigger = _load("signed_up").trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.event == "signed_up"  # still the plain string
    assert trigger.events == ("signed_up",)


def test_a_list_of_names_parses_in_order() -> None:
    trigger = _load("[O_Sent (mail and online), O_Sent (online only)]").trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.events == ("O_Sent (mail and online)", "O_Sent (online only)")
    assert trigger.key == "offer_id"


def test_a_block_list_and_a_list_of_one() -> None:
    block = "\n    - paid\n    - upgraded"
    trigger = _load(block).trigger
    assert isinstance(trigger, EventTrigger)
    assert trigger.events == ("paid", "upgraded")
    one = _load("[paid]").trigger
    assert isinstance(one, EventTrigger)
    assert one.events == ("paid",)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ("[]", "the list of events is empty: name at least one event"),
        ("[paid, paid]", "the list names event 'paid' twice"),
        ('[paid, ""]', "event 2 of the list is not an event name"),
        ('["  ", paid]', "event 1 of the list is not an event name"),
        ("[paid, {x: 1}]", "event 2 of the list is not an event name"),
        ("{name: paid}", "must be an event name or a list of event names"),
    ],
)
def test_a_bad_list_is_a_definition_error_with_its_line(event: str, reason: str) -> None:
    # `event:` is on line 4 of SOURCE.
    assert _error(event) == f"offer.yaml:4: trigger.event: {reason}"


def test_a_bad_block_list_points_at_the_event_key() -> None:
    assert _error("\n    - paid\n    - paid") == (
        "offer.yaml:4: trigger.event: the list names event 'paid' twice"
    )


def test_the_trigger_in_words_names_every_event() -> None:
    one = CampaignVersion(_load("paid"), "")
    assert describe_trigger(one) == "event paid, one journey per offer_id"
    two = CampaignVersion(_load("[paid, upgraded]"), "")
    assert describe_trigger(two) == "event paid or upgraded, one journey per offer_id"
