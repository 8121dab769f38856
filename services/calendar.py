"""Working-day calendar for legal deadlines (appointment dates, step SLAs, pauses, extensions).

Pure code: no I/O, no database. Statutory holidays come from ``holidays.Vietnam`` (python-holidays, including its
observed days and the government day swaps it knows); each year's remaining bridge days and make-up Saturdays come
from an administrator-maintained `CalendarRules`.

Counting follows the Civil Code (art. 147–148) as applied by Decree 61/2018: the start day is not counted, and a
deadline falls at the end of office hours of a working day. All business dates are Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import holidays

from services.clock import VN_TZ

__all__ = [
    "VN_TZ",
    "CalendarRules",
    "WorkingCalendar",
    "default_rules_vn",
]

SATURDAY = 5
SUNDAY = 6

DEFAULT_OFFICE_HOURS: tuple[tuple[time, time], ...] = (
    (time(7, 0), time(11, 30)),
    (time(13, 30), time(17, 0)),
)

# A search for the next/previous working day that finds none in this many days means a broken configuration
# (e.g. every day off), not a long holiday.
_MAX_SCAN_DAYS = 366


def _to_date_set(values: Iterable[date], name: str) -> frozenset[date]:
    result = frozenset(values)
    for value in result:
        # datetime is a subclass of date but never equals one, so it would silently never match.
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must contain dates, got {value!r}")
    return result


@dataclass(frozen=True)
class CalendarRules:
    """Per-deployment calendar configuration on top of the statutory holidays.

    ``extra_days_off``: bridge days and longer civil-servant breaks that python-holidays does not know.
    ``extra_working_days``: make-up days (usually Saturdays) worked in exchange for a bridge day.
    ``office_hours``: ordered, non-overlapping (start, end) local-time intervals; the deadline moment is the end of
    the last one. ``weekend_days``: ``date.weekday()`` numbers (Monday = 0 … Sunday = 6).
    """

    extra_days_off: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    office_hours: tuple[tuple[time, time], ...] = DEFAULT_OFFICE_HOURS
    weekend_days: frozenset[int] = frozenset({SATURDAY, SUNDAY})

    def __post_init__(self) -> None:
        off = _to_date_set(self.extra_days_off, "extra_days_off")
        work = _to_date_set(self.extra_working_days, "extra_working_days")
        both = off & work
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"days listed both as extra days off and extra working days: {listed}")
        weekend = frozenset(self.weekend_days)
        if not all(isinstance(w, int) and 0 <= w <= 6 for w in weekend):
            raise ValueError(f"weekend_days must be weekday numbers 0..6, got {sorted(weekend)!r}")
        if len(weekend) == 7:
            raise ValueError("weekend_days cannot cover the whole week")
        hours = tuple((start, end) for start, end in self.office_hours)
        if not hours:
            raise ValueError("office_hours must contain at least one interval")
        previous_end: time | None = None
        for start, end in hours:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("office_hours are local wall-clock times and must be naive")
            if not start < end:
                raise ValueError(f"office hours interval {start}–{end} is empty or reversed")
            if previous_end is not None and start < previous_end:
                raise ValueError("office_hours intervals must be ordered and must not overlap")
            previous_end = end
        # Normalise (sets given as set/list become frozensets) while keeping the dataclass frozen.
        object.__setattr__(self, "extra_days_off", off)
        object.__setattr__(self, "extra_working_days", work)
        object.__setattr__(self, "weekend_days", weekend)
        object.__setattr__(self, "office_hours", hours)

    @property
    def office_close(self) -> time:
        """End of office hours: the moment a deadline falls on its due date."""
        return self.office_hours[-1][1]


@dataclass(frozen=True)
class _YearData:
    holidays: frozenset[date]
    makeup_days: frozenset[date]


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {moment!r}")
    return moment.astimezone(VN_TZ)


class WorkingCalendar:
    """Working days and legal deadlines for one set of `CalendarRules`.

    Precedence for a date: ``extra_working_days`` (worked) > ``extra_days_off`` (off) > statutory holidays from
    python-holidays (off) > make-up working days known to python-holidays (worked) > weekend days (off) > worked.
    Holidays are built lazily and cached per year on the instance.
    """

    def __init__(self, rules: CalendarRules | None = None) -> None:
        self.rules = rules if rules is not None else CalendarRules()
        self._years: dict[int, _YearData] = {}

    # -- days ------------------------------------------------------------------------------------------------------

    def _year(self, year: int) -> _YearData:
        data = self._years.get(year)
        if data is None:
            vn = holidays.country_holidays("VN", years=year)
            data = _YearData(
                holidays=frozenset(d for d in vn if d.year == year),
                # Weekend days worked in exchange for a substituted day off (e.g. Sat 26 Apr 2025 for Fri 2 May).
                makeup_days=frozenset(d for d in vn.weekend_workdays if d.year == year),
            )
            self._years[year] = data
        return data

    def is_statutory_holiday(self, d: date) -> bool:
        """Whether python-holidays lists ``d`` as a public holiday (statutory, observed or substituted)."""
        d = _as_date(d)
        return d in self._year(d.year).holidays

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day (see the class docstring for precedence)."""
        d = _as_date(d)
        if d in self.rules.extra_working_days:
            return True
        if d in self.rules.extra_days_off:
            return False
        year = self._year(d.year)
        if d in year.holidays:
            return False
        if d in year.makeup_days:
            return True
        return d.weekday() not in self.rules.weekend_days

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        return self._scan(_as_date(d), 1)

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before ``d``."""
        return self._scan(_as_date(d), -1)

    def _scan(self, d: date, step: int) -> date:
        for _ in range(_MAX_SCAN_DAYS):
            d += timedelta(days=step)
            if self.is_working_day(d):
                return d
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days of {d}: check the calendar rules")

    def working_days_in(self, start: date, end: date) -> list[date]:
        """Working days from ``start`` to ``end``, both included (empty if ``end < start``)."""
        start, end = _as_date(start), _as_date(end)
        days: list[date] = []
        d = start
        while d <= end:
            if self.is_working_day(d):
                days.append(d)
            d += timedelta(days=1)
        return days

    # -- deadlines -------------------------------------------------------------------------------------------------

    def due_at(self, d: date) -> datetime:
        """The deadline moment on day ``d``: end of office hours, Asia/Ho_Chi_Minh."""
        return datetime.combine(_as_date(d), self.rules.office_close, tzinfo=VN_TZ)

    def start_day(self, received_at: datetime) -> date:
        """The business date the clock starts from.

        Received on a working day at or before the end of office hours (lunch break and early morning included)
        → that date; after the end of office hours, or on a day off → the next working day.
        """
        local = _local(received_at)
        d = local.date()
        if self.is_working_day(d) and local.time() <= self.rules.office_close:
            return d
        return self.next_working_day(d)

    def add_working_days(self, received_at: datetime, n: int) -> datetime:
        """Due moment for a time limit of ``n`` working days.

        The start day is not counted: the due date is the n-th working day after `start_day`; ``n = 0`` (on the
        spot / within the day) is the start day itself. Due at the end of office hours.
        """
        _check_non_negative(n)
        return self.due_at(self._nth_working_day_after(self.start_day(received_at), n))

    def add_calendar_days(self, received_at: datetime, n: int) -> datetime:
        """Due moment for a time limit of ``n`` calendar days.

        The due date is ``n`` days after `start_day` (start day not counted), moved to the next working day if it
        is a day off. Due at the end of office hours.
        """
        _check_non_negative(n)
        d = self.start_day(received_at) + timedelta(days=n)
        if not self.is_working_day(d):
            d = self.next_working_day(d)
        return self.due_at(d)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days lost to a clock pause from ``start`` to ``end``.

        Counts the working days in the half-open interval (local date of ``start``, local date of ``end``]: the day
        the pause begins stays counted as used (the clock ran that day), every working day after it up to and
        including the day the clock resumes is given back. Pausing Monday 10:00 → Wednesday 10:00 gives 2 (Tuesday,
        Wednesday); a pause that starts and ends on the same day gives 0; ``end <= start`` gives 0. Extending a due
        date by the result with `shift_working_days` yields the new due moment.
        """
        start_local, end_local = _local(start), _local(end)
        if end_local <= start_local:
            return 0
        return len(self.working_days_in(start_local.date() + timedelta(days=1), end_local.date()))

    def shift_working_days(self, due: datetime, n: int) -> datetime:
        """Move a due moment forward by ``n`` working days (after a pause or an extension).

        The result is the n-th working day after the local date of ``due``, at the end of office hours. With
        ``n = 0`` a due moment on a day off moves to the next working day.
        """
        _check_non_negative(n)
        d = _local(due).date()
        if n == 0 and not self.is_working_day(d):
            d = self.next_working_day(d)
        return self.due_at(self._nth_working_day_after(d, n))

    def _nth_working_day_after(self, d: date, n: int) -> date:
        for _ in range(n):
            d = self.next_working_day(d)
        return d


def _as_date(d: date) -> date:
    if isinstance(d, datetime):
        raise TypeError(f"a date is required, got datetime {d!r}; use the local date explicitly")
    return d


def _check_non_negative(n: int) -> None:
    if n < 0:
        raise ValueError(f"number of days must not be negative, got {n}")


def default_rules_vn() -> CalendarRules:
    """Government day swaps for civil servants that python-holidays 0.109 does not contain.

    Checked against ``holidays.Vietnam`` 0.109, which already has: Tết 2025 (off Sat 25 Jan – Sun 2 Feb 2025 with
    weekends), the 2025 swap (work Sat 26 Apr, off Fri 2 May), Tết 2026 (off Mon 16 – Fri 20 Feb, i.e. the
    14–22 Feb 2026 break with weekends), Hùng Kings 2026 observed Mon 27 Apr, the 2026 National Day swap (work
    Sat 22 Aug, off Mon 31 Aug) and Vietnam Cultural Day 24 Nov 2026. Only what is missing is listed here.
    """
    return CalendarRules(
        extra_days_off=frozenset(
            {
                # New Year 2026: civil servants off Thu 1 – Sun 4 Jan 2026, Fri 2 Jan swapped with Sat 10 Jan
                # (Official Dispatch 12729/VPCP-KGVX of 25 Dec 2025).
                date(2026, 1, 2),
            }
        ),
        extra_working_days=frozenset(
            {
                # Make-up day for Fri 2 Jan 2026 (Official Dispatch 12729/VPCP-KGVX of 25 Dec 2025).
                date(2026, 1, 10),
            }
        ),
    )
