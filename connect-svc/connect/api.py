"""Operators' API: the deliveries to the national portal, those parked above all, and sending one again.
Administrators only (services/policy.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from connect import repository, service
from connect.schemas import DeliveryDetail, DeliveryOut, DeliveryPage
from connect.worker import Worker
from services.db import SessionDep
from services.errors import NotFound
from services.identity import Identity, Role, require

router = APIRouter(tags=["deliveries"])
Admin = Annotated[Identity, Depends(require(Role.ADMIN))]


@router.get("/", summary="Deliveries, oldest first (parked ones: ?state=parked)")
async def list_deliveries(
    session: SessionDep,
    _: Admin,
    state: Annotated[Literal["pending", "sent", "acknowledged", "parked"] | None, Query()] = None,
    dossier_code: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[int | None, Query(ge=0, description="the `next_after` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryPage:
    rows = await repository.deliveries(session, state=state, dossier_code=dossier_code, after=after, limit=limit + 1)
    items = [DeliveryOut.model_validate(row) for row in rows[:limit]]
    return DeliveryPage(items=items, next_after=items[-1].id if len(rows) > limit else None)


@router.get("/{delivery_id}", summary="One delivery, with the record sent")
async def get_delivery(session: SessionDep, _: Admin, delivery_id: int) -> DeliveryDetail:
    row = await repository.delivery(session, delivery_id)
    if row is None:
        raise NotFound(f"No delivery {delivery_id}.", code="delivery-not-found")
    return DeliveryDetail.model_validate(row)


@router.post("/{delivery_id}/resend", summary="Send a parked delivery again (after the cause was fixed)")
async def resend_delivery(request: Request, session: SessionDep, _: Admin, delivery_id: int) -> DeliveryDetail:
    row = await service.resend(session, delivery_id)
    answer = DeliveryDetail.model_validate(row)
    worker: Worker | None = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    return answer
