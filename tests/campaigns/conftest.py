"""One simulation of every shipped campaign over a few hundred generated people (the
simulator runs the production engine, scheduler and outbox on a virtual clock), shared
by the per-campaign tests, which work out what should have happened on their own."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.config import load_settings
from app.service.demo_data import DemoData, generate
from app.service.simulate import (
    CampaignFunnel,
    CampaignSource,
    LogFiles,
    SimulationReport,
    SimulationRequest,
    simulate,
)
from tests.campaigns.world import Person, build_world

CAMPAIGNS = Path(__file__).resolve().parents[2] / "campaigns"
#: Few enough to simulate in seconds, enough for every path of every campaign.
PEOPLE = 300


@dataclass
class Simulated:
    """The generated data, the people read back from it, and the simulation report."""

    data: DemoData
    people: dict[str, Person]
    report: SimulationReport

    @property
    def end(self) -> int:
        return self.data.end_ms

    def funnel(self, campaign: str) -> CampaignFunnel:
        return next(f for f in self.report.campaigns if f.campaign == campaign)

    def entered(self, campaign: str) -> dict[tuple[str, str], int]:
        """(person, key) -> entry time, for every journey of the campaign."""
        return {(j.person, j.entry_key): j.entered_at for j in self.funnel(campaign).journeys}

    def converted(self, campaign: str) -> set[tuple[str, str]]:
        return {
            (j.person, j.entry_key)
            for j in self.funnel(campaign).journeys
            if j.converted_at is not None
        }

    def sent(self, campaign: str, step: str) -> set[tuple[str, str]]:
        """(person, key) of every message the step sent."""
        found = [
            (m.person, m.entry_key)
            for m in self.report.messages
            if m.campaign == campaign and m.step == step
        ]
        assert len(found) == len(set(found)), f"{campaign}/{step} sent something twice"
        return set(found)

    def paths(self, campaign: str, step: str) -> Counter[str]:
        found = next(s for s in self.funnel(campaign).steps if s.id == step)
        return Counter(found.paths)


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    data = generate(people=PEOPLE)
    log = tmp_path_factory.mktemp("demo") / "demo.jsonl"
    log.write_text("\n".join(json.dumps(op) for op in data.operations) + "\n")
    sources = tuple(
        CampaignSource(path=path)
        for path in sorted(CAMPAIGNS.glob("*.yaml"))
        if path.stem != "win_back"  # a draft on the CDNOW sample, not on this data
    )
    report = simulate(
        SimulationRequest(
            campaigns=sources,
            source=LogFiles((log,)),
            settings=load_settings(database=":memory:", campaigns=CAMPAIGNS),
            until_ms=data.end_ms,
        )
    )
    return Simulated(data, build_world(data.operations), report)
