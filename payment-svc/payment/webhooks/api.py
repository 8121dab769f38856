"""Providers' callbacks, reached through the gateway's public /api/v1/callbacks/….

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

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from payment import dependencies, return_page
from payment.dependencies import ProvidersDep
from payment.providers import ForeignMerchantError, Reply, SignatureError, WebhookError
from payment.webhooks import service
from services.db import SessionDep

log = structlog.get_logger("payment.security")

router = APIRouter(prefix="/webhooks", tags=["callbacks"])


def _response(reply: Reply, status_code: int | None = None) -> Response:
    return Response(reply.body, status_code=status_code or reply.status_code, media_type=reply.content_type or None)


def _client(request: Request) -> str | None:
    forwarded = request.headers.get("x-forwarded-for")
    return forwarded.split(",")[0].strip() if forwarded else (request.client.host if request.client else None)


async def handle(request: Request, name: str) -> Response:
    # The hot path: the application's state is read directly, not through FastAPI's dependency solving.
    provider = dependencies.providers_of(request)[name]
    raw = await request.body()
    query = request.scope.get("query_string", b"").decode("latin-1")
    reply = await service.receive(
        dependencies.notifications_of(request), provider, raw, query, request.headers, client=_client(request)
    )
    return _response(reply)


@router.post("/payos", summary="payOS-style webhook (JSON, HMAC-SHA256 over the sorted data fields)")
async def payos(request: Request) -> Response:
    return await handle(request, "payos")


@router.get("/vnpay", summary="VNPay 2.1.0 IPN (query string, HMAC-SHA512)")
async def vnpay(request: Request) -> Response:
    return await handle(request, "vnpay")


@router.get(
    "/vnpay/return",
    summary="VNPay return URL: the citizen's browser after paying; shows the result, changes nothing",
    response_class=HTMLResponse,
)
async def vnpay_return(request: Request, session: SessionDep, providers: ProvidersDep) -> Response:
    query = request.scope.get("query_string", b"").decode("latin-1")
    try:
        shown = service.shown_on_return(providers["vnpay"], query, request.headers)
    except WebhookError as exc:
        log.warning("vnpay_return_refused", security=isinstance(exc, SignatureError | ForeignMerchantError),
                    reason=str(exc), client=_client(request))  # fmt: skip
        return return_page.refused()
    return return_page.result(shown, await service.recorded_status(session, "vnpay", shown.order_ref))


@router.post("/momo", summary="MoMo v2/v3 IPN (JSON, HMAC-SHA256; answered 204)")
async def momo(request: Request) -> Response:
    return await handle(request, "momo")


@router.post("/zalopay", summary="ZaloPay callback (JSON with a data string and its HMAC-SHA256 mac)")
async def zalopay(request: Request) -> Response:
    return await handle(request, "zalopay")
