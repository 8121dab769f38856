"""Tables owned by connect-svc.

- `portal_dossiers`: per dossier, the portal's view of it (`connect.domain.records.PortalDossier` as JSON) and the
  next sequence number of its deliveries.
- `portal_holdings`: the dossiers the portal holds (a dossier record of theirs was acknowledged).
- `deliveries`: every record for the portal, one per change: which dossier, kind (dossier / step), the event it
  came from (unique with its position among that event's changes), its sequence in the dossier, the record, its
  state (connect.domain.delivery.State), attempts, when the next is due, the last answer or error, the worker's
  lease while a call is in flight.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from services.catalogue_replica import add_replica_tables
from services.db import BigId, UTCDateTime, create_base

Base = create_base()
add_replica_tables(Base.metadata)  # the catalogue replica: the names of procedures and fields


class PortalDossier(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "portal_dossiers"

    dossier_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), index=True)
    view: Mapped[dict[str, Any]] = mapped_column(JSON)
    next_seq: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PortalHolding(Base):  # type: ignore[misc, valid-type]
    """A dossier the portal holds: a dossier record of it was acknowledged (its later ones go with `isUpdating`, its
    steps may go). Written by the workers only, so that a worker never waits on a row the consumers lock."""

    __tablename__ = "portal_holdings"

    dossier_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(Base):  # type: ignore[misc, valid-type]
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("dossier_id", "seq", name="uq_deliveries_dossier_seq"),
        UniqueConstraint("event_id", "position", name="uq_deliveries_event_position"),
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
        # the heads of the dossiers' queues: what is not acknowledged yet, by dossier and sequence
        Index(
            "ix_deliveries_undelivered",
            "dossier_id",
            "seq",
            sqlite_where=text("state != 'acknowledged'"),
            postgresql_where=text("state != 'acknowledged'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: Who it is for: "dvcqg" (the national portal).
    party: Mapped[str] = mapped_column(String(16))
    dossier_id: Mapped[str] = mapped_column(String(64))
    dossier_code: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    service: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Whether the last call carried it with `isUpdating` (the portal held the dossier already).
    is_updating: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_answer: Mapped[str | None] = mapped_column(String(600), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
