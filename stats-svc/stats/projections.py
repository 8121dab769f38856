"""Event handlers: every topic into the read models.

Each dossier event becomes one or more *operations*: a named upsert statement and its parameters. The live consumer
(`Projector.apply`) runs them one event at a time inside the kernel's inbox transaction; the rebuild and the replay
benchmark (`Projector.apply_batch`) group a whole poll's operations by statement and send each group with one
`executemany`. Every upsert is order-independent (earliest wins, latest-by-event-time wins, logical OR, sums), so the
interleaving of the topics does not change the result: a rebuild equals the live read models.

What counts as *resolved*: the moment processing ended with a result or a reasoned refusal, i.e. routing's
`journey.processed`; a dossier that never had one (results issued on the spot at the desk) is resolved when intake
returns the result. The earlier of the two is kept, so an applicant collecting the result late does not make the
agency late. Early / on time / late compare that business date with the (possibly restarted or extended)
appointment date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, and_, case, delete, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnElement

from services.calendar import VN_TZ
from services.contracts import catalogue as cat
from services.contracts import intake as ik
from services.contracts import payment as pay
from services.contracts import routing as rt
from services.events import CloudEvent, EventPayload
from stats.models import (
    DailyCounter,
    DossierFact,
    StatsProcedure,
    StatsProcedureUnit,
    StatsProcedureVersion,
    StatsUnit,
)

FACT: Table = DossierFact.__table__  # type: ignore[assignment]
COUNTER: Table = DailyCounter.__table__  # type: ignore[assignment]
UNIT: Table = StatsUnit.__table__  # type: ignore[assignment]

ACCOUNTS_ASSISTED = "accounts_assisted"

Op = tuple[str, dict[str, Any]]


def utc(moment: datetime) -> datetime:
    """Aware → naive UTC (how instants are stored on both backends)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def vn_date(moment: datetime) -> date:
    return moment.astimezone(VN_TZ).date()


#: The payload types the projector handles (everything else on the topics is skipped).
DOSSIER_TYPES: tuple[type[EventPayload], ...] = (
    ik.DossierReceived,
    ik.DossierSupplemented,
    ik.DossierRefused,
    ik.DossierWithdrawn,
    ik.DossierResultReturned,
    ik.AccountAssisted,
    rt.JourneyStarted,
    rt.HopRequested,
    rt.JourneyResumed,
    rt.JourneyExtended,
    rt.JourneyOverdue,
    rt.JourneyProcessed,
    pay.BillRequested,
    pay.PaymentPaid,
)
CATALOGUE_TYPES: tuple[type[EventPayload], ...] = (*cat.PROCEDURE_EVENTS, cat.UnitChanged)
HANDLED_TYPES = (*DOSSIER_TYPES, *CATALOGUE_TYPES)


def _earliest(col: str, ex: Any) -> ColumnElement[Any]:
    current = FACT.c[col]
    return case((or_(current.is_(None), ex[col] < current), ex[col]), else_=current)


def _statements(dialect: str) -> dict[str, Any]:
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    t = FACT.c

    def upsert(name: str, columns: Sequence[str], updates: Any) -> Any:
        stmt = ins(FACT)
        ex = stmt.excluded
        return stmt.on_conflict_do_update(index_elements=["dossier_id"], set_=updates(ex))

    def later_appointment(ex: Any) -> ColumnElement[bool]:
        return or_(
            t.appointment_set_at.is_(None),
            ex.appointment_set_at > t.appointment_set_at,
            and_(ex.appointment_set_at == t.appointment_set_at, ex.appointment_at > t.appointment_at),
        )

    def appointment_updates(ex: Any) -> dict[str, Any]:
        newer = later_appointment(ex)
        return {
            "appointment_at": case((newer, ex.appointment_at), else_=t.appointment_at),
            "appointment_date": case((newer, ex.appointment_date), else_=t.appointment_date),
            "appointment_set_at": case((newer, ex.appointment_set_at), else_=t.appointment_set_at),
        }

    received_cols = (
        "code", "procedure_code", "procedure_version", "field_code", "receiving_unit", "channel",
        "received_at", "received_date", "fee_amount",
    )  # fmt: skip

    def received(ex: Any) -> dict[str, Any]:
        return {
            **{c: ex[c] for c in received_cols},
            **appointment_updates(ex),
            "fee_bearing": or_(t.fee_bearing, ex.fee_bearing),
        }

    def appointment(ex: Any) -> dict[str, Any]:
        return {**appointment_updates(ex), "extended": or_(t.extended, ex.extended)}

    def resolved(ex: Any) -> dict[str, Any]:
        return {
            "resolved_at": _earliest("resolved_at", ex),
            "resolved_date": case(
                (or_(t.resolved_at.is_(None), ex.resolved_at < t.resolved_at), ex.resolved_date),
                else_=t.resolved_date,
            ),
            "outcome": case((ex.outcome.is_(None), t.outcome), else_=ex.outcome),
            "returned_date": case((ex.returned_date.is_(None), t.returned_date), else_=_earliest("returned_date", ex)),
        }

    def closed(ex: Any) -> dict[str, Any]:
        earlier = or_(t.closed_date.is_(None), ex.closed_date < t.closed_date)
        return {
            "closed_date": case((earlier, ex.closed_date), else_=t.closed_date),
            "closed_reason": case((earlier, ex.closed_reason), else_=t.closed_reason),
        }

    stmts: dict[str, Any] = {
        "received": upsert("received", received_cols, received),
        "appointment": upsert("appointment", (), appointment),
        "resolved": upsert("resolved", (), resolved),
        "closed": upsert("closed", (), closed),
        "journey": upsert("journey", (), lambda ex: {"inter_level": or_(t.inter_level, ex.inter_level)}),
        "hop": upsert("hop", (), lambda ex: {"hops": t.hops + ex.hops}),
        "overdue": upsert("overdue", (), lambda ex: {"overdue_flagged": or_(t.overdue_flagged, ex.overdue_flagged)}),
        "bill": upsert("bill", (), lambda ex: {"fee_bearing": or_(t.fee_bearing, ex.fee_bearing)}),
        "paid": upsert(
            "paid", (), lambda ex: {"paid": or_(t.paid, ex.paid), "paid_online": or_(t.paid_online, ex.paid_online)}
        ),
    }
    counter = ins(COUNTER)
    stmts["counter"] = counter.on_conflict_do_update(
        index_elements=["day", "unit", "metric"], set_={"count": COUNTER.c.count + counter.excluded["count"]}
    )
    return stmts


def dossier_ops(payload: EventPayload) -> list[Op]:
    """The upserts one dossier event stands for (pure: no database access)."""
    p = payload
    if isinstance(p, ik.DossierReceived):
        fee = sum(item.amount for item in p.fees)
        return [
            (
                "received",
                {
                    "dossier_id": p.dossier_id,
                    "code": p.code,
                    "procedure_code": p.procedure_code,
                    "procedure_version": p.procedure_version,
                    "field_code": p.field_code,
                    "receiving_unit": p.receiving_unit,
                    "channel": p.channel.value,
                    "received_at": utc(p.received_at),
                    "received_date": vn_date(p.received_at),
                    "appointment_at": utc(p.appointment_at),
                    "appointment_date": vn_date(p.appointment_at),
                    "appointment_set_at": utc(p.received_at),
                    "fee_amount": fee,
                    "fee_bearing": fee > 0,
                },
            )
        ]
    if isinstance(p, ik.DossierSupplemented):
        return [_appointment(p.dossier_id, p.appointment_at, p.at, extended=False)]
    if isinstance(p, rt.JourneyExtended):
        return [_appointment(p.dossier_id, p.appointment_at, p.at, extended=True)]
    if isinstance(p, rt.JourneyResumed):
        return [_appointment(p.dossier_id, p.due_at, p.at, extended=False)]
    if isinstance(p, rt.JourneyProcessed):
        return [_resolved(p.dossier_id, p.at, outcome=p.outcome.value, returned=None)]
    if isinstance(p, ik.DossierResultReturned):
        return [_resolved(p.dossier_id, p.at, outcome=None, returned=vn_date(p.at))]
    if isinstance(p, ik.DossierWithdrawn):
        return [("closed", {"dossier_id": p.dossier_id, "closed_date": vn_date(p.at), "closed_reason": "withdrawn"})]
    if isinstance(p, ik.DossierRefused):
        return [("closed", {"dossier_id": p.dossier_id, "closed_date": vn_date(p.at), "closed_reason": "refused"})]
    if isinstance(p, rt.JourneyStarted):
        return [("journey", {"dossier_id": p.dossier_id, "inter_level": p.inter_level})]
    if isinstance(p, rt.HopRequested):
        return [("hop", {"dossier_id": p.dossier_id, "hops": 1})]
    if isinstance(p, rt.JourneyOverdue):
        return [("overdue", {"dossier_id": p.dossier_id, "overdue_flagged": True})] if p.scope == "dossier" else []
    if isinstance(p, pay.BillRequested):
        return [("bill", {"dossier_id": p.dossier_id, "fee_bearing": True})]
    if isinstance(p, pay.PaymentPaid):
        return [("paid", {"dossier_id": p.dossier_id, "paid": True, "paid_online": p.online})]
    if isinstance(p, ik.AccountAssisted):
        return [("counter", {"day": vn_date(p.at), "unit": p.unit, "metric": ACCOUNTS_ASSISTED, "count": 1})]
    return []


def _appointment(dossier_id: str, appointment: datetime, at: datetime, *, extended: bool) -> Op:
    return (
        "appointment",
        {
            "dossier_id": dossier_id,
            "appointment_at": utc(appointment),
            "appointment_date": vn_date(appointment),
            "appointment_set_at": utc(at),
            "extended": extended,
        },
    )


def _resolved(dossier_id: str, at: datetime, *, outcome: str | None, returned: date | None) -> Op:
    return (
        "resolved",
        {
            "dossier_id": dossier_id,
            "resolved_at": utc(at),
            "resolved_date": vn_date(at),
            "outcome": outcome,
            "returned_date": returned,
        },
    )


class Projector:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.statements = _statements(dialect)
        self._insert = pg_insert if dialect == "postgresql" else sqlite_insert

    async def apply(self, session: AsyncSession, _envelope: CloudEvent | None, payload: EventPayload) -> None:
        """One event (the live consumer's handler)."""
        if isinstance(payload, CATALOGUE_TYPES):
            await self.apply_catalogue(session, payload)
            return
        for name, params in dossier_ops(payload):
            await session.execute(self.statements[name], params)

    async def apply_batch(self, session: AsyncSession, payloads: Sequence[EventPayload]) -> None:
        """Many events in one transaction: catalogue events in order, dossier upserts grouped by statement."""
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for payload in payloads:
            if isinstance(payload, CATALOGUE_TYPES):
                await self.apply_catalogue(session, payload)
            else:
                for name, params in dossier_ops(payload):
                    groups[name].append(params)
        # Rows touched twice in one batch are fine: executemany runs one statement per parameter set.
        for name in ("received", *sorted(n for n in groups if n != "received")):
            if groups.get(name):
                await session.execute(self.statements[name], groups[name])

    async def apply_catalogue(self, session: AsyncSession, payload: EventPayload) -> None:
        if isinstance(payload, cat.UnitChanged):
            values = {
                "agency_id": payload.agency_id,
                "revision": payload.revision,
                "name": payload.name,
                "kind": payload.kind.value,
                "level": payload.level,
                "level_rank": payload.level_rank,
                "parent_id": payload.parent_id,
            }
            stmt = self._insert(UNIT).values(**values)
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["agency_id"],
                    set_={k: stmt.excluded[k] for k in values if k != "agency_id"},
                    where=stmt.excluded.revision > UNIT.c.revision,
                )
            )
            return
        if isinstance(payload, cat.ProcedureSnapshot):
            await self._procedure(session, payload)

    async def _procedure(self, session: AsyncSession, p: cat.ProcedureSnapshot) -> None:
        held = await session.scalar(select(StatsProcedure.revision).where(StatsProcedure.code == p.code))
        if held is not None and held >= p.revision:
            return  # not newer than what we hold (compacted topics replay old states too)
        if held is None:
            session.add(StatsProcedure(code=p.code, revision=p.revision))
        else:
            await session.execute(
                StatsProcedure.__table__.update()  # type: ignore[attr-defined]
                .where(StatsProcedure.code == p.code)
                .values(revision=p.revision)
            )
        await session.execute(delete(StatsProcedureVersion).where(StatsProcedureVersion.code == p.code))
        await session.execute(delete(StatsProcedureUnit).where(StatsProcedureUnit.code == p.code))
        if p.versions:
            await session.execute(
                insert(StatsProcedureVersion),
                [
                    {
                        "code": p.code,
                        "version": v.version,
                        "decision_kind": v.decision.kind.value,
                        "signed_on": v.decision.signed_on,
                        "effective_from": v.effective_from,
                        "effective_to": v.effective_to,
                        "status": v.status.value,
                        "field_code": v.content.field_code,
                        "field_name": v.content.field_name,
                        "online_level": v.content.online_level.value,
                        "inter_level": v.content.inter_level,
                    }
                    for v in p.versions
                ],
            )
        if p.units:
            await session.execute(
                insert(StatsProcedureUnit),
                [{"code": p.code, "agency_id": u.agency_id, "online_level": u.online_level.value} for u in p.units],
            )
        await session.flush()
