"""The dossier code (mã hồ sơ): ``{receiving agency id}-{YYMMDD}-{NNNN}``.

The sequence is per receiving agency and business day (Asia/Ho_Chi_Minh). One counter row per agency and day is
incremented by a single upsert in the submitting transaction::

    INSERT INTO dossier_counter (agency, day, n) VALUES (:agency, :day, 1)
    ON CONFLICT (agency, day) DO UPDATE SET n = dossier_counter.n + 1
    RETURNING n

The row lock (PostgreSQL) or the database write lock (SQLite, BEGIN IMMEDIATE) serialises concurrent submitters
for the same agency and day until commit, so numbers are unique; a transaction that rolls back rolls its increment
back with it, so there are no gaps. Call it as late as possible in the transaction: the lock is held until commit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from intake.models import DossierCounter
from services.calendar import VN_TZ
from services.errors import Problem

MAX_PER_DAY = 9999


def business_day(moment: datetime) -> date:
    return moment.astimezone(VN_TZ).date()


def format_code(agency: str, day: date, seq: int) -> str:
    return f"{agency}-{day:%y%m%d}-{seq:04d}"


_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: str) -> Any:
    """The counter upsert, built once per dialect with bound parameters (statement construction is not free)."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        table = DossierCounter.__table__
        stmt = (
            insert(table)
            .values(agency=bindparam("agency"), day=bindparam("day"), n=1)
            .on_conflict_do_update(index_elements=["agency", "day"], set_={"n": table.c.n + 1})
            .returning(table.c.n)
        )
        _UPSERTS[dialect] = stmt
    return stmt


async def next_sequence(session: AsyncSession, agency: str, day: date) -> int:
    """The next number of the agency's day, in the caller's transaction."""
    stmt = _upsert(session.get_bind().dialect.name)
    n = int((await session.execute(stmt, {"agency": agency, "day": day})).scalar_one())
    if n > MAX_PER_DAY:
        raise Problem(
            503,
            f"The receiving agency {agency} has used all {MAX_PER_DAY} dossier numbers of {day.isoformat()}.",
            code="daily-sequence-exhausted",
        )
    return n
