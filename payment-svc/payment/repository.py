"""Queries of payment-svc: the only module that builds SQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payment.domain.model import BillState, LedgerRow, PaymentState, RefundState
from payment.domain.payments import Recorded
from payment.domain.states import (
    OPEN_STATES,
    REFUNDS_IN_FLIGHT,
    REFUNDS_TO_CHECK,
    BillStatus,
    Outcome,
    PaymentStatus,
    RefundStatus,
)
from payment.models import Bill, LedgerEntry, Notification, Payment, RefundRequest, Settlement, SettlementLine

_OPEN = sorted(OPEN_STATES)
_IN_FLIGHT = sorted(REFUNDS_IN_FLIGHT)
_TO_CHECK = sorted(REFUNDS_TO_CHECK)


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


# --- Rows and the domain's states --------------------------------------------------------------------------


def bill_state(row: Bill) -> BillState:
    return BillState(
        id=row.id, dossier_id=row.dossier_id, dossier_code=row.dossier_code, receiving_unit=row.receiving_unit,
        procedure_code=row.procedure_code, field_code=row.field_code, dossier_channel=row.dossier_channel,
        amount=row.amount, currency=row.currency, items=row.items, status=BillStatus(row.status),
        created_at=row.created_at, updated_at=row.updated_at, owner_ref=row.owner_ref,
    )  # fmt: skip


def payment_state(row: Payment) -> PaymentState:
    return PaymentState(
        id=row.id, bill_id=row.bill_id, order_ref=row.order_ref, provider=row.provider, amount=row.amount,
        currency=row.currency, status=PaymentStatus(row.status), refunded_amount=row.refunded_amount,
        provider_txn_id=row.provider_txn_id, created_at=row.created_at, expires_at=row.expires_at,
        paid_at=row.paid_at, updated_at=row.updated_at, started_by=row.started_by,
        next_status_query_at=row.next_status_query_at, status_queries=row.status_queries,
        status_answer=row.status_answer, status_answered_at=row.status_answered_at,
    )  # fmt: skip


def refund_state(row: RefundRequest) -> RefundState:
    return RefundState(
        id=row.id, payment_id=row.payment_id, provider=row.provider, amount=row.amount, reason=row.reason,
        actor=row.actor, state=RefundStatus(row.state), provider_answer=row.provider_answer, checks=row.checks,
        created_at=row.created_at, updated_at=row.updated_at, provider_refund_id=row.provider_refund_id,
        next_check_at=row.next_check_at,
    )  # fmt: skip


_FIELDS = {cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in (BillState, PaymentState, RefundState)}


def _column_values(state: BillState | PaymentState | RefundState) -> dict[str, Any]:
    values = {name: getattr(state, name) for name in _FIELDS[type(state)]}
    return {name: value.value if isinstance(value, StrEnum) else value for name, value in values.items()}


def write_state(row: Bill | Payment | RefundRequest, state: BillState | PaymentState | RefundState) -> None:
    """Carry a decided state onto its row (the session's flush sends what changed)."""
    for name, value in _column_values(state).items():
        if getattr(row, name) != value:
            setattr(row, name, value)


def add_payment(session: AsyncSession, state: PaymentState) -> Payment:
    row = Payment(**_column_values(state))
    session.add(row)
    return row


def add_refund_request(session: AsyncSession, state: RefundState) -> RefundRequest:
    row = RefundRequest(**_column_values(state))
    session.add(row)
    return row


def add_ledger(session: AsyncSession, rows: Iterable[LedgerRow]) -> None:
    """Append ledger rows, in order. Nothing updates or deletes one: a correction is a new row."""
    session.add_all(_ledger_entry(row) for row in rows)


def _ledger_entry(row: LedgerRow) -> LedgerEntry:
    return LedgerEntry(
        bill_id=row.bill_id, payment_id=row.payment_id, kind=row.kind,
        from_status=str(row.from_status) if row.from_status is not None else None,
        to_status=str(row.to_status) if row.to_status is not None else None,
        amount=row.amount, provider=row.provider, provider_txn_id=row.provider_txn_id, actor=row.actor,
        note=row.note, created_at=row.at,
    )  # fmt: skip


# --- Bills -------------------------------------------------------------------------------------------


async def bill(session: AsyncSession, bill_id: str, *, lock: bool = False, fresh: bool = False) -> Bill | None:
    """The bill; `fresh`: read again even if the session holds a copy (populate_existing)."""
    stmt = select(Bill).where(Bill.id == bill_id)
    if lock:
        stmt = stmt.with_for_update()
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def bills(session: AsyncSession, bill_ids: Collection[str], *, lock: bool = False) -> Sequence[Bill]:
    """Bills by id, in id order (the order they are locked in)."""
    if not bill_ids:
        return []
    stmt = select(Bill).where(Bill.id.in_(bill_ids)).order_by(Bill.id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalars().all()


async def bill_of_dossier(session: AsyncSession, dossier_id: str, *, lock: bool = False) -> Bill | None:
    stmt = select(Bill).where(Bill.dossier_id == dossier_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_bill_if_absent(session: AsyncSession, bill: BillState) -> bool:
    """Insert a bill unless the dossier already has one (race-safe on both backends)."""
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(Bill)
        .values(**_column_values(bill))
        .on_conflict_do_nothing(index_elements=["dossier_id"])
        .returning(Bill.id)
    )
    return result.scalar_one_or_none() is not None


async def list_bills(
    session: AsyncSession,
    *,
    unit: str | None,
    status: str | None,
    dossier_code: str | None,
    limit: int,
    offset: int,
) -> Sequence[Bill]:
    stmt = select(Bill)
    if unit is not None:
        stmt = stmt.where(Bill.receiving_unit == unit)
    if status is not None:
        stmt = stmt.where(Bill.status == status)
    if dossier_code is not None:
        stmt = stmt.where(Bill.dossier_code == dossier_code)
    stmt = stmt.order_by(Bill.created_at.desc(), Bill.id).limit(limit).offset(offset)
    return (await session.execute(stmt)).scalars().all()


# --- Payments ----------------------------------------------------------------------------------------


async def payment(session: AsyncSession, payment_id: str, *, lock: bool = False) -> Payment | None:
    """The payment; with `lock`, its row locked and read again after the lock (the session may hold a copy read
    before it, from before a concurrent command committed; its own changes are flushed first, not lost)."""
    stmt = select(Payment).where(Payment.id == payment_id)
    if lock:
        await session.flush()
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def payment_by_order_ref(session: AsyncSession, order_ref: str, *, lock: bool = False) -> Payment | None:
    stmt = select(Payment).where(Payment.order_ref == order_ref)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def payments_by_order_refs(session: AsyncSession, order_refs: Collection[str]) -> Sequence[Payment]:
    """The payments with these order references, locked oldest first (the order `payments_of_bill` locks in)."""
    stmt = (
        select(Payment)
        .where(Payment.order_ref.in_(order_refs))
        .order_by(Payment.created_at, Payment.id)
        .with_for_update()
    )
    return (await session.execute(stmt)).scalars().all()


async def payments_of_bill(
    session: AsyncSession, bill_id: str, *, lock: bool = False, fresh: bool = False
) -> Sequence[Payment]:
    """The bill's payments, oldest first; `fresh`: read again even if the session holds copies."""
    stmt = select(Payment).where(Payment.bill_id == bill_id).order_by(Payment.created_at, Payment.id)
    if lock:
        stmt = stmt.with_for_update()
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalars().all()


async def due_payments(session: AsyncSession, now: datetime, limit: int) -> Sequence[Payment]:
    """Pending payments past their expiry, locked; replicas sweeping at once skip each other's rows."""
    stmt = (
        select(Payment)
        .where(Payment.status.in_(_OPEN), Payment.expires_at < now)
        .order_by(Payment.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def paid_payments_between(
    session: AsyncSession, provider: str, start: datetime, end: datetime
) -> Sequence[Payment]:
    stmt = select(Payment).where(
        Payment.provider == provider,
        Payment.paid_at.is_not(None),
        Payment.paid_at >= start,
        Payment.paid_at < end,
    )
    return (await session.execute(stmt)).scalars().all()


async def payment_by_txn(session: AsyncSession, provider: str, provider_txn_id: str) -> Payment | None:
    stmt = select(Payment).where(Payment.provider == provider, Payment.provider_txn_id == provider_txn_id)
    return (await session.execute(stmt)).scalars().first()


# --- Notifications -----------------------------------------------------------------------------------


async def notification_outcomes(
    session: AsyncSession, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], Recorded]:
    """Outcome and amount of the notifications already recorded among these (provider, provider_txn_id)."""
    if not keys:
        return {}
    stmt = select(Notification.provider, Notification.provider_txn_id, Notification.outcome, Notification.amount).where(
        Notification.provider.in_({provider for provider, _ in keys}),
        Notification.provider_txn_id.in_({txn for _, txn in keys}),
    )
    found = {
        (provider, txn): Recorded(Outcome(outcome), amount)
        for provider, txn, outcome, amount in (await session.execute(stmt)).all()
    }
    return {key: outcome for key, outcome in found.items() if key in keys}


async def add_notifications_if_absent(session: AsyncSession, rows: Sequence[dict[str, object]]) -> set[tuple[str, str]]:
    """Insert notifications unless their (provider, provider_txn_id) is known: the keys this call inserted.

    The unique constraint decides between concurrent copies: on PostgreSQL the second insert waits for the first
    transaction and then does nothing; on SQLite writers are serialised (BEGIN IMMEDIATE).
    """
    if not rows:
        return set()
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(Notification)
        .on_conflict_do_nothing(index_elements=["provider", "provider_txn_id"])
        .returning(Notification.provider, Notification.provider_txn_id),
        list(rows),  # executemany with RETURNING: one multi-row INSERT, compiled once
    )
    return {(provider, txn) for provider, txn in result.all()}


# --- Ledger ------------------------------------------------------------------------------------------


async def ledger(
    session: AsyncSession, *, bill_id: str | None = None, payment_id: str | None = None
) -> Sequence[LedgerEntry]:
    stmt = select(LedgerEntry).order_by(LedgerEntry.id)
    if bill_id is not None:
        stmt = stmt.where(LedgerEntry.bill_id == bill_id)
    if payment_id is not None:
        stmt = stmt.where(LedgerEntry.payment_id == payment_id)
    return (await session.execute(stmt)).scalars().all()


# --- Settlements -------------------------------------------------------------------------------------


async def settlement(session: AsyncSession, settlement_id: str) -> Settlement | None:
    return await session.get(Settlement, settlement_id)


async def settlement_by_hash(session: AsyncSession, provider: str, sha256: str) -> Settlement | None:
    stmt = select(Settlement).where(Settlement.provider == provider, Settlement.sha256 == sha256)
    return (await session.execute(stmt)).scalar_one_or_none()


async def add_settlement(session: AsyncSession, **values: Any) -> Settlement | None:
    """Record a settlement import; None if the same file is being imported by another transaction."""
    settlement = Settlement(**values)
    session.add(settlement)
    try:
        await session.flush()
    except IntegrityError:
        return None
    return settlement


async def add_settlement_line(session: AsyncSession, **values: Any) -> None:
    """One classified line, flushed: the queries of the lines after it must see what it changed."""
    session.add(SettlementLine(**values))
    await session.flush()


async def close_settlement(session: AsyncSession, settlement: Settlement, summary: dict[str, int]) -> None:
    settlement.summary = summary
    await session.flush()


async def settlement_lines(session: AsyncSession, settlement_id: str) -> Sequence[SettlementLine]:
    stmt = (
        select(SettlementLine)
        .where(SettlementLine.settlement_id == settlement_id)
        .order_by(SettlementLine.line_no == 0, SettlementLine.line_no, SettlementLine.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def claim_silent_payments(
    session: AsyncSession, *, started_before: datetime, at: datetime, limit: int
) -> Sequence[Payment]:
    """Open payments started before `started_before` whose next status query is due, locked; replicas sweeping at
    once skip each other's rows (the caller moves `next_status_query_at` on before committing)."""
    stmt = (
        select(Payment)
        .where(
            Payment.status.in_(_OPEN),
            Payment.created_at <= started_before,
            or_(Payment.next_status_query_at.is_(None), Payment.next_status_query_at <= at),
        )
        .order_by(Payment.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def refund_request(session: AsyncSession, request_id: str, *, lock: bool = False) -> RefundRequest | None:
    stmt = select(RefundRequest).where(RefundRequest.id == request_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def refunds_in_flight(session: AsyncSession, payment_id: str) -> int:
    stmt = select(func.coalesce(func.sum(RefundRequest.amount), 0)).where(
        RefundRequest.payment_id == payment_id, RefundRequest.state.in_(_IN_FLIGHT)
    )
    return int((await session.execute(stmt)).scalar_one())


async def refunds_of_payment(session: AsyncSession, payment_id: str) -> Sequence[RefundRequest]:
    stmt = select(RefundRequest).where(RefundRequest.payment_id == payment_id).order_by(RefundRequest.created_at)
    return (await session.execute(stmt)).scalars().all()


async def claim_refunds_to_check(session: AsyncSession, *, at: datetime, limit: int) -> Sequence[RefundRequest]:
    """Refunds whose answer was lost or is not final yet and whose next check is due, locked (skip locked)."""
    stmt = (
        select(RefundRequest)
        .where(
            RefundRequest.state.in_(_TO_CHECK),
            or_(RefundRequest.next_check_at.is_(None), RefundRequest.next_check_at <= at),
        )
        .order_by(RefundRequest.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()
