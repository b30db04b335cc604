"""The journey engine: triggers, steps, exits and goals (DESIGN.md §4 "Campaigns").

One engine, two clocks (invariant 1): nothing here reads a clock. Every entry point
takes the instant it acts at: `on_batch` the batch's received time, `advance(now)` the
scheduler's (or the simulator's virtual) now. A journey's own time is the instant its
step became due, not the instant a tick noticed it, so results do not depend on how
often `advance` runs.

A journey enters when its trigger is processed (Customer.io): live, that is the batch's
received time; in a replay it is the event's own time on the virtual clock.

Every decision is a row in the activity log (invariant 5): `journey.entered`,
`step.reached`, `step.skipped` (with its reason), `branch.taken`, `message.queued`,
`message.skipped`, `wait.met`, `wait.timed_out`, `goal.converted`,
`attributes.updated`, `journey.completed`, `journey.exited` (with its reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from app.core.campaigns import (
    BroadcastTrigger,
    CampaignVersion,
    DateTrigger,
    EventTrigger,
    ReEntryAfter,
    SegmentTrigger,
)
from app.core.conditions import Condition, SegmentRef, event_names, normalise
from app.core.evaluate import Evaluator, apply_test, resolve_path
from app.core.models import Journey
from app.core.times import HOUR_MS
from app.service.ingest import NewEvent
from app.service.journey_steps import _Ctx, goal_start
from app.service.segments import Move, SegmentKeeper
from app.service.timed_entries import TimedEntries
from app.store import ActivityRow, Store

#: Customer.io: events older than 72 h when they arrive never start a journey.
DEFAULT_TRIGGER_MAX_AGE_MS = 72 * HOUR_MS
_DUE_BATCH = 500


@dataclass(slots=True)
class AdvanceReport:
    """What one `advance` did."""

    entered: int = 0
    steps: int = 0
    queued: int = 0


class Engine(TimedEntries):
    """Runs the live campaigns over the store.

    Args:
        store: people, events, journeys, the outbox, the activity log.
        segments: the segment keeper (membership, and the conditions `in_segment` names).
        zone: the workspace time zone (for people without a `timezone` attribute).
        trigger_max_age_ms: events older than this on arrival start nothing.
    """

    def __init__(
        self,
        store: Store,
        segments: SegmentKeeper,
        zone: ZoneInfo,
        trigger_max_age_ms: int = DEFAULT_TRIGGER_MAX_AGE_MS,
    ) -> None:
        self.store = store
        self.segments = segments
        self.zone = zone
        self.trigger_max_age_ms = trigger_max_age_ms
        self.versions: dict[str, CampaignVersion] = {}
        self.evaluator = Evaluator(segments.conditions)
        self._names: set[str] = set()
        self._activity: list[ActivityRow] = []
        self._queued = 0

    # -- loading ---------------------------------------------------------------------------

    def load(self, versions: dict[str, CampaignVersion], now: int) -> None:
        """Make `versions` the live set at `now`.

        Journeys on an older version of a campaign move to the new one by step id;
        those at a step that no longer exists exit with reason `step_removed`. A
        segment-entry campaign with `audience: current_and_future` enters the segment's
        current members the first time it is live.
        """
        with self.store.transaction():
            ctx = _Ctx()
            for cid, version in versions.items():
                self.store.campaigns.save_version(
                    cid, version.hash, version.source, version.file, now
                )
                for journey in self.store.journeys.active_in(cid):
                    if journey.version == version.hash:
                        continue
                    if journey.step_id is not None and journey.step_id not in version.places:
                        self._end(journey, now, "step_removed")
                    else:
                        journey.version = version.hash
                    self.store.journeys.update(journey)
            self.versions = dict(versions)
            self._names = self._event_names()
            for cid, version in versions.items():
                if version.campaign.state != "active":
                    continue
                trigger = version.campaign.trigger
                if (
                    isinstance(trigger, DateTrigger)
                    and self.store.campaigns.mark(f"date:{cid}") is None
                ):
                    # Dates already past when a campaign goes live start nothing.
                    self.store.campaigns.set_mark(f"date:{cid}", now)
                if (
                    isinstance(trigger, BroadcastTrigger)
                    and self.store.campaigns.mark(f"live:{cid}") is None
                ):
                    # When it first went live: a broadcast time before that sends nothing.
                    self.store.campaigns.set_mark(f"live:{cid}", now)
                if (
                    isinstance(trigger, SegmentTrigger)
                    and trigger.audience == "current_and_future"
                    and self.store.campaigns.mark(f"started:{cid}") is None
                ):
                    self.store.campaigns.set_mark(f"started:{cid}", now)
                    for pid in sorted(self.store.segments.members(trigger.segment_id)):
                        self._enter(version, pid, now, {}, "", ctx)
            self._flush_activity()

    def _event_names(self) -> set[str]:
        names: set[str] = set()
        refs = self.segments.conditions
        for version in self.versions.values():
            c = version.campaign
            for cond in _conditions_of(version):
                names |= event_names(cond, refs)
            if c.goal is not None and c.goal.performed is not None:
                names.add(c.goal.performed)
        return names

    # -- reacting to changes ---------------------------------------------------------------

    def on_batch(
        self, touched: set[int], events: list[NewEvent], moves: list[Move], now: int
    ) -> None:
        """React to an ingest batch at its received time `now` (call inside its transaction).

        Existing journeys of the people touched first (goals, exits, waits), then new
        entries from event triggers and segment moves.
        """
        ctx = _Ctx()
        if touched and self.versions:
            found = self.store.journeys.for_people(touched, self._with_goals())
            ctx.journeys = {j.id: j for j in found}
            for journey in list(ctx.journeys.values()):
                self._react(journey, now, ctx)
        # The live event triggers by event name, in `_live()` order (once per batch).
        triggers: dict[str, list[tuple[CampaignVersion, EventTrigger]]] = {}
        for version in self._live():
            trigger = version.campaign.trigger
            if isinstance(trigger, EventTrigger):
                for name in trigger.events:  # a list trigger: any of its events enters
                    triggers.setdefault(name, []).append((version, trigger))
        oldest = now - self.trigger_max_age_ms
        for event in events:
            if event.timestamp < oldest:
                continue
            for version, trigger in triggers.get(event.name, ()):
                self._try_event_entry(version, trigger, event, now, ctx)
        self._on_moves(moves, now, ctx)
        self._flush_activity()

    def on_moves(self, moves: list[Move], now: int) -> None:
        """React to segment moves found by a sweep (call inside its transaction)."""
        ctx = _Ctx()
        people = {m.person_id for m in moves}
        if people and self.versions:
            found = self.store.journeys.for_people(people, self._with_goals())
            ctx.journeys = {j.id: j for j in found}
            for journey in list(ctx.journeys.values()):
                self._react(journey, now, ctx)
        self._on_moves(moves, now, ctx)
        self._flush_activity()

    def _on_moves(self, moves: list[Move], now: int, ctx: _Ctx) -> None:
        for move in moves:
            for version in self._live():
                trigger = version.campaign.trigger
                if not isinstance(trigger, SegmentTrigger) or trigger.segment_id != move.segment_id:
                    continue
                if (trigger.segment_entered is not None) == move.entered:
                    self._enter(version, move.person_id, now, {}, "", ctx)

    def _try_event_entry(
        self, version: CampaignVersion, trigger: EventTrigger, event: NewEvent, now: int, ctx: _Ctx
    ) -> None:
        for f in trigger.where:
            if not apply_test(f.test, resolve_path(event.properties, f.property), now):
                return
        key = ""
        if trigger.key is not None:
            value = resolve_path(event.properties, trigger.key)
            key = "" if not isinstance(value, str | int | float) else str(value)
        payload = {"name": event.name, "timestamp": event.timestamp, "properties": event.properties}
        self._enter(version, event.person_id, now, payload, key, ctx)

    def _react(self, journey: Journey, now: int, ctx: _Ctx) -> None:
        version = self.versions.get(journey.campaign_id)
        if version is None or version.campaign.state != "active":
            return
        campaign = version.campaign
        if journey.state != "active" and (
            campaign.goal is None
            or journey.converted_at is not None
            or goal_start(journey, campaign.goal, now) is None
        ):
            return  # an ended journey with no goal left to count: nothing below applies
        # Most reactions change nothing: then the row is not written again.
        before = self.store.journeys.snapshot(journey)
        # Steps that fell due before this change run first, at their own due times (a
        # timeout due at 10:00 is not met by an event at 12:00 just because no tick ran
        # in between): the outcome must not depend on how often `advance` runs.
        while (
            journey.state == "active"
            and journey.next_due_at is not None
            and journey.next_due_at <= now
        ):
            self._resume(journey, ctx)
        if (
            campaign.goal is not None
            and journey.converted_at is None
            and self._converted(journey, version, now, ctx)
        ):
            journey.converted_at = now
            self._log(now, journey, "goal.converted", None, {})
            if journey.state == "active" and "conversion" in campaign.exit:
                self._end(journey, now, "converted")
        if (
            journey.state == "active"
            and "trigger_not_matched" in campaign.exit
            and not self._trigger_matches(journey, version, now, ctx)
        ):
            self._end(journey, now, "trigger_not_matched")
        if journey.state == "active" and journey.step_id is not None:
            place = version.places.get(journey.step_id)
            if place is not None and place.step.wait_until is not None:
                self._wake(journey, version, place, now, ctx)
        self.store.journeys.update(journey, unless=before)

    # -- time ------------------------------------------------------------------------------

    def advance(self, now: int, dates: bool = True) -> AdvanceReport:
        """Do everything due up to `now` (ms UTC): date-trigger entries, then due journeys
        in due-time order (ties by journey id). Running it twice at the same `now`
        changes nothing the second time.

        Args:
            dates: look for date-trigger entries (a scan of every person). The simulator
                passes False at the due instants between two scans; the entries a scan
                finds happen at their own instants whenever it runs.
        """
        report = AdvanceReport()
        ctx = _Ctx()
        queued_before = self._queued
        with self.store.transaction():
            if dates:
                report.entered += self._date_entries(now, ctx)
            report.entered += self._broadcasts(now, ctx)
            self._flush_activity()
        active = [cid for cid, v in self.versions.items() if v.campaign.state == "active"]
        while True:
            with self.store.transaction():
                due = self.store.journeys.due(now, _DUE_BATCH, active)
                ctx.journeys = {j.id: j for j in due}
                for journey in due:
                    if (
                        journey.state != "active"
                        or journey.next_due_at is None
                        or journey.next_due_at > now
                    ):
                        continue  # moved meanwhile by another journey's attribute update
                    report.steps += self._resume(journey, ctx)
                    self.store.journeys.update(journey)
                self._flush_activity()
            # A journey resumed above can be due again by `now` (a later delay ends
            # before it): keep going until nothing is due, so a second `advance` at the
            # same `now` finds nothing to do. Each resume moves a journey forward through
            # a finite step tree, so this ends.
            if not due:
                report.queued = self._queued - queued_before
                return report

    # -- entering --------------------------------------------------------------------------

    def _enter(
        self,
        version: CampaignVersion,
        person_id: int,
        now: int,
        trigger_event: dict[str, Any],
        key: str,
        ctx: _Ctx,
    ) -> int:
        campaign = version.campaign
        earlier = self.store.journeys.entries(campaign.id, person_id, key)
        policy = campaign.re_entry
        if earlier:
            if policy == "once":
                return 0
            if policy == "after_rematch" and any(j.state == "active" for j in earlier):
                return 0
            if isinstance(policy, ReEntryAfter) and now < earlier[-1].entered_at + policy.after:
                return 0
        entry_filter = version.entry_filter
        properties = trigger_event.get("properties") if trigger_event else None
        if entry_filter is not None and not self._holds(
            entry_filter,
            person_id,
            now,
            None,
            ctx,
            properties if isinstance(properties, dict) else None,
        ):
            return 0
        journey = Journey(
            id=0,
            campaign_id=campaign.id,
            version=version.hash,
            person_id=person_id,
            entry_key=key,
            state="active",
            step_id=None,
            entered_at=now,
            step_since=now,
            trigger_event=trigger_event,
        )
        self.store.journeys.insert(journey)
        detail: dict[str, Any] = {"trigger": _describe_trigger(version)}
        if key:
            detail["key"] = key
        self._log(now, journey, "journey.entered", None, detail)
        self._go(journey, version, version.first_step, now, ctx)
        self.store.journeys.update(journey)
        return 1

    def still_eligible(self, journey: Journey, now: int) -> bool:
        """The exit policy's check right before a send (DESIGN.md §4): False when the
        campaign exits people who no longer match its trigger and this one does not."""
        version = self.versions.get(journey.campaign_id)
        if version is None or "trigger_not_matched" not in version.campaign.exit:
            return True
        return self._trigger_matches(journey, version, now, _Ctx())

    def _with_goals(self) -> list[str]:
        """Campaigns with a goal: only their ended journeys can still convert (`_react`
        does nothing to an ended journey of any other)."""
        return [cid for cid, v in self.versions.items() if v.campaign.goal is not None]

    def _live(self) -> list[CampaignVersion]:
        return [v for v in self.versions.values() if v.campaign.state == "active"]


def _describe_trigger(version: CampaignVersion) -> str:
    trigger = version.campaign.trigger
    if isinstance(trigger, EventTrigger):
        return f"event {' or '.join(trigger.events)}"
    if isinstance(trigger, SegmentTrigger):
        verb = "entered" if trigger.segment_entered is not None else "exited"
        return f"segment {trigger.segment_id} {verb}"
    if isinstance(trigger, BroadcastTrigger):
        return f"broadcast to {trigger.broadcast.segment}"
    return f"date {trigger.date.attribute}"


def _conditions_of(version: CampaignVersion) -> list[Condition]:
    out: list[Condition] = []
    c = version.campaign
    if isinstance(c.trigger, SegmentTrigger):
        out.append(SegmentRef(in_segment=c.trigger.segment_id))
    if c.entry_filter is not None:
        out.append(normalise(c.entry_filter))
    for place in version.places.values():
        step = place.step
        if step.branch is not None:
            out.append(normalise(step.branch.if_))
        if step.split is not None:
            out += [normalise(p.when) for p in step.split.paths]
        if step.wait_until is not None:
            out += [normalise(p.when) for p in step.wait_until.paths]
    return out
