"""Tables owned by intake-svc: dossiers, their documents and history, the daily code counters, idempotency keys,
uploads, and assisted public-service accounts. The catalogue replica's tables are added to the same metadata."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.catalogue_replica import add_replica_tables
from services.db import BigId, UTCDateTime, create_base

Base = create_base()


class Dossier(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "dossier"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    receiving_unit: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[date] = mapped_column(Date)
    seq: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))

    procedure_code: Mapped[str] = mapped_column(String(64))
    procedure_version: Mapped[int] = mapped_column(Integer)
    procedure_name: Mapped[str] = mapped_column(Text)
    field_code: Mapped[str] = mapped_column(String(64))

    applicant_kind: Mapped[str] = mapped_column(String(16))
    applicant_id_number: Mapped[str] = mapped_column(String(16))
    applicant_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(500))
    account_id: Mapped[str | None] = mapped_column(String(64))

    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the dossier was received complete (form 01); None while a supplement is awaited before receipt.
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the processing clock last (re)started: receipt, or the completion of a supplement.
    clock_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processing_amount: Mapped[int] = mapped_column(Integer)
    processing_unit: Mapped[str] = mapped_column(String(16))

    missing: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    supplement_reason: Mapped[str | None] = mapped_column(Text)
    refusal_reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    fees: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When routing started the dossier's journey (`JourneyStarted`): from then on it is processed elsewhere.
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the result (or the refusal) reached the receiving desk: routing's `ResultAtDesk`, or `JourneyProcessed`
    #: by the receiving unit itself. Only then can the desk return it.
    result_at_desk_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)

    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_dossier_unit_date", "receiving_unit", "business_date"),
        Index("ix_dossier_unit_status", "receiving_unit", "status"),
        Index("ix_dossier_applicant", "applicant_id_number"),
    )


class DossierDocument(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "dossier_document"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"), index=True)
    component_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    form: Mapped[str] = mapped_column(String(16))  # original | copy | certified_copy | electronic
    copies: Mapped[int] = mapped_column(Integer, default=1)
    upload_id: Mapped[str | None] = mapped_column(String(36))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(300))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DossierStep(Base):  # type: ignore[misc, valid-type]
    """The dossier's history as shown to the applicant (no personal data)."""

    __tablename__ = "dossier_step"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dossier_id: Mapped[str] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(64))


class DossierCounter(Base):  # type: ignore[misc, valid-type]
    """The last sequence number given out per receiving agency and business day (Asia/Ho_Chi_Minh)."""

    __tablename__ = "dossier_counter"

    agency: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class IdempotencyRecord(Base):  # type: ignore[misc, valid-type]
    """The answer given to a submission with an Idempotency-Key, per caller."""

    __tablename__ = "idempotency_key"

    subject: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    dossier_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Upload(Base):  # type: ignore[misc, valid-type]
    """A document content uploaded before the submission that references it."""

    __tablename__ = "upload"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssistedAccount(Base):  # type: ignore[misc, valid-type]
    """A public-service account a desk helped an applicant create (counted in the quarterly report)."""

    __tablename__ = "assisted_account"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    unit: Mapped[str] = mapped_column(String(32), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    dossier_id: Mapped[str | None] = mapped_column(String(36))
    officer: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


# The catalogue replica (procedures, units, calendar) lives in intake's database, fed by the catalogue topics.
add_replica_tables(Base.metadata)
