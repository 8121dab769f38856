"""The states of a bill, a payment and a refund request, and the transitions a payment may make.

::

    created ─► pending ─► paid ─► partially_refunded ─► refunded
                   │                      └──────────────►┘
                   ├─► failed    (final)
                   └─► expired   (final)
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class PaymentStatus(StrEnum):
    CREATED = "created"
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


CREATED, PENDING, PAID, FAILED, EXPIRED, PARTIALLY_REFUNDED, REFUNDED = PaymentStatus

TRANSITIONS: Mapping[PaymentStatus, frozenset[PaymentStatus]] = {
    CREATED: frozenset({PENDING, FAILED, EXPIRED}),
    PENDING: frozenset({PAID, FAILED, EXPIRED}),
    PAID: frozenset({PARTIALLY_REFUNDED, REFUNDED}),
    PARTIALLY_REFUNDED: frozenset({PARTIALLY_REFUNDED, REFUNDED}),
    FAILED: frozenset(),
    EXPIRED: frozenset(),
    REFUNDED: frozenset(),
}
#: Not paid yet and not over: a provider may still take the money.
OPEN_STATES = frozenset({CREATED, PENDING})
#: Money was taken (some of it may have been given back since).
PAID_STATES = frozenset({PAID, PARTIALLY_REFUNDED, REFUNDED})
#: Nothing more can happen to the payment.
FINAL_STATES = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
#: What part of the money can still be given back.
REFUNDABLE_STATES = frozenset({PAID, PARTIALLY_REFUNDED})


class BillStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"


class RefundStatus(StrEnum):
    """A refund asked of the provider: sent, then accepted, refused, still processing or with its answer lost
    (unknown); manual when staff gave the money back by hand (a provider without a refund API)."""

    SENDING = "sending"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    PROCESSING = "processing"
    UNKNOWN = "unknown"
    MANUAL = "manual"


#: Refunds the provider may still carry out: their amount is not available for another refund.
REFUNDS_IN_FLIGHT = frozenset({RefundStatus.SENDING, RefundStatus.PROCESSING, RefundStatus.UNKNOWN})
#: Refunds whose answer is asked for again by the sweep.
REFUNDS_TO_CHECK = frozenset({RefundStatus.PROCESSING, RefundStatus.UNKNOWN})


class Outcome(StrEnum):
    """What a verified notification did."""

    APPLIED = "applied"  # moved the payment (paid or failed)
    DUPLICATE = "duplicate"  # this provider transaction was seen before: no effect
    AMOUNT_MISMATCH = "amount_mismatch"  # flagged, not paid
    STALE = "stale"  # older news than the payment's state (failed after paid): ignored
    FINAL = "final"  # the payment is already expired / failed: no change (flagged if money was taken)
    DOUBLE_PAYMENT = "double_payment"  # a second transaction paid an already paid payment: flagged
    NOT_FOUND = "not_found"  # no payment of this provider with that order reference: nothing recorded
    #: a transaction seen before comes again with another amount (a forged or tampered replay): nothing recorded
    CONFLICTING_REPLAY = "conflicting_replay"
