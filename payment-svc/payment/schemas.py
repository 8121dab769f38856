"""Request and response models of payment-svc."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Provider = Literal["payos", "vnpay", "momo", "zalopay"]


class StartPayment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Provider


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(gt=0, description="integer VND to give back")
    reason: str = Field(min_length=1, max_length=400)

    @field_validator("reason")
    @classmethod
    def _nfc(cls, value: str) -> str:
        return unicodedata.normalize("NFC", value).strip()


class FeeItemOut(BaseModel):
    code: str
    name: str
    amount: int


class LedgerEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    bill_id: str | None
    payment_id: str | None
    from_status: str | None
    to_status: str | None
    amount: int
    provider: str | None
    provider_txn_id: str | None
    actor: str
    note: str
    created_at: datetime


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    bill_id: str
    order_ref: str
    provider: str
    amount: int
    currency: str
    status: str
    refunded_amount: int
    provider_txn_id: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    qr_payload: str | None = None
    #: the provider's last answer to a status query (paid, failed, pending, not_found, error) and when it came
    status_answer: str | None = None
    status_answered_at: datetime | None = None
    #: in the answer to a refund: that refund as the provider took it
    refund: RefundOut | None = None


class RefundOut(BaseModel):
    """A refund asked of the provider: accepted (money given back), refused (nothing changed), processing or
    unknown (the answer is awaited; the sweep asks the provider, never sending it twice) or manual (payOS: given
    back by bank transfer and recorded by staff)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    payment_id: str
    provider: str
    amount: int
    reason: str
    state: str
    provider_answer: str
    provider_refund_id: str | None
    created_at: datetime
    updated_at: datetime


class BillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    dossier_id: str
    dossier_code: str
    receiving_unit: str
    procedure_code: str
    field_code: str
    dossier_channel: str
    amount: int
    currency: str
    status: str
    items: list[FeeItemOut]
    created_at: datetime
    payments: list[PaymentOut] = []


class VietQROut(BaseModel):
    bill_id: str
    payment_id: str | None
    payload: str
    bank_bin: str
    account: str
    amount: int
    bill_number: str
    purpose: str
    reference: str | None


class SettlementLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    line_no: int
    provider_txn_id: str | None
    order_ref: str | None
    payment_id: str | None
    their_amount: int | None
    our_amount: int | None
    their_status: str | None
    our_status: str | None
    category: str
    action: str


class SettlementReport(BaseModel):
    id: str
    provider: str
    settlement_date: date
    sha256: str
    line_count: int
    already_imported: bool = False
    summary: dict[str, int]
    lines: list[SettlementLineOut]


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


PaymentOut.model_rebuild()
