"""A test send (`send_test`) reaches only its test address, on a retry too, and what
happens at that address (a bounce) is not held against the person whose data it used.

The console's Deliveries screen retries through the same `retry_delivery`, and its
scheduler sends through the same `Outbox`, so these cover it too.
"""

from __future__ import annotations

from pathlib import Path

from app.service.deliveries import retry_delivery, send_test
from tests.service.engine_kit import HOUR
from tests.service.test_outbox import T, rig


async def test_a_bounced_test_retried_goes_to_its_test_address_and_spares_the_person(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, reject=("qa@example.com",)) as r:
        r.sign_up(T, "ana", email="ana@example.com", first_name="Ana")
        await r.tick(T)
        assert [to for _k, to, _s in r.received()] == ["ana@example.com"]  # her hello

        test, _ = await send_test(r.outbox, "onboard", "hello", "ana", T + HOUR, "qa@example.com")
        assert (test.state, test.to_address) == ("bounced", "qa@example.com")
        ana = r.ws.store.people.by_external_id("ana")
        # The test address bounced, not Ana's: she is not suppressed.
        assert ana is not None and not ana.suppressed

        retry_delivery(r.ws.store, str(test.id), T + 2 * HOUR)
        await r.tick(T + 2 * HOUR)
        again = r.delivery(test.key)
        assert (again.state, again.to_address, again.attempts) == (
            "bounced",
            "qa@example.com",
            2,
        )
        # Nothing more reached the sink: the retry went to qa@ (refused), never to Ana.
        assert [to for _k, to, _s in r.received()] == ["ana@example.com"]
        ana = r.ws.store.people.by_external_id("ana")
        assert ana is not None and not ana.suppressed
