"""The rater, rule by rule, as the offer document and its price annex state them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from profiles.catalogue import Catalogue
from profiles.rating import Rater, RatingError
from profiles.records import PARIS

from .conftest import MakeCall

Raters = Callable[[str], Rater]

METRO_FIXED = "01 45 67 89 10"
METRO_MOBILE = "06 12 34 56 78"
IP_STANDARD = "09 70 12 34 56"
GERMAN_FIXED = "+49 30 1234567"
GERMAN_MOBILE = "+49 151 12345678"
SENEGAL_FIXED = "+221 33 823 45 67"
SENEGAL_MOBILE = "+221 77 123 45 67"


def eur(text: str) -> Decimal:
    return Decimal(text)


@pytest.mark.parametrize("offer", ["optimale-pro-initial", "optimale-pro-intense"])
def test_metropolitan_fixed_is_unlimited_on_every_plan(
    rater: Raters, call: MakeCall, offer: str
) -> None:
    priced = rater(offer).rate(call(METRO_FIXED, 3 * 3600))
    assert (priced.cost, priced.included) == (0, True)
    assert priced.rule == "included: unlimited calls to metropolitan fixed"


def test_each_call_is_cut_at_8_hours(rater: Raters, call: MakeCall) -> None:
    priced = rater("optimale-pro-initial").rate(call(METRO_FIXED, 9 * 3600))
    assert priced.included_s == 8 * 3600
    assert priced.rule.endswith("(cut at 8 h)")


def test_standard_ip_number_is_included(rater: Raters, call: MakeCall) -> None:
    priced = rater("optimale-pro-initial").rate(call(IP_STANDARD, 600, line="voip"))
    assert priced.included
    assert "n° IP at standard rate" in priced.rule


@pytest.mark.parametrize("number", ["112", "15", "17", "18", "114", "116000"])
def test_emergency_numbers_are_free(rater: Raters, call: MakeCall, number: str) -> None:
    priced = rater("optimale-pro-initial").rate(call(number, 300))
    assert priced.cost == 0
    assert priced.rule == "emergency number: free"


def test_initial_bills_metropolitan_mobiles_cmr_then_per_second(
    rater: Raters, call: MakeCall
) -> None:
    priced = rater("optimale-pro-initial").rate(call(METRO_MOBILE, 90))
    # 0.134 CMR + 0.134 EUR/min x 90 s
    assert priced.cost == eur("0.335")
    assert not priced.included
    assert priced.rule.startswith("out of plan (no mobile allowance): Mobiles métropole")


def test_equilibre_hour_to_mobiles_is_shared_by_both_lines(rater: Raters, call: MakeCall) -> None:
    equilibre = rater("optimale-pro-equilibre")
    assert equilibre.rate(call(METRO_MOBILE, 1800, line="classic")).included
    assert equilibre.rate(call(GERMAN_MOBILE, 1800, line="voip")).included
    after = equilibre.rate(call(METRO_MOBILE, 60, line="voip"))
    assert after.cost == eur("0.268")
    assert "mobile allowance used up" in after.rule


def test_equilibre_counts_the_hour_per_second_from_the_first(rater: Raters, call: MakeCall) -> None:
    equilibre = rater("optimale-pro-equilibre")
    for _ in range(3599):
        assert equilibre.rate(call(METRO_MOBILE, 1)).included
    assert equilibre.rate(call(METRO_MOBILE, 1)).included
    assert not equilibre.rate(call(METRO_MOBILE, 1)).included


def test_call_past_the_mobile_hour_is_included_up_to_it_and_billed_beyond(
    rater: Raters, call: MakeCall
) -> None:
    equilibre = rater("optimale-pro-equilibre")
    equilibre.rate(call(METRO_MOBILE, 50 * 60))
    priced = equilibre.rate(call(METRO_MOBILE, 20 * 60))
    assert (priced.included_s, priced.billed_s) == (600, 600)
    # the excess pays the CMR, then 10 minutes at 0.134
    assert priced.cost == eur("1.474")
    assert priced.rule.startswith("partly included: 600 s from the mobile allowance")


def test_equilibre_rolls_unused_mobile_minutes_over(rater: Raters, call: MakeCall) -> None:
    equilibre = rater("optimale-pro-equilibre")
    equilibre.rate(call(METRO_MOBILE, 20 * 60, start=dt.datetime(2026, 10, 3, tzinfo=PARIS)))
    november = dt.datetime(2026, 11, 2, 10, tzinfo=PARIS)
    assert equilibre.rate(call(METRO_MOBILE, 100 * 60, start=november)).included
    assert not equilibre.rate(call(METRO_MOBILE, 1)).included
    october, nov = equilibre.invoices()
    assert (october.mobile_seconds_used, nov.mobile_seconds_rolled_over) == (1200, 2400)


def test_rolled_over_minutes_last_one_month_only(rater: Raters, call: MakeCall) -> None:
    equilibre = rater("optimale-pro-equilibre")
    equilibre.rate(call(METRO_FIXED, 60, start=dt.datetime(2026, 9, 3, tzinfo=PARIS)))
    equilibre.rate(call(METRO_MOBILE, 3600, start=dt.datetime(2026, 10, 3, tzinfo=PARIS)))
    # September's unused hour was spent first in October, so October's own hour is left whole
    november = equilibre.rate(
        call(METRO_MOBILE, 2 * 3600, start=dt.datetime(2026, 11, 3, tzinfo=PARIS))
    )
    assert (november.included_s, november.billed_s) == (7200, 0)
    _, october, nov = equilibre.invoices()
    assert (october.mobile_seconds_rolled_over, nov.mobile_seconds_rolled_over) == (3600, 3600)


def test_a_month_without_calls_rolls_its_whole_hour_over(rater: Raters, call: MakeCall) -> None:
    equilibre = rater("optimale-pro-equilibre")
    equilibre.rate(call(METRO_MOBILE, 3600, start=dt.datetime(2026, 9, 3, tzinfo=PARIS)))
    equilibre.rate(call(METRO_FIXED, 60, start=dt.datetime(2026, 11, 3, tzinfo=PARIS)))
    assert equilibre.invoices()[1].mobile_seconds_rolled_over == 3600


def test_intense_has_unlimited_mobiles(rater: Raters, call: MakeCall) -> None:
    intense = rater("optimale-pro-intense")
    for _ in range(5):
        priced = intense.rate(call(METRO_MOBILE, 4 * 3600))
        assert priced.included
    assert (
        priced.rule
        == "included: unlimited calls to Mobiles métropole — Orange, SFR, Bouygues, Free"
    )


def test_the_501st_distinct_correspondent_is_out_of_plan(rater: Raters, call: MakeCall) -> None:
    initial = rater("optimale-pro-initial")
    for n in range(500):
        assert initial.rate(call(f"01 45 00 {n // 100:02d} {n % 100:02d}")).included
    german = initial.rate(call(GERMAN_FIXED, 60))
    assert german.cost == eur("0.150")  # 0.092 CMR + 0.058 EUR/min
    assert german.rule.startswith("beyond 500 distinct correspondents this month")
    metro = initial.rate(call("01 45 99 99 99", 60))
    assert not metro.priced
    assert "no out-of-plan price for metropolitan fixed" in metro.rule
    assert initial.rate(call("01 45 00 00 07", 60)).included, "a known correspondent"
    assert initial.invoices()[0].correspondents == 500


def test_correspondent_cap_starts_again_each_month(rater: Raters, call: MakeCall) -> None:
    initial = rater("optimale-pro-initial")
    start = dt.datetime(2026, 10, 1, tzinfo=PARIS)
    for n in range(501):
        initial.rate(call(f"01 45 00 {n // 100:02d} {n % 100:02d}", start=start))
    assert initial.rate(call(GERMAN_FIXED, start=dt.datetime(2026, 11, 1, tzinfo=PARIS))).included


def test_fixed_of_included_destinations_are_unlimited(rater: Raters, call: MakeCall) -> None:
    initial = rater("optimale-pro-initial")
    for number in (GERMAN_FIXED, "+1 202 456 1111", "+44 20 7946 0018", "+212 522 123456"):
        assert initial.rate(call(number, 3600)).included, number


def test_countries_outside_the_list_pay_their_zone(rater: Raters, call: MakeCall) -> None:
    priced = rater("optimale-pro-intense").rate(call(SENEGAL_FIXED, 120))
    assert priced.cost == eur("1.128")  # 0.092 + 2 x 0.518
    assert "Afrique et Océanie" in priced.rule


def test_foreign_mobile_without_agreement_pays_the_fixed_price(
    rater: Raters, call: MakeCall
) -> None:
    priced = rater("optimale-pro-intense").rate(call(SENEGAL_MOBILE, 120))
    assert priced.cost == eur("1.128")
    assert "priced as fixed (no mobile agreement)" in priced.rule


def test_foreign_mobiles_of_included_destinations_draw_on_the_mobile_hour(
    rater: Raters, call: MakeCall
) -> None:
    assert rater("optimale-pro-equilibre").rate(call(GERMAN_MOBILE, 600)).included
    priced = rater("optimale-pro-initial").rate(call(GERMAN_MOBILE, 60))
    assert priced.cost == eur("0.347")  # 0.092 + 0.255


def test_overseas_fixed_of_the_list_are_included_the_pacific_is_not(
    rater: Raters, call: MakeCall
) -> None:
    initial = rater("optimale-pro-initial")
    assert initial.rate(call("0590 81 23 45", 600)).included
    assert initial.rate(call("0262 12 34 56", 600)).included
    caledonia = initial.rate(call("+687 25 12 34", 60))
    assert caledonia.cost == eur("0.610")  # 0.092 + 0.518


def test_overseas_mobiles_pay_the_dom_tom_mobile_row(rater: Raters, call: MakeCall) -> None:
    priced = rater("optimale-pro-intense").rate(call("0690 12 34 56", 60))
    assert priced.cost == eur("0.602")  # 0.201 + 0.401
    assert "Mobiles DOM-TOM" in priced.rule


def test_moroccan_reduced_mobility_numbers_are_priced_as_mobiles(
    rater: Raters, call: MakeCall
) -> None:
    priced = rater("optimale-pro-initial").rate(call("+212 526 123456", 60))
    assert priced.cost == eur("0.392")  # Maghreb mobile: 0.092 + 0.300
    assert rater("optimale-pro-intense").rate(call("+212 526 123456", 60)).included


def test_uk_premium_numbers_are_not_included_and_not_priced(rater: Raters, call: MakeCall) -> None:
    priced = rater("optimale-pro-intense").rate(call("+44 870 123 4567", 60))
    assert (priced.priced, priced.included) == (False, False)
    assert priced.rule.startswith("not priced: special number")


def test_hawaii_and_alaska_leave_the_near_zone(rater: Raters, call: MakeCall) -> None:
    tariffs = rater("optimale-pro-initial").tariffs
    plan = rater("optimale-pro-initial").numbering
    hawaii = tariffs.for_number(plan.classify("+1 808 586 0034"))
    washington = tariffs.for_number(plan.classify("+1 202 456 1111"))
    assert hawaii.price is not None
    assert washington.price is not None
    assert hawaii.price.per_minute_eur == Decimal("0.234")
    assert washington.price.per_minute_eur == Decimal("0.058")


def test_special_numbers_are_flagged_not_priced(rater: Raters, call: MakeCall) -> None:
    priced = rater("optimale-pro-intense").rate(call("08 92 68 02 02", 60))
    assert not priced.priced
    assert priced.rule == "not priced: special number, the annex gives no price (ask 1016)"


def test_support_lines_1015_and_1016_free_3901_priced(rater: Raters, call: MakeCall) -> None:
    intense = rater("optimale-pro-intense")
    assert intense.rate(call("1016", 600)).cost == 0
    assert intense.rate(call("1015", 600)).cost == 0
    assert intense.rate(call("3901", 120)).cost == eur("0.111")  # 0.065 + 2 x 0.023


def test_call_transfer_activation_costs_9_cents_deactivation_nothing(
    rater: Raters, call: MakeCall
) -> None:
    initial = rater("optimale-pro-initial")
    assert initial.rate(call("*21*0612345678#", 0, kind="call-transfer-activation")).cost == eur(
        "0.09"
    )
    assert initial.rate(call("#21#", 0, kind="call-transfer-deactivation")).cost == 0
    assert initial.invoices()[0].fees == eur("0.09")


def test_unanswered_calls_cost_nothing(rater: Raters, call: MakeCall) -> None:
    priced = rater("optimale-pro-initial").rate(call(METRO_MOBILE, 0, disposition="no-answer"))
    assert priced.cost == 0


def test_forwarded_leg_is_rated_like_a_call_of_the_forwarding_line(
    rater: Raters, call: MakeCall
) -> None:
    leg = call(
        METRO_MOBILE, 60, line="voip", forwarded_from="09 70 00 00 01", forward_reason="busy"
    )
    assert rater("optimale-pro-initial").rate(leg).cost == eur("0.268")


def test_invoice_rounds_to_the_cent_once_at_the_end(rater: Raters, call: MakeCall) -> None:
    initial = rater("optimale-pro-initial")
    for _ in range(3):
        # each 1-second call costs 0.134 + 0.134/60 = 0.1362333...: rounded one by one it
        # would be 0.14 x 3 = 0.42
        initial.rate(call(METRO_MOBILE, 1))
    initial.rate(call("*21*0612345678#", 0, kind="call-transfer-activation"))
    (invoice,) = initial.invoices({("", "2026-10"): Decimal("59.00")})
    assert invoice.calls == eur("0.408700")
    assert (invoice.subscription, invoice.rental, invoice.fees) == (
        eur("59.00"),
        eur("5.00"),
        eur("0.09"),
    )
    assert invoice.penalties == eur("59.00")
    assert invoice.total == eur("5.50")  # 59 + 5 + 0.4087 + 0.09 - 59 = 5.4987


def test_months_are_calendar_months_in_paris_time(rater: Raters, call: MakeCall) -> None:
    initial = rater("optimale-pro-initial")
    # 23:30 UTC on 31 October is 00:30 on 1 November in Paris (winter time, UTC+1)
    initial.rate(call(METRO_FIXED, start=dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.UTC)))
    assert initial.invoices()[0].month == "2026-11"


def test_each_account_has_its_own_month(rater: Raters, call: MakeCall) -> None:
    equilibre = rater("optimale-pro-equilibre")
    start = dt.datetime(2026, 10, 1, tzinfo=PARIS)
    assert equilibre.rate(call(METRO_MOBILE, 3600, account="a", start=start)).included
    assert equilibre.rate(call(METRO_MOBILE, 3600, account="b", start=start)).included
    assert [i.account for i in equilibre.invoices()] == ["a", "b"]


def test_records_out_of_time_order_are_refused(rater: Raters, call: MakeCall) -> None:
    initial = rater("optimale-pro-initial")
    initial.rate(call(METRO_FIXED, start=dt.datetime(2026, 10, 2, tzinfo=PARIS)))
    with pytest.raises(RatingError, match=r"must come in time order"):
        initial.rate(call(METRO_FIXED, start=dt.datetime(2026, 10, 1, tzinfo=PARIS)))


def test_unknown_record_kind_lists_the_known_ones(rater: Raters, call: MakeCall) -> None:
    with pytest.raises(RatingError, match=r"unknown record kind 'voicemail'; known: call, call-"):
        rater("optimale-pro-initial").rate(call("0145000000", 0, kind="voicemail"))


def test_garbage_callee_is_refused_not_guessed(rater: Raters, call: MakeCall) -> None:
    with pytest.raises(RatingError, match=r"^callee: "):
        rater("optimale-pro-initial").rate(call("call me maybe", 60))


def test_ip_numbers_at_a_specific_rate_when_an_annex_lists_their_prefixes(
    data_copy: Path, call: MakeCall
) -> None:
    annex = data_copy / "price-annex-2013-08-22.yaml"
    text = annex.read_text(encoding="utf-8")
    annex.write_text(text.replace("prefixes: []", 'prefixes: ["3397012"]'), encoding="utf-8")
    rater = Rater(Catalogue.load(data_copy), "optimale-pro-intense")
    specific = rater.rate(call("09 70 12 34 56", 60, line="voip"))
    assert specific.cost == eur("0.111")  # 0.075 CMR + 0.036 EUR/min
    assert specific.rule.startswith("out of plan: N° IP à tarification spécifique")
    assert rater.rate(call("09 72 12 34 56", 60, line="voip")).included


def test_global_satellite_numbers_have_no_zone_and_are_not_priced(
    rater: Raters, call: MakeCall
) -> None:
    priced = rater("optimale-pro-intense").rate(call("+870 773 111 632", 60))
    assert (priced.priced, priced.included) == (False, False)
    assert "international network" in priced.rule


def test_records_in_the_repeated_autumn_hour_keep_their_real_order(
    rater: Raters, call: MakeCall
) -> None:
    initial = rater("optimale-pro-initial")
    summer = dt.datetime(2026, 10, 25, 2, 30, tzinfo=PARIS)  # 00:30 UTC
    winter = dt.datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=PARIS)  # 01:15 UTC, later
    initial.rate(call(METRO_FIXED, start=summer))
    assert initial.rate(call(METRO_FIXED, start=winter)).included
    with pytest.raises(RatingError, match="must come in time order"):
        initial.rate(call(METRO_FIXED, start=dt.datetime(2026, 10, 25, 0, 50, tzinfo=dt.UTC)))


def test_a_bad_callee_is_not_remembered_as_a_number(rater: Raters, call: MakeCall) -> None:
    initial = rater("optimale-pro-initial")
    for _ in range(2):
        with pytest.raises(RatingError, match=r"^callee: "):
            initial.rate(call("+33 1", 60))
