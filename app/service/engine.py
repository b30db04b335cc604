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

import hashlib
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from app.core.attributes import apply_traits
from app.core.campaigns import (
    CampaignVersion,
    DateTrigger,
    EventTrigger,
    Place,
    ReEntryAfter,
    SegmentTrigger,
)
from app.core.conditions import Condition, EventCondition, SegmentRef, event_names, normalise
from app.core.evaluate import Evaluator, PersonFacts, apply_test, instant_of, resolve_path
from app.core.models import Delivery, Journey, Person
from app.core.schedule import add_delay, next_window_open, parse_time_of_day, person_zone
from app.core.times import HOUR_MS
from app.service.ingest import NewEvent
from app.service.segments import Move, SegmentKeeper
from app.store import ActivityRow, Store

#: Customer.io: events older than 72 h when they arrive never start a journey.
DEFAULT_TRIGGER_MAX_AGE_MS = 72 * HOUR_MS
#: A journey that runs this many steps in one go is stopped (a guard, not a feature).
_MAX_STEPS_AT_ONCE = 500
_DUE_BATCH = 500


@dataclass(slots=True)
class AdvanceReport:
    """What one `advance` did."""

    entered: int = 0
    steps: int = 0
    queued: int = 0


@dataclass(slots=True)
class _Ctx:
    """Per-call caches: people and their facts, loaded once; the journeys this call
    holds in memory (one object per journey, so a journey changed by another one's
    `update_attributes` is not written back stale); the journeys mid-walk."""

    people: dict[int, Person | None] = field(default_factory=dict)
    facts: dict[int, PersonFacts] = field(default_factory=dict)
    journeys: dict[int, Journey] = field(default_factory=dict)
    walking: set[int] = field(default_factory=set)


class Engine:
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
                triggers.setdefault(trigger.event, []).append((version, trigger))
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
            campaign.goal is None or journey.converted_at is not None
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

    def advance(self, now: int) -> AdvanceReport:
        """Do everything due up to `now` (ms UTC): date-trigger entries, then due journeys
        in due-time order (ties by journey id). Running it twice at the same `now`
        changes nothing the second time.
        """
        report = AdvanceReport()
        ctx = _Ctx()
        queued_before = self._queued
        with self.store.transaction():
            report.entered += self._date_entries(now, ctx)
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
        if entry_filter is not None and not self._holds(entry_filter, person_id, now, None, ctx):
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

    # -- walking steps ---------------------------------------------------------------------

    def _go(
        self, journey: Journey, version: CampaignVersion, step_id: str | None, at: int, ctx: _Ctx
    ) -> int:
        """Move to `step_id` at `at` and run steps until one waits or the journey ends.

        Returns:
            The number of steps reached.
        """
        reached = 0
        target: str | None = step_id
        while journey.state == "active":
            if reached >= _MAX_STEPS_AT_ONCE:
                self._end(journey, at, "too_many_steps")
                break
            if target is None:
                self._end(journey, at, "completed")
                break
            place = version.places.get(target)
            if place is None:
                self._end(journey, at, "step_removed")
                break
            journey.step_id, journey.step_since, journey.next_due_at = target, at, None
            journey.path.append(target)
            reached += 1
            self._log(at, journey, "step.reached", target, {"type": place.step.kind})
            outcome = self._arrive(journey, version, place, at, ctx)
            if outcome is _WAIT:
                break
            target = outcome  # type: ignore[assignment]
        return reached

    def _arrive(
        self, journey: Journey, version: CampaignVersion, place: Place, at: int, ctx: _Ctx
    ) -> object:
        """Run one step on arrival. Returns the next step id (None: the end) or `_WAIT`."""
        step = place.step
        if step.send is not None:
            return self._send(journey, version, place, at, ctx)
        if step.delay is not None:
            person = self._person(journey.person_id, ctx)
            zone = person_zone(person.attributes, self.zone) if person else self.zone
            journey.next_due_at = add_delay(
                at, step.delay.ms, zone if step.delay.calendar else None
            )
            return _WAIT
        if step.delay_until is not None:
            target = self._delay_target(journey, step.delay_until, ctx)
            if target is None:
                self._log(at, journey, "step.skipped", step.id, {"reason": "no_time"})
                return place.next_id
            if target <= at:
                return place.next_id
            journey.next_due_at = target
            return _WAIT
        if step.time_window is not None:
            # Holds only the next message: remembered until a send uses it.
            journey.time_window = step.id
            return place.next_id
        if step.wait_until is not None:
            met, follow = self._wait_path(journey, version, place, at, ctx)
            if met:
                return follow
            spec = step.wait_until
            journey.next_due_at = None if spec.max_time is None else at + spec.max_time
            return _WAIT
        if step.branch is not None:
            condition = normalise(step.branch.if_)
            taken = self._holds(condition, journey.person_id, at, journey.entered_at, ctx)
            label, steps = ("then", step.branch.then) if taken else ("else", step.branch.else_)
            self._log(at, journey, "branch.taken", step.id, {"path": label})
            return version.entry_of(steps, place.next_id)
        if step.split is not None:
            for path in step.split.paths:
                if self._holds(
                    normalise(path.when), journey.person_id, at, journey.entered_at, ctx
                ):
                    self._log(at, journey, "branch.taken", step.id, {"path": path.id})
                    return version.entry_of(path.steps, place.next_id)
            self._log(at, journey, "branch.taken", step.id, {"path": "else"})
            return version.entry_of(step.split.else_, place.next_id)
        if step.random_cohort is not None:
            bucket = self._bucket(journey, ctx)
            total = 0.0
            paths = step.random_cohort.paths
            chosen = paths[-1]
            for cohort in paths:
                total += cohort.percent
                if bucket < total:
                    chosen = cohort
                    break
            self._log(at, journey, "branch.taken", step.id, {"path": chosen.id, "bucket": bucket})
            return version.entry_of(chosen.steps, place.next_id)
        if step.update_attributes is not None:
            self._update_attributes(journey, step.update_attributes, at, ctx)
            return place.next_id
        if step.exit is not None:
            self._end(journey, at, "exit_step")
            return _WAIT
        raise AssertionError(f"unhandled step type {step.kind}")

    def _resume(self, journey: Journey, ctx: _Ctx) -> int:
        """Continue a journey whose due time came: at that due time, not at the tick's."""
        version = self.versions.get(journey.campaign_id)
        at = journey.next_due_at
        if version is None or at is None:
            return 0
        journey.next_due_at = None
        place = version.places.get(journey.step_id or "")
        if place is None:
            self._end(journey, at, "step_removed")
            return 0
        step = place.step
        if step.send is not None:
            outcome = self._send(journey, version, place, at, ctx)
            return 0 if outcome is _WAIT else self._go(journey, version, outcome, at, ctx)  # type: ignore[arg-type]
        if step.wait_until is not None:
            self._log(at, journey, "wait.timed_out", step.id, {})
            return self._go(
                journey, version, version.entry_of(step.wait_until.timeout, place.next_id), at, ctx
            )
        return self._go(journey, version, place.next_id, at, ctx)

    def _wake(
        self, journey: Journey, version: CampaignVersion, place: Place, now: int, ctx: _Ctx
    ) -> None:
        met, target = self._wait_path(journey, version, place, now, ctx)
        if met:
            self._go(journey, version, target, now, ctx)

    def _wait_path(
        self, journey: Journey, version: CampaignVersion, place: Place, at: int, ctx: _Ctx
    ) -> tuple[bool, str | None]:
        """Whether a wait path is met at `at` (first met wins), and the step it leads to
        (None: the journey ends there)."""
        spec = place.step.wait_until
        assert spec is not None
        for path in spec.paths:
            if self._holds(normalise(path.when), journey.person_id, at, journey.entered_at, ctx):
                self._log(at, journey, "wait.met", place.step.id, {"path": path.id})
                return True, version.entry_of(path.steps, place.next_id)
        return False, None

    def _send(
        self, journey: Journey, version: CampaignVersion, place: Place, at: int, ctx: _Ctx
    ) -> object:
        step, campaign = place.step, version.campaign
        spec = step.send
        assert spec is not None
        # Exit policy, checked again right before each send.
        if "trigger_not_matched" in campaign.exit and not self._trigger_matches(
            journey, version, at, ctx
        ):
            self._end(journey, at, "trigger_not_matched")
            return _WAIT
        if journey.time_window is not None:
            window_place = version.places.get(journey.time_window)
            window = window_place.step.time_window if window_place else None
            if window is not None:
                person = self._person(journey.person_id, ctx)
                zone = person_zone(person.attributes, self.zone) if person else self.zone
                opens = next_window_open(
                    at,
                    window.weekdays,
                    parse_time_of_day(window.start),
                    parse_time_of_day(window.end),
                    zone,
                )
                if opens > at:
                    journey.next_due_at = opens
                    return _WAIT
            journey.time_window = None
        delivery = Delivery(
            key=f"{campaign.id}/{journey.id}/{step.id}",
            journey_id=journey.id,
            person_id=journey.person_id,
            campaign_id=campaign.id,
            step_id=step.id,
            template=spec.template,
            subject=spec.subject,
            created_at=at,
            from_address=spec.from_address or campaign.from_address,
            reply_to=spec.reply_to or campaign.reply_to,
        )
        if self.store.deliveries.queue(delivery):
            self._queued += 1
            self._log(at, journey, "message.queued", step.id, {"delivery": delivery.key})
        journey.last_message_at = at
        return place.next_id

    def still_eligible(self, journey: Journey, now: int) -> bool:
        """The exit policy's check right before a send (DESIGN.md §4): False when the
        campaign exits people who no longer match its trigger and this one does not."""
        version = self.versions.get(journey.campaign_id)
        if version is None or "trigger_not_matched" not in version.campaign.exit:
            return True
        return self._trigger_matches(journey, version, now, _Ctx())

    # -- facts and conditions --------------------------------------------------------------

    def _person(self, person_id: int, ctx: _Ctx) -> Person | None:
        if person_id not in ctx.people:
            ctx.people[person_id] = self.store.people.get(person_id)
        return ctx.people[person_id]

    def _facts(self, person_id: int, ctx: _Ctx) -> PersonFacts:
        if person_id not in ctx.facts:
            person = self._person(person_id, ctx)
            rows = self.store.events.facts(person_id, self._names) if person else []
            ctx.facts[person_id] = PersonFacts.build(
                person.attributes if person else {}, person.created_at if person else 0, rows
            )
        return ctx.facts[person_id]

    def _holds(
        self, condition: Condition, person_id: int, at: int, entry_at: int | None, ctx: _Ctx
    ) -> bool:
        return self.evaluator.matches(condition, self._facts(person_id, ctx), at, entry_at)

    def _trigger_matches(
        self, journey: Journey, version: CampaignVersion, at: int, ctx: _Ctx
    ) -> bool:
        trigger = version.campaign.trigger
        if isinstance(trigger, SegmentTrigger):
            # The segment's condition at `at`, not the stored membership: a change with
            # time alone (a login leaving a 7-day window) is only stored by the next
            # sweep, which may not have run before this send.
            if trigger.segment_id in self.segments.conditions:
                ref = SegmentRef(in_segment=trigger.segment_id)
                inside = self._holds(ref, journey.person_id, at, None, ctx)
            else:
                inside = trigger.segment_id in self.store.segments.memberships(journey.person_id)
            return inside if trigger.segment_entered is not None else not inside
        entry_filter = version.entry_filter
        return entry_filter is None or self._holds(
            entry_filter, journey.person_id, at, journey.entered_at, ctx
        )

    def _converted(self, journey: Journey, version: CampaignVersion, now: int, ctx: _Ctx) -> bool:
        goal = version.campaign.goal
        assert goal is not None
        start = journey.entered_at if goal.counted_from == "entry" else journey.last_message_at
        if start is None or now > start + goal.within:
            return False
        if goal.segment_entered is not None:
            since = self.store.segments.memberships(journey.person_id).get(goal.segment_entered)
            return since is not None and start <= since <= start + goal.within
        condition = EventCondition.model_construct(
            performed=goal.performed,
            where=goal.where,
            within=None,
            since=None,
            between=(start, start + goal.within + 1),
            at_least=None,
            at_most=None,
            exactly=None,
        )
        return self.evaluator.matches(condition, self._facts(journey.person_id, ctx), now)

    def _delay_target(self, journey: Journey, spec: Any, ctx: _Ctx) -> int | None:
        if spec.trigger_time:
            base = journey.trigger_event.get("timestamp")
            return None if base is None else int(base) + spec.offset
        if spec.event_property is not None:
            value = resolve_path(journey.trigger_event.get("properties", {}), spec.event_property)
        else:
            person = self._person(journey.person_id, ctx)
            value = resolve_path(person.attributes, spec.attribute) if person else None
        instant = instant_of(value)
        return None if instant is None else instant + spec.offset

    def _bucket(self, journey: Journey, ctx: _Ctx) -> float:
        """A stable number in [0, 100) from person and campaign: a replay, in any store,
        puts the same person in the same cohort."""
        person = self._person(journey.person_id, ctx)
        who = (person.external_id or person.email or "") if person else str(journey.person_id)
        digest = hashlib.sha256(f"{journey.campaign_id}:{who}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % 10_000 / 100

    def _update_attributes(
        self, journey: Journey, values: dict[str, Any], at: int, ctx: _Ctx
    ) -> None:
        person = self._person(journey.person_id, ctx)
        if person is None:
            return
        apply_traits(person.attributes, person.attribute_times, values, at)
        email = person.attributes.get("email")
        person.email = email if isinstance(email, str) and email else None
        person.updated_at = max(person.updated_at, at)
        self.store.people.update_many([person])
        ctx.facts.pop(person.id, None)
        self._log(at, journey, "attributes.updated", journey.step_id, {"set": values})
        moves = self.segments.refresh({person.id}, at)
        # A change like any other (DESIGN.md §4): the person's other journeys check their
        # goals, exits and waits at `at`, then segment moves may start new journeys.
        ctx.walking.add(journey.id)
        try:
            for stored in self.store.journeys.for_people({person.id}):
                if stored.id not in ctx.walking:
                    self._react(ctx.journeys.setdefault(stored.id, stored), at, ctx)
        finally:
            ctx.walking.discard(journey.id)
        self._on_moves(moves, at, ctx)

    # -- ending and logging ----------------------------------------------------------------

    def _end(self, journey: Journey, at: int, reason: str) -> None:
        journey.state = "completed" if reason == "completed" else "exited"
        journey.ended_at, journey.exit_reason = at, reason
        journey.next_due_at = None
        kind = "journey.completed" if reason == "completed" else "journey.exited"
        self._log(at, journey, kind, journey.step_id, {"reason": reason})

    def _log(
        self, at: int, journey: Journey, kind: str, step: str | None, detail: dict[str, Any]
    ) -> None:
        self._activity.append(
            (
                at,
                journey.person_id,
                kind,
                journey.campaign_id,
                step,
                {"journey": journey.id, **detail},
            )
        )

    def _flush_activity(self) -> None:
        if self._activity:
            self.store.activity.record(self._activity)
            self._activity = []

    def _with_goals(self) -> list[str]:
        """Campaigns with a goal: only their ended journeys can still convert (`_react`
        does nothing to an ended journey of any other)."""
        return [cid for cid, v in self.versions.items() if v.campaign.goal is not None]

    def _live(self) -> list[CampaignVersion]:
        return [v for v in self.versions.values() if v.campaign.state == "active"]


#: Returned by a step that holds the journey (it waits, or it ended).
_WAIT = object()


def _describe_trigger(version: CampaignVersion) -> str:
    trigger = version.campaign.trigger
    if isinstance(trigger, EventTrigger):
        return f"event {trigger.event}"
    if isinstance(trigger, SegmentTrigger):
        verb = "entered" if trigger.segment_entered is not None else "exited"
        return f"segment {trigger.segment_id} {verb}"
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
