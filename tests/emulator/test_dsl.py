"""The emulated DSL line: rates from attenuation, the offer's bounds, TV, faults, box views."""

from __future__ import annotations

import asyncio
import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.dsl import (
    DB_PER_KM_04MM,
    DslError,
    DslLine,
    LineProfile,
    LineProfileError,
    LineStateError,
    LinkStatus,
    Technology,
    atm_cells,
    atm_line_bytes,
    ip_efficiency,
    ip_rate_kbps,
    line_rates,
    ptm_line_bytes,
)
from profiles.catalogue import Catalogue
from profiles.clock import SimulatedClock
from profiles.model import InternetTerms

START = dt.datetime(2013, 8, 22, 9, 0, tzinfo=dt.UTC)
ADSL = Technology.ADSL2_PLUS
VDSL = Technology.VDSL2

TERMS: InternetTerms = Catalogue.load().offer("optimale-pro-intense").internet


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


def advance(clock: SimulatedClock, seconds: float) -> None:
    asyncio.run(clock.advance(seconds))


def adsl(attenuation_db: float, *, tv: bool = False) -> LineProfile:
    return LineProfile(ADSL, attenuation_db=attenuation_db, tv_in_use=tv)


def vdsl(attenuation_db: float, *, tv: bool = False) -> LineProfile:
    return LineProfile(VDSL, attenuation_db=attenuation_db, tv_in_use=tv)


def dsl0(line: DslLine) -> dict[str, object]:
    return line.mibs()["dsl"]["dsl0"]


# --- the published attenuation/rate points ---------------------------------------------


@pytest.mark.parametrize(
    ("attenuation_db", "published_kbps"),
    [(12.0, 18_000), (30.0, 11_000), (60.0, 3_000)],
)
def test_adsl2plus_downstream_sync_matches_published_field_values(
    attenuation_db: float, published_kbps: int
) -> None:
    sync = line_rates(adsl(attenuation_db), TERMS).sync_down_kbps
    assert sync == pytest.approx(published_kbps, rel=0.15)


def test_adsl2plus_upstream_syncs_about_one_megabit_on_most_lines() -> None:
    for attenuation_db in (5.0, 30.0, 55.0):
        sync_up = line_rates(adsl(attenuation_db), TERMS).sync_up_kbps
        assert sync_up == pytest.approx(1_020, rel=0.02)


def test_vdsl2_matches_nerim_lab_point_at_900_metres() -> None:
    rates = line_rates(LineProfile(VDSL, loop_length_m=900), TERMS)
    assert (rates.sync_down_kbps, rates.sync_up_kbps) == (40_000, 7_000)


@given(
    technology=st.sampled_from(list(Technology)),
    a=st.floats(min_value=0, max_value=120, allow_nan=False),
    b=st.floats(min_value=0, max_value=120, allow_nan=False),
)
def test_rates_never_rise_with_attenuation(technology: Technology, a: float, b: float) -> None:
    shorter = line_rates(LineProfile(technology, attenuation_db=min(a, b)), TERMS)
    longer = line_rates(LineProfile(technology, attenuation_db=max(a, b)), TERMS)
    assert shorter.sync_down_kbps >= longer.sync_down_kbps
    assert shorter.sync_up_kbps >= longer.sync_up_kbps
    assert shorter.ip_down_kbps >= longer.ip_down_kbps
    assert shorter.ip_up_kbps >= longer.ip_up_kbps


def test_loop_length_converts_at_15_db_per_km_of_04mm_copper() -> None:
    assert DB_PER_KM_04MM == 15.0
    assert LineProfile(ADSL, loop_length_m=2_000).line_attenuation_db == 30.0
    assert adsl(22.5).line_length_m == 1_500.0
    by_length = line_rates(LineProfile(ADSL, loop_length_m=2_000), TERMS)
    assert by_length == line_rates(adsl(30.0), TERMS)


# --- the offer's bounds ----------------------------------------------------------------


def test_very_short_vdsl_line_gives_at_most_50_down_and_8_up_ip() -> None:
    rates = line_rates(vdsl(0.0), TERMS)
    assert rates.sync_down_kbps == 100_000
    assert (rates.ip_down_kbps, rates.ip_up_kbps) == (50_000, 8_000)


def test_adsl_upstream_is_capped_at_800_kbps_ip() -> None:
    rates = line_rates(adsl(10.0), TERMS)
    assert ip_rate_kbps(rates.sync_up_kbps, ADSL) > 800
    assert rates.ip_up_kbps == 800


def test_adsl_downstream_never_reaches_the_20_mbps_ceiling() -> None:
    # "20 Mb/s" is an IP ceiling; the best ADSL2+ sync in the field table carries about 17.
    assert line_rates(adsl(0.0), TERMS).ip_down_kbps == 17_066


def test_line_at_78_db_meets_the_512_kbps_floor() -> None:
    rates = line_rates(adsl(78.0), TERMS)
    assert rates.ip_down_kbps == 512
    assert rates.eligible
    assert rates.ineligible_reason is None


def test_line_below_the_floor_is_not_eligible_but_still_syncs(clock: SimulatedClock) -> None:
    line = DslLine(adsl(85.0), TERMS, clock=clock)
    assert not line.eligible
    assert line.ineligible_reason is not None
    assert "below the offer's floor of 512 kb/s" in line.ineligible_reason
    assert line.status is LinkStatus.UP
    assert dsl0(line)["DownstreamCurrRate"] == 242
    check = line.within_offer()
    assert not check
    assert check.reasons == ("downstream 212 kb/s IP is below the offer's floor of 512 kb/s",)


def test_line_too_long_to_train_stays_down(clock: SimulatedClock) -> None:
    line = DslLine(adsl(95.0), TERMS, clock=clock)
    assert line.status is LinkStatus.DOWN
    assert line.ineligible_reason == "no sync: a modem does not train on 95 dB"
    assert line.dsl_stats()["InitErrors"] == 1
    line.resync()
    assert line.status is LinkStatus.DOWN
    assert line.dsl_stats()["InitErrors"] == 2


# --- VDSL2 reach -----------------------------------------------------------------------


def test_vdsl_beyond_one_and_a_half_km_falls_back_to_adsl2plus(clock: SimulatedClock) -> None:
    line = DslLine(LineProfile(VDSL, loop_length_m=1_600), TERMS, clock=clock)
    assert line.technology is ADSL
    assert line.rates.requested is VDSL
    assert line.fallback_reason == (
        "VDSL2 reaches 22.5 dB (1.5 km of 0.4 mm copper); this line has 24 dB, "
        "so it trains in ADSL2+"
    )
    mib = dsl0(line)
    assert (mib["ModulationType"], mib["ModulationHint"]) == ("ADSL", "VDSL")
    assert mib["StandardUsed"] == "G.992.5_Annex_A"
    assert line.ip_rates().up_kbps == 800  # the ADSL bounds apply once fallen back


def test_vdsl_within_reach_trains_in_vdsl2(clock: SimulatedClock) -> None:
    line = DslLine(LineProfile(VDSL, loop_length_m=1_500), TERMS, clock=clock)
    assert line.technology is VDSL
    assert line.fallback_reason is None
    mib = dsl0(line)
    assert (mib["ModulationType"], mib["StandardUsed"], mib["CurrentProfile"]) == (
        "VDSL",
        "G.993.2_Annex_B",
        "17a",
    )


# --- TV (footnote 9) -------------------------------------------------------------------


def test_tv_in_use_limits_internet_downstream_to_the_dedicated_4_mbps(
    clock: SimulatedClock,
) -> None:
    line = DslLine(vdsl(5.0, tv=True), TERMS, clock=clock)
    assert line.ip_rates().down_kbps == TERMS.tv_dedicated_kbps == 4_000
    assert line.ip_rates().up_kbps == 8_000
    assert line.rates.line_ip_down_kbps == 50_000
    assert line.within_offer()


def test_tv_is_a_ceiling_not_a_deduction() -> None:
    slow = line_rates(adsl(70.0, tv=True), TERMS)
    assert slow.ip_down_kbps == slow.line_ip_down_kbps == 1_501


def test_tv_does_not_change_eligibility() -> None:
    assert line_rates(adsl(85.0, tv=True), TERMS).eligible is False
    assert line_rates(adsl(30.0, tv=True), TERMS).eligible is True


# --- ATM and PTM overhead --------------------------------------------------------------


def test_atm_carries_a_full_packet_in_32_cells_of_53_bytes() -> None:
    # 1492 IP + 8 PPPoE/PPP + 14 Ethernet + 10 LLC/SNAP + 8 AAL5 = 1532 bytes -> 32 cells.
    assert atm_cells() == 32
    assert atm_line_bytes() == 1_696
    assert ip_efficiency(ADSL) == Fraction(1_492, 1_696)
    assert ip_rate_kbps(10_000, ADSL) == 8_797


def test_ptm_carries_a_full_packet_in_64_65_codewords() -> None:
    # 1492 IP + 8 PPPoE/PPP + 4 VLAN + 14 Ethernet + 4 FCS + 2 TC-CRC + 2 delimiters = 1526.
    assert ptm_line_bytes() == Fraction(1_526 * 65, 64)
    assert float(ip_efficiency(VDSL)) == pytest.approx(0.9627, abs=1e-4)
    assert ip_rate_kbps(10_000, VDSL) == 9_626


def test_ptm_loses_less_than_atm() -> None:
    assert ip_efficiency(VDSL) > ip_efficiency(ADSL)


# --- margins and the box's MIB view ----------------------------------------------------


def test_mibs_answer_like_getmibs_dsl(clock: SimulatedClock) -> None:
    line = DslLine(adsl(30.0), TERMS, clock=clock)
    advance(clock, 125)
    assert set(line.mibs()) == {"dsl"}
    mib = dsl0(line)
    assert {
        "LinkStatus",
        "LastChange",
        "UpstreamCurrRate",
        "DownstreamCurrRate",
        "UpstreamMaxRate",
        "DownstreamMaxRate",
        "UpstreamNoiseMargin",
        "DownstreamNoiseMargin",
        "UpstreamAttenuation",
        "DownstreamAttenuation",
        "UpstreamPower",
        "DownstreamPower",
        "DataPath",
        "InterleaveDepth",
        "ModulationType",
        "ModulationHint",
        "FirmwareVersion",
        "StandardUsed",
    } <= set(mib)
    assert mib["LinkStatus"] == "Up"
    assert mib["LastChange"] == 125
    assert (mib["DownstreamCurrRate"], mib["UpstreamCurrRate"]) == (11_181, 1_018)
    assert (mib["DownstreamMaxRate"], mib["UpstreamMaxRate"]) == (11_404, 1_038)
    # Tenths of dB, as the Livebox reports them.
    assert (mib["DownstreamAttenuation"], mib["UpstreamAttenuation"]) == (300, 150)
    assert (mib["DownstreamNoiseMargin"], mib["UpstreamNoiseMargin"]) == (60, 60)
    assert (mib["DownstreamPower"], mib["UpstreamPower"]) == (191, 121)
    assert (mib["ModulationType"], mib["DataPath"]) == ("ADSL", "Interleaved")


def test_short_lines_keep_a_higher_margin() -> None:
    assert line_rates(vdsl(1.5), TERMS).margin_down_db == 12.0
    assert line_rates(vdsl(15.0), TERMS).margin_down_db == 6.0
    assert line_rates(adsl(0.1), TERMS).margin_down_db == pytest.approx(10.0)


def test_dsl_stats_answer_like_getdslstats(clock: SimulatedClock) -> None:
    line = DslLine(vdsl(10.0), TERMS, clock=clock)
    assert set(line.dsl_stats()) == {
        "ReceiveBlocks",
        "TransmitBlocks",
        "CellDelin",
        "LinkRetrain",
        "InitErrors",
        "InitTimeouts",
        "LossOfFraming",
        "ErroredSecs",
        "SeverelyErroredSecs",
        "FECErrors",
        "ATUCFECErrors",
        "HECErrors",
        "ATUCHECErrors",
        "CRCErrors",
        "ATUCCRCErrors",
    }
    assert set(line.dsl_stats().values()) == {0}


def test_counters_grow_with_showtime(clock: SimulatedClock) -> None:
    line = DslLine(vdsl(10.0), TERMS, clock=clock)
    advance(clock, 55_132)  # the capture the background rates come from
    stats = line.dsl_stats()
    assert stats["ReceiveBlocks"] == stats["TransmitBlocks"] == 55_132 * 4_000
    assert (stats["FECErrors"], stats["CRCErrors"], stats["ErroredSecs"]) == (4_910_041, 1_174, 170)
    assert stats["SeverelyErroredSecs"] == 15


# --- faults ----------------------------------------------------------------------------


def test_lose_sync_drops_the_link_until_resync(clock: SimulatedClock) -> None:
    line = DslLine(adsl(30.0), TERMS, clock=clock)
    advance(clock, 100)
    crc_before = line.dsl_stats()["CRCErrors"]
    line.lose_sync()
    assert line.status is LinkStatus.DOWN
    assert line.ip_rates().down_kbps == 0
    assert dsl0(line)["DownstreamCurrRate"] == 0
    stats = line.dsl_stats()
    assert (stats["LossOfFraming"], stats["CellDelin"], stats["SeverelyErroredSecs"]) == (1, 1, 3)
    assert stats["CRCErrors"] - crc_before == 3 * 18  # three severely errored seconds
    advance(clock, 600)
    assert line.status is LinkStatus.DOWN
    assert line.dsl_stats()["ReceiveBlocks"] == 100 * 4_000  # no showtime while down
    line.resync()
    assert line.status is LinkStatus.INITIALIZING
    assert line.dsl_stats()["LinkRetrain"] == 1
    advance(clock, 30)
    assert line.status is LinkStatus.UP
    assert line.last_change == START + dt.timedelta(seconds=730)
    assert dsl0(line)["LastChangeTime"] == 730


def test_vdsl_has_no_atm_counters_to_lose(clock: SimulatedClock) -> None:
    line = DslLine(vdsl(10.0), TERMS, clock=clock)
    line.lose_sync()
    stats = line.dsl_stats()
    assert (stats["LossOfFraming"], stats["CellDelin"], stats["HECErrors"]) == (1, 0, 0)


def test_vdsl_takes_a_minute_to_train(clock: SimulatedClock) -> None:
    line = DslLine(vdsl(10.0), TERMS, clock=clock, trained=False)
    assert line.status is LinkStatus.INITIALIZING
    assert dsl0(line)["LinkStatus"] == "Initializing"
    advance(clock, 59)
    assert line.status is LinkStatus.INITIALIZING
    advance(clock, 1)
    assert line.status is LinkStatus.UP
    assert dsl0(line)["LastChange"] == 0


def test_retrain_lowers_the_rate_and_is_counted(clock: SimulatedClock) -> None:
    line = DslLine(adsl(30.0), TERMS, clock=clock)
    before = line.rates.sync_down_kbps
    line.retrain(lower_by_pct=20)
    assert line.status is LinkStatus.INITIALIZING
    advance(clock, 30)
    assert line.status is LinkStatus.UP
    assert line.rates.sync_down_kbps == pytest.approx(before * 0.8, abs=1)
    assert dsl0(line)["DownstreamNoiseMargin"] == 60
    stats = line.dsl_stats()
    assert (stats["LinkRetrain"], stats["ErroredSecs"]) == (1, 1)
    line.retrain(lower_by_pct=50)
    advance(clock, 30)
    assert line.dsl_stats()["LinkRetrain"] == 2
    assert line.rates == line_rates(adsl(30.0), TERMS, rate_factor=0.8 * 0.5)


def test_retrain_below_the_floor_fails_the_offer_check(clock: SimulatedClock) -> None:
    line = DslLine(adsl(70.0), TERMS, clock=clock)
    assert line.within_offer()
    line.retrain(lower_by_pct=90)
    check = line.within_offer()
    assert not check
    assert check.reasons == ("dsl0 is Initializing: no IP rate to check",)
    advance(clock, 30)
    assert line.within_offer().reasons == (
        "downstream 149 kb/s IP is below the offer's floor of 512 kb/s",
    )


def test_cut_line_is_down_and_its_modem_times_out(clock: SimulatedClock) -> None:
    line = DslLine(adsl(30.0), TERMS, clock=clock)
    line.cut()
    assert line.status is LinkStatus.DOWN
    advance(clock, 95)
    stats = line.dsl_stats()
    assert stats["InitTimeouts"] == 3  # a try every 30 s
    assert (stats["LossOfFraming"], stats["SeverelyErroredSecs"]) == (1, 1)
    line.resync()
    assert line.status is LinkStatus.DOWN
    assert line.dsl_stats()["InitErrors"] == 1
    line.restore()
    assert line.status is LinkStatus.INITIALIZING
    advance(clock, 30)
    assert line.status is LinkStatus.UP
    assert line.dsl_stats()["LinkRetrain"] == 1
    assert line.dsl_stats()["InitTimeouts"] == 3


def test_restore_leaves_a_line_that_lost_sync_waiting_for_resync(clock: SimulatedClock) -> None:
    line = DslLine(adsl(30.0), TERMS, clock=clock)
    line.lose_sync()
    line.cut()
    line.restore()
    assert line.status is LinkStatus.DOWN
    line.resync()
    assert line.status is LinkStatus.INITIALIZING


def test_within_offer_on_a_good_line(clock: SimulatedClock) -> None:
    check = DslLine(vdsl(12.0), TERMS, clock=clock).within_offer()
    assert check
    assert (check.down_kbps, check.up_kbps, check.reasons) == (50_000, 8_000, ())


# --- errors a user can cause -----------------------------------------------------------


def test_negative_attenuation_is_refused() -> None:
    with pytest.raises(LineProfileError, match=r"attenuation_db must be zero or more \(got -3\)"):
        LineProfile(ADSL, attenuation_db=-3)


def test_negative_length_is_refused() -> None:
    with pytest.raises(LineProfileError, match=r"loop_length_m must be zero or more"):
        LineProfile(ADSL, loop_length_m=-1.0)


def test_attenuation_must_be_a_finite_number() -> None:
    with pytest.raises(LineProfileError, match="attenuation_db must be a finite number"):
        LineProfile(ADSL, attenuation_db=float("nan"))
    with pytest.raises(LineProfileError, match=r"attenuation_db must be a number \(got '12'\)"):
        LineProfile(ADSL, attenuation_db="12")  # type: ignore[arg-type]


def test_both_attenuation_and_length_are_refused() -> None:
    with pytest.raises(LineProfileError, match="attenuation_db or its loop_length_m, not both"):
        LineProfile(ADSL, attenuation_db=12.0, loop_length_m=800)


def test_neither_attenuation_nor_length_is_refused() -> None:
    with pytest.raises(LineProfileError, match="neither was given"):
        LineProfile(ADSL)


def test_unknown_technology_is_refused() -> None:
    with pytest.raises(
        LineProfileError, match=r"unknown DSL technology 'adsl'; expected one of: adsl2\+, vdsl2"
    ):
        LineProfile("adsl", attenuation_db=12.0)  # type: ignore[arg-type]


def test_technology_is_read_from_text() -> None:
    assert LineProfile("VDSL2", attenuation_db=3.0).technology is VDSL  # type: ignore[arg-type]


def test_tv_flag_must_be_a_boolean() -> None:
    with pytest.raises(LineProfileError, match=r"tv_in_use must be true or false \(got 'yes'\)"):
        LineProfile(ADSL, attenuation_db=12.0, tv_in_use="yes")  # type: ignore[arg-type]


def test_profile_errors_are_value_errors() -> None:
    assert issubclass(LineProfileError, ValueError)
    assert issubclass(LineStateError, DslError)


@pytest.mark.parametrize("pct", [0, 100, -5, 150])
def test_retrain_needs_a_percentage_between_0_and_100(clock: SimulatedClock, pct: float) -> None:
    line = DslLine(adsl(30.0), TERMS, clock=clock)
    message = rf"lower_by_pct must be above 0 and below 100 \(got {pct}\)"
    with pytest.raises(DslError, match=message):
        line.retrain(lower_by_pct=pct)
    assert line.dsl_stats()["LinkRetrain"] == 0


def test_retrain_needs_an_up_line(clock: SimulatedClock) -> None:
    line = DslLine(adsl(30.0), TERMS, clock=clock)
    line.lose_sync()
    with pytest.raises(LineStateError, match="dsl0 cannot retrain: LinkStatus is Down, not Up"):
        line.retrain(lower_by_pct=10)


def test_faults_out_of_order_are_refused(clock: SimulatedClock) -> None:
    line = DslLine(adsl(30.0), TERMS, clock=clock)
    with pytest.raises(LineStateError, match="dsl0 cannot resync: LinkStatus is Up, not Down"):
        line.resync()
    with pytest.raises(LineStateError, match="dsl0 is not cut: nothing to restore"):
        line.restore()
    line.cut()
    with pytest.raises(LineStateError, match="dsl0 is already cut"):
        line.cut()
    with pytest.raises(LineStateError, match="dsl0 has no sync to lose: LinkStatus is Down"):
        line.lose_sync()


def test_restoring_a_line_too_long_to_train_fails_its_init(clock: SimulatedClock) -> None:
    line = DslLine(adsl(95.0), TERMS, clock=clock)
    line.cut()
    line.restore()
    assert line.status is LinkStatus.DOWN
    assert line.dsl_stats()["InitErrors"] == 2
