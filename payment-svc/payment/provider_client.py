"""Calls of the providers' APIs over HTTP (the requests and answers themselves are `provider_api`'s)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import httpx
import structlog
from prometheus_client import Counter

from payment.provider_api import (
    ApiError,
    ApiRequest,
    MoMoApi,
    PaymentRef,
    PayOSApi,
    ProviderApi,
    QueryResult,
    RefundRef,
    RefundResult,
    VNPayApi,
    ZaloPayApi,
)
from payment.settings import Settings

log = structlog.get_logger(__name__)

A = TypeVar("A", QueryResult, RefundResult)

CALLS = Counter(
    "payment_provider_api_calls_total",
    "Requests to the providers' APIs by operation and result (an answer, or why there was none)",
    ["provider", "operation", "result"],
)


class NoAnswer(ApiError):
    """The provider did not answer (refused, timed out, 5xx): what it did is unknown, ask again later."""


def build_apis(settings: Settings) -> dict[str, ProviderApi]:
    apis: list[ProviderApi] = [
        VNPayApi(settings.vnpay_api_url, settings.vnpay_tmn_code, settings.vnpay_hash_secret.get_secret_value(),
                 settings.vnpay_client_ip),
        PayOSApi(settings.payos_api_url, settings.payos_client_id, settings.payos_api_key.get_secret_value(),
                 settings.payos_checksum_key.get_secret_value()),
        MoMoApi(settings.momo_api_url, settings.momo_partner_code, settings.momo_access_key.get_secret_value(),
                settings.momo_secret_key.get_secret_value()),
        ZaloPayApi(settings.zalopay_api_url, settings.zalopay_app_id, settings.zalopay_key1.get_secret_value()),
    ]  # fmt: skip
    return {api.name: api for api in apis}


class ProviderClients:
    """One pooled HTTP client for the providers' APIs, at most `provider_api_concurrency` requests at once.
    Create it inside the running loop; `close` on shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.apis = build_apis(settings)
        self._http = httpx.AsyncClient(timeout=settings.provider_api_timeout, trust_env=False,
                                       follow_redirects=False)
        self._slots = asyncio.Semaphore(settings.provider_api_concurrency)

    async def close(self) -> None:
        await self._http.aclose()

    def refunds_through_api(self, provider: str) -> bool:
        api = self.apis.get(provider)
        return api is not None and api.refunds

    async def _call(self, provider: str, operation: str, request: ApiRequest) -> tuple[int, bytes]:
        async with self._slots:
            try:
                response = await self._http.request(request.method, request.url, headers=request.headers,
                                                     content=request.body)
            except httpx.HTTPError as exc:
                CALLS.labels(provider, operation, "no_answer").inc()
                raise NoAnswer(f"{provider} {operation}: no answer ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            CALLS.labels(provider, operation, "no_answer").inc()
            raise NoAnswer(f"{provider} {operation}: HTTP {response.status_code}")
        return response.status_code, response.content

    async def _ask(self, provider: str, operation: str, request: ApiRequest, read: Callable[[int, bytes], A]) -> A:
        """Send `request`, read the answer with `read`; the answer (or why it is unusable) is counted."""
        status, body = await self._call(provider, operation, request)
        try:
            result = read(status, body)
        except ApiError:
            CALLS.labels(provider, operation, "unreadable").inc()
            raise
        CALLS.labels(provider, operation, result.answer.value).inc()
        return result

    async def query(self, provider: str, payment: PaymentRef, at: datetime) -> QueryResult:
        api = self.apis[provider]
        return await self._ask(provider, "query", api.query_request(payment, at),
                               lambda status, body: api.query_result(payment, status, body))

    async def refund(self, provider: str, payment: PaymentRef, refund: RefundRef, at: datetime) -> RefundResult:
        api = self.apis[provider]
        return await self._ask(provider, "refund", api.refund_request(payment, refund, at),
                               lambda status, body: api.refund_result(refund, status, body))

    async def refund_status(self, provider: str, payment: PaymentRef, refund: RefundRef, at: datetime) -> RefundResult:
        api = self.apis[provider]
        return await self._ask(provider, "refund_query", api.refund_query_request(payment, refund, at),
                               lambda status, body: api.refund_query_result(refund, status, body))
