"""Dated terms of Optimale pro: installation appointment, Livebox exchange, guarantee exclusions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Final

from profiles.sla import (
    BusinessWeek,
    Guarantee,
    calendar_named,
    describe_moment,
    require_aware,
    weekday_name,
)

MONDAY_TO_FRIDAY: Final = BusinessWeek(working_days=frozenset(range(5)))
"""Footnotes 16 and 17: Monday to Friday, 08:00 to 18:00, except public holidays."""

BOOKING_WINDOW: Final = timedelta(days=30)
INSTALLATION_NOTICE: Final = timedelta(days=12)
EXCHANGE_CALL_CUTOFF: Final = time(14)
MIGRATION_GRACE: Final = timedelta(days=2)

GUARANTEE_BY_SERVICE: Final[Mapping[str, Guarantee | None]] = MappingProxyType(
    {
        "classic-line": "restoration",
        "internet": "intervention",
        "voip-line": "intervention",
        "tv": None,
    }
)
"""The guarantee covering each service; TV is covered by none (footnotes 13, 14)."""


class NotContinentalError(ValueError):
    """An on-site Livebox exchange asked for outside continental France."""


class UnknownServiceError(ValueError):
    """A service name that is not one of `GUARANTEE_BY_SERVICE`."""


def _day(day: date) -> str:
    return f"{weekday_name(day)} {day.isoformat()}"


# Installation on site (footnote 17).


def installation_booking_deadline(subscribed_on: date) -> date:
    """The last day to book the installation: 30 calendar days after the subscription day.

    "dans les trente (30) jours calendaires suivant la prise d'abonnement": the subscription day
    is day 0, so a subscription on 1 March can be booked up to 31 March included.
    """
    return subscribed_on + BOOKING_WINDOW


def earliest_installation_day(booked_on: date, *, calendar: str = "metropole") -> date:
    """The first day the technician may come: 12 calendar days after the booking at the earliest.

    The installation is done Monday to Friday; public holidays are taken as closed too (the
    footnote says "heures ouvrables", which exclude them), so a day 12 falling on a weekend or a
    holiday moves to the next working day.
    """
    return MONDAY_TO_FRIDAY.first_working_day_from(
        booked_on + INSTALLATION_NOTICE, calendar_named(calendar)
    )


def check_installation_slot(
    subscribed_on: date,
    booked_on: date,
    slot: datetime,
    *,
    calendar: str = "metropole",
) -> list[str]:
    """Every rule of footnote 17 the installation appointment breaks, in words (empty: valid).

    `slot` is the appointment's start; it must start from 08:00 and before 18:00, local time of
    the calendar (the duration of the installation is not known here).
    """
    place = calendar_named(calendar)
    local_slot = place.local(slot, what="slot")
    slot_day = local_slot.date()
    broken: list[str] = []

    if booked_on < subscribed_on:
        broken.append(
            f"the appointment was booked on {_day(booked_on)}, before the subscription on "
            f"{_day(subscribed_on)}"
        )
    last_booking_day = installation_booking_deadline(subscribed_on)
    if booked_on > last_booking_day:
        broken.append(
            f"the appointment was booked on {_day(booked_on)}, more than 30 calendar days "
            f"after the subscription on {_day(subscribed_on)} "
            f"(last day to book: {_day(last_booking_day)})"
        )
    if slot_day < booked_on + INSTALLATION_NOTICE:
        broken.append(
            f"the installation on {_day(slot_day)} is less than 12 calendar days after the "
            f"booking on {_day(booked_on)} (earliest: "
            f"{_day(earliest_installation_day(booked_on, calendar=calendar))})"
        )
    if slot_day.weekday() not in MONDAY_TO_FRIDAY.working_days:
        broken.append(
            f"the installation on {_day(slot_day)} is not on a weekday: installations are done "
            "Monday to Friday"
        )
    holiday = place.public_holiday(slot_day)
    if holiday is not None:
        broken.append(f"the installation on {_day(slot_day)} falls on a public holiday ({holiday})")
    if not MONDAY_TO_FRIDAY.opens_at <= local_slot.time() < MONDAY_TO_FRIDAY.closes_at:
        broken.append(
            f"the installation at {local_slot:%H:%M} is outside business hours: it must start "
            f"between {MONDAY_TO_FRIDAY.opens_at:%H:%M} and {MONDAY_TO_FRIDAY.closes_at:%H:%M}"
        )
    return broken


# Livebox exchange on site (footnote 16).


def exchange_delivery_day(
    called_at: datetime, *, continental: bool = True, calendar: str = "metropole"
) -> date:
    """The day a replacement Livebox is delivered on site after a call to customer service.

    Next working day (Monday to Friday, not a public holiday) for a call before 14:00 on a
    working day; a call at 14:00 or later, or on a non-working day, counts from the next working
    day, so the delivery is the working day after that. Only in continental France
    (metropolitan France except the islands such as Corsica); elsewhere the Livebox is exchanged
    in an Orange shop. The footnote excludes the Business Livebox, not the offer's Livebox pro.
    """
    place = calendar_named(calendar)
    if not continental:
        raise NotContinentalError(
            "on-site Livebox exchange is only available in continental France (metropolitan "
            "France except the islands, e.g. Corsica): exchange it in an Orange shop"
        )
    if not place.metropolitan:
        raise NotContinentalError(
            f"calendar {calendar!r} is not in continental France: on-site Livebox exchange is "
            "only available there (and exchange in an Orange shop in metropolitan France)"
        )
    local_call = place.local(called_at, what="called_at")
    call_day = local_call.date()
    if not (
        MONDAY_TO_FRIDAY.is_working_day(call_day, place)
        and local_call.time() < EXCHANGE_CALL_CUTOFF
    ):
        call_day = MONDAY_TO_FRIDAY.next_working_day(call_day, place)
    return MONDAY_TO_FRIDAY.next_working_day(call_day, place)


# Exclusions of the 8-business-hour guarantees (footnotes 13 and 14).


def guarantee_for(service: str) -> Guarantee | None:
    """The guarantee covering `service` (see `GUARANTEE_BY_SERVICE`), None for TV."""
    try:
        return GUARANTEE_BY_SERVICE[service]
    except KeyError:
        raise UnknownServiceError(
            f"unknown service {service!r}; known services: {', '.join(GUARANTEE_BY_SERVICE)}"
        ) from None


def guarantee_exclusion(
    *,
    service: str,
    signalled_at: datetime,
    activation_completed_at: datetime | None,
    migrated_at: datetime | None = None,
    moving: bool = False,
) -> str | None:
    """Why the 8-hour guarantee does not apply to a fault, or None when it applies.

    Not covered: the TV service; a fault signalled while the offer is being activated (before
    `activation_completed_at`, or when it is None); during a move (`moving`); within 2 days
    after a migration without change of site. The 2 days are read as calendar days counted from
    the moment of the migration, i.e. 48 elapsed hours (also over a change of summer time): a
    fault signalled exactly 48 hours after is covered, one signalled before the migration too.
    """
    covered_by = guarantee_for(service)
    require_aware(signalled_at, what="signalled_at")
    if activation_completed_at is not None:
        require_aware(activation_completed_at, what="activation_completed_at")
    if migrated_at is not None:
        require_aware(migrated_at, what="migrated_at")

    if covered_by is None:
        return "the TV service is not covered by the 8-hour guarantees"
    if activation_completed_at is None:
        return "signalled while the offer is still being activated"
    if signalled_at < activation_completed_at:
        return (
            "signalled during the activation of the offer (completed "
            f"{describe_moment(activation_completed_at)})"
        )
    if moving:
        return "signalled during a move"
    # In UTC: Python adds a timedelta to an aware datetime in wall-clock time, which would make
    # the 2 days 47 or 49 hours long over a change of summer time.
    if migrated_at is not None and (
        migrated_at.astimezone(UTC)
        <= signalled_at.astimezone(UTC)
        < migrated_at.astimezone(UTC) + MIGRATION_GRACE
    ):
        return (
            "signalled within 2 days (48 hours) after a migration without change of site "
            f"({describe_moment(migrated_at)})"
        )
    return None
