"""Campaign definitions in words (`nudge campaigns show`): one line per step, trigger,
goal and condition, close to how the YAML reads."""

from __future__ import annotations

import textwrap

import pytest

from app.core.campaigns import Campaign, CampaignVersion
from app.core.describe import (
    describe_condition,
    describe_goal,
    describe_path,
    describe_step,
    describe_trigger,
)
from app.core.yamlload import load_yaml_model

SOURCE = """
id: tour
name: Tour
trigger: {event: signed_up, where: {plan: trial}, key: workspace_id}
goal: {performed: upgraded, within: 14d, from: message}
steps:
  - id: hello
    send:
      template: hello
      subject: "Welcome to the tour, {{ person.first_name | default('there') }}"
  - id: office
    time_window: {from: "09:00", to: "17:00", days: [mon, tue]}
  - id: pause
    delay: 2d
  - id: before_end
    delay_until: {attribute: trial_ends_at, offset: -3d}
  - id: wait
    wait_until:
      paths:
        - id: logged_in
          when: {performed: app_login, since: entry}
      max_time: 36h
  - id: split
    split:
      paths:
        - id: big
          when: {attribute: seats, greater: 10}
          steps:
            - id: call
              update_attributes: {needs_call: true, tier: big}
  - id: cohort
    random_cohort:
      paths:
        - {id: a, percent: 25}
        - {id: b, percent: 75}
  - id: done
    exit: true
"""


@pytest.fixture(scope="module")
def version() -> CampaignVersion:
    campaign = load_yaml_model(textwrap.dedent(SOURCE), "tour.yaml", Campaign)
    return CampaignVersion(campaign, SOURCE)


def test_steps(version: CampaignVersion) -> None:
    described = {sid: describe_step(place.step) for sid, place in version.places.items()}
    assert described == {
        "hello": 'send hello "Welcome to the tour, {{ person.first_name | def…"',
        "office": "time window mon, tue 09:00-17:00",
        "pause": "delay 2d",
        "before_end": "delay until attribute trial_ends_at - 3d",
        "wait": "wait until, at most 36h",
        "split": "split, first match wins",
        "call": "update attributes needs_call, tier",
        "cohort": "random cohort",
        "done": "exit",
    }


def test_paths(version: CampaignVersion) -> None:
    wait, split, cohort = (version.places[s].step for s in ("wait", "split", "cohort"))
    assert describe_path(wait, "logged_in") == "when performed app_login since entry"
    assert describe_path(wait, "timeout") == "after 36h"
    assert describe_path(split, "big") == "when seats greater 10"
    assert describe_path(split, "else") == ""
    assert (describe_path(cohort, "a"), describe_path(cohort, "b")) == ("25%", "75%")


def test_trigger_and_goal(version: CampaignVersion) -> None:
    assert describe_trigger(version) == (
        "event signed_up where plan equals 'trial', one journey per workspace_id"
    )
    assert describe_goal(version) == "performed upgraded within 14d of the last message"


@pytest.mark.parametrize(
    ("yaml_text", "words"),
    [
        ("{performed: purchase, at_least: 3}", "performed purchase at least 3 times"),
        ("{not_performed: app_login, within: 7d}", "not performed app_login within 7d"),
        ("{attribute: trial_ends_at, before: 3d from now}", "trial_ends_at before 3d from now"),
        ("{attribute: email, exists: true}", "email exists"),
        ("{not_in_segment: vip}", "not in segment vip"),
        (
            "{all: [{attribute: plan, equals: trial}, {not: {in_segment: vip}}]}",
            "all of (plan equals 'trial'; not (in segment vip))",
        ),
        (
            "{any: [{performed: x, where: {amount: 5}, between: ['2024-01-01T00:00:00Z', "
            "'2024-02-01T00:00:00Z']}]}",
            "any of (performed x where amount equals 5 between 2024-01-01T00:00:00.000Z and "
            "2024-02-01T00:00:00.000Z)",
        ),
    ],
)
def test_conditions(yaml_text: str, words: str) -> None:
    source = f"id: c\nname: C\ntrigger: {{event: x}}\nentry_filter: {yaml_text}\n"
    source += "steps: [{id: s, exit: true}]\n"
    campaign = load_yaml_model(source, "c.yaml", Campaign)
    assert campaign.entry_filter is not None
    assert describe_condition(campaign.entry_filter) == words
