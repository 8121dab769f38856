"""Domain logic of catalogue-svc. Functions take a session, never commit, and raise `services.errors.Problem`.

Every change writes its event (the full current state of the aggregate) to the outbox in the same transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from catalogue import models as m
from catalogue import repository as repo
from catalogue.schemas import DecisionIn, MergeIn, UnitIn
from catalogue.settings import Settings
from services.bus.outbox import EventBuffer
from services.calendar import CalendarRules, WorkingCalendar
from services.clock import today_vn
from services.contracts import catalogue as c
from services.errors import Conflict, Invalid, NotFound
from services.events import EventPayload
from services.topics import CATALOGUE_CALENDAR, CATALOGUE_PROCEDURES, CATALOGUE_UNITS


def content_hash(content: c.ProcedureContent) -> str:
    raw = json.dumps(content.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


# -- fields ------------------------------------------------------------------------------------------------------


async def add_field(session: AsyncSession, code: str, name: str) -> m.Field:
    existing = await repo.field(session, code)
    if existing is not None:
        if existing.name == name:
            return existing
        raise Conflict(f"Field {code} exists with another name ({existing.name}).", code="duplicate-field")
    row = m.Field(code=code, name=name)
    session.add(row)
    await session.flush()
    return row


# -- procedures ------------------------------------------------------------------------------------------------


def to_versions(rows: Sequence[m.ProcedureVersion]) -> list[c.ProcedureVersion]:
    out: list[c.ProcedureVersion] = []
    for i, row in enumerate(rows):
        nxt = rows[i + 1].effective_from if i + 1 < len(rows) else None
        out.append(
            c.ProcedureVersion(
                code=row.code,
                version=row.version,
                effective_from=row.effective_from,
                effective_to=nxt,
                status=c.VersionStatus(row.status),
                decision=c.Decision(
                    kind=c.DecisionKind(row.decision_kind),
                    number=row.decision_number,
                    signed_on=row.decision_signed_on,
                    effective_from=row.effective_from,
                    agency_id=row.decision_agency_id,
                ),
                content=c.ProcedureContent.model_validate(row.content),
            )
        )
    return out


async def snapshot(
    session: AsyncSession, code: str
) -> tuple[m.Procedure, list[c.ProcedureVersion], list[c.UnitOffering]]:
    proc = await repo.procedure(session, code)
    if proc is None:
        raise NotFound(f"No procedure with code {code}.", code="unknown-procedure")
    versions = to_versions(await repo.versions(session, code))
    units = [
        c.UnitOffering(agency_id=o.agency_id, online_level=c.OnlineLevel(o.online_level), postal=o.postal)
        for o in await repo.offerings(session, code)
    ]
    return proc, versions, units


async def _publish(session: AsyncSession, prefix: str, model: type[c.ProcedureSnapshot], code: str) -> None:
    proc, versions, units = await snapshot(session, code)
    payload = model(code=code, revision=proc.revision, versions=versions, units=units)
    await _write(session, CATALOGUE_PROCEDURES.full_name(prefix), payload, key=code)


async def _write(session: AsyncSession, topic: str, payload: EventPayload, *, key: str) -> None:
    events = EventBuffer(session, service=Settings.service_name, topic=topic)
    events.add(payload, key=key)
    await events.write()


async def validate_content(session: AsyncSession, content: c.ProcedureContent, where: str) -> c.ProcedureContent:
    f = await repo.field(session, content.field_code)
    if f is None:
        raise Invalid(f"Unknown field {content.field_code}.", field=f"{where}.field_code", code="unknown-field")
    if not content.levels:
        raise Invalid("At least one implementing level is required.", field=f"{where}.levels")
    if content.processing_unit is c.ProcessingUnit.ON_THE_SPOT and content.processing_time != 0:
        raise Invalid("An on-the-spot procedure has processing_time 0.", field=f"{where}.processing_time")
    if content.route:
        orders = sorted(s.order for s in content.route)
        if orders != list(range(1, len(orders) + 1)):
            raise Invalid("Route steps must be numbered 1..n.", field=f"{where}.route", code="bad-route")
        total = sum(s.share_percent for s in content.route)
        if total != 100:
            raise Invalid(
                f"The shares of the route steps add up to {total}%, not 100%.",
                field=f"{where}.route",
                code="route-shares",
            )
        agencies = {s.agency_id for s in content.route if s.agency_id}
        missing = agencies - await repo.existing_units(session, agencies)
        if missing:
            raise Invalid(
                f"Unknown unit(s) in the route: {', '.join(sorted(missing))}.",
                field=f"{where}.route",
                code="unknown-unit",
            )
    codes = [fee.code for fee in content.fees]
    if len(codes) != len(set(codes)):
        raise Invalid("Fee item codes must be unique.", field=f"{where}.fees")
    return content.model_copy(update={"field_name": f.name})


async def _check_offerings(session: AsyncSession, units: list[c.UnitOffering], where: str) -> None:
    ids = [u.agency_id for u in units]
    if len(ids) != len(set(ids)):
        raise Invalid("A unit is listed twice.", field=where, code="duplicate-unit")
    missing = set(ids) - await repo.existing_units(session, ids, on=today_vn())
    if missing:
        raise Invalid(f"Unknown or closed unit(s): {', '.join(sorted(missing))}.", field=where, code="unknown-unit")


async def publish_decision(
    session: AsyncSession, prefix: str, code: str, body: DecisionIn, *, allow_past: bool = False
) -> c.ProcedureVersion:
    """Apply a publication decision: a new version (or the abolition), never an edit of an existing one.

    `allow_past` lets the importer and the seed load the first version of a procedure published years ago.
    """
    proc = await repo.procedure(session, code)
    kind = body.kind
    if kind is c.DecisionKind.NEW:
        if proc is not None:
            raise Conflict(f"Procedure {code} already exists; publish an amendment instead.", code="duplicate-code")
    else:
        if proc is None:
            raise NotFound(f"No procedure with code {code}.", code="unknown-procedure")
        if proc.status == c.VersionStatus.ABOLISHED.value:
            raise Conflict(f"Procedure {code} is abolished.", code="procedure-abolished")
    rows = list(await repo.versions(session, code)) if proc is not None else []
    last = rows[-1] if rows else None
    if not (allow_past and last is None) and body.effective_from < today_vn():
        raise Invalid(
            f"A new version cannot take effect in the past ({body.effective_from}).",
            field="body.effective_from",
            code="effective-date-in-past",
        )
    if last is not None and body.effective_from <= last.effective_from:
        raise Conflict(
            f"Version {last.version} of {code} takes effect on {last.effective_from}; a new version must take effect "
            "after it.",
            code="overlapping-version",
        )
    if kind is c.DecisionKind.ABOLISHED:
        assert last is not None
        content = c.ProcedureContent.model_validate(last.content)
    else:
        assert body.content is not None
        content = await validate_content(session, body.content, "body.content")
    if body.units is not None:
        await _check_offerings(session, body.units, "body.units")

    if proc is None:
        proc = m.Procedure(code=code, revision=1, latest_version=1, status=c.VersionStatus.ACTIVE.value)
        session.add(proc)
        await session.flush()
    else:
        proc.revision += 1
        proc.latest_version += 1
    status = c.VersionStatus.ABOLISHED if kind is c.DecisionKind.ABOLISHED else c.VersionStatus.ACTIVE
    proc.status = status.value
    session.add(
        m.ProcedureVersion(
            code=code,
            version=proc.latest_version,
            effective_from=body.effective_from,
            status=status.value,
            decision_kind=kind.value,
            decision_number=body.number,
            decision_signed_on=body.signed_on,
            decision_agency_id=body.agency_id,
            field_code=content.field_code,
            content=content.model_dump(mode="json"),
            content_hash=content_hash(content),
        )
    )
    await session.flush()
    if body.units is not None:
        await repo.replace_offerings(session, code, _offering_rows(code, body.units))
    await _publish(
        session, prefix, c.ProcedureAbolished if status is c.VersionStatus.ABOLISHED else c.ProcedurePublished, code
    )
    _, versions, _ = await snapshot(session, code)
    return versions[-1]


def _offering_rows(code: str, units: list[c.UnitOffering]) -> list[m.ProcedureUnit]:
    return [
        m.ProcedureUnit(code=code, agency_id=u.agency_id, online_level=u.online_level.value, postal=u.postal)
        for u in units
    ]


async def configure_units(session: AsyncSession, prefix: str, code: str, units: list[c.UnitOffering]) -> None:
    proc = await repo.procedure(session, code)
    if proc is None:
        raise NotFound(f"No procedure with code {code}.", code="unknown-procedure")
    await _check_offerings(session, units, "body.units")
    proc.revision += 1
    await repo.replace_offerings(session, code, _offering_rows(code, units))
    await _publish(session, prefix, c.ProcedureUnitsConfigured, code)


# -- units -------------------------------------------------------------------------------------------------------


def unit_state(u: m.Unit) -> c.UnitChanged:
    return c.UnitChanged(
        agency_id=u.agency_id,
        revision=u.revision,
        name=u.name,
        kind=c.UnitKind(u.kind),
        level=u.level,
        level_rank=u.level_rank,
        parent_id=u.parent_id,
        valid_from=u.valid_from,
        valid_to=u.valid_to,
        successor_id=u.successor_id,
        predecessor_ids=list(u.predecessor_ids or []),
        demo=u.demo,
    )


async def _publish_unit(session: AsyncSession, prefix: str, u: m.Unit) -> None:
    await _write(session, CATALOGUE_UNITS.full_name(prefix), unit_state(u), key=u.agency_id)


async def create_unit(
    session: AsyncSession, prefix: str, body: UnitIn, *, predecessors: list[str] | None = None
) -> m.Unit:
    if await repo.unit(session, body.agency_id) is not None:
        raise Conflict(f"Unit {body.agency_id} already exists.", code="duplicate-unit")
    if body.parent_id is not None:
        parent = await repo.unit(session, body.parent_id)
        if parent is None:
            raise Invalid(f"Unknown parent unit {body.parent_id}.", field="body.parent_id", code="unknown-unit")
        if parent.level_rank > body.level_rank:
            raise Invalid("A unit cannot sit under a lower level.", field="body.parent_id")
    u = m.Unit(
        agency_id=body.agency_id,
        revision=1,
        name=body.name,
        kind=body.kind.value,
        level=body.level,
        level_rank=body.level_rank,
        parent_id=body.parent_id,
        valid_from=body.valid_from,
        valid_to=None,
        successor_id=None,
        predecessor_ids=predecessors or [],
        demo=body.demo,
    )
    session.add(u)
    await session.flush()
    await _publish_unit(session, prefix, u)
    return u


async def merge_units(session: AsyncSession, prefix: str, body: MergeIn, *, allow_past: bool = False) -> m.Unit:
    """Close the source units on `effective_from` and hand them over to the successor; history stays readable.

    The successor takes over the procedures the sources received (at the highest online level among them); the
    sources stay in the catalogue with `valid_to` and `successor_id`, so old dossiers still resolve their unit.
    """
    if not allow_past and body.effective_from < today_vn():
        raise Invalid(
            "A merger cannot take effect in the past.", field="body.effective_from", code="effective-date-in-past"
        )
    sources: list[m.Unit] = []
    for i, sid in enumerate(dict.fromkeys(body.sources)):
        s = await repo.unit(session, sid)
        if s is None:
            raise Invalid(f"Unknown unit {sid}.", field=f"body.sources.{i}", code="unknown-unit")
        if s.valid_to is not None:
            raise Conflict(f"Unit {sid} was already closed on {s.valid_to}.", code="unit-closed")
        if s.valid_from >= body.effective_from:
            raise Invalid(f"Unit {sid} only starts on {s.valid_from}.", field=f"body.sources.{i}")
        sources.append(s)
    if body.new_unit is not None:
        if body.new_unit.agency_id in body.sources:
            raise Invalid("The new unit cannot be one of the sources.", field="body.new_unit.agency_id")
        if body.new_unit.valid_from != body.effective_from:
            body.new_unit = body.new_unit.model_copy(update={"valid_from": body.effective_from})
        target = await create_unit(session, prefix, body.new_unit, predecessors=[s.agency_id for s in sources])
    else:
        assert body.into is not None
        found = await repo.unit(session, body.into)
        if found is None:
            raise Invalid(f"Unknown unit {body.into}.", field="body.into", code="unknown-unit")
        if body.into in body.sources:
            raise Invalid("A unit cannot be merged into itself.", field="body.into")
        target = found
        target.predecessor_ids = [*(target.predecessor_ids or []), *(s.agency_id for s in sources)]
        target.revision += 1
        await session.flush()
        await _publish_unit(session, prefix, target)
    for s in sources:
        s.valid_to = body.effective_from
        s.successor_id = target.agency_id
        s.revision += 1
    await session.flush()
    for s in sources:
        await _publish_unit(session, prefix, s)
    # Hand over the procedures the sources received.
    rank = {c.OnlineLevel.NONE.value: 0, c.OnlineLevel.PARTIAL.value: 1, c.OnlineLevel.FULL.value: 2}
    inherited: dict[str, m.ProcedureUnit] = {}
    for o in await repo.offerings_of_units(session, [s.agency_id for s in sources]):
        best = inherited.get(o.code)
        if best is None or rank[o.online_level] > rank[best.online_level]:
            inherited[o.code] = o
    for code, o in sorted(inherited.items()):
        current = await repo.offerings(session, code)
        if any(x.agency_id == target.agency_id for x in current):
            continue
        offers = [
            c.UnitOffering(agency_id=x.agency_id, online_level=c.OnlineLevel(x.online_level), postal=x.postal)
            for x in current
        ]
        offers.append(
            c.UnitOffering(agency_id=target.agency_id, online_level=c.OnlineLevel(o.online_level), postal=o.postal)
        )
        proc = await repo.procedure(session, code)
        assert proc is not None
        proc.revision += 1
        await repo.replace_offerings(session, code, _offering_rows(code, offers))
        await _publish(session, prefix, c.ProcedureUnitsConfigured, code)
    return target


# -- calendar ----------------------------------------------------------------------------------------------------


async def calendar_rules(session: AsyncSession) -> CalendarRules:
    off: set[date] = set()
    work: set[date] = set()
    for d in await repo.calendar_days(session):
        (off if d.kind == "off" else work).add(d.day)
    return CalendarRules(extra_days_off=frozenset(off), extra_working_days=frozenset(work))


async def working_calendar(session: AsyncSession) -> WorkingCalendar:
    return WorkingCalendar(await calendar_rules(session))


async def set_calendar_year(session: AsyncSession, prefix: str, year: int, days: list[c.CalendarDay]) -> m.CalendarYear:
    seen: set[date] = set()
    for i, d in enumerate(days):
        if d.day.year != year:
            raise Invalid(f"{d.day} is not in {year}.", field=f"body.days.{i}.day", code="wrong-year")
        if d.day in seen:
            raise Invalid(f"{d.day} is listed twice.", field=f"body.days.{i}.day", code="duplicate-day")
        seen.add(d.day)
    row = await repo.calendar_year(session, year)
    if row is None:
        row = m.CalendarYear(year=year, revision=1)
        session.add(row)
        await session.flush()
    else:
        row.revision += 1
    await repo.replace_calendar_days(
        session, year, [m.CalendarDay(day=d.day, year=year, kind=d.kind, note=d.note) for d in days]
    )
    payload = c.CalendarYearChanged(year=year, revision=row.revision, days=sorted(days, key=lambda d: d.day))
    await _write(session, CATALOGUE_CALENDAR.full_name(prefix), payload, key=str(year))
    return row
