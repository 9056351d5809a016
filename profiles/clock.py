"""Time, injected: a real clock for production, a simulated one that labs and tests jump forward."""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """What everything that stamps a time or waits takes instead of calling `time` itself."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for deadlines and durations."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` in the event loop after `seconds` of this clock's time.

        For protocol timers that fire thousands of times a second, where a task per wait
        would cost too much.
        """
        ...


class Timer(Protocol):
    """A pending `call_later`."""

    def cancel(self) -> None: ...


class RealClock:
    """The wall clock and asyncio's own timers."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, seconds), callback)


class _SimulatedTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def done(self) -> bool:
        return self.cancelled


class SimulatedClock:
    """A clock that stands still until told to move, then wakes whoever's time has come.

    >>> clock = SimulatedClock(dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC))
    >>> await clock.advance(3600)       # doctest: +SKIP  (wakes sleepers due within the hour)

    Sleepers wake in deadline order, each at its own deadline: when `advance` passes several
    deadlines, the clock stops at each one and lets the woken tasks run before going on, so that
    what they do next (sleep again, stamp a time) sees the right moment.
    """

    def __init__(self, start: dt.datetime | None = None) -> None:
        start = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs a timezone-aware start")
        self._epoch = start.astimezone(dt.UTC)
        self._elapsed = 0.0
        self._order = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None] | _SimulatedTimer]] = []

    def now(self) -> dt.datetime:
        return self._epoch + dt.timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._order), future))
        await future

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        if seconds <= 0:  # due now: runs at the loop's next turn, as on a real clock
            return asyncio.get_running_loop().call_soon(callback)
        timer = _SimulatedTimer(callback)
        heapq.heappush(
            self._sleepers, (self._elapsed + max(0.0, seconds), next(self._order), timer)
        )
        return timer

    def next_deadline(self) -> float | None:
        """The monotonic reading of the next sleeper or timer due, None when none waits."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    @property
    def pending(self) -> int:
        """How many sleepers and timers wait (cancelled ones excluded)."""
        return sum(1 for *_, future in self._sleepers if not future.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking every sleeper due on the way."""
        if seconds < 0:
            raise ValueError("time does not go back")
        await self.advance_to(self._elapsed + seconds)

    async def advance_to(self, when: float | dt.datetime) -> None:
        """Move to a monotonic reading or to an aware datetime, waking sleepers on the way."""
        target = (when - self._epoch).total_seconds() if isinstance(when, dt.datetime) else when
        if target < self._elapsed:
            raise ValueError("time does not go back")
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, waiter = heapq.heappop(self._sleepers)
            self._elapsed = max(self._elapsed, deadline)
            if waiter.done():
                continue
            if isinstance(waiter, _SimulatedTimer):
                waiter.cancelled = True  # fired: a late cancel() is harmless
                _run_timer(waiter.callback)
            else:
                waiter.set_result(None)
            await _let_woken_tasks_run()
        self._elapsed = target
        await _let_woken_tasks_run()


def _run_timer(callback: Callable[[], None]) -> None:
    # As the event loop does for its own timers: a failing callback is reported, time goes on.
    try:
        callback()
    except Exception as exc:
        asyncio.get_running_loop().call_exception_handler(
            {"message": "simulated timer callback failed", "exception": exc}
        )


async def _let_woken_tasks_run() -> None:
    # A few loop turns let a woken task reach its next await (which may be another sleep).
    for _ in range(3):
        await asyncio.sleep(0)
