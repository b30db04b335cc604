"""Campaign definitions in words, one line each, for reports and the console:
`send welcome_hello "Welcome!"`, `performed project_created since entry`.

Pure: reads the models, formats durations and instants, nothing else.
"""

from __future__ import annotations

from app.core.campaigns import (
    BroadcastTrigger,
    CampaignVersion,
    DateTrigger,
    EventTrigger,
    SegmentTrigger,
    Step,
)
from app.core.conditions import (
    All,
    Any_,
    AttributeCondition,
    Condition,
    EventCondition,
    Not,
    NotPerformed,
    PropertyFilter,
    SegmentRef,
    Test,
    TimeRef,
    TriggerRef,
)
from app.core.times import format_duration, format_instant


def describe_step(step: Step) -> str:
    """What a step does, in a few words: `send welcome_hello "Welcome!"`, `delay 2d`."""
    if step.send is not None:
        return f"send {step.send.template} {_quoted(step.send.subject)}"
    if step.delay is not None:
        return f"delay {format_duration(step.delay.ms)}"
    if step.delay_until is not None:
        spec = step.delay_until
        if spec.span is not None:
            start, end = spec.span
            return f"delay until {spec.at:g}% of {start} to {end}{_offset(spec.offset)}"
        base = (
            "the trigger event's time"
            if spec.trigger_time
            else f"event property {spec.event_property}"
            if spec.event_property is not None
            else f"attribute {spec.attribute}"
        )
        return f"delay until {base}{_offset(spec.offset)}"
    if step.time_window is not None:
        window = step.time_window
        return f"time window {', '.join(window.days)} {window.start}-{window.end}"
    if step.wait_until is not None:
        limit = step.wait_until.max_time
        return "wait until" + ("" if limit is None else f", at most {format_duration(limit)}")
    if step.branch is not None:
        return f"branch if {describe_condition(step.branch.if_)}"
    if step.split is not None:
        return "split, first match wins"
    if step.random_cohort is not None:
        return "random cohort"
    if step.update_attributes is not None:
        return "update attributes " + ", ".join(sorted(step.update_attributes))
    return "exit"


def describe_path(step: Step, label: str) -> str:
    """When a labelled way out of a step is taken (`when <condition>`, `after 36h`,
    `25%`), or '' when the label says it all (`then`, `else`, a timeout without one)."""
    if step.wait_until is not None:
        if label == "timeout":
            limit = step.wait_until.max_time
            return "" if limit is None else f"after {format_duration(limit)}"
        wait_path = next(p for p in step.wait_until.paths if p.id == label)
        return f"when {describe_condition(wait_path.when)}"
    if step.split is not None and label != "else":
        split_path = next(p for p in step.split.paths if p.id == label)
        return f"when {describe_condition(split_path.when)}"
    if step.random_cohort is not None:
        cohort = next(p for p in step.random_cohort.paths if p.id == label)
        return f"{cohort.percent:g}%"
    return ""


def describe_trigger(version: CampaignVersion) -> str:
    """A campaign's trigger in words: `event signed_up where plan equals 'trial'`."""
    trigger = version.campaign.trigger
    if isinstance(trigger, EventTrigger):
        text = f"event {' or '.join(trigger.events)}{_where(trigger.where)}"
        return text + (f", one journey per {trigger.key}" if trigger.key else "")
    if isinstance(trigger, SegmentTrigger):
        verb = "entered" if trigger.segment_entered is not None else "left"
        audience = trigger.audience.replace("_", " ")
        return f"{verb} segment {trigger.segment_id} ({audience})"
    if isinstance(trigger, BroadcastTrigger):
        spec = trigger.broadcast
        return f"broadcast to segment {spec.segment} at {format_instant(spec.at)}"
    assert isinstance(trigger, DateTrigger)
    return f"date {trigger.date.attribute}{_offset(trigger.date.offset)}"


def describe_goal(version: CampaignVersion) -> str | None:
    """A campaign's conversion goal in words, or None without one."""
    goal = version.campaign.goal
    if goal is None:
        return None
    what = (
        f"performed {goal.performed}{_where(goal.where)}"
        if goal.performed is not None
        else f"entered segment {goal.segment_entered}"
    )
    start = "entry" if goal.counted_from == "entry" else "the last message"
    return f"{what} within {format_duration(goal.within)} of {start}"


def describe_condition(condition: Condition) -> str:
    """A condition on one line, close to how it is written: `performed x since entry`."""
    if isinstance(condition, All | Any_):
        parts = condition.all if isinstance(condition, All) else condition.any
        word = "all of" if isinstance(condition, All) else "any of"
        return f"{word} ({'; '.join(describe_condition(c) for c in parts)})"
    if isinstance(condition, Not):
        return f"not ({describe_condition(condition.not_)})"
    if isinstance(condition, SegmentRef):
        negate = "not " if condition.not_in_segment is not None else ""
        return f"{negate}in segment {condition.segment_id}"
    if isinstance(condition, AttributeCondition):
        return f"{condition.attribute} {_test(condition.test)}"
    if isinstance(condition, EventCondition):
        text = f"performed {condition.performed}"
        op, n = condition.count_test
        if (op, n) != (">=", 1):
            text += {">=": " at least", "<=": " at most", "==": " exactly"}[op] + f" {n} times"
    else:
        assert isinstance(condition, NotPerformed)
        text = f"not performed {condition.not_performed}"
    text += _where(condition.where)
    if condition.within is not None:
        text += f" within {format_duration(condition.within)}"
    elif condition.since == "entry":
        text += " since entry"
    elif condition.between is not None:
        start, end = condition.between
        text += f" between {format_instant(start)} and {format_instant(end)}"
    return text


def _where(filters: list[PropertyFilter]) -> str:
    if not filters:
        return ""
    return " where " + " and ".join(f"{f.property} {_test(f.test)}" for f in filters)


def _test(test: Test) -> str:
    operand = test.operand
    if test.operator in ("exists", "missing"):
        return test.operator
    if isinstance(operand, TimeRef):
        if operand.at is not None:
            return f"{test.operator} {format_instant(operand.at)}"
        offset = operand.offset or 0
        when = "now" if offset == 0 else format_duration(abs(offset))
        when += "" if offset == 0 else (" ago" if offset < 0 else " from now")
        return f"{test.operator} {when}"
    if isinstance(operand, TriggerRef):
        return f"{test.operator} the trigger event's {operand.trigger}"
    return f"{test.operator} {operand!r}"


def _quoted(text: str, limit: int = 48) -> str:
    """A subject in double quotes, cut at `limit` characters (the tree stays readable)."""
    return '"' + (text if len(text) <= limit else text[: limit - 1] + "…") + '"'


def _offset(ms: int) -> str:
    if ms == 0:
        return ""
    return f" {'-' if ms < 0 else '+'} {format_duration(abs(ms))}"
