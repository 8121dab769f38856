"""Request and response models of the catalogue API. All text is NFC-normalised on the way in."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.contracts.catalogue import (
    CalendarDay,
    DecisionKind,
    ProcedureContent,
    ProcedureVersion,
    UnitKind,
    UnitOffering,
)
from services.text import NFCStr, nfc_deep

AGENCY_ID_PATTERN = r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$"
CODE_PATTERN = r"^\d\.\d{6}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _nfc(cls, data: Any) -> Any:
        return nfc_deep(data)


class FieldIn(_In):
    code: NFCStr = Field(min_length=1, max_length=40)
    name: NFCStr = Field(min_length=1, max_length=300)


class FieldOut(BaseModel):
    code: str
    name: str


class DecisionIn(_In):
    """A publication decision. `content` is required for new / amended / replaced, ignored for abolished."""

    kind: DecisionKind
    number: NFCStr = Field(min_length=1, max_length=100, description="e.g. 1234/QĐ-UBND")
    signed_on: date
    effective_from: date
    agency_id: str | None = Field(default=None, pattern=AGENCY_ID_PATTERN)
    content: ProcedureContent | None = None
    units: list[UnitOffering] | None = Field(default=None, description="receiving units (replaces the current set)")

    @model_validator(mode="after")
    def _content_needed(self) -> DecisionIn:
        if self.kind is not DecisionKind.ABOLISHED and self.content is None:
            raise ValueError(f"a {self.kind.value} decision needs the procedure content")
        if self.signed_on > self.effective_from:
            raise ValueError("a decision cannot take effect before it is signed")
        return self


class UnitsIn(_In):
    units: list[UnitOffering]


class UnitIn(_In):
    agency_id: str = Field(pattern=AGENCY_ID_PATTERN, description="V1V2V3.Z1Z2.Y1Y2.MX1X2")
    name: NFCStr = Field(min_length=1, max_length=300)
    kind: UnitKind
    level: NFCStr = Field(min_length=1, max_length=30)
    level_rank: int = Field(ge=1, le=9)
    parent_id: str | None = Field(default=None, pattern=AGENCY_ID_PATTERN)
    valid_from: date
    demo: bool = False


class MergeIn(_In):
    """Merge `sources` into `into` (an existing unit id) or into a new unit `new_unit`, from `effective_from`."""

    sources: list[str] = Field(min_length=1)
    into: str | None = Field(default=None, pattern=AGENCY_ID_PATTERN)
    new_unit: UnitIn | None = None
    effective_from: date

    @model_validator(mode="after")
    def _one_target(self) -> MergeIn:
        if (self.into is None) == (self.new_unit is None):
            raise ValueError("give exactly one of `into` (existing unit) or `new_unit`")
        return self


class CalendarYearIn(_In):
    days: list[CalendarDay]


class CalendarYearOut(BaseModel):
    year: int
    revision: int
    days: list[CalendarDay]
    days_off: list[date] = Field(description="every non-working weekday and holiday of the year, after the rules")
    working_weekend_days: list[date] = Field(description="weekend days worked (make-up days)")


class DeadlineOut(BaseModel):
    received_at: str
    start_day: date
    due_at: str


class SearchHit(BaseModel):
    code: str
    name: str
    field_code: str
    field_name: str
    levels: list[str]
    online_level: str
    inter_level: bool
    status: str
    version: int
    score: float


class SearchPage(BaseModel):
    total: int
    page: int
    size: int
    items: list[SearchHit]


class ListingOut(BaseModel):
    agency_id: str
    unit_name: str
    on: date
    total: int
    by_field: dict[str, int]
    by_level: dict[str, int]
    by_online_level: dict[str, int]
    items: list[SearchHit]


class ProcedureOut(BaseModel):
    code: str
    revision: int
    status: str
    in_force: ProcedureVersion | None
    versions: list[ProcedureVersion]
    units: list[UnitOffering]


class ImportRowReport(BaseModel):
    row: int
    code: str | None
    outcome: Literal["created", "amended", "unchanged", "rejected"]
    errors: list[str] = Field(default_factory=list)


class ImportReport(BaseModel):
    id: str
    source_name: str
    format: str
    total: int
    created: int
    amended: int
    unchanged: int
    rejected: int
    rows: list[ImportRowReport]
