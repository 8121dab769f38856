"""Wallet webhooks: one endpoint per provider, reached through the gateway with a wallet identity.

Order of work for each request: the caller must be a wallet (internal identity, Role.WALLET); the provider's
signature is checked over the raw request with a constant-time compare before any field is trusted; a bad or
missing signature is answered 401 (body in the provider's own format), logged as a security event, and nothing is
recorded. A verified notification is applied exactly once in effect (`service.apply_notifications`; concurrent
ones share a transaction, see `group_commit`), and the provider gets the answer its protocol expects once that
transaction has committed.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response

from payment.group_commit import GroupCommit
from payment.providers import (
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
from services.identity import Role, require

log = structlog.get_logger("payment.security")

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
#: Called by the handler itself rather than declared as a dependency: the webhook routes are the hot path.
wallet_only = require(Role.WALLET)


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
    if outcome is Outcome.AMOUNT_MISMATCH:
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


async def handle(request: Request, name: str) -> Response:
    await wallet_only(request)
    providers: dict[str, WebhookProvider] = request.app.state.providers
    provider = providers[name]
    raw = await request.body()
    query = request.scope.get("query_string", b"").decode("latin-1")
    try:
        note = provider.verify(raw, query, request.headers)
        check_storable(note)
    except SignatureError as exc:
        log.warning(
            "webhook_signature_rejected",
            security=True,
            provider=name,
            reason=str(exc),
            client=request.client.host if request.client else None,
            bytes=len(raw) + len(query),
        )
        return _response(provider.reply_bad_signature(), 401)
    except WebhookError as exc:
        log.warning("webhook_malformed", provider=name, reason=str(exc))
        return _response(reply_for(provider, exc))
    notifications: GroupCommit = request.app.state.notifications
    result = await notifications.apply(note)
    outcome = result.first_outcome if result.outcome is Outcome.DUPLICATE and result.first_outcome else result.outcome
    if result.outcome is Outcome.DUPLICATE and outcome is Outcome.APPLIED:
        outcome = Outcome.DUPLICATE
    status = result.payment.status if result.payment else "unknown"
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


@router.post("/vnpay", include_in_schema=False)
async def vnpay_post(request: Request) -> Response:
    return await handle(request, "vnpay")


@router.post("/momo", summary="MoMo v2/v3 IPN (JSON, HMAC-SHA256; answered 204)")
async def momo(request: Request) -> Response:
    return await handle(request, "momo")


@router.post("/zalopay", summary="ZaloPay callback (JSON with a data string and its HMAC-SHA256 mac)")
async def zalopay(request: Request) -> Response:
    return await handle(request, "zalopay")
