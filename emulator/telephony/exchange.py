"""The classic line on the operator's exchange: its star codes, network services and fee records."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from emulator.telephony.forwarding import ForwardingRules
from profiles.model import LineName
from profiles.numbering import DialledNumber, NumberingPlan, NumberKind
from profiles.records import CallRecord, ForwardReason

__all__ = [
    "TRANSFER_ACTIVATION",
    "TRANSFER_DEACTIVATION",
    "Action",
    "ClassicLine",
    "CodeOutcome",
    "Exchange",
    "Service",
    "ServiceCode",
    "parse_service_code",
]

#: Record kinds of the price annex's fees (footnote 3: each activation is charged).
TRANSFER_ACTIVATION: Final = "call-transfer-activation"
TRANSFER_DEACTIVATION: Final = "call-transfer-deactivation"


class Service(enum.StrEnum):
    TRANSFER_UNCONDITIONAL = "transfer-unconditional"
    TRANSFER_BUSY = "transfer-busy"
    TRANSFER_NO_ANSWER = "transfer-no-answer"
    CALL_WAITING = "call-waiting"


class Action(enum.StrEnum):
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class ServiceCode:
    """A star code as dialled: which service, what to do, and the number it names (as dialled)."""

    service: Service
    action: Action
    target: str | None = None


_SERVICE_OF_CODE: Final[Mapping[str, Service]] = {
    "21": Service.TRANSFER_UNCONDITIONAL,
    "67": Service.TRANSFER_BUSY,
    "61": Service.TRANSFER_NO_ANSWER,
    "43": Service.CALL_WAITING,
}
_KNOWN_CODES: Final = (
    "*21 (call transfer), *67 (call transfer on busy), *61 (call transfer on no answer),"
    " *43 (call waiting)"
)
_ACTION_NOUNS: Final[Mapping[Action, str]] = {
    Action.ACTIVATE: "activation",
    Action.DEACTIVATE: "deactivation",
    Action.QUERY: "query",
}
# Longest prefix first: '*#' is a query, not an activation of code '#...'.
_ACTIONS: Final = (("*#", Action.QUERY), ("*", Action.ACTIVATE), ("#", Action.DEACTIVATE))


def parse_service_code(dialled: str) -> ServiceCode | None:
    """The service code dialled, or None for an ordinary number.

    `*21*N#` / `#21#` / `*#21#` transfer all calls to N, stop, ask; `*67` is the same on busy,
    `*61` on no answer; `*43#` / `#43#` / `*#43#` turn call waiting on, off, ask. Anything that
    starts with '*' or '#' but is not one of these raises ValueError naming what is wrong.
    """
    text = dialled.strip()
    if not text or text[0] not in "*#":
        return None
    prefix, action = next((p, a) for p, a in _ACTIONS if text.startswith(p))
    body = text[len(prefix) :]
    if body and not text.endswith("#"):
        raise ValueError(f"{dialled!r} does not end with '#', as every service code does")
    code, star, target = body[:-1].partition("*")
    if not code:
        raise ValueError(
            f"{dialled!r} has no service code after {prefix!r}; known codes: {_KNOWN_CODES}"
        )
    service = _SERVICE_OF_CODE.get(code)
    if service is None:
        raise ValueError(
            f"{dialled!r}: {prefix}{code} is not a service code; known codes: {_KNOWN_CODES}"
        )
    transfer = service is not Service.CALL_WAITING
    if transfer and action is Action.ACTIVATE and not target:
        raise ValueError(f"{dialled!r} has no number: dial *{code}*number#")
    if not star:
        return ServiceCode(service, action)
    if not transfer:
        raise ValueError(f"{dialled!r}: call waiting takes no number: dial {prefix}{code}#")
    if action is not Action.ACTIVATE:
        raise ValueError(
            f"{dialled!r}: a {_ACTION_NOUNS[action]} takes no number: dial {prefix}{code}#"
        )
    digits = target.removeprefix("+")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"{dialled!r}: the number {target!r} may hold digits only")
    return ServiceCode(service, action, target)


@dataclass(frozen=True, slots=True)
class CodeOutcome:
    """What dialling a service code did: accepted or not, what the subscriber hears, fee records."""

    accepted: bool
    announcement: str
    records: tuple[CallRecord, ...] = ()


_REASON_OF_SERVICE: Final[Mapping[Service, ForwardReason]] = {
    Service.TRANSFER_UNCONDITIONAL: ForwardReason.UNCONDITIONAL,
    Service.TRANSFER_BUSY: ForwardReason.BUSY,
    Service.TRANSFER_NO_ANSWER: ForwardReason.NO_ANSWER,
}
_LABEL: Final[Mapping[Service, str]] = {
    Service.TRANSFER_UNCONDITIONAL: "Call transfer",
    Service.TRANSFER_BUSY: "Call transfer on busy",
    Service.TRANSFER_NO_ANSWER: "Call transfer on no answer",
    Service.CALL_WAITING: "Call waiting",
}
_WHICH_CALLS: Final[Mapping[Service, str]] = {
    Service.TRANSFER_UNCONDITIONAL: "all your calls",
    Service.TRANSFER_BUSY: "your calls while you are on the phone",
    Service.TRANSFER_NO_ANSWER: "the calls you do not answer",
}
_KIND_NAMES: Final[Mapping[NumberKind, str]] = {
    NumberKind.FIXED: "a fixed",
    NumberKind.MOBILE: "a mobile",
    NumberKind.IP: "an IP (09)",
    NumberKind.SPECIAL: "a special-rate",
    NumberKind.SHORT: "a short",
    NumberKind.EMERGENCY: "an emergency",
}
# Calls are not transferred to numbers the subscriber could not be charged a plain call to.
_NOT_TRANSFERABLE: Final = frozenset({NumberKind.SPECIAL, NumberKind.SHORT, NumberKind.EMERGENCY})
_METROPOLITAN: Final = "FR"


def _describe(number: DialledNumber) -> str:
    where = "" if number.region == _METROPOLITAN else f" of {number.region}"
    return f"{_KIND_NAMES[number.kind]} number{where}"


def _require_aware(moment: dt.datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} ({moment.isoformat()}) must carry a time zone")


class ClassicLine:
    """A classic (analogue) line of the exchange with its network services (footnotes 2-4, 15).

    `number` is kept in E.164. `transfer` holds the star-code transfers, `continuity` the
    number calls go to while the line is down (`up` False since `down_since`).
    """

    __slots__ = (
        "_plan",
        "account",
        "call_waiting",
        "continuity",
        "down_since",
        "name",
        "number",
        "outages",
        "transfer",
        "up",
        "voicemail",
        "voicemail_after_s",
    )

    def __init__(
        self,
        number: str,
        *,
        account: str = "",
        name: str = "",
        continuity: str | None = None,
        plan: NumberingPlan,
        call_waiting: bool = True,
        voicemail: bool = True,
        voicemail_after_s: int = 20,
    ) -> None:
        self._plan = plan
        try:
            own = plan.classify(number)
        except ValueError as exc:
            raise ValueError(f"classic line number: {exc}") from None
        if own.kind is not NumberKind.FIXED or own.region != _METROPOLITAN:
            raise ValueError(
                f"classic line number {number!r} is {_describe(own)};"
                " a classic line has a fixed number of metropolitan France"
            )
        if voicemail_after_s <= 0:
            raise ValueError(
                f"voicemail_after_s must be a positive number of seconds, not {voicemail_after_s}"
            )
        self.number = own.number
        self.account = account
        self.name = name
        self.call_waiting = call_waiting
        self.voicemail = voicemail
        self.voicemail_after_s = voicemail_after_s
        # One no-answer timer on the exchange, whether voicemail or a transfer then takes the call.
        self.transfer = ForwardingRules(ring_timeout_s=voicemail_after_s)
        self.up = True
        self.down_since: dt.datetime | None = None
        #: Past outages of the line, (down, restored), oldest first.
        self.outages: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
        self.continuity: str | None = None
        self.set_continuity(continuity)

    def __repr__(self) -> str:
        state = "up" if self.up else "down"
        return f"ClassicLine({self.number}, {state}, {self.transfer})"

    # -- star codes ------------------------------------------------------------------------

    def dial_code(self, dialled: str, at: dt.datetime) -> CodeOutcome:
        """Dial a service code on the line at `at`.

        A transfer's activation is refused for a special-rate, short or emergency number and
        for the line's own number; an accepted one yields a fee record, and so does the
        deactivation of a transfer that was on (a free one, for the trail). Queries and call
        waiting yield none. A malformed code is refused with what is wrong in the announcement.
        Raises ValueError for an ordinary number, which is a call and not a code.
        """
        _require_aware(at, "the time a code is dialled")
        try:
            code = parse_service_code(dialled)
        except ValueError as exc:
            return CodeOutcome(False, f"Service code not understood: {exc}.")
        if code is None:
            raise ValueError(f"{dialled!r} is not a service code: it is dialled as a call")
        if not self.up:
            return CodeOutcome(False, "No dial tone: the line is out of order.")
        if code.service is Service.CALL_WAITING:
            return self._call_waiting(code.action)
        return self._transfer(code, at)

    def _call_waiting(self, action: Action) -> CodeOutcome:
        if action is Action.QUERY:
            return CodeOutcome(True, f"Call waiting is {'on' if self.call_waiting else 'off'}.")
        self.call_waiting = action is Action.ACTIVATE
        return CodeOutcome(True, f"Call waiting is now {'on' if self.call_waiting else 'off'}.")

    def _transfer(self, code: ServiceCode, at: dt.datetime) -> CodeOutcome:
        label = _LABEL[code.service]
        reason = _REASON_OF_SERVICE[code.service]
        active = self.transfer.target(reason)
        if code.action is Action.QUERY:
            if active is None:
                return CodeOutcome(True, f"{label} is off.")
            return CodeOutcome(True, f"{label} is on: {_WHICH_CALLS[code.service]} go to {active}.")
        if code.action is Action.DEACTIVATE:
            if active is None:
                return CodeOutcome(True, f"{label} is off; it was not on.")
            self._set_transfer(reason, None)
            return CodeOutcome(
                True, f"{label} is now off.", (self._record(TRANSFER_DEACTIVATION, active, at),)
            )
        target = code.target or ""
        try:
            number = self._plan.classify(target)
        except ValueError as exc:
            return CodeOutcome(False, f"{label} refused: {exc}.")
        if number.kind in _NOT_TRANSFERABLE:
            return CodeOutcome(
                False,
                f"{label} refused: {target} is {_describe(number)};"
                " calls are transferred to fixed, IP or mobile numbers only.",
            )
        if number.number == self.number:
            return CodeOutcome(False, f"{label} refused: {target} is this line's own number.")
        self._set_transfer(reason, number.number)
        return CodeOutcome(
            True,
            f"{label} is now on: {_WHICH_CALLS[code.service]} go to {target}.",
            (self._record(TRANSFER_ACTIVATION, number.number, at),),
        )

    def _set_transfer(self, reason: ForwardReason, target: str | None) -> None:
        if reason is ForwardReason.UNCONDITIONAL:
            self.transfer = dataclasses.replace(self.transfer, unconditional=target)
        elif reason is ForwardReason.BUSY:
            self.transfer = dataclasses.replace(self.transfer, busy=target)
        else:
            self.transfer = dataclasses.replace(self.transfer, no_answer=target)

    def _record(self, kind: str, target: str, at: dt.datetime) -> CallRecord:
        return CallRecord(
            start=at,
            line=LineName.CLASSIC,
            caller=self.number,
            callee=target,
            duration_s=0,
            account=self.account,
            kind=kind,
        )

    # -- faults and continuity -------------------------------------------------------------

    def fail(self, at: dt.datetime) -> None:
        """The line goes down at `at` (no change if it already is)."""
        _require_aware(at, "the time the line fails")
        if self.up:
            self.up = False
            self.down_since = at

    def restore(self, at: dt.datetime) -> None:
        """The line comes back at `at` (no change if it is up); the outage is kept."""
        _require_aware(at, "the time the line is restored")
        if self.up or self.down_since is None:
            return
        if at < self.down_since:
            raise ValueError(
                f"the line cannot be restored at {at.isoformat()}, before it failed"
                f" ({self.down_since.isoformat()})"
            )
        self.outages = (*self.outages, (self.down_since, at))
        self.up = True
        self.down_since = None

    def set_continuity(self, number: str | None) -> None:
        """Set (or clear, with None) where calls go while the line is down (footnote 15).

        The number must be a fixed or mobile number of metropolitan France (ValueError).
        """
        if number is None:
            self.continuity = None
            return
        try:
            target = self._plan.classify(number)
        except ValueError as exc:
            raise ValueError(f"continuity number: {exc}") from None
        if target.kind not in (NumberKind.FIXED, NumberKind.MOBILE) or (
            target.region != _METROPOLITAN
        ):
            raise ValueError(
                f"continuity number {number!r} is {_describe(target)}; calls are redirected"
                " to a fixed or mobile number of metropolitan France only"
            )
        if target.number == self.number:
            raise ValueError(
                f"continuity number {number!r} is this line's own number, which is down"
                " when calls need redirecting"
            )
        self.continuity = target.number

    # -- name display ----------------------------------------------------------------------

    def caller_display(self, caller: str, directory: Mapping[str, str]) -> str:
        """What the phone shows for a call from `caller`: 'Name <number>' or the number.

        The name comes from the directory (the operator's name database, footnote 2), looked
        up as given and in E.164; a withheld or unknown caller shows as received.
        """
        name = directory.get(caller)
        if name is None:
            try:
                number = self._plan.classify(caller).number
            except ValueError:
                return caller
            name = directory.get(number)
        return f"{name} <{caller}>" if name else caller


class Exchange:
    """The classic lines of the lab's exchange, by number."""

    __slots__ = ("_lines", "directory", "plan")

    def __init__(self, plan: NumberingPlan, *, directory: Mapping[str, str] | None = None) -> None:
        self.plan = plan
        self._lines: dict[str, ClassicLine] = {}
        #: Subscriber names by E.164 number, for name display.
        self.directory: dict[str, str] = {
            self._e164(number) or number: name for number, name in (directory or {}).items()
        }

    def _e164(self, number: str) -> str | None:
        try:
            return self.plan.classify(number).number
        except ValueError:
            return None

    def add_line(self, line: ClassicLine) -> None:
        """Add a line; ValueError if the exchange already has one with that number."""
        if line.number in self._lines:
            raise ValueError(f"the exchange already has a classic line {line.number}")
        self._lines[line.number] = line

    def line(self, number: str) -> ClassicLine | None:
        """The line of a number, written in E.164 or any way the numbering plan reads."""
        found = self._lines.get(number)
        if found is None:
            e164 = self._e164(number)
            found = self._lines.get(e164) if e164 else None
        return found

    def __iter__(self) -> Iterator[ClassicLine]:
        return iter(self._lines.values())

    def __len__(self) -> int:
        return len(self._lines)
