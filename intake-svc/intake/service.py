"""Intake's domain logic: submission, completeness, supplements, refusal, withdrawal, result, tracking.

Functions take the request's session and never commit (one request = one transaction, `services.db.SessionDep`).
Every state change writes its event to the outbox in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from intake import applicants, catalogue, codes, repository
from intake.models import AssistedAccount, Dossier, DossierDocument, DossierStep, Upload
from intake.schemas import (
    CLOSED,
    NATIONAL_STATUS,
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
    Status,
    StepOut,
    SubmissionIn,
    SupplementIn,
    SupplementRequestIn,
    TrackingOut,
    UploadOut,
    WithdrawIn,
    can_move,
)
from intake.settings import Settings
from intake.storage import FileStorage, StorageUnavailable, content_key
from services import clock, policy
from services.bus.outbox import enqueue, outbox_row
from services.contracts.catalogue import Component, ProcedureVersion
from services.contracts.intake import (
    AccountAssisted,
    Channel,
    DossierReceived,
    DossierRefused,
    DossierResultReturned,
    DossierSupplemented,
    DossierSupplementRequested,
    DossierWithdrawn,
    FeeItem,
)
from services.errors import Conflict, Invalid, NotFound, Problem
from services.events import CloudEvent, EventPayload, new_event
from services.identity import Identity, Role
from services.topics import INTAKE_DOSSIERS

DESK_ROLES = frozenset({Role.DESK_OFFICER})
UNIT_READERS = frozenset({Role.DESK_OFFICER, Role.SPECIALIST, Role.LEADER})


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

    @property
    def source(self) -> str:
        return f"/{self.settings.service_name}"

    def event(self, payload: EventPayload, key: str) -> CloudEvent:
        return new_event(payload, source=self.source, subject=key)

    async def emit(self, session: AsyncSession, payload: EventPayload, key: str) -> str:
        event = self.event(payload, key)
        await enqueue(session, event, topic=self.topic, key=key)
        return event.id


@dataclass
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


# -- access -------------------------------------------------------------------------------------------------------


def _forbidden(detail: str) -> Problem:
    return Problem(403, detail, code="forbidden")


def _desk_unit(who: Identity) -> str:
    if who.role not in DESK_ROLES:
        raise _forbidden(f"Role {who.role.value} may not do this at a desk.")
    if not who.unit:
        raise _forbidden("The desk officer's identity carries no unit.")
    return who.unit


def _check_read(who: Identity, dossier: Dossier) -> None:
    if who.role is Role.PORTAL:
        if who.citizen is None or not hmac.compare_digest(who.citizen.id_number, dossier.applicant_id_number):
            raise NotFound(f"No dossier {dossier.id}.")
        return
    if who.role is Role.ADMIN:
        return
    if who.role in UNIT_READERS:
        if who.unit != dossier.receiving_unit:
            raise _forbidden(f"Dossier {dossier.code} belongs to unit {dossier.receiving_unit}, not yours.")
        return
    raise _forbidden(f"Role {who.role.value} may not read dossiers.")


def _check_desk(who: Identity, dossier: Dossier) -> None:
    unit = _desk_unit(who)
    if unit != dossier.receiving_unit:
        raise _forbidden(f"Dossier {dossier.code} belongs to unit {dossier.receiving_unit}, not yours.")


def _check_desk_or_owner(who: Identity, dossier: Dossier) -> None:
    if who.role is Role.PORTAL:
        _check_read(who, dossier)
    else:
        _check_desk(who, dossier)


def upload_owner(who: Identity) -> str:
    """Whose an upload is: the staff account, or the citizen the portal acts for (its key is shared by them all)."""
    if who.role is Role.PORTAL:
        if who.citizen is None:
            raise _forbidden("The portal must say which citizen it acts for.")
        return f"{who.subject}/citizen/{who.citizen.id_number}"
    return who.subject


async def _load(session: AsyncSession, dossier_id: str, *, lock: bool = False) -> Dossier:
    found = await repository.dossier(session, dossier_id, lock=lock)
    if found is None:
        raise NotFound(f"No dossier {dossier_id}.")
    return found


# -- submission ---------------------------------------------------------------------------------------------------


def request_hash(body: SubmissionIn) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _resolve_channel(who: Identity, body: SubmissionIn) -> tuple[str, SubmissionIn]:
    """The receiving unit, after checking that the caller may submit through the channel."""
    if who.role is Role.PORTAL:
        if body.channel is not Channel.ONLINE:
            raise Invalid("The portal submits online dossiers only.", field="body.channel", code="wrong-channel")
        if who.citizen is None:
            raise _forbidden("The portal must say which citizen it acts for.")
        if not hmac.compare_digest(who.citizen.id_number, body.applicant.id_number):
            raise _forbidden("The portal may submit only for the citizen it acts for.")
        unit = body.receiving_unit
        if unit is None:
            raise Invalid("Online dossiers name the receiving unit.", field="body.receiving_unit")
        if body.applicant.account_id is None and who.citizen.account_id:
            body = body.model_copy(
                update={"applicant": body.applicant.model_copy(update={"account_id": who.citizen.account_id})}
            )
        return unit, body
    unit = _desk_unit(who)
    if body.channel is Channel.ONLINE:
        raise Invalid("A desk receives dossiers in person or by post.", field="body.channel", code="wrong-channel")
    if body.receiving_unit is not None and body.receiving_unit != unit:
        raise _forbidden(f"A desk of {unit} receives dossiers for its own unit only.")
    if body.account_assisted and not body.applicant.account_id:
        raise Invalid(
            "An assisted account needs the new account id.", field="body.applicant.account_id", code="missing-account"
        )
    return unit, body


async def _documents(
    session: AsyncSession,
    who: Identity,
    version: ProcedureVersion,
    docs: list[DocumentIn],
    channel: Channel,
    now: datetime,
    loc: str = "body.documents",
) -> list[dict[str, Any]]:
    """Check documents against the version's components and uploads; the rows to insert (without dossier id)."""
    components = {c.code: c for c in version.content.components}
    errors: list[dict[str, Any]] = []
    upload_ids = [d.upload_id for d in docs if d.upload_id]
    found = await repository.uploads(session, upload_owner(who), upload_ids)
    rows: list[dict[str, Any]] = []
    for i, d in enumerate(docs):
        component = components.get(d.component_code)
        if component is None:
            errors.append(
                {
                    "loc": [*loc.split("."), i, "component_code"],
                    "msg": f"{d.component_code} is not a component of {version.code} version {version.version}",
                }
            )
            continue
        upload = found.get(d.upload_id) if d.upload_id else None
        if d.upload_id and upload is None:
            errors.append({"loc": [*loc.split("."), i, "upload_id"], "msg": f"no upload {d.upload_id} of yours"})
            continue
        if channel is Channel.ONLINE and upload is None:
            errors.append({"loc": [*loc.split("."), i, "upload_id"], "msg": "online documents need their file"})
            continue
        rows.append(
            {
                "component_code": d.component_code,
                "name": d.name or component.name,
                "form": "electronic" if channel is Channel.ONLINE else d.form,
                "copies": d.copies,
                "upload_id": d.upload_id,
                "content_type": upload.content_type if upload else None,
                "size": upload.size if upload else None,
                "sha256": upload.sha256 if upload else None,
                "storage_key": upload.storage_key if upload else None,
                "added_at": now,
            }
        )
    if errors:
        raise Problem(422, "Some documents are not valid.", code="invalid-documents", errors=errors)
    return rows


def _missing(version: ProcedureVersion, present: set[str]) -> list[Component]:
    return [c for c in version.content.components if c.mandatory and c.code not in present]


def _missing_reason(missing: list[Component]) -> str:
    return "Hồ sơ còn thiếu thành phần bắt buộc: " + "; ".join(c.name for c in missing) + "."


async def submit(
    session: AsyncSession, ctx: Context, who: Identity, body: SubmissionIn, idempotency_key: str | None
) -> Answer:
    unit, body = _resolve_channel(who, body)
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

    terms = await catalogue.terms(session, ctx.replica, body.procedure_code, unit, body.channel, now)
    version = terms.version
    doc_rows = await _documents(session, who, version, body.documents, body.channel, now)
    missing = _missing(version, {r["component_code"] for r in doc_rows})
    if missing and body.on_incomplete == "reject":
        raise Problem(
            422,
            "Mandatory documents are missing: " + ", ".join(c.code for c in missing),
            code="missing-documents",
            errors=[
                {"loc": ["body", "documents"], "msg": f"missing mandatory component {c.code}: {c.name}", "code": c.code}
                for c in missing
            ],
        )
    content = version.content
    received = not missing
    appointment = None
    if received:
        cal = await catalogue.working_calendar(session)
        appointment = catalogue.appointment(cal, now, content.processing_time, content.processing_unit.value)
    fees = [{"code": f.code, "name": f.name, "amount": f.amount} for f in content.fees]

    day = codes.business_day(now)
    seq = await codes.next_sequence(session, unit, day)  # late: the counter row stays locked until commit
    dossier = Dossier(
        id=str(uuid.uuid4()),
        code=codes.format_code(unit, day, seq),
        receiving_unit=unit,
        business_date=day,
        seq=seq,
        channel=body.channel.value,
        status=(Status.RECEIVED if received else Status.SUPPLEMENT_REQUESTED).value,
        procedure_code=version.code,
        procedure_version=version.version,
        procedure_name=content.name,
        field_code=content.field_code,
        applicant_kind=body.applicant.kind,
        applicant_id_number=body.applicant.id_number,
        applicant_name=body.applicant.name,
        phone=body.applicant.phone,
        email=body.applicant.email,
        address=body.applicant.address,
        account_id=body.applicant.account_id,
        submitted_at=now,
        received_at=now if received else None,
        clock_started_at=now if received else None,
        appointment_at=appointment,
        processing_amount=content.processing_time,
        processing_unit=content.processing_unit.value,
        missing=[{"code": c.code, "name": c.name} for c in missing],
        supplement_reason=None if received else _missing_reason(missing),
        refusal_reasons=[],
        fees=fees,
        note=body.note,
        closed_at=None,
        extended=False,
        created_by=who.subject,
        updated_at=now,
    )
    documents = [DossierDocument(dossier_id=dossier.id, **row) for row in doc_rows]
    if received:
        payload: EventPayload = _received_event(ctx, dossier)
        action, note = "received", None
    else:
        payload = DossierSupplementRequested(
            dossier_id=dossier.id,
            code=dossier.code,
            at=now,
            missing=[c.code for c in missing],
            reason=dossier.supplement_reason or "",
            before_receipt=True,
            receiving_unit=unit,
            procedure_code=version.code,
            channel=body.channel,
        )
        action, note = "supplement_requested", dossier.supplement_reason
    event = ctx.event(payload, dossier.id)
    step = _step_row(dossier, now, action, who, event_id=event.id, note=note)
    # Core statements (no unit of work): this is the hot path of the service.
    await repository.insert_submission(
        session, _columns(dossier), doc_rows, step, outbox_row(event, topic=ctx.topic, key=dossier.id)
    )
    if body.account_assisted and body.applicant.account_id:
        await _assisted(session, ctx, unit, body.applicant.account_id, dossier.id, who, now)

    answer = Answer(201, dossier_out(dossier, documents).model_dump(mode="json"))
    if idempotency_key is not None:
        await repository.store_idempotent_answer(
            session, who.subject, idempotency_key, answer.status_code, answer.body, dossier.id
        )
    return answer


def _received_event(ctx: Context, d: Dossier) -> DossierReceived:
    assert d.received_at is not None and d.appointment_at is not None
    return DossierReceived(
        dossier_id=d.id,
        code=d.code,
        procedure_code=d.procedure_code,
        procedure_version=d.procedure_version,
        field_code=d.field_code,
        receiving_unit=d.receiving_unit,
        channel=Channel(d.channel),
        applicant_kind=d.applicant_kind,
        received_at=d.received_at,
        appointment_at=d.appointment_at,
        fees=[FeeItem(**f) for f in d.fees],
        submitted_at=d.submitted_at,
        processing_time=d.processing_amount,
        processing_unit=d.processing_unit,
        owner_ref=policy.owner_ref(ctx.settings.owner_ref_secret.get_secret_value(), d.applicant_id_number),
    )


_INSERT_STEP = insert(DossierStep.__table__)


def _columns(d: Dossier) -> dict[str, Any]:
    return {c.key: getattr(d, c.key) for c in Dossier.__table__.columns}


def _step_row(
    d: Dossier,
    at: datetime,
    action: str,
    who: Identity | None,
    *,
    event_id: str | None = None,
    note: str | None = None,
    unit: str | None = None,
) -> dict[str, Any]:
    """A history step's columns (without `dossier_id`)."""
    return {
        "at": at,
        "action": action,
        "status": d.status,
        "unit": unit or d.receiving_unit,
        "actor": who.subject if who is not None else None,
        "note": note,
        "event_id": event_id,
    }


async def _step(
    session: AsyncSession,
    d: Dossier,
    at: datetime,
    action: str,
    who: Identity | None,
    *,
    event_id: str | None = None,
    note: str | None = None,
    unit: str | None = None,
) -> None:
    row = _step_row(d, at, action, who, event_id=event_id, note=note, unit=unit)
    await session.execute(_INSERT_STEP, {"dossier_id": d.id, **row})


async def _assisted(
    session: AsyncSession,
    ctx: Context,
    unit: str,
    account_id: str,
    dossier_id: str | None,
    who: Identity,
    now: datetime,
) -> None:
    session.add(
        AssistedAccount(
            id=str(uuid.uuid4()), unit=unit, account_id=account_id, dossier_id=dossier_id, officer=who.subject, at=now
        )
    )
    await ctx.emit(session, AccountAssisted(unit=unit, at=now, dossier_id=dossier_id), unit)


async def record_assisted_account(session: AsyncSession, ctx: Context, who: Identity, body: AssistedAccountIn) -> None:
    unit = _desk_unit(who)
    if body.dossier_id is not None:
        _check_desk(who, await _load(session, body.dossier_id))
    await _assisted(session, ctx, unit, body.account_id, body.dossier_id, who, ctx.clock())


# -- later steps --------------------------------------------------------------------------------------------------


def _require_open(d: Dossier, action: str) -> None:
    if Status(d.status) in CLOSED:
        raise Conflict(
            f"Dossier {d.code} is closed ({d.status}); it cannot be {action}.",
            code="dossier-closed",
            dossier_status=d.status,
        )


async def request_supplement(
    session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: SupplementRequestIn
) -> DossierOut:
    d = await _load(session, dossier_id, lock=True)
    _check_desk(who, d)
    _require_open(d, "sent back for a supplement")
    if d.status != Status.RECEIVED:
        raise Conflict(f"Dossier {d.code} is {d.status}; only a received dossier can be sent back.", code="wrong-state")
    terms = await _version_of(session, d)
    components = {c.code: c for c in terms.content.components}
    unknown = [i for i, code in enumerate(body.missing) if code not in components]
    if unknown:
        raise Problem(
            422,
            "Unknown component codes.",
            code="unknown-components",
            errors=[{"loc": ["body", "missing", i], "msg": f"not a component of {d.procedure_code}"} for i in unknown],
        )
    now = ctx.clock()
    d.status = Status.SUPPLEMENT_REQUESTED.value
    d.missing = [{"code": c, "name": components[c].name} for c in dict.fromkeys(body.missing)]
    d.supplement_reason = body.reason
    d.appointment_at = None  # the clock stops; it restarts from zero when the dossier is complete
    d.updated_at = now
    event_id = await ctx.emit(
        session,
        DossierSupplementRequested(
            dossier_id=d.id,
            code=d.code,
            at=now,
            missing=[m["code"] for m in d.missing],
            reason=body.reason,
            receiving_unit=d.receiving_unit,
            procedure_code=d.procedure_code,
            channel=Channel(d.channel),
        ),
        d.id,
    )
    await _step(session, d, now, "supplement_requested", who, event_id=event_id, note=body.reason)
    return dossier_out(d, await repository.documents(session, d.id))


async def _version_of(session: AsyncSession, d: Dossier) -> ProcedureVersion:
    """The version the dossier is judged by (the one in force when it was submitted)."""
    from services import catalogue_replica

    snapshot = await catalogue_replica.procedure(session, d.procedure_code)
    if snapshot is not None:
        for v in snapshot.versions:
            if v.version == d.procedure_version:
                return v
    raise Problem(503, f"The catalogue replica lacks {d.procedure_code} version {d.procedure_version}.")


async def supplement(
    session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: SupplementIn
) -> DossierOut:
    d = await _load(session, dossier_id, lock=True)
    _check_desk_or_owner(who, d)
    _require_open(d, "supplemented")
    if d.status != Status.SUPPLEMENT_REQUESTED:
        raise Conflict(f"Dossier {d.code} is {d.status}; no supplement was requested.", code="wrong-state")
    version = await _version_of(session, d)
    now = ctx.clock()
    rows = await _documents(session, who, version, body.documents, Channel(d.channel), now)
    given = {r["component_code"] for r in rows}
    still = [m for m in d.missing if m["code"] not in given]
    if still:
        raise Problem(
            422,
            "The supplement lacks: " + ", ".join(m["code"] for m in still),
            code="missing-documents",
            errors=[
                {"loc": ["body", "documents"], "msg": f"missing component {m['code']}: {m['name']}", "code": m["code"]}
                for m in still
            ],
        )
    documents = [DossierDocument(dossier_id=d.id, **row) for row in rows]
    session.add_all(documents)
    await session.flush()
    cal = await catalogue.working_calendar(session)
    first_receipt = d.received_at is None
    # Asked for by the processing unit (or by the desk after the hand-over): processing goes on where it was.
    d.status = (Status.PROCESSING if d.handed_over_at is not None else Status.RECEIVED).value
    d.missing = []
    d.clock_started_at = now
    d.appointment_at = catalogue.appointment(cal, now, d.processing_amount, d.processing_unit)
    d.updated_at = now
    if first_receipt:
        d.received_at = now
        event_id = await ctx.emit(session, _received_event(ctx, d), d.id)
        await _step(session, d, now, "received", who, event_id=event_id, note="Đã bổ sung đủ hồ sơ")
    else:
        event_id = await ctx.emit(
            session,
            DossierSupplemented(dossier_id=d.id, code=d.code, at=now, appointment_at=d.appointment_at),
            d.id,
        )
        await _step(session, d, now, "supplemented", who, event_id=event_id)
    return dossier_out(d, await repository.documents(session, d.id))


async def refuse(session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: RefuseIn) -> DossierOut:
    d = await _load(session, dossier_id, lock=True)
    _check_desk(who, d)
    _require_open(d, "refused")
    if d.status not in (Status.RECEIVED, Status.SUPPLEMENT_REQUESTED):
        raise Conflict(f"Dossier {d.code} is {d.status}; the desk can no longer refuse it.", code="wrong-state")
    now = ctx.clock()
    d.status = Status.REFUSED.value
    d.refusal_reasons = list(body.reasons)
    d.closed_at = now
    d.updated_at = now
    event_id = await ctx.emit(
        session,
        DossierRefused(dossier_id=d.id, code=d.code, at=now, receiving_unit=d.receiving_unit, reasons=body.reasons),
        d.id,
    )
    await _step(session, d, now, "refused", who, event_id=event_id, note="; ".join(body.reasons))
    return dossier_out(d, await repository.documents(session, d.id))


async def withdraw(session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: WithdrawIn) -> DossierOut:
    d = await _load(session, dossier_id, lock=True)
    _check_desk_or_owner(who, d)
    _require_open(d, "withdrawn")
    now = ctx.clock()
    d.status = Status.WITHDRAWN.value
    d.closed_at = now
    d.updated_at = now
    event_id = await ctx.emit(
        session,
        DossierWithdrawn(dossier_id=d.id, code=d.code, at=now, reason=body.reason, receiving_unit=d.receiving_unit),
        d.id,
    )
    await _step(session, d, now, "withdrawn", who, event_id=event_id, note=body.reason)
    return dossier_out(d, await repository.documents(session, d.id))


async def return_result(
    session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, body: ReturnResultIn
) -> DossierOut:
    d = await _load(session, dossier_id, lock=True)
    _check_desk(who, d)
    _require_open(d, "returned")
    if d.status == Status.SUPPLEMENT_REQUESTED:
        raise Conflict(f"Dossier {d.code} awaits a supplement; there is no result to return.", code="wrong-state")
    if d.result_at_desk_at is None or not can_move(d.status, Status.RESULT_RETURNED):
        raise Conflict(
            f"Dossier {d.code} has no result at the desk yet (it is {d.status}): a result can be returned only once "
            "the processing unit has decided and the result has come back to the receiving desk.",
            code="result-not-at-desk",
            dossier_status=d.status,
        )
    now = ctx.clock()
    d.status = Status.RESULT_RETURNED.value
    d.closed_at = now
    d.updated_at = now
    event_id = await ctx.emit(
        session,
        DossierResultReturned(
            dossier_id=d.id, code=d.code, at=now, channel=body.channel, receiving_unit=d.receiving_unit
        ),
        d.id,
    )
    await _step(session, d, now, "result_returned", who, event_id=event_id)
    return dossier_out(d, await repository.documents(session, d.id))


# -- reading ------------------------------------------------------------------------------------------------------


async def get(session: AsyncSession, who: Identity, dossier_id: str) -> DossierOut:
    d = await _load(session, dossier_id)
    _check_read(who, d)
    return dossier_out(d, await repository.documents(session, d.id))


async def for_form(session: AsyncSession, who: Identity, dossier_id: str) -> tuple[Dossier, list[DossierDocument]]:
    d = await _load(session, dossier_id)
    _check_read(who, d)
    return d, await repository.documents(session, d.id)


async def list_dossiers(session: AsyncSession, who: Identity, f: ListFilter) -> DossierPage:
    unit: str | None = None
    applicant: str | None = None
    if who.role is Role.PORTAL:
        if who.citizen is None:
            raise _forbidden("The portal lists the dossiers of the citizen it acts for.")
        applicant = who.citizen.id_number
        unit = f.unit
    elif who.role is Role.ADMIN:
        unit = f.unit
    elif who.role in UNIT_READERS:
        if not who.unit:
            raise _forbidden("Your identity carries no unit.")
        if f.unit is not None and f.unit != who.unit:
            raise _forbidden(f"You may list the dossiers of your own unit ({who.unit}) only.")
        unit = who.unit
    else:
        raise _forbidden(f"Role {who.role.value} may not list dossiers.")
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


def dossier_out(d: Dossier, documents: list[DossierDocument]) -> DossierOut:
    status = Status(d.status)
    return DossierOut(
        id=d.id,
        code=d.code,
        status=status,
        national_status=NATIONAL_STATUS[status],
        channel=Channel(d.channel),
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
        missing=[MissingOut(**m) for m in d.missing],
        supplement_reason=d.supplement_reason,
        refusal_reasons=list(d.refusal_reasons),
        fees=list(d.fees),
        note=d.note,
        closed_at=d.closed_at,
        forms=_forms(d),
    )


def _forms(d: Dossier) -> dict[str, str]:
    forms = {}
    if d.received_at is not None:
        forms["01"] = f"/dossiers/{d.id}/forms/01"
    if d.missing or d.supplement_reason:
        forms["02"] = f"/dossiers/{d.id}/forms/02"
    if d.status == Status.REFUSED:
        forms["03"] = f"/dossiers/{d.id}/forms/03"
    return forms


# -- uploads ------------------------------------------------------------------------------------------------------


async def upload(
    session: AsyncSession, ctx: Context, who: Identity, filename: str, content_type: str, data: bytes
) -> UploadOut:
    """Store a document's content (size and type were checked by the endpoint) and remember who uploaded it."""
    if who.role not in DESK_ROLES and who.role is not Role.PORTAL:
        raise _forbidden(f"Role {who.role.value} may not upload documents.")
    owner = upload_owner(who)
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
    session.add(record)
    return UploadOut(id=record.id, filename=name, content_type=content_type, size=len(data), sha256=digest)


async def document_content(
    session: AsyncSession, ctx: Context, who: Identity, dossier_id: str, index: int
) -> tuple[DossierDocument, bytes]:
    """The file of a dossier's document (1-based position in the dossier's list)."""
    d = await _load(session, dossier_id)
    _check_read(who, d)
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
