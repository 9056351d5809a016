"""The 8-business-hour guarantees of footnotes 13 and 14: deadlines, business time, verdicts."""

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.sla import (
    CALENDARS,
    MONDAY_TO_SATURDAY,
    BusinessWeek,
    Incident,
    InvalidBusinessWeekError,
    InvalidIncidentError,
    NaiveDatetimeError,
    UnknownCalendarError,
    assess,
    business_time_between,
    calendar_named,
    deadline,
    describe_moment,
    format_duration,
)

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
GUADELOUPE = ZoneInfo("America/Guadeloupe")
SUBSCRIPTION = Decimal("65.00")


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


# The business week of footnotes 13 and 14.


def test_business_week_is_monday_to_saturday_from_8_to_18() -> None:
    assert MONDAY_TO_SATURDAY.working_days == frozenset({0, 1, 2, 3, 4, 5})
    assert MONDAY_TO_SATURDAY.opens_at == time(8)
    assert MONDAY_TO_SATURDAY.closes_at == time(18)


def test_sunday_and_public_holidays_are_not_working_days() -> None:
    metropole = calendar_named("metropole")
    assert MONDAY_TO_SATURDAY.is_working_day(date(2024, 7, 13), metropole)  # Saturday
    assert not MONDAY_TO_SATURDAY.is_working_day(date(2024, 7, 7), metropole)  # Sunday
    assert not MONDAY_TO_SATURDAY.is_working_day(date(2025, 7, 14), metropole)  # Monday, 14 July


def test_business_week_without_working_day_is_refused() -> None:
    with pytest.raises(InvalidBusinessWeekError, match="at least one working day"):
        BusinessWeek(working_days=frozenset())


def test_business_week_with_unknown_weekday_is_refused() -> None:
    with pytest.raises(InvalidBusinessWeekError, match=r"from 0 \(Monday\) to 6 \(Sunday\), got"):
        BusinessWeek(working_days=frozenset({0, 7}))


def test_business_week_closing_before_opening_is_refused() -> None:
    with pytest.raises(
        InvalidBusinessWeekError, match="opening time 18:00 must be before closing time 08:00"
    ):
        BusinessWeek(opens_at=time(18), closes_at=time(8))


def test_business_week_with_aware_opening_time_is_refused() -> None:
    with pytest.raises(InvalidBusinessWeekError, match="wall-clock times"):
        BusinessWeek(opens_at=time(8, tzinfo=UTC))


def test_business_week_is_frozen() -> None:
    with pytest.raises(AttributeError):
        MONDAY_TO_SATURDAY.opens_at = time(9)  # type: ignore[misc]


# Calendars.


def test_metropole_is_paris_time_without_subdivision() -> None:
    metropole = calendar_named("metropole")
    assert metropole.zone == PARIS
    assert metropole.subdivision is None
    assert metropole.metropolitan


def test_metropole_has_no_good_friday_nor_saint_stephen() -> None:
    metropole = calendar_named("metropole")
    assert not metropole.is_public_holiday(date(2024, 3, 29))
    assert not metropole.is_public_holiday(date(2024, 12, 26))


def test_alsace_moselle_adds_good_friday_and_26_december() -> None:
    alsace_moselle = calendar_named("alsace-moselle")
    assert alsace_moselle.zone == PARIS
    assert alsace_moselle.metropolitan
    assert alsace_moselle.public_holiday(date(2024, 3, 29)) == "Good Friday"
    assert alsace_moselle.public_holiday(date(2024, 12, 26)) == "Saint Stephen's Day"


def test_public_holiday_names_are_english_and_none_on_ordinary_days() -> None:
    metropole = calendar_named("metropole")
    assert metropole.public_holiday(date(2024, 7, 14)) == "National Day"
    assert metropole.public_holiday(date(2024, 7, 15)) is None


@pytest.mark.parametrize(
    ("name", "zone", "subdivision"),
    [
        ("guadeloupe", "America/Guadeloupe", "971"),
        ("martinique", "America/Martinique", "972"),
        ("guyane", "America/Cayenne", "973"),
        ("reunion", "Indian/Reunion", "974"),
        ("mayotte", "Indian/Mayotte", "976"),
        ("saint-barthelemy", "America/St_Barthelemy", "BL"),
        ("saint-martin", "America/Marigot", "MF"),
        ("saint-pierre-et-miquelon", "America/Miquelon", "PM"),
        ("nouvelle-caledonie", "Pacific/Noumea", "NC"),
        ("polynesie-francaise", "Pacific/Tahiti", "PF"),
        ("wallis-et-futuna", "Pacific/Wallis", "WF"),
    ],
)
def test_overseas_calendars_have_their_own_time_zone(
    name: str, zone: str, subdivision: str
) -> None:
    calendar = calendar_named(name)
    assert calendar.zone == ZoneInfo(zone)
    assert calendar.subdivision == subdivision
    assert not calendar.metropolitan


def test_every_calendar_knows_bastille_day() -> None:
    for calendar in CALENDARS.values():
        assert calendar.is_public_holiday(date(2024, 7, 14)), calendar.name


def test_reunion_has_abolition_of_slavery_on_20_december() -> None:
    assert calendar_named("reunion").is_public_holiday(date(2024, 12, 20))
    assert not calendar_named("metropole").is_public_holiday(date(2024, 12, 20))


def test_unknown_calendar_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCalendarError, match="unknown calendar 'corse'") as raised:
        calendar_named("corse")
    for name in ("metropole", "alsace-moselle", "reunion", "wallis-et-futuna"):
        assert name in str(raised.value)


def test_deadline_refuses_unknown_calendar() -> None:
    with pytest.raises(UnknownCalendarError, match="known calendars: metropole, alsace-moselle"):
        deadline(paris(2024, 7, 12, 10), calendar="Metropole")


# Deadline: the examples of the offer's business week.


def test_deadline_friday_16h_is_saturday_14h() -> None:
    assert deadline(paris(2024, 7, 12, 16)) == paris(2024, 7, 13, 14)


def test_deadline_saturday_15h_skips_sunday_to_monday_13h() -> None:
    assert deadline(paris(2024, 7, 6, 15)) == paris(2024, 7, 8, 13)


def test_deadline_saturday_13_july_2024_17h_skips_sunday_14_july_to_monday_15h() -> None:
    # 14 July 2024 is a Sunday; the Monday after is an ordinary working day.
    assert not calendar_named("metropole").is_public_holiday(date(2024, 7, 15))
    assert deadline(paris(2024, 7, 13, 17)) == paris(2024, 7, 15, 15)


def test_deadline_skips_sunday_and_bastille_day() -> None:
    # 14 July 2025 is a Monday.
    assert deadline(paris(2025, 7, 12, 15)) == paris(2025, 7, 15, 13)


def test_deadline_signalled_the_evening_before_labour_day() -> None:
    # Tuesday 30 April 2024, 19:00; Wednesday 1 May is a public holiday.
    assert deadline(paris(2024, 4, 30, 19)) == paris(2024, 5, 2, 16)


def test_deadline_of_fault_signalled_at_night_starts_at_opening() -> None:
    assert deadline(paris(2024, 7, 10, 3)) == paris(2024, 7, 10, 16)


def test_deadline_of_fault_signalled_sunday_starts_monday_morning() -> None:
    assert deadline(paris(2024, 7, 7, 11)) == paris(2024, 7, 8, 16)


def test_deadline_at_exactly_closing_time_is_closing_time() -> None:
    assert deadline(paris(2024, 7, 12, 10)) == paris(2024, 7, 12, 18)


def test_deadline_of_fault_signalled_at_closing_time_counts_from_next_opening() -> None:
    assert deadline(paris(2024, 7, 11, 18)) == paris(2024, 7, 12, 16)


def test_deadline_of_fault_signalled_at_opening_time_is_same_day() -> None:
    assert deadline(paris(2024, 7, 11, 8)) == paris(2024, 7, 11, 16)


def test_deadline_keeps_minutes_and_seconds() -> None:
    signalled = datetime(2024, 7, 11, 14, 37, 12, tzinfo=PARIS)
    assert deadline(signalled) == datetime(2024, 7, 12, 12, 37, 12, tzinfo=PARIS)


def test_deadline_with_other_number_of_business_hours() -> None:
    assert deadline(paris(2024, 7, 11, 10), business_hours=4) == paris(2024, 7, 11, 14)
    assert deadline(paris(2024, 7, 11, 10), business_hours=20) == paris(2024, 7, 13, 10)


def test_deadline_with_a_monday_to_friday_week_skips_saturday() -> None:
    week = BusinessWeek(working_days=frozenset(range(5)))
    assert deadline(paris(2024, 7, 12, 16), week=week) == paris(2024, 7, 15, 14)


def test_deadline_over_christmas_and_new_year() -> None:
    # Tuesday 31 December 2024 at 17:00: 1 January is a holiday; the year changes in between.
    assert deadline(paris(2024, 12, 31, 17)) == paris(2025, 1, 2, 15)


# Deadline: time zones and summer time.


def test_deadline_is_returned_in_the_calendars_time_zone() -> None:
    signalled = datetime(2024, 7, 12, 14, tzinfo=UTC)  # 16:00 in Paris
    due = deadline(signalled)
    assert due == paris(2024, 7, 13, 14)
    assert due.tzinfo == PARIS


def test_deadline_refuses_naive_datetime() -> None:
    with pytest.raises(
        NaiveDatetimeError, match=r"signalled_at \(2024-07-12T16:00:00\) has no time zone"
    ):
        deadline(datetime(2024, 7, 12, 16))


def test_deadline_refuses_non_positive_business_hours() -> None:
    with pytest.raises(InvalidIncidentError, match="business_hours must be positive, got 0"):
        deadline(paris(2024, 7, 12, 16), business_hours=0)


def test_deadline_across_spring_forward_keeps_wall_clock_hours() -> None:
    # Summer time starts Sunday 31 March 2024; Monday 1 April is Easter Monday.
    due = deadline(paris(2024, 3, 30, 15))
    assert due == paris(2024, 4, 2, 13)
    assert (due.hour, due.utcoffset()) == (13, timedelta(hours=2))


def test_deadline_across_fall_back_keeps_wall_clock_hours() -> None:
    # Winter time starts Sunday 27 October 2024.
    signalled = paris(2024, 10, 26, 15)
    due = deadline(signalled)
    assert due == paris(2024, 10, 28, 13)
    assert (due.hour, due.utcoffset()) == (13, timedelta(hours=1))
    assert business_time_between(signalled, due) == timedelta(hours=8)


def test_deadline_in_reunion_counts_local_hours() -> None:
    signalled = datetime(2024, 7, 11, 12, tzinfo=REUNION)
    due = deadline(signalled, calendar="reunion")
    assert due == datetime(2024, 7, 12, 10, tzinfo=REUNION)
    assert due.tzinfo == REUNION


def test_deadline_in_reunion_skips_abolition_of_slavery() -> None:
    # Friday 20 December 2024 is a public holiday in Réunion only.
    signalled = datetime(2024, 12, 19, 16, tzinfo=REUNION)
    assert deadline(signalled, calendar="reunion") == datetime(2024, 12, 21, 14, tzinfo=REUNION)


def test_same_instant_gives_local_deadlines_in_paris_and_guadeloupe() -> None:
    signalled = datetime(2024, 7, 11, 12, tzinfo=UTC)  # 14:00 in Paris, 08:00 in Guadeloupe
    assert deadline(signalled) == paris(2024, 7, 12, 12)
    assert deadline(signalled, calendar="guadeloupe") == datetime(
        2024, 7, 11, 16, tzinfo=GUADELOUPE
    )


def test_deadline_in_alsace_moselle_skips_saint_stephen() -> None:
    signalled = paris(2024, 12, 24, 16)
    assert deadline(signalled) == paris(2024, 12, 26, 14)
    assert deadline(signalled, calendar="alsace-moselle") == paris(2024, 12, 27, 14)


def test_deadline_in_alsace_moselle_skips_good_friday() -> None:
    signalled = paris(2024, 3, 28, 16)
    assert deadline(signalled) == paris(2024, 3, 29, 14)
    assert deadline(signalled, calendar="alsace-moselle") == paris(2024, 3, 30, 14)


def test_holidays_are_computed_once_per_calendar_and_year(monkeypatch: pytest.MonkeyPatch) -> None:
    # Labs call deadline() often: after the first call of a year, no holidays object is built.
    signalled = paris(2024, 7, 13, 17)
    deadline(signalled)

    def rebuild(*args: object, **kwargs: object) -> None:
        raise AssertionError("holidays recomputed")

    monkeypatch.setattr(holidays, "country_holidays", rebuild)
    assert deadline(signalled) == paris(2024, 7, 15, 15)


# Business time between two instants.


def test_business_time_within_one_day() -> None:
    assert business_time_between(paris(2024, 7, 11, 9), paris(2024, 7, 11, 12, 20)) == timedelta(
        hours=3, minutes=20
    )


def test_business_time_over_a_night_and_a_sunday() -> None:
    start, end = paris(2024, 7, 6, 17), paris(2024, 7, 8, 9)
    assert business_time_between(start, end) == timedelta(hours=2)


def test_business_time_outside_opening_hours_is_zero() -> None:
    assert business_time_between(paris(2024, 7, 11, 18), paris(2024, 7, 12, 7)) == timedelta()


def test_business_time_over_a_full_week() -> None:
    # Monday 8 to Monday 15 July 2024: six days of ten hours; 14 July is a Sunday anyway.
    assert business_time_between(paris(2024, 7, 8), paris(2024, 7, 15)) == timedelta(hours=60)


def test_business_time_accepts_other_time_zones() -> None:
    start = datetime(2024, 7, 11, 6, tzinfo=UTC)  # 08:00 in Paris
    assert business_time_between(start, paris(2024, 7, 11, 10)) == timedelta(hours=2)


def test_business_time_refuses_end_before_start() -> None:
    with pytest.raises(
        InvalidIncidentError,
        match=re.escape(
            "end (2024-07-11T09:00:00+02:00) is before start (2024-07-11T10:00:00+02:00)"
        ),
    ):
        business_time_between(paris(2024, 7, 11, 10), paris(2024, 7, 11, 9))


def test_business_time_refuses_naive_end() -> None:
    with pytest.raises(
        NaiveDatetimeError, match=re.escape("end (2024-07-11T12:00:00) has no time zone")
    ):
        business_time_between(paris(2024, 7, 11, 10), datetime(2024, 7, 11, 12))


@settings(derandomize=True, database=None, max_examples=200)
@given(
    signalled=st.datetimes(
        min_value=datetime(2023, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(PARIS)
    ),
    hours=st.integers(min_value=1, max_value=40),
    calendar=st.sampled_from(sorted(CALENDARS)),
)
def test_deadline_is_exactly_the_business_hours_after_signalling(
    signalled: datetime, hours: int, calendar: str
) -> None:
    due = deadline(signalled, business_hours=hours, calendar=calendar)
    assert due >= signalled
    assert business_time_between(signalled, due, calendar=calendar) == timedelta(hours=hours)
    assert business_time_between(signalled, due - timedelta(minutes=1), calendar=calendar) < (
        timedelta(hours=hours)
    )


# Durations in words.


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        (timedelta(hours=3, minutes=20), "3 h 20 min"),
        (timedelta(hours=8), "8 h"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(minutes=1, seconds=30), "1 min 30 s"),
        (timedelta(hours=26), "26 h"),
        (timedelta(), "0 min"),
    ],
)
def test_format_duration(duration: timedelta, words: str) -> None:
    assert format_duration(duration) == words


def test_describe_moment_does_not_depend_on_locale() -> None:
    assert describe_moment(paris(2024, 7, 13, 14)) == "Saturday 2024-07-13 14:00 +0200"


# Incidents.


def test_incident_refuses_unknown_guarantee() -> None:
    with pytest.raises(InvalidIncidentError, match="unknown guarantee 'tv'; known guarantees"):
        Incident("tv", paris(2024, 7, 11, 9))  # type: ignore[arg-type]


def test_incident_refuses_naive_signalling() -> None:
    with pytest.raises(NaiveDatetimeError, match="signalled_at"):
        Incident("restoration", datetime(2024, 7, 11, 9))


def test_incident_refuses_naive_resolution() -> None:
    with pytest.raises(NaiveDatetimeError, match="resolved_at"):
        Incident("restoration", paris(2024, 7, 11, 9), datetime(2024, 7, 11, 12))


def test_incident_refuses_resolution_before_signalling() -> None:
    with pytest.raises(
        InvalidIncidentError,
        match=re.escape(
            "resolved_at (2024-07-11T08:00:00+02:00) is before "
            "signalled_at (2024-07-11T09:00:00+02:00)"
        ),
    ):
        Incident("restoration", paris(2024, 7, 11, 9), paris(2024, 7, 11, 8))


def test_incident_refuses_unknown_calendar() -> None:
    with pytest.raises(UnknownCalendarError, match="unknown calendar 'paris'"):
        Incident("restoration", paris(2024, 7, 11, 9), calendar="paris")


# Verdicts.


def test_restoration_within_8_business_hours_is_met() -> None:
    incident = Incident("restoration", paris(2024, 7, 11, 9), paris(2024, 7, 11, 12, 20))
    verdict = assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 12))
    assert verdict.deadline == paris(2024, 7, 11, 17)
    assert verdict.met is True
    assert verdict.covered
    assert verdict.penalty == Decimal("0")
    assert verdict.reason == (
        "restored 3 h 20 min of business time after signalling, within 8 business hours"
    )


def test_restoration_at_exactly_8_business_hours_is_met() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16), paris(2024, 7, 13, 14))
    verdict = assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 13, 15))
    assert verdict.met is True
    assert (
        verdict.reason == "restored 8 h of business time after signalling, within 8 business hours"
    )


def test_restoration_after_closing_but_before_next_opening_is_met() -> None:
    # Deadline Friday 18:00; no business time passes during the evening.
    incident = Incident("restoration", paris(2024, 7, 12, 10), paris(2024, 7, 12, 19))
    verdict = assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 12, 20))
    assert verdict.deadline == paris(2024, 7, 12, 18)
    assert verdict.met is True


def test_late_restoration_costs_one_month_of_subscription() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16), paris(2024, 7, 13, 15, 30))
    verdict = assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 14))
    assert verdict.met is False
    assert verdict.penalty == Decimal("65.00")
    assert verdict.reason == (
        "restored 9 h 30 min of business time after signalling, missed by 1 h 30 min of "
        "business time (deadline Saturday 2024-07-13 14:00 +0200); penalty: one month's "
        "subscription, options excluded"
    )


def test_penalty_is_the_amount_passed_for_each_plan() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16), paris(2024, 7, 15, 9))
    for price in (Decimal("59.00"), Decimal("65.00"), Decimal("75.00")):
        verdict = assess(incident, monthly_subscription=price, now=paris(2024, 7, 15, 10))
        assert verdict.penalty == price


def test_intervention_on_site_in_time_is_met() -> None:
    incident = Incident("intervention", paris(2024, 7, 12, 16), paris(2024, 7, 13, 11))
    verdict = assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 13, 12))
    assert verdict.met is True
    assert verdict.reason == (
        "technician on site 5 h of business time after signalling, within 8 business hours"
    )


def test_late_intervention_is_missed() -> None:
    incident = Incident("intervention", paris(2024, 7, 6, 15), paris(2024, 7, 8, 14))
    verdict = assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 8, 14))
    assert verdict.met is False
    assert verdict.penalty == SUBSCRIPTION
    assert verdict.reason.startswith("technician on site 9 h of business time after signalling")


def test_open_incident_before_deadline_is_undecided() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16))
    verdict = assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 13, 10))
    assert verdict.met is None
    assert verdict.penalty == Decimal("0")
    assert verdict.reason == (
        "not restored yet, 4 h of business time elapsed, 4 h left "
        "(deadline Saturday 2024-07-13 14:00 +0200)"
    )


def test_open_incident_during_the_night_after_a_deadline_at_closing_is_undecided() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 10))
    verdict = assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 12, 23))
    assert verdict.met is None


def test_open_incident_past_deadline_is_missed() -> None:
    incident = Incident("intervention", paris(2024, 7, 12, 16))
    verdict = assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 13, 14, 45))
    assert verdict.met is False
    assert verdict.penalty == SUBSCRIPTION
    assert verdict.reason == (
        "no technician on site yet, missed by 45 min of business time "
        "(deadline Saturday 2024-07-13 14:00 +0200); penalty: one month's subscription, "
        "options excluded"
    )


def test_excluded_incident_is_not_covered() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16), paris(2024, 7, 16, 9))
    verdict = assess(
        incident,
        monthly_subscription=SUBSCRIPTION,
        now=paris(2024, 7, 16, 10),
        exclusion="signalled during a move",
    )
    assert not verdict.covered
    assert verdict.met is None
    assert verdict.penalty == Decimal("0")
    assert verdict.reason == "not covered: signalled during a move"
    assert verdict.deadline == paris(2024, 7, 13, 14)


def test_overseas_incident_is_assessed_in_local_hours() -> None:
    signalled = datetime(2024, 12, 19, 16, tzinfo=REUNION)
    incident = Incident("restoration", signalled, calendar="reunion")
    verdict = assess(
        incident,
        monthly_subscription=SUBSCRIPTION,
        now=datetime(2024, 12, 20, 17, tzinfo=REUNION),  # a holiday in Réunion
    )
    assert verdict.deadline == datetime(2024, 12, 21, 14, tzinfo=REUNION)
    assert verdict.met is None
    assert "2 h of business time elapsed, 6 h left" in verdict.reason


def test_assess_refuses_float_subscription() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16))
    with pytest.raises(InvalidIncidentError, match=r"must be a finite Decimal amount, got 65\.0"):
        assess(incident, monthly_subscription=65.0, now=paris(2024, 7, 13))  # type: ignore[arg-type]


def test_assess_refuses_negative_subscription() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16))
    with pytest.raises(InvalidIncidentError, match="must not be negative, got -1"):
        assess(incident, monthly_subscription=Decimal("-1"), now=paris(2024, 7, 13))


def test_assess_refuses_naive_now() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16))
    with pytest.raises(NaiveDatetimeError, match=r"now \(2024-07-13T00:00:00\) has no time zone"):
        assess(incident, monthly_subscription=SUBSCRIPTION, now=datetime(2024, 7, 13))


def test_assess_refuses_now_before_signalling() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16))
    with pytest.raises(
        InvalidIncidentError,
        match=re.escape(
            "now (2024-07-12T15:00:00+02:00) is before the signalling (2024-07-12T16:00:00+02:00)"
        ),
    ):
        assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 12, 15))


def test_assess_refuses_resolution_after_now() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16), paris(2024, 7, 13, 9))
    with pytest.raises(
        InvalidIncidentError,
        match=re.escape(
            "resolved_at (2024-07-13T09:00:00+02:00) is after now (2024-07-12T17:00:00+02:00)"
        ),
    ):
        assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 12, 17))


def test_assess_refuses_blank_exclusion() -> None:
    incident = Incident("restoration", paris(2024, 7, 12, 16))
    with pytest.raises(InvalidIncidentError, match="exclusion must say why"):
        assess(incident, monthly_subscription=SUBSCRIPTION, now=paris(2024, 7, 13), exclusion=" ")
