"""Tables owned by catalogue-svc.

Versions are append-only: a publication decision inserts a `procedure_versions` row and never updates one. The
`procedures` row is the aggregate's head (revision counter for events and caches, status). A version is in force
from its `effective_from` until the next version's `effective_from` (derived, not stored).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from services.db import create_base

Base = create_base()


class Field(Base):  # type: ignore[misc, valid-type]
    """Lĩnh vực: the field/sector of a procedure (codes like ``G03-GD10``)."""

    __tablename__ = "fields"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))


class Unit(Base):  # type: ignore[misc, valid-type]
    """An administrative unit or an agency inside one. Closed (merged) units keep their row: history stays."""

    __tablename__ = "units"
    agency_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(30), index=True)
    level_rank: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[str | None] = mapped_column(String(40), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    successor_id: Mapped[str | None] = mapped_column(String(40))
    predecessor_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)


class Procedure(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "procedures"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    latest_version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProcedureVersion(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "procedure_versions"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_procedure_versions_code_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(ForeignKey("procedures.code"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    decision_kind: Mapped[str] = mapped_column(String(20))
    decision_number: Mapped[str] = mapped_column(String(100))
    decision_signed_on: Mapped[date] = mapped_column(Date)
    decision_agency_id: Mapped[str | None] = mapped_column(String(40))
    field_code: Mapped[str] = mapped_column(ForeignKey("fields.code"), index=True)
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ProcedureUnit(Base):  # type: ignore[misc, valid-type]
    """Per-unit configuration: the unit receives dossiers of the procedure at this online level."""

    __tablename__ = "procedure_units"
    code: Mapped[str] = mapped_column(ForeignKey("procedures.code"), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("units.agency_id"), primary_key=True, index=True)
    online_level: Mapped[str] = mapped_column(String(20))
    postal: Mapped[bool] = mapped_column(Boolean, default=False)


class CalendarYear(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "calendar_years"
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(Integer, default=1)


class CalendarDay(Base):  # type: ignore[misc, valid-type]
    """An administrator's extra day off or make-up working day (on top of `holidays.Vietnam`)."""

    __tablename__ = "calendar_days"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    year: Mapped[int] = mapped_column(ForeignKey("calendar_years.year"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(String(300), default="")


class ImportRun(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "imports"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source_name: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(10))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
