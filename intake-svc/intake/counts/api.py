"""``GET /counts?from=YYYY-MM-DD&to=YYYY-MM-DD[&unit=<agency id>]`` (`intake.counts.service`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from intake.counts import service
from intake.dependencies import CurrentIdentity, SessionDep

router = APIRouter(tags=["counts"])


@router.get("/counts", summary="Dossiers received per channel and unit, and accounts assisted, over a period")
async def counts(
    session: SessionDep,
    who: CurrentIdentity,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    unit: str | None = None,
) -> dict[str, Any]:
    return await service.counts(session, who, start, end, unit)
