"""Queries of catalogue-svc: the only module that builds SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalogue import models as m
from services.contracts import catalogue_sql


async def field(session: AsyncSession, code: str) -> m.Field | None:
    return await session.get(m.Field, code)


async def fields(session: AsyncSession) -> Sequence[m.Field]:
    return (await session.scalars(select(m.Field).order_by(m.Field.code))).all()


async def unit(session: AsyncSession, agency_id: str) -> m.Unit | None:
    return await session.get(m.Unit, agency_id)


async def units(
    session: AsyncSession, *, level: str | None = None, parent_id: str | None = None, on: date | None = None
) -> Sequence[m.Unit]:
    q = select(m.Unit).order_by(m.Unit.level_rank, m.Unit.agency_id)
    if level:
        q = q.where(m.Unit.level == level)
    if parent_id:
        q = q.where(m.Unit.parent_id == parent_id)
    if on is not None:
        q = q.where(valid_on(on))
    return (await session.scalars(q)).all()


async def existing_units(session: AsyncSession, ids: Iterable[str], on: date | None = None) -> set[str]:
    wanted = set(ids)
    if not wanted:
        return set()
    q = select(m.Unit.agency_id).where(m.Unit.agency_id.in_(wanted))
    if on is not None:
        q = q.where(valid_on(on))
    return set((await session.scalars(q)).all())


async def procedure(session: AsyncSession, code: str) -> m.Procedure | None:
    return await session.get(m.Procedure, code)


async def versions(session: AsyncSession, code: str) -> Sequence[m.ProcedureVersion]:
    q = select(m.ProcedureVersion).where(m.ProcedureVersion.code == code).order_by(m.ProcedureVersion.version)
    return (await session.scalars(q)).all()


async def offerings(session: AsyncSession, code: str) -> Sequence[m.ProcedureUnit]:
    q = select(m.ProcedureUnit).where(m.ProcedureUnit.code == code).order_by(m.ProcedureUnit.agency_id)
    return (await session.scalars(q)).all()


async def replace_offerings(session: AsyncSession, code: str, rows: list[m.ProcedureUnit]) -> None:
    await session.execute(delete(m.ProcedureUnit).where(m.ProcedureUnit.code == code))
    session.add_all(rows)
    await session.flush()


async def offerings_of_units(session: AsyncSession, agency_ids: Iterable[str]) -> Sequence[m.ProcedureUnit]:
    q = select(m.ProcedureUnit).where(m.ProcedureUnit.agency_id.in_(set(agency_ids)))
    return (await session.scalars(q)).all()


async def catalogue_stamp(session: AsyncSession) -> tuple[int, int]:
    """Changes whenever any procedure changes (revisions only grow): the search cache's key."""
    row = (await session.execute(select(func.count(), func.coalesce(func.sum(m.Procedure.revision), 0)))).one()
    return int(row[0]), int(row[1])


async def search_rows(
    session: AsyncSession,
) -> tuple[Sequence[m.Procedure], Sequence[tuple[str, int, date, str, dict[str, object]]], Sequence[m.ProcedureUnit]]:
    procs = (await session.scalars(select(m.Procedure))).all()
    vrows = (
        await session.execute(
            select(
                m.ProcedureVersion.code,
                m.ProcedureVersion.version,
                m.ProcedureVersion.effective_from,
                m.ProcedureVersion.status,
                m.ProcedureVersion.content,
            ).order_by(m.ProcedureVersion.code, m.ProcedureVersion.version)
        )
    ).all()
    offers = (await session.scalars(select(m.ProcedureUnit))).all()
    return procs, [tuple(r) for r in vrows], offers  # type: ignore[misc]


async def calendar_year(session: AsyncSession, year: int) -> m.CalendarYear | None:
    return await session.get(m.CalendarYear, year)


async def calendar_days(session: AsyncSession, year: int | None = None) -> Sequence[m.CalendarDay]:
    q = select(m.CalendarDay).order_by(m.CalendarDay.day)
    if year is not None:
        q = q.where(m.CalendarDay.year == year)
    return (await session.scalars(q)).all()


async def replace_calendar_days(session: AsyncSession, year: int, rows: list[m.CalendarDay]) -> None:
    await session.execute(delete(m.CalendarDay).where(m.CalendarDay.year == year))
    session.add_all(rows)
    await session.flush()


async def import_run(session: AsyncSession, run_id: str) -> m.ImportRun | None:
    return await session.get(m.ImportRun, run_id)


def valid_on(on: date) -> ColumnElement[bool]:
    return catalogue_sql.valid_on(m.Unit.valid_from, m.Unit.valid_to, on)
