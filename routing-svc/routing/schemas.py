"""Request and response models of routing-svc (validated at the edge; text NFC-normalised)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from services.text import NFCStr

Text = Annotated[NFCStr, StringConstraints(min_length=1, max_length=2000)]
#: every moment in responses is given in UTC, whatever the backend returned
Moment = Annotated[datetime, AfterValidator(lambda v: v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC))]
UnitId = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z.]{3,40}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransferIn(_In):
    to_unit: UnitId | None = Field(default=None, description="default: the unit of the next route step")
    note: Text | None = None


class RejectIn(_In):
    reason: Text


class AssignIn(_In):
    officer: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    note: Text | None = None


class CompleteIn(_In):
    result: Text | None = Field(default=None, description="required at the last step: the result issued")
    note: Text | None = None


class RefuseIn(_In):
    reasons: list[Text] = Field(min_length=1)
    note: Text | None = None


class SupplementIn(_In):
    missing: list[Annotated[NFCStr, StringConstraints(min_length=1, max_length=200)]] = Field(min_length=1)
    reason: Text


class ResumeIn(_In):
    note: Text | None = None


class ExtendIn(_In):
    new_date: date = Field(description="the new appointment date (a working day after the current due date)")
    reason: Text


class ReturnIn(_In):
    note: Text | None = None


class StepOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    level: str
    unit: str
    working_days: int
    state: str
    due_at: Moment
    started_at: Moment | None
    completed_at: Moment | None
    late: bool | None


class HopOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: str
    from_unit: str
    to_unit: str
    step_seq: int | None
    state: str
    requested_at: Moment
    requested_by: str
    decided_at: Moment | None
    decided_by: str | None
    note: str | None
    reason: str | None


class ActionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    at: Moment
    action: str
    actor: str
    role: str
    unit: str | None
    note: str | None
    data: dict[str, Any]


class JourneySummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    dossier_id: str
    code: str
    procedure_code: str
    field_code: str
    receiving_unit: str
    status: int
    status_label: str = ""
    phase: str
    holder_unit: str
    pending_unit: str | None
    pending_hop_id: int | None
    officer: str | None
    current_step: int | None
    due_at: Moment
    step_due_at: Moment
    sla_state: str
    step_sla_state: str


class JourneyOut(JourneySummary):
    inter_level: bool
    procedure_version: int
    channel: str
    received_at: Moment
    original_due_at: Moment
    paused_at: Moment | None
    paused_working_days: int
    extended: bool = False
    outcome: str | None
    result: str | None
    processed_at: Moment | None
    closed_at: Moment | None
    steps: list[StepOut] = []
    hops: list[HopOut] = []


class WorklistPage(BaseModel):
    unit: str
    view: str
    items: list[JourneySummary]
    next_cursor: str | None = Field(description="pass as `after` to get the next page")
