"""Queries of the read models (the only place that builds SQL for reports). Set-based, one round trip each."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select, text, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from services.contracts.catalogue_sql import in_force_on
from services.contracts.stats import II06A_COUNTED
from stats.models import (
    MAX_OPEN_DAYS,
    OPEN,
    DailyCounter,
    DossierFact,
    QueryBound,
    StatsProcedureUnit,
    StatsProcedureVersion,
    StatsUnit,
)
from stats.projections import ACCOUNTS_ASSISTED

F = DossierFact
V = StatsProcedureVersion


@dataclass(frozen=True)
class UnitRow:
    agency_id: str
    name: str
    level: str
    level_rank: int
    parent_id: str | None
    kind: str


async def units(session: AsyncSession) -> dict[str, UnitRow]:
    rows = await session.execute(
        select(StatsUnit.agency_id, StatsUnit.name, StatsUnit.level, StatsUnit.level_rank, StatsUnit.parent_id,
               StatsUnit.kind)
    )  # fmt: skip
    return {r.agency_id: UnitRow(r.agency_id, r.name, r.level, r.level_rank, r.parent_id, r.kind) for r in rows}


async def plan_for_values(session: AsyncSession) -> None:
    """Plan this transaction's report queries for their own dates and units (PostgreSQL).

    asyncpg prepares every statement, and after five runs PostgreSQL may keep a generic plan made without the
    parameters' values; for a report that plan can be far slower than one made for them (a city-wide II.06a on the
    benchmark data: 360 ms against 60 ms). Planning costs about a millisecond, so reports always plan anew."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _in_units(column: Any, scope: Collection[str] | None) -> ColumnElement[bool]:
    return column.in_(list(scope)) if scope is not None else true()


def _sum(cond: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


async def received_by_unit_channel(
    session: AsyncSession, start: date, end: date, scope: Collection[str] | None
) -> list[tuple[str | None, str | None, int]]:
    rows = await session.execute(
        select(F.receiving_unit, F.channel, func.count())
        .where(F.received_date >= start, F.received_date <= end, _in_units(F.receiving_unit, scope))
        .group_by(F.receiving_unit, F.channel)
    )
    return [(r[0], r[1], int(r[2])) for r in rows]


async def counter_total(
    session: AsyncSession, metric: str, start: date, end: date, scope: Collection[str] | None
) -> int:
    value = await session.scalar(
        select(func.coalesce(func.sum(DailyCounter.count), 0)).where(
            DailyCounter.metric == metric,
            DailyCounter.day >= start,
            DailyCounter.day <= end,
            _in_units(DailyCounter.unit, scope),
        )
    )
    return int(value or 0)


async def accounts_assisted(session: AsyncSession, start: date, end: date, scope: Collection[str] | None) -> int:
    return await counter_total(session, ACCOUNTS_ASSISTED, start, end, scope)


def _offered_in(scope: Collection[str] | None) -> ColumnElement[bool]:
    if scope is None:
        return true()
    return exists().where(StatsProcedureUnit.code == V.code, StatsProcedureUnit.agency_id.in_(list(scope)))


async def procedure_changes(
    session: AsyncSession, start: date, end: date, scope: Collection[str] | None
) -> dict[str, int]:
    """Versions that took effect in the period, by decision kind (distinct procedures)."""
    rows = await session.execute(
        select(V.decision_kind, func.count(func.distinct(V.code)))
        .where(V.effective_from >= start, V.effective_from <= end, _offered_in(scope))
        .group_by(V.decision_kind)
    )
    return {str(kind): int(n) for kind, n in rows}


async def procedures_online(session: AsyncSession, day: date, scope: Collection[str] | None) -> int:
    """Procedures whose version in force on `day` is active and offered online (partial or full)."""
    value = await session.scalar(
        select(func.count(func.distinct(V.code))).where(
            in_force_on(V.effective_from, V.effective_to, day),
            V.status == "active",
            V.online_level != "none",
            _offered_in(scope),
        )
    )
    return int(value or 0)


async def field_names(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(select(V.field_code, func.max(V.field_name)).group_by(V.field_code))
    return {str(code): str(name) for code, name in rows}


async def ii06a_by_field(
    session: AsyncSession, start: date, end: date, scope: Collection[str] | None
) -> dict[str, dict[str, int]]:
    """Form II.06a counts per field over [start, end] (business dates, inclusive); see reports.py for the rules.

    The period's workload is three disjoint index ranges: received in the period; received before it and never
    ended (`open_until` = OPEN); received before it and ended on or after its start, whose receipt dates lie
    within `max_open_days` before the start. The counts are taken over their union."""
    columns = (F.field_code, F.channel, F.appointment_date, F.resolved_date, F.closed_date, F.open_until)
    in_scope = _in_units(F.receiving_unit, scope)
    span = await session.scalar(select(QueryBound.value).where(QueryBound.name == MAX_OPEN_DAYS)) or 0
    received = select(*columns, literal(0).label("carried")).where(
        F.received_date >= start, F.received_date <= end, in_scope
    )
    never_ended = select(*columns, literal(1).label("carried")).where(
        F.open_until == OPEN, F.received_date < start, in_scope
    )
    ended_later = select(*columns, literal(1).label("carried")).where(
        F.received_date >= start - timedelta(days=span),
        F.received_date < start,
        F.open_until >= start,
        F.open_until != OPEN,
        in_scope,
    )
    u = union_all(received, never_ended, ended_later).subquery("workload")
    fresh = u.c.carried == 0
    resolved_in = and_(u.c.resolved_date >= start, u.c.resolved_date <= end)
    pending = u.c.open_until > end
    query = select(  # the counts in the order of II06A_COUNTED
        u.c.field_code,
        _sum(and_(fresh, u.c.channel == "online")),
        _sum(and_(fresh, u.c.channel != "online")),
        _sum(u.c.carried == 1),
        _sum(resolved_in),
        _sum(and_(resolved_in, u.c.resolved_date < u.c.appointment_date)),
        _sum(and_(resolved_in, u.c.resolved_date == u.c.appointment_date)),
        _sum(and_(resolved_in, u.c.resolved_date > u.c.appointment_date)),
        _sum(pending),
        _sum(and_(pending, u.c.appointment_date < end)),
        _sum(
            and_(
                u.c.closed_date >= start,
                u.c.closed_date <= end,
                or_(u.c.resolved_date.is_(None), u.c.resolved_date > end),
            )
        ),
    ).group_by(u.c.field_code)
    result: dict[str, dict[str, int]] = {}
    for row in await session.execute(query):
        result[str(row[0] or "")] = {name: int(value) for name, value in zip(II06A_COUNTED, row[1:], strict=True)}
    return result


async def payment_and_online(
    session: AsyncSession, start: date, end: date, scope: Collection[str] | None
) -> dict[str, int]:
    """Inputs of the 766 online indicators for dossiers received in the period."""
    offered_online = exists().where(
        V.code == F.procedure_code,
        in_force_on(V.effective_from, V.effective_to, F.received_date),
        V.online_level != "none",
    )
    row = (
        await session.execute(
            select(
                _sum(F.fee_bearing.is_(True)),
                _sum(and_(F.fee_bearing.is_(True), F.paid_online.is_(True))),
                _sum(offered_online),
                _sum(and_(offered_online, F.channel == "online")),
            ).where(F.received_date >= start, F.received_date <= end, _in_units(F.receiving_unit, scope))
        )
    ).one()
    return {
        "fee_bearing": int(row[0]),
        "paid_online": int(row[1]),
        "of_online_procedures": int(row[2]),
        "online_of_online_procedures": int(row[3]),
    }
