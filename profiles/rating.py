"""The rater: a call record in, a priced call out with the rule that priced it; a month, a bill."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import NamedTuple

from profiles.catalogue import Catalogue
from profiles.model import Offer
from profiles.numbering import DialledNumber, NumberingPlan, NumberKind
from profiles.records import CALL, PARIS, CallRecord, Disposition
from profiles.tariff import SIXTY, Coverage, Tariff, Tariffs

ZERO = Decimal(0)
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)
#: How many distinct dialled strings a rater remembers the classification of.
KNOWN_NUMBERS = 100_000


_NOT_CHARGED = {d: f"{d}: not charged" for d in Disposition}


class RatingError(ValueError):
    """A record the rater cannot take: unknown fee, bad number, or out of time order."""


class PricedCall(NamedTuple):
    """A record with its price and the rule that set it.

    `cost_x60` is sixty times the exact cost in EUR HT (see `Tariff.cost_x60`); `cost` is
    that cost rounded to the micro-euro for display. Invoices add up the exact amounts.
    (A named tuple rather than a frozen dataclass: it is built for every call, and costs a
    fifth of the time to build.)
    """

    record: CallRecord
    cost_x60: Decimal
    included: bool
    rule: str
    priced: bool = True
    included_s: int = 0
    billed_s: int = 0
    destination: DialledNumber | None = None

    @property
    def cost(self) -> Decimal:
        return (self.cost_x60 / SIXTY).quantize(MICRO, ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Invoice:
    """One account's bill for one calendar month (Paris time), in EUR HT.

    Parts are exact; only `total` is rounded to the cent (half up), once, at the end.
    """

    account: str
    month: str
    offer: str
    subscription: Decimal
    rental: Decimal
    calls: Decimal
    fees: Decimal
    penalties: Decimal
    total: Decimal
    call_count: int
    included_count: int
    not_priced_count: int
    correspondents: int
    mobile_seconds_used: int
    mobile_seconds_rolled_over: int


@dataclass(slots=True)
class _AccountMonth:
    """What the rater keeps of one account's month while its calls stream by."""

    account: str
    year: int
    month: int
    ends: dt.datetime
    mobile_left: int
    rolled_over: int
    correspondents: set[str] = field(default_factory=set)
    calls_x60: Decimal = ZERO
    fees: Decimal = ZERO
    call_count: int = 0
    included_count: int = 0
    not_priced_count: int = 0
    mobile_used: int = 0
    last_start: dt.datetime = _EARLIEST

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _month_end(year: int, month: int) -> dt.datetime:
    """The moment a calendar month of Paris time ends."""
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    return dt.datetime(*nxt, 1, tzinfo=PARIS)


class Rater:
    """Prices the records of accounts on one offer, in time order, month by month.

    >>> rater = Rater(Catalogue.load(), "optimale-pro-equilibre")
    >>> priced = rater.rate(record)          # doctest: +SKIP
    >>> priced.cost, priced.included, priced.rule  # doctest: +SKIP
    (Decimal('0.245333'), False, 'out of plan: Mobiles métropole ...')

    Each account's records must come in time order (the mobile hour, its rollover and the
    correspondent cap depend on it); a record older than its account's last raises RatingError.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        offer: Offer | str,
        *,
        numbering: NumberingPlan | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.offer = catalogue.offer(offer) if isinstance(offer, str) else offer
        self.numbering = numbering or catalogue.numbering_plan()
        self.tariffs = Tariffs(catalogue)
        annex = catalogue.annex
        self._emergency = frozenset(annex.emergency.numbers)
        self._support = {
            number: Tariff(f"{line.label} ({number})", Coverage.NONE, line)
            for number, line in annex.support.items()
        }
        self._fees = dict(annex.fees.items())
        self._max_correspondents = self.offer.calls.max_correspondents
        self._max_seconds = self.offer.calls.max_call_seconds
        mobiles = self.offer.mobiles
        self._mobile_allowance = mobiles.allowance
        self._mobile_seconds = mobiles.seconds
        self._rollover = mobiles.rollover_months > 0
        self._current: dict[str, _AccountMonth] = {}
        self._closed: list[_AccountMonth] = []
        self._known: dict[str, tuple[DialledNumber, Tariff | None]] = {}

    # -- one record ----------------------------------------------------------------------

    def rate(self, record: CallRecord) -> PricedCall:
        """Price one record and count it in its account's month."""
        start = record.start
        month = self._current.get(record.account)
        if month is not None and month.last_start <= start < month.ends:
            month.last_start = start
        else:  # a new month or account, or a record that may be out of order
            month = self._month_of(record)
        if record.kind != CALL:
            return self._fee(record, month)
        month.call_count += 1
        duration = record.duration_s
        if record.disposition is not Disposition.ANSWERED or duration == 0:
            return PricedCall(record, ZERO, True, _NOT_CHARGED[record.disposition])
        number, tariff = self._known.get(record.callee) or self._classify(record.callee)
        # The two commonest cases are written out here rather than in `_call`: a call included
        # without limit, and a call out of plan. Rating a million calls makes it worth it.
        if tariff is not None:
            coverage = tariff.coverage
            if coverage is Coverage.UNLIMITED and duration <= self._max_seconds:
                correspondents = month.correspondents
                callee = number.number
                if callee in correspondents or len(correspondents) < self._max_correspondents:
                    correspondents.add(callee)
                    month.included_count += 1
                    rule = tariff.unlimited_rule
                    return PricedCall(record, ZERO, True, rule, True, duration, 0, number)
            elif coverage is Coverage.NONE and tariff.price is not None:
                cost = tariff.cost_x60(duration)
                month.calls_x60 += cost
                rule = tariff.out_of_plan_rule
                return PricedCall(record, cost, False, rule, True, 0, duration, number)
        priced = self._call(record, number, tariff, month)
        if priced.included:
            month.included_count += 1
        if not priced.priced:
            month.not_priced_count += 1
        month.calls_x60 += priced.cost_x60
        return priced

    def _classify(self, callee: str) -> tuple[DialledNumber, Tariff | None]:
        # Businesses call the same numbers again and again: remember what each dialled string
        # is, within a bound (the memo starts afresh when full), so memory stays flat.
        try:
            number = self.numbering.classify(callee)
        except ValueError as exc:
            raise RatingError(f"callee: {exc}") from None
        full = number.kind not in (NumberKind.EMERGENCY, NumberKind.SHORT, NumberKind.SPECIAL)
        known = (number, self.tariffs.for_number(number) if full else None)
        if len(self._known) >= KNOWN_NUMBERS:
            self._known.clear()
        self._known[callee] = known
        return known

    def _fee(self, record: CallRecord, month: _AccountMonth) -> PricedCall:
        fee = self._fees.get(record.kind)
        if fee is None:
            known = ", ".join([CALL, *self._fees])
            raise RatingError(f"kind: unknown record kind {record.kind!r}; known: {known}")
        month.fees += fee.eur
        return PricedCall(record, fee.eur * SIXTY, False, f"fee: {fee.label}, {fee.eur} EUR HT")

    def _call(
        self,
        record: CallRecord,
        number: DialledNumber,
        tariff: Tariff | None,
        month: _AccountMonth,
    ) -> PricedCall:
        if tariff is None:  # a short, special or emergency number
            kind = number.kind
            if kind is NumberKind.EMERGENCY or number.number in self._emergency:
                return PricedCall(record, ZERO, True, "emergency number: free", destination=number)
            support = self._support.get(number.number)
            if support is not None:
                return self._out_of_plan(record, number, support, record.duration_s, "support line")
            return PricedCall(
                record,
                ZERO,
                False,
                f"not priced: {kind} number, the annex gives no price (ask 1016)",
                priced=False,
                destination=number,
            )
        if tariff.coverage is Coverage.NONE:
            return self._out_of_plan(record, number, tariff, record.duration_s, "out of plan")
        callee = number.number
        new = callee not in month.correspondents
        if new and len(month.correspondents) >= self._max_correspondents:
            return self._beyond_cap(record, number, tariff)
        if tariff.coverage is Coverage.UNLIMITED or self._mobile_allowance == "unlimited":
            month.correspondents.add(callee)
            return self._unlimited(record, number, tariff)
        if self._mobile_allowance == "none":
            return self._out_of_plan(
                record, number, tariff, record.duration_s, "out of plan (no mobile allowance)"
            )
        return self._mobile_allowance_call(record, number, tariff, month)

    def _unlimited(self, record: CallRecord, number: DialledNumber, tariff: Tariff) -> PricedCall:
        if record.duration_s > self._max_seconds:
            rule = f"{tariff.unlimited_rule} (cut at {self._max_seconds // 3600} h)"
            return PricedCall(record, ZERO, True, rule, True, self._max_seconds, 0, number)
        return PricedCall(
            record, ZERO, True, tariff.unlimited_rule, True, record.duration_s, 0, number
        )

    def _mobile_allowance_call(
        self, record: CallRecord, number: DialledNumber, tariff: Tariff, month: _AccountMonth
    ) -> PricedCall:
        left = month.mobile_left
        if left <= 0:
            return self._out_of_plan(
                record, number, tariff, record.duration_s, "out of plan (mobile allowance used up)"
            )
        month.correspondents.add(number.number)
        inside = min(left, record.duration_s)
        month.mobile_left -= inside
        month.mobile_used += inside
        excess = record.duration_s - inside
        if excess == 0:
            return PricedCall(
                record,
                ZERO,
                True,
                f"included: mobile allowance, {inside} s of {left} s left ({tariff.label})",
                included_s=inside,
                destination=number,
            )
        return PricedCall(
            record,
            tariff.cost_x60(excess),
            False,
            f"partly included: {inside} s from the mobile allowance, the other {excess} s "
            f"out of plan at {tariff.price_words}",
            included_s=inside,
            billed_s=excess,
            destination=number,
        )

    def _beyond_cap(self, record: CallRecord, number: DialledNumber, tariff: Tariff) -> PricedCall:
        why = f"beyond {self._max_correspondents} distinct correspondents this month"
        if tariff.price is None:
            return PricedCall(
                record,
                ZERO,
                False,
                f"not priced: {why}, and the annex has no out-of-plan price for {tariff.label}",
                priced=False,
                destination=number,
            )
        return self._out_of_plan(record, number, tariff, record.duration_s, why)

    def _out_of_plan(
        self, record: CallRecord, number: DialledNumber, tariff: Tariff, seconds: int, why: str
    ) -> PricedCall:
        if tariff.price is None:
            return PricedCall(
                record, ZERO, False, f"not priced: {why}, {tariff.price_words}", False
            )
        rule = why + ": " + tariff.price_words
        return PricedCall(record, tariff.cost_x60(seconds), False, rule, True, 0, seconds, number)

    # -- months --------------------------------------------------------------------------

    def _month_of(self, record: CallRecord) -> _AccountMonth:
        start = record.start
        month = self._current.get(record.account)
        if month is not None:
            # Datetimes of one tzinfo compare as wall-clock times, without asking the zone for
            # offsets: exact for Paris calendar months, and cheap. A record that looks older
            # (the repeated hour of the autumn change) is checked again on POSIX time.
            if start < month.last_start and start.timestamp() < month.last_start.timestamp():
                raise RatingError(
                    f"start: records of account {record.account!r} must come in time order "
                    f"({start.isoformat()} is before {month.last_start.isoformat()})"
                )
            month.last_start = start
            if start < month.ends:
                return month
        local = start.astimezone(PARIS)
        month = self._open_month(record.account, local.year, local.month, month)
        month.last_start = start
        return month

    def _open_month(
        self, account: str, year: int, month_no: int, previous: _AccountMonth | None
    ) -> _AccountMonth:
        rolled = 0
        if previous is not None:
            self._closed.append(previous)
            previous.correspondents = set()  # the cap is monthly: free its memory
            if self._rollover:
                consecutive = (previous.year * 12 + previous.month) + 1 == year * 12 + month_no
                # Rolled-over seconds are spent first, so what is left is at most a month's own
                # allowance; a month with no call at all left its whole allowance unused.
                left = min(previous.mobile_left, self._mobile_seconds)
                rolled = left if consecutive else self._mobile_seconds
        current = _AccountMonth(
            account=account,
            year=year,
            month=month_no,
            ends=_month_end(year, month_no),
            mobile_left=self._mobile_seconds + rolled,
            rolled_over=rolled,
        )
        self._current[account] = current
        return current

    # -- invoices ------------------------------------------------------------------------

    def invoices(self, penalties: Mapping[tuple[str, str], Decimal] | None = None) -> list[Invoice]:
        """One invoice per account and month rated so far, oldest first.

        `penalties` maps (account, "YYYY-MM") to the SLA penalties to deduct that month.
        """
        penalties = penalties or {}
        months: Iterable[_AccountMonth] = [*self._closed, *self._current.values()]
        ordered = sorted(months, key=lambda m: (m.account, m.year, m.month))
        return [self._invoice(m, penalties.get((m.account, m.key), ZERO)) for m in ordered]

    def _invoice(self, month: _AccountMonth, penalty: Decimal) -> Invoice:
        subscription = self.offer.monthly_price_eur
        rental = self.offer.rental.monthly_price_eur
        calls = month.calls_x60 / SIXTY
        exact_total = subscription + rental + calls + month.fees - penalty
        return Invoice(
            account=month.account,
            month=month.key,
            offer=self.offer.name,
            subscription=subscription,
            rental=rental,
            calls=calls.quantize(MICRO, ROUND_HALF_EVEN),
            fees=month.fees,
            penalties=penalty,
            total=exact_total.quantize(CENT, ROUND_HALF_UP),
            call_count=month.call_count,
            included_count=month.included_count,
            not_priced_count=month.not_priced_count,
            correspondents=len(month.correspondents),
            mobile_seconds_used=month.mobile_used,
            mobile_seconds_rolled_over=month.rolled_over,
        )
