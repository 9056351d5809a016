"""What a lab run found: its steps, expectations, calls (ladders and prices) and invoices."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Ladder:
    """One arrow of a call's ladder diagram: `label` sent from `source` to `target` at `at`."""

    at: dt.datetime
    source: str
    target: str
    label: str


@dataclass(frozen=True, slots=True)
class PricedLeg:
    """One call record of a call (a leg charged to a customer's line) and its price."""

    account: str
    line: str
    caller: str
    callee: str
    duration_s: int
    disposition: str
    forwarded_from: str | None
    forward_reason: str | None
    kind: str
    price_eur: Decimal
    rule: str


@dataclass(frozen=True, slots=True)
class CallResult:
    """One call placed by a step: who called whom, where it went, how it ended, what it cost."""

    id: str
    caller: str
    dialled: str
    answered_by: str | None
    status: int | None
    disposition: str | None
    duration_s: int
    #: (forwarder, target, reason) for each forwarding, in order.
    hops: tuple[tuple[str, str, str], ...]
    legs: tuple[PricedLeg, ...]
    ladder: tuple[Ladder, ...]


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    label: str
    amount_eur: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceResult:
    """One account's invoice for one month, as the rater computes it."""

    account: str
    offer: str
    month: str
    lines: tuple[InvoiceLine, ...]
    total_eur: Decimal


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of the scenario: what it did (`summary`) and, for an expectation, whether it held.

    `ok` is None for a step that expects nothing and went through; False for a step that
    failed to run or an expectation that did not hold, with `detail` saying why.
    """

    index: int
    kind: str
    summary: str
    ok: bool | None
    detail: str = ""
    #: Simulated time when the step ran.
    at: dt.datetime | None = None
    #: The scenario file's line where the step is written.
    line: int | None = None


@dataclass
class LabResult:
    """A whole run of one scenario."""

    scenario: str
    description: str
    source: str
    started: dt.datetime
    steps: list[StepResult] = field(default_factory=list)
    calls: list[CallResult] = field(default_factory=list)
    invoices: list[InvoiceResult] = field(default_factory=list)
    wall_s: float = 0.0
    #: Something the lab could not do on this machine (e.g. the shaped link without root).
    skipped: list[str] = field(default_factory=list)

    @property
    def expectations(self) -> list[StepResult]:
        return [step for step in self.steps if step.kind == "expect"]

    @property
    def failures(self) -> list[StepResult]:
        return [step for step in self.steps if step.ok is False]

    @property
    def ok(self) -> bool:
        """Every step ran and every expectation held."""
        return not self.failures
