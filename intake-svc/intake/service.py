"""Intake's commands and queries: load (and lock) → decide (`intake.domain`) → write (`intake.repository`) → emit.

Functions take the request's session and never commit (one request = one transaction, `services.db.SessionDep`).
Every state change writes its event to the outbox in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from intake import applicants, catalogue, repository
from intake.domain import access, dossier, submission
from intake.domain.dossier import NATIONAL_STATUS, Decision, Status
from intake.domain.submission import Document
from intake.models import Dossier, DossierDocument, Upload
from intake.schemas import (
    ApplicantOut,
    AssistedAccountIn,
    DocumentIn,
    DocumentOut,
    DossierOut,
    DossierPage,
    DossierSummary,
    ListFilter,
    MissingOut,
    RefuseIn,
    ReturnResultIn,
    StepOut,
    SubmissionIn,
    SupplementIn,
    SupplementRequestIn,
    TrackingOut,
    UploadOut,
    WithdrawIn,
)
from intake.settings import Settings
from intake.storage import FileStorage, StorageUnavailable, content_key
from services import clock, policy
from services.bus.outbox import EventBuffer
from services.clock import business_date
from services.contracts.catalogue import ProcedureVersion
from services.contracts.intake import AccountAssisted, Channel
from services.errors import Invalid, NotFound, Problem
from services.identity import Identity
from services.topics import INTAKE_DOSSIERS


def utcnow() -> datetime:
    return clock.now()


@dataclass
class Context:
    """What the service functions need besides the session."""

    settings: Settings
    storage: FileStorage
    clock: Callable[[], datetime] = utcnow
    replica: catalogue.ReplicaCache = field(default_factory=catalogue.ReplicaCache)

    @property
    def topic(self) -> str:
        return INTAKE_DOSSIERS.full_name(self.settings.topic_prefix)

    def events(self, session: AsyncSession) -> EventBuffer:
        """The buffer a command's events go through to the outbox (source `/intake`, topic `intake.dossiers`)."""
        return EventBuffer(session, service=self.settings.service_name, topic=self.topic)

    def owner_ref(self, id_number: str) -> str:
        return policy.owner_ref(self.settings.owner_ref_secret.get_secret_value(), id_number)


@dataclass
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


async def _load(session: AsyncSession, dossier_id: str, *, lock: bool = False) -> Dossier:
    found = await repository.dossier(session, dossier_id, lock=lock)
    if found is None:
        raise NotFound(f"No dossier {dossier_id}.")
    return found


async def _write(
    session: AsyncSession, ctx: Context, row: Dossier, before: dossier.Dossier, decision: Decision
) -> None:
    """What a command decided: its history step, the row's new values, its event in the outbox."""
    assert decision.event is not None
    events = ctx.events(session)
    event = events.add(decision.event, key=row.id)
    await repository.add_step(session, row.id, decision.step, event.id)
    repository.save(row, before, decision.dossier)
    await events.write()


async def _answer(session: AsyncSession, d: dossier.Dossier) -> DossierOut:
    return dossier_out(d, await repository.documents(session, d.id))


# -- submission ---------------------------------------------------------------------------------------------------


def request_hash(body: SubmissionIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _documents(
    session: AsyncSession,
    who: Identity,
    version: ProcedureVersion,
    given: Sequence[DocumentIn],
    channel: Channel,
    now: datetime,
) -> list[Document]:
    """The documents checked against the version's components and the caller's own uploads."""
    found = await repository.uploads(session, access.upload_owner(who), [d.upload_id for d in given if d.upload_id])
    return submission.documents(version, given, found, channel, now)


async def submit(
    session: AsyncSession, ctx: Context, who: Identity, body: SubmissionIn, idempotency_key: str | None
) -> Answer:
    applicant = body.applicant
    unit, account_id = access.submission_unit(
        who, channel=body.channel, receiving_unit=body.receiving_unit, applicant_id_number=applicant.id_number,
        account_id=applicant.account_id, account_assisted=body.account_assisted,
    )  # fmt: skip
    if account_id != applicant.account_id:
        applicant = applicant.model_copy(update={"account_id": account_id})
        body = body.model_copy(update={"applicant": applicant})
    now = ctx.clock()
    if idempotency_key is not None:
        digest = request_hash(body)
        record = await repository.claim_idempotency_key(session, who.subject, idempotency_key, digest, now)
        if record is not None:
            if record.request_hash != digest or record.response is None:
                raise Invalid(
                    "This Idempotency-Key was used for a different request.",
                    field="header.idempotency-key",
                    code="idempotency-key-reused",
                )
            return Answer(record.status_code, record.response, replayed=True)

    version = (await catalogue.terms(session, ctx.replica, body.procedure_code, unit, body.channel, now)).version
    documents = await _documents(session, who, version, body.documents, body.channel, now)
    absent = submission.missing(version, documents, body.on_incomplete)
    cal = None if absent else await catalogue.working_calendar(session)
    seq = await repository.next_sequence(session, unit, business_date(now))  # late: locked until commit
    decision = submission.new_dossier(
        dossier_id=str(uuid.uuid4()), who=who, unit=unit, seq=seq, channel=body.channel, version=version,
        applicant=submission.Applicant(applicant.kind, applicant.id_number, applicant.name, applicant.phone,
                                       applicant.email, applicant.address, applicant.account_id),
        absent=absent, note=body.note, cal=cal, now=now, owner_ref=ctx.owner_ref(applicant.id_number),
    )  # fmt: skip
    d = decision.dossier
    assert decision.event is not None
    events = ctx.events(session)
    events.add(decision.event, key=d.id)
    # One statement for the dossier, its first step and its event's outbox row: this is the hot path of the service.
    (outbox_row,) = await events.take_rows()
    await repository.insert_submission(session, d, documents, decision.step, outbox_row)
    if body.account_assisted and account_id:
        await _assisted(session, events, unit, account_id, d.id, who, now)

    answer = Answer(201, dossier_out(d, documents).model_dump(mode="json"))
    if idempotency_key is not None:
        await repository.store_idempotent_answer(
            session, who.subject, idempotency_key, answer.status_code, answer.body, d.id
        )
    return answer


async def _assisted(
    session: AsyncSession,
    events: EventBuffer,
    unit: str,
    account_id: str,
    dossier_id: str | None,
    who: Identity,
    now: datetime,
) -> None:
    repository.add_assisted_account(session, unit, account_id, dossier_id, who.subject, now)
    events.add(AccountAssisted(unit=unit, at=now, dossier_id=dossier_id), key=unit)
    await events.write()


async def record_assisted_account(session: AsyncSession, ctx: Context, who: Identity, body: AssistedAccountIn) -> None:
    unit = access.desk_unit(who)
    if body.dossier_id is not None:
        access.check_desk(who, await _load(session, body.dossier_id))
    await _assisted(session, ctx.events(session), unit, body.account_id, body.dossier_id, who, ctx.clock())


# -- later steps --------------------------------------------------------------------------------------------------


async def _version_of(session: AsyncSession, d: dossier.Dossier) -> ProcedureVersion:
    """The version the dossier is judged by (the one in force when it was submitted)."""
    found = await catalogue.version_of(session, d.procedure_code, d.procedure_version)
    if found is None:
        raise Problem(503, f"The catalogue replica lacks {d.procedure_code} version {d.procedure_version}.")
    return found


async def request_supplement(
    session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: SupplementRequestIn
) -> DossierOut:
    row = await _load(session, dossier_id, lock=True)
    d = repository.state(row)
    dossier.check_request_supplement(who, d)
    version = await _version_of(session, d)
    decision = dossier.request_supplement(d, who, version.content.components, body.missing, body.reason, ctx.clock())
    await _write(session, ctx, row, d, decision)
    return await _answer(session, decision.dossier)


async def supplement(
    session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: SupplementIn
) -> DossierOut:
    row = await _load(session, dossier_id, lock=True)
    d = repository.state(row)
    dossier.check_supplement(who, d)
    version = await _version_of(session, d)
    now = ctx.clock()
    documents = await _documents(session, who, version, body.documents, d.channel, now)
    given = {doc.component_code for doc in documents}
    dossier.still_missing(d, given)
    await repository.add_documents(session, d.id, documents)
    cal = await catalogue.working_calendar(session)
    decision = dossier.supplement(d, who, given, cal, now, ctx.owner_ref(d.applicant_id_number))
    await _write(session, ctx, row, d, decision)
    return await _answer(session, decision.dossier)


async def refuse(session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: RefuseIn) -> DossierOut:
    row = await _load(session, dossier_id, lock=True)
    d = repository.state(row)
    decision = dossier.refuse(d, who, body.reasons, ctx.clock())
    await _write(session, ctx, row, d, decision)
    return await _answer(session, decision.dossier)


async def withdraw(session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: WithdrawIn) -> DossierOut:
    row = await _load(session, dossier_id, lock=True)
    d = repository.state(row)
    decision = dossier.withdraw(d, who, body.reason, ctx.clock())
    await _write(session, ctx, row, d, decision)
    return await _answer(session, decision.dossier)


async def return_result(
    session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: ReturnResultIn
) -> DossierOut:
    row = await _load(session, dossier_id, lock=True)
    d = repository.state(row)
    decision = dossier.return_result(d, who, body.channel, ctx.clock())
    await _write(session, ctx, row, d, decision)
    return await _answer(session, decision.dossier)


# -- reading ------------------------------------------------------------------------------------------------------


async def get(session: AsyncSession, who: Identity, dossier_id: str) -> DossierOut:
    row = await _load(session, dossier_id)
    access.check_read(who, row)
    return await _answer(session, repository.state(row))


async def for_form(session: AsyncSession, who: Identity, dossier_id: str) -> tuple[Dossier, list[DossierDocument]]:
    row = await _load(session, dossier_id)
    access.check_read(who, row)
    return row, await repository.documents(session, row.id)


async def list_dossiers(session: AsyncSession, who: Identity, f: ListFilter) -> DossierPage:
    unit, applicant = access.list_scope(who, f.unit)
    rows, total = await repository.list_dossiers(session, f, unit=unit, applicant_id_number=applicant)
    return DossierPage(
        items=[
            DossierSummary(
                id=d.id,
                code=d.code,
                status=Status(d.status),
                national_status=NATIONAL_STATUS[Status(d.status)],
                channel=Channel(d.channel),
                receiving_unit=d.receiving_unit,
                procedure_code=d.procedure_code,
                procedure_name=d.procedure_name,
                applicant_name=d.applicant_name,
                submitted_at=d.submitted_at,
                received_at=d.received_at,
                appointment_at=d.appointment_at,
            )
            for d in rows
        ],
        total=total,
        page=f.page,
        page_size=f.page_size,
    )


async def track(session: AsyncSession, code: str, phone: str | None, citizen_id: str | None) -> TrackingOut:
    """Status by code plus a second factor; a wrong factor looks exactly like an unknown code."""
    not_found = NotFound("No dossier matches this code and second factor.", code="dossier-not-found")
    if (phone is None) == (citizen_id is None):
        raise Invalid("Give exactly one of phone or citizen_id.", field="query.phone", code="second-factor")
    d = await repository.dossier_by_code(session, code.strip())
    if phone is not None:
        try:
            given = applicants.phone(phone)
        except ValueError:
            given = ""
        expected = d.phone if d is not None else "0000000000"
    else:
        given = (citizen_id or "").strip()
        expected = d.applicant_id_number if d is not None else "000000000000"
    if not hmac.compare_digest(given.encode(), expected.encode()) or d is None:
        raise not_found
    steps = await repository.steps(session, d.id)
    return TrackingOut(
        code=d.code,
        status=Status(d.status),
        national_status=NATIONAL_STATUS[Status(d.status)],
        procedure_code=d.procedure_code,
        procedure_name=d.procedure_name,
        receiving_unit=d.receiving_unit,
        submitted_at=d.submitted_at,
        received_at=d.received_at,
        appointment_at=d.appointment_at,
        missing=[MissingOut(**m) for m in d.missing],
        steps=[StepOut(at=s.at, action=s.action, status=s.status, unit=s.unit) for s in steps],
    )


def dossier_out(d: dossier.Dossier, documents: Sequence[DossierDocument | Document]) -> DossierOut:
    return DossierOut(
        id=d.id,
        code=d.code,
        status=d.status,
        national_status=NATIONAL_STATUS[d.status],
        channel=d.channel,
        receiving_unit=d.receiving_unit,
        procedure_code=d.procedure_code,
        procedure_version=d.procedure_version,
        procedure_name=d.procedure_name,
        field_code=d.field_code,
        applicant=ApplicantOut(
            kind=d.applicant_kind,
            id_number=d.applicant_id_number,
            name=d.applicant_name,
            phone=d.phone,
            email=d.email,
            address=d.address,
            account_id=d.account_id,
        ),
        documents=[
            DocumentOut(
                component_code=doc.component_code,
                name=doc.name,
                form=doc.form,
                copies=doc.copies,
                content_type=doc.content_type,
                size=doc.size,
                sha256=doc.sha256,
            )
            for doc in documents
        ],
        submitted_at=d.submitted_at,
        received_at=d.received_at,
        appointment_at=d.appointment_at,
        processing_time=d.processing_amount,
        processing_unit=d.processing_unit,
        missing=[MissingOut(code=m.code, name=m.name) for m in d.missing],
        supplement_reason=d.supplement_reason,
        refusal_reasons=list(d.refusal_reasons),
        fees=[{"code": f.code, "name": f.name, "amount": f.amount} for f in d.fees],
        note=d.note,
        closed_at=d.closed_at,
        forms=_forms(d),
    )


def _forms(d: dossier.Dossier) -> dict[str, str]:
    forms = {}
    if d.received_at is not None:
        forms["01"] = f"/dossiers/{d.id}/forms/01"
    if d.missing or d.supplement_reason:
        forms["02"] = f"/dossiers/{d.id}/forms/02"
    if d.status is Status.REFUSED:
        forms["03"] = f"/dossiers/{d.id}/forms/03"
    return forms


# -- uploads ------------------------------------------------------------------------------------------------------


async def upload(
    session: AsyncSession, ctx: Context, who: Identity, filename: str, content_type: str, data: bytes
) -> UploadOut:
    """Store a document's content (size and type were checked by the endpoint) and remember who uploaded it."""
    owner = access.check_upload(who)
    try:
        name = applicants.clean_text(filename)[:255] or "document"
    except ValueError as exc:
        raise Invalid(f"file name: {exc}", field="body.file") from exc
    digest = hashlib.sha256(data).hexdigest()
    key = content_key(digest)
    try:
        await ctx.storage.put(key, data, content_type)
    except StorageUnavailable as exc:
        raise _storage_problem("The document was not stored", exc) from exc
    record = Upload(
        id=str(uuid.uuid4()),
        owner=owner,
        filename=name,
        content_type=content_type,
        size=len(data),
        sha256=digest,
        storage_key=key,
        created_at=ctx.clock(),
    )
    repository.add_upload(session, record)
    return UploadOut(id=record.id, filename=name, content_type=content_type, size=len(data), sha256=digest)


async def document_content(
    session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, index: int
) -> tuple[DossierDocument, bytes]:
    """The file of a dossier's document (1-based position in the dossier's list)."""
    d = await _load(session, dossier_id)
    access.check_read(who, d)
    documents = await repository.documents(session, d.id)
    if not 1 <= index <= len(documents) or documents[index - 1].storage_key is None:
        raise NotFound(f"Dossier {d.code} has no stored file at position {index}.")
    doc = documents[index - 1]
    assert doc.storage_key is not None
    try:
        return doc, await ctx.storage.get(doc.storage_key)
    except StorageUnavailable as exc:
        raise _storage_problem("The document could not be read", exc) from exc


def _storage_problem(what: str, exc: StorageUnavailable) -> Problem:
    return Problem(
        503,
        f"{what}: the document store is unavailable ({exc}); retry later.",
        code="storage-unavailable",
        headers={"retry-after": "10"},
    )
