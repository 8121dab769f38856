"""Working-day arithmetic of a journey on the shared calendar (`services.calendar`). Pure: no I/O.

- Step plan: the overall time is the intake's appointment (n working days after the start day); each route step
  gets its share of those n days, rounded so that the steps add up to n, and is due on the working day where its
  cumulative share ends. The last step is due at the appointment itself.
- Pause: waiting for the applicant stops the clock; once the dossier is complete the processing time restarts from
  zero (Decree 61): the appointment is counted again from the resume and the steps not done are planned inside it.
- Extension: once, requested at least one working day before the due date, to a later working day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from services.calendar import WorkingCalendar
from services.clock import business_date


def total_working_days(cal: WorkingCalendar, received_at: datetime, appointment_at: datetime) -> int:
    """Working days from the start day (not counted) to the appointment date (counted)."""
    start = cal.start_day(received_at)
    end = business_date(appointment_at)
    return len(cal.working_days_in(start + timedelta(days=1), end))


def split_days(total: int, shares: Sequence[int]) -> list[int]:
    """Split `total` working days by integer shares (percent or any weights) so the parts add up to `total`."""
    if not shares:
        return []
    weight = sum(shares)
    if weight <= 0:
        return [0] * (len(shares) - 1) + [total]
    parts: list[int] = []
    cumulative = 0
    running = 0
    for share in shares:
        running += share
        target = round(total * running / weight)
        parts.append(target - cumulative)
        cumulative = target
    parts[-1] += total - cumulative
    return parts


def plan_due_dates(
    cal: WorkingCalendar, received_at: datetime, appointment_at: datetime, days: Sequence[int]
) -> list[datetime]:
    """Due moment of each step: cumulative working days after the start day; the last one is the appointment."""
    dues: list[datetime] = []
    cumulative = 0
    for n in days:
        cumulative += n
        dues.append(min(cal.add_working_days(received_at, cumulative), appointment_at))
    if dues:
        dues[-1] = appointment_at
    return dues


def shift(cal: WorkingCalendar, due: datetime, n: int) -> datetime:
    """A due moment moved forward by n working days (unchanged when n is 0)."""
    return due if n <= 0 else cal.shift_working_days(due, n)


def paused_days(cal: WorkingCalendar, paused_at: datetime, resumed_at: datetime) -> int:
    return cal.working_days_between(paused_at, resumed_at)


def extension_lead_days(cal: WorkingCalendar, now: datetime, due_at: datetime) -> int:
    """Working days after today up to and including the due date: ≥ 1 means 'at least one working day before'."""
    return cal.working_days_between(now, due_at)


def due_soon_threshold(cal: WorkingCalendar, now: datetime, working_days: int) -> datetime:
    """Deadlines at or before this moment are 'due soon': due today or within the next `working_days` days."""
    today = business_date(now)
    day = today if cal.is_working_day(today) else cal.next_working_day(today)
    for _ in range(working_days):
        day = cal.next_working_day(day)
    return cal.due_at(day)
