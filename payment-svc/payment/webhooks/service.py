"""Verifying a provider's callback, applying it through the group commit (exactly once in effect, answered once
its transaction has committed), answering in the provider's own format; a callback that fails verification is
security-logged and counted, and changes nothing. `webhooks.api` is the edge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from payment import repository
from payment.domain.states import Outcome
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
from payment.settings import Settings

log = structlog.get_logger("payment.security")

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


async def receive(
    notifications: GroupCommit,
    provider: WebhookProvider,
    raw: bytes,
    query: str,
    headers: Mapping[str, str],
    *,
    client: str | None,
) -> Reply:
    """Verify a provider's callback, apply it (once committed) and answer as its protocol expects; a callback
    that fails verification is answered in the provider's format, security-logged and counted, nothing recorded."""
    name = provider.name
    try:
        note = provider.verify(raw, query, headers)
        check_storable(note)
    except (SignatureError, ForeignMerchantError) as exc:
        outcome = "bad_signature" if isinstance(exc, SignatureError) else "foreign_merchant"
        CALLBACKS.labels(name, outcome).inc()
        log.warning(
            "webhook_signature_rejected" if outcome == "bad_signature" else "webhook_foreign_merchant",
            security=True,
            provider=name,
            reason=str(exc),
            client=client,
            bytes=len(raw) + len(query),
        )
        return reply_for(provider, exc)
    except WebhookError as exc:
        CALLBACKS.labels(name, "malformed").inc()
        log.warning("webhook_malformed", provider=name, reason=str(exc), client=client)
        return reply_for(provider, exc)
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
    return reply_for_outcome(provider, outcome, status)


def shown_on_return(provider: WebhookProvider, query: str, headers: Mapping[str, str]) -> Notification:
    """What VNPay's return URL shows, verified as its IPN would be (WebhookError if it is not)."""
    try:
        return provider.verify(b"", query, headers)  # the same signed parameters as the IPN
    except WebhookError:
        CALLBACKS.labels(provider.name, "return_refused").inc()
        raise


async def recorded_status(session: AsyncSession, provider: str, order_ref: str) -> str | None:
    """What payment-svc has recorded of a payment of `provider`, for the citizen's return page."""
    payment = await repository.payment_by_order_ref(session, order_ref)
    return payment.status if payment is not None and payment.provider == provider else None
