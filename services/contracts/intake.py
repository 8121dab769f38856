"""Events of intake-svc (topic `intake.dossiers`, keyed by dossier id).

They carry what routing, payment and stats need and no personal data: no citizen id, phone, email or address.
Compatible changes (a new optional field) keep the version; anything else is a new version of the type.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, Field

from services.events import EventPayload, event_type


class Channel(StrEnum):
    IN_PERSON = "in_person"
    POSTAL = "postal"
    ONLINE = "online"


class FeeItem(EventPayload):
    code: str
    name: str
    amount: int = Field(ge=0, description="integer VND")


class DossierRef(EventPayload):
    dossier_id: str
    code: str = Field(description="mã hồ sơ, e.g. 000.00.31.H57-200916-0001")


@event_type("intake.dossier.received", version=1)
class DossierReceived(DossierRef):
    """Complete at the desk or online: receipt (form 01) issued, the clock runs."""

    procedure_code: str
    procedure_version: int
    field_code: str
    receiving_unit: str = Field(description="agency id of the receiving unit")
    channel: Channel
    applicant_kind: str = Field(description="citizen | organisation")
    received_at: AwareDatetime
    appointment_at: AwareDatetime
    fees: list[FeeItem] = Field(default_factory=list)
    submitted_at: AwareDatetime | None = Field(
        default=None, description="when it was handed in; earlier than received_at if a supplement came first"
    )
    processing_time: int | None = Field(default=None, description="of the procedure version, in processing_unit")
    processing_unit: str | None = Field(default=None, description="working_days | calendar_days | on_the_spot")
    owner_ref: str | None = Field(
        default=None,
        pattern="^[0-9a-f]{64}$",
        description="the applicant, pseudonymous: HMAC-SHA256 of their id number keyed with MOTCUA_OWNER_REF_SECRET "
        "(services.policy.owner_ref); payment-svc checks the citizen the portal acts for against it",
    )


@event_type("intake.dossier.supplement_requested", version=1)
class DossierSupplementRequested(DossierRef):
    """Form 02: the clock stops until the applicant completes the dossier."""

    at: AwareDatetime
    missing: list[str] = Field(description="codes of the missing or deficient components")
    reason: str
    before_receipt: bool = Field(
        default=False, description="asked at submission (not yet received): completion yields DossierReceived"
    )
    receiving_unit: str | None = None
    procedure_code: str | None = None
    channel: Channel | None = None


@event_type("intake.dossier.supplemented", version=1)
class DossierSupplemented(DossierRef):
    """The dossier is complete again; the processing time restarts from zero."""

    at: AwareDatetime
    appointment_at: AwareDatetime


@event_type("intake.dossier.refused", version=1)
class DossierRefused(DossierRef):
    """Form 03: not accepted. Bills of the dossier are cancelled."""

    at: AwareDatetime
    receiving_unit: str
    reasons: list[str]


@event_type("intake.dossier.withdrawn", version=1)
class DossierWithdrawn(DossierRef):
    at: AwareDatetime
    reason: str
    receiving_unit: str | None = None


@event_type("intake.dossier.result_returned", version=1)
class DossierResultReturned(DossierRef):
    """Trả kết quả: the result was handed over (desk or online); the dossier is closed."""

    at: AwareDatetime
    channel: Channel
    receiving_unit: str | None = None


@event_type("intake.account.assisted", version=1)
class AccountAssisted(EventPayload):
    """A desk helped an applicant create a public-service account (the seed counts 1,395 in a quarter)."""

    unit: str
    at: AwareDatetime
    dossier_id: str | None = Field(default=None, description="the dossier filed with the new account, if any")
