"""Deadlines on the working-day calendar: the steps' shares, pauses, extension lead time, due soon."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as hs
from routing.domain import sla

from services.clock import business_date
from tests.routing.domain.journeys import CAL, T0


def test_the_steps_share_the_working_days() -> None:
    assert sla.split_days(10, [20, 30, 50]) == [2, 3, 5]
    assert sla.split_days(7, [1, 1, 1]) == [2, 3, 2]
    assert sla.split_days(5, [0, 0]) == [0, 5]  # no weights: the last step has them all
    assert sla.split_days(5, []) == []


@given(hs.integers(0, 400), hs.lists(hs.integers(0, 100), min_size=1, max_size=8))
def test_the_shares_always_add_up_and_none_is_negative(total: int, shares: list[int]) -> None:
    parts = sla.split_days(total, shares)
    assert sum(parts) == total and len(parts) == len(shares) and min(parts) >= 0


def test_each_step_is_due_where_its_cumulative_share_ends_and_the_last_at_the_appointment() -> None:
    appointment = CAL.add_working_days(T0, 10)
    assert sla.total_working_days(CAL, T0, appointment) == 10
    dues = sla.plan_due_dates(CAL, T0, appointment, [2, 3, 5])
    assert dues == [CAL.add_working_days(T0, 2), CAL.add_working_days(T0, 5), appointment]
    # an appointment intake set earlier than the route's days caps every step
    early = CAL.add_working_days(T0, 3)
    assert sla.plan_due_dates(CAL, T0, early, [2, 3, 5]) == [CAL.add_working_days(T0, 2), early, early]


def test_a_received_after_hours_dossier_starts_the_next_working_day() -> None:
    friday_evening = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)  # 19:00 in Huế
    assert business_date(friday_evening) == date(2026, 3, 6)
    assert sla.total_working_days(CAL, friday_evening, CAL.add_working_days(friday_evening, 1)) == 1
    assert business_date(CAL.add_working_days(friday_evening, 1)) == date(2026, 3, 10)  # Monday is the start day


def test_shift_pause_and_extension_lead() -> None:
    due = CAL.add_working_days(T0, 2)  # Wednesday
    assert sla.shift(CAL, due, 0) == due
    assert business_date(sla.shift(CAL, due, 3)) == date(2026, 3, 9)  # over the weekend
    assert sla.paused_days(CAL, T0, T0 + timedelta(days=7)) == 5
    assert sla.extension_lead_days(CAL, T0, due) == 2
    assert sla.extension_lead_days(CAL, due - timedelta(hours=1), due) == 0  # on the due date: too late


def test_due_soon_means_due_today_or_within_the_next_working_days() -> None:
    assert sla.due_soon_threshold(CAL, T0, 1) == CAL.due_at(date(2026, 3, 3))
    saturday = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
    assert sla.due_soon_threshold(CAL, saturday, 0) == CAL.due_at(date(2026, 3, 9))
    assert sla.due_soon_threshold(CAL, saturday, 1) == CAL.due_at(date(2026, 3, 10))
