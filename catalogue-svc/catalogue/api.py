"""HTTP API of catalogue-svc (the gateway maps /api/v1/catalogue/* here).

Reads need an identity (`CurrentIdentity`: the portal's, a staff member's …); writes need Role.ADMIN.

    GET  /fields                              fields (lĩnh vực)
    POST /fields                              add a field                                      admin
    GET  /procedures?q=&field=&level=&unit=&online_level=&include_abolished=&page=&size=     search
    GET  /procedures/{code}                   full state: versions, version in force today, units
    GET  /procedures/{code}/versions          every version (never edited)
    GET  /procedures/{code}/in-force?at=      the version in force at a moment or date
    POST /procedures/{code}/decisions         publication decision: new / amended / replaced / abolished    admin
    PUT  /procedures/{code}/units             which units receive it, at which online level    admin
    GET  /units?level=&parent=&on=            administrative units and agencies
    GET  /units/{agency_id}                   one unit (closed ones too) with its children
    POST /units                               add a unit                                        admin
    POST /units/merge                         merge units (the sources are closed, history kept)  admin
    GET  /calendar/{year}                     the administrator's table and the resulting days off
    PUT  /calendar/{year}                     replace the year's extra days off / make-up days  admin
    GET  /calendar/deadline?received_at=&days=&unit=   due moment of a time limit
    GET  /listing/{agency_id}?on=             niêm yết: what a unit accepts, counts by field and level
    POST /imports?format=json|csv|xlsx&name=  import a national-database export (raw body)      admin
    GET  /imports/{id}                        the report of an import                           admin
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import AwareDatetime

from catalogue import importer, search
from catalogue import repository as repo
from catalogue import service as svc
from catalogue.dependencies import DatabaseUrl, TopicPrefix
from catalogue.schemas import (
    CODE_PATTERN,
    CalendarYearIn,
    CalendarYearOut,
    DeadlineOut,
    DecisionIn,
    FieldIn,
    FieldOut,
    ImportReport,
    ListingOut,
    MergeIn,
    ProcedureOut,
    SearchHit,
    SearchPage,
    UnitIn,
    UnitsIn,
)
from services.clock import VN_TZ, business_date, today_vn
from services.contracts import catalogue as contracts
from services.contracts.catalogue import CalendarDay, ProcedureVersion, UnitChanged
from services.db import SessionDep
from services.errors import NotFound
from services.identity import CurrentIdentity, Identity, Role, require

router = APIRouter()
Admin = Annotated[Identity, Depends(require(Role.ADMIN))]
Year = Annotated[int, Path(ge=1900, le=2999)]


def _hit(d: search.Doc, score: float) -> SearchHit:
    return SearchHit(
        code=d.code,
        name=d.name,
        field_code=d.field_code,
        field_name=d.field_name,
        levels=list(d.levels),
        online_level=d.online_level,
        inter_level=d.inter_level,
        status=d.status,
        version=d.version,
        score=score,
    )


# -- fields ------------------------------------------------------------------------------------------------------


@router.get("/fields", tags=["catalogue"])
async def list_fields(session: SessionDep, who: CurrentIdentity) -> list[FieldOut]:
    return [FieldOut(code=f.code, name=f.name) for f in await repo.fields(session)]


@router.post("/fields", tags=["catalogue"], status_code=201)
async def add_field(body: FieldIn, session: SessionDep, who: Admin) -> FieldOut:
    f = await svc.add_field(session, body.code, body.name)
    return FieldOut(code=f.code, name=f.name)


# -- procedures --------------------------------------------------------------------------------------------------


@router.get("/procedures", tags=["catalogue"])
async def search_procedures(
    db_url: DatabaseUrl,
    session: SessionDep,
    who: CurrentIdentity,
    q: Annotated[str | None, Query(max_length=200)] = None,
    field: str | None = None,
    level: str | None = None,
    unit: str | None = None,
    online_level: Literal["none", "partial", "full"] | None = None,
    include_abolished: bool = False,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=200)] = 20,
) -> SearchPage:
    index = await search.index_for(session, db_url, today_vn())
    hits = index.search(
        q, field_code=field, level=level, unit=unit, online_level=online_level, include_abolished=include_abolished
    )
    start = (page - 1) * size
    return SearchPage(total=len(hits), page=page, size=size, items=[_hit(d, s) for d, s in hits[start : start + size]])


@router.get("/procedures/{code}", tags=["catalogue"])
async def get_procedure(code: str, session: SessionDep, who: CurrentIdentity) -> ProcedureOut:
    proc, versions, units = await svc.snapshot(session, code)
    return ProcedureOut(
        code=code,
        revision=proc.revision,
        status=proc.status,
        in_force=contracts.version_in_force(versions, today_vn()),
        versions=versions,
        units=units,
    )


@router.get("/procedures/{code}/versions", tags=["catalogue"])
async def list_versions(code: str, session: SessionDep, who: CurrentIdentity) -> list[ProcedureVersion]:
    return (await svc.snapshot(session, code))[1]


@router.get("/procedures/{code}/in-force", tags=["catalogue"])
async def version_in_force(
    code: str,
    session: SessionDep,
    who: CurrentIdentity,
    at: Annotated[AwareDatetime | date | None, Query(description="moment (with offset) or business date")] = None,
) -> ProcedureVersion:
    day = today_vn() if at is None else business_date(at) if isinstance(at, datetime) else at
    found = contracts.version_in_force((await svc.snapshot(session, code))[1], day)
    if found is None:
        raise NotFound(f"Procedure {code} has no version in force on {day}.", code="not-in-force")
    return found


@router.post("/procedures/{code}/decisions", tags=["catalogue"], status_code=201)
async def publish_decision(
    prefix: TopicPrefix,
    body: DecisionIn,
    session: SessionDep,
    who: Admin,
    code: Annotated[str, Path(pattern=CODE_PATTERN, description="procedure code, e.g. 1.001234")],
) -> ProcedureVersion:
    return await svc.publish_decision(session, prefix, code, body)


@router.put("/procedures/{code}/units", tags=["catalogue"])
async def configure_units(
    prefix: TopicPrefix, code: str, body: UnitsIn, session: SessionDep, who: Admin
) -> ProcedureOut:
    await svc.configure_units(session, prefix, code, body.units)
    return await get_procedure(code, session, who)


# -- units -------------------------------------------------------------------------------------------------------


@router.get("/units", tags=["units"])
async def list_units(
    session: SessionDep,
    who: CurrentIdentity,
    level: str | None = None,
    parent: str | None = None,
    on: date | None = None,
) -> list[UnitChanged]:
    return [svc.unit_state(u) for u in await repo.units(session, level=level, parent_id=parent, on=on)]


@router.get("/units/{agency_id}", tags=["units"])
async def get_unit(agency_id: str, session: SessionDep, who: CurrentIdentity) -> dict[str, object]:
    u = await repo.unit(session, agency_id)
    if u is None:
        raise NotFound(f"No unit {agency_id}.", code="unknown-unit")
    children = await repo.units(session, parent_id=agency_id)
    return {
        "unit": svc.unit_state(u).model_dump(mode="json"),
        "children": [svc.unit_state(ch).model_dump(mode="json") for ch in children],
    }


@router.post("/units", tags=["units"], status_code=201)
async def add_unit(prefix: TopicPrefix, body: UnitIn, session: SessionDep, who: Admin) -> UnitChanged:
    return svc.unit_state(await svc.create_unit(session, prefix, body))


@router.post("/units/merge", tags=["units"])
async def merge_units(prefix: TopicPrefix, body: MergeIn, session: SessionDep, who: Admin) -> UnitChanged:
    return svc.unit_state(await svc.merge_units(session, prefix, body))


# -- calendar ----------------------------------------------------------------------------------------------------


@router.get("/calendar/deadline", tags=["calendar"])
async def deadline(
    session: SessionDep,
    who: CurrentIdentity,
    received_at: AwareDatetime,
    days: Annotated[int, Query(ge=0, le=3650)],
    unit: Literal["working_days", "calendar_days"] = "working_days",
) -> DeadlineOut:
    cal = await svc.working_calendar(session)
    due = (
        cal.add_working_days(received_at, days) if unit == "working_days" else cal.add_calendar_days(received_at, days)
    )
    return DeadlineOut(
        received_at=received_at.astimezone(VN_TZ).isoformat(),
        start_day=cal.start_day(received_at),
        due_at=due.isoformat(),
    )


@router.get("/calendar/{year}", tags=["calendar"])
async def get_calendar(year: Year, session: SessionDep, who: CurrentIdentity) -> CalendarYearOut:
    row = await repo.calendar_year(session, year)
    days = [CalendarDay(day=d.day, kind=d.kind, note=d.note) for d in await repo.calendar_days(session, year)]  # type: ignore[arg-type]
    cal = await svc.working_calendar(session)
    all_days = [date.fromordinal(o) for o in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1)]
    return CalendarYearOut(
        year=year,
        revision=row.revision if row else 0,
        days=days,
        days_off=[d for d in all_days if d.weekday() < 5 and not cal.is_working_day(d)],
        working_weekend_days=[d for d in all_days if d.weekday() >= 5 and cal.is_working_day(d)],
    )


@router.put("/calendar/{year}", tags=["calendar"])
async def put_calendar(
    prefix: TopicPrefix,
    body: CalendarYearIn,
    session: SessionDep,
    who: Admin,
    year: Year,
) -> CalendarYearOut:
    await svc.set_calendar_year(session, prefix, year, body.days)
    return await get_calendar(year, session, who)


# -- listing -----------------------------------------------------------------------------------------------------


@router.get("/listing/{agency_id}", tags=["catalogue"])
async def listing(
    db_url: DatabaseUrl, agency_id: str, session: SessionDep, who: CurrentIdentity, on: date | None = None
) -> ListingOut:
    u = await repo.unit(session, agency_id)
    if u is None:
        raise NotFound(f"No unit {agency_id}.", code="unknown-unit")
    day = on or today_vn()
    if day == today_vn():
        index = await search.index_for(session, db_url, day)
    else:
        index = await search.index_on(session, day)
    hits = index.search(None, unit=agency_id)
    docs = [d for d, _ in hits]
    return ListingOut(
        agency_id=agency_id,
        unit_name=u.name,
        on=day,
        total=len(docs),
        by_field=dict(sorted(Counter(f"{d.field_code} {d.field_name}" for d in docs).items())),
        by_level=dict(sorted(Counter(lv for d in docs for lv in d.levels).items())),
        by_online_level=dict(sorted(Counter(d.units.get(agency_id, d.online_level) for d in docs).items())),
        items=[_hit(d, s) for d, s in hits],
    )


# -- imports -----------------------------------------------------------------------------------------------------


@router.post("/imports", tags=["imports"])
async def run_import(
    request: Request,
    prefix: TopicPrefix,
    session: SessionDep,
    who: Admin,
    format: Literal["json", "csv", "xlsx"] | None = None,
    name: Annotated[str, Query(max_length=300)] = "upload",
) -> ImportReport:
    raw = await request.body()
    fmt = format or importer.guess_format(request.headers.get("content-type", ""), name)
    return await importer.import_bytes(session, prefix, raw, fmt, name)


@router.get("/imports/{run_id}", tags=["imports"])
async def get_import(run_id: str, session: SessionDep, who: Admin) -> ImportReport:
    run = await repo.import_run(session, run_id)
    if run is None:
        raise NotFound(f"No import {run_id}.", code="unknown-import")
    return ImportReport.model_validate({**run.summary, "rows": run.rows})
