"""The injected clock: simulated time wakes sleepers and fires timers in deadline order."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from profiles.clock import RealClock, SimulatedClock

START = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)


async def test_sleepers_and_timers_wake_in_deadline_order_each_at_its_own_time() -> None:
    clock = SimulatedClock(START)
    seen: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        seen.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper("b", 20)), asyncio.create_task(sleeper("a", 5))]
    await asyncio.sleep(0)
    clock.call_later(10, lambda: seen.append(("timer", clock.monotonic())))
    await clock.advance(60)
    await asyncio.gather(*tasks)
    assert seen == [("a", 5.0), ("timer", 10.0), ("b", 20.0)]
    assert clock.now() == START + dt.timedelta(seconds=60)
    assert clock.pending == 0


async def test_a_timer_due_now_runs_at_the_next_turn_of_the_loop() -> None:
    clock = SimulatedClock(START)
    fired: list[float] = []
    clock.call_later(0, lambda: fired.append(clock.monotonic()))
    await asyncio.sleep(0)
    assert fired == [0.0]


async def test_a_cancelled_timer_never_fires() -> None:
    clock = SimulatedClock(START)
    fired: list[int] = []
    timer = clock.call_later(1, lambda: fired.append(1))
    assert clock.pending == 1
    timer.cancel()
    assert clock.pending == 0
    await clock.advance(5)
    assert fired == []


async def test_a_timer_set_by_a_timer_fires_within_the_same_advance() -> None:
    clock = SimulatedClock(START)
    fired: list[float] = []

    def again() -> None:
        fired.append(clock.monotonic())
        if len(fired) < 3:
            clock.call_later(2, again)

    clock.call_later(2, again)
    await clock.advance(10)
    assert fired == [2.0, 4.0, 6.0]


async def test_a_failing_timer_is_reported_and_time_goes_on() -> None:
    clock = SimulatedClock(START)
    reported: list[BaseException | None] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda _loop, context: reported.append(context.get("exception"))
    )
    fired: list[int] = []

    def broken() -> None:
        raise RuntimeError("boom")

    clock.call_later(1, broken)
    clock.call_later(2, lambda: fired.append(2))
    await clock.advance(3)
    assert [str(error) for error in reported] == ["boom"]
    assert fired == [2]


async def test_time_does_not_go_back() -> None:
    clock = SimulatedClock(START)
    with pytest.raises(ValueError, match="time does not go back"):
        await clock.advance(-1)


def test_a_simulated_clock_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(dt.datetime(2026, 1, 1))


async def test_the_real_clock_runs_timers_in_the_event_loop() -> None:
    clock = RealClock()
    done = asyncio.get_running_loop().create_future()
    clock.call_later(0, lambda: done.set_result(clock.monotonic()))
    assert await asyncio.wait_for(done, 5) <= clock.monotonic()


async def test_the_next_deadline_skips_cancelled_timers() -> None:
    clock = SimulatedClock(START)
    assert clock.next_deadline() is None
    first = clock.call_later(5, lambda: None)
    clock.call_later(9, lambda: None)
    assert clock.next_deadline() == 5.0
    first.cancel()
    assert clock.next_deadline() == 9.0
