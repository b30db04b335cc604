"""Walking a journey through its steps: what each step does on arrival, when its
due time comes, and when the person changes. The engine (`app.service.engine`) owns
entering, reacting and advancing; this is the part that moves one journey along."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from app.core.attributes import apply_traits
from app.core.campaigns import (
    CampaignVersion,
    DelayUntilSpec,
    Goal,
    Place,
    SegmentTrigger,
)
from app.core.conditions import Condition, SegmentRef, normalise
from app.core.evaluate import Evaluator, PersonFacts, count_events
from app.core.models import Delivery, Journey, Person
from app.core.schedule import add_delay, next_window_open, parse_time_of_day, person_zone
from app.service.segments import Move, SegmentKeeper
from app.store import ActivityRow, Store

#: Customer.io: events older than 72 h when they arrive never start a journey.

#: A journey that runs this many steps in one go is stopped (a guard, not a feature).
_MAX_STEPS_AT_ONCE = 500
#: Returned by a step that holds the journey (it waits, or it ended).
_WAIT = object()


@dataclass(slots=True)
class _Ctx:
    """Per-call caches: people and their facts, loaded once; the journeys this call
    holds in memory (one object per journey, so a journey changed by another one's
    `update_attributes` is not written back stale); the journeys mid-walk."""

    people: dict[int, Person | None] = field(default_factory=dict)
    facts: dict[int, PersonFacts] = field(default_factory=dict)
    journeys: dict[int, Journey] = field(default_factory=dict)
    walking: set[int] = field(default_factory=set)


class StepWalker:
    """The step machine the engine inherits: arrival, resumption, waits, sends, facts
    and the activity log. It reads `store`, `segments`, `zone`, `versions`, `evaluator`
    and the other state the engine sets up."""

    store: Store
    segments: SegmentKeeper
    zone: ZoneInfo
    versions: dict[str, CampaignVersion]
    evaluator: Evaluator
    _names: set[str]
    _activity: list[ActivityRow]
    _queued: int

    # What an attribute update hands back to the engine (defined there).
    def _react(self, journey: Journey, now: int, ctx: _Ctx) -> None:
        raise NotImplementedError

    def _on_moves(self, moves: list[Move], now: int, ctx: _Ctx) -> None:
        raise NotImplementedError

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
            taken = self._holds(
                condition, journey.person_id, at, journey.entered_at, ctx, _props(journey)
            )
            label, steps = ("then", step.branch.then) if taken else ("else", step.branch.else_)
            self._log(at, journey, "branch.taken", step.id, {"path": label})
            return version.entry_of(steps, place.next_id)
        if step.split is not None:
            for path in step.split.paths:
                if self._holds(
                    normalise(path.when),
                    journey.person_id,
                    at,
                    journey.entered_at,
                    ctx,
                    _props(journey),
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
            if self._holds(
                normalise(path.when),
                journey.person_id,
                at,
                journey.entered_at,
                ctx,
                _props(journey),
            ):
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

    def _events_named(
        self, person_id: int, name: str, ctx: _Ctx
    ) -> list[tuple[int, dict[str, Any]]]:
        """A person's events `name`, (timestamp, properties): from the facts this call
        holds, else one read of just those (all a goal check needs: no person, no other
        names)."""
        facts = ctx.facts.get(person_id)
        if facts is not None:
            return facts.events.get(name, [])
        rows = self.store.events.facts(person_id, [name])
        return [(at, properties) for _, at, properties in rows]

    def _holds(
        self,
        condition: Condition,
        person_id: int,
        at: int,
        entry_at: int | None,
        ctx: _Ctx,
        trigger: dict[str, Any] | None = None,
    ) -> bool:
        return self.evaluator.matches(condition, self._facts(person_id, ctx), at, entry_at, trigger)

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
            entry_filter, journey.person_id, at, journey.entered_at, ctx, _props(journey)
        )

    def _converted(self, journey: Journey, version: CampaignVersion, now: int, ctx: _Ctx) -> bool:
        goal = version.campaign.goal
        assert goal is not None
        start = goal_start(journey, goal, now)
        if start is None:
            return False
        if goal.segment_entered is not None:
            since = self.store.segments.memberships(journey.person_id).get(goal.segment_entered)
            return since is not None and start <= since <= start + goal.within
        assert goal.performed is not None  # a goal is one of the two (the model checks)
        # Performed in [start, now]: `now` is inside the window (checked above).
        events = self._events_named(journey.person_id, goal.performed, ctx)
        return count_events(events, goal.where, start, now, now, _props(journey)) > 0

    def _delay_target(self, journey: Journey, spec: DelayUntilSpec, ctx: _Ctx) -> int | None:
        person = self._person(journey.person_id, ctx)
        return spec.target(journey.trigger_event, person.attributes if person else {})

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


def goal_start(journey: Journey, goal: Goal, now: int) -> int | None:
    """When the journey's goal window opened (entry or last message), or None when it is
    not open at `now` (no message yet, or the window has passed)."""
    start = journey.entered_at if goal.counted_from == "entry" else journey.last_message_at
    if start is None or now > start + goal.within:
        return None
    return start


def _props(journey: Journey) -> dict[str, Any] | None:
    """The trigger event's properties (for `{trigger: ...}` operands), or None."""
    properties = journey.trigger_event.get("properties") if journey.trigger_event else None
    return properties if isinstance(properties, dict) else None
