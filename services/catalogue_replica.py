"""The consumer-side replica of the catalogue, for intake, routing, payment (and anyone else).

A service that needs procedures, units or the working-day calendar keeps a local copy fed by the compacted catalogue
topics, so that it works while catalogue-svc is down and rebuilds from the topics alone when it starts late.

Use it in three steps:

1. tables — in the service's ``models.py``, after ``Base = create_base()``::

       from services.catalogue_replica import add_replica_tables
       add_replica_tables(Base.metadata)

   then generate an Alembic revision (the tables are named ``catalogue_replica_*``).

2. subscription — in the service's ``consumers.py``::

       from services import catalogue_replica
       def subscriptions(settings):
           return [catalogue_replica.subscription(settings.topic_prefix, group="intake.catalogue")]

   The handlers upsert the full state carried by each event (ignoring events not newer than what is held).

3. queries — inside any session of that database::

       v = await catalogue_replica.version_in_force(session, "1.001234", received_at)   # ProcedureVersion | None
       v.accepts_dossiers, v.content.processing_time, v.content.fees, v.content.route ...
       units = await catalogue_replica.accepting_units(session, "1.001234", received_at)  # list[UnitOffering]
       u = await catalogue_replica.unit(session, "000.00.31.H57")                          # UnitChanged | None
       cal = await catalogue_replica.calendar(session)                                     # WorkingCalendar

   `unit`, `version_in_force` and `calendar` answer from a memo of the session's database (`services.db.Database`
   gives every session one) while no replica change was applied since and for at most `MEMO_TTL` seconds: a
   journey's start reads the same few units and the calendar again and again. The answers are shared: read them,
   never change them.

``at`` may be an aware datetime (converted to the Asia/Ho_Chi_Minh business date) or a date.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    insert,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.bus.consumer import Subscription
from services.calendar import CalendarRules, WorkingCalendar
from services.clock import business_date
from services.contracts import catalogue_sql
from services.contracts.catalogue import (
    PROCEDURE_EVENTS,
    CalendarYearChanged,
    OnlineLevel,
    ProcedureSnapshot,
    ProcedureVersion,
    UnitChanged,
    UnitOffering,
)
from services.db import REPLICA_MEMO
from services.events import CloudEvent
from services.topics import CATALOGUE_CALENDAR, CATALOGUE_PROCEDURES, CATALOGUE_UNITS, dead_letter_topic

__all__ = [
    "accepting_units",
    "add_replica_tables",
    "ancestors",
    "apply_calendar",
    "apply_procedure",
    "apply_unit",
    "calendar",
    "offered_procedures",
    "procedure",
    "subscription",
    "unit",
    "unit_parents",
    "version_in_force",
]

replica_metadata = MetaData()

procedures = Table(
    "catalogue_replica_procedures",
    replica_metadata,
    Column("code", String(40), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("snapshot", JSON, nullable=False),
)

versions = Table(
    "catalogue_replica_versions",
    replica_metadata,
    Column("code", String(40), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("effective_from", Date, nullable=False),
    Column("effective_to", Date, nullable=True),
    Column("status", String(20), nullable=False),
    Column("field_code", String(40), nullable=False),
    Column("data", JSON, nullable=False),
)

offerings = Table(
    "catalogue_replica_offerings",
    replica_metadata,
    Column("code", String(40), primary_key=True),
    Column("agency_id", String(40), primary_key=True),
    Column("online_level", String(20), nullable=False),
    Column("postal", Boolean, nullable=False),
)

units = Table(
    "catalogue_replica_units",
    replica_metadata,
    Column("agency_id", String(40), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("parent_id", String(40), nullable=True),
    Column("level", String(30), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
    Column("data", JSON, nullable=False),
)

calendar_years = Table(
    "catalogue_replica_calendar",
    replica_metadata,
    Column("year", Integer, primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("days", JSON, nullable=False),
)

TABLES = (procedures, versions, offerings, units, calendar_years)


def add_replica_tables(metadata: MetaData) -> None:
    """Copy the replica tables into a service's metadata (call once, right after `create_base()`)."""
    for table in TABLES:
        if table.name not in metadata.tables:
            table.to_metadata(metadata)


# -- memo --------------------------------------------------------------------------------------------------------


class _Generation:
    """Counts the replica changes applied in this process; a memo entry read under an older count is stale.

    Bumped when a handler applies a change and again when the replica consumer has committed it, so that an answer
    read between the two is not kept. The replica consumer runs in one process of a deployment (one member of the
    group gets each event): the others notice a change when their entries expire, the same order of delay as the
    replica's own lag behind catalogue-svc."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self, _event: object = None) -> None:
        self.value += 1


generation = _Generation()
#: How long a memo entry may answer for a change applied by another process.
MEMO_TTL = 2.0
_MEMO_LIMIT = 10_000
_T = TypeVar("_T")


async def _memoized(session: AsyncSession, key: Hashable, load: Callable[[], Awaitable[_T | None]]) -> _T | None:
    memo: dict[Hashable, tuple[float, int, Any]] | None = session.info.get(REPLICA_MEMO)
    if memo is None:
        return await load()
    now = time.monotonic()
    hit = memo.get(key)
    if hit is not None and hit[1] == generation.value and now - hit[0] < MEMO_TTL:
        return hit[2]  # type: ignore[no-any-return]
    read_under = generation.value  # before the query: a change applied meanwhile makes this entry stale at once
    value = await load()
    if value is not None:  # what is not there yet is looked up again next time
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = (now, read_under, value)
    return value


# -- handlers ----------------------------------------------------------------------------------------------------


async def apply_procedure(session: AsyncSession, _envelope: CloudEvent | None, payload: ProcedureSnapshot) -> None:
    """Replace what the replica holds for the procedure with the event's full state (if it is newer)."""
    held = await session.scalar(select(procedures.c.revision).where(procedures.c.code == payload.code))
    if held is not None and held >= payload.revision:
        return
    generation.bump()
    for table in (procedures, versions, offerings):
        await session.execute(delete(table).where(table.c.code == payload.code))
    await session.execute(
        insert(procedures).values(
            code=payload.code, revision=payload.revision, snapshot=payload.model_dump(mode="json")
        )
    )
    if payload.versions:
        await session.execute(
            insert(versions),
            [
                {
                    "code": payload.code,
                    "version": v.version,
                    "effective_from": v.effective_from,
                    "effective_to": v.effective_to,
                    "status": v.status.value,
                    "field_code": v.content.field_code,
                    "data": v.model_dump(mode="json"),
                }
                for v in payload.versions
            ],
        )
    if payload.units:
        await session.execute(
            insert(offerings),
            [
                {
                    "code": payload.code,
                    "agency_id": u.agency_id,
                    "online_level": u.online_level.value,
                    "postal": u.postal,
                }
                for u in payload.units
            ],
        )


async def apply_unit(session: AsyncSession, _envelope: CloudEvent | None, payload: UnitChanged) -> None:
    held = await session.scalar(select(units.c.revision).where(units.c.agency_id == payload.agency_id))
    if held is not None and held >= payload.revision:
        return
    generation.bump()
    await session.execute(delete(units).where(units.c.agency_id == payload.agency_id))
    await session.execute(
        insert(units).values(
            agency_id=payload.agency_id,
            revision=payload.revision,
            parent_id=payload.parent_id,
            level=payload.level,
            valid_from=payload.valid_from,
            valid_to=payload.valid_to,
            data=payload.model_dump(mode="json"),
        )
    )


async def apply_calendar(session: AsyncSession, _envelope: CloudEvent | None, payload: CalendarYearChanged) -> None:
    held = await session.scalar(select(calendar_years.c.revision).where(calendar_years.c.year == payload.year))
    if held is not None and held >= payload.revision:
        return
    generation.bump()
    await session.execute(delete(calendar_years).where(calendar_years.c.year == payload.year))
    await session.execute(
        insert(calendar_years).values(
            year=payload.year,
            revision=payload.revision,
            days=[d.model_dump(mode="json") for d in payload.days],
        )
    )


def subscription(topic_prefix: str, group: str, *, dead_letter: str | None = None) -> Subscription:
    """A consumer group reading the three catalogue topics into the replica tables.

    `group` is the short name (e.g. ``"intake.catalogue"``); `services.app` prefixes it with the deployment's topic
    prefix and gives it a dead-letter topic. Used outside `services.app` (tools, tests), pass the full group name
    and `dead_letter` (see `dead_letter_topic_name`).
    """
    handlers: dict[Any, Any] = {model: apply_procedure for model in PROCEDURE_EVENTS}
    handlers[UnitChanged] = apply_unit
    handlers[CalendarYearChanged] = apply_calendar
    return Subscription(
        name=group,
        topics=[
            CATALOGUE_PROCEDURES.full_name(topic_prefix),
            CATALOGUE_UNITS.full_name(topic_prefix),
            CATALOGUE_CALENDAR.full_name(topic_prefix),
        ],
        handlers=handlers,
        dead_letter_topic=dead_letter,
        on_committed=generation.bump,
    )


def dead_letter_topic_name(group: str, topic_prefix: str) -> str:
    return dead_letter_topic(group).full_name(topic_prefix)


# -- queries -----------------------------------------------------------------------------------------------------

_VERSION_IN_FORCE = (
    select(versions.c.data)
    .where(
        versions.c.code == bindparam("code"),
        catalogue_sql.in_force_on(versions.c.effective_from, versions.c.effective_to, bindparam("day")),
    )
    .order_by(versions.c.effective_from.desc(), versions.c.version.desc())
    .limit(1)
)
_UNIT = select(units.c.data).where(units.c.agency_id == bindparam("agency_id"))


def _day(at: datetime | date) -> date:
    return business_date(at) if isinstance(at, datetime) else at


async def procedure(session: AsyncSession, code: str) -> ProcedureSnapshot | None:
    """The full state last received for a procedure."""
    data = await session.scalar(select(procedures.c.snapshot).where(procedures.c.code == code))
    return None if data is None else ProcedureSnapshot.model_validate(data)


async def version_in_force(session: AsyncSession, code: str, at: datetime | date) -> ProcedureVersion | None:
    """The version in force at `at` (None before the first version). An abolished one has ``accepts_dossiers`` False."""
    day = _day(at)

    async def load() -> ProcedureVersion | None:
        data = await session.scalar(_VERSION_IN_FORCE, {"code": code, "day": day})
        return None if data is None else ProcedureVersion.model_validate(data)

    return await _memoized(session, ("version", code, day), load)


def _valid_on(day: date) -> Any:
    return catalogue_sql.valid_on(units.c.valid_from, units.c.valid_to, day)


async def accepting_units(session: AsyncSession, code: str, at: datetime | date) -> list[UnitOffering]:
    """Units that accept new dossiers of the procedure at `at` (none if it is abolished or not yet in force).

    Units the replica knows to be closed at that date (merged away) are left out.
    """
    day = _day(at)
    current = await version_in_force(session, code, day)
    if current is None or not current.accepts_dossiers:
        return []
    closed = select(units.c.agency_id).where(~_valid_on(day))
    rows = await session.execute(
        select(offerings.c.agency_id, offerings.c.online_level, offerings.c.postal)
        .where(offerings.c.code == code, offerings.c.agency_id.not_in(closed))
        .order_by(offerings.c.agency_id)
    )
    return [
        UnitOffering(agency_id=r.agency_id, online_level=OnlineLevel(r.online_level), postal=r.postal) for r in rows
    ]


async def offered_procedures(session: AsyncSession, agency_id: str) -> list[str]:
    """Codes of the procedures configured at a unit (check `version_in_force` for a given moment)."""
    rows = await session.scalars(
        select(offerings.c.code).where(offerings.c.agency_id == agency_id).order_by(offerings.c.code)
    )
    return list(rows)


async def unit(session: AsyncSession, agency_id: str) -> UnitChanged | None:
    async def load() -> UnitChanged | None:
        data = await session.scalar(_UNIT, {"agency_id": agency_id})
        return None if data is None else UnitChanged.model_validate(data)

    return await _memoized(session, ("unit", agency_id), load)


async def ancestors(session: AsyncSession, agency_id: str) -> list[UnitChanged]:
    """The unit and its parents up to the top (ward → city → province), nearest first."""
    chain: list[UnitChanged] = []
    seen: set[str] = set()
    current: str | None = agency_id
    while current is not None and current not in seen:
        seen.add(current)
        found = await unit(session, current)
        if found is None:
            break
        chain.append(found)
        current = found.parent_id
    return chain


async def unit_parents(session: AsyncSession) -> dict[str, str | None]:
    """Every unit the replica holds and its parent: what `services.policy.subtree` walks."""

    async def load() -> dict[str, str | None]:
        rows = await session.execute(select(units.c.agency_id, units.c.parent_id))
        return {agency_id: parent_id for agency_id, parent_id in rows}

    found = await _memoized(session, ("unit_parents",), load)
    return found if found is not None else {}


async def calendar(session: AsyncSession, *, base: CalendarRules | None = None) -> WorkingCalendar:
    """The working-day calendar with every year's extra days off and make-up days received so far.

    `base` supplies office hours and weekend days (default: `CalendarRules()`).
    """
    found = await _memoized(session, ("calendar", base), lambda: _calendar(session, base))
    assert found is not None
    return found


async def _calendar(session: AsyncSession, base: CalendarRules | None) -> WorkingCalendar:
    off: set[date] = set()
    work: set[date] = set()
    for row in await session.scalars(select(calendar_years.c.days)):
        for item in row:
            day = date.fromisoformat(item["day"])
            (off if item["kind"] == "off" else work).add(day)
    template = base or CalendarRules()
    rules = CalendarRules(
        extra_days_off=frozenset(off),
        extra_working_days=frozenset(work),
        office_hours=template.office_hours,
        weekend_days=template.weekend_days,
    )
    # One calendar per set of rules for the process: a calendar computes each year's statutory holidays (lunar
    # dates included) once, 1.7 ms here, and every journey that starts needs one.
    found = _calendars.get(rules)
    if found is None:
        if len(_calendars) >= 16:  # the rules changed many times (the replica received new days off): start over
            _calendars.clear()
        found = _calendars[rules] = WorkingCalendar(rules)
    return found


_calendars: dict[CalendarRules, WorkingCalendar] = {}
