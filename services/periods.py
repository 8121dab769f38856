"""A reporting period: business dates `from`..`to`, both inclusive (Asia/Ho_Chi_Minh), checked once for every
service that reads counts or reports over one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.errors import Invalid


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def shifted(self, periods: int) -> Period:
        """The period `periods` lengths earlier."""
        delta = timedelta(days=self.days * periods)
        return Period(self.start - delta, self.end - delta)

    def as_dict(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def period(start: date | None, end: date | None, *, max_days: int | None = None) -> Period:
    """The period of the query parameters `from` and `to`, or the 422 saying which one is missing or wrong."""
    if start is None:
        raise Invalid("The period needs a first day: give `from` (YYYY-MM-DD).", field="query.from")
    if end is None:
        raise Invalid("The period needs a last day: give `to` (YYYY-MM-DD).", field="query.to")
    if start > end:
        raise Invalid(f"`from` ({start}) is after `to` ({end}).", field="query.from")
    if max_days is not None and (end - start).days + 1 > max_days:
        raise Invalid(f"The period is longer than {max_days} days.", field="query.to")
    return Period(start, end)
