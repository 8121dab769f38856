"""What intake needs from the catalogue, answered from the local replica only (catalogue-svc may be down).

The replica (`services.catalogue_replica`) is fed by the compacted catalogue topics; this module turns its answers
into intake's rules: the version in force at receipt, whether the receiving unit accepts the procedure through the
channel, the working-day calendar, and the appointment date.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from services import catalogue_replica
from services.calendar import WorkingCalendar
from services.contracts.catalogue import OnlineLevel, ProcedureVersion, ProcessingUnit, UnitOffering
from services.contracts.intake import Channel
from services.errors import Invalid, Problem


@dataclass(frozen=True)
class Terms:
    """The procedure version a dossier is judged by, and how the receiving unit offers it."""

    version: ProcedureVersion
    offering: UnitOffering


@dataclass(frozen=True)
class _TermsRow:
    version: int
    online_level: str | None
    postal: bool | None
    valid_from: date | None
    valid_to: date | None


class ReplicaCache:
    """Per-application caches over the replica, so that a submission reads nothing of it on a warm process.

    Procedure versions are immutable: a parsed version is kept for good. The version in force with the unit's
    offering (per procedure, unit and business day) is kept until the replica consumer of this process applies a
    change (`catalogue_replica.generation`) and for at most `ttl` seconds (changes applied by another process).
    Only found terms are cached: an unknown procedure is looked up again on the next request. (The calendar is
    memoized by the replica itself: `working_calendar`.)"""

    def __init__(self, ttl: float = 2.0) -> None:
        self.versions: dict[tuple[str, int], ProcedureVersion] = {}
        self.ttl = ttl
        self._terms: dict[tuple[str, str, date], tuple[float, int, _TermsRow]] = {}

    def _fresh(self, stamp: float, generation: int) -> bool:
        return generation == catalogue_replica.generation.value and time.monotonic() - stamp < self.ttl

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

    async def terms_row(self, session: AsyncSession, code: str, unit: str, day: date) -> _TermsRow | None:
        key = (code, unit, day)
        cached = self._terms.get(key)
        if cached is not None and self._fresh(cached[0], cached[1]):
            return cached[2]
        generation = catalogue_replica.generation.value  # before the query: a change applied meanwhile shows
        row = (await session.execute(_TERMS, {"code": code, "unit": unit, "day": day})).first()
        if row is None:
            self._terms.pop(key, None)
            return None
        found = _TermsRow(row.version, row.online_level, row.postal, row.valid_from, row.valid_to)
        if len(self._terms) > 10_000:
            self._terms.clear()
        self._terms[key] = (time.monotonic(), generation, found)
        return found


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
    """The version in force at `at` and the unit's offering (the same rules as
    `catalogue_replica.version_in_force` and `accepting_units`), from the cache or in one query."""
    day = catalogue_replica.business_date(at)
    row = await cache.terms_row(session, code, unit, day)
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
    offering = UnitOffering(agency_id=unit, online_level=OnlineLevel(row.online_level), postal=bool(row.postal))
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
    """The calendar from the replica (one `WorkingCalendar` per distinct rule set, shared by the process)."""
    return await catalogue_replica.calendar(session)


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
