"""Queries of intake-svc: the only place that builds SQL, and where a dossier's row becomes the domain's state and
back (`state`, `save`)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, insert, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain import dossier as domain
from intake.domain.submission import Document, Offer, check_sequence
from intake.models import (
    AssistedAccount,
    Dossier,
    DossierCounter,
    DossierDocument,
    DossierStep,
    IdempotencyRecord,
    Upload,
)
from intake.schemas import ListFilter
from services import catalogue_replica
from services.bus.tables import outbox
from services.contracts import catalogue_sql
from services.contracts.intake import Channel


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# -- a dossier's row and its state --------------------------------------------------------------------------------

_COLUMNS = [c.key for c in Dossier.__table__.columns]


def state(row: Dossier) -> domain.Dossier:
    """The domain's state of a dossier's row."""
    values = {k: getattr(row, k) for k in _COLUMNS}
    values["status"] = domain.Status(row.status)
    values["channel"] = Channel(row.channel)
    values["missing"] = tuple(domain.Missing(m["code"], m["name"]) for m in row.missing)
    values["refusal_reasons"] = tuple(row.refusal_reasons)
    values["fees"] = tuple(domain.Fee(f["code"], f["name"], f["amount"]) for f in row.fees)
    values["extended"] = bool(row.extended)
    return domain.Dossier(**values)


def _column(d: domain.Dossier, key: str) -> Any:
    value = getattr(d, key)
    if key == "missing":
        return [{"code": m.code, "name": m.name} for m in value]
    if key == "refusal_reasons":
        return list(value)
    if key == "fees":
        return [{"code": f.code, "name": f.name, "amount": f.amount} for f in value]
    if key in ("status", "channel"):
        return value.value
    return value


def columns(d: domain.Dossier) -> dict[str, Any]:
    return {k: _column(d, k) for k in _COLUMNS}


def save(row: Dossier, before: domain.Dossier, after: domain.Dossier) -> None:
    """Write what changed from `before` to `after` into the (locked) row; the session flushes it."""
    for key in _COLUMNS:
        if getattr(before, key) != getattr(after, key):
            setattr(row, key, _column(after, key))


# -- idempotency keys ---------------------------------------------------------------------------------------------


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


# -- the dossier code's counter -----------------------------------------------------------------------------------

_UPSERTS: dict[str, Any] = {}


def _counter_upsert(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (agency, day) DO UPDATE SET n = n + 1 RETURNING n``, built once per dialect."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        table = DossierCounter.__table__
        stmt = (
            (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
            .values(agency=bindparam("agency"), day=bindparam("day"), n=1)
            .on_conflict_do_update(index_elements=["agency", "day"], set_={"n": table.c.n + 1})
            .returning(table.c.n)
        )
        _UPSERTS[dialect] = stmt
    return stmt


async def next_sequence(session: AsyncSession, agency: str, day: date) -> int:
    """The next number of the agency's business day, in the caller's transaction.

    One counter row per agency and day, incremented by a single upsert. Its row lock (PostgreSQL) or the database
    write lock (SQLite, BEGIN IMMEDIATE) serialises concurrent submitters for the same agency and day until commit,
    so numbers are unique; a transaction that rolls back rolls its increment back with it, so there are no gaps.
    Call it as late as possible in the transaction: the lock is held until commit."""
    stmt = _counter_upsert(session.get_bind().dialect.name)
    n = int((await session.execute(stmt, {"agency": agency, "day": day})).scalar_one())
    check_sequence(agency, day, n)
    return n


# -- writing ------------------------------------------------------------------------------------------------------

_INSERT_DOSSIER = insert(Dossier.__table__)
_INSERT_DOCUMENT = insert(DossierDocument.__table__)
_INSERT_STEP = insert(DossierStep.__table__)
_INSERT_OUTBOX = insert(outbox)
_STEP_COLUMNS = [c.key for c in DossierStep.__table__.columns if c.key != "id"]
_OUTBOX_COLUMNS = ["event_id", "topic", "key", "value", "headers"]
_DOCUMENT_FIELDS = list(Document.__dataclass_fields__)
_SUBMISSION_STATEMENT: Any = None


def _submission_statement() -> Any:
    """The new dossier, its first history step and its event's outbox row in one PostgreSQL statement
    (data-modifying CTEs): one round trip instead of three. Built once (statement construction is not free)."""
    global _SUBMISSION_STATEMENT
    if _SUBMISSION_STATEMENT is None:
        dossier = _INSERT_DOSSIER.values({k: bindparam(f"d_{k}") for k in _COLUMNS}).cte("new_dossier")
        step = _INSERT_STEP.values({k: bindparam(f"s_{k}") for k in _STEP_COLUMNS}).cte("new_step")
        outbox_row = _INSERT_OUTBOX.values({k: bindparam(f"o_{k}") for k in _OUTBOX_COLUMNS})
        _SUBMISSION_STATEMENT = outbox_row.add_cte(dossier, step)
    return _SUBMISSION_STATEMENT


def _step_row(dossier_id: str, step: domain.Step, event_id: str | None) -> dict[str, Any]:
    return {
        "dossier_id": dossier_id,
        "at": step.at,
        "action": step.action,
        "status": step.status.value,
        "unit": step.unit,
        "actor": step.actor,
        "note": step.note,
        "event_id": event_id,
    }


def _document_rows(dossier_id: str, documents: Sequence[Document]) -> list[dict[str, Any]]:
    return [{"dossier_id": dossier_id, **{k: getattr(doc, k) for k in _DOCUMENT_FIELDS}} for doc in documents]


async def insert_submission(
    session: AsyncSession,
    dossier: domain.Dossier,
    documents: Sequence[Document],
    step: domain.Step,
    event_row: dict[str, Any],
) -> None:
    """Store a new dossier with its documents, its first step and the outbox row of its event (from
    `EventBuffer.take_rows`)."""
    row = columns(dossier)
    step_row = _step_row(dossier.id, step, event_row["event_id"])
    if session.get_bind().dialect.name == "postgresql":
        params = {f"d_{k}": v for k, v in row.items()}
        params.update({f"s_{k}": v for k, v in step_row.items()})
        params.update({f"o_{k}": v for k, v in event_row.items()})
        await session.execute(_submission_statement(), params)
    else:  # SQLite has no data-modifying CTEs; its statements do not leave the process
        await session.execute(_INSERT_DOSSIER, row)
        await session.execute(_INSERT_STEP, step_row)
        await session.execute(_INSERT_OUTBOX, event_row)
    if documents:
        # Their own statement: rows of one multi-row VALUES or of several CTEs would not keep the documents' order
        # (their ids) reliably, and SQLAlchemy does not cache a multi-row VALUES statement.
        await session.execute(_INSERT_DOCUMENT, _document_rows(dossier.id, documents))


async def add_documents(session: AsyncSession, dossier_id: str, documents: Sequence[Document]) -> None:
    if documents:
        await session.execute(_INSERT_DOCUMENT, _document_rows(dossier_id, documents))


async def add_step(session: AsyncSession, dossier_id: str, step: domain.Step, event_id: str | None) -> None:
    """Append a step to a dossier's history (through the table: no ORM bookkeeping for an append-only row)."""
    await session.execute(_INSERT_STEP, _step_row(dossier_id, step, event_id))


def add_assisted_account(
    session: AsyncSession, unit: str, account_id: str, dossier_id: str | None, officer: str, at: datetime
) -> None:
    session.add(
        AssistedAccount(id=str(uuid.uuid4()), unit=unit, account_id=account_id, dossier_id=dossier_id,
                        officer=officer, at=at)
    )  # fmt: skip


def add_upload(session: AsyncSession, upload: Upload) -> None:
    session.add(upload)


# -- reading ------------------------------------------------------------------------------------------------------


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


# -- the catalogue replica: a submission's terms ------------------------------------------------------------------


def _terms_query() -> Any:
    v, o, u = catalogue_replica.versions, catalogue_replica.offerings, catalogue_replica.units
    return (
        select(
            v.c.version,
            o.c.online_level,
            o.c.postal,
            catalogue_sql.valid_on(u.c.valid_from, u.c.valid_to, bindparam("day")).label("unit_open"),
        )
        .select_from(v)
        .outerjoin(o, and_(o.c.code == v.c.code, o.c.agency_id == bindparam("unit")))
        .outerjoin(u, u.c.agency_id == bindparam("unit"))
        .where(
            v.c.code == bindparam("code"),
            catalogue_sql.in_force_on(v.c.effective_from, v.c.effective_to, bindparam("day")),
        )
        .order_by(v.c.effective_from.desc(), v.c.version.desc())
        .limit(1)
    )


#: Built once with bound parameters: statement construction costs more than the query on a warm database.
_TERMS = _terms_query()
_VERSION = select(catalogue_replica.versions.c.data).where(
    catalogue_replica.versions.c.code == bindparam("code"), catalogue_replica.versions.c.version == bindparam("version")
)


async def terms_row(session: AsyncSession, code: str, unit: str, day: date) -> tuple[int, Offer] | None:
    """The number of the version of `code` in force on `day` and `unit`'s offer of it that day."""
    row = (await session.execute(_TERMS, {"code": code, "unit": unit, "day": day})).first()
    if row is None:
        return None
    return row.version, Offer(row.online_level, row.postal, None if row.unit_open is None else bool(row.unit_open))


async def version_data(session: AsyncSession, code: str, version: int) -> dict[str, Any] | None:
    data: dict[str, Any] | None = await session.scalar(_VERSION, {"code": code, "version": version})
    return data


# -- counts -------------------------------------------------------------------------------------------------------


def _in(column: Any, units: Collection[str] | None) -> ColumnElement[bool]:
    return column.in_(list(units)) if units is not None else true()


async def received_by_unit_and_channel(
    session: AsyncSession, since: datetime, until: datetime, units: Collection[str] | None
) -> list[tuple[str, str, int]]:
    """(receiving unit, channel, dossiers) first received in [since, until) at `units` (None: every unit)."""
    rows = await session.execute(
        select(Dossier.receiving_unit, Dossier.channel, func.count())
        .where(Dossier.received_at >= since, Dossier.received_at < until, _in(Dossier.receiving_unit, units))
        .group_by(Dossier.receiving_unit, Dossier.channel)
    )
    return [(unit, channel, int(n)) for unit, channel, n in rows]


async def accounts_assisted(
    session: AsyncSession, since: datetime, until: datetime, units: Collection[str] | None
) -> int:
    n = await session.scalar(
        select(func.count()).where(
            AssistedAccount.at >= since, AssistedAccount.at < until, _in(AssistedAccount.unit, units)
        )
    )
    return int(n or 0)
