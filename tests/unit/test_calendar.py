"""Tests for services.calendar.

Every expected date was worked out by hand from the real 2025/2026 calendars (weekday noted next to each date) and
from what python-holidays 0.109 lists for Vietnam, which the first tests pin down so that a library update that
changes the data fails loudly here instead of silently moving deadlines.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import holidays
import pytest

from services.calendar import VN_TZ, CalendarRules, WorkingCalendar, default_rules_vn


def vn(y: int, m: int, d: int, hh: int = 17, mm: int = 0) -> datetime:
    """A local Asia/Ho_Chi_Minh moment (default: the 17:00 deadline moment)."""
    return datetime(y, m, d, hh, mm, tzinfo=VN_TZ)


def assert_due(actual: datetime, expected: datetime) -> None:
    assert actual == expected
    assert actual.tzinfo is not None and str(actual.tzinfo) == "Asia/Ho_Chi_Minh"
    assert actual.utcoffset() == timedelta(hours=7)
    assert actual.time() == expected.time()


@pytest.fixture
def cal() -> WorkingCalendar:
    """Statutory calendar only (python-holidays), no administrator rules."""
    return WorkingCalendar(CalendarRules())


# --- what python-holidays 0.109 provides (facts verified by listing holidays.country_holidays("VN", years=...))


def test_python_holidays_tet_2025_and_2026() -> None:
    h25 = holidays.country_holidays("VN", years=2025)
    # Tết 2025: Lunar New Year is Wed 29 Jan; 4th day Sat 1 Feb is compensated on Mon 27 Jan.
    assert sorted(d for d in h25 if date(2025, 1, 2) <= d <= date(2025, 2, 28)) == [
        date(2025, 1, 27), date(2025, 1, 28), date(2025, 1, 29), date(2025, 1, 30), date(2025, 1, 31),
        date(2025, 2, 1),
    ]  # fmt: skip
    h26 = holidays.country_holidays("VN", years=2026)
    # Tết 2026: Lunar New Year is Tue 17 Feb; Mon 16 – Fri 20 Feb are holidays.
    assert sorted(d for d in h26 if d.month == 2) == [date(2026, 2, d) for d in range(16, 21)]


def test_python_holidays_2025_swap_is_included() -> None:
    h25 = holidays.country_holidays("VN", years=2025)
    assert date(2025, 5, 2) in h25  # Fri 2 May 2025 off ...
    assert date(2025, 4, 26) in h25.weekend_workdays  # ... in exchange for Sat 26 Apr 2025


def test_python_holidays_lacks_new_year_2026_swap() -> None:
    # The reason default_rules_vn() exists: python-holidays 0.109 has only Thu 1 Jan 2026.
    h26 = holidays.country_holidays("VN", years=2026)
    assert date(2026, 1, 2) not in h26
    assert date(2026, 1, 10) not in h26.weekend_workdays


# --- is_working_day ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 3, 12), True),  # Wed, ordinary week
        (date(2025, 3, 15), False),  # Sat
        (date(2025, 3, 16), False),  # Sun
        # Tết 2025: off Sat 25 Jan – Sun 2 Feb, back Mon 3 Feb.
        (date(2025, 1, 24), True),  # Fri, last day before the break
        (date(2025, 1, 25), False),  # Sat
        (date(2025, 1, 27), False),  # Mon, compensation for mùng 4 on Sat 1 Feb
        (date(2025, 1, 29), False),  # Wed, mùng 1
        (date(2025, 1, 31), False),  # Fri, mùng 3
        (date(2025, 2, 1), False),  # Sat, mùng 4
        (date(2025, 2, 3), True),  # Mon, back to work
        # 2025 swap: work Sat 26 Apr, off Fri 2 May (so 30 Apr – 4 May is one block).
        (date(2025, 4, 26), True),  # Sat, make-up working day
        (date(2025, 4, 27), False),  # Sun
        (date(2025, 4, 29), True),  # Tue
        (date(2025, 4, 30), False),  # Wed, Reunification Day
        (date(2025, 5, 1), False),  # Thu, Labour Day
        (date(2025, 5, 2), False),  # Fri, swapped day off
        (date(2025, 5, 5), True),  # Mon
        # Tết 2026: off Sat 14 – Sun 22 Feb, back Mon 23 Feb.
        (date(2026, 2, 13), True),  # Fri
        (date(2026, 2, 16), False),  # Mon, 29 tháng Chạp
        (date(2026, 2, 20), False),  # Fri, mùng 4
        (date(2026, 2, 23), True),  # Mon
        # 2026: Hùng Kings on Sun 26 Apr observed Mon 27 Apr; National Day swap work Sat 22 Aug, off Mon 31 Aug.
        (date(2026, 4, 27), False),
        (date(2026, 8, 22), True),
        (date(2026, 8, 31), False),
    ],
)
def test_is_working_day_statutory(cal: WorkingCalendar, day: date, working: bool) -> None:
    assert cal.is_working_day(day) is working


def test_extra_days_override_with_precedence() -> None:
    rules = CalendarRules(
        extra_days_off=frozenset({date(2025, 3, 12), date(2025, 4, 26)}),
        extra_working_days=frozenset({date(2025, 3, 15), date(2025, 9, 2)}),
    )
    cal = WorkingCalendar(rules)
    assert not cal.is_working_day(date(2025, 3, 12))  # Wed made a bridge day
    assert not cal.is_working_day(date(2025, 4, 26))  # admin table beats python-holidays' make-up Saturday
    assert cal.is_working_day(date(2025, 3, 15))  # Sat made a working day
    assert cal.is_working_day(date(2025, 9, 2))  # extra working day wins even over a statutory holiday


def test_is_working_day_rejects_datetime(cal: WorkingCalendar) -> None:
    # A datetime's .date() may be the UTC date; callers must pass the local business date.
    with pytest.raises(TypeError):
        cal.is_working_day(vn(2025, 3, 12))


# --- next / previous ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "nxt", "prev"),
    [
        (date(2025, 3, 12), date(2025, 3, 13), date(2025, 3, 11)),  # Wed → Thu / Tue
        (date(2025, 3, 14), date(2025, 3, 17), date(2025, 3, 13)),  # Fri → Mon / Thu
        (date(2025, 1, 24), date(2025, 2, 3), date(2025, 1, 23)),  # Fri before Tết 2025 → Mon 3 Feb
        (date(2025, 2, 3), date(2025, 2, 4), date(2025, 1, 24)),  # Mon after Tết 2025 ← Fri 24 Jan
        (date(2025, 4, 28), date(2025, 4, 29), date(2025, 4, 26)),  # Mon 28 Apr ← Sat 26 Apr (make-up day)
        (date(2025, 4, 29), date(2025, 5, 5), date(2025, 4, 28)),  # Tue 29 Apr → Mon 5 May (30 Apr – 4 May off)
        (date(2026, 2, 23), date(2026, 2, 24), date(2026, 2, 13)),  # Mon after Tết 2026 ← Fri 13 Feb
    ],
)
def test_next_and_previous_working_day(cal: WorkingCalendar, day: date, nxt: date, prev: date) -> None:
    assert cal.next_working_day(day) == nxt
    assert cal.previous_working_day(day) == prev


def test_working_days_in(cal: WorkingCalendar) -> None:
    # Fri 25 Apr – Mon 5 May 2025: Fri 25, Sat 26 (make-up), Mon 28, Tue 29, then 30 Apr – 4 May off, Mon 5.
    assert cal.working_days_in(date(2025, 4, 25), date(2025, 5, 5)) == [
        date(2025, 4, 25), date(2025, 4, 26), date(2025, 4, 28), date(2025, 4, 29), date(2025, 5, 5),
    ]  # fmt: skip
    assert cal.working_days_in(date(2025, 5, 5), date(2025, 4, 25)) == []


# --- start_day ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (vn(2025, 3, 11, 9, 0), date(2025, 3, 11)),  # Tue in office hours
        (vn(2025, 3, 11, 6, 30), date(2025, 3, 11)),  # Tue before opening still counts for Tue
        (vn(2025, 3, 11, 12, 15), date(2025, 3, 11)),  # Tue lunch break counts for Tue
        (vn(2025, 3, 11, 17, 0), date(2025, 3, 11)),  # exactly 17:00 is still in time
        (vn(2025, 3, 11, 17, 5), date(2025, 3, 12)),  # Tue 17:05 → Wed
        (vn(2025, 3, 14, 17, 5), date(2025, 3, 17)),  # Fri 17:05 → Mon
        (vn(2025, 3, 15, 10, 0), date(2025, 3, 17)),  # Sat → Mon
        (vn(2025, 4, 26, 10, 0), date(2025, 4, 26)),  # Sat 26 Apr 2025 is a make-up working day
        (vn(2025, 1, 27, 9, 0), date(2025, 2, 3)),  # Mon during Tết 2025 → Mon 3 Feb
        # UTC input: 10:30Z = 17:30 local on Tue → Wed; 23:00Z Mon = 06:00 local Tue → Tue.
        (datetime(2025, 3, 11, 10, 30, tzinfo=UTC), date(2025, 3, 12)),
        (datetime(2025, 3, 10, 23, 0, tzinfo=UTC), date(2025, 3, 11)),
        (datetime(2025, 3, 11, 9, 59, tzinfo=UTC), date(2025, 3, 11)),  # 16:59 local
    ],
)
def test_start_day(cal: WorkingCalendar, received: datetime, expected: date) -> None:
    assert cal.start_day(received) == expected


# --- add_working_days --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "n", "due"),
    [
        # Ordinary week: received Tue 11 Mar 2025 09:00; start day not counted → Wed 12 is day 1.
        (vn(2025, 3, 11, 9, 0), 1, vn(2025, 3, 12)),
        # Tue 11 (start) → Wed 12, Thu 13, Fri 14, Mon 17, Tue 18 = 5th.
        (vn(2025, 3, 11, 9, 0), 5, vn(2025, 3, 18)),
        # After hours Tue 17:05 → start Wed 12 → day 1 Thu 13.
        (vn(2025, 3, 11, 17, 5), 1, vn(2025, 3, 13)),
        # After hours Fri 14 Mar 17:05 → start Mon 17 → day 1 Tue 18.
        (vn(2025, 3, 14, 17, 5), 1, vn(2025, 3, 18)),
        # Saturday receipt 15 Mar → start Mon 17 → day 1 Tue 18, day 3 Thu 20.
        (vn(2025, 3, 15, 10, 0), 1, vn(2025, 3, 18)),
        (vn(2025, 3, 15, 10, 0), 3, vn(2025, 3, 20)),
        # Tết 2025: received Fri 24 Jan 10:00; 25 Jan – 2 Feb off → Mon 3 Feb (1), Tue 4 (2), Wed 5 (3).
        (vn(2025, 1, 24, 10, 0), 1, vn(2025, 2, 3)),
        (vn(2025, 1, 24, 10, 0), 3, vn(2025, 2, 5)),
        # Tết 2026: received Fri 13 Feb 16:30; 14–22 Feb off → Mon 23 (1) … Fri 27 (5).
        (vn(2026, 2, 13, 16, 30), 5, vn(2026, 2, 27)),
        # Thu 12 Feb 2026 → Fri 13 (1), then the break, Mon 23 (2).
        (vn(2026, 2, 12, 9, 0), 1, vn(2026, 2, 13)),
        (vn(2026, 2, 12, 9, 0), 2, vn(2026, 2, 23)),
        # 2025 swap: received Fri 25 Apr → Sat 26 Apr is day 1, Mon 28 day 2, Tue 29 day 3,
        # then 30 Apr – 4 May off → Mon 5 May day 4.
        (vn(2025, 4, 25, 9, 0), 1, vn(2025, 4, 26)),
        (vn(2025, 4, 25, 9, 0), 2, vn(2025, 4, 28)),
        (vn(2025, 4, 25, 9, 0), 4, vn(2025, 5, 5)),
        # Deadline that would land on a holiday moves on: Tue 29 Apr + 1 → not Wed 30 Apr but Mon 5 May.
        (vn(2025, 4, 29, 9, 0), 1, vn(2025, 5, 5)),
        # Hùng Kings 2025 on Mon 7 Apr: Fri 4 Apr + 1 → Tue 8 Apr.
        (vn(2025, 4, 4, 10, 0), 1, vn(2025, 4, 8)),
        # Year boundary: Wed 31 Dec 2025 + 1 → Thu 1 Jan 2026 is a holiday → Fri 2 Jan (statutory calendar only).
        (vn(2025, 12, 31, 10, 0), 1, vn(2026, 1, 2)),
    ],
)
def test_add_working_days(cal: WorkingCalendar, received: datetime, n: int, due: datetime) -> None:
    assert_due(cal.add_working_days(received, n), due)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (vn(2025, 3, 11, 9, 0), vn(2025, 3, 11)),  # on the spot: same working day, 17:00
        (vn(2025, 3, 11, 17, 5), vn(2025, 3, 12)),  # after hours → next working day
        (vn(2025, 3, 15, 10, 0), vn(2025, 3, 17)),  # Saturday → Monday
        (vn(2026, 2, 18, 9, 0), vn(2026, 2, 23)),  # during Tết 2026 → Mon 23 Feb
    ],
)
def test_add_working_days_zero_is_within_the_start_day(cal: WorkingCalendar, received: datetime, due: datetime) -> None:
    assert_due(cal.add_working_days(received, 0), due)


def test_add_working_days_accepts_utc_and_returns_local(cal: WorkingCalendar) -> None:
    # 02:00Z Tue 11 Mar = 09:00 local Tue → day 1 Wed 12 Mar 17:00 local = 10:00Z.
    due = cal.add_working_days(datetime(2025, 3, 11, 2, 0, tzinfo=UTC), 1)
    assert_due(due, vn(2025, 3, 12))
    assert due.astimezone(UTC) == datetime(2025, 3, 12, 10, 0, tzinfo=UTC)


def test_custom_office_hours_move_the_cut_off_and_the_due_time() -> None:
    cal = WorkingCalendar(CalendarRules(office_hours=((time(8, 0), time(16, 30)),)))
    # Tue 11 Mar 2025 16:45 is after 16:30 → start Wed 12 → day 1 Thu 13 at 16:30.
    assert_due(cal.add_working_days(vn(2025, 3, 11, 16, 45), 1), vn(2025, 3, 13, 16, 30))


def test_saturday_working_office_via_weekend_days() -> None:
    # An office that only closes on Sunday: Sat 15 Mar 2025 receipt counts that day, day 1 is Mon 17.
    cal = WorkingCalendar(CalendarRules(weekend_days=frozenset({6})))
    assert cal.start_day(vn(2025, 3, 15, 10, 0)) == date(2025, 3, 15)
    assert_due(cal.add_working_days(vn(2025, 3, 15, 10, 0), 1), vn(2025, 3, 17))


# --- add_calendar_days -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "n", "due"),
    [
        # Mon 3 Mar 2025 + 10 calendar days = Thu 13 Mar (working).
        (vn(2025, 3, 3, 9, 0), 10, vn(2025, 3, 13)),
        # Mon 3 Mar + 12 = Sat 15 Mar → next working day Mon 17 Mar.
        (vn(2025, 3, 3, 9, 0), 12, vn(2025, 3, 17)),
        # Fri 14 Mar 17:30 → start Mon 17; +5 = Sat 22 → Mon 24 Mar.
        (vn(2025, 3, 14, 17, 30), 5, vn(2025, 3, 24)),
        # Mon 28 Apr 2025 + 2 = Wed 30 Apr (holiday) → 1, 2 May off, 3–4 weekend → Mon 5 May.
        (vn(2025, 4, 28, 9, 0), 2, vn(2025, 5, 5)),
        # Mon 20 Jan 2025 + 7 = Mon 27 Jan (Tết) → Mon 3 Feb.
        (vn(2025, 1, 20, 10, 0), 7, vn(2025, 2, 3)),
        # n = 0 → the start day itself.
        (vn(2025, 3, 15, 10, 0), 0, vn(2025, 3, 17)),
    ],
)
def test_add_calendar_days(cal: WorkingCalendar, received: datetime, n: int, due: datetime) -> None:
    assert_due(cal.add_calendar_days(received, n), due)


# --- working_days_between and shift_working_days ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (vn(2025, 3, 10, 10, 0), vn(2025, 3, 12, 10, 0), 2),  # Mon 10:00 → Wed 10:00: Tue, Wed
        (vn(2025, 3, 10, 9, 0), vn(2025, 3, 10, 16, 0), 0),  # same day
        (vn(2025, 3, 12, 10, 0), vn(2025, 3, 10, 10, 0), 0),  # end before start
        (vn(2025, 3, 12, 10, 0), vn(2025, 3, 12, 10, 0), 0),  # empty pause
        (vn(2025, 3, 14, 10, 0), vn(2025, 3, 17, 10, 0), 1),  # Fri → Mon: Sat, Sun off, Mon counts
        (vn(2025, 4, 25, 10, 0), vn(2025, 4, 28, 10, 0), 2),  # Fri → Mon over the swap: Sat 26, Mon 28
        (vn(2026, 2, 13, 10, 0), vn(2026, 2, 23, 10, 0), 1),  # across Tết 2026: only Mon 23
        # Local dates decide: Mon 10 Mar 16:00Z = 23:00 local Mon; Tue 18:00Z = 01:00 local Wed → Tue, Wed.
        (datetime(2025, 3, 10, 16, 0, tzinfo=UTC), datetime(2025, 3, 11, 18, 0, tzinfo=UTC), 2),
    ],
)
def test_working_days_between(cal: WorkingCalendar, start: datetime, end: datetime, expected: int) -> None:
    assert cal.working_days_between(start, end) == expected


@pytest.mark.parametrize(
    ("due", "n", "expected"),
    [
        (vn(2025, 3, 14), 1, vn(2025, 3, 17)),  # Fri → Mon
        (vn(2025, 3, 14), 3, vn(2025, 3, 19)),  # Fri → Mon, Tue, Wed
        (vn(2026, 2, 13), 1, vn(2026, 2, 23)),  # Fri before Tết 2026 → Mon 23 Feb
        (vn(2025, 4, 25), 1, vn(2025, 4, 26)),  # Fri 25 Apr 2025 → Sat 26 Apr (make-up day)
        (vn(2025, 3, 14, 10, 0), 1, vn(2025, 3, 17)),  # time is reset to 17:00
        (datetime(2025, 3, 14, 10, 0, tzinfo=UTC), 2, vn(2025, 3, 18)),  # 10:00Z = Fri 17:00 local → Tue
        (vn(2025, 3, 14), 0, vn(2025, 3, 14)),  # no shift
        (vn(2025, 3, 15), 0, vn(2025, 3, 17)),  # n = 0 on a Saturday → Monday
    ],
)
def test_shift_working_days(cal: WorkingCalendar, due: datetime, n: int, expected: datetime) -> None:
    assert_due(cal.shift_working_days(due, n), expected)


def test_pause_then_shift_equals_restarting_the_count(cal: WorkingCalendar) -> None:
    # Received Mon 10 Mar 2025 09:00, 5 working days: Tue 11, Wed 12, Thu 13, Fri 14, Mon 17 → due Mon 17.
    due = cal.add_working_days(vn(2025, 3, 10, 9, 0), 5)
    assert_due(due, vn(2025, 3, 17))
    # Paused Mon 10:00 → Wed 10:00 = 2 working days → due Wed 19 Mar.
    paused = cal.working_days_between(vn(2025, 3, 10, 10, 0), vn(2025, 3, 12, 10, 0))
    shifted = cal.shift_working_days(due, paused)
    assert_due(shifted, vn(2025, 3, 19))
    # Same as counting 5 days from Wed 12 (the resume day): Thu 13, Fri 14, Mon 17, Tue 18, Wed 19.
    assert shifted == cal.add_working_days(vn(2025, 3, 12, 10, 0), 5)


# --- default_rules_vn ----------------------------------------------------------------------------------------------


def test_default_rules_new_year_2026_swap() -> None:
    cal = WorkingCalendar(default_rules_vn())
    assert not cal.is_working_day(date(2026, 1, 2))  # Fri 2 Jan 2026 swapped off
    assert cal.is_working_day(date(2026, 1, 10))  # Sat 10 Jan 2026 worked instead
    # Wed 31 Dec 2025 + 1: Thu 1 Jan holiday, Fri 2 off, Sat 3 / Sun 4 weekend → Mon 5 Jan 2026.
    assert_due(cal.add_working_days(vn(2025, 12, 31, 10, 0), 1), vn(2026, 1, 5))
    # Fri 9 Jan 2026 + 1 → Sat 10 Jan (make-up day).
    assert_due(cal.add_working_days(vn(2026, 1, 9, 10, 0), 1), vn(2026, 1, 10))


def test_default_rules_keep_python_holidays_facts() -> None:
    cal = WorkingCalendar(default_rules_vn())
    assert cal.is_working_day(date(2025, 4, 26))
    assert not cal.is_working_day(date(2025, 5, 2))
    assert_due(cal.add_working_days(vn(2026, 2, 13, 16, 30), 5), vn(2026, 2, 27))


def test_default_rules_do_not_repeat_python_holidays() -> None:
    rules = default_rules_vn()
    for d in rules.extra_days_off:
        assert d not in holidays.country_holidays("VN", years=d.year)
    for d in rules.extra_working_days:
        assert d not in holidays.country_holidays("VN", years=d.year).weekend_workdays


# --- validation --------------------------------------------------------------------------------------------------


def test_day_in_both_sets_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="2025-04-26"):
        CalendarRules(
            extra_days_off=frozenset({date(2025, 4, 26)}),
            extra_working_days=frozenset({date(2025, 4, 26), date(2025, 5, 10)}),
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"office_hours": ()},
        {"office_hours": ((time(17, 0), time(7, 0)),)},
        {"office_hours": ((time(7, 0), time(12, 0)), (time(11, 0), time(17, 0)))},
        {"weekend_days": frozenset(range(7))},
        {"weekend_days": frozenset({7})},
    ],
)
def test_invalid_rules(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CalendarRules(**kwargs)  # type: ignore[arg-type]


def test_rules_reject_datetimes_in_day_sets() -> None:
    with pytest.raises(TypeError):
        CalendarRules(extra_days_off=frozenset({datetime(2025, 3, 12, tzinfo=VN_TZ)}))


def test_rules_are_frozen() -> None:
    rules = CalendarRules()
    with pytest.raises(AttributeError):
        rules.extra_days_off = frozenset()  # type: ignore[misc]


NAIVE = datetime(2025, 3, 11, 9, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.start_day(NAIVE),
        lambda c: c.add_working_days(NAIVE, 1),
        lambda c: c.add_calendar_days(NAIVE, 1),
        lambda c: c.working_days_between(NAIVE, vn(2025, 3, 12)),
        lambda c: c.working_days_between(vn(2025, 3, 10), NAIVE),
        lambda c: c.shift_working_days(NAIVE, 1),
    ],
)
def test_naive_datetime_is_rejected(cal: WorkingCalendar, call: object) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(cal)  # type: ignore[operator]


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.add_working_days(vn(2025, 3, 11, 9, 0), -1),
        lambda c: c.add_calendar_days(vn(2025, 3, 11, 9, 0), -1),
        lambda c: c.shift_working_days(vn(2025, 3, 11), -1),
    ],
)
def test_negative_days_are_rejected(cal: WorkingCalendar, call: object) -> None:
    with pytest.raises(ValueError):
        call(cal)  # type: ignore[operator]
