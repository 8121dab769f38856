"""The rules of a bill: opened for a fee-bearing dossier, paid by one payment, cancelled with its dossier."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from payment.domain.model import NOTHING, BillState, Decision, Emit, LedgerRow, PaymentState
from payment.domain.payments import bill_fields, flag
from payment.domain.states import PAID_STATES, BillStatus
from services.contracts.intake import DossierReceived
from services.contracts.payment import BillCancelled, BillRequested, FlagKind

#: Who opens and cancels bills: intake's dossier events.
INTAKE = "intake"


def open_bill(received: DossierReceived, *, bill_id: str, at: datetime) -> Decision | None:
    """A bill for a received dossier from its fee items; none when the total is zero. The caller writes it only
    if the dossier has no bill yet."""
    total = sum(item.amount for item in received.fees)
    if total <= 0:
        return None
    bill = BillState(
        id=bill_id,
        dossier_id=received.dossier_id,
        dossier_code=received.code,
        receiving_unit=received.receiving_unit,
        procedure_code=received.procedure_code,
        field_code=received.field_code,
        dossier_channel=received.channel.value,
        amount=total,
        currency="VND",
        items=[item.model_dump() for item in received.fees],
        status=BillStatus.OPEN,
        created_at=at,
        updated_at=at,
        owner_ref=received.owner_ref,
    )
    row = LedgerRow(kind="bill_opened", actor=INTAKE, bill_id=bill.id, to_status=BillStatus.OPEN, amount=total, at=at)
    event = BillRequested(
        **bill_fields(bill, at),  # type: ignore[arg-type]
        procedure_code=bill.procedure_code,
        field_code=bill.field_code,
        dossier_channel=bill.dossier_channel,
        amount=total,
    )
    return Decision(bill=bill, ledger=(row,), events=(Emit(event, bill.dossier_id),))


def cancel_bill(bill: BillState, payments: list[PaymentState], reason: str, *, at: datetime) -> Decision:
    """Cancel the bill of a refused or withdrawn dossier; a bill paid already is flagged (a refund is due).

    Its pending payments stay pending: only the provider can say whether the citizen has paid already (its
    callback may not have arrived); the status query settles them (paid → flagged for refund, else expired)."""
    if bill.status is BillStatus.CANCELLED:
        return NOTHING
    if bill.status is BillStatus.PAID:
        paid = next((p for p in payments if p.status in PAID_STATES), None)
        return flag(
            FlagKind.PAID_AFTER_CANCEL,
            detail=f"dossier {bill.dossier_code} was closed ({reason}) after its bill was paid: refund due",
            actor=INTAKE,
            provider=paid.provider if paid else "unknown",
            bill=bill,
            payment=paid,
            at=at,
        )
    row = LedgerRow(
        kind="bill_cancelled",
        actor=INTAKE,
        bill_id=bill.id,
        from_status=bill.status,
        to_status=BillStatus.CANCELLED,
        note=reason,
        at=at,
    )
    cancelled = replace(bill, status=BillStatus.CANCELLED, updated_at=at)
    event = BillCancelled(**bill_fields(cancelled, at), reason=reason)  # type: ignore[arg-type]
    return Decision(bill=cancelled, ledger=(row,), events=(Emit(event, bill.dossier_id),))
