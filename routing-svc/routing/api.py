"""HTTP API of routing-svc (behind the gateway's /api/v1/routing/…). Thin: checks the caller, calls the service."""

from __future__ import annotations

import base64
import dataclasses
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from routing import repository as repo
from routing.dependencies import JourneysDep
from routing.domain import access
from routing.domain import model as domain
from routing.forms import STATUS_LABELS_VI, render_form04, render_form05
from routing.models import Journey
from routing.schemas import (
    ActionOut,
    AssignIn,
    CompleteIn,
    ExtendIn,
    JourneyOut,
    JourneySummary,
    RefuseIn,
    RejectIn,
    ResumeIn,
    ReturnIn,
    SupplementIn,
    TransferIn,
    WorklistPage,
)
from routing.settings import Settings
from services import catalogue_replica
from services.contracts.routing import NationalStatus
from services.db import SessionDep
from services.errors import Invalid, NotFound
from services.identity import CurrentIdentity, Identity

router = APIRouter(tags=["routing"])


def summary(j: Journey) -> JourneySummary:
    out = JourneySummary.model_validate(j)
    out.status_label = STATUS_LABELS_VI[NationalStatus(j.status)]
    return out


def _detail(j: domain.Journey) -> JourneyOut:
    """The answer about a journey whose hops were read."""
    out = JourneyOut.model_validate(j, from_attributes=True)
    out.status_label = STATUS_LABELS_VI[NationalStatus(j.status)]
    return out


async def _readable(session: SessionDep, dossier_id: str, who: Identity) -> domain.Journey:
    """The journey and its steps (not its hops), if the caller may read them."""
    j = await repo.journey_view(session, dossier_id)
    if j is None:
        raise NotFound(f"No journey for dossier {dossier_id}.", code="journey-not-found")
    access.require_reader(who, j, await _unit_parents(session, who))
    return j


async def _unit_parents(session: SessionDep, who: Identity) -> dict[str, str | None]:
    return await catalogue_replica.unit_parents(session) if access.reads_subtree(who) else {}


@router.get("/journeys/{dossier_id}", response_model=JourneyOut, summary="A dossier's journey")
async def get_journey(dossier_id: str, session: SessionDep, who: CurrentIdentity) -> JourneyOut:
    j = await _readable(session, dossier_id, who)
    return _detail(dataclasses.replace(j, hops=await repo.hops(session, dossier_id)))


@router.get("/journeys/{dossier_id}/actions", response_model=list[ActionOut], summary="The action log")
async def get_actions(dossier_id: str, session: SessionDep, who: CurrentIdentity) -> list[ActionOut]:
    await _readable(session, dossier_id, who)
    return [ActionOut.model_validate(a) for a in await repo.actions(session, dossier_id)]


@router.post("/journeys/{dossier_id}/transfer", response_model=JourneyOut, summary="Request a hop (or re-route)")
async def transfer(dossier_id: str, body: TransferIn, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    return _detail(await svc.transfer(dossier_id, access.staff_actor(who), body.to_unit, body.note))


@router.post("/journeys/{dossier_id}/hops/{hop_id}/accept", response_model=JourneyOut, summary="Accept a hop")
async def accept(dossier_id: str, hop_id: int, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    return _detail(await svc.accept_hop(dossier_id, hop_id, access.staff_actor(who)))


@router.post("/journeys/{dossier_id}/hops/{hop_id}/reject", response_model=JourneyOut, summary="Reject a hop")
async def reject(dossier_id: str, hop_id: int, body: RejectIn, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    return _detail(await svc.reject_hop(dossier_id, hop_id, access.staff_actor(who), body.reason))


@router.post("/journeys/{dossier_id}/assign", response_model=JourneyOut, summary="Assign to an officer")
async def assign(dossier_id: str, body: AssignIn, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    return _detail(await svc.assign(dossier_id, access.staff_actor(who), body.officer, body.note))


@router.post("/journeys/{dossier_id}/complete", response_model=JourneyOut, summary="Complete the current step")
async def complete(dossier_id: str, body: CompleteIn, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    return _detail(await svc.complete(dossier_id, access.staff_actor(who), body.result, body.note))


@router.post("/journeys/{dossier_id}/refuse", response_model=JourneyOut, summary="Refuse the dossier (with reasons)")
async def refuse(dossier_id: str, body: RefuseIn, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    return _detail(await svc.refuse(dossier_id, access.staff_actor(who), list(body.reasons), body.note))


@router.post(
    "/journeys/{dossier_id}/supplement", response_model=JourneyOut, summary="Request a supplement (stops the clock)"
)
async def supplement(dossier_id: str, body: SupplementIn, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    actor = access.staff_actor(who)
    return _detail(await svc.request_supplement(dossier_id, actor, list(body.missing), body.reason))


@router.post("/journeys/{dossier_id}/resume", response_model=JourneyOut, summary="Resume after a supplement")
async def resume(dossier_id: str, body: ResumeIn, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    return _detail(await svc.resume(dossier_id, access.staff_actor(who), body.note))


@router.post("/journeys/{dossier_id}/extend", response_model=JourneyOut, summary="The one extension (form 04)")
async def extend(dossier_id: str, body: ExtendIn, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    return _detail(await svc.extend(dossier_id, access.staff_actor(who), body.new_date, body.reason))


@router.post("/journeys/{dossier_id}/return", response_model=JourneyOut, summary="Send the result to the desk")
async def return_to_desk(dossier_id: str, body: ReturnIn, svc: JourneysDep, who: CurrentIdentity) -> JourneyOut:
    return _detail(await svc.return_to_desk(dossier_id, access.staff_actor(who), body.note))


async def _unit_names(session: SessionDep, ids: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for unit_id in ids:
        unit = await catalogue_replica.unit(session, unit_id)
        if unit is not None:
            names[unit_id] = unit.name
    return names


@router.get("/journeys/{dossier_id}/forms/04", response_class=HTMLResponse, summary="Form 04: apology, new date")
async def form04(dossier_id: str, session: SessionDep, who: CurrentIdentity) -> HTMLResponse:
    j = await _readable(session, dossier_id, who)
    ext = await repo.extension(session, dossier_id)
    if ext is None:
        raise NotFound(f"Dossier {j.code} was not extended: there is no form 04.", code="no-extension")
    names = await _unit_names(session, {ext.unit, j.receiving_unit})
    return HTMLResponse(render_form04(j, ext, names))


@router.get("/journeys/{dossier_id}/forms/05", response_class=HTMLResponse, summary="Form 05: control slip")
async def form05(dossier_id: str, session: SessionDep, who: CurrentIdentity) -> HTMLResponse:
    j = await _readable(session, dossier_id, who)
    log = await repo.actions(session, dossier_id)
    names = await _unit_names(session, {j.receiving_unit, *(s.unit for s in j.steps), *(a.unit for a in log if a.unit)})
    return HTMLResponse(render_form05(j, log, names))


View = Literal["todo", "due_soon", "overdue", "waiting", "incoming", "outgoing", "results"]


def _cursor(j: Journey) -> str:
    return base64.urlsafe_b64encode(f"{j.step_due_at.isoformat()}|{j.dossier_id}".encode()).decode()


def _parse_cursor(value: str) -> tuple[datetime, str]:
    try:
        due, dossier_id = base64.urlsafe_b64decode(value.encode()).decode().split("|", 1)
        return datetime.fromisoformat(due), dossier_id
    except Exception as exc:
        raise Invalid("The cursor is not valid.", field="query.after") from exc


@router.get("/worklists/{unit}", response_model=WorklistPage, summary="A unit's (or officer's) worklist")
async def worklist(
    unit: str,
    request: Request,
    session: SessionDep,
    who: CurrentIdentity,
    view: View = "todo",
    officer: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    after: str | None = None,
) -> WorklistPage:
    access.require_worklist_reader(who, unit, await _unit_parents(session, who))
    settings: Settings = request.app.state.settings
    size = min(limit or settings.worklist_default_limit, settings.worklist_max_limit)
    rows = await repo.worklist(
        session, unit=unit, view=view, officer=officer, limit=size, after=_parse_cursor(after) if after else None
    )
    return WorklistPage(
        unit=unit,
        view=view,
        items=[summary(j) for j in rows],
        next_cursor=_cursor(rows[-1]) if len(rows) == size else None,
    )
