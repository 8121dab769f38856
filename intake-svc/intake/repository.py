"""Queries of intake-svc: the only place that builds SQL (besides the code counter in `intake.codes`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from intake.models import Dossier, DossierDocument, DossierStep, IdempotencyRecord, Upload
from intake.schemas import ListFilter
from services.bus.outbox import note_enqueued
from services.bus.tables import outbox


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def claim_idempotency_key(
    session: AsyncSession, subject: str, key: str, request_hash: str, now: datetime
) -> IdempotencyRecord | None:
    """Take the key for this transaction, or return the record of the request that took it first.

    On PostgreSQL a concurrent transaction holding the same key makes this insert wait until it commits (then the
    insert does nothing and its record is read) or rolls back (then this one takes the key). On SQLite transactions
    are serialised (BEGIN IMMEDIATE), so the record read is always a committed one.
    """
    table = IdempotencyRecord.__table__
    stmt = (
        _insert(session)(table)
        .values(subject=subject, key=key, request_hash=request_hash, status_code=0, response=None, created_at=now)
        .on_conflict_do_nothing(index_elements=["subject", "key"])
    )
    result = await session.execute(stmt)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return None
    record: IdempotencyRecord | None = await session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.subject == subject, IdempotencyRecord.key == key)
        .execution_options(populate_existing=True)
    )
    assert record is not None
    return record


async def store_idempotent_answer(
    session: AsyncSession, subject: str, key: str, status_code: int, response: dict[str, Any], dossier_id: str
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.subject == subject, IdempotencyRecord.key == key)
        .values(status_code=status_code, response=response, dossier_id=dossier_id)
    )


_INSERT_DOSSIER = insert(Dossier.__table__)
_INSERT_DOCUMENT = insert(DossierDocument.__table__)
_INSERT_STEP = insert(DossierStep.__table__)
_INSERT_OUTBOX = insert(outbox)
_STEP_COLUMNS = [c.key for c in DossierStep.__table__.columns if c.key != "id"]
_OUTBOX_COLUMNS = ["event_id", "topic", "key", "value", "headers"]
_SUBMISSION_STATEMENT: Any = None


def _submission_statement() -> Any:
    """The new dossier, its first history step and its event's outbox row in one PostgreSQL statement
    (data-modifying CTEs): one round trip instead of three. Built once (statement construction is not free)."""
    global _SUBMISSION_STATEMENT
    if _SUBMISSION_STATEMENT is None:
        dossier_columns = [c.key for c in Dossier.__table__.columns]
        dossier = _INSERT_DOSSIER.values({k: bindparam(f"d_{k}") for k in dossier_columns}).cte("new_dossier")
        step = _INSERT_STEP.values({k: bindparam(f"s_{k}") for k in _STEP_COLUMNS}).cte("new_step")
        outbox_row = _INSERT_OUTBOX.values({k: bindparam(f"o_{k}") for k in _OUTBOX_COLUMNS})
        _SUBMISSION_STATEMENT = outbox_row.add_cte(dossier, step)
    return _SUBMISSION_STATEMENT


async def insert_submission(
    session: AsyncSession,
    dossier: dict[str, Any],
    documents: list[dict[str, Any]],
    step: dict[str, Any],
    event_row: dict[str, Any],
) -> None:
    """Store a new dossier with its documents (rows without `dossier_id`), the step (without `dossier_id`) and the
    outbox row of its event (`services.bus.outbox.outbox_row`)."""
    dossier_id = dossier["id"]
    if session.get_bind().dialect.name == "postgresql":
        params = {f"d_{k}": v for k, v in dossier.items()}
        params.update({f"s_{k}": v for k, v in step.items()})
        params["s_dossier_id"] = dossier_id
        params.update({f"o_{k}": v for k, v in event_row.items()})
        await session.execute(_submission_statement(), params)
    else:  # SQLite has no data-modifying CTEs; its statements do not leave the process
        await session.execute(_INSERT_DOSSIER, dossier)
        await session.execute(_INSERT_STEP, {"dossier_id": dossier_id, **step})
        await session.execute(_INSERT_OUTBOX, event_row)
    if documents:
        # Their own statement: rows of one multi-row VALUES or of several CTEs would not keep the documents' order
        # (their ids) reliably, and SQLAlchemy does not cache a multi-row VALUES statement.
        await session.execute(_INSERT_DOCUMENT, [{"dossier_id": dossier_id, **row} for row in documents])
    await note_enqueued(session)


async def uploads(session: AsyncSession, owner: str, ids: Sequence[str]) -> dict[str, Upload]:
    if not ids:
        return {}
    rows = await session.scalars(select(Upload).where(Upload.id.in_(list(ids)), Upload.owner == owner))
    return {u.id: u for u in rows}


# Built once, so that SQLAlchemy computes their cache keys once rather than on every call.
_DOSSIER = select(Dossier).where(Dossier.id == bindparam("dossier_id"))
_DOSSIER_FOR_UPDATE = _DOSSIER.with_for_update()
_DOSSIER_BY_CODE = select(Dossier).where(Dossier.code == bindparam("code"))
_DOCUMENTS = (
    select(DossierDocument).where(DossierDocument.dossier_id == bindparam("dossier_id")).order_by(DossierDocument.id)
)
_STEPS = (
    select(DossierStep)
    .where(DossierStep.dossier_id == bindparam("dossier_id"))
    .order_by(DossierStep.at, DossierStep.id)
)


async def dossier(session: AsyncSession, dossier_id: str, *, lock: bool = False) -> Dossier | None:
    return await session.scalar(_DOSSIER_FOR_UPDATE if lock else _DOSSIER, {"dossier_id": dossier_id})


async def dossier_by_code(session: AsyncSession, code: str) -> Dossier | None:
    return await session.scalar(_DOSSIER_BY_CODE, {"code": code})


async def documents(session: AsyncSession, dossier_id: str) -> list[DossierDocument]:
    return list(await session.scalars(_DOCUMENTS, {"dossier_id": dossier_id}))


async def steps(session: AsyncSession, dossier_id: str) -> list[DossierStep]:
    return list(await session.scalars(_STEPS, {"dossier_id": dossier_id}))


async def add_step(session: AsyncSession, **row: Any) -> None:
    """Append a step to a dossier's history (through the table: no ORM bookkeeping for an append-only row)."""
    await session.execute(_INSERT_STEP, row)


async def list_dossiers(
    session: AsyncSession, f: ListFilter, *, unit: str | None, applicant_id_number: str | None
) -> tuple[list[Dossier], int]:
    conditions: list[Any] = []
    if unit is not None:
        conditions.append(Dossier.receiving_unit == unit)
    if applicant_id_number is not None:
        conditions.append(Dossier.applicant_id_number == applicant_id_number)
    if f.status is not None:
        conditions.append(Dossier.status == f.status.value)
    if f.channel is not None:
        conditions.append(Dossier.channel == f.channel.value)
    if f.procedure_code is not None:
        conditions.append(Dossier.procedure_code == f.procedure_code)
    if f.received_from is not None:
        conditions.append(Dossier.business_date >= f.received_from)
    if f.received_to is not None:
        conditions.append(Dossier.business_date <= f.received_to)
    if f.code is not None:
        conditions.append(Dossier.code == f.code)
    total = int(await session.scalar(select(func.count()).select_from(Dossier).where(*conditions)) or 0)
    rows = await session.scalars(
        select(Dossier)
        .where(*conditions)
        .order_by(Dossier.submitted_at.desc(), Dossier.code.desc())
        .offset((f.page - 1) * f.page_size)
        .limit(f.page_size)
    )
    return list(rows), total
