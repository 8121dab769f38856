"""HTTP API of intake-svc (reached through the gateway under /api/v1/dossiers/…)."""

from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Header, Query, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response

from intake import catalogue, forms, service
from intake.dependencies import ContextDep, CurrentIdentity, SessionDep
from intake.schemas import (
    AssistedAccountIn,
    DossierOut,
    DossierPage,
    ListFilter,
    RefuseIn,
    ReturnResultIn,
    SubmissionIn,
    SupplementIn,
    SupplementRequestIn,
    TrackingOut,
    UploadOut,
    WithdrawIn,
)
from intake.storage import sniff_matches
from services.errors import Problem
from services.headers import content_disposition

router = APIRouter(tags=["dossiers"])


@router.post(
    "/dossiers",
    status_code=201,
    response_model=DossierOut,
    summary="Submit a dossier (desk: in person / postal; portal: online)",
    responses={422: {"description": "invalid, incomplete, or an Idempotency-Key reused with another body"}},
)
async def submit(
    body: SubmissionIn,
    session: SessionDep,
    ctx: ContextDep,
    who: CurrentIdentity,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=255)] = None,
) -> JSONResponse:
    answer = await service.submit(session, ctx, who, body, idempotency_key)
    headers = {"location": f"/dossiers/{answer.body['id']}"}
    if answer.replayed:
        headers["idempotent-replayed"] = "true"
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


@router.get("/dossiers", response_model=DossierPage, summary="Dossiers of the caller's unit (desk) or citizen (portal)")
async def list_dossiers(session: SessionDep, who: CurrentIdentity, f: Annotated[ListFilter, Query()]) -> DossierPage:
    return await service.list_dossiers(session, who, f)


@router.get("/dossiers/{dossier_id}", response_model=DossierOut)
async def get_dossier(dossier_id: str, session: SessionDep, who: CurrentIdentity) -> DossierOut:
    return await service.get(session, who, dossier_id)


@router.post("/dossiers/{dossier_id}/supplement-request", response_model=DossierOut, summary="Form 02 after receipt")
async def request_supplement(
    dossier_id: str, body: SupplementRequestIn, session: SessionDep, ctx: ContextDep, who: CurrentIdentity
) -> DossierOut:
    return await service.request_supplement(session, ctx, who, dossier_id, body)


@router.post("/dossiers/{dossier_id}/supplement", response_model=DossierOut, summary="Hand in what was missing")
async def supplement(
    dossier_id: str, body: SupplementIn, session: SessionDep, ctx: ContextDep, who: CurrentIdentity
) -> DossierOut:
    return await service.supplement(session, ctx, who, dossier_id, body)


@router.post("/dossiers/{dossier_id}/refuse", response_model=DossierOut, summary="Form 03: refuse the dossier")
async def refuse(
    dossier_id: str, body: RefuseIn, session: SessionDep, ctx: ContextDep, who: CurrentIdentity
) -> DossierOut:
    return await service.refuse(session, ctx, who, dossier_id, body)


@router.post("/dossiers/{dossier_id}/withdraw", response_model=DossierOut, summary="Withdrawal on request")
async def withdraw(
    dossier_id: str, body: WithdrawIn, session: SessionDep, ctx: ContextDep, who: CurrentIdentity
) -> DossierOut:
    return await service.withdraw(session, ctx, who, dossier_id, body)


@router.post("/dossiers/{dossier_id}/return-result", response_model=DossierOut, summary="Result handed over")
async def return_result(
    dossier_id: str, body: ReturnResultIn, session: SessionDep, ctx: ContextDep, who: CurrentIdentity
) -> DossierOut:
    return await service.return_result(session, ctx, who, dossier_id, body)


@router.get(
    "/dossiers/{dossier_id}/forms/{form}",
    response_class=HTMLResponse,
    summary="Printable form 01 (receipt), 02 (supplement request) or 03 (refusal)",
)
async def form(dossier_id: str, form: str, session: SessionDep, who: CurrentIdentity) -> HTMLResponse:
    d, documents = await service.for_form(session, who, dossier_id)
    html = forms.render(form, d, documents, await catalogue.unit_name(session, d.receiving_unit))
    return HTMLResponse(html)


@router.get(
    "/dossiers/{dossier_id}/documents/{index}/content",
    tags=["documents"],
    summary="The stored file of the dossier's n-th document (1-based)",
    response_class=Response,
)
async def document_content(
    dossier_id: str, index: int, session: SessionDep, ctx: ContextDep, who: CurrentIdentity
) -> Response:
    doc, data = await service.document_content(session, ctx, who, dossier_id, index)
    # Always a download, never shown in the browser: the content is whatever the applicant uploaded.
    extension = mimetypes.guess_extension(doc.content_type or "") or ""
    filename = f"{dossier_id}-{index}-{doc.component_code}{extension}"
    return Response(
        data,
        media_type=doc.content_type or "application/octet-stream",
        headers={"content-disposition": content_disposition(filename)},
    )


@router.get("/tracking/{code}", response_model=TrackingOut, tags=["tracking"], summary="Tra cứu: code + phone or id")
async def track(
    code: str,
    session: SessionDep,
    who: CurrentIdentity,
    phone: Annotated[str | None, Query(max_length=20)] = None,
    citizen_id: Annotated[str | None, Query(max_length=20)] = None,
) -> TrackingOut:
    return await service.track(session, code, phone, citizen_id)


@router.post("/uploads", status_code=201, response_model=UploadOut, tags=["documents"], summary="Upload a document")
async def upload(file: UploadFile, session: SessionDep, ctx: ContextDep, who: CurrentIdentity) -> UploadOut:
    limit = ctx.settings.max_file_bytes
    if file.size is not None and file.size > limit:
        raise Problem(413, f"The file exceeds {limit} bytes.", code="file-too-large", errors=[_loc("too large")])
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise Problem(413, f"The file exceeds {limit} bytes.", code="file-too-large", errors=[_loc("too large")])
    if not data:
        raise Problem(422, "The file is empty.", code="empty-file", errors=[_loc("empty")])
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    allowed = ctx.settings.allowed_content_types
    if content_type not in allowed:
        raise Problem(
            415,
            f"Files of type {content_type or 'unknown'} are not accepted (allowed: {', '.join(allowed)}).",
            code="unsupported-file-type",
            errors=[_loc(f"type {content_type or 'unknown'} not accepted")],
        )
    if not sniff_matches(content_type, data):
        raise Problem(
            415,
            f"The file's content is not {content_type}.",
            code="unsupported-file-type",
            errors=[_loc("content does not match its declared type")],
        )
    return await service.upload(session, ctx, who, file.filename or "document", content_type, data)


def _loc(msg: str) -> dict[str, object]:
    return {"loc": ["body", "file"], "msg": msg}


@router.post("/accounts/assisted", status_code=201, tags=["accounts"], summary="A desk helped create an account")
async def assisted_account(
    body: AssistedAccountIn, session: SessionDep, ctx: ContextDep, who: CurrentIdentity
) -> dict[str, str]:
    await service.record_assisted_account(session, ctx, who, body)
    return {"status": "recorded"}
