"""Events of catalogue-svc: procedures, administrative units and the working-day calendar.

Topics (all compacted, so a late consumer rebuilds its replica from them alone, see `services.catalogue_replica`):

- `catalogue.procedures`, key = procedure code (``1.001234``). Every event carries the FULL state of the
  procedure: all its versions (they are immutable, so a replica can answer "the version in force at T" for any T
  after compaction) and the current per-unit configuration (which units accept it, at which online level).
  Types: `ProcedurePublished` (a new / amended / replaced version), `ProcedureAbolished` (an abolition decision,
  itself a version that stays readable and accepts no dossiers), `ProcedureUnitsConfigured` (per-unit config).
  They share one shape (`ProcedureSnapshot`): a consumer may handle all three with one upsert.
- `catalogue.units`, key = agency id (``000.00.31.H57``): `UnitChanged` with the full state of the unit.
- `catalogue.calendar`, key = the year (``"2025"``): `CalendarYearChanged` with every extra day off and make-up
  working day of that year (the administrator's table on top of `holidays.Vietnam`).

`revision` grows with every change of an aggregate; a consumer ignores an event whose revision is not newer than
what it holds. Dates are business dates in Asia/Ho_Chi_Minh; money is integer VND; text is NFC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.events import EventPayload, event_type

#: Bounds that keep a published version computable downstream: appointment dates (a date stays within year 9999,
#: intake stores the time as a 32-bit integer) and bills (a VietQR amount has at most 13 digits).
MAX_PROCESSING_DAYS = 3650
MAX_FEE = 10**12


class ProcessingUnit(StrEnum):
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    ON_THE_SPOT = "on_the_spot"  # trả ngay / within the day: processing_time is 0


class OnlineLevel(StrEnum):
    NONE = "none"
    PARTIAL = "partial"  # dịch vụ công trực tuyến một phần
    FULL = "full"  # toàn trình


class DecisionKind(StrEnum):
    NEW = "new"  # công bố mới
    AMENDED = "amended"  # sửa đổi, bổ sung
    REPLACED = "replaced"  # thay thế
    ABOLISHED = "abolished"  # bãi bỏ


class VersionStatus(StrEnum):
    ACTIVE = "active"
    ABOLISHED = "abolished"


class UnitKind(StrEnum):
    ADMINISTRATIVE = "administrative"  # a People's Committee: province, city/district, ward/commune
    AGENCY = "agency"  # a department or office inside one (Sở, Phòng, Trung tâm hành chính công …)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeeItem(_Part):
    """A fee (phí) or charge (lệ phí) item."""

    code: str
    name: str
    kind: Literal["fee", "charge"] = "charge"
    amount: int = Field(ge=0, le=MAX_FEE, description="integer VND")
    note: str | None = None


class Component(_Part):
    """A dossier component (thành phần hồ sơ)."""

    code: str
    name: str
    form: str | None = Field(default=None, description="name of the form (mẫu đơn, tờ khai), if any")
    originals: int = Field(default=1, ge=0)
    copies: int = Field(default=0, ge=0)
    mandatory: bool = True
    condition: str | None = Field(default=None, description="when a conditional component is required")


class RouteStep(_Part):
    """One hop of an inter-level (liên thông) procedure; the shares of all steps add up to 100."""

    order: int = Field(ge=1)
    level: str = Field(description="level code of the unit doing this step: commune, district, province")
    agency_id: str | None = Field(default=None, description="a fixed agency, or None for the receiving unit's own")
    task: str = ""
    share_percent: int = Field(ge=0, le=100, description="share of the processing time, in percent")


class LegalBasis(_Part):
    number: str
    title: str


class Decision(_Part):
    """The publication decision (quyết định công bố) that created a version."""

    kind: DecisionKind
    number: str
    signed_on: date
    effective_from: date
    agency_id: str | None = Field(default=None, description="publishing agency (MACOQUANCONGBO)")


class ProcedureContent(_Part):
    """What a version says; never edited once published."""

    name: str
    field_code: str
    field_name: str
    levels: list[str] = Field(description="implementing levels: province, district, commune")
    competent_agency: str = Field(description="name of the competent agency (cơ quan thực hiện)")
    applicant_types: list[str] = Field(default_factory=list)
    processing_time: int = Field(ge=0, le=MAX_PROCESSING_DAYS, description="in `processing_unit`; 0 for on the spot")
    processing_unit: ProcessingUnit = ProcessingUnit.WORKING_DAYS
    processing_note: str | None = None
    fees: list[FeeItem] = Field(default_factory=list)
    components: list[Component] = Field(default_factory=list)
    result: str = ""
    conditions: str | None = None
    legal_basis: list[LegalBasis] = Field(default_factory=list)
    online_level: OnlineLevel = OnlineLevel.NONE
    legacy_online_level: int | None = Field(default=None, ge=1, le=4, description="level 2/3/4 before Decree 42/2022")
    postal: bool = False
    route: list[RouteStep] = Field(default_factory=list, description="empty unless inter-level")
    demo: bool = Field(default=False, description="demo data, not an official record")

    @property
    def inter_level(self) -> bool:
        return len(self.route) > 1


class ProcedureVersion(_Part):
    code: str
    version: int = Field(ge=1)
    effective_from: date
    effective_to: date | None = Field(default=None, description="exclusive; the next version's effective_from")
    status: VersionStatus
    decision: Decision
    content: ProcedureContent

    @property
    def accepts_dossiers(self) -> bool:
        return self.status is VersionStatus.ACTIVE

    def in_force_on(self, day: date) -> bool:
        """In force from `effective_from` until the next version's (exclusive). `catalogue_sql.in_force_on` is the
        same rule in a query."""
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


def version_in_force(versions: Iterable[ProcedureVersion], day: date) -> ProcedureVersion | None:
    """The version of a procedure in force on `day` (None before its first one; an abolition is a version too)."""
    return next((v for v in versions if v.in_force_on(day)), None)


class UnitOffering(_Part):
    """A unit that receives dossiers of the procedure, and how."""

    agency_id: str
    online_level: OnlineLevel = OnlineLevel.NONE
    postal: bool = False


class ProcedureSnapshot(EventPayload):
    """The full current state of one procedure (shape shared by the three procedure events)."""

    code: str
    revision: int = Field(ge=1)
    versions: list[ProcedureVersion] = Field(description="every version, oldest first")
    units: list[UnitOffering] = Field(default_factory=list)

    def in_force(self, day: date) -> ProcedureVersion | None:
        for v in reversed(self.versions):
            if v.effective_from <= day:
                return v
        return None


@event_type("catalogue.procedure.published", version=1)
class ProcedurePublished(ProcedureSnapshot):
    """A decision published a new, amended or replacing version (possibly effective in the future)."""


@event_type("catalogue.procedure.abolished", version=1)
class ProcedureAbolished(ProcedureSnapshot):
    """A decision abolished the procedure from its effective date; the last version is the abolition."""


@event_type("catalogue.procedure.units_configured", version=1)
class ProcedureUnitsConfigured(ProcedureSnapshot):
    """The set of receiving units or their online levels changed."""


PROCEDURE_EVENTS: tuple[type[ProcedureSnapshot], ...] = (
    ProcedurePublished,
    ProcedureAbolished,
    ProcedureUnitsConfigured,
)


@event_type("catalogue.unit.changed", version=1)
class UnitChanged(EventPayload):
    """Full state of an administrative unit or agency. A merged unit gets `valid_to` and `successor_id` and stays."""

    agency_id: str = Field(description="V1V2V3.Z1Z2.Y1Y2.MX1X2, e.g. 000.00.31.H57")
    revision: int = Field(ge=1)
    name: str
    kind: UnitKind
    level: str = Field(description="level code (data, not an enum): province, district, commune …")
    level_rank: int = Field(ge=1, description="1 = highest (province)")
    parent_id: str | None = None
    valid_from: date
    valid_to: date | None = Field(default=None, description="exclusive")
    successor_id: str | None = None
    predecessor_ids: list[str] = Field(default_factory=list)
    demo: bool = False

    def valid_on(self, day: date) -> bool:
        """Open from `valid_from` until it closes (`valid_to`, exclusive: the day a merger takes effect).
        `catalogue_sql.valid_on` is the same rule in a query."""
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


class CalendarDay(_Part):
    day: date
    kind: Literal["off", "work"]
    note: str = ""


@event_type("catalogue.calendar.changed", version=1)
class CalendarYearChanged(EventPayload):
    """Every extra day off and make-up working day of one year (replaces what a consumer held for that year)."""

    year: int = Field(ge=1900, le=2999)
    revision: int = Field(ge=1)
    days: list[CalendarDay] = Field(default_factory=list)
