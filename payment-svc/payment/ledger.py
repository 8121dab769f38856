"""The append-only ledger: every transition, refund, flag and correction is a new row; nothing edits one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from payment.models import LedgerEntry
from services import clock


async def record(
    session: AsyncSession,
    *,
    kind: str,
    actor: str,
    bill_id: str | None = None,
    payment_id: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    amount: int = 0,
    provider: str | None = None,
    provider_txn_id: str | None = None,
    note: str = "",
    at: datetime | None = None,
) -> LedgerEntry:
    entry = LedgerEntry(
        bill_id=bill_id,
        payment_id=payment_id,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        amount=amount,
        provider=provider,
        provider_txn_id=provider_txn_id,
        actor=actor[:100],
        note=note[:500],
        created_at=at or clock.now(),
    )
    session.add(entry)
    return entry
