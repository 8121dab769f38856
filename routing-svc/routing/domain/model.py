"""The state of a journey as the rules see it: frozen values, read from the database by the shell and written back
from the decision a rule returns.

A `Decision` is everything one command changes: the journey's new state (its steps and hops with it), the rows it
appends to the action log, the events it announces, the extension it grants and the hop it sends. A hop's id is
the database's: a decision that sends one names it in `hop` and is completed by `rules.hop_sent` once the row is
inserted (sending a hop is always the last thing a command does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.contracts.routing import HopKind, NationalStatus
from services.events import EventPayload
from services.identity import Identity

#: phase → the worklist queue it is listed in
QUEUE_OF_PHASE = {
    "routing": "todo",
    "active": "todo",
    "awaiting": "outgoing",
    "paused": "waiting",
    "processed": "results",
    "at_desk": "results",
    "closed": "closed",
}
#: phases whose deadlines run (the sweep looks at these only; a paused clock does not run)
RUNNING_PHASES = ("awaiting", "routing", "active")


@dataclass(frozen=True, slots=True)
class Actor:
    subject: str
    role: str
    unit: str | None

    @classmethod
    def of(cls, who: Identity) -> Actor:
        return cls(subject=who.subject, role=who.role.value, unit=who.unit)

    @classmethod
    def system(cls, unit: str | None = None, subject: str = "routing") -> Actor:
        return cls(subject=subject, role="system", unit=unit)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the route: planned → active → done."""

    seq: int
    level: str
    unit: str
    working_days: int
    due_at: datetime
    state: str = "planned"
    started_at: datetime | None = None
    completed_at: datetime | None = None
    late: bool | None = None


STEP_FIELDS = ("level", "unit", "working_days", "state", "due_at", "started_at", "completed_at", "late")


@dataclass(frozen=True, slots=True)
class Hop:
    """A transfer request and its answer: requested → accepted | rejected | cancelled (the journey closed)."""

    id: int
    kind: str
    from_unit: str
    to_unit: str
    step_seq: int | None
    state: str
    requested_at: datetime
    requested_by: str
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str | None = None
    reason: str | None = None


HOP_FIELDS = ("state", "decided_at", "decided_by", "reason")


@dataclass(frozen=True, slots=True)
class Journey:
    """A dossier's journey: who holds it, where it is on its route, until when."""

    dossier_id: str
    code: str
    procedure_code: str
    procedure_version: int
    field_code: str
    receiving_unit: str
    channel: str
    inter_level: bool
    received_at: datetime
    #: routing (the holder sends it on) | awaiting (a hop is pending) | active | paused | processed | at_desk | closed
    phase: str
    #: national status code 1..10, the fold of the action log
    status: int
    holder_unit: str
    pending_unit: str | None
    pending_hop_id: int | None
    officer: str | None
    current_step: int | None
    due_at: datetime
    original_due_at: datetime
    step_due_at: datetime
    sla_state: str
    step_sla_state: str
    paused_at: datetime | None
    paused_working_days: int
    outcome: str | None
    result: str | None
    processed_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    steps: tuple[Step, ...]
    #: None when the command that loaded the journey does not look at its hops
    hops: tuple[Hop, ...] | None
    #: whether the one extension was granted
    extended: bool

    @property
    def queue(self) -> str:
        return QUEUE_OF_PHASE[self.phase]

    def step(self, seq: int | None) -> Step | None:
        return next((s for s in self.steps if s.seq == seq), None) if seq is not None else None

    @property
    def units(self) -> set[str]:
        """Every unit with a part in the journey: receiving, holding, addressed, on a step."""
        return {u for u in (self.receiving_unit, self.holder_unit, self.pending_unit) if u} | {
            s.unit for s in self.steps
        }


#: the columns of `journeys` a decision may change (all but the journey's identity and its receipt)
JOURNEY_FIELDS = (
    "phase",
    "queue",
    "status",
    "holder_unit",
    "pending_unit",
    "pending_hop_id",
    "officer",
    "current_step",
    "due_at",
    "step_due_at",
    "sla_state",
    "step_sla_state",
    "paused_at",
    "paused_working_days",
    "outcome",
    "result",
    "processed_at",
    "closed_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class Action:
    """A row of the append-only action log (numbered when written)."""

    action: str
    at: datetime
    actor: str
    role: str
    unit: str | None
    note: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Extension:
    """The one extension of a dossier (form 04)."""

    dossier_id: str
    unit: str
    requested_by: str
    requested_at: datetime
    reason: str
    previous_due_at: datetime
    new_due_at: datetime


@dataclass(frozen=True, slots=True)
class HopRequest:
    """A hop a command sends; the row is inserted for its id, then `rules.hop_sent` completes the decision."""

    kind: HopKind
    from_unit: str
    to_unit: str
    step_seq: int | None
    actor: Actor
    note: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    journey: Journey
    actions: tuple[Action, ...] = ()
    events: tuple[EventPayload, ...] = ()
    hop: HopRequest | None = None
    extension: Extension | None = None
    #: (from, to) of a status move the table does not allow, made anyway because intake (the owner) decided it
    forced: tuple[NationalStatus | None, NationalStatus] | None = None


@dataclass(frozen=True, slots=True)
class PlannedStep:
    seq: int
    level: str
    unit: str
    share: int


@dataclass(frozen=True, slots=True)
class Route:
    """The route of the version in force at receipt."""

    steps: tuple[PlannedStep, ...]
    inter_level: bool
