"""Dated terms of Optimale pro: installation (17), Livebox exchange (16), exclusions (13, 14)."""

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from profiles.sla import NaiveDatetimeError, UnknownCalendarError
from profiles.terms import (
    GUARANTEE_BY_SERVICE,
    MONDAY_TO_FRIDAY,
    NotContinentalError,
    UnknownServiceError,
    check_installation_slot,
    earliest_installation_day,
    exchange_delivery_day,
    guarantee_exclusion,
    guarantee_for,
    installation_booking_deadline,
)

PARIS = ZoneInfo("Europe/Paris")


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


# On-site installation (footnote 17): booking within 30 calendar days.


def test_booking_deadline_is_30_calendar_days_after_subscription() -> None:
    assert installation_booking_deadline(date(2024, 3, 1)) == date(2024, 3, 31)


def test_booking_deadline_crosses_february_of_a_leap_year() -> None:
    assert installation_booking_deadline(date(2024, 1, 31)) == date(2024, 3, 1)


def test_booking_deadline_ignores_weekends_and_holidays() -> None:
    # Calendar days: Sunday 14 July 2024 is a valid last day to book.
    assert installation_booking_deadline(date(2024, 6, 14)) == date(2024, 7, 14)


# Installation: at least 12 calendar days after the booking, Monday to Friday, not a holiday.


def test_installation_week_is_monday_to_friday_from_8_to_18() -> None:
    assert MONDAY_TO_FRIDAY.working_days == frozenset({0, 1, 2, 3, 4})
    assert (MONDAY_TO_FRIDAY.opens_at, MONDAY_TO_FRIDAY.closes_at) == (time(8), time(18))


def test_earliest_installation_is_12_calendar_days_after_booking() -> None:
    assert earliest_installation_day(date(2024, 6, 28)) == date(2024, 7, 10)


def test_earliest_installation_on_a_saturday_moves_to_monday() -> None:
    assert earliest_installation_day(date(2024, 7, 1)) == date(2024, 7, 15)


def test_earliest_installation_on_sunday_bastille_day_moves_to_monday() -> None:
    assert earliest_installation_day(date(2024, 7, 2)) == date(2024, 7, 15)


def test_earliest_installation_skips_bastille_day_on_a_monday() -> None:
    assert earliest_installation_day(date(2025, 7, 2)) == date(2025, 7, 15)


def test_earliest_installation_in_alsace_moselle_skips_good_friday() -> None:
    # Day 12 is Good Friday 18 April 2025, then the weekend and Easter Monday.
    assert earliest_installation_day(date(2025, 4, 6)) == date(2025, 4, 18)
    assert earliest_installation_day(date(2025, 4, 6), calendar="alsace-moselle") == date(
        2025, 4, 22
    )


def test_earliest_installation_refuses_unknown_calendar() -> None:
    with pytest.raises(UnknownCalendarError, match="unknown calendar 'alsace'"):
        earliest_installation_day(date(2025, 4, 6), calendar="alsace")


def test_valid_installation_slot_breaks_no_rule() -> None:
    assert (
        check_installation_slot(date(2024, 6, 3), date(2024, 6, 10), paris(2024, 6, 24, 10)) == []
    )


def test_installation_booked_on_the_30th_day_is_valid() -> None:
    assert check_installation_slot(date(2024, 6, 3), date(2024, 7, 3), paris(2024, 7, 15, 9)) == []


def test_installation_booked_on_the_subscription_day_is_valid() -> None:
    assert check_installation_slot(date(2024, 6, 3), date(2024, 6, 3), paris(2024, 6, 17, 9)) == []


def test_installation_booked_on_the_31st_day_is_too_late() -> None:
    broken = check_installation_slot(date(2024, 6, 3), date(2024, 7, 4), paris(2024, 7, 16, 9))
    assert broken == [
        "the appointment was booked on Thursday 2024-07-04, more than 30 calendar days after "
        "the subscription on Monday 2024-06-03 (last day to book: Wednesday 2024-07-03)"
    ]


def test_installation_booked_before_subscription_is_refused() -> None:
    broken = check_installation_slot(date(2024, 6, 3), date(2024, 6, 1), paris(2024, 6, 17, 9))
    assert broken == [
        "the appointment was booked on Saturday 2024-06-01, before the subscription on "
        "Monday 2024-06-03"
    ]


def test_installation_11_days_after_booking_is_too_early() -> None:
    broken = check_installation_slot(date(2024, 6, 3), date(2024, 6, 10), paris(2024, 6, 21, 9))
    assert broken == [
        "the installation on Friday 2024-06-21 is less than 12 calendar days after the booking "
        "on Monday 2024-06-10 (earliest: Monday 2024-06-24)"
    ]


def test_installation_exactly_12_days_after_booking_is_valid() -> None:
    assert check_installation_slot(date(2024, 6, 3), date(2024, 6, 12), paris(2024, 6, 24, 9)) == []


def test_installation_on_saturday_is_refused() -> None:
    broken = check_installation_slot(date(2024, 6, 3), date(2024, 6, 10), paris(2024, 6, 22, 9))
    assert broken == [
        "the installation on Saturday 2024-06-22 is not on a weekday: installations are done "
        "Monday to Friday"
    ]


def test_installation_on_a_public_holiday_is_refused() -> None:
    broken = check_installation_slot(date(2024, 7, 22), date(2024, 7, 22), paris(2024, 8, 15, 9))
    assert broken == [
        "the installation on Thursday 2024-08-15 falls on a public holiday (Assumption Day)"
    ]


def test_installation_on_good_friday_is_refused_in_alsace_moselle_only() -> None:
    slot = paris(2025, 4, 18, 9)
    assert check_installation_slot(date(2025, 3, 20), date(2025, 3, 24), slot) == []
    assert check_installation_slot(
        date(2025, 3, 20), date(2025, 3, 24), slot, calendar="alsace-moselle"
    ) == ["the installation on Friday 2025-04-18 falls on a public holiday (Good Friday)"]


@pytest.mark.parametrize(("hour", "minute"), [(8, 0), (12, 30), (17, 59)])
def test_installation_starting_during_business_hours_is_valid(hour: int, minute: int) -> None:
    slot = paris(2024, 6, 24, hour, minute)
    assert check_installation_slot(date(2024, 6, 3), date(2024, 6, 10), slot) == []


@pytest.mark.parametrize(("hour", "minute"), [(7, 59), (18, 0), (20, 0)])
def test_installation_starting_outside_business_hours_is_refused(hour: int, minute: int) -> None:
    slot = paris(2024, 6, 24, hour, minute)
    assert check_installation_slot(date(2024, 6, 3), date(2024, 6, 10), slot) == [
        f"the installation at {hour:02}:{minute:02} is outside business hours: it must start "
        "between 08:00 and 18:00"
    ]


def test_installation_hours_are_read_in_local_time() -> None:
    slot = datetime(2024, 6, 24, 16, 30, tzinfo=UTC)  # 18:30 in Paris
    broken = check_installation_slot(date(2024, 6, 3), date(2024, 6, 10), slot)
    assert broken == [
        "the installation at 18:30 is outside business hours: it must start between 08:00 and 18:00"
    ]


def test_installation_slot_lists_every_broken_rule() -> None:
    # Booked 31 days late, 5 days ahead, on Sunday 14 July in the evening.
    broken = check_installation_slot(date(2024, 6, 8), date(2024, 7, 9), paris(2024, 7, 14, 20))
    assert len(broken) == 5
    assert "more than 30 calendar days" in broken[0]
    assert "less than 12 calendar days" in broken[1]
    assert "not on a weekday" in broken[2]
    assert "public holiday (National Day)" in broken[3]
    assert "outside business hours" in broken[4]


def test_installation_slot_refuses_naive_datetime() -> None:
    with pytest.raises(
        NaiveDatetimeError, match=re.escape("slot (2024-06-24T10:00:00) has no time zone")
    ):
        check_installation_slot(date(2024, 6, 3), date(2024, 6, 10), datetime(2024, 6, 24, 10))


# Livebox exchange on site (footnote 16).


def test_exchange_called_monday_morning_is_delivered_tuesday() -> None:
    assert exchange_delivery_day(paris(2024, 7, 8, 10)) == date(2024, 7, 9)


def test_exchange_called_at_13_59_is_delivered_next_day() -> None:
    assert exchange_delivery_day(paris(2024, 7, 8, 13, 59)) == date(2024, 7, 9)


def test_exchange_called_at_14_00_counts_from_next_working_day() -> None:
    assert exchange_delivery_day(paris(2024, 7, 8, 14)) == date(2024, 7, 10)


def test_exchange_called_friday_morning_is_delivered_monday() -> None:
    assert exchange_delivery_day(paris(2024, 7, 12, 10)) == date(2024, 7, 15)


def test_exchange_called_friday_afternoon_is_delivered_tuesday() -> None:
    assert exchange_delivery_day(paris(2024, 7, 12, 15)) == date(2024, 7, 16)


def test_exchange_called_saturday_morning_counts_from_monday() -> None:
    assert exchange_delivery_day(paris(2024, 7, 13, 10)) == date(2024, 7, 16)


def test_exchange_called_sunday_counts_from_monday() -> None:
    assert exchange_delivery_day(paris(2024, 7, 7, 10)) == date(2024, 7, 9)


def test_exchange_is_not_delivered_on_bastille_day() -> None:
    # Friday 11 July 2025 before 14:00; Monday 14 July 2025 is a public holiday.
    assert exchange_delivery_day(paris(2025, 7, 11, 10)) == date(2025, 7, 15)


def test_exchange_called_on_a_public_holiday_counts_from_next_working_day() -> None:
    assert exchange_delivery_day(paris(2025, 7, 14, 9)) == date(2025, 7, 16)


def test_exchange_called_the_day_before_labour_day() -> None:
    assert exchange_delivery_day(paris(2025, 4, 30, 10)) == date(2025, 5, 2)


def test_exchange_in_alsace_moselle_skips_good_friday_and_easter_monday() -> None:
    called = paris(2025, 4, 17, 10)
    assert exchange_delivery_day(called) == date(2025, 4, 18)
    assert exchange_delivery_day(called, calendar="alsace-moselle") == date(2025, 4, 22)


def test_exchange_call_time_is_read_in_paris_time() -> None:
    assert exchange_delivery_day(datetime(2024, 7, 8, 11, 30, tzinfo=UTC)) == date(2024, 7, 9)
    assert exchange_delivery_day(datetime(2024, 7, 8, 12, 30, tzinfo=UTC)) == date(2024, 7, 10)


def test_exchange_outside_continental_france_is_in_a_shop() -> None:
    with pytest.raises(NotContinentalError, match="only available in continental France") as raised:
        exchange_delivery_day(paris(2024, 7, 8, 10), continental=False)
    assert "Corsica" in str(raised.value)
    assert "Orange shop" in str(raised.value)


def test_exchange_overseas_is_not_continental() -> None:
    with pytest.raises(
        NotContinentalError, match="calendar 'reunion' is not in continental France"
    ):
        exchange_delivery_day(paris(2024, 7, 8, 10), calendar="reunion")


def test_exchange_refuses_naive_call_time() -> None:
    with pytest.raises(NaiveDatetimeError, match=re.escape("called_at (2024-07-08T10:00:00)")):
        exchange_delivery_day(datetime(2024, 7, 8, 10))


# Guarantee exclusions (footnotes 13 and 14).

ACTIVATED = paris(2024, 6, 3, 12)


def test_services_and_their_guarantees() -> None:
    assert guarantee_for("classic-line") == "restoration"
    assert guarantee_for("internet") == "intervention"
    assert guarantee_for("voip-line") == "intervention"
    assert guarantee_for("tv") is None
    assert set(GUARANTEE_BY_SERVICE) == {"classic-line", "internet", "voip-line", "tv"}


def test_unknown_service_lists_the_known_ones() -> None:
    with pytest.raises(
        UnknownServiceError,
        match="unknown service 'fax'; known services: classic-line, internet, voip-line, tv",
    ):
        guarantee_for("fax")


@pytest.mark.parametrize("service", ["classic-line", "internet", "voip-line"])
def test_guarantee_applies_after_activation(service: str) -> None:
    assert (
        guarantee_exclusion(
            service=service,
            signalled_at=paris(2024, 7, 8, 10),
            activation_completed_at=ACTIVATED,
        )
        is None
    )


def test_tv_is_not_covered() -> None:
    exclusion = guarantee_exclusion(
        service="tv", signalled_at=paris(2024, 7, 8, 10), activation_completed_at=ACTIVATED
    )
    assert exclusion == "the TV service is not covered by the 8-hour guarantees"


def test_exclusion_refuses_unknown_service() -> None:
    with pytest.raises(UnknownServiceError, match="unknown service 'television'"):
        guarantee_exclusion(
            service="television",
            signalled_at=paris(2024, 7, 8, 10),
            activation_completed_at=ACTIVATED,
        )


def test_not_covered_while_the_offer_is_being_activated() -> None:
    exclusion = guarantee_exclusion(
        service="internet", signalled_at=paris(2024, 6, 3, 9), activation_completed_at=None
    )
    assert exclusion == "signalled while the offer is still being activated"


def test_not_covered_when_signalled_before_activation_completed() -> None:
    exclusion = guarantee_exclusion(
        service="classic-line",
        signalled_at=paris(2024, 6, 3, 11, 59),
        activation_completed_at=ACTIVATED,
    )
    assert exclusion == (
        "signalled during the activation of the offer (completed Monday 2024-06-03 12:00 +0200)"
    )


def test_covered_from_the_moment_activation_completed() -> None:
    assert (
        guarantee_exclusion(
            service="classic-line", signalled_at=ACTIVATED, activation_completed_at=ACTIVATED
        )
        is None
    )


def test_not_covered_during_a_move() -> None:
    exclusion = guarantee_exclusion(
        service="voip-line",
        signalled_at=paris(2024, 7, 8, 10),
        activation_completed_at=ACTIVATED,
        moving=True,
    )
    assert exclusion == "signalled during a move"


MIGRATED = paris(2024, 7, 1, 10)


def test_not_covered_within_2_days_after_a_migration() -> None:
    exclusion = guarantee_exclusion(
        service="internet",
        signalled_at=MIGRATED + timedelta(hours=47, minutes=59),
        activation_completed_at=ACTIVATED,
        migrated_at=MIGRATED,
    )
    assert exclusion == (
        "signalled within 2 days (48 hours) after a migration without change of site "
        "(Monday 2024-07-01 10:00 +0200)"
    )


def test_not_covered_at_the_moment_of_the_migration() -> None:
    exclusion = guarantee_exclusion(
        service="internet",
        signalled_at=MIGRATED,
        activation_completed_at=ACTIVATED,
        migrated_at=MIGRATED,
    )
    assert exclusion is not None


def test_covered_48_hours_after_a_migration() -> None:
    assert (
        guarantee_exclusion(
            service="internet",
            signalled_at=paris(2024, 7, 3, 10),
            activation_completed_at=ACTIVATED,
            migrated_at=MIGRATED,
        )
        is None
    )


def test_covered_before_a_migration() -> None:
    assert (
        guarantee_exclusion(
            service="internet",
            signalled_at=paris(2024, 6, 30, 10),
            activation_completed_at=ACTIVATED,
            migrated_at=MIGRATED,
        )
        is None
    )


def test_migration_grace_is_48_hours_over_the_change_to_summer_time() -> None:
    # Summer time starts 31 March 2024: 48 hours after Saturday 10:00 is Monday 11:00.
    migrated = paris(2024, 3, 30, 10)
    for signalled, excluded in ((paris(2024, 4, 1, 10, 30), True), (paris(2024, 4, 1, 11), False)):
        exclusion = guarantee_exclusion(
            service="classic-line",
            signalled_at=signalled,
            activation_completed_at=paris(2024, 1, 2),
            migrated_at=migrated,
        )
        assert (exclusion is not None) is excluded, signalled


def test_migration_in_another_time_zone_is_compared_as_an_instant() -> None:
    exclusion = guarantee_exclusion(
        service="internet",
        signalled_at=paris(2024, 7, 3, 11, 59),
        activation_completed_at=ACTIVATED,
        migrated_at=datetime(2024, 7, 1, 10, tzinfo=UTC),  # 12:00 in Paris
    )
    assert exclusion is not None


NAIVE = datetime(2024, 7, 1, 10)


@pytest.mark.parametrize(
    ("argument", "signalled_at", "activation_completed_at", "migrated_at"),
    [
        ("signalled_at", NAIVE, ACTIVATED, None),
        ("activation_completed_at", paris(2024, 7, 8, 10), NAIVE, None),
        ("migrated_at", paris(2024, 7, 8, 10), ACTIVATED, NAIVE),
    ],
)
def test_exclusion_refuses_naive_datetimes(
    argument: str,
    signalled_at: datetime,
    activation_completed_at: datetime,
    migrated_at: datetime | None,
) -> None:
    # Even for TV, which is never covered: a naive datetime is a mistake of the caller.
    with pytest.raises(
        NaiveDatetimeError, match=re.escape(f"{argument} (2024-07-01T10:00:00) has no time zone")
    ):
        guarantee_exclusion(
            service="tv",
            signalled_at=signalled_at,
            activation_completed_at=activation_completed_at,
            migrated_at=migrated_at,
        )
