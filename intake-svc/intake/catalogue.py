"""What intake needs from the catalogue, answered from the local replica only (catalogue-svc may be down).

The replica (`services.catalogue_replica`) is fed by the compacted catalogue topics; this module turns its answers
into intake's rules: the version in force at receipt, whether the receiving unit accepts the procedure through the
channel, the working-day calendar, and the appointment date.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import catalogue_replica
from services.calendar import CalendarRules, WorkingCalendar
from services.contracts.catalogue import OnlineLevel, ProcedureVersion, ProcessingUnit, UnitOffering
from services.contracts.intake import Channel
from services.errors import Invalid, Problem

_calendars: dict[CalendarRules, WorkingCalendar] = {}


@dataclass(frozen=True)
class Terms:
    """The procedure version a dossier is judged by, and how the receiving unit offers it."""

    version: ProcedureVersion
    offering: UnitOffering


class ReplicaCache:
    """Per-application caches over the replica: procedure versions are immutable, so a parsed version is kept for
    good; the calendar is re-read at most every `calendar_ttl` seconds (administrators change it rarely)."""

    def __init__(self, calendar_ttl: float = 2.0) -> None:
        self.versions: dict[tuple[str, int], ProcedureVersion] = {}
        self.calendar_ttl = calendar_ttl
        self._calendar: tuple[float, WorkingCalendar] | None = None

    async def version(self, session: AsyncSession, code: str, version: int) -> ProcedureVersion:
        found = self.versions.get((code, version))
        if found is None:
            v = catalogue_replica.versions
            data = await session.scalar(select(v.c.data).where(v.c.code == code, v.c.version == version))
            if data is None:  # replaced by the replica between two statements: rare, and a retry succeeds
                raise Problem(503, "The catalogue replica is being updated; retry.", headers={"retry-after": "1"})
            found = ProcedureVersion.model_validate(data)
            if len(self.versions) > 10_000:
                self.versions.clear()
            self.versions[(code, version)] = found
        return found

    async def calendar(self, session: AsyncSession) -> WorkingCalendar:
        now = time.monotonic()
        if self._calendar is not None and now - self._calendar[0] < self.calendar_ttl:
            return self._calendar[1]
        cal = await working_calendar(session)
        self._calendar = (now, cal)
        return cal


def _terms_query() -> Any:
    v, o, u = catalogue_replica.versions, catalogue_replica.offerings, catalogue_replica.units
    return (
        select(v.c.version, v.c.status, o.c.online_level, o.c.postal, u.c.valid_from, u.c.valid_to)
        .select_from(v)
        .outerjoin(o, and_(o.c.code == v.c.code, o.c.agency_id == bindparam("unit")))
        .outerjoin(u, u.c.agency_id == bindparam("unit"))
        .where(v.c.code == bindparam("code"), v.c.effective_from <= bindparam("day"))
        .order_by(v.c.effective_from.desc(), v.c.version.desc())
        .limit(1)
    )


#: Built once with bound parameters: statement construction costs more than the query on a warm database.
_TERMS = _terms_query()


async def terms(
    session: AsyncSession, cache: ReplicaCache, code: str, unit: str, channel: Channel, at: datetime
) -> Terms:
    """The version in force at `at` and the unit's offering, in one query (the same rules as
    `catalogue_replica.version_in_force` and `accepting_units`)."""
    day = catalogue_replica.business_date(at)
    row = (await session.execute(_TERMS, {"code": code, "unit": unit, "day": day})).first()
    if row is None:
        raise Invalid(
            f"There is no procedure {code} in force on {day.isoformat()}.",
            field="body.procedure_code",
            code="unknown-procedure",
        )
    version = await cache.version(session, code, row.version)
    if not version.accepts_dossiers:
        raise Invalid(
            f"Procedure {code} was abolished by decision {version.decision.number} "
            f"(effective {version.decision.effective_from.isoformat()}).",
            field="body.procedure_code",
            code="abolished-procedure",
        )
    unit_closed = row.valid_from is not None and not (
        row.valid_from <= day and (row.valid_to is None or day < row.valid_to)
    )
    if row.online_level is None or unit_closed:
        raise Invalid(
            f"Unit {unit} does not receive dossiers of procedure {code}.",
            field="body.receiving_unit",
            code="unit-does-not-accept",
        )
    offering = UnitOffering(agency_id=unit, online_level=OnlineLevel(row.online_level), postal=row.postal)
    if channel is Channel.ONLINE and offering.online_level is OnlineLevel.NONE:
        raise Invalid(
            f"Unit {unit} does not offer procedure {code} online.", field="body.channel", code="channel-not-offered"
        )
    if channel is Channel.POSTAL and not (offering.postal or version.content.postal):
        raise Invalid(
            f"Unit {unit} does not receive procedure {code} by post.", field="body.channel", code="channel-not-offered"
        )
    return Terms(version=version, offering=offering)


async def working_calendar(session: AsyncSession) -> WorkingCalendar:
    """The calendar from the replica; one `WorkingCalendar` per distinct rule set (it caches holidays per year)."""
    rules = (await catalogue_replica.calendar(session)).rules
    cal = _calendars.get(rules)
    if cal is None:
        if len(_calendars) > 32:
            _calendars.clear()
        cal = _calendars[rules] = WorkingCalendar(rules)
    return cal


def appointment(cal: WorkingCalendar, start: datetime, amount: int, unit: str) -> datetime:
    """The appointment (due) moment for a processing time counted from `start` (receipt or completion)."""
    kind = ProcessingUnit(unit)
    if kind is ProcessingUnit.ON_THE_SPOT:
        return cal.add_working_days(start, 0)
    if kind is ProcessingUnit.CALENDAR_DAYS:
        return cal.add_calendar_days(start, amount)
    return cal.add_working_days(start, amount)


async def unit_name(session: AsyncSession, agency_id: str) -> str:
    found = await catalogue_replica.unit(session, agency_id)
    return found.name if found is not None else agency_id
