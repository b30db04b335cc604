"""Every template of every shipped campaign renders for every demo person (all 5,000 of
the generated data, with their final attributes, their own events for `history`, and a
trigger event of the campaign's kind: their own when they have one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.core.campaigns import EventTrigger, walk_steps
from app.core.render import History, RenderContext, Renderer
from app.service.definitions import load_definitions
from app.service.demo_data import generate
from tests.campaigns.world import build_world

CAMPAIGNS = Path(__file__).resolve().parents[2] / "campaigns"


def test_every_template_renders_for_every_demo_person() -> None:
    data = generate()
    people = build_world(data.operations)
    found = load_definitions(CAMPAIGNS)
    assert found.errors == []
    versions = [v for v in found.campaigns.versions.values() if v.campaign.id != "win_back"]
    # A stand-in trigger event per event name: the first one anybody performed.
    first: dict[str, dict[str, Any]] = {}
    for op in data.operations:
        if op["type"] == "track":
            first.setdefault(op["event"], op["properties"])
    rendered = 0
    for version in versions:
        # The shipped templates have no text part: it is derived from the HTML, which
        # cannot fail but costs 4x the render. The HTML source stands in as the text part
        # (rendered again without escaping): every Jinja path still runs.
        renderer = Renderer({name: (html, html) for name, (html, _) in version.templates.items()})
        trigger = version.campaign.trigger
        sends = [s.send for s in walk_steps(version.campaign.steps) if s.send is not None]
        for person in people.values():
            attributes: dict[str, Any] = {}
            for _, traits in person.traits:
                attributes.update(traits)
            event: dict[str, Any] = {}
            if isinstance(trigger, EventTrigger):
                own = person.events.get(trigger.event, [])
                event = own[-1][1] if own else first[trigger.event]

            def read(name: str, person: Any = person) -> list[tuple[str, int, Any]]:
                return [(name, ts, props) for ts, props in person.events.get(name, [])]

            context = RenderContext(
                person={**attributes, "id": person.id, "email": attributes["email"]},
                event=event,
                campaign={"id": version.id, "name": version.campaign.name},
                unsubscribe_url="https://nudge.example.com/unsubscribe/1.x",
                history=History(read, data.end_ms),
            )
            for send in sends:
                message = renderer.render(send.template, send.subject, context)
                assert message.subject and "{{" not in message.html
                rendered += 1
    assert rendered > 100_000
