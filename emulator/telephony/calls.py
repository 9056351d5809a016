"""One call through the operator core: its sides, forwarding, redirection and its records."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from emulator.telephony.forwarding import (
    Diversions,
    ForwardingLoop,
    ForwardingRules,
    Hop,
    TooManyHops,
)
from emulator.telephony.phone import VirtualPhone
from profiles.clock import Clock, Timer
from profiles.model import LineName
from profiles.records import CallRecord, Disposition, ForwardReason

NO_RULES = ForwardingRules()
#: The operator core as a party of a call's ladder diagram.
CORE = "core"


class Origin(Protocol):
    """The calling side as the call drives it (a SIP caller, or a virtual phone)."""

    phone: VirtualPhone | None

    def ringing(self) -> None: ...
    def connected(self, answer: bytes) -> None: ...
    def failed(self, status: int) -> None: ...
    def released(self) -> None: ...


class Attempt(Protocol):
    """One try at reaching a number (a registered SIP user agent, or a virtual phone)."""

    phone: VirtualPhone | None

    def start(self, offer: bytes) -> None: ...
    def cancel(self) -> None: ...
    def release(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CustomerLine:
    """A line of a customer of the lab: what it places or forwards is charged to `account`."""

    account: str
    line: LineName


@dataclass(slots=True)
class Destination:
    """What the network knows about a number when a call is for it."""

    number: str
    #: Opens an attempt at the number; None when no phone or line answers to it (404).
    open: Callable[[Call], Attempt] | None
    rules: ForwardingRules = NO_RULES
    #: False: a SIP line that is not registered.
    reachable: bool = True
    #: The classic line is down (a fault): its calls go to `continuity`, if set.
    down: bool = False
    continuity: str | None = None
    #: The classic line's voicemail answers after this many seconds of ringing.
    voicemail_after_s: int | None = None
    owner: CustomerLine | None = None


class Network(Protocol):
    """What a call needs from the operator core."""

    clock: Clock

    def destination(self, number: str) -> Destination: ...
    def voicemail(self, call: Call, number: str) -> Attempt: ...
    def media_offer(self) -> bytes: ...
    def finished(self, call: Call) -> None: ...


class CallState(enum.StrEnum):
    SETUP = "setup"
    RINGING = "ringing"
    CONNECTED = "connected"
    ENDED = "ended"


#: Final statuses that mean "busy" (forward on busy) and "nobody answered" (forward on no answer).
BUSY_STATUSES = frozenset({486, 600})
NO_ANSWER_STATUSES = frozenset({408, 480})


class Call:
    """A call from a caller to a dialled number, followed through forwarding to its end.

    The caller's side (`origin`) and the side being tried (`attempt`) report what happens;
    the call decides what comes next, as the operator's network does: ring, forward
    (unconditional, busy, no answer, chained up to a limit, loops refused), redirect a failed
    classic line to its continuity number, let voicemail answer, and at the end hand its legs
    to the network as call records.
    """

    def __init__(
        self,
        network: Network,
        origin: Origin,
        *,
        caller: str,
        dialled: str,
        offer: bytes,
        caller_line: CustomerLine | None = None,
        diversions: Diversions | None = None,
        label: str = "",
    ) -> None:
        self.network = network
        self.origin = origin
        self.caller = caller
        self.dialled = dialled
        self.offer = offer
        self.caller_line = caller_line
        self.diversions = diversions or Diversions(dialled)
        self.label = label
        #: What the caller heard from the exchange after a service code.
        self.announcement = ""
        self.state = CallState.SETUP
        self.started = network.clock.now()
        self.attempt: Attempt | None = None
        self.destination: Destination | None = None
        #: The number that answered (after forwarding), and how the call ended.
        self.answered_by: str | None = None
        self.status: int | None = None
        self.disposition: Disposition | None = None
        self.hop_owners: list[tuple[Hop, CustomerLine | None, dt.datetime]] = []
        self.records: list[CallRecord] = []
        self._answered_at: float | None = None
        self._ended_at: float | None = None
        self._timer: Timer | None = None
        self._ended = asyncio.Event()
        #: What happened, as arrows of a ladder diagram: (time, from, to, label).
        self.events: list[tuple[dt.datetime, str, str, str]] = []
        self._event(caller, CORE, f"INVITE {dialled}")

    def __repr__(self) -> str:
        return f"Call({self.caller} -> {self.dialled}, {self.state}, by={self.answered_by})"

    @property
    def duration_s(self) -> int:
        """Seconds from answer to hang-up, counting a started second as a whole one."""
        if self._answered_at is None:
            return 0
        end = self._ended_at if self._ended_at is not None else self.network.clock.monotonic()
        return math.ceil(end - self._answered_at - 1e-9)

    @property
    def hops(self) -> tuple[Hop, ...]:
        return self.diversions.hops

    async def wait_ended(self) -> None:
        """Return once the call has ended (now or later)."""
        await self._ended.wait()

    # -- the flow ---------------------------------------------------------------------------

    def start(self) -> None:
        self._try(self.dialled)

    def _event(self, source: str, target: str, label: str) -> None:
        self.events.append((self.network.clock.now(), source, target, label))

    @property
    def _callee(self) -> str:
        return self.destination.number if self.destination else self.dialled

    def _try(self, number: str) -> None:
        destination = self.network.destination(number)
        self.destination = destination
        rules = destination.rules
        if destination.open is None:
            self._fail(404)
        elif destination.down:
            if destination.continuity:
                self._forward(destination.continuity, ForwardReason.CONTINUITY)
            else:
                self._fail(503)
        elif rules.unconditional:
            self._forward(rules.unconditional, ForwardReason.UNCONDITIONAL)
        elif not destination.reachable:
            if rules.no_answer:
                self._forward(rules.no_answer, ForwardReason.NO_ANSWER)
            else:
                self._fail(480)
        else:
            self._event(CORE, number, "INVITE")
            self.attempt = destination.open(self)
            ring_for = rules.ring_timeout_s if rules.no_answer else destination.voicemail_after_s
            if ring_for:
                self._timer = self.network.clock.call_later(ring_for, self._no_answer)
            self.attempt.start(self.offer)

    def _forward(self, target: str, reason: ForwardReason) -> None:
        owner = self.destination.owner if self.destination else None
        try:
            hop = self.diversions.forward(target, reason)
        except ForwardingLoop:
            self._fail(482)
            return
        except TooManyHops:
            self._fail(483)
            return
        self.hop_owners.append((hop, owner, self.network.clock.now()))
        self._event(CORE, CORE, f"forwarded by {hop.forwarder} ({reason}) to {target}")
        self._try(target)

    def _no_answer(self) -> None:
        self._timer = None
        if self.state not in (CallState.SETUP, CallState.RINGING) or self.destination is None:
            return
        attempt, self.attempt = self.attempt, None
        if attempt is not None:
            self._event(CORE, self._callee, "CANCEL (no answer)")
            attempt.cancel()
        rules = self.destination.rules
        if rules.no_answer:
            self._forward(rules.no_answer, ForwardReason.NO_ANSWER)
        elif self.destination.voicemail_after_s:
            self._event(CORE, f"voicemail:{self.destination.number}", "INVITE")
            self.attempt = self.network.voicemail(self, self.destination.number)
            self.attempt.start(self.offer)
        else:
            self._fail(480)

    # -- what the tried side reports --------------------------------------------------------

    def callee_ringing(self, attempt: Attempt) -> None:
        if attempt is self.attempt and self.state is CallState.SETUP:
            self.state = CallState.RINGING
            self._event(self._callee, CORE, "180 Ringing")
            self._event(CORE, self.caller, "180 Ringing")
            self.origin.ringing()

    def callee_answered(self, attempt: Attempt, answer: bytes, number: str) -> None:
        if attempt is not self.attempt or self.state not in (CallState.SETUP, CallState.RINGING):
            attempt.release()  # a late answer, e.g. after the call moved on: hang it up
            return
        self._cancel_timer()
        self.state = CallState.CONNECTED
        self.answered_by = number
        self._event(number, CORE, "200 OK")
        self._event(CORE, self.caller, "200 OK")
        self._answered_at = self.network.clock.monotonic()
        self.origin.connected(answer)

    def callee_failed(self, attempt: Attempt, status: int) -> None:
        if attempt is not self.attempt or self.state not in (CallState.SETUP, CallState.RINGING):
            return
        self._cancel_timer()
        self.attempt = None
        self._event(self._callee, CORE, str(status))
        rules = self.destination.rules if self.destination else NO_RULES
        if status in BUSY_STATUSES and rules.busy:
            self._forward(rules.busy, ForwardReason.BUSY)
        elif status in NO_ANSWER_STATUSES and rules.no_answer:
            self._forward(rules.no_answer, ForwardReason.NO_ANSWER)
        else:
            self._fail(status)

    def callee_hung_up(self, attempt: Attempt) -> None:
        if attempt is self.attempt and self.state is CallState.CONNECTED:
            self._event(self.answered_by or self._callee, CORE, "BYE")
            self._event(CORE, self.caller, "BYE")
            self.origin.released()
            self._end(200)

    # -- what the calling side reports ------------------------------------------------------

    def caller_gave_up(self) -> None:
        """The caller hung up (or cancelled) before or after the answer."""
        if self.state is CallState.ENDED:
            return
        self._cancel_timer()
        attempt, self.attempt = self.attempt, None
        if self.state is CallState.CONNECTED:
            self._event(self.caller, CORE, "BYE")
            if attempt is not None:
                self._event(CORE, self.answered_by or self._callee, "BYE")
                attempt.release()
            self._end(200)
        else:
            self._event(self.caller, CORE, "CANCEL")
            if attempt is not None:
                self._event(CORE, self._callee, "CANCEL")
                attempt.cancel()
            self._end(487)

    # -- virtual phones report through the call ---------------------------------------------

    def answered_by_phone(self, phone: VirtualPhone) -> None:
        attempt = self.attempt
        if attempt is not None and attempt.phone is phone:
            self.callee_answered(attempt, self.network.media_offer(), phone.number)
            if self.state is CallState.CONNECTED and self.attempt is attempt:
                phone.connected()

    def rejected_by_phone(self, phone: VirtualPhone) -> None:
        attempt = self.attempt
        if attempt is not None and attempt.phone is phone:
            self.callee_failed(attempt, 486)

    def hung_up_by_phone(self, phone: VirtualPhone) -> None:
        if self.origin.phone is phone:
            self.caller_gave_up()
        elif self.attempt is not None and self.attempt.phone is phone:
            self.callee_hung_up(self.attempt)

    # -- calls that never ring -------------------------------------------------------------

    def refuse(self, status: int) -> None:
        """End the call before trying anyone (e.g. 484 for a number that is not one)."""
        self._fail(status)

    def completed_service(
        self, records: list[CallRecord], announcement: str, accepted: bool
    ) -> None:
        """The number dialled was a service code the exchange acted on (and charged)."""
        self.state = CallState.ENDED
        self.status = 200 if accepted else 403
        self.disposition = Disposition.ANSWERED if accepted else Disposition.FAILED
        self.announcement = announcement
        self._ended_at = self.network.clock.monotonic()
        self.records = records
        self._ended.set()
        self.network.finished(self)

    # -- the end ----------------------------------------------------------------------------

    def _fail(self, status: int) -> None:
        self._event(CORE, self.caller, str(status))
        self.origin.failed(status)
        self._end(status)

    def _end(self, status: int) -> None:
        if self.state is CallState.ENDED:
            return
        self._cancel_timer()
        answered = self.state is CallState.CONNECTED
        self.state = CallState.ENDED
        self.status = status
        self._ended_at = self.network.clock.monotonic()
        self.disposition = disposition_of(status, answered=answered)
        self.records = self._records()
        self._ended.set()
        self.network.finished(self)

    def _records(self) -> list[CallRecord]:
        """The legs charged to a customer's line: the call placed, and each forwarded leg.

        A forwarded leg is charged to the line that forwarded it (footnotes 3 and 15), for as
        long as the call lasts; calls that merely arrive at a line cost its owner nothing.
        """
        assert self.disposition is not None
        duration = self.duration_s
        records: list[CallRecord] = []
        if self.caller_line is not None:
            records.append(
                CallRecord(
                    start=self.started,
                    line=self.caller_line.line,
                    caller=self.caller,
                    callee=self.dialled,
                    duration_s=duration,
                    account=self.caller_line.account,
                    disposition=self.disposition,
                )
            )
        for hop, owner, at in self.hop_owners:
            if owner is None:
                continue
            records.append(
                CallRecord(
                    start=at,
                    line=owner.line,
                    caller=self.caller,
                    callee=hop.target,
                    duration_s=duration,
                    account=owner.account,
                    disposition=self.disposition,
                    forwarded_from=hop.forwarder,
                    forward_reason=hop.reason,
                )
            )
        return records

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def disposition_of(status: int, *, answered: bool) -> Disposition:
    if answered:
        return Disposition.ANSWERED
    if status in BUSY_STATUSES:
        return Disposition.BUSY
    if status in NO_ANSWER_STATUSES or status == 487:
        return Disposition.NO_ANSWER
    return Disposition.FAILED
