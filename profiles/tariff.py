"""From a classified number to its tariff: which annex row prices it, which plan rule covers it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal

import phonenumbers

from profiles.catalogue import Catalogue
from profiles.model import Price
from profiles.numbering import DialledNumber, NumberKind

SIXTY = Decimal(60)


class Coverage(enum.Enum):
    """What a plan may do for a destination before its annex price applies."""

    #: Unlimited in every plan: metropolitan fixed, standard n° IP, included fixed destinations.
    UNLIMITED = "unlimited"
    #: Mobiles of metropolitan France and of the included destinations: the plan decides.
    MOBILE = "mobile"
    #: Never included: priced at the annex's row.
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Tariff:
    """How calls to one kind of destination are treated.

    `price` is None when the annex has no price for it (special numbers, or metropolitan fixed
    beyond the correspondent cap): such calls are flagged "not priced", never guessed.
    The rule texts are worked out once here, not once per call.
    """

    label: str
    coverage: Coverage
    price: Price | None = None
    unlimited_rule: str = field(init=False)
    out_of_plan_rule: str = field(init=False)
    price_words: str = field(init=False)
    _connection_x60: Decimal = field(init=False)
    _per_minute: Decimal = field(init=False)

    def __post_init__(self) -> None:
        price = self.price
        words = (
            f"{self.label}, {price.connection_eur} EUR CMR + "
            f"{price.per_minute_eur} EUR/min per second"
            if price
            else f"no price for {self.label}"
        )
        object.__setattr__(self, "unlimited_rule", f"included: unlimited calls to {self.label}")
        object.__setattr__(self, "price_words", words)
        object.__setattr__(self, "out_of_plan_rule", f"out of plan: {words}")
        object.__setattr__(self, "_connection_x60", price.connection_eur * SIXTY if price else 0)
        object.__setattr__(self, "_per_minute", price.per_minute_eur if price else Decimal(0))

    def cost_x60(self, seconds: int) -> Decimal:
        """Sixty times the cost of `seconds` out of plan: the CMR, then the minute price per second.

        Per-second prices are a sixtieth of the per-minute price, which is seldom a finite
        decimal; carrying sixty times the cost keeps every sum exact until the invoice rounds.
        """
        return self._connection_x60 + self._per_minute * seconds


class Tariffs:
    """Resolves classified numbers to tariffs for one catalogue; cached per (kind, region)."""

    def __init__(self, catalogue: Catalogue) -> None:
        annex = catalogue.annex
        self._catalogue = catalogue
        self._included_regions = catalogue.destinations.regions
        self._domestic_fixed: dict[str, tuple[str, Price]] = {}
        for row in annex.domestic.values():
            if row.kind == "fixed":
                for region in row.regions:
                    self._domestic_fixed[region] = (row.label, row)
        self._dom_mobile = annex.domestic["dom-mobile"]
        self._overseas_mobile_regions = frozenset(self._dom_mobile.regions)
        self._ip_specific = annex.domestic["ip-specific"]
        self._zone_prefixes = sorted(catalogue.zones.prefixes, key=len, reverse=True)
        self._prefix_regions = {
            region for prefix in self._zone_prefixes for region in _regions_sharing(prefix)
        }
        self._cache: dict[tuple[NumberKind, str, str], Tariff] = {}

    def for_number(self, number: DialledNumber) -> Tariff:
        """The tariff of a full (non-short) number."""
        prefix = ""
        if number.region in self._prefix_regions:
            prefix = _longest(number.number, self._zone_prefixes)
        elif number.kind is NumberKind.IP and self._ip_specific.prefixes:
            prefix = _longest(number.number, self._ip_specific.prefixes)
        key = (number.kind, number.region, prefix)
        tariff = self._cache.get(key)
        if tariff is None:
            tariff = self._cache[key] = self._resolve(number.kind, number.region, prefix)
        return tariff

    def _resolve(self, kind: NumberKind, region: str, prefix: str) -> Tariff:
        included = region in self._included_regions
        if region == "FR":
            if kind is NumberKind.MOBILE:
                row = self._catalogue.annex.domestic["metro-mobile"]
                return Tariff(row.label, Coverage.MOBILE, row)
            if kind is NumberKind.IP and prefix:
                return Tariff(self._ip_specific.label, Coverage.NONE, self._ip_specific)
            label = "n° IP at standard rate" if kind is NumberKind.IP else "metropolitan fixed"
            return Tariff(label, Coverage.UNLIMITED)
        if region in self._overseas_mobile_regions and kind is NumberKind.MOBILE:
            return Tariff(self._dom_mobile.label, Coverage.NONE, self._dom_mobile)
        if region in self._domestic_fixed:
            label, price = self._domestic_fixed[region]
            return Tariff(label, Coverage.UNLIMITED if included else Coverage.NONE, price)
        zones = self._catalogue.zones
        if region not in zones.regions and not prefix:
            # Global services (+800, +870 satellite...) have no country, hence no zone.
            return Tariff("an international network number (no country, no zone)", Coverage.NONE)
        zone_key = zones.prefixes[prefix].zone if prefix else zones.regions[region].zone
        zone = self._catalogue.annex.international[zone_key]
        if kind is NumberKind.MOBILE:
            agreement = region in zones.regions and zones.regions[region].mobile_agreement
            price = zone.mobile if agreement else zone.fixed
            priced_as = "mobile" if agreement else "fixed (no mobile agreement)"
            coverage = Coverage.MOBILE if included else Coverage.NONE
            return Tariff(f"{region} mobile, {zone.label}, priced as {priced_as}", coverage, price)
        coverage = Coverage.UNLIMITED if included else Coverage.NONE
        return Tariff(f"{region} fixed, {zone.label}", coverage, zone.fixed)


def _regions_sharing(prefix: str) -> list[str]:
    """The regions of the calling code an E.164 digit prefix starts with (1808 -> NANP)."""
    for length in (1, 2, 3):
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(prefix[:length]))
        if regions:
            return list(regions)
    return []


def _longest(number: str, prefixes: list[str]) -> str:
    """The longest of `prefixes` (E.164 digits) the number starts with, or ""."""
    digits = number.lstrip("+")
    return max((p for p in prefixes if digits.startswith(p)), key=len, default="")
