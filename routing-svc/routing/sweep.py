"""The overdue sweep: flags dossiers and their running steps as due soon / overdue, and announces each flag once.

Set-based: four conditional UPDATE … WHERE <flag is behind the due date> … RETURNING statements
(`repository.flag_behind`), whatever the number of open dossiers, then one multi-row INSERT into the outbox for the
returned rows. Safe on several replicas at once: the WHERE clause names the old flag, so a row changes (and is
returned, hence announced) exactly once. On PostgreSQL a concurrent sweep blocks on the rows the first one updated
and, after it commits, re-checks the WHERE clause and skips them; on SQLite writers are serialised (BEGIN
IMMEDIATE). Paused journeys are not flagged: their clock stands still.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from routing import repository as repo
from routing.domain.sla import due_soon_threshold
from routing.settings import Settings
from services import catalogue_replica, clock
from services.bus.outbox import EventBuffer
from services.contracts.routing import DeadlineFlag, JourneyDueSoon, JourneyOverdue, NationalStatus, SlaState
from services.db import Database
from services.topics import ROUTING_JOURNEYS

log = structlog.get_logger(__name__)

DEFAULT_LIMIT = 5000


@dataclass
class SweepResult:
    overdue: int = 0
    due_soon: int = 0
    step_overdue: int = 0
    step_due_soon: int = 0
    events: int = 0
    skipped: bool = False
    more: bool = False
    dossiers: list[str] = field(default_factory=list)


async def sweep(
    session: AsyncSession,
    topic_prefix: str,
    *,
    now: datetime | None = None,
    due_soon_working_days: int = 1,
    limit: int = DEFAULT_LIMIT,
) -> SweepResult:
    """One sweep in the caller's transaction; `result.more` says a flag kind hit `limit` (sweep again at once)."""
    now = now or clock.now()
    # One sweeper at a time (the others skip this round): no lock-order deadlocks between replicas' UPDATEs, no
    # wasted work. Correctness does not depend on it: the conditional UPDATEs alone announce each flag once.
    if not await repo.try_sweep_lock(session):
        return SweepResult(skipped=True)
    cal = await catalogue_replica.calendar(session)
    soon = due_soon_threshold(cal, now, due_soon_working_days)
    running = (SlaState.ON_TIME, SlaState.DUE_SOON)
    flagged: list[tuple[type[DeadlineFlag], str, Any]] = []
    result = SweepResult()
    for scope in ("dossier", "step"):
        overdue = await repo.flag_behind(
            session, scope=scope, to=SlaState.OVERDUE, from_=running, before=now, inclusive=False, limit=limit
        )
        due_soon = await repo.flag_behind(
            session,
            scope=scope,
            to=SlaState.DUE_SOON,
            from_=(SlaState.ON_TIME,),
            before=soon,
            inclusive=True,
            limit=limit,
            not_before=now,
        )
        result.more = result.more or len(overdue) >= limit or len(due_soon) >= limit
        flagged += [(JourneyOverdue, scope, r) for r in overdue]
        flagged += [(JourneyDueSoon, scope, r) for r in due_soon]
        if scope == "dossier":
            result.overdue, result.due_soon = len(overdue), len(due_soon)
        else:
            result.step_overdue, result.step_due_soon = len(overdue), len(due_soon)
    if flagged:
        await _announce(session, topic_prefix, now, flagged)
    result.events = len(flagged)
    result.dossiers = sorted({r.dossier_id for _, _, r in flagged})
    if flagged:
        log.info(
            "sweep_flagged",
            overdue=result.overdue,
            due_soon=result.due_soon,
            step_overdue=result.step_overdue,
            step_due_soon=result.step_due_soon,
        )
    return result


async def _announce(
    session: AsyncSession, topic_prefix: str, now: datetime, flagged: list[tuple[type[DeadlineFlag], str, Any]]
) -> None:
    events = EventBuffer(session, service=Settings.service_name, topic=ROUTING_JOURNEYS.full_name(topic_prefix))
    for model, scope, r in flagged:
        # Not validated again (a sweep after an outage may flag tens of thousands): every value is the row's own.
        payload = model.model_construct(
            dossier_id=r.dossier_id,
            code=r.code,
            at=now,
            status=NationalStatus(r.status),
            scope=scope,
            unit=r.holder_unit,
            step_seq=r.current_step if scope == "step" else None,
            due_at=r.due if r.due.tzinfo is not None else r.due.replace(tzinfo=UTC),
        )
        events.add(payload, key=r.dossier_id)
    await events.write()


async def run_forever(db: Database, topic_prefix: str, *, interval: float, due_soon_working_days: int) -> None:
    """The scheduled sweep of one replica (every replica runs one; the flags make them harmless together)."""
    while True:
        more = False
        try:
            async with db.sessionmaker() as session, session.begin():
                result = await sweep(session, topic_prefix, due_soon_working_days=due_soon_working_days)
            more = result.more
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("sweep_failed", error=repr(exc))
        await asyncio.sleep(0 if more else interval)
