"""Queries of payment-svc: the only module that builds SQL."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payment.models import Bill, LedgerEntry, Notification, Payment, RefundRequest, Settlement, SettlementLine


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


# --- Bills -------------------------------------------------------------------------------------------


async def bill(session: AsyncSession, bill_id: str, *, lock: bool = False) -> Bill | None:
    stmt = select(Bill).where(Bill.id == bill_id)
    if lock:
        stmt = stmt.with_for_update()
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


async def add_bill_if_absent(session: AsyncSession, values: dict[str, object]) -> bool:
    """Insert a bill unless the dossier already has one (race-safe on both backends)."""
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(Bill).values(**values).on_conflict_do_nothing(index_elements=["dossier_id"]).returning(Bill.id)
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


async def payments_of_bill(session: AsyncSession, bill_id: str, *, lock: bool = False) -> Sequence[Payment]:
    stmt = select(Payment).where(Payment.bill_id == bill_id).order_by(Payment.created_at, Payment.id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalars().all()


async def due_payments(session: AsyncSession, now: datetime, limit: int) -> Sequence[Payment]:
    """Pending payments past their expiry, locked; replicas sweeping at once skip each other's rows."""
    stmt = (
        select(Payment)
        .where(Payment.status.in_(("created", "pending")), Payment.expires_at < now)
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
) -> dict[tuple[str, str], tuple[str, int]]:
    """Outcome and amount of the notifications already recorded among these (provider, provider_txn_id)."""
    if not keys:
        return {}
    stmt = select(
        Notification.provider, Notification.provider_txn_id, Notification.outcome, Notification.amount
    ).where(
        Notification.provider.in_({provider for provider, _ in keys}),
        Notification.provider_txn_id.in_({txn for _, txn in keys}),
    )
    found = {
        (provider, txn): (outcome, amount) for provider, txn, outcome, amount in (await session.execute(stmt)).all()
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
            Payment.status.in_(("created", "pending")),
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


#: Refunds the provider may still carry out: their amount is not available for another refund.
REFUNDS_IN_FLIGHT = ("sending", "processing", "unknown")


async def refunds_in_flight(session: AsyncSession, payment_id: str) -> int:
    stmt = select(func.coalesce(func.sum(RefundRequest.amount), 0)).where(
        RefundRequest.payment_id == payment_id, RefundRequest.state.in_(REFUNDS_IN_FLIGHT)
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
            RefundRequest.state.in_(("processing", "unknown")),
            or_(RefundRequest.next_check_at.is_(None), RefundRequest.next_check_at <= at),
        )
        .order_by(RefundRequest.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()
