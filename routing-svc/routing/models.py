"""Tables owned by routing-svc.

- `journeys`: one row per dossier, the current projection of its action log (holder, pending hop, phase, due dates,
  SLA flags). The single holder is one NOT NULL column: a dossier can never be held by two units or by nobody; a hop
  in flight only names the addressed unit in `pending_unit` until it accepts.
- `journey_steps`: the planned route (copied from the version in force at receipt) with per-step due dates.
- `hops`: transfer requests and their answer.
- `journey_actions`: the append-only action log (who, role, unit, when, what, note); status is derived from it.
- `extensions`: the one extension a dossier may get (form 04). The primary key on dossier_id makes it once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from services.catalogue_replica import add_replica_tables
from services.db import BigId, UTCDateTime, create_base

Base = create_base()
add_replica_tables(Base.metadata)  # the local catalogue replica: route templates, units, calendar


TZ = UTCDateTime()


class Journey(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "journeys"

    dossier_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    procedure_code: Mapped[str] = mapped_column(String(64), nullable=False)
    procedure_version: Mapped[int] = mapped_column(Integer, nullable=False)
    field_code: Mapped[str] = mapped_column(String(64), nullable=False)
    receiving_unit: Mapped[str] = mapped_column(String(64), nullable=False)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    inter_level: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    received_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    #: awaiting (a hop is pending) | active | paused | processed | at_desk | closed
    phase: Mapped[str] = mapped_column(String(16), nullable=False)
    #: worklist queue derived from the phase: todo (routing, active) | outgoing (awaiting) | waiting (paused) |
    #: results (processed, at_desk) | closed
    queue: Mapped[str] = mapped_column(String(16), nullable=False)
    #: national status code 1..10, derived from the action log (kept here for lists and indexes)
    status: Mapped[int] = mapped_column(Integer, nullable=False)
    holder_unit: Mapped[str] = mapped_column(String(64), nullable=False)
    pending_unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pending_hop_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    officer: Mapped[str | None] = mapped_column(String(100), nullable=True)
    current_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: overall due moment (appointment), moved by pauses and by the one extension
    due_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    original_due_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    #: due moment of the step the holder works on (= due_at when no step is running)
    step_due_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    sla_state: Mapped[str] = mapped_column(String(16), nullable=False, default="on_time")
    step_sla_state: Mapped[str] = mapped_column(String(16), nullable=False, default="on_time")
    paused_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    paused_working_days: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(TZ, nullable=False)

    __table_args__ = (
        # worklists: a unit's dossiers in one phase by due date, keyset-paged on (step_due_at, dossier_id)
        Index("ix_journeys_holder_queue_due", "holder_unit", "queue", "step_due_at", "dossier_id"),
        Index("ix_journeys_holder_flag_due", "holder_unit", "queue", "step_sla_state", "step_due_at", "dossier_id"),
        Index("ix_journeys_officer_queue_due", "officer", "queue", "step_due_at", "dossier_id"),
        Index("ix_journeys_pending_due", "pending_unit", "step_due_at", "dossier_id"),
        # the sweep: open dossiers whose flag is behind their due date
        Index("ix_journeys_sweep_dossier", "phase", "sla_state", "due_at"),
        Index("ix_journeys_sweep_step", "phase", "step_sla_state", "step_due_at"),
    )


class JourneyStep(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "journey_steps"

    dossier_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("journeys.dossier_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[str] = mapped_column(String(32), nullable=False)
    unit: Mapped[str] = mapped_column(String(64), nullable=False)
    working_days: Mapped[int] = mapped_column(Integer, nullable=False)
    #: planned | active | done
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="planned")
    due_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    late: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class Hop(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "hops"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dossier_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("journeys.dossier_id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    from_unit: Mapped[str] = mapped_column(String(64), nullable=False)
    to_unit: Mapped[str] = mapped_column(String(64), nullable=False)
    step_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: requested | accepted | rejected | cancelled (the journey closed while it was pending)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    requested_by: Mapped[str] = mapped_column(String(100), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(TZ, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class JourneyAction(Base):  # type: ignore[misc, valid-type]
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "journey_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dossier_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("journeys.dossier_id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    __table_args__ = (UniqueConstraint("dossier_id", "seq", name="uq_journey_actions_dossier_seq"),)


class Extension(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "extensions"

    dossier_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("journeys.dossier_id", ondelete="CASCADE"), primary_key=True
    )
    unit: Mapped[str] = mapped_column(String(64), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(100), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    previous_due_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    new_due_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
