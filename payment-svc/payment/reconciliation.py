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
import hashlib
import io
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payment import ledger, repository, service
from payment.models import Payment, Settlement, SettlementLine
from payment.providers import Notification
from payment.schemas import SettlementLineOut, SettlementReport
from payment.settings import Settings
from services.calendar import VN_TZ
from services.contracts.payment import FlagKind
from services.db import SessionDep
from services.errors import Conflict, Invalid, NotFound, Problem
from services.identity import Identity, Role, require

router = APIRouter(prefix="/reconciliations", tags=["reconciliation"])

COLUMNS = ("provider_txn_id", "order_ref", "amount", "currency", "status", "settled_at")
CATEGORIES = ("matched", "missing_ours", "missing_theirs", "amount_mismatch", "status_mismatch", "duplicate")
MAX_BYTES = 20 * 1024 * 1024
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


async def _find(session: AsyncSession, provider: str, line: Line) -> Payment | None:
    payment = await repository.payment_by_txn(session, provider, line.provider_txn_id)
    if payment is None and line.order_ref:
        payment = await repository.payment_by_order_ref(session, line.order_ref, lock=True)
        if payment is not None and payment.provider != provider:
            payment = None
    return payment


async def import_settlement(
    session: AsyncSession,
    settings: Settings,
    provider: str,
    settlement_date: date,
    raw: bytes,
    *,
    actor: str,
    filename: str = "",
) -> tuple[Settlement, bool]:
    """Import a settlement file; returns (settlement, already_imported)."""
    digest = hashlib.sha256(raw).hexdigest()
    known = await repository.settlement_by_hash(session, provider, digest)
    if known is not None:
        return known, True
    try:
        lines = parse(raw)
    except MalformedSettlement as exc:
        raise Invalid(f"The settlement file is malformed: {exc}", field="body", line=exc.line) from None

    at = service.now()
    settlement = Settlement(
        id=str(uuid.uuid4()),
        provider=provider,
        settlement_date=settlement_date,
        sha256=digest,
        filename=filename[:200],
        line_count=len(lines),
        summary={},
        imported_by=actor[:100],
        imported_at=at,
    )
    session.add(settlement)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("The same file is being imported right now; ask again for its report.") from None

    counts = dict.fromkeys(CATEGORIES, 0)
    seen: set[str] = set()
    who = f"reconciliation:{settlement.id[:8]}"

    async def note(
        line: Line | None, category: str, action: str, payment: Payment | None, *, flag: bool = True
    ) -> None:
        counts[category] += 1
        session.add(
            SettlementLine(
                settlement_id=settlement.id,
                line_no=line.no if line else 0,
                provider_txn_id=line.provider_txn_id if line else (payment.provider_txn_id if payment else None),
                order_ref=line.order_ref if line else (payment.order_ref if payment else None),
                payment_id=payment.id if payment else None,
                their_amount=line.amount if line else None,
                our_amount=payment.amount if payment else None,
                their_status=line.status if line else None,
                our_status=payment.status if payment else None,
                category=category,
                action=action[:200],
            )
        )
        await session.flush()  # later lines' queries must see what this one changed
        if flag and category != "matched":
            bill = await repository.bill(session, payment.bill_id) if payment else None
            detail = f"settlement {settlement_date} line {line.no if line else '-'}: {category}: {action}"
            await service._flag(
                session,
                settings,
                FlagKind.SETTLEMENT_MISMATCH,
                detail=detail,
                actor=who,
                provider=provider,
                bill=bill,
                payment=payment,
                provider_txn_id=line.provider_txn_id if line else (payment.provider_txn_id if payment else None),
                reported_amount=line.amount if line else None,
                at=at,
            )

    for line in lines:
        if line.provider_txn_id in seen:
            await note(line, "duplicate", "listed again in the file; counted once", None, flag=False)
            continue
        seen.add(line.provider_txn_id)
        payment = await _find(session, provider, line)
        if payment is None:
            await note(line, "missing_ours", "no payment of ours; check the transfer and refund it", None)
            continue
        same_amount = line.amount == payment.amount and line.currency == payment.currency
        ours_paid = payment.status in service.PAID_STATES
        if line.status == "paid" and ours_paid and payment.provider_txn_id == line.provider_txn_id:
            if same_amount:
                await note(line, "matched", "", payment)
            else:
                await note(
                    line, "amount_mismatch", f"we recorded {payment.amount}, they settled {line.amount}", payment
                )
        elif line.status == "paid" and payment.status in service.OPEN_STATES and same_amount:
            # The webhook never arrived: the settlement is the proof of payment.
            result = await service.apply_notification(
                session,
                settings,
                Notification(
                    provider=provider,
                    provider_txn_id=line.provider_txn_id,
                    order_ref=payment.order_ref,
                    amount=line.amount,
                    currency=line.currency,
                    status="paid",
                    paid_at=line.settled_at,
                    raw={"settlement": settlement.id, "line": line.no},
                ),
                source="reconciliation",
            )
            await note(line, "status_mismatch", f"ours was pending: {result.outcome.value} by correction", payment,
                       flag=result.outcome is not service.Outcome.APPLIED)  # fmt: skip
        elif not same_amount:
            await note(line, "amount_mismatch", f"our payment is {payment.amount}, they settled {line.amount}", payment)
        elif line.status == "paid":
            await note(line, "status_mismatch", f"they settled it paid, ours is {payment.status}: refund due", payment)
        elif ours_paid and payment.provider_txn_id == line.provider_txn_id:
            await note(
                line, "status_mismatch", "they report it failed, ours is paid: verify with the provider", payment
            )
        else:
            await note(line, "matched", "not paid on either side", payment)

    # Ours, paid through this provider that day (Vietnam time), that the file does not list.
    start = datetime.combine(settlement_date, time(0), VN_TZ).astimezone(UTC)
    for payment in await repository.paid_payments_between(session, provider, start, start + timedelta(days=1)):
        if payment.provider_txn_id not in seen:
            await note(None, "missing_theirs", "paid with us, absent from their settlement: ask the provider", payment)

    settlement.summary = counts
    await session.flush()
    await ledger.record(
        session,
        kind="reconciliation",
        actor=actor,
        provider=provider,
        note=f"settlement {settlement.id} of {settlement_date}: "
        + ", ".join(f"{k} {v}" for k, v in counts.items() if v),
        at=at,
    )
    return settlement, False


async def report(session: AsyncSession, settlement: Settlement, already: bool = False) -> SettlementReport:
    lines = await repository.settlement_lines(session, settlement.id)
    return SettlementReport(
        id=settlement.id,
        provider=settlement.provider,
        settlement_date=settlement.settlement_date,
        sha256=settlement.sha256,
        line_count=settlement.line_count,
        already_imported=already,
        summary={k: settlement.summary.get(k, 0) for k in CATEGORIES},
        lines=[SettlementLineOut.model_validate(line) for line in lines],
    )


#: A settlement covers every unit's payments: administrators only (services/policy.py).
Reconciler = Annotated[Identity, Depends(require(Role.ADMIN))]


@router.post(
    "/{provider}",
    response_model=SettlementReport,
    summary="Import a provider's daily settlement CSV (request body, text/csv) and classify every line",
)
async def import_file(
    provider: str,
    request: Request,
    session: SessionDep,
    who: Reconciler,
    settlement_date: Annotated[date, Query(alias="date")],
    filename: str = "",
) -> SettlementReport:
    if provider not in service.ONLINE_PROVIDERS:
        raise NotFound(f"Unknown provider {provider!r}.", code="unknown-provider")
    raw = await request.body()
    if len(raw) > MAX_BYTES:
        raise Problem(413, f"A settlement file may be at most {MAX_BYTES} bytes.")
    if not raw.strip():
        raise Invalid("The settlement file is empty.", field="body")
    settings: Settings = request.app.state.settings
    settlement, already = await import_settlement(
        session, settings, provider, settlement_date, raw, actor=who.subject, filename=filename
    )
    return await report(session, settlement, already)


@router.get("/{settlement_id}", response_model=SettlementReport)
async def get_report(settlement_id: str, session: SessionDep, who: Reconciler) -> SettlementReport:
    settlement = await repository.settlement(session, settlement_id)
    if settlement is None:
        raise NotFound(f"No settlement import {settlement_id}.")
    return await report(session, settlement)
