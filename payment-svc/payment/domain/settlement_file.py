"""Reconciliation of a provider's daily settlement file against our payments.

The file is CSV (UTF-8, optional BOM), one transaction a line, with a header naming at least these columns::

    provider_txn_id,order_ref,amount,currency,status,settled_at

`status` is paid (also: success, 00) or failed; `amount` whole VND; `settled_at` ISO 8601 (no zone = Vietnam time).

Importing is idempotent: a file is known by its SHA-256; the same file again returns the first report and changes
nothing. Each line is classified:

- matched          our payment with that transaction is paid with the same amount (or failed, and so is ours)
- missing_ours     no payment of ours with that transaction id or order reference
- missing_theirs   (extra rows) a payment of ours paid through this provider on that day that the file lacks
- amount_mismatch  the amounts differ
- status_mismatch  they say paid and ours is not (or the reverse)
- duplicate        the same transaction id appears again in the file

Corrections are new ledger rows, never edits: a payment still pending that the provider settled as paid (the
webhook never came) becomes paid through the ordinary state machine (ledger kind "correction", PaymentPaid with
via="reconciliation"); everything else that does not match is flagged (ledger kind "flag", PaymentFlagged).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from payment.domain.model import PaymentState
from payment.domain.states import OPEN_STATES, PAID_STATES, Outcome
from payment.providers import Notification
from services.clock import VN_TZ

COLUMNS = ("provider_txn_id", "order_ref", "amount", "currency", "status", "settled_at")
CATEGORIES = ("matched", "missing_ours", "missing_theirs", "amount_mismatch", "status_mismatch", "duplicate")
_PAID = {"paid", "success", "succeeded", "00"}
_FAILED = {"failed", "failure", "cancelled", "canceled"}
_AMOUNT = re.compile(r"[0-9]{1,15}")


class MalformedSettlement(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Line:
    no: int
    provider_txn_id: str
    order_ref: str
    amount: int
    currency: str
    status: str  # paid | failed
    settled_at: datetime


def parse(raw: bytes) -> list[Line]:
    """Parse and validate the whole file; raise MalformedSettlement naming the first bad line."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedSettlement(1, f"the file is not UTF-8 ({exc.reason})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise MalformedSettlement(1, f"the header lacks {', '.join(missing)} (needs {','.join(COLUMNS)})")
    reader.fieldnames = header
    lines: list[Line] = []
    for row in reader:
        no = reader.line_num
        if None in row:
            raise MalformedSettlement(no, "more fields than the header has")
        values = {k: (v or "").strip() for k, v in row.items() if k}
        if not any(values.values()):
            continue
        if not values["provider_txn_id"]:
            raise MalformedSettlement(no, "provider_txn_id is empty")
        if not _AMOUNT.fullmatch(values["amount"]):
            raise MalformedSettlement(no, f"amount must be whole VND, got {values['amount']!r}")
        status = values["status"].lower()
        if status in _PAID:
            status = "paid"
        elif status in _FAILED:
            status = "failed"
        else:
            raise MalformedSettlement(no, f"status must be paid or failed, got {values['status']!r}")
        try:
            settled = datetime.fromisoformat(values["settled_at"])
        except ValueError:
            raise MalformedSettlement(no, f"settled_at is not ISO 8601: {values['settled_at']!r}") from None
        lines.append(
            Line(
                no=no,
                provider_txn_id=values["provider_txn_id"][:64],
                order_ref=values["order_ref"][:64],
                amount=int(values["amount"]),
                currency=(values["currency"] or "VND").upper()[:3],
                status=status,
                settled_at=settled if settled.tzinfo else settled.replace(tzinfo=VN_TZ),
            )
        )
    return lines


@dataclass(frozen=True, slots=True)
class Judgement:
    category: str
    action: str
    #: a difference a person must look at (PaymentFlagged)
    flagged: bool = True
    #: a payment still pending that the provider settled as paid: the settlement is the proof of payment
    correction: Notification | None = None


def judge(line: Line, payment: PaymentState | None, provider: str, settlement_id: str) -> Judgement:
    """The category of a line that is not a repeat, given the payment of ours it names (if any)."""
    if payment is None:
        return Judgement("missing_ours", "no payment of ours; check the transfer and refund it")
    same_amount = line.amount == payment.amount and line.currency == payment.currency
    ours_paid = payment.status in PAID_STATES
    if line.status == "paid" and ours_paid and payment.provider_txn_id == line.provider_txn_id:
        if same_amount:
            return Judgement("matched", "", flagged=False)
        return Judgement("amount_mismatch", f"we recorded {payment.amount}, they settled {line.amount}")
    if line.status == "paid" and payment.status in OPEN_STATES and same_amount:
        # The webhook never arrived.
        correction = Notification(
            provider=provider,
            provider_txn_id=line.provider_txn_id,
            order_ref=payment.order_ref,
            amount=line.amount,
            currency=line.currency,
            status="paid",
            paid_at=line.settled_at,
            raw={"settlement": settlement_id, "line": line.no},
        )
        return Judgement("status_mismatch", "", correction=correction)
    if not same_amount:
        return Judgement("amount_mismatch", f"our payment is {payment.amount}, they settled {line.amount}")
    if line.status == "paid":
        return Judgement("status_mismatch", f"they settled it paid, ours is {payment.status}: refund due")
    if ours_paid and payment.provider_txn_id == line.provider_txn_id:
        return Judgement("status_mismatch", "they report it failed, ours is paid: verify with the provider")
    return Judgement("matched", "not paid on either side", flagged=False)


def corrected(outcome: Outcome) -> Judgement:
    """A correction's line once the notification was applied: flagged unless it made the payment paid."""
    return Judgement(
        "status_mismatch", f"ours was pending: {outcome.value} by correction", flagged=outcome is not Outcome.APPLIED
    )


REPEATED = Judgement("duplicate", "listed again in the file; counted once", flagged=False)
MISSING_THEIRS = Judgement("missing_theirs", "paid with us, absent from their settlement: ask the provider")


def settlement_day(settlement_date: date) -> tuple[datetime, datetime]:
    """The settlement's day in Vietnam time, as UTC bounds [start, end)."""
    start = datetime.combine(settlement_date, time(0), VN_TZ).astimezone(UTC)
    return start, start + timedelta(days=1)


def summary_note(settlement_id: str, settlement_date: date, counts: dict[str, int]) -> str:
    return f"settlement {settlement_id} of {settlement_date}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v)
