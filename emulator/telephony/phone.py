"""Virtual phones: numbers of any kind and zone that ring, answer and hang up in simulated time."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from profiles.clock import Clock, Timer


class PhoneCall(Protocol):
    """A call as a phone sees it: what the phone tells it (the core's calls, or a box's line)."""

    def answered_by_phone(self, phone: VirtualPhone) -> None: ...
    def rejected_by_phone(self, phone: VirtualPhone) -> None: ...
    def hung_up_by_phone(self, phone: VirtualPhone) -> None: ...


class PhoneState(enum.StrEnum):
    IDLE = "idle"
    RINGING = "ringing"  # a call rings this phone
    CALLING = "calling"  # this phone placed a call that is not answered yet
    IN_CALL = "in-call"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How a phone treats the calls that ring it when nobody drives it by hand.

    `answer_after_s` None: it rings until the caller gives up (or the network forwards on no
    answer). `busy`: it refuses every call as busy (486). `hang_up_after_s`: once answered, it
    hangs up after that long (None: the other side or the test hangs up).
    """

    answer_after_s: float | None = 0.0
    busy: bool = False
    hang_up_after_s: float | None = None


#: A phone nobody answers.
NO_ANSWER = Behaviour(answer_after_s=None)
#: A phone that is always busy.
BUSY = Behaviour(busy=True)


@dataclass(eq=False)
class VirtualPhone:
    """A phone on a number the lab owns, driven from Python.

    The operator core rings it (`offer`); it answers, rejects or lets ring by its `behaviour`
    or by the test's hand (`answer`, `reject`, `hang_up`). It can also place calls (`dial`,
    through the core it is attached to). Every wait is on the injected clock.

    >>> phone = core.add_phone("+33612345678", Behaviour(answer_after_s=3))  # doctest: +SKIP
    >>> call = await core.phone("+33145000000").dial("+33612345678")           # doctest: +SKIP
    """

    number: str
    clock: Clock
    behaviour: Behaviour = field(default_factory=Behaviour)
    name: str = ""
    #: Set by the operator core: places a call from this phone.
    dialler: Callable[[VirtualPhone, str], PhoneCall] | None = None
    state: PhoneState = PhoneState.IDLE
    call: PhoneCall | None = None
    #: What the phone showed for each call that rang it: the caller as presented.
    shown: list[str] = field(default_factory=list)
    _timer: Timer | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # -- what the network does to the phone -------------------------------------------------

    def offer(self, call: PhoneCall, presented: str) -> bool:
        """A call rings the phone; False when it cannot ring (the phone is in a call: busy)."""
        if self.behaviour.busy or self.state is not PhoneState.IDLE:
            return False
        self.call = call
        self.shown.append(presented)
        self._set(PhoneState.RINGING)
        if self.behaviour.answer_after_s is not None:
            self._after(self.behaviour.answer_after_s, self.answer)
        return True

    def connected(self) -> None:
        """The call this phone placed or answered is connected."""
        self._set(PhoneState.IN_CALL)
        if self.behaviour.hang_up_after_s is not None:
            self._after(self.behaviour.hang_up_after_s, self.hang_up)

    def released(self) -> None:
        """The call ended from the network's side (the other party hung up, or gave up)."""
        self._cancel_timer()
        self.call = None
        self._set(PhoneState.IDLE)

    # -- what a person (or a test) does with the phone --------------------------------------

    def dial(self, number: str) -> PhoneCall:
        """Place a call to `number`; returns the call, whose events can be awaited."""
        if self.dialler is None:
            raise RuntimeError(f"phone {self.number} is not attached to an operator core")
        if self.state is not PhoneState.IDLE:
            raise RuntimeError(f"phone {self.number} is {self.state}, not idle")
        self._set(PhoneState.CALLING)
        call = self.dialler(self, number)
        self.call = call
        return call

    def answer(self) -> None:
        if self.state is PhoneState.RINGING and self.call is not None:
            self._cancel_timer()
            self.call.answered_by_phone(self)

    def reject(self) -> None:
        """Refuse the ringing call as busy (the caller hears busy, or is forwarded on busy)."""
        if self.state is PhoneState.RINGING and self.call is not None:
            call = self.call
            self.released()
            call.rejected_by_phone(self)

    def hang_up(self) -> None:
        if self.call is not None:
            call = self.call
            self.released()
            call.hung_up_by_phone(self)

    async def wait_for(self, state: PhoneState) -> None:
        """Return once the phone is in `state` (now or later)."""
        while self.state is not state:
            self._changed.clear()
            await self._changed.wait()

    # -- internals --------------------------------------------------------------------------

    def _set(self, state: PhoneState) -> None:
        self.state = state
        self._changed.set()

    def _after(self, seconds: float, action: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = self.clock.call_later(seconds, action)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
