"""Staff and portal endpoints: bills, payments, VietQR, refunds, the expiry sweep."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from payment import repository, service, settlement, vietqr
from payment.dependencies import ClientsDep, DatabaseDep, SettingsDep
from payment.domain import access
from payment.domain.model import PaymentState, RefundState
from payment.domain.states import OPEN_STATES, BillStatus, RefundStatus
from payment.models import Bill
from payment.provider_api import ApiError
from payment.schemas import (
    BillOut,
    LedgerEntryOut,
    PaymentOut,
    RefundOut,
    RefundRequest,
    StartPayment,
    VietQROut,
)
from payment.settings import Settings
from services import policy
from services.db import SessionDep
from services.errors import NotFound, Problem
from services.headers import content_disposition
from services.identity import STAFF_ROLES, CurrentIdentity, Identity, Role, require

router = APIRouter(tags=["payments"])


def _check(settings: Settings, who: Identity, bill: Bill) -> None:
    """access.check_bill, with the portal's citizen's pseudonymous reference computed here (the secret is ours)."""
    citizen_ref = None
    if who.role is Role.PORTAL and who.citizen is not None:
        citizen_ref = policy.owner_ref(settings.owner_ref_secret.get_secret_value(), who.citizen.id_number)
    access.check_bill(who, bill, citizen_ref)


async def _bill_or_404(session: SessionDep, bill_id: str) -> Bill:
    bill = await repository.bill(session, bill_id)
    if bill is None:
        raise NotFound(f"No bill {bill_id}.", code="bill-not-found")
    return bill


def qr_for(settings: Settings, bill: Bill, payment: PaymentState | None) -> VietQROut:
    """The VietQR of a bill: the centre's account, the amount, the dossier code as bill number, an ASCII purpose
    carrying the order reference of the pending payment (what the bank transfer's description brings back)."""
    reference = payment.order_ref if payment is not None else None
    purpose = vietqr.to_ascii(f"{settings.qr_purpose_prefix} {reference}" if reference else settings.qr_purpose_prefix)
    bill_number = vietqr.to_ascii(bill.dossier_code)[:25]
    amount = payment.amount if payment is not None else bill.amount
    payload = vietqr.build_payload(
        settings.bank_bin,
        settings.bank_account,
        amount,
        purpose=purpose[:25],
        bill_number=bill_number,
        reference=reference,
    )
    return VietQROut(
        bill_id=bill.id,
        payment_id=payment.id if payment else None,
        payload=payload,
        bank_bin=settings.bank_bin,
        account=settings.bank_account,
        amount=amount,
        bill_number=bill_number,
        purpose=purpose[:25],
        reference=reference,
    )


async def _bill_out(session: SessionDep, bill: Bill) -> BillOut:
    out = BillOut.model_validate(bill)
    out.payments = [PaymentOut.model_validate(p) for p in await repository.payments_of_bill(session, bill.id)]
    return out


@router.get("/bills", response_model=list[BillOut], summary="Bills of the caller's unit (all units for an admin)")
async def list_bills(
    session: SessionDep,
    who: Annotated[Identity, Depends(require(*STAFF_ROLES))],
    status: Literal["open", "paid", "cancelled"] | None = None,
    dossier_code: str | None = None,
    unit: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,  # a 64-bit integer for the database
) -> list[BillOut]:
    bills = await repository.list_bills(
        session,
        unit=access.listing_unit(who, unit),
        status=status,
        dossier_code=dossier_code,
        limit=limit,
        offset=offset,
    )
    return [BillOut.model_validate(b) for b in bills]


@router.get("/bills/{bill_id}", response_model=BillOut)
async def get_bill(bill_id: str, settings: SettingsDep, session: SessionDep, who: CurrentIdentity) -> BillOut:
    bill = await _bill_or_404(session, bill_id)
    _check(settings, who, bill)
    return await _bill_out(session, bill)


@router.get("/dossiers/{dossier_id}/bill", response_model=BillOut, summary="The bill of a dossier")
async def bill_of_dossier(dossier_id: str, settings: SettingsDep, session: SessionDep, who: CurrentIdentity) -> BillOut:
    bill = await repository.bill_of_dossier(session, dossier_id)
    if bill is None:
        raise NotFound(f"Dossier {dossier_id} has no bill (no fee, or not received yet).", code="bill-not-found")
    _check(settings, who, bill)
    return await _bill_out(session, bill)


@router.get(
    "/bills/{bill_id}/vietqr",
    summary="VietQR of a bill: JSON with the payload text, or the image (format=png|svg)",
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
    response_model=VietQROut,
)
async def bill_vietqr(
    bill_id: str,
    settings: SettingsDep,
    session: SessionDep,
    who: CurrentIdentity,
    format: Literal["json", "png", "svg"] = "json",
    scale: Annotated[int, Query(ge=1, le=40)] = 8,
) -> Response:
    bill = await _bill_or_404(session, bill_id)
    _check(settings, who, bill)
    if bill.status != BillStatus.OPEN:
        raise Problem(409, f"This bill is {bill.status}: there is nothing to pay.", code=f"bill-{bill.status}")
    at = service.now()
    pending = next(
        (
            repository.payment_state(p)
            for p in await repository.payments_of_bill(session, bill.id)
            if p.status in OPEN_STATES and p.expires_at > at
        ),
        None,
    )
    qr = qr_for(settings, bill, pending)
    if format in ("png", "svg"):
        image = vietqr.qr_png(qr.payload, scale=scale) if format == "png" else vietqr.qr_svg(qr.payload, scale=scale)
        return Response(
            image,
            media_type="image/png" if format == "png" else "image/svg+xml",
            headers={"content-disposition": content_disposition(f"vietqr-{bill.id}.{format}", inline=True)},
        )
    return JSONResponse(qr.model_dump(mode="json"))


@router.post("/bills/{bill_id}/payments", response_model=PaymentOut, status_code=201)
async def start_payment(
    bill_id: str,
    body: StartPayment,
    settings: SettingsDep,
    response: Response,
    session: SessionDep,
    who: Annotated[Identity, Depends(require(*access.PAYERS))],
) -> PaymentOut:
    """Start paying a bill through a wallet: the payment is pending until paid, failed or expired.

    Answers 201 with a new payment, or 200 with the pending payment of the same provider (a retry)."""
    bill = await _bill_or_404(session, bill_id)
    _check(settings, who, bill)
    payment, created = await service.start_payment(session, settings, bill.id, body.provider, actor=who.subject)
    if not created:
        response.status_code = 200
    out = PaymentOut.model_validate(payment)
    out.qr_payload = qr_for(settings, bill, payment).payload
    return out


@router.get("/payments/{payment_id}", response_model=PaymentOut)
async def get_payment(payment_id: str, settings: SettingsDep, session: SessionDep, who: CurrentIdentity) -> PaymentOut:
    row = await repository.payment(session, payment_id)
    if row is None:
        raise NotFound(f"No payment {payment_id}.", code="payment-not-found")
    bill = await _bill_or_404(session, row.bill_id)
    _check(settings, who, bill)
    payment = repository.payment_state(row)
    out = PaymentOut.model_validate(payment)
    if payment.status in OPEN_STATES:
        out.qr_payload = qr_for(settings, bill, payment).payload
    return out


@router.get("/bills/{bill_id}/ledger", response_model=list[LedgerEntryOut], summary="Every entry of a bill")
async def bill_ledger(
    bill_id: str, settings: SettingsDep, session: SessionDep, who: CurrentIdentity
) -> list[LedgerEntryOut]:
    bill = await _bill_or_404(session, bill_id)
    _check(settings, who, bill)
    return [LedgerEntryOut.model_validate(e) for e in await repository.ledger(session, bill_id=bill.id)]


@router.post(
    "/payments/{payment_id}/refunds",
    response_model=PaymentOut,
    status_code=201,
    responses={
        202: {"description": "the provider has not answered yet: the refund is asked about later"},
        422: {"description": "more than is left of the payment, or refused by the provider"},
    },
)
async def refund(
    payment_id: str,
    body: RefundRequest,
    settings: SettingsDep,
    db: DatabaseDep,
    clients: ClientsDep,
    response: Response,
    who: Annotated[Identity, Depends(require(*access.REFUNDERS))],
) -> PaymentOut:
    """Give back part or all of a paid payment (never more than was paid), through the provider's refund API.

    201: the provider accepted it (or, for payOS, which has no refund API, staff gave it back by hand and record
    it here); 202: no final answer yet (the refund is asked about under its request id, never sent twice); 422
    with the provider's message when it refused (nothing changes)."""
    async with db.sessionmaker() as session, session.begin():
        row = await repository.payment(session, payment_id)
        if row is None:
            raise NotFound(f"No payment {payment_id}.", code="payment-not-found")
        _check(settings, who, await _bill_or_404(session, row.bill_id))
        payment, asked = await service.begin_refund(
            session, settings, payment_id, body.amount, body.reason, actor=who.subject,
            through_provider=clients.refunds_through_api(row.provider),
        )  # fmt: skip
        payment_as_known, refund_as_sent = settlement.payment_ref(payment), settlement.refund_ref(asked, payment)
        request_id, provider = asked.id, payment.provider
        if asked.state is RefundStatus.MANUAL:
            return _refund_out(payment, asked)
    try:
        result = await clients.refund(provider, payment_as_known, refund_as_sent, service.now())
        answer, detail, refund_id = result.answer.value, result.detail, result.provider_refund_id
    except ApiError as exc:  # lost or unreadable: what the provider did is unknown until it is asked
        answer, detail, refund_id = "unknown", str(exc), None
    async with db.sessionmaker() as session, session.begin():
        payment, asked = await service.finish_refund(
            session, settings, request_id, answer, detail, provider_refund_id=refund_id
        )
        out = _refund_out(payment, asked)
    if asked.state is RefundStatus.REFUSED:
        raise Problem(
            422,
            f"{provider} refused the refund: {asked.provider_answer}",
            code="refund-refused",
            refund=out.refund.model_dump(mode="json") if out.refund else None,
        )
    if asked.state is not RefundStatus.ACCEPTED:
        response.status_code = 202
    return out


def _refund_out(payment: PaymentState, asked: RefundState) -> PaymentOut:
    out = PaymentOut.model_validate(payment)
    out.refund = RefundOut.model_validate(asked)
    return out


@router.post("/payments/expire", summary="Run the expiry sweep now (it also runs on a timer)")
async def expire(
    settings: SettingsDep, session: SessionDep, who: Annotated[Identity, Depends(require(*access.ADMINISTRATORS))]
) -> dict[str, int]:
    return {"expired": await service.expire_due(session, settings)}
