"""Report endpoints (behind the gateway at /api/v1/stats/…). Leaders and administrators only."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from services.db import SessionDep
from services.identity import CurrentIdentity, Identity
from services.periods import Period
from stats import exports, reports
from stats.dependencies import SettingsDep
from stats.schemas import II06aReport, IndicatorsReport, QuarterlyReport
from stats.settings import Settings

router = APIRouter(prefix="/reports", tags=["reports"])

From = Annotated[date | None, Query(alias="from", description="first business day (YYYY-MM-DD), inclusive")]
To = Annotated[date | None, Query(alias="to", description="last business day (YYYY-MM-DD), inclusive")]
Unit = Annotated[str | None, Query(description="agency id of the subtree's root; default: the leader's unit")]
Compare = Annotated[int | None, Query(ge=0, le=12, description="earlier periods of equal length to compare")]


async def _context(settings: Settings, session: AsyncSession, who: Identity, start: date | None, end: date | None,
                   unit: str | None) -> tuple[Period, reports.Scope, Settings]:  # fmt: skip
    p = reports.period(start, end, settings)
    sc = await reports.scope(session, who, unit)
    return p, sc, settings


@router.get(
    "/quarterly",
    summary="The seed's quarterly report with comparison against earlier periods",
    response_model=QuarterlyReport,
)
async def quarterly(
    settings: SettingsDep, session: SessionDep, who: CurrentIdentity, start: From = None, end: To = None,
    unit: Unit = None, compare: Compare = None,
) -> dict[str, Any]:  # fmt: skip
    p, sc, s = await _context(settings, session, who, start, end, unit)
    return await reports.quarterly(session, p, sc, s, s.compare_periods if compare is None else compare)


@router.get("/ii06a", summary="Form II.06a per field (13 columns and totals)", response_model=II06aReport)
async def ii06a(
    settings: SettingsDep, session: SessionDep, who: CurrentIdentity, start: From = None, end: To = None,
    unit: Unit = None,
) -> dict[str, Any]:  # fmt: skip
    p, sc, _ = await _context(settings, session, who, start, end, unit)
    return await reports.ii06a(session, p, sc)


@router.get("/ii06a.csv", summary="Form II.06a as CSV (UTF-8 with BOM)")
async def ii06a_csv(
    settings: SettingsDep, session: SessionDep, who: CurrentIdentity, start: From = None, end: To = None,
    unit: Unit = None,
) -> Response:  # fmt: skip
    p, sc, _ = await _context(settings, session, who, start, end, unit)
    body = exports.ii06a_csv(await reports.ii06a(session, p, sc))
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="ii06a-{p.start}-{p.end}.csv"'})  # fmt: skip


@router.get(
    "/indicators", summary="Decision 766 indicators our data supports, with scores", response_model=IndicatorsReport
)
async def indicators(
    settings: SettingsDep, session: SessionDep, who: CurrentIdentity, start: From = None, end: To = None,
    unit: Unit = None,
) -> dict[str, Any]:  # fmt: skip
    p, sc, s = await _context(settings, session, who, start, end, unit)
    return await reports.indicators(session, p, sc, s)


async def _all(settings: Settings, session: AsyncSession, who: Identity, start: date | None, end: date | None,
               unit: str | None, compare: int | None) -> tuple[Period, dict[str, Any], dict[str, Any],
                                                                dict[str, Any]]:  # fmt: skip
    p, sc, s = await _context(settings, session, who, start, end, unit)
    q = await reports.quarterly(session, p, sc, s, s.compare_periods if compare is None else compare)
    return p, q, await reports.ii06a(session, p, sc), await reports.indicators(session, p, sc, s)


@router.get("/report.xlsx", summary="Excel workbook: II.06a, quarterly report, 766 indicators")
async def workbook(
    settings: SettingsDep, session: SessionDep, who: CurrentIdentity, start: From = None, end: To = None,
    unit: Unit = None, compare: Compare = None,
) -> Response:  # fmt: skip
    p, q, form, ind = await _all(settings, session, who, start, end, unit, compare)
    disposition = f'attachment; filename="bao-cao-{p.start}-{p.end}.xlsx"'
    return Response(
        exports.workbook(q, form, ind),
        media_type=exports.XLSX_MEDIA_TYPE,
        headers={"content-disposition": disposition},
    )


@router.get("/page", summary="Printable HTML report with charts (Vietnamese)", response_class=HTMLResponse)
async def page(
    settings: SettingsDep, session: SessionDep, who: CurrentIdentity, start: From = None, end: To = None,
    unit: Unit = None, compare: Compare = None,
) -> HTMLResponse:  # fmt: skip
    _, q, form, ind = await _all(settings, session, who, start, end, unit, compare)
    return HTMLResponse(exports.html_page(q, form, ind))
