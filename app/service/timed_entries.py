"""Entries that come with time rather than with an event: date triggers (an attribute's
instant plus an offset arrives) and broadcasts (a segment's members at a set instant).
Part of the journey engine (`app.service.engine`), which calls both from `advance`."""

from __future__ import annotations

from typing import Any

from app.core.campaigns import BroadcastTrigger, CampaignVersion, DateTrigger
from app.core.evaluate import instant_of, resolve_path
from app.service.journey_steps import StepWalker, _Ctx


class TimedEntries(StepWalker):
    """Date-trigger and broadcast entries; the engine provides `_live` and `_enter`."""

    def _live(self) -> list[CampaignVersion]:
        raise NotImplementedError

    def _enter(
        self,
        version: CampaignVersion,
        person_id: int,
        now: int,
        trigger_event: dict[str, Any],
        key: str,
        ctx: _Ctx,
    ) -> int:
        raise NotImplementedError

    def _date_entries(self, now: int, ctx: _Ctx) -> int:
        entered = 0
        for version in self._live():
            trigger = version.campaign.trigger
            if not isinstance(trigger, DateTrigger):
                continue
            name = f"date:{version.id}"
            last = self.store.campaigns.mark(name)
            if last is None or now <= last:
                self.store.campaigns.set_mark(name, now if last is None else last)
                continue
            spec = trigger.date
            candidates = self.store.segments.attribute_instant_between(
                spec.attribute, last - spec.offset + 1, now - spec.offset
            )
            arrivals = []
            for pid in candidates:
                person = self._person(pid, ctx)
                instant = (
                    instant_of(resolve_path(person.attributes, spec.attribute)) if person else None
                )
                if instant is not None and last < instant + spec.offset <= now:
                    arrivals.append((instant + spec.offset, pid))
            for at, pid in sorted(arrivals):
                entered += self._enter(version, pid, at, {}, "", ctx)
            self.store.campaigns.set_mark(name, now)
        return entered

    def _broadcasts(self, now: int, ctx: _Ctx) -> int:
        """Enter the audience of each live broadcast whose time has come (once)."""
        entered = 0
        for version in self._live():
            trigger = version.campaign.trigger
            if not isinstance(trigger, BroadcastTrigger):
                continue
            spec = trigger.broadcast
            done = f"broadcast:{version.id}"
            if spec.at > now or self.store.campaigns.mark(done) is not None:
                continue
            self.store.campaigns.set_mark(done, now)
            live_since = self.store.campaigns.mark(f"live:{version.id}")
            if live_since is None or spec.at < live_since:
                continue
            if spec.segment in self.segments.segments:
                audience = self.segments.members_at(spec.segment, spec.at)
            else:
                audience = self.store.segments.members(spec.segment)
            for pid in sorted(audience):
                entered += self._enter(version, pid, spec.at, {}, "", ctx)
        return entered
