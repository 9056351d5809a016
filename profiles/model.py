"""Typed models of the offer's data files: every field checked when a file is loaded."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from profiles.numbering import NumberKind

#: An amount of money in EUR excluding tax, written as a string in the files ("0.134") so
#: that no binary float ever touches it.
Eur = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=6)]
RegionCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
DigitPrefix = Annotated[str, Field(pattern=r"^[0-9]{1,15}$")]


class Strict(BaseModel):
    """A file section: unknown fields are mistakes, not extensions."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_float_money(cls, value: object) -> object:
        # YAML reads 0.134 as a float, already rounded in binary: money must be quoted.
        if isinstance(value, float):
            raise ValueError(f'write amounts as quoted decimal strings ("{value}"), not floats')
        return value


# --- The price annex -------------------------------------------------------------------


class Price(Strict):
    """A per-minute price counted per second, after a connection charge (CMR)."""

    per_minute_eur: Eur
    connection_eur: Eur


class DomesticRow(Price):
    label: str
    kind: Literal["fixed", "mobile"] | None = None
    regions: list[RegionCode] = []
    prefixes: list[DigitPrefix] = []
    reading: str | None = None


class InternationalZone(Strict):
    label: str
    fixed: Price
    mobile: Price


class Fee(Strict):
    label: str
    eur: Eur


class SupportLine(Price):
    label: str
    reading: str | None = None


class EmergencyNumbers(Strict):
    price_eur: Eur
    numbers: list[Annotated[str, Field(pattern=r"^[0-9]{2,6}$")]]


class SpecialNumbers(Strict):
    reading: str


class PriceAnnex(Strict):
    """The price annex of the offer (tarifs en vigueur au 22 août 2013)."""

    name: str
    effective: dt.date
    currency: Literal["EUR"]
    domestic: dict[str, DomesticRow]
    international: dict[str, InternationalZone]
    fees: dict[str, Fee]
    support: dict[Annotated[str, Field(pattern=r"^[0-9]{2,6}$")], SupportLine]
    emergency: EmergencyNumbers
    special: SpecialNumbers

    @model_validator(mode="after")
    def _required_rows(self) -> PriceAnnex:
        for key in ("ip-specific", "metro-mobile", "dom-mobile"):
            if key not in self.domestic:
                raise ValueError(f"domestic: the row {key!r} is missing")
        for key in ("call-transfer-activation", "call-transfer-deactivation"):
            if key not in self.fees:
                raise ValueError(f"fees: the fee {key!r} is missing")
        return self


# --- Included destinations -------------------------------------------------------------


class Destination(Strict):
    name: str
    regions: list[RegionCode] = Field(min_length=1)


class DestinationException(Strict):
    prefix: DigitPrefix
    kind: Literal["fixed", "mobile", "special"]
    reason: str

    @property
    def number_kind(self) -> NumberKind:
        return NumberKind(self.kind)


class IncludedDestinations(Strict):
    """The 100+ destinations of footnote 8, and the numbers of them treated otherwise."""

    name: str
    readings: dict[str, str] = {}
    destinations: list[Destination] = Field(min_length=1)
    exceptions: list[DestinationException] = []

    @property
    def regions(self) -> frozenset[str]:
        return frozenset(code for d in self.destinations for code in d.regions)


# --- The country-to-zone table ---------------------------------------------------------


class ZoneAssignment(Strict):
    zone: str
    mobile_agreement: bool


class PrefixZone(Strict):
    zone: str
    name: str


class ZoneTable(Strict):
    """Which international tariff zone each country belongs to (this project's assumption)."""

    note: str
    regions: dict[RegionCode, ZoneAssignment]
    prefixes: dict[DigitPrefix, PrefixZone] = {}


# --- An offer (one plan) ---------------------------------------------------------------


class LineName(enum.StrEnum):
    CLASSIC = "classic"
    VOIP = "voip"


class Rental(Strict):
    equipment: str
    monthly_price_eur: Eur


class LineServices(Strict):
    label: str
    services: list[str]


class Continuity(Strict):
    kinds: list[Literal["fixed", "mobile"]] = Field(min_length=1)
    regions: list[RegionCode] = Field(min_length=1)


class CallTerms(Strict):
    max_correspondents: int = Field(gt=0)
    max_call_seconds: int = Field(gt=0)
    readings: dict[str, str] = {}
    continuity: Continuity


class MobileAllowance(Strict):
    """How a plan treats calls to mobiles: none, a monthly allowance in seconds, or unlimited."""

    allowance: Literal["none", "seconds", "unlimited"]
    seconds: int = Field(default=0, ge=0)
    rollover_months: int = Field(default=0, ge=0, le=1)
    reading: str | None = None

    @model_validator(mode="after")
    def _seconds_only_for_an_allowance(self) -> MobileAllowance:
        if self.allowance == "seconds" and self.seconds <= 0:
            raise ValueError("an allowance of 'seconds' needs a positive 'seconds'")
        if self.allowance != "seconds" and (self.seconds or self.rollover_months):
            raise ValueError(
                f"'seconds' and 'rollover_months' mean nothing with {self.allowance!r}"
            )
        return self


class DslBounds(Strict):
    max_down_kbps: int = Field(gt=0)
    max_up_kbps: int = Field(gt=0)


class InternetTerms(Strict):
    adsl: DslBounds
    vdsl: DslBounds
    min_down_kbps: int = Field(gt=0)
    tv_dedicated_kbps: int = Field(gt=0)
    fixed_ip: Literal["on-request", "included", "none"]


class ProServices(Strict):
    mailboxes: int = Field(ge=0)
    mailbox_gb: int = Field(ge=0)
    max_email_mb: int = Field(ge=0)
    storage_gb_per_person: int = Field(ge=0)


class TvOption(Strict):
    label: str
    monthly_price_eur: Eur
    decoder_deposit_eur: Eur


class MobileInternetOption(Strict):
    label: str
    monthly_price_eur: Eur
    offered_tier_mb: int = Field(ge=0)


class Options(Strict):
    tv: TvOption
    mobile_internet: MobileInternetOption


class SupportNumbers(Strict):
    commercial: str
    technical: str
    after_sales: str


class Guarantee(Strict):
    covers: list[str] = Field(min_length=1)
    business_hours: int = Field(gt=0)
    penalty_months: int = Field(ge=0)


class Guarantees(Strict):
    restoration: Guarantee
    intervention: Guarantee


class Offer(Strict):
    """One Optimale pro plan, as its file (merged with the shared file it extends) says."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    title: str
    family: str
    price_annex: str
    monthly_price_eur: Eur
    commitment_months: int = Field(gt=0)
    rental: Rental
    lines: dict[LineName, LineServices]
    calls: CallTerms
    mobiles: MobileAllowance
    internet: InternetTerms
    services: ProServices
    options: Options
    support: SupportNumbers
    guarantees: Guarantees
