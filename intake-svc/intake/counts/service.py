"""Intake's counts for a period of business dates (Asia/Ho_Chi_Minh) `from`..`to` inclusive and a unit subtree (a
leader: their own unit's subtree; an administrator: any unit, or every unit without `unit`):

- *received*: dossiers whose first receipt falls in the period, per channel and per receiving unit, whatever
  happened to them afterwards (supplemented, refused, withdrawn, returned); a dossier still waiting for the
  supplement asked for at the desk has not been received;
- *accounts assisted*: public-service accounts the desks helped applicants create.

The unit tree is intake's replica of the catalogue's units.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intake import repository
from services import catalogue_replica, periods, policy
from services.clock import VN_TZ
from services.identity import Identity

CHANNELS = ("online", "in_person", "postal")


def _instant(day: date) -> datetime:
    """The first instant of a business date, in UTC."""
    return datetime.combine(day, time(), VN_TZ).astimezone(UTC)


async def counts(
    session: AsyncSession, who: Identity, start: date | None, end: date | None, unit: str | None
) -> dict[str, Any]:
    span = periods.period(start, end)
    scope = policy.unit_scope(await catalogue_replica.unit_parents(session), who, unit, reading="counts")
    units = scope.units
    since, until = _instant(span.start), _instant(span.end + timedelta(days=1))
    received = dict.fromkeys(("total", *CHANNELS), 0)
    by_unit: dict[str, dict[str, int]] = {}
    for receiving_unit, channel, n in await repository.received_by_unit_and_channel(session, since, until, units):
        row = by_unit.setdefault(receiving_unit, dict.fromkeys(("total", *CHANNELS), 0))
        for bucket in (row, received):
            bucket["total"] += n
            bucket[channel] += n
    return {
        "period": span.as_dict(),
        "unit": scope.root,
        "received": received,
        "by_unit": dict(sorted(by_unit.items())),
        "accounts_assisted": await repository.accounts_assisted(session, since, until, units),
    }
