"""Request and response models of intake-svc. Text is NFC-normalised, control characters and mixed scripts are
refused, identifiers are validated (`intake.applicants`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, ValidationInfo, field_validator

from intake import applicants
from intake.domain.dossier import CLOSED as CLOSED  # the dossier's statuses are the domain's, named here too
from intake.domain.dossier import NATIONAL_STATUS as NATIONAL_STATUS
from intake.domain.dossier import TRANSITIONS as TRANSITIONS
from intake.domain.dossier import Status as Status
from intake.domain.dossier import can_move as can_move
from services.clock import VN_TZ
from services.contracts.intake import Channel


def _line(value: str) -> str:
    return applicants.clean_text(value)


def _para(value: str) -> str:
    return applicants.clean_text(value, multiline=True)


def _vn(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).isoformat()


#: Moments are stored in UTC and shown in Asia/Ho_Chi_Minh (the business time zone), the same in every answer.
VnDateTime = Annotated[datetime, PlainSerializer(_vn, return_type=str)]
Line = Annotated[str, AfterValidator(_line)]
Para = Annotated[str, AfterValidator(_para)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z.\-_/]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class ApplicantIn(_In):
    kind: Literal["citizen", "organisation"]
    id_number: str = Field(description="12-digit citizen id (CCCD) or tax code (10 or 13 digits)", max_length=20)
    name: Line = Field(min_length=1, max_length=200)
    phone: str = Field(max_length=20, description="Vietnamese mobile number")
    email: str | None = Field(default=None, max_length=254)
    address: Line = Field(min_length=1, max_length=500)
    account_id: Code | None = Field(default=None, description="public-service account id (tài khoản dịch vụ công)")

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("kind") == "organisation":
            return applicants.tax_code(value)
        return applicants.citizen_id(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return applicants.phone(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else applicants.email(value)


class DocumentIn(_In):
    component_code: Code
    name: Line | None = Field(default=None, max_length=300, description="defaults to the component's name")
    form: Literal["original", "copy", "certified_copy", "electronic"] = "original"
    copies: int = Field(default=1, ge=1, le=20)
    upload_id: str | None = Field(default=None, max_length=36, description="an upload's id (required online)")


class SubmissionIn(_In):
    procedure_code: Code
    receiving_unit: Code | None = Field(default=None, description="agency id; a desk's own unit by default")
    channel: Channel
    applicant: ApplicantIn
    documents: list[DocumentIn] = Field(default_factory=list, max_length=50)
    note: Para | None = Field(default=None, max_length=2000)
    on_incomplete: Literal["reject", "request_supplement"] = Field(
        default="reject",
        description="missing mandatory components: reject the submission (422) or create the dossier and issue "
        "a supplement request (form 02)",
    )
    account_assisted: bool = Field(default=False, description="the desk helped create the account_id just now")


class SupplementRequestIn(_In):
    missing: list[Code] = Field(min_length=1, max_length=50, description="component codes")
    reason: Para = Field(min_length=1, max_length=2000)


class SupplementIn(_In):
    documents: list[DocumentIn] = Field(min_length=1, max_length=50)


class RefuseIn(_In):
    reasons: list[Para] = Field(min_length=1, max_length=20)


class WithdrawIn(_In):
    reason: Para = Field(min_length=1, max_length=2000)


class ReturnResultIn(_In):
    channel: Channel = Channel.IN_PERSON


class AssistedAccountIn(_In):
    account_id: Code
    dossier_id: str | None = Field(default=None, max_length=36)


class MissingOut(BaseModel):
    code: str
    name: str


class DocumentOut(BaseModel):
    component_code: str
    name: str
    form: str
    copies: int
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None


class ApplicantOut(BaseModel):
    kind: str
    id_number: str
    name: str
    phone: str
    email: str | None
    address: str
    account_id: str | None


class StepOut(BaseModel):
    at: VnDateTime
    action: str
    status: str
    unit: str | None = None
    note: str | None = None


class DossierOut(BaseModel):
    id: str
    code: str
    status: Status
    national_status: int
    channel: Channel
    receiving_unit: str
    procedure_code: str
    procedure_version: int
    procedure_name: str
    field_code: str
    applicant: ApplicantOut
    documents: list[DocumentOut]
    submitted_at: VnDateTime
    received_at: VnDateTime | None
    appointment_at: VnDateTime | None
    processing_time: int
    processing_unit: str
    missing: list[MissingOut]
    supplement_reason: str | None
    refusal_reasons: list[str]
    fees: list[dict[str, object]]
    note: str | None
    closed_at: VnDateTime | None
    forms: dict[str, str] = Field(description="printable forms of this dossier (HTML)")


class DossierSummary(BaseModel):
    id: str
    code: str
    status: Status
    national_status: int
    channel: Channel
    receiving_unit: str
    procedure_code: str
    procedure_name: str
    applicant_name: str
    submitted_at: VnDateTime
    received_at: VnDateTime | None
    appointment_at: VnDateTime | None


class DossierPage(BaseModel):
    items: list[DossierSummary]
    total: int
    page: int
    page_size: int


class TrackingOut(BaseModel):
    """What anyone holding the code and the second factor may see: no personal data."""

    code: str
    status: Status
    national_status: int
    procedure_code: str
    procedure_name: str
    receiving_unit: str
    submitted_at: VnDateTime
    received_at: VnDateTime | None
    appointment_at: VnDateTime | None
    missing: list[MissingOut]
    steps: list[StepOut]


class UploadOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str


class ListFilter(BaseModel):
    unit: str | None = None
    status: Status | None = None
    channel: Channel | None = None
    procedure_code: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    code: str | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)  # the offset stays a 64-bit integer for the database
    page_size: int = Field(default=50, ge=1, le=200)
