"""HTTP API of routing-svc (behind the gateway's /api/v1/routing/…). Thin: checks the caller, calls the service."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from routing import repository as repo
from routing.forms import STATUS_LABELS_VI, render_form04, render_form05
from routing.models import Hop, Journey, JourneyStep
from routing.schemas import (
    ActionOut,
    AssignIn,
    CompleteIn,
    ExtendIn,
    HopOut,
    JourneyOut,
    JourneySummary,
    RefuseIn,
    RejectIn,
    ResumeIn,
    ReturnIn,
    StepOut,
    SupplementIn,
    TransferIn,
    WorklistPage,
)
from routing.service import Actor, Journeys
from routing.settings import Settings
from services import catalogue_replica, policy
from services.contracts.routing import NationalStatus
from services.db import SessionDep
from services.errors import Invalid, NotFound, Problem
from services.identity import CurrentIdentity, Identity, Role

router = APIRouter(tags=["routing"])


def _staff(who: Identity) -> Actor:
    if not who.is_staff or who.unit is None:
        raise Problem(403, "Only staff bound to a unit act on dossiers.", code="forbidden")
    return Actor.of(who)


async def _actor(session: SessionDep, dossier_id: str, who: Identity) -> Actor:
    """The caller as the actor of a command, if their unit takes part in the journey: staff of other units learn
    nothing more of it (not even whether a hop exists). Holder and addressee are checked by the command."""
    actor = _staff(who)
    found = await repo.journey_units(session, dossier_id)
    if found is not None and who.unit not in found[1]:
        # Not the holder either; unlike the holder check, nothing about the journey is told.
        raise Problem(403, f"Unit {who.unit} has no part in dossier {found[0]}.", code="not-holder")
    return actor


def _svc(request: Request, session: SessionDep) -> Journeys:
    settings: Settings = request.app.state.settings
    return Journeys(session, settings.topic_prefix)


def summary(j: Journey) -> JourneySummary:
    out = JourneySummary.model_validate(j)
    out.status_label = STATUS_LABELS_VI[NationalStatus(j.status)]
    return out


def _detail(j: Journey, steps: list[JourneyStep], hops: list[Hop], extended: bool) -> JourneyOut:
    out = JourneyOut.model_validate(j, from_attributes=True)
    out.status_label = STATUS_LABELS_VI[NationalStatus(j.status)]
    out.steps = [StepOut.model_validate(s) for s in steps]
    out.hops = [HopOut.model_validate(h) for h in hops]
    out.extended = extended
    return out


async def _readable(session: SessionDep, dossier_id: str, who: Identity) -> tuple[Journey, list[JourneyStep], bool]:
    """The journey, its steps and whether it was extended, if the caller may read them."""
    found = await repo.journey_state(session, dossier_id)
    if found is None:
        raise NotFound(f"No journey for dossier {dossier_id}.", code="journey-not-found")
    j, _, extended = found
    steps = await repo.steps(session, dossier_id)
    if not await _may_read(session, who, {j.receiving_unit, j.holder_unit, j.pending_unit, *(s.unit for s in steps)}):
        raise Problem(403, f"Unit {who.unit} has no part in dossier {j.code}.", code="forbidden")
    return j, steps, extended


async def _may_read(session: SessionDep, who: Identity, units: set[str | None]) -> bool:
    """An administrator reads everything; a leader what touches their unit's subtree; other staff what touches
    their own unit."""
    if who.role is Role.ADMIN:
        return True
    if who.role is Role.LEADER:
        return policy.reaches(await catalogue_replica.unit_parents(session), who.unit, units)
    return who.is_staff and who.unit is not None and who.unit in units


@router.get("/journeys/{dossier_id}", response_model=JourneyOut, summary="A dossier's journey")
async def get_journey(dossier_id: str, session: SessionDep, who: CurrentIdentity) -> JourneyOut:
    j, steps, extended = await _readable(session, dossier_id, who)
    return _detail(j, steps, await repo.hops(session, dossier_id), extended)


@router.get("/journeys/{dossier_id}/actions", response_model=list[ActionOut], summary="The action log")
async def get_actions(dossier_id: str, session: SessionDep, who: CurrentIdentity) -> list[ActionOut]:
    await _readable(session, dossier_id, who)
    return [ActionOut.model_validate(a) for a in await repo.actions(session, dossier_id)]


async def _act(svc: Journeys, j: Journey) -> JourneyOut:
    await svc.session.flush()
    return _detail(j, await svc.steps(j), await svc.hops(j), svc.extended[j.dossier_id])


async def _acted_on(svc: Journeys, dossier_id: str) -> JourneyOut:
    """The answer to a command that returned something else than the journey (loaded by it, so not read again)."""
    j = await svc.session.get(Journey, dossier_id)
    assert j is not None
    return await _act(svc, j)


@router.post("/journeys/{dossier_id}/transfer", response_model=JourneyOut, summary="Request a hop (or re-route)")
async def transfer(
    dossier_id: str, body: TransferIn, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    await svc.transfer(dossier_id, actor, body.to_unit, body.note)
    return await _acted_on(svc, dossier_id)


@router.post("/journeys/{dossier_id}/hops/{hop_id}/accept", response_model=JourneyOut, summary="Accept a hop")
async def accept(
    dossier_id: str, hop_id: int, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    return await _act(svc, await svc.accept_hop(dossier_id, hop_id, actor))


@router.post("/journeys/{dossier_id}/hops/{hop_id}/reject", response_model=JourneyOut, summary="Reject a hop")
async def reject(
    dossier_id: str, hop_id: int, body: RejectIn, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    j = await svc.reject_hop(dossier_id, hop_id, actor, body.reason)
    return await _act(svc, j)


@router.post("/journeys/{dossier_id}/assign", response_model=JourneyOut, summary="Assign to an officer")
async def assign(
    dossier_id: str, body: AssignIn, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    return await _act(svc, await svc.assign(dossier_id, actor, body.officer, body.note))


@router.post("/journeys/{dossier_id}/complete", response_model=JourneyOut, summary="Complete the current step")
async def complete(
    dossier_id: str, body: CompleteIn, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    j = await svc.complete(dossier_id, actor, body.result, body.note)
    return await _act(svc, j)


@router.post("/journeys/{dossier_id}/refuse", response_model=JourneyOut, summary="Refuse the dossier (with reasons)")
async def refuse(
    dossier_id: str, body: RefuseIn, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    j = await svc.refuse(dossier_id, actor, list(body.reasons), body.note)
    return await _act(svc, j)


@router.post(
    "/journeys/{dossier_id}/supplement", response_model=JourneyOut, summary="Request a supplement (stops the clock)"
)
async def supplement(
    dossier_id: str, body: SupplementIn, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    j = await svc.request_supplement(dossier_id, actor, list(body.missing), body.reason)
    return await _act(svc, j)


@router.post("/journeys/{dossier_id}/resume", response_model=JourneyOut, summary="Resume after a supplement")
async def resume(
    dossier_id: str, body: ResumeIn, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    return await _act(svc, await svc.resume(dossier_id, actor, body.note))


@router.post("/journeys/{dossier_id}/extend", response_model=JourneyOut, summary="The one extension (form 04)")
async def extend(
    dossier_id: str, body: ExtendIn, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    await svc.extend(dossier_id, actor, body.new_date, body.reason)
    return await _acted_on(svc, dossier_id)


@router.post("/journeys/{dossier_id}/return", response_model=JourneyOut, summary="Send the result to the desk")
async def return_to_desk(
    dossier_id: str, body: ReturnIn, request: Request, session: SessionDep, who: CurrentIdentity
) -> JourneyOut:
    svc = _svc(request, session)
    actor = await _actor(session, dossier_id, who)
    return await _act(svc, await svc.return_to_desk(dossier_id, actor, body.note))


async def _unit_names(session: SessionDep, ids: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for unit_id in ids:
        unit = await catalogue_replica.unit(session, unit_id)
        if unit is not None:
            names[unit_id] = unit.name
    return names


@router.get("/journeys/{dossier_id}/forms/04", response_class=HTMLResponse, summary="Form 04: apology, new date")
async def form04(dossier_id: str, session: SessionDep, who: CurrentIdentity) -> HTMLResponse:
    j, _, _ = await _readable(session, dossier_id, who)
    ext = await repo.extension(session, dossier_id)
    if ext is None:
        raise NotFound(f"Dossier {j.code} was not extended: there is no form 04.", code="no-extension")
    names = await _unit_names(session, {ext.unit, j.receiving_unit})
    return HTMLResponse(render_form04(j, ext, names))


@router.get("/journeys/{dossier_id}/forms/05", response_class=HTMLResponse, summary="Form 05: control slip")
async def form05(dossier_id: str, session: SessionDep, who: CurrentIdentity) -> HTMLResponse:
    j, steps, _ = await _readable(session, dossier_id, who)
    log = await repo.actions(session, dossier_id)
    names = await _unit_names(session, {j.receiving_unit, *(s.unit for s in steps), *(a.unit for a in log if a.unit)})
    return HTMLResponse(render_form05(j, steps, log, names))


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
    if not await _may_read(session, who, {unit}):
        raise Problem(403, f"Unit {who.unit} may not read the worklist of unit {unit}.", code="forbidden")
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
