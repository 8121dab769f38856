"""How a submission is judged: the terms it is received under (the version in force at receipt and how the
receiving unit offers it), its documents against the version's components, its completeness, its code, and the new
dossier with its first step and event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from intake.domain.dossier import Decision, Dossier, Fee, Missing, Status, Step, appointment, received_event
from services.calendar import WorkingCalendar
from services.clock import business_date
from services.contracts.catalogue import Component, OnlineLevel, ProcedureVersion, UnitOffering
from services.contracts.intake import Channel, DossierSupplementRequested
from services.errors import Invalid, Problem
from services.identity import Identity

#: Numbers of one receiving agency's day: the code has four digits.
MAX_PER_DAY = 9999


def format_code(agency: str, day: date, seq: int) -> str:
    """The dossier code (mã hồ sơ): ``{receiving agency id}-{YYMMDD}-{NNNN}``."""
    return f"{agency}-{day:%y%m%d}-{seq:04d}"


def check_sequence(agency: str, day: date, n: int) -> None:
    if n > MAX_PER_DAY:
        raise Problem(
            503,
            f"The receiving agency {agency} has used all {MAX_PER_DAY} dossier numbers of {day.isoformat()}.",
            code="daily-sequence-exhausted",
        )


@dataclass(frozen=True, slots=True)
class Offer:
    """How the catalogue replica says a unit offers a procedure on a day: its online level (None: it does not offer
    it), postal reception, and whether the unit is valid that day (`UnitChanged.valid_on`; None: the replica does not
    know the unit)."""

    online_level: str | None
    postal: bool | None
    unit_open: bool | None


@dataclass(frozen=True)
class Terms:
    """The procedure version a dossier is judged by, and how the receiving unit offers it."""

    version: ProcedureVersion
    offering: UnitOffering


def terms(
    code: str, unit: str, channel: Channel, day: date, version: ProcedureVersion | None, offer: Offer | None
) -> Terms:
    """Whether `unit` receives procedure `code` through `channel` on business day `day`, given the version in force
    that day (None: there is none) and the unit's offer of it."""
    if version is None or offer is None:
        raise Invalid(
            f"There is no procedure {code} in force on {day.isoformat()}.",
            field="body.procedure_code",
            code="unknown-procedure",
        )
    if not version.accepts_dossiers:
        raise Invalid(
            f"Procedure {code} was abolished by decision {version.decision.number} "
            f"(effective {version.decision.effective_from.isoformat()}).",
            field="body.procedure_code",
            code="abolished-procedure",
        )
    if offer.online_level is None or offer.unit_open is False:
        raise Invalid(
            f"Unit {unit} does not receive dossiers of procedure {code}.",
            field="body.receiving_unit",
            code="unit-does-not-accept",
        )
    offering = UnitOffering(agency_id=unit, online_level=OnlineLevel(offer.online_level), postal=bool(offer.postal))
    if channel is Channel.ONLINE and offering.online_level is OnlineLevel.NONE:
        raise Invalid(
            f"Unit {unit} does not offer procedure {code} online.", field="body.channel", code="channel-not-offered"
        )
    if channel is Channel.POSTAL and not (offering.postal or version.content.postal):
        raise Invalid(
            f"Unit {unit} does not receive procedure {code} by post.", field="body.channel", code="channel-not-offered"
        )
    return Terms(version=version, offering=offering)


class Given(Protocol):
    """A document as the applicant lists it."""

    @property
    def component_code(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def form(self) -> str: ...
    @property
    def copies(self) -> int: ...
    @property
    def upload_id(self) -> str | None: ...


class Stored(Protocol):
    """An upload of the caller's, as the document store holds it."""

    @property
    def content_type(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def storage_key(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Document:
    """A document of a dossier (a row of `dossier_document` without the dossier id)."""

    component_code: str
    name: str
    form: str
    copies: int
    upload_id: str | None
    content_type: str | None
    size: int | None
    sha256: str | None
    storage_key: str | None
    added_at: datetime


def documents(
    version: ProcedureVersion,
    given: Sequence[Given],
    uploads: Mapping[str, Stored],
    channel: Channel,
    now: datetime,
    loc: str = "body.documents",
) -> list[Document]:
    """The documents, each checked against the version's components and the caller's own uploads (`uploads`, by
    id): every error in one 422. Online documents are electronic and need their file."""
    components = {c.code: c for c in version.content.components}
    errors: list[dict[str, object]] = []
    where = loc.split(".")
    out: list[Document] = []
    for i, d in enumerate(given):
        component = components.get(d.component_code)
        if component is None:
            errors.append(
                {
                    "loc": [*where, i, "component_code"],
                    "msg": f"{d.component_code} is not a component of {version.code} version {version.version}",
                }
            )
            continue
        upload = uploads.get(d.upload_id) if d.upload_id else None
        if d.upload_id and upload is None:
            errors.append({"loc": [*where, i, "upload_id"], "msg": f"no upload {d.upload_id} of yours"})
            continue
        if channel is Channel.ONLINE and upload is None:
            errors.append({"loc": [*where, i, "upload_id"], "msg": "online documents need their file"})
            continue
        out.append(
            Document(
                component_code=d.component_code,
                name=d.name or component.name,
                form="electronic" if channel is Channel.ONLINE else d.form,
                copies=d.copies,
                upload_id=d.upload_id,
                content_type=upload.content_type if upload else None,
                size=upload.size if upload else None,
                sha256=upload.sha256 if upload else None,
                storage_key=upload.storage_key if upload else None,
                added_at=now,
            )
        )
    if errors:
        raise Problem(422, "Some documents are not valid.", code="invalid-documents", errors=errors)
    return out


def missing(version: ProcedureVersion, docs: Sequence[Document], on_incomplete: str) -> list[Component]:
    """The version's mandatory components not among `docs`; with ``on_incomplete="reject"`` any is a 422."""
    present = {d.component_code for d in docs}
    absent = [c for c in version.content.components if c.mandatory and c.code not in present]
    if absent and on_incomplete == "reject":
        raise Problem(
            422,
            "Mandatory documents are missing: " + ", ".join(c.code for c in absent),
            code="missing-documents",
            errors=[
                {"loc": ["body", "documents"], "msg": f"missing mandatory component {c.code}: {c.name}", "code": c.code}
                for c in absent
            ],
        )
    return absent


def missing_reason(absent: Sequence[Component]) -> str:
    return "Hồ sơ còn thiếu thành phần bắt buộc: " + "; ".join(c.name for c in absent) + "."


@dataclass(frozen=True, slots=True)
class Applicant:
    kind: str
    id_number: str
    name: str
    phone: str
    email: str | None
    address: str
    account_id: str | None


def new_dossier(
    *,
    dossier_id: str,
    who: Identity,
    unit: str,
    seq: int,
    channel: Channel,
    version: ProcedureVersion,
    applicant: Applicant,
    absent: Sequence[Component],
    note: str | None,
    cal: WorkingCalendar | None,
    now: datetime,
    owner_ref: str,
) -> Decision:
    """The dossier a submission creates: received (form 01, the clock runs from `now`) when nothing mandatory is
    `absent`, else waiting for a supplement asked at submission (form 02, no clock). `cal` is needed only to
    receive it."""
    content = version.content
    received = not absent
    day = business_date(now)
    reason = None if received else missing_reason(absent)
    d = Dossier(
        id=dossier_id,
        code=format_code(unit, day, seq),
        receiving_unit=unit,
        business_date=day,
        seq=seq,
        channel=channel,
        status=Status.RECEIVED if received else Status.SUPPLEMENT_REQUESTED,
        procedure_code=version.code,
        procedure_version=version.version,
        procedure_name=content.name,
        field_code=content.field_code,
        applicant_kind=applicant.kind,
        applicant_id_number=applicant.id_number,
        applicant_name=applicant.name,
        phone=applicant.phone,
        email=applicant.email,
        address=applicant.address,
        account_id=applicant.account_id,
        submitted_at=now,
        received_at=now if received else None,
        clock_started_at=now if received else None,
        appointment_at=(
            appointment(cal, now, content.processing_time, content.processing_unit.value)
            if received and cal is not None
            else None
        ),
        processing_amount=content.processing_time,
        processing_unit=content.processing_unit.value,
        missing=tuple(Missing(c.code, c.name) for c in absent),
        supplement_reason=reason,
        refusal_reasons=(),
        fees=tuple(Fee(f.code, f.name, f.amount) for f in content.fees),
        note=note,
        closed_at=None,
        handed_over_at=None,
        result_at_desk_at=None,
        extended=False,
        created_by=who.subject,
        updated_at=now,
    )
    if received:
        if d.appointment_at is None:
            raise ValueError("receiving a dossier needs the working calendar")
        step = Step(at=now, action="received", status=d.status, unit=unit, actor=who.subject)
        return Decision(d, step, received_event(d, owner_ref))
    event = DossierSupplementRequested(
        dossier_id=d.id,
        code=d.code,
        at=now,
        missing=[c.code for c in absent],
        reason=reason or "",
        before_receipt=True,
        receiving_unit=unit,
        procedure_code=version.code,
        channel=channel,
    )
    step = Step(at=now, action="supplement_requested", status=d.status, unit=unit, actor=who.subject, note=reason)
    return Decision(d, step, event)
