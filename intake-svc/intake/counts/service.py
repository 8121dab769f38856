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
from intake.domain import access
from services import catalogue_replica
from services.calendar import VN_TZ
from services.errors import Invalid
from services.identity import Identity

CHANNELS = ("online", "in_person", "postal")


def _instant(day: date) -> datetime:
    """The first instant of a business date, in UTC."""
    return datetime.combine(day, time(), VN_TZ).astimezone(UTC)


def period(start: date | None, end: date | None) -> tuple[date, date]:
    if start is None:
        raise Invalid("The period needs a first day: give `from` (YYYY-MM-DD).", field="query.from")
    if end is None:
        raise Invalid("The period needs a last day: give `to` (YYYY-MM-DD).", field="query.to")
    if start > end:
        raise Invalid(f"`from` ({start}) is after `to` ({end}).", field="query.from")
    return start, end


async def counts(
    session: AsyncSession, who: Identity, start: date | None, end: date | None, unit: str | None
) -> dict[str, Any]:
    start, end = period(start, end)
    root = access.counts_root(who, unit)
    units = None if root is None else access.counts_units(who, root, await catalogue_replica.unit_parents(session))
    since, until = _instant(start), _instant(end + timedelta(days=1))
    received = dict.fromkeys(("total", *CHANNELS), 0)
    by_unit: dict[str, dict[str, int]] = {}
    for receiving_unit, channel, n in await repository.received_by_unit_and_channel(session, since, until, units):
        row = by_unit.setdefault(receiving_unit, dict.fromkeys(("total", *CHANNELS), 0))
        for bucket in (row, received):
            bucket["total"] += n
            bucket[channel] += n
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "unit": root,
        "received": received,
        "by_unit": dict(sorted(by_unit.items())),
        "accounts_assisted": await repository.accounts_assisted(session, since, until, units),
    }
