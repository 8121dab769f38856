"""Importing a provider's settlement file (payment.domain.settlement_file says what each line means).

Importing is idempotent: a file is known by its SHA-256; the same file again returns the first report and changes
nothing. Corrections are new ledger rows, never edits: a payment still pending that the provider settled as paid
(the webhook never came) becomes paid through the ordinary state machine (ledger kind "correction", PaymentPaid
with via="reconciliation"); everything else that does not match is flagged (ledger kind "flag", PaymentFlagged).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from payment import repository, service
from payment.domain import payments
from payment.domain.model import Decision, LedgerRow
from payment.domain.settlement_file import (
    CATEGORIES,
    MISSING_THEIRS,
    REPEATED,
    Judgement,
    Line,
    MalformedSettlement,
    corrected,
    judge,
    parse,
    settlement_day,
    summary_note,
)
from payment.models import Payment, Settlement
from payment.schemas import SettlementLineOut, SettlementReport
from payment.settings import Settings
from services.contracts.payment import FlagKind
from services.errors import Conflict, Invalid


async def _find(session: AsyncSession, provider: str, line: Line) -> Payment | None:
    payment = await repository.payment_by_txn(session, provider, line.provider_txn_id)
    if payment is None and line.order_ref:
        payment = await repository.payment_by_order_ref(session, line.order_ref, lock=True)
        if payment is not None and payment.provider != provider:
            payment = None
    return payment


async def import_settlement(
    session: AsyncSession,
    settings: Settings,
    provider: str,
    settlement_date: date,
    raw: bytes,
    *,
    actor: str,
    filename: str = "",
) -> tuple[Settlement, bool]:
    """Import a settlement file; returns (settlement, already_imported)."""
    digest = hashlib.sha256(raw).hexdigest()
    known = await repository.settlement_by_hash(session, provider, digest)
    if known is not None:
        return known, True
    try:
        lines = parse(raw)
    except MalformedSettlement as exc:
        raise Invalid(f"The settlement file is malformed: {exc}", field="body", line=exc.line) from None

    at = service.now()
    settlement = await repository.add_settlement(
        session, id=str(uuid.uuid4()), provider=provider, settlement_date=settlement_date, sha256=digest,
        filename=filename[:200], line_count=len(lines), summary={}, imported_by=actor[:100], imported_at=at,
    )  # fmt: skip
    if settlement is None:
        raise Conflict("The same file is being imported right now; ask again for its report.")

    work = service.UnitOfWork(session, settings)
    counts = dict.fromkeys(CATEGORIES, 0)
    seen: set[str] = set()
    who = f"reconciliation:{settlement.id[:8]}"

    async def note(line: Line | None, judgement: Judgement, row: Payment | None) -> None:
        counts[judgement.category] += 1
        payment = repository.payment_state(row) if row is not None else None
        await repository.add_settlement_line(
            session,
            settlement_id=settlement.id,
            line_no=line.no if line else 0,
            provider_txn_id=line.provider_txn_id if line else (payment.provider_txn_id if payment else None),
            order_ref=line.order_ref if line else (payment.order_ref if payment else None),
            payment_id=payment.id if payment else None,
            their_amount=line.amount if line else None,
            our_amount=payment.amount if payment else None,
            their_status=line.status if line else None,
            our_status=payment.status.value if payment else None,
            category=judgement.category,
            action=judgement.action[:200],
        )
        if judgement.flagged:
            bill = await repository.bill(session, payment.bill_id) if payment else None
            detail = f"settlement {settlement_date} line {line.no if line else '-'}: {judgement.category}: "
            work.record(
                payments.flag(
                    FlagKind.SETTLEMENT_MISMATCH,
                    detail=detail + judgement.action,
                    actor=who,
                    provider=provider,
                    bill=repository.bill_state(bill) if bill else None,
                    payment=payment,
                    provider_txn_id=line.provider_txn_id if line else (payment.provider_txn_id if payment else None),
                    reported_amount=line.amount if line else None,
                    at=at,
                )
            )

    for line in lines:
        if line.provider_txn_id in seen:
            await note(line, REPEATED, None)
            continue
        seen.add(line.provider_txn_id)
        row = await _find(session, provider, line)
        judgement = judge(line, repository.payment_state(row) if row else None, provider, settlement.id)
        if judgement.correction is not None:
            (result,) = await service.notify(work, [judgement.correction], source="reconciliation")
            judgement = corrected(result.outcome)
        await note(line, judgement, row)

    # Ours, paid through this provider that day (Vietnam time), that the file does not list.
    start, end = settlement_day(settlement_date)
    for row in await repository.paid_payments_between(session, provider, start, end):
        if row.provider_txn_id not in seen:
            await note(None, MISSING_THEIRS, row)

    await repository.close_settlement(session, settlement, counts)
    summary = LedgerRow(
        kind="reconciliation", actor=actor, provider=provider, at=at,
        note=summary_note(settlement.id, settlement_date, counts),
    )  # fmt: skip
    work.record(Decision(ledger=(summary,)))
    await work.write_events()
    return settlement, False


async def report(session: AsyncSession, settlement: Settlement, already: bool = False) -> SettlementReport:
    lines = await repository.settlement_lines(session, settlement.id)
    return SettlementReport(
        id=settlement.id,
        provider=settlement.provider,
        settlement_date=settlement.settlement_date,
        sha256=settlement.sha256,
        line_count=settlement.line_count,
        already_imported=already,
        summary={k: settlement.summary.get(k, 0) for k in CATEGORIES},
        lines=[SettlementLineOut.model_validate(line) for line in lines],
    )
