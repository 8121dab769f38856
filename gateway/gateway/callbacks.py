"""Payment providers' callbacks: public routes under /api/v1/callbacks/, forwarded to payment-svc as they were sent.

No payment provider sends an API key or any header of ours, so these routes take none: the provider's own signature
is the credential, and payment-svc verifies it over the raw request. The gateway forwards the body byte for byte,
the query string byte for byte (VNPay signs the encoded values) and the provider's headers, and checks only what it
can check without the providers' secrets:

- the method each provider uses (payOS, MoMo and ZaloPay POST; VNPay's IPN and its browser return URL are GETs);
- an unguessable path token per provider, when one is set (`GATEWAY_CALLBACK_PATH_TOKENS`);
- the provider's source networks, when an allow-list is set (`GATEWAY_CALLBACK_ALLOWED_NETWORKS`);
- a body-size limit (providers send a few hundred bytes) and a rate limit per source address.

A refusal is answered in the provider's own format and with the status its protocol expects (VNPay wants 200 and
an `RspCode`; ZaloPay a `return_code`), logged as a security event and counted; nothing reaches payment-svc.

| public route                                   | provider sends          | payment-svc route        |
|------------------------------------------------|-------------------------|--------------------------|
| POST /api/v1/callbacks/payos[/<token>]         | webhook, URL confirm    | POST /webhooks/payos     |
| GET  /api/v1/callbacks/vnpay[/<token>]         | IPN (signed query)      | GET /webhooks/vnpay      |
| GET  /api/v1/callbacks/vnpay/return            | the citizen's browser   | GET /webhooks/vnpay/return |
| POST /api/v1/callbacks/momo[/<token>]          | IPN                     | POST /webhooks/momo      |
| POST /api/v1/callbacks/zalopay[/<token>]       | callback                | POST /webhooks/zalopay   |
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Counter
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.settings import Settings
from services.errors import Problem, problem_response

log = structlog.get_logger("gateway.security")

PREFIX = "/api/v1/callbacks/"
#: The service family the callbacks are forwarded to, and the prefix of its callback routes.
UPSTREAM_FAMILY = "payments"
UPSTREAM_PREFIX = "/webhooks/"
RETURN = "return"

REFUSED = Counter(
    "gateway_callbacks_refused_total", "Provider callbacks refused by the gateway", ["provider", "reason"]
)


@dataclass(frozen=True)
class Provider:
    name: str
    method: str
    #: The HTTP status the provider's protocol wants on every answer (VNPay, ZaloPay: 200, the code in the body);
    #: None: the status that says what happened (413, 429, …).
    retry_status: int | None

    def refusal(self, status: int, message: str) -> Response:
        """The provider's own error reply. Every refusal here is one the provider may retry later."""
        if self.name == "vnpay":
            body: dict[str, Any] = {"RspCode": "99", "Message": message}
        elif self.name == "zalopay":
            body = {"return_code": 0, "return_message": message}
        elif self.name == "payos":
            body = {"success": False, "message": message}
        else:
            body = {"message": message}
        return Response(
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
            status_code=self.retry_status or status,
            media_type="application/json",
        )


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("payos", "POST", None),
        Provider("vnpay", "GET", 200),  # VNPay reads RspCode from a 200 answer; 99 = "other error", retried
        Provider("momo", "POST", None),
        Provider("zalopay", "POST", 200),  # return_code 0 = "retry later"
    )
}


@dataclass(frozen=True)
class Target:
    provider: Provider
    #: the path at payment-svc
    path: str
    #: the citizen's browser coming back from VNPay: no path token, no network allow-list
    browser: bool


class Refusal(Exception):
    def __init__(self, provider: Provider | None, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.provider, self.status, self.reason, self.message = provider, status, reason, message


def resolve(settings: Settings, path: str, method: str) -> Target:
    """Which provider route `path` (below /api/v1/callbacks/) names, checked against the provider's method and
    path token. Raises Refusal."""
    parts = path[len(PREFIX):].split("/")
    provider = PROVIDERS.get(parts[0])
    if provider is None:
        raise Refusal(None, 404, "unknown-provider", f"No callback route for {parts[0]!r}.")
    rest = parts[1:]
    if provider.name == "vnpay" and rest == [RETURN]:
        target = Target(provider, f"{UPSTREAM_PREFIX}vnpay/{RETURN}", browser=True)
    else:
        expected = settings.callback_path_tokens.get(provider.name)
        given = rest[0] if len(rest) == 1 else None
        if len(rest) > 1 or (expected is None and given is not None):
            raise Refusal(provider, 404, "unknown-path", "No such callback route.")
        if expected is not None and (
            given is None or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode())
        ):
            raise Refusal(provider, 404, "bad-path-token", "No such callback route.")
        target = Target(provider, f"{UPSTREAM_PREFIX}{provider.name}", browser=False)
    if method != provider.method:
        raise Refusal(provider, 405, "method", f"{provider.name} callbacks are sent with {provider.method}.")
    return target


def public_path(family: str, service_path: str) -> str | None:
    """The public path of a callback route of payment-svc (its OpenAPI path), else None."""
    if family != UPSTREAM_FAMILY or not service_path.startswith(UPSTREAM_PREFIX):
        return None
    return PREFIX + service_path[len(UPSTREAM_PREFIX):]


def source_allowed(settings: Settings, provider: str, address: str) -> bool:
    networks = settings.callback_allowed_networks.get(provider)
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


async def read_limited(receive: Receive, limit: int) -> bytes | None:
    """The body, or None when it is larger than `limit` (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class CallbackEndpoint:
    """/api/v1/callbacks/…: check what the gateway can check, then forward as received."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        address = client[0] if client else ""
        try:
            target = resolve(self.settings, scope["path"], scope["method"])
            provider = target.provider
            if not target.browser and not source_allowed(self.settings, provider.name, address):
                raise Refusal(provider, 403, "source-network", "This address may not send callbacks.")
            gateway = scope["app"].state.gateway
            try:
                await gateway.limits.callback(provider.name, address)
            except Problem as exc:
                raise Refusal(provider, 429, "rate-limited", exc.detail) from None
            if len(scope.get("query_string", b"")) > self.settings.callback_max_query_bytes:
                raise Refusal(provider, 414, "query-too-long", "The query string is too long.")
            body = await read_limited(receive, self.settings.callback_max_body_bytes)
            if body is None:
                raise Refusal(provider, 413, "body-too-large",
                              f"The body is larger than {self.settings.callback_max_body_bytes} bytes.")
            try:
                await gateway.upstreams.forward(scope, receive, send, UPSTREAM_FAMILY, target.path, None, body,
                                                path=target.path)
            except Problem as exc:  # payment-svc unreachable or too slow: the provider retries later
                REFUSED.labels(provider.name, "upstream").inc()
                await provider.refusal(exc.status, exc.detail)(scope, receive, send)
        except Refusal as refusal:
            REFUSED.labels(refusal.provider.name if refusal.provider else "unknown", refusal.reason).inc()
            log.warning("callback_refused", security=True, provider=refusal.provider.name if refusal.provider else None,
                        reason=refusal.reason, client=address, path=scope["path"])
            if refusal.provider is None:
                response: Response = problem_response(404, refusal.message, code="not-found", instance=scope["path"])
            else:
                response = refusal.provider.refusal(refusal.status, refusal.message)
            await response(scope, receive, send)
