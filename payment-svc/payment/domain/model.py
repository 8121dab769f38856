"""The frozen objects the rules read and return: a bill, a payment, a refund request, a ledger row, an event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from payment.domain.states import BillStatus, PaymentStatus, RefundStatus
from services.events import EventPayload

#: The wallets a payment can go through; cash is paid at the desk and only ever recorded.
ONLINE_PROVIDERS = ("payos", "vnpay", "momo", "zalopay")
PROVIDERS = (*ONLINE_PROVIDERS, "cash")


@dataclass(frozen=True, slots=True)
class BillState:
    id: str
    dossier_id: str
    dossier_code: str
    receiving_unit: str
    procedure_code: str
    field_code: str
    dossier_channel: str
    amount: int
    currency: str
    items: list[dict[str, Any]] = field(hash=False, compare=False)
    status: BillStatus
    created_at: datetime
    updated_at: datetime
    owner_ref: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentState:
    id: str
    bill_id: str
    order_ref: str
    provider: str
    amount: int
    currency: str
    status: PaymentStatus
    refunded_amount: int
    provider_txn_id: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    updated_at: datetime
    started_by: str
    next_status_query_at: datetime | None = None
    status_queries: int = 0
    status_answer: str | None = None
    status_answered_at: datetime | None = None

    @property
    def online(self) -> bool:
        return self.provider in ONLINE_PROVIDERS


@dataclass(frozen=True, slots=True)
class RefundState:
    id: str
    payment_id: str
    provider: str
    amount: int
    reason: str
    actor: str
    state: RefundStatus
    provider_answer: str
    checks: int
    created_at: datetime
    updated_at: datetime
    provider_refund_id: str | None = None
    next_check_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One append-only ledger entry: a transition, a refund, a flag, a correction."""

    kind: str
    actor: str
    at: datetime
    bill_id: str | None = None
    payment_id: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    amount: int = 0
    provider: str | None = None
    provider_txn_id: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "actor", self.actor[:100])
        object.__setattr__(self, "note", self.note[:500])


@dataclass(frozen=True, slots=True)
class Emit:
    """An event to publish, keyed by `subject` (the dossier, so that a dossier's events stay in order)."""

    payload: EventPayload
    subject: str


@dataclass(frozen=True, slots=True)
class Decision:
    """What a command decided: the states to write (None: unchanged), the ledger rows, the events."""

    bill: BillState | None = None
    #: every payment changed or created, in order (a payment may appear more than once: the last one counts)
    payments: tuple[PaymentState, ...] = ()
    refund: RefundState | None = None
    ledger: tuple[LedgerRow, ...] = ()
    events: tuple[Emit, ...] = ()

    def then(self, other: Decision) -> Decision:
        """This decision followed by `other` (whose states, where it has any, are the later ones)."""
        return Decision(
            bill=other.bill or self.bill,
            payments=self.payments + other.payments,
            refund=other.refund or self.refund,
            ledger=self.ledger + other.ledger,
            events=self.events + other.events,
        )

    @property
    def empty(self) -> bool:
        return not (self.bill or self.payments or self.refund or self.ledger or self.events)

    @property
    def payment(self) -> PaymentState | None:
        """The payment as this decision leaves it, when it is about one."""
        return self.payments[-1] if self.payments else None


NOTHING = Decision()


def combine(decisions: Sequence[Decision]) -> Decision:
    combined = NOTHING
    for decision in decisions:
        combined = combined.then(decision)
    return combined


__all__ = [
    "NOTHING",
    "ONLINE_PROVIDERS",
    "PROVIDERS",
    "BillState",
    "Decision",
    "Emit",
    "LedgerRow",
    "PaymentState",
    "RefundState",
    "combine",
]
