"""The 8-business-hour restoration and on-site intervention guarantees (footnotes 13, 14)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

import holidays

Guarantee = Literal["restoration", "intervention"]
"""`restoration` of the classic line (footnote 13), on-site `intervention` for internet and the
line over internet (footnote 14)."""

GUARANTEES: Final[tuple[str, ...]] = get_args(Guarantee)

GUARANTEED_BUSINESS_HOURS: Final = 8

_ONE_DAY: Final = timedelta(days=1)
_WEEKDAY_NAMES: Final = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)


class UnknownCalendarError(ValueError):
    """A calendar name that is not one of `CALENDARS`."""


class NaiveDatetimeError(ValueError):
    """A datetime without a time zone: business hours are local hours of a known instant."""


class InvalidBusinessWeekError(ValueError):
    """A `BusinessWeek` that cannot be worked (no working day, closing before opening, ...)."""


class InvalidIncidentError(ValueError):
    """An incident or an assessment whose dates or amounts contradict each other."""


@dataclass(frozen=True, slots=True)
class Calendar:
    """Where business hours are counted: the local time zone and the public holidays that apply.

    `subdivision` is the `holidays.France` subdivision code (None for the common French list).
    `metropolitan` is False overseas. The offer itself is sold in metropolitan France only; the
    overseas calendars serve labs that place a line elsewhere. Corsica uses the `metropole`
    calendar: being an island is asked separately where it matters (footnote 16).
    """

    name: str
    zone: ZoneInfo
    subdivision: str | None
    metropolitan: bool

    def public_holiday(self, day: date) -> str | None:
        """The name of the public holiday on `day` (English names), or None on an ordinary day."""
        return _public_holidays(self.subdivision, day.year).get(day)

    def is_public_holiday(self, day: date) -> bool:
        return day in _public_holidays(self.subdivision, day.year)

    def local(self, moment: datetime, *, what: str = "the time") -> datetime:
        """`moment` as an aware datetime in this calendar's time zone; refuses naive datetimes."""
        require_aware(moment, what=what)
        return moment.astimezone(self.zone)


def _utc(moment: datetime) -> datetime:
    # Aware datetimes sharing a tzinfo compare by wall-clock time, which is ambiguous during the
    # hour repeated in autumn; UTC instants are not.
    return moment.astimezone(UTC)


def require_aware(moment: datetime, *, what: str = "the time") -> None:
    """Refuse a naive datetime, naming it (`what`) in the message."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError(
            f"{what} ({moment.isoformat()}) has no time zone: pass a timezone-aware datetime, "
            "e.g. with tzinfo=ZoneInfo('Europe/Paris')"
        )


@functools.lru_cache(maxsize=1024)
def _public_holidays(subdivision: str | None, year: int) -> Mapping[date, str]:
    # A plain read-only dict: looking a date up in a `holidays` object parses its key on every
    # call, ten times slower than a dict, and deadlines are computed often.
    # `country_holidays("FR")` is `holidays.France`, typed; English names whatever the locale.
    found = holidays.country_holidays("FR", subdiv=subdivision, years=year, language="en_US")
    return MappingProxyType(dict(found.items()))


def _calendar(name: str, zone: str, subdivision: str | None, *, metropolitan: bool) -> Calendar:
    return Calendar(name, ZoneInfo(zone), subdivision, metropolitan)


# Terres australes françaises (TF) are left out: no one subscribes to a business line there and
# their districts span several time zones.
CALENDARS: Final[Mapping[str, Calendar]] = MappingProxyType(
    {
        calendar.name: calendar
        for calendar in (
            _calendar("metropole", "Europe/Paris", None, metropolitan=True),
            # Moselle (57) and Alsace (6AE) share Good Friday and 26 December.
            _calendar("alsace-moselle", "Europe/Paris", "57", metropolitan=True),
            _calendar("guadeloupe", "America/Guadeloupe", "971", metropolitan=False),
            _calendar("martinique", "America/Martinique", "972", metropolitan=False),
            _calendar("guyane", "America/Cayenne", "973", metropolitan=False),
            _calendar("reunion", "Indian/Reunion", "974", metropolitan=False),
            _calendar("mayotte", "Indian/Mayotte", "976", metropolitan=False),
            _calendar("saint-barthelemy", "America/St_Barthelemy", "BL", metropolitan=False),
            _calendar("saint-martin", "America/Marigot", "MF", metropolitan=False),
            _calendar("saint-pierre-et-miquelon", "America/Miquelon", "PM", metropolitan=False),
            _calendar("nouvelle-caledonie", "Pacific/Noumea", "NC", metropolitan=False),
            # Tahiti time, where almost everyone lives; the Marquesas are 30 minutes behind.
            _calendar("polynesie-francaise", "Pacific/Tahiti", "PF", metropolitan=False),
            _calendar("wallis-et-futuna", "Pacific/Wallis", "WF", metropolitan=False),
        )
    }
)
"""Calendars by name. Each overseas one uses its own time zone: business hours are local hours."""


def calendar_named(name: str) -> Calendar:
    """The calendar called `name` (see `CALENDARS`); an unknown name lists the known ones."""
    try:
        return CALENDARS[name]
    except KeyError:
        raise UnknownCalendarError(
            f"unknown calendar {name!r}; known calendars: {', '.join(CALENDARS)}"
        ) from None


@dataclass(frozen=True, slots=True)
class BusinessWeek:
    """The opening hours of a week; the defaults are those of footnotes 13 and 14.

    "du lundi au samedi hors dimanches et jours fériés de 8h à 18h": `working_days` are weekday
    numbers (0 = Monday ... 6 = Sunday), public holidays are always closed. Hours are wall-clock
    hours of the calendar's time zone, so a change to or from summer time never moves them.
    """

    working_days: frozenset[int] = field(default=frozenset(range(6)))
    opens_at: time = time(8)
    closes_at: time = time(18)

    def __post_init__(self) -> None:
        if not self.working_days:
            raise InvalidBusinessWeekError("a business week needs at least one working day")
        if not self.working_days <= frozenset(range(7)):
            raise InvalidBusinessWeekError(
                f"working days are weekday numbers from 0 (Monday) to 6 (Sunday), "
                f"got {sorted(self.working_days)}"
            )
        if self.opens_at.tzinfo is not None or self.closes_at.tzinfo is not None:
            raise InvalidBusinessWeekError(
                "opening and closing times are local wall-clock times: give them without tzinfo"
            )
        if self.opens_at >= self.closes_at:
            raise InvalidBusinessWeekError(
                f"opening time {self.opens_at:%H:%M} must be before closing time "
                f"{self.closes_at:%H:%M}"
            )

    def is_working_day(self, day: date, calendar: Calendar) -> bool:
        return day.weekday() in self.working_days and not calendar.is_public_holiday(day)

    def next_working_day(self, after: date, calendar: Calendar) -> date:
        """The first working day strictly after `after`."""
        return self.first_working_day_from(after + _ONE_DAY, calendar)

    def first_working_day_from(self, day: date, calendar: Calendar) -> date:
        """`day` itself if it is a working day, otherwise the next one."""
        while not self.is_working_day(day, calendar):
            day += _ONE_DAY
        return day


MONDAY_TO_SATURDAY: Final = BusinessWeek()
"""Footnotes 13 and 14: Monday to Saturday, 08:00 to 18:00, except public holidays."""


def deadline(
    signalled_at: datetime,
    *,
    business_hours: int = GUARANTEED_BUSINESS_HOURS,
    calendar: str = "metropole",
    week: BusinessWeek = MONDAY_TO_SATURDAY,
) -> datetime:
    """The moment `business_hours` of business time have elapsed since the signalling.

    A fault signalled outside business hours starts counting at the next opening. When the
    hours run out exactly at closing time, the deadline is the closing time itself (not the next
    opening, which is the same business time later). Returned in the calendar's time zone.
    """
    place = calendar_named(calendar)
    if business_hours <= 0:
        raise InvalidIncidentError(f"business_hours must be positive, got {business_hours}")
    start = place.local(signalled_at, what="signalled_at").replace(tzinfo=None)
    remaining = timedelta(hours=business_hours)
    day = start.date()
    while True:
        if week.is_working_day(day, place):
            counting_from = max(start, datetime.combine(day, week.opens_at))
            closing = datetime.combine(day, week.closes_at)
            if counting_from < closing:
                if remaining <= closing - counting_from:
                    return (counting_from + remaining).replace(tzinfo=place.zone)
                remaining -= closing - counting_from
        day += _ONE_DAY


def business_time_between(
    start: datetime,
    end: datetime,
    *,
    calendar: str = "metropole",
    week: BusinessWeek = MONDAY_TO_SATURDAY,
) -> timedelta:
    """The business time elapsed from `start` to `end` (wall-clock hours inside opening hours)."""
    place = calendar_named(calendar)
    local_start = place.local(start, what="start").replace(tzinfo=None)
    local_end = place.local(end, what="end").replace(tzinfo=None)
    if _utc(end) < _utc(start):
        raise InvalidIncidentError(f"end ({end.isoformat()}) is before start ({start.isoformat()})")
    elapsed = timedelta()
    day = local_start.date()
    while day <= local_end.date():
        if week.is_working_day(day, place):
            overlap = min(local_end, datetime.combine(day, week.closes_at)) - max(
                local_start, datetime.combine(day, week.opens_at)
            )
            if overlap > timedelta():
                elapsed += overlap
        day += _ONE_DAY
    return elapsed


def weekday_name(day: date) -> str:
    """English weekday name, independent of the process locale (unlike `%A`)."""
    return _WEEKDAY_NAMES[day.weekday()]


def describe_moment(moment: datetime) -> str:
    """`Saturday 2024-07-13 14:00 +0200` for an aware moment, whatever the process locale."""
    return f"{weekday_name(moment)} {moment:%Y-%m-%d %H:%M %z}"


def format_duration(duration: timedelta) -> str:
    """`3 h 20 min`, `45 min`, `8 h`, `1 min 30 s`: business durations are counted in hours."""
    seconds = int(duration.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if seconds:
        parts.append(f"{seconds} s")
    return " ".join(parts) or "0 min"


@dataclass(frozen=True, slots=True)
class Incident:
    """A total outage signalled to Orange.

    `resolved_at` is the moment Orange met its commitment: the classic line restored for the
    `restoration` guarantee, the technician's on-site appointment for the `intervention` one.
    """

    guarantee: Guarantee
    signalled_at: datetime
    resolved_at: datetime | None = None
    calendar: str = "metropole"

    def __post_init__(self) -> None:
        if self.guarantee not in GUARANTEES:
            raise InvalidIncidentError(
                f"unknown guarantee {self.guarantee!r}; known guarantees: {', '.join(GUARANTEES)}"
            )
        place = calendar_named(self.calendar)
        place.local(self.signalled_at, what="signalled_at")
        if self.resolved_at is not None:
            place.local(self.resolved_at, what="resolved_at")
            if _utc(self.resolved_at) < _utc(self.signalled_at):
                raise InvalidIncidentError(
                    f"resolved_at ({self.resolved_at.isoformat()}) is before signalled_at "
                    f"({self.signalled_at.isoformat()})"
                )


@dataclass(frozen=True, slots=True)
class SlaVerdict:
    """The outcome of a guarantee.

    `met` is None while the incident is open and the guarantee can still be kept, and when the
    incident is not covered (`covered` False). `penalty` is what Orange owes, Decimal("0") if
    nothing.
    """

    deadline: datetime
    met: bool | None
    penalty: Decimal
    reason: str
    covered: bool = True


def assess(
    incident: Incident,
    *,
    monthly_subscription: Decimal,
    now: datetime,
    exclusion: str | None = None,
) -> SlaVerdict:
    """Whether Orange kept the 8-business-hour guarantee for `incident`, as of `now`.

    The guarantee is kept when at most 8 hours of business time elapsed between the signalling
    and `resolved_at`: a line restored at 19:00 when the deadline fell at 18:00 the same day is
    still within 8 business hours, since no business time passed after closing.

    `monthly_subscription` is the penalty when the guarantee is missed: "1 mois d'abonnement
    (hors options)" read as the offer's monthly price (59, 65 or 75 EUR excl. VAT) without
    options and without the Livebox pro rental, which is a separate line of the price annex.
    The penalty is due on the customer's request and only for reasons attributable to Orange
    alone; the caller decides that, this function only measures time.

    `exclusion`, when given (see `profiles.terms.guarantee_exclusion`), makes the incident not
    covered: no penalty, and the exclusion as the reason.
    """
    place = calendar_named(incident.calendar)
    place.local(now, what="now")
    if not isinstance(monthly_subscription, Decimal) or not monthly_subscription.is_finite():
        raise InvalidIncidentError(
            f"monthly_subscription must be a finite Decimal amount, got {monthly_subscription!r}"
        )
    if monthly_subscription < 0:
        raise InvalidIncidentError(
            f"monthly_subscription must not be negative, got {monthly_subscription}"
        )
    if _utc(now) < _utc(incident.signalled_at):
        raise InvalidIncidentError(
            f"now ({now.isoformat()}) is before the signalling "
            f"({incident.signalled_at.isoformat()})"
        )
    if incident.resolved_at is not None and _utc(incident.resolved_at) > _utc(now):
        raise InvalidIncidentError(
            f"resolved_at ({incident.resolved_at.isoformat()}) is after now ({now.isoformat()})"
        )

    if exclusion is not None and not exclusion.strip():
        raise InvalidIncidentError("exclusion must say why the incident is not covered")

    due = deadline(incident.signalled_at, calendar=incident.calendar)
    if exclusion is not None:
        return SlaVerdict(due, None, Decimal("0"), f"not covered: {exclusion}", covered=False)

    allowed = timedelta(hours=GUARANTEED_BUSINESS_HOURS)
    done, not_done = (
        ("restored", "not restored yet")
        if incident.guarantee == "restoration"
        else ("technician on site", "no technician on site yet")
    )
    deadline_text = f"deadline {describe_moment(due)}"
    if incident.resolved_at is not None:
        elapsed = business_time_between(
            incident.signalled_at, incident.resolved_at, calendar=incident.calendar
        )
        taken = f"{done} {format_duration(elapsed)} of business time after signalling"
        if elapsed <= allowed:
            return SlaVerdict(
                due,
                True,
                Decimal("0"),
                f"{taken}, within {GUARANTEED_BUSINESS_HOURS} business hours",
            )
        return SlaVerdict(
            due,
            False,
            monthly_subscription,
            f"{taken}, missed by {format_duration(elapsed - allowed)} of business time "
            f"({deadline_text}); penalty: one month's subscription, options excluded",
        )

    elapsed = business_time_between(incident.signalled_at, now, calendar=incident.calendar)
    if elapsed <= allowed:
        return SlaVerdict(
            due,
            None,
            Decimal("0"),
            f"{not_done}, {format_duration(elapsed)} of business time elapsed, "
            f"{format_duration(allowed - elapsed)} left ({deadline_text})",
        )
    return SlaVerdict(
        due,
        False,
        monthly_subscription,
        f"{not_done}, missed by {format_duration(elapsed - allowed)} of business time "
        f"({deadline_text}); penalty: one month's subscription, options excluded",
    )
