"""Bills, payments and notifications in a given state, for the pure domain tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from payment.domain.model import BillState, PaymentState, RefundState
from payment.domain.states import BillStatus, PaymentStatus, RefundStatus
from payment.providers import Notification

OWNER = "a" * 64
OTHER = "b" * 64
AT = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)


def bill(status: BillStatus = BillStatus.OPEN, *, amount: int = 50_000, **changes: Any) -> BillState:
    made = BillState(
        id="bill-1",
        dossier_id="dossier-1",
        dossier_code="000.00.31.H57-261204-0001",
        receiving_unit="000.00.31.H57",
        procedure_code="1.900001",
        field_code="HT",
        dossier_channel="in_person",
        amount=amount,
        currency="VND",
        items=[{"code": "LP", "name": "Lệ phí", "amount": amount}],
        status=status,
        created_at=AT - timedelta(hours=1),
        updated_at=AT - timedelta(hours=1),
        owner_ref=OWNER,
    )
    return replace(made, **changes)


def payment(
    status: PaymentStatus = PaymentStatus.PENDING,
    *,
    id: str = "payment-1",
    provider: str = "payos",
    amount: int = 50_000,
    **changes: Any,
) -> PaymentState:
    started = AT - timedelta(minutes=5)
    made = PaymentState(
        id=id,
        bill_id="bill-1",
        order_ref=f"1000000000000{id[-2:].replace('-', '0')}",
        provider=provider,
        amount=amount,
        currency="VND",
        status=status,
        refunded_amount=0,
        provider_txn_id="txn-1" if status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED) else None,
        created_at=started,
        expires_at=started + TTL,
        paid_at=started if status is PaymentStatus.PAID else None,
        updated_at=started,
        started_by="desk",
    )
    return replace(made, **changes)


def note(
    of: PaymentState,
    status: str = "paid",
    *,
    txn: str = "txn-1",
    amount: int | None = None,
    currency: str = "VND",
    paid_at: datetime | None = AT,
    provider: str | None = None,
) -> Notification:
    return Notification(
        provider=provider or of.provider,
        provider_txn_id=txn,
        order_ref=of.order_ref,
        amount=of.amount if amount is None else amount,
        currency=currency,
        status=status,  # type: ignore[arg-type]
        paid_at=paid_at if status == "paid" else None,
        raw={},
    )


def refund(of: PaymentState, amount: int, state: RefundStatus = RefundStatus.SENDING, **changes: Any) -> RefundState:
    made = RefundState(
        id="refund-1",
        payment_id=of.id,
        provider=of.provider,
        amount=amount,
        reason="Thừa",
        actor="desk",
        state=state,
        provider_answer="",
        checks=0,
        created_at=AT,
        updated_at=AT,
    )
    return replace(made, **changes)
