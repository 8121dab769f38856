"""Queries of routing-svc: the only place that builds SQL, and where a journey's rows become the domain's state and
a decision becomes rows again (`JourneyWork`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from routing.domain import model as domain
from routing.domain.model import HOP_FIELDS, JOURNEY_FIELDS, RUNNING_PHASES, STEP_FIELDS, Decision, HopRequest
from routing.models import Extension, Hop, Journey, JourneyAction, JourneyStep
from services.bus.outbox import EventBuffer
from services.contracts.routing import SlaState

# The statements of every command and read are built once: SQLAlchemy then computes each one's cache key once
# instead of building the expression and its key again on every call (a sixth of routing-svc's CPU per request).
_DOSSIER: BindParameter[str] = bindparam("dossier_id")
_JOURNEY = select(Journey).where(Journey.dossier_id == _DOSSIER)
_JOURNEY_EXISTS = select(Journey.dossier_id).where(Journey.dossier_id == _DOSSIER)
_STEPS = select(JourneyStep).where(JourneyStep.dossier_id == _DOSSIER).order_by(JourneyStep.seq)
_HOPS = select(Hop).where(Hop.dossier_id == _DOSSIER).order_by(Hop.id)
_ACTIONS = select(JourneyAction).where(JourneyAction.dossier_id == _DOSSIER).order_by(JourneyAction.seq)
_INSERT_ACTION = insert(JourneyAction.__table__)
_INSERT_HOP = insert(Hop.__table__).returning(Hop.__table__.c.id)
_HOP_ID: BindParameter[int] = bindparam("hop_id")
_UPDATE_HOP = update(Hop.__table__).where(Hop.__table__.c.id == _HOP_ID)
# A read of a journey takes with it what it would otherwise ask in two more statements: the last action's number
# (the next one is appended after it) and whether the one extension was granted (every answer shows it).
_LAST_SEQ = (
    select(func.coalesce(func.max(JourneyAction.seq), 0)).where(JourneyAction.dossier_id == _DOSSIER).scalar_subquery()
)
_EXTENDED = exists().where(Extension.dossier_id == _DOSSIER)
_JOURNEY_STATE = select(Journey, _EXTENDED).where(Journey.dossier_id == _DOSSIER)
# A command locks the row first (PostgreSQL row lock; SQLite serialises writers with BEGIN IMMEDIATE) and reads the
# rest in a statement of its own: on PostgreSQL a statement that waited for the lock sees the locked row as it is
# now but everything else as it was when the statement began, so an action number read with the lock would be the
# one of before the command it waited for (two commands at once would append the same number: a 500).
_JOURNEY_FOR_UPDATE = _JOURNEY.with_for_update()
_LOCKED_STATE = select(_LAST_SEQ, _EXTENDED)
_JOURNEY_COLUMNS = tuple(
    f.name for f in dataclasses.fields(domain.Journey) if f.name not in ("steps", "hops", "extended")
)
_STEP_COLUMNS = tuple(f.name for f in dataclasses.fields(domain.Step))
_HOP_COLUMNS = tuple(f.name for f in dataclasses.fields(domain.Hop))


def _step(row: JourneyStep) -> domain.Step:
    return domain.Step(**{c: getattr(row, c) for c in _STEP_COLUMNS})


def _hop(row: Hop) -> domain.Hop:
    return domain.Hop(**{c: getattr(row, c) for c in _HOP_COLUMNS})


def _journey(row: Journey, steps: Sequence[JourneyStep], hops: Sequence[Hop] | None, extended: bool) -> domain.Journey:
    return domain.Journey(
        **{c: getattr(row, c) for c in _JOURNEY_COLUMNS},
        steps=tuple(_step(s) for s in steps),
        hops=None if hops is None else tuple(_hop(h) for h in hops),
        extended=extended,
    )


def _copy(row: Any, old: Any, new: Any, names: tuple[str, ...]) -> None:
    """Set on the mapped row the values that changed from `old` to `new` (the row's UPDATE names only those)."""
    for name in names:
        value = getattr(new, name)
        if value != getattr(old, name):
            setattr(row, name, value)


@dataclass
class _Loaded:
    """A journey locked in this transaction: its mapped rows, its state as last written, its next action number."""

    row: Journey
    steps: dict[int, JourneyStep]
    hops: dict[int, Hop]
    state: domain.Journey
    next_seq: int


class JourneyWork:
    """The journeys one transaction acts on (the unit of work of the service's commands). Each journey is read and
    locked once, with its steps and (when asked) its hops; a decision is written back as the columns it changed,
    its extension and its actions (one multi-row INSERT, numbered after the journey's last one), and its events
    go into `events`, which the command writes (a commit with them unwritten fails)."""

    def __init__(self, session: AsyncSession, events: EventBuffer) -> None:
        self.session = session
        self.events = events
        self._loaded: dict[str, _Loaded] = {}

    async def exists(self, dossier_id: str) -> bool:
        return dossier_id in self._loaded or await journey_exists(self.session, dossier_id)

    async def lock(self, dossier_id: str, *, hops: bool = True) -> domain.Journey | None:
        """The journey, locked for this transaction's change (None if there is none); `hops=False` when the command
        does not look at them (its state then has `hops` None)."""
        loaded = self._loaded.get(dossier_id)
        if loaded is None:
            params = {"dossier_id": dossier_id}
            row = (await self.session.execute(_JOURNEY_FOR_UPDATE, params)).scalar_one_or_none()
            if row is None:
                return None
            last_seq, extended = (await self.session.execute(_LOCKED_STATE, params)).one()
            steps = list(await self.session.scalars(_STEPS, params))
            hop_rows = list(await self.session.scalars(_HOPS, params)) if hops else None
            loaded = self._loaded[dossier_id] = _Loaded(
                row=row,
                steps={s.seq: s for s in steps},
                hops={h.id: h for h in hop_rows or ()},
                state=_journey(row, steps, hop_rows, bool(extended)),
                next_seq=int(last_seq) + 1,
            )
        elif hops and loaded.state.hops is None:
            hop_rows = list(await self.session.scalars(_HOPS, {"dossier_id": dossier_id}))
            loaded.hops = {h.id: h for h in hop_rows}
            loaded.state = dataclasses.replace(loaded.state, hops=tuple(_hop(h) for h in hop_rows))
        return loaded.state

    async def add(self, j: domain.Journey) -> None:
        """A new journey and its steps (its first action is number 1)."""
        row = Journey(**{c: getattr(j, c) for c in _JOURNEY_COLUMNS}, queue=j.queue)
        steps = [JourneyStep(dossier_id=j.dossier_id, **{c: getattr(s, c) for c in _STEP_COLUMNS}) for s in j.steps]
        self.session.add(row)
        self.session.add_all(steps)
        await self.session.flush()  # the hop and the actions that follow refer to it
        self._loaded[j.dossier_id] = _Loaded(row=row, steps={s.seq: s for s in steps}, hops={}, state=j, next_seq=1)

    async def insert_hop(self, dossier_id: str, hop: HopRequest) -> int:
        """Insert the hop a decision sends, for its id (without flushing the journey's changes: they go in one
        UPDATE at the end)."""
        fields = {
            "dossier_id": dossier_id,
            "kind": hop.kind.value,
            "from_unit": hop.from_unit,
            "to_unit": hop.to_unit,
            "step_seq": hop.step_seq,
            "state": "requested",
            "requested_at": hop.at,
            "requested_by": hop.actor.subject,
            "note": hop.note,
        }
        return int((await self.session.execute(_INSERT_HOP, fields)).scalar_one())

    async def save(self, decision: Decision) -> domain.Journey:
        """Write a decision on a journey added or locked in this transaction (its hop already inserted) and add its
        events to `events`."""
        new = decision.journey
        loaded = self._loaded[new.dossier_id]
        old = loaded.state
        _copy(loaded.row, old, new, JOURNEY_FIELDS)
        for before, after in zip(old.steps, new.steps, strict=True):
            if before != after:
                _copy(loaded.steps[after.seq], before, after, STEP_FIELDS)
        if new.hops is not None and old.hops is not None and new.hops != old.hops:
            await self._save_hops(loaded, old.hops, new.hops)
        if decision.extension is not None:
            self.session.add(Extension(**dataclasses.asdict(decision.extension)))
        if decision.actions:
            seq = loaded.next_seq
            loaded.next_seq += len(decision.actions)
            rows = [
                {
                    "dossier_id": new.dossier_id,
                    "seq": seq + i,
                    "at": a.at,
                    "action": a.action,
                    "actor": a.actor,
                    "role": a.role,
                    "unit": a.unit,
                    "note": a.note,
                    "data": dict(a.data),
                }
                for i, a in enumerate(decision.actions)
            ]
            await self.session.execute(_INSERT_ACTION, rows)  # executemany: one multi-row INSERT
        for payload in decision.events:
            self.events.add(payload, key=new.dossier_id)
        loaded.state = new
        return new

    async def _save_hops(self, loaded: _Loaded, old: tuple[domain.Hop, ...], new: tuple[domain.Hop, ...]) -> None:
        before = {h.id: h for h in old}
        for hop in new:
            previous = before.get(hop.id)
            if previous is None or previous == hop:
                continue  # sent by this decision (inserted already), or unchanged
            row = loaded.hops.get(hop.id)
            if row is not None:
                _copy(row, previous, hop, HOP_FIELDS)
            else:  # sent earlier in this transaction: inserted by statement, never mapped
                values = {f: getattr(hop, f) for f in HOP_FIELDS}
                await self.session.execute(_UPDATE_HOP.values(values), {"hop_id": hop.id})


# -- reads -----------------------------------------------------------------------------------------------------------


async def journey(session: AsyncSession, dossier_id: str) -> Journey | None:
    return (await session.execute(_JOURNEY, {"dossier_id": dossier_id})).scalar_one_or_none()


async def journey_exists(session: AsyncSession, dossier_id: str) -> bool:
    return await session.scalar(_JOURNEY_EXISTS, {"dossier_id": dossier_id}) is not None


async def journey_view(session: AsyncSession, dossier_id: str) -> domain.Journey | None:
    """The journey and its steps as they are, for a read (its hops are read with `hops` when the answer needs them)."""
    params = {"dossier_id": dossier_id}
    found = (await session.execute(_JOURNEY_STATE, params)).first()
    if found is None:
        return None
    steps = list(await session.scalars(_STEPS, params))
    return _journey(found[0], steps, None, bool(found[1]))


async def hops(session: AsyncSession, dossier_id: str) -> tuple[domain.Hop, ...]:
    return tuple(_hop(h) for h in await session.scalars(_HOPS, {"dossier_id": dossier_id}))


async def actions(session: AsyncSession, dossier_id: str) -> list[JourneyAction]:
    return list(await session.scalars(_ACTIONS, {"dossier_id": dossier_id}))


async def extension(session: AsyncSession, dossier_id: str) -> Extension | None:
    return await session.get(Extension, dossier_id)


async def worklist(
    session: AsyncSession,
    *,
    unit: str,
    view: str,
    officer: str | None,
    limit: int,
    after: tuple[datetime, str] | None,
) -> Sequence[Journey]:
    """One page of a unit's (or officer's) worklist, by due date then dossier id (keyset paging on the index)."""
    conditions: list[Any]
    if view == "incoming":
        conditions = [Journey.pending_unit == unit]
    else:
        conditions = [Journey.officer == officer] if officer else []
        conditions.append(Journey.holder_unit == unit)
        if view in ("todo", "outgoing", "waiting", "results"):
            conditions.append(Journey.queue == view)
        elif view in ("due_soon", "overdue"):
            conditions += [Journey.queue == "todo", Journey.step_sla_state == view]
        else:
            raise ValueError(view)
    if after is not None:
        due, dossier_id = after
        conditions.append(
            or_(Journey.step_due_at > due, and_(Journey.step_due_at == due, Journey.dossier_id > dossier_id))
        )
    stmt = select(Journey).where(*conditions).order_by(Journey.step_due_at, Journey.dossier_id).limit(limit)
    return list(await session.scalars(stmt))


# -- the sweep -------------------------------------------------------------------------------------------------------

_T = Journey.__table__
SWEEP_LOCK_KEY = 0x726F7574  # "rout"
_TRY_SWEEP_LOCK = text("SELECT pg_try_advisory_xact_lock(:key)")


async def try_sweep_lock(session: AsyncSession) -> bool:
    """On PostgreSQL, whether this transaction is the one sweeper of the moment (elsewhere writers serialise)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(_TRY_SWEEP_LOCK, {"key": SWEEP_LOCK_KEY}))


async def flag_behind(
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
    """Set the flag of running journeys (`scope` "dossier": their due date; "step": their step's) that is one of
    `from_` and behind its due date (before `before`) to `to`; the rows changed (dossier_id, code, status,
    holder_unit, current_step, due)."""
    flag = _T.c.sla_state if scope == "dossier" else _T.c.step_sla_state
    due = _T.c.due_at if scope == "dossier" else _T.c.step_due_at
    behind = [
        _T.c.phase.in_(RUNNING_PHASES),
        flag.in_([f.value for f in from_]),
        (due <= before) if inclusive else (due < before),
    ]
    if not_before is not None:  # due soon, not already overdue (a capped run may leave overdue rows unflagged)
        behind.append(due >= not_before)
    # At most `limit` rows per statement, oldest deadline first: a catch-up after an outage is spread over a few
    # runs of bounded length. The outer WHERE repeats the condition, so a row a concurrent sweep already flagged
    # is re-checked after its lock is released and skipped.
    batch = select(_T.c.dossier_id).where(*behind).order_by(due).limit(limit).scalar_subquery()
    stmt = (
        update(_T)
        .where(*behind, _T.c.dossier_id.in_(batch))
        .values({flag.key: to.value})
        .returning(_T.c.dossier_id, _T.c.code, _T.c.status, _T.c.holder_unit, _T.c.current_step, due.label("due"))
    )
    return list((await session.execute(stmt)).all())
