"""connect-svc's queries: the only place that builds SQL. Statements are built once, at import."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, case, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from connect.domain.delivery import State
from connect.domain.records import Kind
from connect.models import Delivery, PortalDossier, PortalHolding

PARTY = "dvcqg"

d = Delivery.__table__
pd = PortalDossier.__table__

_lock_dossier = select(pd.c.view, pd.c.next_seq).where(pd.c.dossier_id == bindparam("dossier_id")).with_for_update()
_insert_dossier = insert(pd)
_update_dossier = (
    update(pd)
    .where(pd.c.dossier_id == bindparam("b_dossier_id"))
    .values(view=bindparam("b_view"), next_seq=bindparam("b_next_seq"), updated_at=bindparam("b_now"))
)
_insert_deliveries = insert(d)

ph = PortalHolding.__table__
_undelivered = d.alias("undelivered")
#: Per dossier, the first record not acknowledged yet, and the first dossier record among those.
_heads = (
    select(
        _undelivered.c.dossier_id,
        func.min(_undelivered.c.seq).label("first"),
        func.min(case((_undelivered.c.kind == Kind.DOSSIER.value, _undelivered.c.seq))).label("first_dossier"),
    )
    .where(text("undelivered.state != 'acknowledged'"))  # written as ix_deliveries_undelivered's condition is
    .group_by(_undelivered.c.dossier_id)
    .subquery("heads")
)
#: What may go now: per dossier, the first record not acknowledged — or, while the portal does not hold the dossier,
#: its first dossier record (it goes ahead of the steps read before it; a step never goes before the portal holds
#: its dossier) — when it is due and not in flight under a live lease.
_due = (
    select(d.c.id)
    .join(_heads, _heads.c.dossier_id == d.c.dossier_id)
    .outerjoin(ph, ph.c.dossier_id == d.c.dossier_id)
    .where(
        d.c.seq == case((ph.c.dossier_id.is_not(None), _heads.c.first), else_=_heads.c.first_dossier),
        or_(d.c.state == State.PENDING.value, and_(d.c.state == State.SENT.value, d.c.lease_until < bindparam("now"))),
        d.c.next_attempt_at <= bindparam("now"),
    )
    .order_by(d.c.next_attempt_at, d.c.id)
    .limit(bindparam("limit"))
    .with_for_update(of=d, skip_locked=True)
)
_claim = (
    update(d)
    .where(d.c.id.in_(_due))
    .values(
        state=State.SENT.value,
        lease_owner=bindparam("owner"),
        lease_until=bindparam("lease_until"),
        attempts=d.c.attempts + 1,
        sent_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(d.c.id, d.c.dossier_id, d.c.kind, d.c.service, d.c.payload, d.c.attempts)
)
_on_portal = select(ph.c.dossier_id).where(ph.c.dossier_id.in_(bindparam("ids", expanding=True)))
_record = (
    update(d)
    .where(d.c.id == bindparam("b_id"), d.c.lease_owner == bindparam("b_owner"), d.c.state == State.SENT.value)
    .values(
        state=bindparam("b_state"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        last_answer=bindparam("b_last_answer"),
        is_updating=bindparam("b_is_updating"),
        acknowledged_at=bindparam("b_acknowledged_at"),
        lease_owner=None,
        lease_until=None,
        updated_at=bindparam("b_now"),
    )
)
_release = (
    update(d)
    .where(
        d.c.id.in_(bindparam("ids", expanding=True)),
        d.c.lease_owner == bindparam("owner"),
        d.c.state == State.SENT.value,
    )
    .values(state=State.PENDING.value, attempts=d.c.attempts - 1, lease_owner=None, lease_until=None)
)
_hold = insert(ph)
_backlog = (
    select(d.c.state, func.count(), func.min(d.c.created_at))
    .where(d.c.state != State.ACKNOWLEDGED.value)
    .group_by(d.c.state)
)


async def lock_dossier(session: AsyncSession, dossier_id: str) -> Row[Any] | None:
    """(view, next_seq) of the dossier, locked until the transaction ends; None if connect-svc never heard of it."""
    return (await session.execute(_lock_dossier, {"dossier_id": dossier_id})).one_or_none()


async def insert_dossier(
    session: AsyncSession, dossier_id: str, code: str, view: dict[str, Any], next_seq: int, now: datetime
) -> None:
    await session.execute(
        _insert_dossier,
        {
            "dossier_id": dossier_id,
            "code": code,
            "view": view,
            "next_seq": next_seq,
            "updated_at": now,
        },
    )


async def update_dossier(
    session: AsyncSession, dossier_id: str, view: dict[str, Any], next_seq: int, now: datetime
) -> None:
    await session.execute(
        _update_dossier, {"b_dossier_id": dossier_id, "b_view": view, "b_next_seq": next_seq, "b_now": now}
    )


async def insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_insert_deliveries, rows)


async def claim(
    session: AsyncSession, *, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[Row[Any]]:
    """Take up to `limit` due deliveries for `owner` (several workers at once take different ones)."""
    result = await session.execute(_claim, {"owner": owner, "now": now, "lease_until": lease_until, "limit": limit})
    return sorted(result.all(), key=lambda row: row.id)


async def on_portal(session: AsyncSession, dossier_ids: Sequence[str]) -> set[str]:
    if not dossier_ids:
        return set()
    return set((await session.execute(_on_portal, {"ids": list(set(dossier_ids))})).scalars())


async def record_outcomes(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(_record, rows)


async def release(session: AsyncSession, owner: str, ids: list[int]) -> None:
    """Give back claimed deliveries that were not tried (the circuit opened meanwhile): the claim is undone."""
    if ids:
        await session.execute(_release, {"owner": owner, "ids": ids})


async def hold(session: AsyncSession, dossier_ids: set[str], now: datetime) -> None:
    """The portal holds these dossiers now (a dossier record of each was acknowledged)."""
    held = await on_portal(session, sorted(dossier_ids))
    new = sorted(dossier_ids - held)
    if new:
        await session.execute(_hold, [{"dossier_id": dossier_id, "since": now} for dossier_id in new])


async def backlog(session: AsyncSession) -> list[tuple[str, int, datetime | None]]:
    """(state, count, oldest created_at) of the deliveries not acknowledged."""
    return [(row[0], row[1], row[2]) for row in (await session.execute(_backlog)).all()]


async def deliveries(
    session: AsyncSession, *, state: str | None, dossier_code: str | None, after: int | None, limit: int
) -> list[Delivery]:
    query = select(Delivery).order_by(Delivery.id).limit(limit)
    if state is not None:
        query = query.where(Delivery.state == state)
    if dossier_code is not None:
        query = query.where(Delivery.dossier_code == dossier_code)
    if after is not None:
        query = query.where(Delivery.id > after)
    return list((await session.execute(query)).scalars())


async def delivery(session: AsyncSession, delivery_id: int, *, lock: bool = False) -> Delivery | None:
    query = select(Delivery).where(Delivery.id == delivery_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()
