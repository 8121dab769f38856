"""A bill: opened for a dossier with fees, cancelled with its dossier, flagged when it was paid already."""

from __future__ import annotations

from datetime import UTC, datetime

from payment.domain import bills
from payment.domain.states import BillStatus, PaymentStatus

from services.contracts.intake import Channel, DossierReceived, FeeItem
from services.contracts.payment import BillCancelled, BillRequested, FlagKind, PaymentFlagged
from tests.payment.domain.factories import AT, OWNER, bill, payment


def received(*amounts: int) -> DossierReceived:
    return DossierReceived(
        dossier_id="dossier-1", code="000.00.31.H57-261204-0001", procedure_code="1.900001", procedure_version=1,
        field_code="HT", receiving_unit="000.00.31.H57", channel=Channel.ONLINE, applicant_kind="citizen",
        received_at=datetime(2026, 12, 4, tzinfo=UTC), appointment_at=datetime(2026, 12, 9, tzinfo=UTC),
        fees=[FeeItem(code=f"F{i}", name="Lệ phí", amount=a) for i, a in enumerate(amounts)], owner_ref=OWNER,
    )  # fmt: skip


def test_no_fee_no_bill() -> None:
    assert bills.open_bill(received(), bill_id="b", at=AT) is None
    assert bills.open_bill(received(0, 0), bill_id="b", at=AT) is None


def test_a_bill_carries_the_total_and_the_applicants_reference() -> None:
    decision = bills.open_bill(received(30_000, 20_000), bill_id="b", at=AT)
    assert decision is not None and decision.bill is not None
    made = decision.bill
    assert (made.amount, made.status, made.owner_ref, made.dossier_channel) == (50_000, "open", OWNER, "online")
    assert [item["amount"] for item in made.items] == [30_000, 20_000]
    (row,) = decision.ledger
    assert (row.kind, row.actor, row.to_status, row.amount) == ("bill_opened", "intake", "open", 50_000)
    (event,) = decision.events
    assert isinstance(event.payload, BillRequested) and event.payload.amount == 50_000


def test_cancelling_an_open_bill_leaves_its_pending_payment_to_the_status_query() -> None:
    decision = bills.cancel_bill(bill(), [payment(PaymentStatus.PENDING)], "dossier withdrawn", at=AT)
    assert decision.bill is not None and decision.bill.status is BillStatus.CANCELLED
    assert decision.payments == ()
    (row,) = decision.ledger
    assert (row.kind, row.from_status, row.to_status, row.note) == ("bill_cancelled", "open", "cancelled",
                                                                   "dossier withdrawn")  # fmt: skip
    (event,) = decision.events
    assert isinstance(event.payload, BillCancelled) and event.payload.reason == "dossier withdrawn"


def test_cancelling_twice_changes_nothing() -> None:
    assert bills.cancel_bill(bill(BillStatus.CANCELLED), [], "again", at=AT).empty


def test_a_paid_bill_is_not_cancelled_but_flagged_for_a_refund() -> None:
    paid = payment(PaymentStatus.PAID, provider="momo")
    decision = bills.cancel_bill(bill(BillStatus.PAID), [payment(PaymentStatus.EXPIRED, id="p-0"), paid], "refused",
                                 at=AT)  # fmt: skip
    assert decision.bill is None
    (event,) = decision.events
    assert isinstance(event.payload, PaymentFlagged) and event.payload.kind is FlagKind.PAID_AFTER_CANCEL
    assert (event.payload.provider, event.payload.payment_id) == ("momo", paid.id)
    assert "refund due" in event.payload.detail
