"""Operator actions on the outbox: list, show, retry, send a test."""

from __future__ import annotations

from app.core.errors import NotFound, NudgeError
from app.core.models import Delivery
from app.service.outbox import Outbox, SendReport
from app.service.people import find_person
from app.store import Store

RETRYABLE = ("failed", "undeliverable", "bounced", "limited", "suppressed")


def get_delivery(store: Store, key: str) -> Delivery:
    """A delivery by row id or by delivery key.

    Raises:
        NotFound: when neither matches.
    """
    found = store.deliveries.get(int(key)) if key.isdigit() else store.deliveries.by_key(key)
    if found is None:
        raise NotFound(f"no delivery {key!r}")
    return found


def retry_delivery(store: Store, key: str, now: int) -> Delivery:
    """Queue a delivery that ended without being sent again, due at `now` (ms UTC).

    Raises:
        NotFound: for an unknown delivery.
        NudgeError: when it was sent, or is queued or being sent already.
    """
    delivery = get_delivery(store, key)
    if delivery.state not in RETRYABLE:
        raise NudgeError(
            f"delivery {delivery.id} is {delivery.state}; "
            f"only {', '.join(RETRYABLE)} can be retried"
        )
    with store.transaction():
        previous = delivery.state
        delivery.state, delivery.next_attempt_at, delivery.reason = "queued", now, None
        if previous == "bounced" and not delivery.test:
            # The operator says the address works again. (A test's bounce did not
            # suppress the person: see `Outbox._settle`.)
            store.people.set_flags(delivery.person_id, suppressed=False)
        store.deliveries.save(delivery)
        store.activity.record(
            [
                (
                    now,
                    delivery.person_id,
                    "message.retry_requested",
                    delivery.campaign_id,
                    delivery.step_id,
                    {"delivery": delivery.key, "was": previous},
                )
            ]
        )
    return delivery


async def send_test(
    outbox: Outbox, campaign_id: str, step_id: str, person_key: str, now: int, to: str | None
) -> tuple[Delivery, SendReport]:
    """Render a campaign step with a person's data and send it now, marked as a test (not
    counted in limits or metrics; no journey).

    Raises:
        NotFound: for an unknown campaign, step or person.
        NudgeError: when the step does not send.
    """
    store, engine = outbox.store, outbox.engine
    version = engine.versions.get(campaign_id)
    if version is None:
        raise NotFound(f"no campaign {campaign_id!r}")
    place = version.places.get(step_id)
    if place is None:
        raise NotFound(f"campaign {campaign_id} has no step {step_id!r}")
    spec = place.step.send
    if spec is None:
        raise NudgeError(f"step {step_id} is a {place.step.kind} step, not a send")
    person = find_person(store, person_key)
    delivery = Delivery(
        key=f"test/{campaign_id}/{step_id}/{person.id}/{now}",
        journey_id=None,
        person_id=person.id,
        campaign_id=campaign_id,
        step_id=step_id,
        template=spec.template,
        subject=spec.subject,
        created_at=now,
        from_address=spec.from_address or version.campaign.from_address,
        reply_to=spec.reply_to or version.campaign.reply_to,
        test=True,
    )
    with store.transaction():
        if not store.deliveries.queue(delivery):
            raise NudgeError("a test of this step for this person was just sent; try again")
        if to is not None:
            # The test goes to the given address instead of the person's.
            delivery.to_address = to
            store.deliveries.save(delivery)
    report = await outbox.send_due(now, limit=1, only=delivery.id, to_override=to)
    sent = store.deliveries.get(delivery.id)
    assert sent is not None
    return sent, report
