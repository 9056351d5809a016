"""The offer catalogue: the shipped files say what the document says; bad files say why."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from profiles.catalogue import Catalogue, DataFileError, UnknownOfferError

SEED = Path(__file__).parents[3] / "shared" / "seeds" / "000_9576e39ce821d850.txt"


def test_three_plans_at_their_monthly_prices(catalogue: Catalogue) -> None:
    prices = {name: o.monthly_price_eur for name, o in catalogue.offers.items()}
    assert prices == {
        "optimale-pro-initial": Decimal("59.00"),
        "optimale-pro-equilibre": Decimal("65.00"),
        "optimale-pro-intense": Decimal("75.00"),
    }


def test_every_plan_rents_the_livebox_pro_for_5_eur_over_12_months(catalogue: Catalogue) -> None:
    for offer in catalogue.offers.values():
        assert offer.rental.monthly_price_eur == Decimal("5.00")
        assert offer.rental.equipment == "Livebox pro"
        assert offer.commitment_months == 12


def test_mobile_allowances_differ_by_plan(catalogue: Catalogue) -> None:
    assert catalogue.offer("optimale-pro-initial").mobiles.allowance == "none"
    equilibre = catalogue.offer("optimale-pro-equilibre").mobiles
    assert (equilibre.allowance, equilibre.seconds, equilibre.rollover_months) == (
        "seconds",
        3600,
        1,
    )
    assert catalogue.offer("optimale-pro-intense").mobiles.allowance == "unlimited"


def test_internet_bounds_of_footnote_9(catalogue: Catalogue) -> None:
    net = catalogue.offer("optimale-pro-intense").internet
    assert (net.adsl.max_down_kbps, net.adsl.max_up_kbps) == (20000, 800)
    assert (net.vdsl.max_down_kbps, net.vdsl.max_up_kbps) == (50000, 8000)
    assert (net.min_down_kbps, net.tv_dedicated_kbps, net.fixed_ip) == (512, 4000, "on-request")


def test_lines_services_options_and_guarantees(catalogue: Catalogue) -> None:
    offer = catalogue.offer("optimale-pro-initial")
    assert "call-transfer" in offer.lines["classic"].services
    assert "call-forwarding" in offer.lines["voip"].services
    assert offer.options.tv.decoder_deposit_eur == Decimal("49.00")
    assert offer.options.mobile_internet.offered_tier_mb == 100
    assert (offer.services.mailboxes, offer.services.mailbox_gb) == (20, 10)
    assert offer.services.max_email_mb == 30
    assert offer.services.storage_gb_per_person == 5
    assert offer.guarantees.restoration.business_hours == 8
    assert offer.guarantees.intervention.penalty_months == 1


def test_annex_rows_of_22_august_2013(catalogue: Catalogue) -> None:
    annex = catalogue.annex
    assert str(annex.effective) == "2013-08-22"
    mobile = annex.domestic["metro-mobile"]
    assert (mobile.per_minute_eur, mobile.connection_eur) == (Decimal("0.134"), Decimal("0.134"))
    assert annex.domestic["dom-fixed-mayotte"].per_minute_eur == Decimal("0.265")
    assert annex.international["asia2-rest-oceania"].mobile.per_minute_eur == Decimal("0.804")
    assert annex.fees["call-transfer-activation"].eur == Decimal("0.09")
    assert annex.fees["call-transfer-deactivation"].eur == 0
    assert len(annex.international) == 8


def test_annex_prices_match_the_document_row_by_row(catalogue: Catalogue) -> None:
    if not SEED.exists():
        pytest.skip(f"the offer document is not beside the project ({SEED.name})")
    text = SEED.read_text(encoding="utf-8")
    annex = catalogue.annex
    for zone in annex.international.values():
        # the document spells one label with varying case and spaces around '/'
        words = re.split(r"[\s/]+", zone.label.split(" (")[0])
        row = r"[\s/]*".join(map(re.escape, words))
        row += r"[^\n]*?\t([0-9],[0-9]{3}) €\t([0-9],[0-9]{3}) €"
        found = re.findall(row, text, flags=re.IGNORECASE)
        expected = [
            (
                f"{p.per_minute_eur:.3f}".replace(".", ","),
                f"{p.connection_eur:.3f}".replace(".", ","),
            )
            for p in (zone.fixed, zone.mobile)
        ]
        assert found == expected, zone.label


def test_included_destinations_are_the_100_plus_of_footnote_8(catalogue: Catalogue) -> None:
    names = [d.name for d in catalogue.destinations.destinations]
    assert len(names) == len(set(names)) == 103
    regions = catalogue.destinations.regions
    assert {"FR", "GP", "GF", "MQ", "RE", "YT", "PM", "BL", "MF", "US", "MA"} <= regions
    assert not {"NC", "PF", "WF"} & regions
    prefixes = {e.prefix: e.kind for e in catalogue.destinations.exceptions}
    assert prefixes["44870"] == prefixes["44871"] == "special"
    moroccan = ["212526", "212527", "212533", "212534", "212546", "212547", "212550", "212553"]
    assert all(prefixes[p] == "mobile" for p in moroccan)


def test_unknown_offer_lists_the_known_ones(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownOfferError, match=r"no offer named 'optimale'; known offers: opt"):
        catalogue.offer("optimale")


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_unknown_field_names_file_and_field(data_copy: Path) -> None:
    plan = data_copy / "offers" / "optimale-pro-intense.yaml"
    _rewrite(plan, "title:", "colour: orange\ntitle:")
    with pytest.raises(DataFileError) as error:
        Catalogue.load(data_copy)
    assert error.value.path == plan
    assert error.value.field == "colour"
    assert "Extra inputs are not permitted" in str(error.value)


def test_negative_price_is_refused(data_copy: Path) -> None:
    annex = data_copy / "price-annex-2013-08-22.yaml"
    _rewrite(annex, 'per_minute_eur: "0.265"', 'per_minute_eur: "-0.265"')
    with pytest.raises(DataFileError, match="greater than or equal to 0") as error:
        Catalogue.load(data_copy)
    assert error.value.field == "domestic.dom-fixed-mayotte.per_minute_eur"
    assert str(error.value).startswith(str(annex))


def test_unquoted_amount_is_refused_as_a_float(data_copy: Path) -> None:
    plan = data_copy / "offers" / "optimale-pro-initial.yaml"
    _rewrite(plan, 'monthly_price_eur: "59.00"', "monthly_price_eur: 59.10")
    with pytest.raises(DataFileError, match=r"monthly_price_eur: write amounts as quoted"):
        Catalogue.load(data_copy)


def test_a_mistake_in_the_shared_file_names_the_shared_file(data_copy: Path) -> None:
    common = data_copy / "optimale-pro-common.yaml"
    _rewrite(common, "max_correspondents: 500", "max_correspondents: 0")
    with pytest.raises(DataFileError) as error:
        Catalogue.load(data_copy)
    assert error.value.path == common.resolve()
    assert error.value.field == "calls.max_correspondents"


def test_zone_missing_from_the_annex(data_copy: Path) -> None:
    _rewrite(data_copy / "zones.yaml", "DE: {zone: europe-near-north-america", "DE: {zone: europe")
    with pytest.raises(DataFileError, match=r"regions.DE.zone: unknown zone 'europe'; the price"):
        Catalogue.load(data_copy)


def test_country_missing_from_the_zone_table(data_copy: Path) -> None:
    zones = data_copy / "zones.yaml"
    lines = zones.read_text(encoding="utf-8").splitlines(keepends=True)
    zones.write_text("".join(line for line in lines if not line.startswith("  DE:")))
    with pytest.raises(DataFileError, match=r"zones.yaml: regions: no zone for 1 regions: DE"):
        Catalogue.load(data_copy)


def test_bad_yaml_gives_the_line(data_copy: Path) -> None:
    plan = data_copy / "offers" / "optimale-pro-equilibre.yaml"
    _rewrite(plan, "mobiles:\n", "mobiles: [\n")
    with pytest.raises(DataFileError, match=r"optimale-pro-equilibre.yaml: not valid YAML: line"):
        Catalogue.load(data_copy)


def test_a_users_own_zone_table(data_copy: Path, catalogue: Catalogue) -> None:
    mine = data_copy / "my-zones.yaml"
    text = (data_copy / "zones.yaml").read_text(encoding="utf-8")
    mine.write_text(text.replace("SN: {zone: africa-oceania", "SN: {zone: maghreb"))
    assert catalogue.zones.regions["SN"].zone == "africa-oceania"
    assert Catalogue.load(zones=mine).zones.regions["SN"].zone == "maghreb"


def test_seconds_allowance_without_seconds_is_refused(data_copy: Path) -> None:
    _rewrite(data_copy / "offers" / "optimale-pro-equilibre.yaml", "seconds: 3600", "seconds: 0")
    with pytest.raises(DataFileError, match=r"mobiles: an allowance of 'seconds' needs"):
        Catalogue.load(data_copy)
