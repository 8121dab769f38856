"""Event handlers: every topic into the read models.

Each dossier event becomes a *delta*: a partial fact row for its dossier (`dossier_delta`). Deltas combine by
order-independent rules (first/earliest wins, latest-by-event-time wins, logical OR, sums), written twice, the same
rules each time: `merge` in memory and `_merge_sql` in the upsert against the stored row. `Projector.apply_batch`
folds a batch's deltas per dossier in memory, then writes one upsert per dossier (on PostgreSQL a COPY into a
temporary table and one set-based `INSERT … SELECT … ON CONFLICT DO UPDATE`); the live consumer's per-event handler
(`Projector.apply`) is `apply_batch` with a batch of one. Because the rules are associative and commutative, any
grouping and interleaving of the topics ends with the same rows: a rebuild equals the live read models.

What counts as *resolved*: the moment processing ended with a result or a reasoned refusal, i.e. routing's
`journey.processed`; a dossier that never had one (results issued on the spot at the desk) is resolved when intake
returns the result. The earlier of the two is kept, so an applicant collecting the result late does not make the
agency late. Early / on time / late compare that business date with the (possibly restarted or extended)
appointment date. `open_until` is the earlier of the resolved and closed dates (`OPEN` while neither happened):
the reports find carried-over and pending dossiers through it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Column, MetaData, Table, and_, bindparam, case, delete, insert, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.expression import ColumnElement

from services.clock import business_date
from services.contracts import catalogue as cat
from services.contracts import intake as ik
from services.contracts import payment as pay
from services.contracts import routing as rt
from services.events import CloudEvent, EventPayload
from stats.models import (
    MAX_OPEN_DAYS,
    OPEN,
    DailyCounter,
    DossierFact,
    QueryBound,
    StatsProcedure,
    StatsProcedureUnit,
    StatsProcedureVersion,
    StatsUnit,
)

FACT: Table = DossierFact.__table__  # type: ignore[assignment]
COUNTER: Table = DailyCounter.__table__  # type: ignore[assignment]
UNIT: Table = StatsUnit.__table__  # type: ignore[assignment]

ACCOUNTS_ASSISTED = "accounts_assisted"

#: Fewer dossiers than this per batch go by a multi-row upsert; more by COPY + one set-based merge (PostgreSQL).
COPY_THRESHOLD = 64

Delta = dict[str, Any]
CounterKey = tuple[date, str, str]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def utc(moment: datetime) -> datetime:
    """Aware → naive UTC (how instants are stored on both backends). Written as a difference from the epoch: a
    replay converts millions, and this is 2.5× faster than `replace(tzinfo=None) - utcoffset()`."""
    return _NAIVE_EPOCH + (moment - _EPOCH)


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

#: Set together by `dossier.received` (the receipt); a later receipt of the same dossier replaces them.
RECEIVED_COLUMNS = (
    "code", "procedure_code", "procedure_version", "field_code", "receiving_unit", "channel",
    "received_at", "received_date", "fee_amount",
)  # fmt: skip
FLAG_COLUMNS = ("extended", "fee_bearing", "inter_level", "overdue_flagged", "paid", "paid_online")
COLUMNS: tuple[str, ...] = tuple(c.name for c in FACT.columns)


_NEUTRAL: Delta = {**dict.fromkeys(COLUMNS), **dict.fromkeys(FLAG_COLUMNS, False), "hops": 0, "fee_amount": 0,
                   "open_until": OPEN}  # fmt: skip
_ROW_TUPLE = itemgetter(*COLUMNS)


def empty_delta(dossier_id: str) -> Delta:
    """A delta that changes nothing (the neutral element of `merge`)."""
    row = _NEUTRAL.copy()
    row["dossier_id"] = dossier_id
    return row


# --- the rules, in memory -------------------------------------------------------------------------------------


def merge(t: Delta, ex: Delta) -> Delta:
    """Combine stored (or earlier folded) facts `t` with a delta `ex`; mirrors `_merge_sql` rule for rule."""
    return merge_into(dict(t), ex)


def merge_into(t: Delta, ex: Delta) -> Delta:
    """`merge`, updating `t` in place (the fold owns its accumulators). `ex` may be sparse: absent = neutral."""
    get = ex.get
    if get("received_at") is not None:
        for c in RECEIVED_COLUMNS:
            t[c] = ex[c]
    set_at = get("appointment_set_at")
    if set_at is not None and (
        t["appointment_set_at"] is None
        or set_at > t["appointment_set_at"]
        or (set_at == t["appointment_set_at"] and ex["appointment_at"] > t["appointment_at"])
    ):
        t["appointment_at"] = ex["appointment_at"]
        t["appointment_date"] = ex["appointment_date"]
        t["appointment_set_at"] = set_at
    for c in FLAG_COLUMNS:
        if get(c):
            t[c] = True
    hops = get("hops")
    if hops:
        t["hops"] += hops
    resolved_at = get("resolved_at")
    if resolved_at is not None and (t["resolved_at"] is None or resolved_at < t["resolved_at"]):
        t["resolved_at"] = resolved_at
        t["resolved_date"] = ex["resolved_date"]
    if get("outcome") is not None:
        t["outcome"] = ex["outcome"]
    returned = get("returned_date")
    if returned is not None and (t["returned_date"] is None or returned < t["returned_date"]):
        t["returned_date"] = returned
    closed = get("closed_date")
    if closed is not None and (t["closed_date"] is None or closed < t["closed_date"]):
        t["closed_date"] = closed
        t["closed_reason"] = ex["closed_reason"]
    until = get("open_until")
    if until is not None and until < t["open_until"]:
        t["open_until"] = until
    return t


# --- the same rules, in SQL (`t` the stored row, `ex` the incoming one) ---------------------------------------


def _merge_sql(ex: Any) -> dict[str, Any]:
    t = FACT.c
    received = ex.received_at.is_not(None)
    newer_appointment = or_(
        t.appointment_set_at.is_(None),
        ex.appointment_set_at > t.appointment_set_at,
        and_(ex.appointment_set_at == t.appointment_set_at, ex.appointment_at > t.appointment_at),
    )
    earlier_resolved = or_(t.resolved_at.is_(None), ex.resolved_at < t.resolved_at)
    earlier_closed = or_(t.closed_date.is_(None), ex.closed_date < t.closed_date)

    def when(cond: ColumnElement[bool], col: str) -> ColumnElement[Any]:
        return case((cond, ex[col]), else_=t[col])

    return {
        **{c: when(received, c) for c in RECEIVED_COLUMNS},
        **{c: when(newer_appointment, c) for c in ("appointment_at", "appointment_date", "appointment_set_at")},
        **{c: or_(t[c], ex[c]) for c in FLAG_COLUMNS},
        "hops": t.hops + ex.hops,
        "resolved_at": when(earlier_resolved, "resolved_at"),
        "resolved_date": when(earlier_resolved, "resolved_date"),
        "outcome": when(ex.outcome.is_not(None), "outcome"),
        "returned_date": when(
            and_(ex.returned_date.is_not(None), or_(t.returned_date.is_(None), ex.returned_date < t.returned_date)),
            "returned_date",
        ),
        "closed_date": when(earlier_closed, "closed_date"),
        "closed_reason": when(earlier_closed, "closed_reason"),
        "open_until": when(ex.open_until < t.open_until, "open_until"),
    }


# --- events → deltas ------------------------------------------------------------------------------------------


def dossier_delta(payload: EventPayload) -> Delta | None:
    """The partial fact row one dossier event stands for (pure: no database access); None if it changes nothing."""
    p = payload
    if isinstance(p, ik.DossierReceived):
        fee = sum(item.amount for item in p.fees)
        return _delta(
            p.dossier_id,
            code=p.code,
            procedure_code=p.procedure_code,
            procedure_version=p.procedure_version,
            field_code=p.field_code,
            receiving_unit=p.receiving_unit,
            channel=p.channel.value,
            received_at=utc(p.received_at),
            received_date=business_date(p.received_at),
            appointment_at=utc(p.appointment_at),
            appointment_date=business_date(p.appointment_at),
            appointment_set_at=utc(p.received_at),
            fee_amount=fee,
            fee_bearing=fee > 0,
        )
    if isinstance(p, ik.DossierSupplemented):
        return _appointment(p.dossier_id, p.appointment_at, p.at, extended=False)
    if isinstance(p, rt.JourneyExtended):
        return _appointment(p.dossier_id, p.appointment_at, p.at, extended=True)
    if isinstance(p, rt.JourneyResumed):
        return _appointment(p.dossier_id, p.due_at, p.at, extended=False)
    if isinstance(p, rt.JourneyProcessed):
        return _resolved(p.dossier_id, p.at, outcome=p.outcome.value, returned=None)
    if isinstance(p, ik.DossierResultReturned):
        return _resolved(p.dossier_id, p.at, outcome=None, returned=business_date(p.at))
    if isinstance(p, ik.DossierWithdrawn):
        return _closed(p.dossier_id, business_date(p.at), "withdrawn")
    if isinstance(p, ik.DossierRefused):
        return _closed(p.dossier_id, business_date(p.at), "refused")
    if isinstance(p, rt.JourneyStarted):
        return _delta(p.dossier_id, inter_level=p.inter_level)
    if isinstance(p, rt.HopRequested):
        return _delta(p.dossier_id, hops=1)
    if isinstance(p, rt.JourneyOverdue):
        return _delta(p.dossier_id, overdue_flagged=True) if p.scope == "dossier" else None
    if isinstance(p, pay.BillRequested):
        return _delta(p.dossier_id, fee_bearing=True)
    if isinstance(p, pay.PaymentPaid):
        return _delta(p.dossier_id, paid=True, paid_online=p.online)
    return None


def counter_key(payload: EventPayload) -> CounterKey | None:
    """The daily counter one event adds 1 to, if any."""
    if isinstance(payload, ik.AccountAssisted):
        return (business_date(payload.at), payload.unit, ACCOUNTS_ASSISTED)
    return None


def _delta(dossier_id: str, **values: Any) -> Delta:
    """A sparse delta: the columns not given are neutral (see `merge_into`)."""
    values["dossier_id"] = dossier_id
    return values


def _appointment(dossier_id: str, appointment: datetime, at: datetime, *, extended: bool) -> Delta:
    return _delta(
        dossier_id,
        appointment_at=utc(appointment),
        appointment_date=business_date(appointment),
        appointment_set_at=utc(at),
        extended=extended,
    )


def _resolved(dossier_id: str, at: datetime, *, outcome: str | None, returned: date | None) -> Delta:
    day = business_date(at)
    return _delta(
        dossier_id, resolved_at=utc(at), resolved_date=day, outcome=outcome, returned_date=returned, open_until=day
    )


def _closed(dossier_id: str, day: date, reason: str) -> Delta:
    return _delta(dossier_id, closed_date=day, closed_reason=reason, open_until=day)


@dataclass
class Batch:
    """A batch of events made ready to write: catalogue events in order, dossier facts and counters folded."""

    catalogue: list[EventPayload] = field(default_factory=list)
    facts: dict[str, Delta] = field(default_factory=dict)
    counters: dict[CounterKey, int] = field(default_factory=lambda: defaultdict(int))


def fold(payloads: Iterable[EventPayload]) -> Batch:
    """Merge a batch's dossier deltas per dossier and sum its counter increments per key (no database access)."""
    batch = Batch()
    facts, counters = batch.facts, batch.counters
    for payload in payloads:
        if isinstance(payload, CATALOGUE_TYPES):
            batch.catalogue.append(payload)
            continue
        delta = dossier_delta(payload)
        if delta is not None:
            held = facts.get(delta["dossier_id"])
            if held is None:
                held = facts[delta["dossier_id"]] = empty_delta(delta["dossier_id"])
            merge_into(held, delta)
            continue
        key = counter_key(payload)
        if key is not None:
            counters[key] += 1
    return batch


# --- writing --------------------------------------------------------------------------------------------------

#: The per-transaction staging table of the COPY path (PostgreSQL): the fact columns, emptied at commit.
STAGE = Table("stats_dossier_batch", MetaData(), *(Column(c.name, c.type) for c in FACT.columns))
CREATE_STAGE = text(
    "CREATE TEMPORARY TABLE IF NOT EXISTS stats_dossier_batch (LIKE stats_dossier) ON COMMIT DELETE ROWS"
)

STAGED_MAX_SPAN = text(
    "SELECT max(f.open_until - f.received_date) FROM stats_dossier AS f "
    "JOIN stats_dossier_batch AS b ON b.dossier_id = f.dossier_id "
    "WHERE f.open_until <> :open AND f.received_date IS NOT NULL"
)


#: Built once (its cache key too): what `_write_facts` reads back after merging rows without a staging table.
_ENDED_SPANS = select(FACT.c.received_date, FACT.c.open_until).where(
    FACT.c.dossier_id.in_(bindparam("touched", expanding=True)),
    FACT.c.open_until != bindparam("open"),
    FACT.c.received_date.is_not(None),
)


class Projector:
    def __init__(self, dialect: str, *, copy_threshold: int = COPY_THRESHOLD) -> None:
        self.dialect = dialect
        self.copy_threshold = copy_threshold
        self._insert = pg_insert if dialect == "postgresql" else sqlite_insert
        upsert = self._insert(FACT)
        self._upsert_rows = upsert.on_conflict_do_update(
            index_elements=["dossier_id"], set_=_merge_sql(upsert.excluded)
        )
        if dialect == "postgresql":
            staged = pg_insert(FACT).from_select(list(COLUMNS), select(*(STAGE.c[c] for c in COLUMNS)))
            self._merge_stage = staged.on_conflict_do_update(
                index_elements=["dossier_id"], set_=_merge_sql(staged.excluded)
            )
        bound = self._insert(QueryBound)
        self._raise_bound = bound.on_conflict_do_update(
            index_elements=["name"],
            set_={"value": bound.excluded.value},
            where=bound.excluded.value > QueryBound.value,  # only ever raised; no write when not larger
        )
        counter = self._insert(COUNTER)
        self._add_counts = counter.on_conflict_do_update(
            index_elements=["day", "unit", "metric"], set_={"count": COUNTER.c.count + counter.excluded["count"]}
        )

    async def apply(self, session: AsyncSession, _envelope: CloudEvent | None, payload: EventPayload) -> None:
        """One event (the live consumer's handler): a batch of one."""
        await self.apply_batch(session, [payload])

    async def apply_batch(self, session: AsyncSession, payloads: Sequence[EventPayload]) -> None:
        """Many events in one transaction (see `write`)."""
        await self.write(session, fold(payloads))

    async def write(self, session: AsyncSession, batch: Batch) -> None:
        """Catalogue events in order; then one upsert per dossier and per counter."""
        for payload in batch.catalogue:
            await self.apply_catalogue(session, payload)
        if batch.facts:
            span = await self._write_facts(session, list(batch.facts.values()))
            if span is not None:
                await session.execute(self._raise_bound, {"name": MAX_OPEN_DAYS, "value": span})
        if batch.counters:
            await session.execute(
                self._add_counts,
                [{"day": d, "unit": u, "metric": m, "count": n} for (d, u, m), n in batch.counters.items()],
            )

    async def _write_facts(self, session: AsyncSession, rows: list[Delta]) -> int | None:
        """Merge the rows; return the longest receipt-to-end span among the ended dossiers they touched, if any
        (what keeps the `max_open_days` bound true)."""
        if self.dialect != "postgresql" or len(rows) < self.copy_threshold:
            await session.execute(self._upsert_rows, rows)
            touched = [r["dossier_id"] for r in rows if r["open_until"] != OPEN or r["received_at"] is not None]
            if not touched:
                return None
            stored = await session.execute(_ENDED_SPANS, {"touched": touched, "open": OPEN})
            return max(((until - received).days for received, until in stored), default=None)
        await session.execute(CREATE_STAGE)  # also opens the transaction before the COPY on the raw connection
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            STAGE.name, records=[_ROW_TUPLE(r) for r in rows], columns=list(COLUMNS)
        )
        await session.execute(self._merge_stage)
        span = await session.scalar(STAGED_MAX_SPAN, {"open": OPEN})
        # ON COMMIT DELETE ROWS empties it at commit; a second batch in the same transaction must not see these rows.
        await session.execute(text("TRUNCATE stats_dossier_batch"))
        return None if span is None else int(span)

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
