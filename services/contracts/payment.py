"""Events of payment-svc (topic `payment.payments`, keyed by dossier id so that one dossier's events stay in order).

Intake consumes them for the dossier's history (national status 6 "payment requested"), stats for the online
payment share of Decision 766 (dossiers paid online ÷ fee-bearing dossiers). Amounts are integer VND. No personal
data: the payer is not named.

Lifecycle: a bill per fee-bearing dossier (`BillRequested`, or `BillCancelled` when the dossier is refused); each
attempt to pay it is a payment: `PaymentStarted` (pending) → `PaymentPaid` | `PaymentFailed` | `PaymentExpired`;
a paid payment may be refunded in parts (`PaymentRefunded`, never more than was paid). `PaymentFlagged` reports
what needs a person: an amount mismatch, money received for a payment already final, a settlement line that does
not match.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field

from services.events import EventPayload, event_type


class FlagKind(StrEnum):
    AMOUNT_MISMATCH = "amount_mismatch"  # the provider reports another amount or currency than the bill's
    PAID_WHEN_FINAL = "paid_when_final"  # money taken for a payment already expired / failed
    DOUBLE_PAYMENT = "double_payment"  # a second provider transaction paid the same payment or bill
    PAID_AFTER_CANCEL = "paid_after_cancel"  # the dossier was refused after its bill was paid: refund due
    SETTLEMENT_MISMATCH = "settlement_mismatch"  # reconciliation found a difference


class BillEvent(EventPayload):
    bill_id: str
    dossier_id: str
    dossier_code: str
    receiving_unit: str
    at: AwareDatetime


@event_type("payment.bill.requested", version=1)
class BillRequested(BillEvent):
    """A fee-bearing dossier was received: the applicant is asked to pay `amount` (status 6 at the portal)."""

    procedure_code: str
    field_code: str
    dossier_channel: str = Field(description="channel the dossier came in by: in_person | postal | online")
    amount: int = Field(gt=0, description="integer VND")
    currency: str = "VND"


@event_type("payment.bill.cancelled", version=1)
class BillCancelled(BillEvent):
    """The dossier was refused (or withdrawn) before payment; nothing is owed any more."""

    reason: str


class PaymentEvent(BillEvent):
    payment_id: str
    provider: str = Field(description="payos | vnpay | momo | zalopay | cash")
    online: bool = Field(description="paid through a wallet / bank transfer rather than at the desk")
    amount: int = Field(ge=0, description="integer VND of the payment")


@event_type("payment.payment.started", version=1)
class PaymentStarted(PaymentEvent):
    """An attempt to pay the bill is pending with a provider until `expires_at`."""

    order_ref: str
    expires_at: AwareDatetime


@event_type("payment.payment.paid", version=1)
class PaymentPaid(PaymentEvent):
    provider_txn_id: str
    paid_at: AwareDatetime
    via: str = Field(default="webhook", description="webhook | reconciliation | desk")


@event_type("payment.payment.failed", version=1)
class PaymentFailed(PaymentEvent):
    reason: str


@event_type("payment.payment.expired", version=1)
class PaymentExpired(PaymentEvent):
    reason: str


@event_type("payment.payment.refunded", version=1)
class PaymentRefunded(PaymentEvent):
    """`refund_amount` was given back; `refunded_total` so far, `fully_refunded` when nothing paid is left."""

    refund_amount: int = Field(gt=0)
    refunded_total: int
    fully_refunded: bool
    reason: str


@event_type("payment.payment.flagged", version=1)
class PaymentFlagged(EventPayload):
    """Something a person must look at; the payment's state did not change because of it."""

    kind: FlagKind
    bill_id: str | None = None
    payment_id: str | None = None
    dossier_id: str | None = None
    dossier_code: str | None = None
    provider: str
    provider_txn_id: str | None = None
    expected_amount: int | None = None
    reported_amount: int | None = None
    detail: str
    at: AwareDatetime
