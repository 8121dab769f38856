"""The administrators' endpoints of reconciliation: import a settlement file, read its report."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from payment import repository
from payment.dependencies import SettingsDep
from payment.domain import access
from payment.domain.model import ONLINE_PROVIDERS
from payment.reconciliation.service import import_settlement, report
from payment.schemas import SettlementReport
from services.db import SessionDep
from services.errors import Invalid, NotFound, Problem
from services.identity import Identity, require

router = APIRouter(prefix="/reconciliations", tags=["reconciliation"])

MAX_BYTES = 20 * 1024 * 1024

#: A settlement covers every unit's payments (services/policy.py).
Reconciler = Annotated[Identity, Depends(require(*access.ADMINISTRATORS))]


@router.post(
    "/{provider}",
    response_model=SettlementReport,
    summary="Import a provider's daily settlement CSV (request body, text/csv) and classify every line",
)
async def import_file(
    provider: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    who: Reconciler,
    settlement_date: Annotated[date, Query(alias="date")],
    filename: str = "",
) -> SettlementReport:
    if provider not in ONLINE_PROVIDERS:
        raise NotFound(f"Unknown provider {provider!r}.", code="unknown-provider")
    raw = await request.body()
    if len(raw) > MAX_BYTES:
        raise Problem(413, f"A settlement file may be at most {MAX_BYTES} bytes.")
    if not raw.strip():
        raise Invalid("The settlement file is empty.", field="body")
    settlement, already = await import_settlement(
        session, settings, provider, settlement_date, raw, actor=who.subject, filename=filename
    )
    return await report(session, settlement, already)


@router.get("/{settlement_id}", response_model=SettlementReport)
async def get_report(settlement_id: str, session: SessionDep, who: Reconciler) -> SettlementReport:
    settlement = await repository.settlement(session, settlement_id)
    if settlement is None:
        raise NotFound(f"No settlement import {settlement_id}.")
    return await report(session, settlement)
