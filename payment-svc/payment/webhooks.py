"""Providers' callbacks: one endpoint per provider, reached through the gateway's public /api/v1/callbacks/….

Providers send no credentials of ours, so these endpoints ask for none: the provider's signature, checked over the
raw request with a constant-time compare before any field is trusted, is the credential. A bad or missing
signature, a callback for another merchant or a replay that contradicts what was recorded is answered in the
provider's own format with the HTTP status its protocol expects (VNPay: 200 and RspCode 97), logged as a security
event and counted (`payment_callbacks_total`); nothing is recorded. A verified notification is applied exactly once
in effect (`service.apply_notifications`; concurrent ones share a transaction, see `group_commit`), and the provider
gets the answer its protocol expects once that transaction has committed.

VNPay's return URL (`GET /webhooks/vnpay/return`) is where VNPay sends the citizen's browser after paying: it
shows a Vietnamese result page from the signed query string and what payment-svc has recorded, and changes nothing
(the IPN, or the status query, settles the payment).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from prometheus_client import Counter

from payment import repository, return_page
from payment.group_commit import GroupCommit
from payment.providers import (
    ForeignMerchantError,
    InvalidAmountError,
    MoMoProvider,
    Notification,
    PayOSProvider,
    Reply,
    SignatureError,
    VNPayProvider,
    WebhookError,
    WebhookFormatError,
    WebhookProvider,
    ZaloPayProvider,
    providers_by_name,
    reply_for,
)
from payment.service import Outcome
from payment.settings import Settings
from services.db import SessionDep

log = structlog.get_logger("payment.security")

router = APIRouter(prefix="/webhooks", tags=["callbacks"])

CALLBACKS = Counter(
    "payment_callbacks_total",
    "Providers' callbacks by outcome (applied, duplicate, …, bad_signature, foreign_merchant, malformed)",
    ["provider", "outcome"],
)


def build_providers(settings: Settings) -> dict[str, WebhookProvider]:
    return providers_by_name(
        [
            PayOSProvider(settings.payos_checksum_key.get_secret_value()),
            VNPayProvider(settings.vnpay_hash_secret.get_secret_value(), settings.vnpay_tmn_code),
            MoMoProvider(
                settings.momo_partner_code,
                settings.momo_access_key.get_secret_value(),
                settings.momo_secret_key.get_secret_value(),
            ),
            ZaloPayProvider(settings.zalopay_key2.get_secret_value(), settings.zalopay_app_id),
        ]
    )


def _json(status_code: int, obj: Any) -> Reply:
    return Reply(status_code, json.dumps(obj, separators=(",", ":")).encode(), "application/json")


def reply_final(provider: WebhookProvider, status: str) -> Reply:
    """The answer for a payment already expired or failed: final, do not retry, nothing changed."""
    message = f"payment {status}"
    if provider.name == "vnpay":
        return _json(200, {"RspCode": "02", "Message": f"Order already confirmed ({message})"})
    if provider.name == "zalopay":
        return _json(200, {"return_code": 2, "return_message": message})
    if provider.name == "momo":
        return Reply(204, b"", "")
    return _json(200, {"success": False, "message": message})


def reply_for_outcome(provider: WebhookProvider, outcome: Outcome, status: str) -> Reply:
    if outcome is Outcome.APPLIED:
        return provider.reply_ok()
    if outcome is Outcome.NOT_FOUND:
        return provider.reply_not_found()
    if outcome in (Outcome.AMOUNT_MISMATCH, Outcome.CONFLICTING_REPLAY):
        return provider.reply_bad_amount()
    if outcome is Outcome.FINAL:
        return reply_final(provider, status)
    return provider.reply_duplicate()  # DUPLICATE of an applied one, STALE, DOUBLE_PAYMENT: already confirmed


#: Longest provider transaction id and order reference the notifications table holds.
MAX_ID_LENGTH = 64
#: Amounts are BIGINT.
MAX_AMOUNT = 2**63 - 1


def check_storable(note: Notification) -> None:
    """A correctly signed notification may still carry values our tables cannot hold: malformed (a 4xx)."""
    if note.amount > MAX_AMOUNT:
        raise InvalidAmountError(f"{note.provider}: amount {note.amount} is beyond any possible payment")
    for what, value in (("transaction id", note.provider_txn_id), ("order reference", note.order_ref)):
        if len(value) > MAX_ID_LENGTH:
            raise WebhookFormatError(f"{note.provider}: {what} is longer than {MAX_ID_LENGTH} characters")
    if note.paid_at is not None:
        try:
            note.paid_at.astimezone(UTC)
        except OverflowError:
            raise WebhookFormatError(f"{note.provider}: payment time {note.paid_at} is out of range") from None


def _response(reply: Reply, status_code: int | None = None) -> Response:
    return Response(reply.body, status_code=status_code or reply.status_code, media_type=reply.content_type or None)


def _client(request: Request) -> str | None:
    forwarded = request.headers.get("x-forwarded-for")
    return forwarded.split(",")[0].strip() if forwarded else (request.client.host if request.client else None)


async def handle(request: Request, name: str) -> Response:
    providers: dict[str, WebhookProvider] = request.app.state.providers
    provider = providers[name]
    raw = await request.body()
    query = request.scope.get("query_string", b"").decode("latin-1")
    try:
        note = provider.verify(raw, query, request.headers)
        check_storable(note)
    except (SignatureError, ForeignMerchantError) as exc:
        outcome = "bad_signature" if isinstance(exc, SignatureError) else "foreign_merchant"
        CALLBACKS.labels(name, outcome).inc()
        log.warning(
            "webhook_signature_rejected" if outcome == "bad_signature" else "webhook_foreign_merchant",
            security=True,
            provider=name,
            reason=str(exc),
            client=_client(request),
            bytes=len(raw) + len(query),
        )
        return _response(reply_for(provider, exc))
    except WebhookError as exc:
        CALLBACKS.labels(name, "malformed").inc()
        log.warning("webhook_malformed", provider=name, reason=str(exc), client=_client(request))
        return _response(reply_for(provider, exc))
    notifications: GroupCommit = request.app.state.notifications
    result = await notifications.apply(note)
    outcome = result.first_outcome if result.outcome is Outcome.DUPLICATE and result.first_outcome else result.outcome
    if result.outcome is Outcome.DUPLICATE and outcome is Outcome.APPLIED:
        outcome = Outcome.DUPLICATE
    status = result.payment.status if result.payment else "unknown"
    CALLBACKS.labels(name, result.outcome.value).inc()
    log.info(
        "webhook_applied",
        provider=name,
        outcome=result.outcome.value,
        order_ref=note.order_ref,
        provider_txn_id=note.provider_txn_id,
    )
    return _response(reply_for_outcome(provider, outcome, status))


@router.post("/payos", summary="payOS-style webhook (JSON, HMAC-SHA256 over the sorted data fields)")
async def payos(request: Request) -> Response:
    return await handle(request, "payos")


@router.get("/vnpay", summary="VNPay 2.1.0 IPN (query string, HMAC-SHA512)")
async def vnpay(request: Request) -> Response:
    return await handle(request, "vnpay")


@router.get("/vnpay/return", summary="VNPay return URL: the citizen's browser after paying; shows the result, "
            "changes nothing", response_class=HTMLResponse)
async def vnpay_return(request: Request, session: SessionDep) -> Response:
    provider: WebhookProvider = request.app.state.providers["vnpay"]
    query = request.scope.get("query_string", b"").decode("latin-1")
    try:
        shown = provider.verify(b"", query, request.headers)  # the same signed parameters as the IPN
    except WebhookError as exc:
        CALLBACKS.labels("vnpay", "return_refused").inc()
        log.warning("vnpay_return_refused", security=isinstance(exc, SignatureError | ForeignMerchantError),
                    reason=str(exc), client=_client(request))
        return return_page.refused()
    payment = await repository.payment_by_order_ref(session, shown.order_ref)
    return return_page.result(shown, payment.status if payment is not None and payment.provider == "vnpay" else None)


@router.post("/momo", summary="MoMo v2/v3 IPN (JSON, HMAC-SHA256; answered 204)")
async def momo(request: Request) -> Response:
    return await handle(request, "momo")


@router.post("/zalopay", summary="ZaloPay callback (JSON with a data string and its HMAC-SHA256 mac)")
async def zalopay(request: Request) -> Response:
    return await handle(request, "zalopay")
