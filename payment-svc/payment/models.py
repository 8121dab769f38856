"""Tables owned by payment-svc.

- `bills`: one per fee-bearing dossier (unique dossier id), integer VND.
- `payments`: attempts to pay a bill through a provider; `order_ref` is what the provider echoes back.
- `notifications`: every verified provider notification (webhook or settlement line that changed something),
  unique per (provider, provider transaction id): the second copy of a webhook cannot insert, so it has no effect.
- `ledger_entries`: append-only record of everything that happened to bills and payments (transitions, refunds,
  flags, corrections). Nothing updates or deletes a ledger row; a correction is a new row.
- `settlements` / `settlement_lines`: imported provider settlement files (unique by provider and content hash) and
  the classification of each line.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.db import BigId, UTCDateTime, create_base

Base = create_base()


class Bill(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "bills"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dossier_id: Mapped[str] = mapped_column(String(64), unique=True)
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    receiving_unit: Mapped[str] = mapped_column(String(32), index=True)
    procedure_code: Mapped[str] = mapped_column(String(64))
    field_code: Mapped[str] = mapped_column(String(32))
    dossier_channel: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: open | paid | cancelled
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Whose bill it is, pseudonymously (services.policy.owner_ref of the applicant's id number); none on bills of
    #: dossiers received before intake sent it: the portal does not reach those.
    owner_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Payment(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_status_expires_at", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bill_id: Mapped[str] = mapped_column(ForeignKey("bills.id"), index=True)
    order_ref: Mapped[str] = mapped_column(String(32), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="VND")
    #: created | pending | paid | failed | expired | partially_refunded | refunded
    status: Mapped[str] = mapped_column(String(24))
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    provider_txn_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(100))
    #: When the provider is next asked about this payment if no callback came (settlement.py); null: not yet due
    #: (the first query is due `status_query_after_seconds` after `created_at`).
    next_status_query_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status_queries: Mapped[int] = mapped_column(Integer, default=0)
    #: The provider's last answer to a status query (provider_api.QueryAnswer, or "error"), and when it came.
    status_answer: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RefundRequest(Base):  # type: ignore[misc, valid-type]
    """A refund asked of the provider under an idempotent request id: sent once, asked about when its answer was
    lost. Money moves in the ledger only when the provider accepted it (or staff recorded a manual refund)."""

    __tablename__ = "refund_requests"
    __table_args__ = (Index("ix_refund_requests_state_next_check_at", "state", "next_check_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the request id sent to the provider
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(100))
    #: sending | accepted | refused | processing | unknown | manual
    state: Mapped[str] = mapped_column(String(16))
    provider_refund_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: what the provider said (its code and message), or why there was no answer
    provider_answer: Mapped[str] = mapped_column(String(500), default="")
    checks: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("provider", "provider_txn_id", name="uq_notifications_provider_txn"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_txn_id: Mapped[str] = mapped_column(String(64))
    order_ref: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    #: paid | failed, as the provider reports it
    status: Mapped[str] = mapped_column(String(16))
    #: applied | amount_mismatch | stale | final | double_payment | not_found (see service.Outcome)
    outcome: Mapped[str] = mapped_column(String(24))
    source: Mapped[str] = mapped_column(String(16))  # webhook | settlement
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bill_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    payment_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    #: bill_opened | bill_cancelled | transition | refund | flag | correction
    kind: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    #: VND moved by this entry (0 for pure state changes): received for `paid`, returned for `refund`
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    provider: Mapped[str | None] = mapped_column(String(16), nullable=True)
    provider_txn_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Settlement(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("provider", "sha256", name="uq_settlements_provider_sha256"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    settlement_date: Mapped[date] = mapped_column(Date)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200), default="")
    line_count: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, int]] = mapped_column(JSON)
    imported_by: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SettlementLine(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "settlement_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)  # 0 for "missing on theirs" rows
    provider_txn_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    order_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payment_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    their_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    our_amount: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    their_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    our_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    #: matched | missing_ours | missing_theirs | amount_mismatch | status_mismatch | duplicate
    category: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(200), default="")
