"""Events of routing-svc (topic `routing.journeys`, keyed by dossier id).

A dossier's journey is one aggregate, whatever the number of hops: every event carries the dossier id and code of
the dossier that intake received, and routing never announces a dossier as "received" again, so an inter-level
dossier counts once downstream (stats count hops and steps from these events, dossiers from intake's).

Statuses follow the national portal's dossier status codes (`NationalStatus`). No personal data travels here.
Compatible changes (a new optional field) keep the version; anything else is a new version of the type.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum, StrEnum

from pydantic import AwareDatetime, Field

from services.events import EventPayload, event_type


class NationalStatus(IntEnum):
    """Dossier status codes of the national public service portal."""

    NEW = 1
    ACCEPTED = 2
    REJECTED = 3
    PROCESSING = 4
    SUPPLEMENT_REQUESTED = 5
    PAYMENT_REQUESTED = 6
    WITHDRAWAL_REQUESTED = 7
    STOPPED = 8
    PROCESSED = 9
    RESULT_RETURNED = 10


class SlaState(StrEnum):
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


class Outcome(StrEnum):
    """How processing ended: a result was issued, or the competent agency refused (with reasons)."""

    APPROVED = "approved"
    REFUSED = "refused"


class HopKind(StrEnum):
    FORWARD = "forward"  # towards the next step of the route (or a re-route)
    RETURN = "return"  # the result travelling back to the receiving desk


class JourneyRef(EventPayload):
    dossier_id: str
    code: str = Field(description="mã hồ sơ of the dossier (one dossier, however many hops)")
    at: AwareDatetime
    status: NationalStatus


class RouteStep(EventPayload):
    seq: int = Field(ge=1)
    level: str = Field(description="level of government as data: ward, commune, city, province, …")
    unit: str = Field(description="agency id of the unit that processes this step")
    working_days: int = Field(ge=0)
    due_at: AwareDatetime


@event_type("routing.journey.started", version=1)
class JourneyStarted(JourneyRef):
    """The journey of a received dossier exists; the first hop (desk → first step) is requested or started."""

    procedure_code: str
    procedure_version: int
    field_code: str
    receiving_unit: str
    inter_level: bool
    steps: list[RouteStep]
    due_at: AwareDatetime = Field(description="overall due moment (the appointment date)")


class HopEvent(JourneyRef):
    hop_id: int
    kind: HopKind
    from_unit: str
    to_unit: str
    step_seq: int | None = Field(default=None, description="the route step the hop leads into (forward hops)")
    actor: str
    actor_unit: str | None = None


@event_type("routing.hop.requested", version=1)
class HopRequested(HopEvent):
    note: str | None = None


@event_type("routing.hop.accepted", version=1)
class HopAccepted(HopEvent):
    pass


@event_type("routing.hop.rejected", version=1)
class HopRejected(HopEvent):
    reason: str


@event_type("routing.journey.assigned", version=1)
class JourneyAssigned(JourneyRef):
    unit: str
    officer: str
    actor: str


@event_type("routing.step.completed", version=1)
class StepCompleted(JourneyRef):
    step_seq: int
    level: str
    unit: str
    due_at: AwareDatetime
    late: bool
    note: str | None = None


@event_type("routing.journey.supplement_requested", version=1)
class SupplementRequested(JourneyRef):
    """The processing unit needs more from the applicant; the desk tells them (form 02). The clock stops."""

    unit: str
    receiving_unit: str
    missing: list[str]
    reason: str


@event_type("routing.journey.resumed", version=1)
class JourneyResumed(JourneyRef):
    """The applicant supplemented; the processing time restarted from zero (Decree 61), due dates counted again."""

    unit: str
    paused_working_days: int
    due_at: AwareDatetime
    step_due_at: AwareDatetime | None = None


@event_type("routing.journey.extended", version=1)
class JourneyExtended(JourneyRef):
    """Form 04 (apology and new date) was issued: intake moves the appointment date. Once per dossier."""

    unit: str
    reason: str
    previous_appointment_at: AwareDatetime
    appointment_at: AwareDatetime
    appointment_date: date


class DeadlineFlag(JourneyRef):
    scope: str = Field(description="dossier (overall due date) | step (the holder's current step)")
    unit: str = Field(description="the unit holding the dossier")
    step_seq: int | None = None
    due_at: AwareDatetime


@event_type("routing.journey.due_soon", version=1)
class JourneyDueSoon(DeadlineFlag):
    pass


@event_type("routing.journey.overdue", version=1)
class JourneyOverdue(DeadlineFlag):
    pass


@event_type("routing.journey.processed", version=1)
class JourneyProcessed(JourneyRef):
    """Processing ended at the last competent unit: a result is ready (approved) or the dossier was refused."""

    unit: str
    outcome: Outcome
    result: str | None = None
    reasons: list[str] = Field(default_factory=list)
    due_at: AwareDatetime
    late: bool


@event_type("routing.journey.result_at_desk", version=1)
class ResultAtDesk(JourneyRef):
    """The result travelled back and the receiving desk holds it, ready to hand over (intake returns it)."""

    receiving_unit: str
    outcome: Outcome


@event_type("routing.journey.closed", version=1)
class JourneyClosed(JourneyRef):
    """The journey ended: result returned to the applicant, or the dossier was withdrawn / refused at intake."""

    reason: str
