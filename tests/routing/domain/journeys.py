"""Journeys made by the rules alone, for the pure tests: a fixed calendar, the Huế units, a run of decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from routing.domain import rules
from routing.domain.model import Action, Actor, Decision, Journey, PlannedStep, Route

from services.calendar import WorkingCalendar
from services.contracts.catalogue import UnitChanged, UnitKind
from services.contracts.intake import Channel, DossierReceived
from services.events import EventPayload
from services.identity import Role

CAL = WorkingCalendar()
#: Monday 2 March 2026, 09:00 in Huế (no holiday for weeks around it)
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

PROVINCE_JUSTICE = "000.00.10.H57"
CITY_JUSTICE = "000.10.31.H57"
CITY_LABOUR = "000.12.31.H57"
WARD = "000.01.31.H57"
WARD_B = "000.02.31.H57"

INTER3 = Route(
    steps=(
        PlannedStep(1, "commune", WARD, 20),
        PlannedStep(2, "district", CITY_JUSTICE, 30),
        PlannedStep(3, "province", PROVINCE_JUSTICE, 50),
    ),
    inter_level=True,
)
#: the first step at another unit than the desk: the journey starts with a hop
FROM_CITY = Route(
    steps=(PlannedStep(1, "district", CITY_JUSTICE, 50), PlannedStep(2, "province", PROVINCE_JUSTICE, 50)),
    inter_level=True,
)
#: two steps at the desk's own unit: the second starts when the first is done, without a hop
AT_HOME = Route(steps=(PlannedStep(1, "commune", WARD, 50), PlannedStep(2, "commune", WARD, 50)), inter_level=True)
SIMPLE = Route(steps=(PlannedStep(1, "commune", WARD, 100),), inter_level=False)


def received(*, days: int = 10, at: datetime = T0, unit: str = WARD) -> DossierReceived:
    return DossierReceived(
        dossier_id="d-1",
        code=f"{unit}-260302-0001",
        procedure_code="1.000001",
        procedure_version=1,
        field_code="G03-TP01",
        receiving_unit=unit,
        channel=Channel.IN_PERSON,
        applicant_kind="citizen",
        received_at=at,
        appointment_at=CAL.add_working_days(at, days),
    )


def staff(unit: str, role: Role = Role.SPECIALIST) -> Actor:
    return Actor(subject=f"officer@{unit}", role=role.value, unit=unit)


@dataclass
class Run:
    """A journey carried through decisions as the shell would: hops numbered 1, 2, … as the database would."""

    journey: Journey
    actions: list[Action] = field(default_factory=list)
    events: list[EventPayload] = field(default_factory=list)
    last: Decision | None = None

    @classmethod
    def start(
        cls, route: Route = INTER3, *, days: int = 10, at: datetime = T0, first_unit: UnitChanged | None = None
    ) -> Run:
        decision = rules.start(received(days=days, at=at), route, first_unit, CAL)
        run = cls(journey=decision.journey)
        run.apply(decision)
        return run

    def apply(self, decision: Decision | None) -> Decision | None:
        if decision is None:
            return None
        if decision.hop is not None:
            decision = rules.hop_sent(decision, len(self.journey.hops or ()) + 1)
        self.journey = decision.journey
        self.actions += decision.actions
        self.events += decision.events
        self.last = decision
        return decision

    @property
    def event_types(self) -> list[str]:
        """`routing.hop.requested`, … in the order announced."""
        return [type(e).event_type.removeprefix("vn.motcua.").rsplit(".v", 1)[0] for e in self.events]

    @property
    def hop(self) -> int:
        assert self.journey.pending_hop_id is not None
        return self.journey.pending_hop_id


def later(days: float) -> datetime:
    return T0 + timedelta(days=days)


def unit(agency_id: str, level: str, *, merged_into: str | None = None) -> UnitChanged:
    """A unit as the catalogue replica holds it; `merged_into`: closed since 2020, its successor named."""
    return UnitChanged(
        agency_id=agency_id,
        revision=1,
        name=f"Đơn vị {agency_id}",
        kind=UnitKind.AGENCY,
        level=level,
        level_rank={"province": 1, "district": 2, "commune": 3}[level],
        parent_id=None,
        valid_from=date(2015, 1, 1),
        valid_to=date(2020, 1, 1) if merged_into else None,
        successor_id=merged_into,
    )
