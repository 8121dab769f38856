"""A dossier's state, the table of its statuses, and what every command and every consumed event does to it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from intake.domain import access
from services.calendar import WorkingCalendar
from services.contracts.catalogue import Component, ProcessingUnit
from services.contracts.intake import (
    Channel,
    DossierReceived,
    DossierRefused,
    DossierResultReturned,
    DossierSupplemented,
    DossierSupplementRequested,
    DossierWithdrawn,
    FeeItem,
)
from services.errors import Conflict, Problem
from services.events import EventPayload
from services.identity import Identity


class Status(StrEnum):
    SUPPLEMENT_REQUESTED = "supplement_requested"
    RECEIVED = "received"
    PROCESSING = "processing"
    PROCESSED = "processed"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    RESULT_RETURNED = "result_returned"


CLOSED = frozenset({Status.REFUSED, Status.WITHDRAWN, Status.RESULT_RETURNED})

#: Where a dossier's status may go next (besides staying); the closed ones go nowhere. A routing event that would
#: move it elsewhere (a late or crossed one) is recorded in the history without moving the status.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.SUPPLEMENT_REQUESTED: frozenset({Status.RECEIVED, Status.PROCESSING, Status.REFUSED, Status.WITHDRAWN}),
    Status.RECEIVED: frozenset({Status.PROCESSING, Status.SUPPLEMENT_REQUESTED, Status.REFUSED, Status.WITHDRAWN}),
    Status.PROCESSING: frozenset({Status.SUPPLEMENT_REQUESTED, Status.PROCESSED, Status.WITHDRAWN}),
    Status.PROCESSED: frozenset({Status.RESULT_RETURNED, Status.WITHDRAWN}),
    Status.REFUSED: frozenset(),
    Status.WITHDRAWN: frozenset(),
    Status.RESULT_RETURNED: frozenset(),
}


def can_move(current: str, new: Status) -> bool:
    return new == current or new in TRANSITIONS[Status(current)]


#: The national portal's dossier status codes.
NATIONAL_STATUS = {
    Status.RECEIVED: 2,
    Status.REFUSED: 3,
    Status.PROCESSING: 4,
    Status.SUPPLEMENT_REQUESTED: 5,
    Status.WITHDRAWN: 8,
    Status.PROCESSED: 9,
    Status.RESULT_RETURNED: 10,
}


@dataclass(frozen=True, slots=True)
class Missing:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Fee:
    code: str
    name: str
    amount: int


@dataclass(frozen=True, slots=True)
class Dossier:
    """Everything intake keeps of a dossier (one row of the `dossier` table)."""

    id: str
    code: str
    receiving_unit: str
    business_date: date
    seq: int
    channel: Channel
    status: Status
    procedure_code: str
    procedure_version: int
    procedure_name: str
    field_code: str
    applicant_kind: str
    applicant_id_number: str
    applicant_name: str
    phone: str
    email: str | None
    address: str
    account_id: str | None
    submitted_at: datetime
    #: When the dossier was received complete (form 01); None while a supplement is awaited before receipt.
    received_at: datetime | None
    #: When the processing clock last (re)started: receipt, or the completion of a supplement.
    clock_started_at: datetime | None
    appointment_at: datetime | None
    processing_amount: int
    processing_unit: str
    missing: tuple[Missing, ...]
    supplement_reason: str | None
    refusal_reasons: tuple[str, ...]
    fees: tuple[Fee, ...]
    note: str | None
    closed_at: datetime | None
    #: When routing started the dossier's journey (`JourneyStarted`): from then on it is processed elsewhere.
    handed_over_at: datetime | None
    #: When the result (or the refusal) reached the receiving desk: routing's `ResultAtDesk`, or `JourneyProcessed`
    #: by the receiving unit itself. Only then can the desk return it.
    result_at_desk_at: datetime | None
    extended: bool
    created_by: str
    updated_at: datetime

    @property
    def closed(self) -> bool:
        return self.status in CLOSED


@dataclass(frozen=True, slots=True)
class Step:
    """A line of the dossier's history, as the applicant sees it (no personal data)."""

    at: datetime
    action: str
    status: Status
    unit: str | None
    actor: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What a command or a consumed event does: the dossier's new state, the history step, and the event to emit on
    `intake.dossiers` (keyed by the dossier id; the step records its id, or that of the consumed event)."""

    dossier: Dossier
    step: Step
    event: EventPayload | None = None


# -- time ---------------------------------------------------------------------------------------------------------


def appointment(cal: WorkingCalendar, start: datetime, amount: int, unit: str) -> datetime:
    """The appointment (due) moment for a processing time counted from `start` (receipt or completion): the day of
    `start` is not counted; after office hours or on a day off the clock starts on the next working day."""
    kind = ProcessingUnit(unit)
    if kind is ProcessingUnit.ON_THE_SPOT:
        return cal.add_working_days(start, 0)
    if kind is ProcessingUnit.CALENDAR_DAYS:
        return cal.add_calendar_days(start, amount)
    return cal.add_working_days(start, amount)


# -- commands -----------------------------------------------------------------------------------------------------


def require_open(d: Dossier, action: str) -> None:
    if d.closed:
        raise Conflict(
            f"Dossier {d.code} is closed ({d.status}); it cannot be {action}.",
            code="dossier-closed",
            dossier_status=d.status.value,
        )


def _desk_step(d: Dossier, at: datetime, action: str, who: Identity, note: str | None = None) -> Step:
    return Step(at=at, action=action, status=d.status, unit=d.receiving_unit, actor=who.subject, note=note)


def received_event(d: Dossier, owner_ref: str) -> DossierReceived:
    assert d.received_at is not None and d.appointment_at is not None
    return DossierReceived(
        dossier_id=d.id,
        code=d.code,
        procedure_code=d.procedure_code,
        procedure_version=d.procedure_version,
        field_code=d.field_code,
        receiving_unit=d.receiving_unit,
        channel=d.channel,
        applicant_kind=d.applicant_kind,
        received_at=d.received_at,
        appointment_at=d.appointment_at,
        fees=[FeeItem(code=f.code, name=f.name, amount=f.amount) for f in d.fees],
        submitted_at=d.submitted_at,
        processing_time=d.processing_amount,
        processing_unit=d.processing_unit,
        owner_ref=owner_ref,
    )


def check_request_supplement(who: Identity, d: Dossier) -> None:
    """Whether the desk may send the dossier back for a supplement (before the version's components are read)."""
    access.check_desk(who, d)
    require_open(d, "sent back for a supplement")
    if d.status is not Status.RECEIVED:
        raise Conflict(f"Dossier {d.code} is {d.status}; only a received dossier can be sent back.", code="wrong-state")


def request_supplement(
    d: Dossier, who: Identity, components: Sequence[Component], missing: Sequence[str], reason: str, now: datetime
) -> Decision:
    """Form 02 after receipt: the clock stops; it restarts from zero when the dossier is complete."""
    check_request_supplement(who, d)
    by_code = {c.code: c for c in components}
    unknown = [i for i, code in enumerate(missing) if code not in by_code]
    if unknown:
        raise Problem(
            422,
            "Unknown component codes.",
            code="unknown-components",
            errors=[{"loc": ["body", "missing", i], "msg": f"not a component of {d.procedure_code}"} for i in unknown],
        )
    new = replace(
        d,
        status=Status.SUPPLEMENT_REQUESTED,
        missing=tuple(Missing(c, by_code[c].name) for c in dict.fromkeys(missing)),
        supplement_reason=reason,
        appointment_at=None,
        updated_at=now,
    )
    event = DossierSupplementRequested(
        dossier_id=d.id,
        code=d.code,
        at=now,
        missing=[m.code for m in new.missing],
        reason=reason,
        receiving_unit=d.receiving_unit,
        procedure_code=d.procedure_code,
        channel=d.channel,
    )
    return Decision(new, _desk_step(new, now, "supplement_requested", who, reason), event)


def check_supplement(who: Identity, d: Dossier) -> None:
    """Whether the caller may hand in a supplement (before the documents are checked)."""
    access.check_desk_or_owner(who, d)
    require_open(d, "supplemented")
    if d.status is not Status.SUPPLEMENT_REQUESTED:
        raise Conflict(f"Dossier {d.code} is {d.status}; no supplement was requested.", code="wrong-state")


def still_missing(d: Dossier, given: set[str]) -> None:
    """Refuse a supplement that does not hand in every component asked for."""
    still = [m for m in d.missing if m.code not in given]
    if still:
        raise Problem(
            422,
            "The supplement lacks: " + ", ".join(m.code for m in still),
            code="missing-documents",
            errors=[
                {"loc": ["body", "documents"], "msg": f"missing component {m.code}: {m.name}", "code": m.code}
                for m in still
            ],
        )


def supplement(
    d: Dossier, who: Identity, given: set[str], cal: WorkingCalendar, now: datetime, owner_ref: str
) -> Decision:
    """The applicant handed in what was missing (`given`: component codes): the clock restarts from zero. A dossier
    asked for a supplement at submission is received now; one sent back after the hand-over to routing goes on
    being processed where it was."""
    check_supplement(who, d)
    still_missing(d, given)
    new = replace(
        d,
        status=Status.PROCESSING if d.handed_over_at is not None else Status.RECEIVED,
        missing=(),
        clock_started_at=now,
        appointment_at=appointment(cal, now, d.processing_amount, d.processing_unit),
        updated_at=now,
    )
    if d.received_at is None:
        new = replace(new, received_at=now)
        return Decision(
            new, _desk_step(new, now, "received", who, "Đã bổ sung đủ hồ sơ"), received_event(new, owner_ref)
        )
    assert new.appointment_at is not None
    event = DossierSupplemented(dossier_id=d.id, code=d.code, at=now, appointment_at=new.appointment_at)
    return Decision(new, _desk_step(new, now, "supplemented", who), event)


def refuse(d: Dossier, who: Identity, reasons: Sequence[str], now: datetime) -> Decision:
    """Form 03: the desk refuses a dossier it has not yet handed over."""
    access.check_desk(who, d)
    require_open(d, "refused")
    if d.status not in (Status.RECEIVED, Status.SUPPLEMENT_REQUESTED):
        raise Conflict(f"Dossier {d.code} is {d.status}; the desk can no longer refuse it.", code="wrong-state")
    new = replace(d, status=Status.REFUSED, refusal_reasons=tuple(reasons), closed_at=now, updated_at=now)
    event = DossierRefused(dossier_id=d.id, code=d.code, at=now, receiving_unit=d.receiving_unit, reasons=list(reasons))
    return Decision(new, _desk_step(new, now, "refused", who, "; ".join(reasons)), event)


def withdraw(d: Dossier, who: Identity, reason: str, now: datetime) -> Decision:
    """Withdrawal on the applicant's request, at the desk or through the portal, at any open status."""
    access.check_desk_or_owner(who, d)
    require_open(d, "withdrawn")
    new = replace(d, status=Status.WITHDRAWN, closed_at=now, updated_at=now)
    event = DossierWithdrawn(dossier_id=d.id, code=d.code, at=now, reason=reason, receiving_unit=d.receiving_unit)
    return Decision(new, _desk_step(new, now, "withdrawn", who, reason), event)


def return_result(d: Dossier, who: Identity, channel: Channel, now: datetime) -> Decision:
    """The result is handed over; only once it is at the receiving desk. Closes the dossier."""
    access.check_desk(who, d)
    require_open(d, "returned")
    if d.status is Status.SUPPLEMENT_REQUESTED:
        raise Conflict(f"Dossier {d.code} awaits a supplement; there is no result to return.", code="wrong-state")
    if d.result_at_desk_at is None or not can_move(d.status, Status.RESULT_RETURNED):
        raise Conflict(
            f"Dossier {d.code} has no result at the desk yet (it is {d.status}): a result can be returned only once "
            "the processing unit has decided and the result has come back to the receiving desk.",
            code="result-not-at-desk",
            dossier_status=d.status.value,
        )
    new = replace(d, status=Status.RESULT_RETURNED, closed_at=now, updated_at=now)
    event = DossierResultReturned(
        dossier_id=d.id, code=d.code, at=now, channel=channel, receiving_unit=d.receiving_unit
    )
    return Decision(new, _desk_step(new, now, "result_returned", who), event)


# -- what other services announce ---------------------------------------------------------------------------------


def progress(
    d: Dossier,
    action: str,
    at: datetime,
    *,
    status: Status | None = None,
    status_from: frozenset[Status] | None = None,
    unit: str | None = None,
    note: str | None = None,
    appointment_at: datetime | None = None,
    handed_over: bool = False,
    result_at_desk: bool = False,
) -> Decision:
    """A step of another service, always recorded in the history; the status moves only along the allowed
    transitions (and from `status_from` when given), and a closed dossier's status and appointment stay."""
    new = d
    if not d.closed:
        if status is not None and can_move(d.status, status) and (status_from is None or d.status in status_from):
            new = replace(new, status=status, updated_at=at)
        if handed_over and new.handed_over_at is None:
            new = replace(new, handed_over_at=at)
        if result_at_desk and new.result_at_desk_at is None:
            new = replace(new, result_at_desk_at=at)
        if appointment_at is not None and appointment_at != new.appointment_at:
            new = replace(new, appointment_at=appointment_at, updated_at=at)
    return Decision(new, Step(at=at, action=action, status=new.status, unit=unit, note=note))


def supplement_requested_by_agency(
    d: Dossier, missing: Sequence[str], reason: str, at: datetime, unit: str | None, names: Mapping[str, str]
) -> Decision | None:
    """The processing unit asked for more (form 02 via the desk): the applicant supplements at intake. `names`:
    the components' names by code (a code without one is shown as itself). A dossier whose status may not go
    back to `supplement_requested` (closed, or processed) is left alone, without a step."""
    if not can_move(d.status, Status.SUPPLEMENT_REQUESTED):
        return None
    new = replace(
        d,
        status=Status.SUPPLEMENT_REQUESTED,
        missing=tuple(Missing(code, names.get(code, code)) for code in missing),
        supplement_reason=reason,
        updated_at=at,
    )
    return Decision(new, Step(at=at, action="supplement_requested", status=new.status, unit=unit, note=reason))


def extended(d: Dossier, appointment_at: datetime, at: datetime, note: str) -> Decision | None:
    """The one extension (form 04): the appointment moves to the date routing set; a closed dossier keeps its own."""
    if d.closed:
        return None
    new = replace(d, appointment_at=appointment_at, extended=True, updated_at=at)
    return Decision(new, Step(at=at, action="extended", status=new.status, unit=None, note=note))
