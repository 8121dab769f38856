"""Tables owned by stats-svc: the read models built from every topic.

- `stats_dossier`: one fact row per dossier, keyed by dossier id (an inter-level dossier with many routing hops is
  still one row). Every column is written by an order-independent rule (first/earliest, latest-by-event-time,
  logical OR, sums) so that the live consumer and a rebuild that reads the topics in another interleaving end with
  the same rows.
- `stats_daily_counter`: pre-aggregated counters per business day, unit and metric (accounts assisted).
- `stats_unit`, `stats_procedure`, `stats_procedure_version`, `stats_procedure_unit`: what the catalogue topics say
  (latest revision wins), for unit subtrees, levels, field names and the procedures published / updated / online.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.db import create_base

Base = create_base()

#: `open_until` of a dossier neither resolved nor closed yet (a date after every real one, so ranges stay sargable).
#: Not `date.max`: asyncpg sends that as PostgreSQL's 'infinity', which would not equal the server default.
OPEN = date(9999, 1, 1)


#: What the reports read of a fact row besides the unit and the dates they search by.
REPORT_COLUMNS = ["channel", "field_code", "received_date", "appointment_date", "resolved_date", "closed_date",
                  "open_until"]  # fmt: skip


class DossierFact(Base):
    __tablename__ = "stats_dossier"

    dossier_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str | None] = mapped_column(String(64))
    procedure_code: Mapped[str | None] = mapped_column(String(64))
    procedure_version: Mapped[int | None] = mapped_column(Integer)
    field_code: Mapped[str | None] = mapped_column(String(64))
    receiving_unit: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))
    #: UTC instants are stored naive (UTC); the *_date columns are Asia/Ho_Chi_Minh business dates.
    received_at: Mapped[datetime | None] = mapped_column(DateTime)
    received_date: Mapped[date | None] = mapped_column(Date)
    appointment_at: Mapped[datetime | None] = mapped_column(DateTime)
    appointment_date: Mapped[date | None] = mapped_column(Date)
    #: Event time of the event that set the appointment: the latest one wins (supplement restart, extension).
    appointment_set_at: Mapped[datetime | None] = mapped_column(DateTime)
    extended: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: When the result was ready (routing's processed) or, failing that, returned (intake): the earliest counts.
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_date: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(16))
    returned_date: Mapped[date | None] = mapped_column(Date)
    #: Withdrawn or refused at the desk after receipt: neither resolved nor pending from that date.
    closed_date: Mapped[date | None] = mapped_column(Date)
    closed_reason: Mapped[str | None] = mapped_column(String(16))
    #: The earlier of resolved_date and closed_date, OPEN while neither: open at the start of day D ⇔ open_until ≥ D.
    open_until: Mapped[date] = mapped_column(Date, default=OPEN, server_default=OPEN.isoformat())
    inter_level: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    hops: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    overdue_flagged: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    fee_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    fee_bearing: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    paid_online: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    paid: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    # The report queries read only these columns: on PostgreSQL the indexes carry them (index-only scans).
    __table_args__ = (
        Index("ix_stats_dossier_received", "received_date", "receiving_unit", postgresql_include=REPORT_COLUMNS),
        Index("ix_stats_dossier_unit_received", "receiving_unit", "received_date", postgresql_include=REPORT_COLUMNS),
        Index(
            "ix_stats_dossier_open",
            "open_until",
            "received_date",
            postgresql_include=[*REPORT_COLUMNS, "receiving_unit"],
        ),
        Index(
            "ix_stats_dossier_unit_open",
            "receiving_unit",
            "open_until",
            "received_date",
            postgresql_include=REPORT_COLUMNS,
        ),
    )


class DailyCounter(Base):
    __tablename__ = "stats_daily_counter"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    unit: Mapped[str] = mapped_column(String(64), primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class StatsUnit(Base):
    __tablename__ = "stats_unit"

    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(40))
    level_rank: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[str | None] = mapped_column(String(64))


class StatsProcedure(Base):
    __tablename__ = "stats_procedure"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)


class StatsProcedureVersion(Base):
    __tablename__ = "stats_procedure_version"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_kind: Mapped[str] = mapped_column(String(16))
    signed_on: Mapped[date] = mapped_column(Date)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    field_code: Mapped[str] = mapped_column(String(64))
    field_name: Mapped[str] = mapped_column(String(300))
    online_level: Mapped[str] = mapped_column(String(16))
    inter_level: Mapped[bool] = mapped_column(Boolean)


class StatsProcedureUnit(Base):
    __tablename__ = "stats_procedure_unit"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    online_level: Mapped[str] = mapped_column(String(16))


class QueryBound(Base):
    """Bounds the report queries use to keep index ranges short, maintained by the projection (largest wins).

    `max_open_days`: the longest span from receipt to `open_until` among dossiers that ended, so "received before
    D and still open at D" becomes a bounded range of receipt dates. A bound is computed from the fact row as it
    stands after each batch; an intermediate state can exceed the final one, so live and rebuilt bounds may differ
    (unlike the facts): a larger bound only costs speed, never exactness. The rebuild wipes and recomputes them.
    """

    __tablename__ = "stats_query_bound"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


MAX_OPEN_DAYS = "max_open_days"

READ_MODELS = (DossierFact, DailyCounter, StatsUnit, StatsProcedure, StatsProcedureVersion, StatsProcedureUnit)
#: Wiped by the rebuild too, but not part of the facts a rebuild reproduces exactly (see QueryBound).
QUERY_BOUNDS = (QueryBound,)
