"""Call forwarding: a line's rules, one call's chain of diversions, History-Info and Diversion."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from emulator.sip.headers import NameAddr, SipParseError, parse_name_addr
from profiles.numbering import NumberingPlan, NumberKind
from profiles.records import ForwardReason

__all__ = [
    "MAX_HOPS",
    "Diversions",
    "ForwardingError",
    "ForwardingLoop",
    "ForwardingRules",
    "Hop",
    "TooManyHops",
]

MAX_HOPS: Final = 5


class ForwardingError(ValueError):
    """A forwarding that cannot be: a bad rule, a bad header, a loop, a chain too long."""


class ForwardingLoop(ForwardingError):
    """The call would come back to a number it already went through."""


class TooManyHops(ForwardingError):
    """The call has been forwarded as many times as allowed."""


# RFC 4458 cause values of the History-Info entries, and RFC 5806 reasons of Diversion.
CAUSES: Final[Mapping[ForwardReason, str]] = {
    ForwardReason.UNCONDITIONAL: "302",
    ForwardReason.BUSY: "486",
    ForwardReason.NO_ANSWER: "408",
    # A line out of order is "mobile subscriber not reachable" in RFC 4458, 503.
    ForwardReason.CONTINUITY: "503",
}
DIVERSION_REASONS: Final[Mapping[ForwardReason, str]] = {
    ForwardReason.UNCONDITIONAL: "unconditional",
    ForwardReason.BUSY: "user-busy",
    ForwardReason.NO_ANSWER: "no-answer",
    ForwardReason.CONTINUITY: "unavailable",
}
_REASON_OF_CAUSE: Final = {cause: reason for reason, cause in CAUSES.items()}
# RFC 7544 maps both "unavailable" and "out-of-service" to 503: both read as a line out of order.
_REASON_OF_DIVERSION: Final = {
    **{text: reason for reason, text in DIVERSION_REASONS.items()},
    "out-of-service": ForwardReason.CONTINUITY,
}

# Characters that would break the user part of the SIP URIs the headers are written with.
_NOT_IN_NUMBER: Final = re.compile(r"[\s<>@;,?\"'\\/:]")
_INDEX: Final = re.compile(r"[1-9][0-9]*(?:\.[1-9][0-9]*)*")
_TRUE: Final = frozenset({"1", "true"})
_FALSE: Final = frozenset({"0", "false"})
_RING_TIMEOUT_RANGE: Final = (5, 120)  # seconds, as the box's data model allows


def _check_number(number: str, what: str) -> str:
    if not number or _NOT_IN_NUMBER.search(number):
        raise ForwardingError(f"{what} {number!r} is not a phone number")
    return number


@dataclass(frozen=True, slots=True)
class ForwardingRules:
    """Where a line sends its calls: always, when busy, when not answered in time.

    Targets are E.164 numbers; None means the rule is off.
    """

    unconditional: str | None = None
    busy: str | None = None
    no_answer: str | None = None
    ring_timeout_s: int = 20

    def __post_init__(self) -> None:
        for reason in (ForwardReason.UNCONDITIONAL, ForwardReason.BUSY, ForwardReason.NO_ANSWER):
            target = self.target(reason)
            if target is not None:
                _check_number(target, f"the {reason} forwarding target")
        if self.ring_timeout_s <= 0:
            raise ForwardingError(
                f"ring_timeout_s must be a positive number of seconds, not {self.ring_timeout_s}"
            )

    @classmethod
    def from_calling_features(cls, values: Mapping[str, str]) -> ForwardingRules:
        """The rules a line's CallingFeatures object sets.

        Keys are the parameter names of the box's tree (`CallForwardUnconditionalEnable`...),
        bare or as full paths. Numbers are turned into E.164 ("0612345678" is
        "+33612345678"); a disabled rule or an empty number is None. Raises ForwardingError
        naming the parameter for a value that is not a boolean, a number or a timeout.
        """
        features = _by_name(values)
        rules = {
            field: _forward_target(features, name)
            for field, name in (
                ("unconditional", "CallForwardUnconditional"),
                ("busy", "CallForwardOnBusy"),
                ("no_answer", "CallForwardOnNoAnswer"),
            )
        }
        timeout_text = features.get("CallForwardOnNoAnswerRingTimeout", "").strip()
        timeout = 20
        if timeout_text:
            low, high = _RING_TIMEOUT_RANGE
            if not (timeout_text.isascii() and timeout_text.isdigit()) or not (
                low <= int(timeout_text) <= high
            ):
                raise ForwardingError(
                    f"CallForwardOnNoAnswerRingTimeout {timeout_text!r} is not a whole number"
                    f" of seconds from {low} to {high}"
                )
            timeout = int(timeout_text)
        return cls(
            unconditional=rules["unconditional"],
            busy=rules["busy"],
            no_answer=rules["no_answer"],
            ring_timeout_s=timeout,
        )

    def target(self, reason: ForwardReason) -> str | None:
        """The number calls go to for this reason (None for continuity: not a line's rule)."""
        if reason is ForwardReason.UNCONDITIONAL:
            return self.unconditional
        if reason is ForwardReason.BUSY:
            return self.busy
        if reason is ForwardReason.NO_ANSWER:
            return self.no_answer
        return None


def _by_name(values: Mapping[str, str]) -> dict[str, str]:
    """Values by parameter name, whether keyed by name or by full path."""
    features: dict[str, str] = {}
    for key, value in values.items():
        name = key.rstrip(".").rpartition(".")[2]
        if features.get(name, value) != value:
            raise ForwardingError(
                f"{name} is given twice with different values ({features[name]!r}, {value!r})"
            )
        features[name] = value
    return features


def _forward_target(features: Mapping[str, str], rule: str) -> str | None:
    enable_name, number_name = f"{rule}Enable", f"{rule}Number"
    enable = features.get(enable_name, "0").strip().lower()
    if enable not in _TRUE and enable not in _FALSE:
        raise ForwardingError(f"{enable_name} {enable!r} is not a boolean (1 or 0)")
    number = features.get(number_name, "").strip()
    if enable in _FALSE or not number:
        return None
    try:
        classified = _plan().classify(number)
    except ValueError as exc:
        raise ForwardingError(f"{number_name}: {exc}") from None
    if classified.kind in (NumberKind.SHORT, NumberKind.EMERGENCY):
        article = "an" if classified.kind is NumberKind.EMERGENCY else "a"
        raise ForwardingError(
            f"{number_name} {number!r} is {article} {classified.kind} number; calls are"
            " forwarded to full numbers only"
        )
    return classified.number


@functools.cache
def _plan() -> NumberingPlan:
    # Only the E.164 form is wanted here, which the catalogue's kind overrides do not change.
    return NumberingPlan()


@dataclass(frozen=True, slots=True)
class Hop:
    """One forwarding of a call: `forwarder` sent it to `target` because of `reason`."""

    forwarder: str
    target: str
    reason: ForwardReason


class Diversions:
    """The forwarding history of one call: who forwarded it, where, why.

    It refuses loops (a number twice in the chain) and chains longer than `max_hops`.
    """

    __slots__ = ("_numbers", "current", "hops", "max_hops", "original")

    def __init__(self, original: str, *, max_hops: int = MAX_HOPS) -> None:
        if max_hops < 0:
            raise ValueError(f"max_hops must not be negative, not {max_hops}")
        self.original = _check_number(original, "the called number")
        self.max_hops = max_hops
        self.hops: tuple[Hop, ...] = ()
        #: The number the call is for now.
        self.current = original
        self._numbers = {original}

    def __repr__(self) -> str:
        return f"Diversions({self.chain()})"

    def chain(self) -> str:
        """The numbers the call went through, as 'A -> B -> C'."""
        return " -> ".join([self.original, *(hop.target for hop in self.hops)])

    def forward(self, target: str, reason: ForwardReason) -> Hop:
        """Forward the call from the current number to `target`, and return that hop.

        Raises ForwardingLoop when `target` is a number the call already went through, and
        TooManyHops when the call was already forwarded `max_hops` times.
        """
        _check_number(target, "the forwarding target")
        if target in self._numbers:
            raise ForwardingLoop(
                f"forwarding {self.current} to {target} ({reason}) would loop:"
                f" {self.chain()} -> {target}"
            )
        if len(self.hops) >= self.max_hops:
            raise TooManyHops(
                f"forwarding {self.current} to {target} ({reason}) would make"
                f" {len(self.hops) + 1} hops, more than {self.max_hops}: {self.chain()}"
            )
        hop = Hop(self.current, target, reason)
        self.hops = (*self.hops, hop)
        self._numbers.add(target)
        self.current = target
        return hop

    def history_info(self, domain: str) -> list[str]:
        """The History-Info values (RFC 7044) of the chain, oldest first.

        The original number has index 1; each forwarding nests one level under the entry it
        came from (1.1, 1.1.1...), names it with `mp` and carries its RFC 4458 `cause`.
        """
        index = "1"
        values = [f"<sip:{self.original}@{domain};user=phone>;index={index}"]
        for hop in self.hops:
            parent, index = index, index + ".1"
            values.append(
                f"<sip:{hop.target}@{domain};user=phone;cause={CAUSES[hop.reason]}>"
                f";index={index};mp={parent}"
            )
        return values

    def diversion(self, domain: str) -> list[str]:
        """The Diversion values (RFC 5806) of the chain, most recent first."""
        return [
            f"<sip:{hop.forwarder}@{domain};user=phone>"
            f";reason={DIVERSION_REASONS[hop.reason]};counter=1"
            for hop in reversed(self.hops)
        ]

    @classmethod
    def from_headers(
        cls,
        original: str,
        history_info: Sequence[str],
        diversion: Sequence[str],
        *,
        max_hops: int = MAX_HOPS,
    ) -> Diversions:
        """Rebuild the chain of a request from its History-Info or (if none) its Diversion.

        `original` is the number the request is for (its Request-URI): the whole chain when
        the headers carry no history, else where the chain read from them must end. History-Info
        gives every number of the chain, the first one included; Diversion names the forwarders
        only, so the last of them forwarded to `original`. Entries of History-Info that keep
        the same number without a `cause` (a contact of the same user) are no forwarding.
        Numbers are compared in E.164 when they can be read as numbers.

        Raises ForwardingError for a malformed or inconsistent header, and ForwardingLoop or
        TooManyHops for a chain this exchange would have refused.
        """
        history = [_read_entry("History-Info", value) for value in _elements(history_info)]
        if history:
            chain = _from_history_info(history, max_hops)
        else:
            entries = [_read_entry("Diversion", value) for value in _elements(diversion)]
            if not entries:
                return cls(original, max_hops=max_hops)
            chain = _from_diversion(original, entries, max_hops)
        if chain.current != _e164(original):
            raise ForwardingError(
                f"the forwarding history ends at {chain.current}, but the request is for"
                f" {original}: {chain.chain()}"
            )
        return chain


def _e164(number: str) -> str:
    """The E.164 form of a number written in a header, or the text itself if not a number."""
    if number[:1] == "+" and number[1:].isdigit():
        return number
    try:
        return _plan().classify(number).number
    except ValueError:
        return number


def _elements(values: Sequence[str]) -> Iterator[str]:
    """The elements of header values that may hold comma-separated lists."""
    for value in values:
        if "," not in value:  # the usual case: the message layer already split the lists
            yield value
            continue
        start = 0
        quoted = bracketed = escaped = False
        for position, char in enumerate(value):
            if escaped:
                escaped = False
            elif quoted:
                escaped = char == "\\"
                quoted = char != '"'
            elif char == '"':
                quoted = True
            elif char == "<":
                bracketed = True
            elif char == ">":
                bracketed = False
            elif char == "," and not bracketed:
                yield value[start:position]
                start = position + 1
        yield value[start:]


def _read_entry(header: str, value: str) -> tuple[str, NameAddr, str]:
    """The value as written, parsed, and the number it names (E.164 when it is one)."""
    try:
        entry = parse_name_addr(value)
    except SipParseError as exc:
        raise ForwardingError(f"{header} value {value.strip()!r}: {exc}") from None
    if not entry.uri.user:
        raise ForwardingError(f"{header} value {value.strip()!r} names no number (no user part)")
    return value.strip(), entry, _e164(entry.uri.user)


def _from_history_info(entries: list[tuple[str, NameAddr, str]], max_hops: int) -> Diversions:
    by_index: dict[str, tuple[str, NameAddr, str]] = {}
    for text, entry, number in entries:
        index = entry.param("index")
        if index is None or not _INDEX.fullmatch(index):
            raise ForwardingError(
                f"History-Info value {text!r} has no valid index (1, 1.1, 1.2.1...)"
            )
        if index in by_index:
            raise ForwardingError(f"History-Info has two entries with index {index}")
        by_index[index] = (text, entry, number)
    # The last entry is where the request is going now; its ancestors are the way there.
    last = entries[-1][1].param("index") or ""
    parts = last.split(".")
    path: list[tuple[str, NameAddr, str]] = []
    for depth in range(1, len(parts) + 1):
        index = ".".join(parts[:depth])
        found = by_index.get(index)
        if found is None:
            raise ForwardingError(
                f"History-Info entry index={last} has no entry index={index} above it"
            )
        path.append(found)
    chain = Diversions(path[0][2], max_hops=max_hops)
    for text, entry, number in path[1:]:
        cause = entry.uri.param("cause")
        if cause is None:
            if number == chain.current:
                continue
            raise ForwardingError(
                f"History-Info value {text!r} goes from {chain.current} to {number}"
                " without an RFC 4458 cause"
            )
        reason = _REASON_OF_CAUSE.get(cause)
        if reason is None:
            known = ", ".join(f"{code} ({why})" for why, code in CAUSES.items())
            raise ForwardingError(
                f"History-Info value {text!r}: cause {cause} is not a forwarding this exchange"
                f" makes; known causes: {known}"
            )
        chain.forward(number, reason)
    return chain


def _from_diversion(
    original: str, entries: list[tuple[str, NameAddr, str]], max_hops: int
) -> Diversions:
    hops: list[tuple[str, ForwardReason]] = []
    for text, entry, forwarder in reversed(entries):  # Diversion lists the most recent first
        reason_text = (entry.param("reason") or "").strip('"').lower()
        reason = _REASON_OF_DIVERSION.get(reason_text)
        if reason is None:
            known = ", ".join(_REASON_OF_DIVERSION)
            raise ForwardingError(
                f"Diversion value {text!r}: reason {reason_text or '(none)'!r} is not a"
                f" forwarding this exchange makes; known reasons: {known}"
            )
        counter = entry.param("counter") or "1"
        if counter != "1":
            raise ForwardingError(
                f"Diversion value {text!r}: counter={counter} stands for diversions whose"
                " numbers are not given; only counter=1 can be followed"
            )
        hops.append((forwarder, reason))
    chain = Diversions(hops[0][0], max_hops=max_hops)
    targets = [forwarder for forwarder, _ in hops[1:]] + [_e164(original)]
    for (_, reason), target in zip(hops, targets, strict=True):
        chain.forward(target, reason)
    return chain
