"""The overdue sweep: flags dossiers and their running steps as due soon / overdue, and announces each flag once.

Set-based: four conditional UPDATE … WHERE <flag is behind the due date> … RETURNING statements, whatever the number
of open dossiers, then one multi-row INSERT into the outbox for the returned rows. Safe on several replicas at once:
the WHERE clause names the old flag, so a row changes (and is returned, hence announced) exactly once. On
PostgreSQL a concurrent sweep blocks on the rows the first one updated and, after it commits, re-checks the WHERE
clause and skips them; on SQLite writers are serialised (BEGIN IMMEDIATE). Paused journeys are not flagged: their
clock stands still.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from routing.domain.sla import due_soon_threshold
from routing.models import Journey
from routing.repository import RUNNING_PHASES
from services import catalogue_replica, clock
from services.bus.kafka import event_headers
from services.bus.outbox import enqueue
from services.bus.tables import outbox
from services.contracts.routing import JourneyDueSoon, JourneyOverdue, NationalStatus, SlaState
from services.db import Database
from services.events import CloudEvent, EventPayload
from services.topics import ROUTING_JOURNEYS

log = structlog.get_logger(__name__)

SOURCE = "/routing"
T = Journey.__table__
SWEEP_LOCK_KEY = 0x726F7574  # "rout"
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


async def _flag(
    session: AsyncSession,
    *,
    scope: str,
    to: SlaState,
    from_: tuple[SlaState, ...],
    before: datetime,
    inclusive: bool,
    limit: int,
    not_before: datetime | None = None,
) -> list[Any]:
    flag = T.c.sla_state if scope == "dossier" else T.c.step_sla_state
    due = T.c.due_at if scope == "dossier" else T.c.step_due_at
    behind = [
        T.c.phase.in_(RUNNING_PHASES),
        flag.in_([f.value for f in from_]),
        (due <= before) if inclusive else (due < before),
    ]
    if not_before is not None:  # due soon, not already overdue (a capped run may leave overdue rows unflagged)
        behind.append(due >= not_before)
    # At most `limit` rows per statement, oldest deadline first: a catch-up after an outage is spread over a few
    # runs of bounded length. The outer WHERE repeats the condition, so a row a concurrent sweep already flagged
    # is re-checked after its lock is released and skipped.
    batch = select(T.c.dossier_id).where(*behind).order_by(due).limit(limit).scalar_subquery()
    stmt = (
        update(T)
        .where(*behind, T.c.dossier_id.in_(batch))
        .values({flag.key: to.value})
        .returning(T.c.dossier_id, T.c.code, T.c.status, T.c.holder_unit, T.c.current_step, due.label("due"))
    )
    return list((await session.execute(stmt)).all())


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
    if session.get_bind().dialect.name == "postgresql":
        # One sweeper at a time (the others skip this round): no lock-order deadlocks between replicas' UPDATEs, no
        # wasted work. Correctness does not depend on it: the conditional UPDATEs alone announce each flag once.
        if not await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SWEEP_LOCK_KEY}):
            return SweepResult(skipped=True)
    cal = await catalogue_replica.calendar(session)
    soon = due_soon_threshold(cal, now, due_soon_working_days)
    running = (SlaState.ON_TIME, SlaState.DUE_SOON)
    flagged: list[tuple[type[EventPayload], str, Any]] = []
    result = SweepResult()
    for scope in ("dossier", "step"):
        overdue = await _flag(
            session, scope=scope, to=SlaState.OVERDUE, from_=running, before=now, inclusive=False, limit=limit
        )
        due_soon = await _flag(
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
        await _publish(session, topic_prefix, now, flagged)
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


async def _publish(
    session: AsyncSession, topic_prefix: str, now: datetime, flagged: list[tuple[type[EventPayload], str, Any]]
) -> None:
    topic = ROUTING_JOURNEYS.full_name(topic_prefix)
    at = now.astimezone(UTC).isoformat()
    rows: list[dict[str, Any]] = []
    for model, scope, r in flagged:
        # Built as plain dicts (not one Pydantic model per row): a sweep after an outage may flag tens of thousands.
        due = r.due if r.due.tzinfo is not None else r.due.replace(tzinfo=UTC)
        data = {
            "dossier_id": r.dossier_id,
            "code": r.code,
            "at": at,
            "status": int(NationalStatus(r.status)),
            "scope": scope,
            "unit": r.holder_unit,
            "step_seq": r.current_step if scope == "step" else None,
            "due_at": due.astimezone(UTC).isoformat(),
        }
        envelope = CloudEvent.model_construct(
            specversion="1.0",
            id=str(uuid.uuid4()),
            source=SOURCE,
            type=model.event_type,
            subject=r.dossier_id,
            time=now,
            datacontenttype="application/json",
            data=data,
        )
        rows.append(
            {
                "event_id": envelope.id,
                "topic": topic,
                "key": r.dossier_id,
                "value": envelope.to_json(),
                "headers": [[k, v.decode()] for k, v in event_headers(model.event_type, None)],
            }
        )
    # The first through the kernel's enqueue (it wakes the relay, and NOTIFYs other replicas on PostgreSQL).
    first = CloudEvent.from_json(rows[0]["value"])
    await enqueue(session, first, topic=topic, key=rows[0]["key"])
    if len(rows) > 1:
        await session.execute(insert(outbox), rows[1:])


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
