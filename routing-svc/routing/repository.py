"""Queries of routing-svc: the only place that builds SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from routing.models import Extension, Hop, Journey, JourneyAction, JourneyStep

# The statements of every command and read are built once: SQLAlchemy then computes each one's cache key once
# instead of building the expression and its key again on every call (a sixth of routing-svc's CPU per request).
_DOSSIER = bindparam("dossier_id")
_JOURNEY = select(Journey).where(Journey.dossier_id == _DOSSIER)
_JOURNEY_EXISTS = select(Journey.dossier_id).where(Journey.dossier_id == _DOSSIER)
_STEPS = select(JourneyStep).where(JourneyStep.dossier_id == _DOSSIER).order_by(JourneyStep.seq)
_HOPS = select(Hop).where(Hop.dossier_id == _DOSSIER).order_by(Hop.id)
INSERT_ACTION = insert(JourneyAction.__table__)
INSERT_HOP = insert(Hop.__table__).returning(Hop.__table__.c.id)
# A read of a journey takes with it what it would otherwise ask in two more statements: the last action's number
# (the next one is appended after it) and whether the one extension was granted (every answer shows it).
_LAST_SEQ = (
    select(func.coalesce(func.max(JourneyAction.seq), 0))
    .where(JourneyAction.dossier_id == _DOSSIER)
    .scalar_subquery()
)
_EXTENDED = exists().where(Extension.dossier_id == _DOSSIER)
_JOURNEY_STATE = select(Journey, _LAST_SEQ, _EXTENDED).where(Journey.dossier_id == _DOSSIER)
# A command locks the row first (PostgreSQL row lock; SQLite serialises writers with BEGIN IMMEDIATE) and reads the
# rest in a statement of its own: on PostgreSQL a statement that waited for the lock sees the locked row as it is
# now but everything else as it was when the statement began, so an action number read with the lock would be the
# one of before the command it waited for (two commands at once would append the same number: a 500).
_JOURNEY_FOR_UPDATE = _JOURNEY.with_for_update()
_LOCKED_STATE = select(_LAST_SEQ, _EXTENDED)


async def journey(session: AsyncSession, dossier_id: str) -> Journey | None:
    return (await session.execute(_JOURNEY, {"dossier_id": dossier_id})).scalar_one_or_none()


async def journey_exists(session: AsyncSession, dossier_id: str) -> bool:
    return await session.scalar(_JOURNEY_EXISTS, {"dossier_id": dossier_id}) is not None


async def journey_state(
    session: AsyncSession, dossier_id: str, *, for_update: bool = False
) -> tuple[Journey, int, bool] | None:
    """The journey, the number of its last action (0 before the first) and whether it was extended."""
    params = {"dossier_id": dossier_id}
    if for_update:
        j = (await session.execute(_JOURNEY_FOR_UPDATE, params)).scalar_one_or_none()
        if j is None:
            return None
        last_seq, extended = (await session.execute(_LOCKED_STATE, params)).one()
        return j, int(last_seq), bool(extended)
    row = (await session.execute(_JOURNEY_STATE, params)).first()
    return None if row is None else (row[0], int(row[1]), bool(row[2]))


async def steps(session: AsyncSession, dossier_id: str) -> list[JourneyStep]:
    return list(await session.scalars(_STEPS, {"dossier_id": dossier_id}))


async def hops(session: AsyncSession, dossier_id: str) -> list[Hop]:
    return list(await session.scalars(_HOPS, {"dossier_id": dossier_id}))


async def actions(session: AsyncSession, dossier_id: str) -> list[JourneyAction]:
    rows = await session.scalars(
        select(JourneyAction).where(JourneyAction.dossier_id == dossier_id).order_by(JourneyAction.seq)
    )
    return list(rows)


async def extension(session: AsyncSession, dossier_id: str) -> Extension | None:
    return await session.get(Extension, dossier_id)


QUEUE_OF_PHASE = {
    "routing": "todo",
    "active": "todo",
    "awaiting": "outgoing",
    "paused": "waiting",
    "processed": "results",
    "at_desk": "results",
    "closed": "closed",
}
#: phases whose deadlines run (the sweep looks at these only; a paused clock does not run)
RUNNING_PHASES = ("awaiting", "routing", "active")


async def worklist(
    session: AsyncSession,
    *,
    unit: str,
    view: str,
    officer: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> Sequence[Journey]:
    """One page of a unit's (or officer's) worklist, by due date then dossier id (keyset paging on the index)."""
    conditions: list[Any]
    if view == "incoming":
        conditions = [Journey.pending_unit == unit]
    else:
        conditions = [Journey.officer == officer] if officer else []
        conditions.append(Journey.holder_unit == unit)
        if view in ("todo", "outgoing", "waiting", "results"):
            conditions.append(Journey.queue == view)
        elif view in ("due_soon", "overdue"):
            conditions += [Journey.queue == "todo", Journey.step_sla_state == view]
        else:
            raise ValueError(view)
    if after is not None:
        due, dossier_id = after
        conditions.append(
            or_(Journey.step_due_at > due, and_(Journey.step_due_at == due, Journey.dossier_id > dossier_id))
        )
    stmt = select(Journey).where(*conditions).order_by(Journey.step_due_at, Journey.dossier_id).limit(limit)
    return list(await session.scalars(stmt))


async def journey_units(session: AsyncSession, dossier_id: str) -> tuple[str, set[str]] | None:
    """The dossier's code and every unit with a part in its journey (receiving, holding, addressed, on a step), read
    as plain values: the journey a command then locks is not loaded (and cached in the session) before its lock."""
    row = (
        await session.execute(
            select(Journey.code, Journey.receiving_unit, Journey.holder_unit, Journey.pending_unit).where(
                Journey.dossier_id == dossier_id
            )
        )
    ).first()
    if row is None:
        return None
    step_units = await session.scalars(select(JourneyStep.unit).where(JourneyStep.dossier_id == dossier_id))
    return row[0], {u for u in (row[1], row[2], row[3], *step_units) if u}
