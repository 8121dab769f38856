"""Intake's own counts for a period, read-only: what stats-svc's reports must agree with.

    GET /counts?from=YYYY-MM-DD&to=YYYY-MM-DD[&unit=<agency id>]

For business dates (Asia/Ho_Chi_Minh) `from`..`to` inclusive and a unit subtree (a leader: their own unit's subtree;
an administrator: any unit, or every unit without `unit`):

- *received*: dossiers whose first receipt falls in the period, per channel and per receiving unit, whatever
  happened to them afterwards (supplemented, refused, withdrawn, returned); a dossier still waiting for the
  supplement asked for at the desk has not been received;
- *accounts assisted*: public-service accounts the desks helped applicants create.

The unit tree is intake's replica of the catalogue's units.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from intake.models import AssistedAccount, Dossier
from services import catalogue_replica, policy
from services.calendar import VN_TZ
from services.db import SessionDep
from services.errors import Invalid, NotFound, Problem
from services.identity import CurrentIdentity, Identity, Role

router = APIRouter(tags=["counts"])

CHANNELS = ("online", "in_person", "postal")


def _instant(day: date) -> datetime:
    """The first instant of a business date, in UTC."""
    return datetime.combine(day, time(), VN_TZ).astimezone(UTC)


def _in(column: Any, units: Collection[str] | None) -> ColumnElement[bool]:
    return column.in_(list(units)) if units is not None else true()


async def _subtree(session: AsyncSession, who: Identity, unit: str | None) -> frozenset[str] | None:
    """The units counted: None means every unit (an administrator without `unit`)."""
    if who.role not in (Role.LEADER, Role.ADMIN):
        raise Problem(403, f"Role {who.role.value} may not read counts (leader, admin).", code="forbidden")
    if who.role is Role.LEADER:
        if not who.unit:
            raise Problem(403, "A leader's identity carries no unit.", code="forbidden")
        unit = unit or who.unit
    if unit is None:
        return None
    parents = await catalogue_replica.unit_parents(session)
    if unit not in parents:
        raise NotFound(f"Unknown unit {unit!r} (units come from the catalogue).", code="unknown-unit")
    if who.role is Role.LEADER and unit not in policy.subtree(parents, who.unit or ""):
        raise Problem(403, f"Unit {unit} is outside your unit {who.unit}.", code="outside-jurisdiction")
    return policy.subtree(parents, unit)


@router.get("/counts", summary="Dossiers received per channel and unit, and accounts assisted, over a period")
async def counts(
    session: SessionDep,
    who: CurrentIdentity,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    unit: str | None = None,
) -> dict[str, Any]:
    if start is None:
        raise Invalid("The period needs a first day: give `from` (YYYY-MM-DD).", field="query.from")
    if end is None:
        raise Invalid("The period needs a last day: give `to` (YYYY-MM-DD).", field="query.to")
    if start > end:
        raise Invalid(f"`from` ({start}) is after `to` ({end}).", field="query.from")
    units = await _subtree(session, who, unit)
    since, until = _instant(start), _instant(end + timedelta(days=1))
    rows = await session.execute(
        select(Dossier.receiving_unit, Dossier.channel, func.count())
        .where(Dossier.received_at >= since, Dossier.received_at < until, _in(Dossier.receiving_unit, units))
        .group_by(Dossier.receiving_unit, Dossier.channel)
    )
    received = dict.fromkeys(("total", *CHANNELS), 0)
    by_unit: dict[str, dict[str, int]] = {}
    for receiving_unit, channel, n in rows:
        row = by_unit.setdefault(receiving_unit, dict.fromkeys(("total", *CHANNELS), 0))
        for bucket in (row, received):
            bucket["total"] += n
            bucket[channel] += n
    accounts = await session.scalar(
        select(func.count()).where(
            AssistedAccount.at >= since, AssistedAccount.at < until, _in(AssistedAccount.unit, units)
        )
    )
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "unit": unit if units is not None else None,
        "received": received,
        "by_unit": dict(sorted(by_unit.items())),
        "accounts_assisted": int(accounts or 0),
    }
