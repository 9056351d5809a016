"""Load the offer catalogue (plans, price annex, destinations, zones) from its data files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import phonenumbers
import yaml
from pydantic import BaseModel, ValidationError

from profiles.model import IncludedDestinations, Offer, PriceAnnex, ZoneTable
from profiles.numbering import NumberingPlan

DATA_DIR = Path(str(resources.files("profiles") / "data"))

# libyaml's loader where PyYAML was built with it: ten times faster on the data model.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_Model = TypeVar("_Model", bound=BaseModel)


class DataFileError(ValueError):
    """A data file is missing, not YAML, or breaks a rule; the message names file, field, why."""

    def __init__(self, path: Path, field: str | None, reason: str) -> None:
        self.path = path
        self.field = field
        self.reason = reason
        where = f"{path}: {field}" if field else str(path)
        super().__init__(f"{where}: {reason}")


class UnknownOfferError(LookupError):
    """No offer of that name; the message lists the known ones."""


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping a YAML file holds, or a DataFileError saying why not."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, None, f"cannot read the file ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DataFileError(path, None, f"not valid YAML: {line}{problem}") from None
    if not isinstance(data, dict):
        raise DataFileError(path, None, "expected a mapping of fields at the top of the file")
    return data


def validate(
    model: type[_Model],
    data: Mapping[str, Any],
    path: Path,
    *,
    context: Mapping[str, Any] | None = None,
) -> _Model:
    """Validate data against a model; the first error names its field path and reason."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        reason = str(error["msg"]).removeprefix("Value error, ")
        read = error.get("input")
        if isinstance(read, bool | int | float | str) and error["type"] != "value_error":
            reason += f" (read {read!r})"
        raise DataFileError(path, field, reason) from None


def load_offer_file(path: Path) -> Offer:
    """A plan file merged over the shared file it `extends`, validated as one offer."""
    plan = read_yaml(path)
    extends = plan.pop("extends", None)
    if extends is None:
        return validate(Offer, plan, path)
    if not isinstance(extends, str):
        raise DataFileError(path, "extends", "expected the path of a shared offer file")
    base_path = (path.parent / extends).resolve()
    merged = read_yaml(base_path) | plan
    try:
        return validate(Offer, merged, path)
    except DataFileError as exc:
        # Name the file the faulty field came from, not always the plan's.
        top = (exc.field or "").split(".")[0]
        if top and top not in plan:
            raise DataFileError(base_path, exc.field, exc.reason) from None
        raise


@dataclass(frozen=True)
class Catalogue:
    """Everything known about the offer: its plans, price annex, destinations and zones."""

    offers: Mapping[str, Offer]
    annex: PriceAnnex
    destinations: IncludedDestinations
    zones: ZoneTable

    @classmethod
    def load(
        cls,
        data_dir: Path | None = None,
        *,
        zones: Path | None = None,
    ) -> Catalogue:
        """Load and cross-check the data files.

        `data_dir` defaults to the files shipped with the package; `zones` replaces the
        shipped country-to-zone table (which is this project's assumption) by a user's own.
        Raises DataFileError naming the file, the field and the reason of the first mistake.
        """
        root = data_dir or DATA_DIR
        zones_path = zones or root / "zones.yaml"
        destinations_path = root / "destinations.yaml"
        zone_table = validate(ZoneTable, read_yaml(zones_path), zones_path)
        destinations = validate(
            IncludedDestinations, read_yaml(destinations_path), destinations_path
        )
        annexes = {
            annex.name: annex
            for path in sorted(root.glob("price-annex-*.yaml"))
            for annex in [validate(PriceAnnex, read_yaml(path), path)]
        }
        offers: dict[str, Offer] = {}
        for path in sorted((root / "offers").glob("*.yaml")):
            offer = load_offer_file(path)
            if offer.name in offers:
                raise DataFileError(path, "name", f"a second offer is named {offer.name!r}")
            if offer.price_annex not in annexes:
                raise DataFileError(
                    path, "price_annex", f"no price annex named {offer.price_annex!r}"
                )
            offers[offer.name] = offer
        if not offers:
            raise DataFileError(root / "offers", None, "no offer file (*.yaml) found")
        annex_names = {offer.price_annex for offer in offers.values()}
        if len(annex_names) != 1:
            raise DataFileError(root / "offers", "price_annex", "all plans must share one annex")
        annex = annexes[annex_names.pop()]
        _check_zones(zone_table, annex, zones_path)
        _check_regions(destinations, destinations_path)
        return cls(offers=offers, annex=annex, destinations=destinations, zones=zone_table)

    def numbering_plan(self) -> NumberingPlan:
        """The numbering plan, with the kinds the destination exceptions force."""
        return NumberingPlan({e.prefix: e.number_kind for e in self.destinations.exceptions})

    def offer(self, name: str) -> Offer:
        """The plan of that name; UnknownOfferError lists the known ones."""
        try:
            return self.offers[name]
        except KeyError:
            known = ", ".join(sorted(self.offers))
            raise UnknownOfferError(f"no offer named {name!r}; known offers: {known}") from None


def _check_zones(zones: ZoneTable, annex: PriceAnnex, path: Path) -> None:
    priced_at_home = {"FR"} | {r for row in annex.domestic.values() for r in row.regions}
    missing = sorted(phonenumbers.SUPPORTED_REGIONS - priced_at_home - set(zones.regions))
    if missing:
        shown = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise DataFileError(path, "regions", f"no zone for {len(missing)} regions: {shown}")
    known = annex.international
    entries = [(f"regions.{code}.zone", a.zone) for code, a in zones.regions.items()]
    entries += [(f"prefixes.{prefix}.zone", p.zone) for prefix, p in zones.prefixes.items()]
    for field, zone in entries:
        if zone not in known:
            raise DataFileError(
                path,
                field,
                f"unknown zone {zone!r}; the price annex {annex.name} has: {', '.join(known)}",
            )


def _check_regions(destinations: IncludedDestinations, path: Path) -> None:
    supported = phonenumbers.SUPPORTED_REGIONS
    for index, destination in enumerate(destinations.destinations):
        for code in destination.regions:
            if code not in supported:
                raise DataFileError(
                    path,
                    f"destinations.{index}.regions",
                    f"{code!r} ({destination.name}) is not a region phone numbers know",
                )
