"""What the national portal is told of a dossier, decided from the centre's events.

connect-svc keeps, per dossier, the portal's view of it (`PortalDossier`): the fields of a `DongBoHoSoMC` record,
folded from intake's, routing's and payment's events. `decide(view, event)` returns the new view and the changes
to deliver, in order: the whole dossier record again when a field of it changed, a `CapNhatTienDoHoSoMC` progress
record for each step of the journey. Nothing here reads a database or the clock: the times are the events'.

The portal's field names are written once, here (`F`); connect-svc/README.md says where each came from.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict

from services.calendar import VN_TZ
from services.contracts import intake, payment, routing
from services.contracts.intake import Channel, FeeItem
from services.contracts.routing import NationalStatus
from services.events import EventPayload

SERVICE_DOSSIER = "DongBoHoSoMC"
SERVICE_STEP = "CapNhatTienDoHoSoMC"
SERVICE_LOOKUP = "TraCuuHoSo"


class Kind(StrEnum):
    DOSSIER = "dossier"  # a DongBoHoSoMC record: the dossier as it stands
    STEP = "step"  # a CapNhatTienDoHoSoMC record: one step of its progress


SERVICE_OF = {Kind.DOSSIER: SERVICE_DOSSIER, Kind.STEP: SERVICE_STEP}


class F:
    """The portal's field names."""

    CODE = "MaHoSo"
    PROCEDURE_CODE = "MaTTHC"
    PROCEDURE_NAME = "TenTTHC"
    FIELD_CODE = "MaLinhVuc"
    FIELD_NAME = "TenLinhVuc"
    RECEIPT_NUMBER = "SoBienNhan"
    CHANNEL = "KenhThucHien"
    APPLICANT_KIND = "LoaiDoiTuong"
    RECEIVED_AT = "NgayTiepNhan"
    APPOINTMENT_AT = "NgayHenTra"
    STATUS = "TrangThaiHoSo"
    RETURNED_AT = "NgayTra"
    PROCESSED_AT = "NgayKetThucXuLy"
    UNIT = "DonViXuLy"
    FEES = "DanhSachLePhi"
    FEE_CODE = "MaPhiLePhi"
    FEE_AMOUNT = "Gia"
    SUPPLEMENTS = "DanhSachHoSoBoSung"
    SUPPLEMENT_PREVIOUS = "NgayHenTraTruoc"
    SUPPLEMENT_NEW = "NgayHenTraMoi"
    # a step
    ACTOR = "NguoiXuLy"
    ACTED_AT = "ThoiDiemXuLy"
    DEPARTMENT = "PhongBanXuLy"
    CONTENT = "NoiDungXuLy"
    STEP_STATUS = "TrangThai"
    STARTED_AT = "NgayBatDau"
    DUE_AT = "NgayKetThucTheoQuyDinh"


#: KenhThucHien: 1 in person, 2 online, 3 postal.
CHANNEL_CODES = {Channel.IN_PERSON: 1, Channel.ONLINE: 2, Channel.POSTAL: 3}
#: LoaiDoiTuong: 1 citizen, 2 organisation.
APPLICANT_KIND_CODES = {"citizen": 1, "organisation": 2}
PORTAL_TIME_FORMAT = "%Y%m%d%H%M%S"


def portal_time(at: datetime) -> str:
    """`yyyyMMddHHmmss` in Asia/Ho_Chi_Minh."""
    return at.astimezone(VN_TZ).strftime(PORTAL_TIME_FORMAT)


class Supplement(BaseModel):
    model_config = ConfigDict(frozen=True)

    requested_at: AwareDatetime
    previous_appointment_at: AwareDatetime | None = None
    new_appointment_at: AwareDatetime | None = None


class PortalDossier(BaseModel):
    """The portal's view of one dossier, as connect-svc has told it (or will)."""

    model_config = ConfigDict(frozen=True)

    dossier_id: str
    code: str
    #: intake's DossierReceived has come: only then is there a dossier record to send.
    received: bool = False
    procedure_code: str | None = None
    #: The procedure's and its field's names, from the catalogue version in force at receipt (when connect-svc's
    #: catalogue replica has it then).
    procedure_name: str | None = None
    field_name: str | None = None
    field_code: str | None = None
    channel: Channel | None = None
    applicant_kind: str | None = None
    receiving_unit: str | None = None
    received_at: AwareDatetime | None = None
    appointment_at: AwareDatetime | None = None
    status: NationalStatus | None = None
    #: When the status was last set: an event older than that (read late from another topic) does not set it back.
    status_at: AwareDatetime | None = None
    #: Every appointment the dossier had, as (set at, appointment), oldest first; `appointment_at` is the last.
    appointments: tuple[tuple[AwareDatetime, AwareDatetime], ...] = ()
    processed_at: AwareDatetime | None = None
    returned_at: AwareDatetime | None = None
    fees: tuple[FeeItem, ...] = ()
    supplements: tuple[Supplement, ...] = ()

    def record(self) -> dict[str, Any]:
        """The DongBoHoSoMC record. Fields without a value are left out."""
        fields: dict[str, Any] = {
            F.CODE: self.code,
            F.RECEIPT_NUMBER: self.code,
            F.PROCEDURE_CODE: self.procedure_code,
            F.PROCEDURE_NAME: self.procedure_name,
            F.FIELD_CODE: self.field_code,
            F.FIELD_NAME: self.field_name,
            F.CHANNEL: CHANNEL_CODES[self.channel] if self.channel else None,
            F.APPLICANT_KIND: APPLICANT_KIND_CODES.get(self.applicant_kind or ""),
            F.RECEIVED_AT: _time(self.received_at),
            F.APPOINTMENT_AT: _time(self.appointment_at),
            F.STATUS: int(self.status) if self.status else None,
            F.RETURNED_AT: _time(self.returned_at),
            F.PROCESSED_AT: _time(self.processed_at),
            F.UNIT: self.receiving_unit,
        }
        if self.fees:
            fields[F.FEES] = [{F.FEE_CODE: fee.code, F.FEE_AMOUNT: fee.amount} for fee in self.fees]
        if self.supplements:
            fields[F.SUPPLEMENTS] = [
                _present(
                    {
                        F.SUPPLEMENT_PREVIOUS: _time(s.previous_appointment_at),
                        F.SUPPLEMENT_NEW: _time(s.new_appointment_at),
                    }
                )
                for s in self.supplements
            ]
        return _present(fields)


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Kind
    record: dict[str, Any]


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)

    dossier: PortalDossier
    changes: tuple[Change, ...] = ()


def _time(at: datetime | None) -> str | None:
    return portal_time(at) if at is not None else None


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


#: The event types that change what the portal is told; everything else is none of its business.
EVENTS: tuple[type[EventPayload], ...] = (
    intake.DossierReceived,
    intake.DossierSupplementRequested,
    intake.DossierSupplemented,
    intake.DossierWithdrawn,
    intake.DossierResultReturned,
    routing.JourneyStarted,
    routing.HopRequested,
    routing.HopAccepted,
    routing.HopRejected,
    routing.JourneyAssigned,
    routing.StepCompleted,
    routing.SupplementRequested,
    routing.JourneyResumed,
    routing.JourneyExtended,
    routing.JourneyProcessed,
    routing.ResultAtDesk,
    routing.JourneyClosed,
    payment.BillRequested,
    payment.PaymentPaid,
)


def dossier_ref(event: EventPayload) -> tuple[str, str]:
    """(dossier id, dossier code) of an event of `EVENTS`."""
    if isinstance(event, payment.BillEvent):
        return event.dossier_id, event.dossier_code
    assert isinstance(event, intake.DossierRef | routing.JourneyRef), type(event)
    return event.dossier_id, event.code


def new_view(event: EventPayload) -> PortalDossier:
    dossier_id, code = dossier_ref(event)
    return PortalDossier(dossier_id=dossier_id, code=code)


def _with_status(view: PortalDossier, status: NationalStatus, at: datetime) -> PortalDossier:
    if view.status_at is not None and at < view.status_at:
        return view
    return view.model_copy(update={"status": status, "status_at": at})


def _with_appointment(view: PortalDossier, appointment_at: datetime, at: datetime) -> PortalDossier:
    appointments = tuple(sorted({*view.appointments, (at, appointment_at)}))
    return view.model_copy(update={"appointments": appointments, "appointment_at": appointments[-1][1]})


def appointment_on(view: PortalDossier, at: datetime) -> datetime | None:
    """The appointment in force at `at`."""
    before = [appointment for set_at, appointment in view.appointments if set_at <= at]
    return before[-1] if before else view.appointment_at


def _portal_status(status: NationalStatus, view: PortalDossier) -> NationalStatus:
    """Routing calls a journey whose first hop is not accepted yet "new" (1); for the portal a dossier the desk has
    received is "accepted" (2) from the start."""
    if status is NationalStatus.NEW and (view.received or view.status is not None):
        return NationalStatus.ACCEPTED
    return status


def decide(view: PortalDossier, event: EventPayload, *, names: tuple[str, str] | None = None) -> Decision:
    """The view after `event` and what to tell the portal, in order. `names`: (procedure, field) of the catalogue
    version a received dossier was received under, when known."""
    if isinstance(event, intake.DossierRef):
        if names is not None and isinstance(event, intake.DossierReceived):
            view = view.model_copy(update={"procedure_name": names[0], "field_name": names[1] or None})
        return _intake(view, event)
    if isinstance(event, routing.JourneyRef):
        return _routing(view, event)
    if isinstance(event, payment.BillEvent):
        return _payment(view, event)
    raise TypeError(f"{type(event).__name__} is not an event the portal hears of")


def _dossier(view: PortalDossier, *steps: Change) -> Decision:
    """The new view, its steps, then the dossier record again if the portal is to have it."""
    changes = list(steps)
    if view.received:
        changes.append(Change(kind=Kind.DOSSIER, record=view.record()))
    return Decision(dossier=view, changes=tuple(changes))


def _intake(view: PortalDossier, e: intake.DossierRef) -> Decision:
    if isinstance(e, intake.DossierReceived):
        view = view.model_copy(
            update={
                "received": True,
                "procedure_code": e.procedure_code,
                "field_code": e.field_code,
                "channel": e.channel,
                "applicant_kind": e.applicant_kind,
                "receiving_unit": e.receiving_unit,
                "received_at": e.received_at,
                "fees": tuple(e.fees),
            }
        )
        if view.status in (None, NationalStatus.NEW):
            view = view.model_copy(update={"status": NationalStatus.ACCEPTED, "status_at": e.received_at})
        return _dossier(_with_appointment(view, e.appointment_at, e.received_at))
    if not view.received:
        return Decision(dossier=view)  # before receipt the portal has no dossier to update
    if isinstance(e, intake.DossierSupplementRequested):
        if e.before_receipt:
            return Decision(dossier=view)
        supplement = Supplement(requested_at=e.at, previous_appointment_at=appointment_on(view, e.at))
        view = view.model_copy(update={"supplements": (*view.supplements, supplement)})
        return _dossier(_with_status(view, NationalStatus.SUPPLEMENT_REQUESTED, e.at))
    if isinstance(e, intake.DossierSupplemented):
        supplements = list(view.supplements)
        if supplements and supplements[-1].new_appointment_at is None:
            supplements[-1] = supplements[-1].model_copy(update={"new_appointment_at": e.appointment_at})
        view = view.model_copy(update={"supplements": tuple(supplements)})
        return _dossier(_with_appointment(_with_status(view, NationalStatus.PROCESSING, e.at), e.appointment_at, e.at))
    if isinstance(e, intake.DossierWithdrawn):
        return _dossier(_with_status(view, NationalStatus.STOPPED, e.at))
    if isinstance(e, intake.DossierResultReturned):
        view = view.model_copy(update={"returned_at": e.at})
        return _dossier(_with_status(view, NationalStatus.RESULT_RETURNED, e.at))
    return Decision(dossier=view)


def step(
    view: PortalDossier,
    *,
    at: datetime,
    unit: str | None,
    content: str,
    status: NationalStatus,
    actor: str | None = None,
    due_at: datetime | None = None,
) -> Change:
    """A CapNhatTienDoHoSoMC record."""
    return Change(
        kind=Kind.STEP,
        record=_present(
            {
                F.CODE: view.code,
                F.ACTOR: actor,
                F.ACTED_AT: portal_time(at),
                F.DEPARTMENT: unit,
                F.CONTENT: content,
                F.STEP_STATUS: int(status),
                F.STARTED_AT: portal_time(at),
                F.DUE_AT: _time(due_at),
            }
        ),
    )


def _routing(view: PortalDossier, e: routing.JourneyRef) -> Decision:
    status = _portal_status(e.status, view)
    view = _with_status(view, status, e.at)

    def progress(content: str, unit: str | None, **kw: Any) -> Change:
        return step(view, at=e.at, unit=unit, content=content, status=status, **kw)

    if isinstance(e, routing.JourneyStarted):
        return Decision(
            dossier=view,
            changes=(progress("Tiếp nhận hồ sơ, bắt đầu quy trình xử lý", e.receiving_unit, due_at=e.due_at),),
        )
    if isinstance(e, routing.HopRequested):
        content = f"Chuyển hồ sơ từ {e.from_unit} đến {e.to_unit}" + (f": {e.note}" if e.note else "")
        return Decision(dossier=view, changes=(progress(content, e.from_unit, actor=e.actor),))
    if isinstance(e, routing.HopAccepted):
        return Decision(dossier=view, changes=(progress(f"Nhận hồ sơ từ {e.from_unit}", e.to_unit, actor=e.actor),))
    if isinstance(e, routing.HopRejected):
        return Decision(dossier=view, changes=(progress(f"Từ chối nhận hồ sơ: {e.reason}", e.to_unit, actor=e.actor),))
    if isinstance(e, routing.JourneyAssigned):
        return Decision(dossier=view, changes=(progress(f"Phân công xử lý: {e.officer}", e.unit, actor=e.actor),))
    if isinstance(e, routing.StepCompleted):
        content = f"Hoàn thành bước xử lý {e.step_seq} ({e.level})" + (f": {e.note}" if e.note else "")
        return Decision(dossier=view, changes=(progress(content, e.unit, due_at=e.due_at),))
    if isinstance(e, routing.SupplementRequested):
        return Decision(dossier=view, changes=(progress(f"Yêu cầu bổ sung hồ sơ: {e.reason}", e.unit),))
    if isinstance(e, routing.JourneyResumed):
        return Decision(
            dossier=view,
            changes=(progress("Tiếp tục xử lý sau khi bổ sung hồ sơ", e.unit, due_at=e.step_due_at or e.due_at),),
        )
    if isinstance(e, routing.JourneyExtended):
        view = _with_appointment(view, e.appointment_at, e.at)
        return _dossier(
            view,
            step(
                view,
                at=e.at,
                unit=e.unit,
                content=f"Gia hạn giải quyết: {e.reason}",
                status=status,
                due_at=e.appointment_at,
            ),
        )
    if isinstance(e, routing.JourneyProcessed):
        view = view.model_copy(update={"processed_at": e.at})
        if e.outcome is routing.Outcome.APPROVED:
            content = "Có kết quả giải quyết" + (f": {e.result}" if e.result else "")
        else:
            content = "Từ chối giải quyết: " + "; ".join(e.reasons)
        return _dossier(view, step(view, at=e.at, unit=e.unit, content=content, status=status, due_at=e.due_at))
    if isinstance(e, routing.ResultAtDesk):
        return Decision(
            dossier=view, changes=(progress("Kết quả chuyển về bộ phận tiếp nhận và trả kết quả", e.receiving_unit),)
        )
    if isinstance(e, routing.JourneyClosed):
        return Decision(dossier=view, changes=(progress(f"Kết thúc hồ sơ: {e.reason}", view.receiving_unit),))
    return Decision(dossier=view)


def _payment(view: PortalDossier, e: payment.BillEvent) -> Decision:
    if isinstance(e, payment.BillRequested):
        return Decision(
            dossier=view,
            changes=(
                step(
                    view,
                    at=e.at,
                    unit=e.receiving_unit,
                    content=f"Yêu cầu nộp phí, lệ phí: {e.amount} đồng",
                    status=NationalStatus.PAYMENT_REQUESTED,
                ),
            ),
        )
    if isinstance(e, payment.PaymentPaid):
        return Decision(
            dossier=view,
            changes=(
                step(
                    view,
                    at=e.paid_at,
                    unit=e.receiving_unit,
                    content=f"Đã nộp phí, lệ phí: {e.amount} đồng",
                    status=view.status or NationalStatus.PAYMENT_REQUESTED,
                ),
            ),
        )
    return Decision(dossier=view)
