"""The token bucket, on an injected clock: arithmetic only, no real waiting."""

from __future__ import annotations

import asyncio

import pytest

from app.delivery import RateLimiter
from tests.delivery.conftest import FakeTime


@pytest.mark.parametrize(
    ("count", "rate", "burst"),
    [(25, 10.0, 1.0), (25, 10.0, 5.0), (7, 2.0, 1.0), (100, 40.0, 4.0), (3, 1.0, 3.0)],
)
async def test_n_messages_at_rate_r_take_n_minus_burst_over_r(
    count: int, rate: float, burst: float
) -> None:
    time = FakeTime()
    limiter = RateLimiter(rate, burst, clock=time.clock, sleep=time.sleep)
    for _ in range(count):
        await limiter.acquire()
    assert time.now == pytest.approx((count - burst) / rate)
    assert sum(time.sleeps) == pytest.approx((count - burst) / rate)
    # After the burst, every message waits exactly one interval.
    assert all(s == pytest.approx(1 / rate) for s in time.sleeps)


async def test_concurrent_callers_reserve_distinct_slots() -> None:
    # A sleep that does not move the clock: all callers arrive at the same instant.
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    limiter = RateLimiter(10.0, 2.0, clock=lambda: 0.0, sleep=record)
    got = await asyncio.gather(*(limiter.acquire() for _ in range(12)))

    assert sorted(got) == pytest.approx([0.0, 0.0] + [k / 10 for k in range(1, 11)])
    assert sorted(waits) == pytest.approx([k / 10 for k in range(1, 11)])


async def test_an_idle_spell_refills_the_bucket_to_burst_and_no_more() -> None:
    time = FakeTime()
    limiter = RateLimiter(5.0, 3.0, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        await limiter.acquire()
    assert time.sleeps == []
    time.now += 100.0  # a long pause saves up no more than `burst`
    for _ in range(5):
        await limiter.acquire()
    assert time.sleeps == pytest.approx([0.2, 0.2])


async def test_zero_rate_means_no_limit() -> None:
    time = FakeTime()
    limiter = RateLimiter(0.0, clock=time.clock, sleep=time.sleep)
    for _ in range(1000):
        assert await limiter.acquire() == 0.0
    assert time.sleeps == []


def test_burst_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(10.0, 0.5)


async def test_default_clock_is_the_event_loop() -> None:
    limiter = RateLimiter(1000.0)
    assert abs(limiter.now() - asyncio.get_running_loop().time()) < 1.0
    assert await limiter.acquire() == 0.0
