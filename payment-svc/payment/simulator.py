"""Provider simulator: plays the wallet for demos and tests, over real HTTP.

Given a VietQR payload (as the citizen's wallet scans it) or an order reference and amount, it "pays" and sends
the provider's correctly signed webhook to the service (or the gateway), with options to misbehave the way real
providers and networks do::

    python -m payment.simulator pay --url http://127.0.0.1:8104 --provider vnpay --payload '000201…6304ABCD'
    python -m payment.simulator pay --url … --provider payos --order-ref 123456789012345 --amount 50000 \\
        --duplicate 5 --reorder --delay 0.2
    python -m payment.simulator pay --url … --provider momo --payload … --corrupt
    python -m payment.simulator serve --port 8190 --url http://127.0.0.1:8104   # POST /pay with the same options

Options: --fail (the wallet declines), --duplicate N (N copies of the webhook, sent at once), --reorder (after the
payment, a "failed" notification of an earlier attempt arrives late), --delay S (seconds before each send),
--corrupt (the signature does not match), --amount-delta D (the wallet reports D VND more or less than asked).

It signs with the provider secrets of payment-svc's settings (PAYMENT_* variables), and presents itself with a
wallet identity: the gateway's internal token minted with MOTCUA_/PAYMENT_INTERNAL_TOKEN_SECRET (direct to the
service), or any headers given with --header (through the gateway with the wallet's credentials).
Prints one JSON line per request sent: provider, kind, status code, body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, model_validator

from payment.providers import SignedRequest, WebhookProvider
from payment.settings import Settings
from payment.vietqr import parse_payload
from payment.webhooks import build_providers
from services.identity import HEADER, Identity, Role, mint


@dataclass
class Plan:
    provider: str
    order_ref: str
    amount: int
    txn_id: str = field(default_factory=lambda: str(10**11 + secrets.randbelow(9 * 10**11)))
    fail: bool = False
    duplicate: int = 1
    reorder: bool = False
    delay: float = 0.0
    corrupt: bool = False
    amount_delta: int = 0


def order_from_payload(payload: str) -> tuple[str, int]:
    """The order reference and amount a wallet reads from a VietQR: tag 62/05, else the digits of the purpose."""
    qr = parse_payload(payload)
    ref = qr.reference
    if not ref and qr.purpose:
        digits = re.findall(r"[0-9]{6,}", qr.purpose)
        ref = digits[-1] if digits else None
    if not ref:
        raise ValueError("the QR carries no order reference (62/05) nor one in its purpose (62/08)")
    if qr.amount is None:
        raise ValueError("a static QR has no amount: give --amount")
    return ref, qr.amount


def _corrupt(request: SignedRequest) -> SignedRequest:
    """Flip the last hex digit of the signature: the request is otherwise exactly as signed."""

    def flip(sig: str) -> str:
        return sig[:-1] + ("0" if sig[-1] != "0" else "1")

    if request.method == "GET":
        query = re.sub(
            r"(vnp_SecureHash=)([0-9a-fA-F]+)", lambda m: m.group(1) + flip(m.group(2)), request.query_string
        )
        return SignedRequest(request.method, query, request.body, request.headers)
    body = json.loads(request.body)
    key = "mac" if "mac" in body else "signature"
    body[key] = flip(str(body[key]))
    return SignedRequest(request.method, request.query_string, json.dumps(body).encode(), request.headers)


def build_requests(provider: WebhookProvider, plan: Plan) -> list[tuple[str, SignedRequest]]:
    """The webhook requests of a plan, in sending order, each with a label."""
    reported = plan.amount + plan.amount_delta
    main = provider.simulate(plan.order_ref, reported, plan.txn_id, success=not plan.fail)
    if plan.corrupt:
        main = _corrupt(main)
    label = "failed" if plan.fail else "paid"
    requests = [(label, main)] * max(1, plan.duplicate)
    if plan.reorder:
        earlier = provider.simulate(plan.order_ref, reported, plan.txn_id + "0", success=False)
        requests.append(("failed-late", earlier))
    return requests


async def send(
    client: httpx.AsyncClient, base_url: str, provider: str, request: SignedRequest, headers: dict[str, str]
) -> httpx.Response:
    url = f"{base_url.rstrip('/')}/webhooks/{provider}"
    all_headers = {**request.headers, **headers}
    if request.method == "GET":
        return await client.get(f"{url}?{request.query_string}", headers=all_headers)
    return await client.post(url, content=request.body, headers=all_headers)


def wallet_headers(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    token = mint(
        Identity(subject="wallet-simulator", role=Role.WALLET), settings.internal_token_secret.get_secret_value()
    )
    return {HEADER: token, **(extra or {})}


async def run(
    plan: Plan,
    base_url: str,
    *,
    settings: Settings | None = None,
    headers: dict[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
) -> list[dict[str, Any]]:
    """Carry out a plan; returns what each request got back."""
    settings = settings or Settings()
    provider = build_providers(settings)[plan.provider]
    requests = build_requests(provider, plan)
    own = client is None
    http = client or httpx.AsyncClient(timeout=30)
    results: list[dict[str, Any]] = []
    try:
        # Copies of one webhook go out together (a provider retrying while the first is still in flight).
        groups: list[list[tuple[str, SignedRequest]]] = []
        for item in requests:
            if groups and groups[-1][0] == item:
                groups[-1].append(item)
            else:
                groups.append([item])
        for group in groups:
            if plan.delay:
                await asyncio.sleep(plan.delay)
            hdrs = wallet_headers(settings, headers)
            responses = await asyncio.gather(*(send(http, base_url, plan.provider, r, hdrs) for _, r in group))
            for (label, _), response in zip(group, responses, strict=True):
                try:
                    body: Any = response.json() if response.content else None
                except ValueError:
                    body = response.text
                results.append({"provider": plan.provider, "kind": label, "status": response.status_code, "body": body})
    finally:
        if own:
            await http.aclose()
    return results


# --- HTTP mode -----------------------------------------------------------------------------------------


class PayRequest(BaseModel):
    """What POST /pay takes: the QR as scanned, or an order reference and an amount; the options of `pay`."""

    provider: Literal["payos", "vnpay", "momo", "zalopay"]
    payload: str | None = None
    order_ref: str | None = None
    amount: int | None = Field(default=None, gt=0)
    fail: bool = False
    duplicate: int = Field(default=1, ge=1, le=100)
    reorder: bool = False
    delay: float = Field(default=0.0, ge=0, le=60)
    corrupt: bool = False
    amount_delta: int = 0

    @model_validator(mode="after")
    def _what_to_pay(self) -> PayRequest:
        if not self.payload and not (self.order_ref and self.amount is not None):
            raise ValueError("give a payload, or an order_ref and an amount")
        return self


def http_app(base_url: str, settings: Settings | None = None) -> Any:
    """A tiny wallet: POST /pay {"payload" | "order_ref"+"amount", "provider", options…} → the webhooks' answers."""
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="motcua wallet simulator")

    @app.post("/pay")
    async def pay(body: PayRequest) -> dict[str, Any]:
        order_ref, amount = body.order_ref, body.amount
        if body.payload:
            try:
                order_ref, qr_amount = order_from_payload(body.payload)
            except ValueError as exc:
                raise HTTPException(422, f"payload: {exc}") from exc
            amount = amount or qr_amount
        if not order_ref or amount is None:
            raise HTTPException(422, "the payload carries no order reference or amount")
        plan = Plan(
            provider=body.provider,
            order_ref=order_ref,
            amount=amount,
            fail=body.fail,
            duplicate=body.duplicate,
            reorder=body.reorder,
            delay=body.delay,
            corrupt=body.corrupt,
            amount_delta=body.amount_delta,
        )
        return {"plan": asdict(plan), "responses": await run(plan, base_url, settings=settings)}

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payment.simulator", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pay = sub.add_parser("pay", help="pay one order and send its webhooks")
    pay.add_argument("--url", required=True, help="payment-svc (or gateway payments prefix) base URL")
    pay.add_argument("--provider", required=True, choices=["payos", "vnpay", "momo", "zalopay"])
    pay.add_argument("--payload", help="VietQR payload text as scanned")
    pay.add_argument("--order-ref")
    pay.add_argument("--amount", type=int)
    pay.add_argument("--txn-id", help="provider transaction id (random by default)")
    pay.add_argument("--fail", action="store_true")
    pay.add_argument("--duplicate", type=int, default=1)
    pay.add_argument("--reorder", action="store_true")
    pay.add_argument("--delay", type=float, default=0.0)
    pay.add_argument("--corrupt", action="store_true")
    pay.add_argument("--amount-delta", type=int, default=0)
    pay.add_argument("--header", action="append", default=[], help="extra header 'Name: value' (repeatable)")
    serve = sub.add_parser("serve", help="run the wallet as an HTTP service (POST /pay)")
    serve.add_argument("--url", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8190)
    args = parser.parse_args(argv)

    if args.command == "serve":
        import uvicorn

        uvicorn.run(http_app(args.url), host=args.host, port=args.port, log_level="warning")
        return 0

    order_ref, amount = args.order_ref, args.amount
    if args.payload:
        order_ref, qr_amount = order_from_payload(args.payload)
        amount = amount or qr_amount
    if not order_ref or amount is None:
        parser.error("give --payload, or --order-ref and --amount")
    plan = Plan(
        provider=args.provider,
        order_ref=order_ref,
        amount=amount,
        fail=args.fail,
        duplicate=args.duplicate,
        reorder=args.reorder,
        delay=args.delay,
        corrupt=args.corrupt,
        amount_delta=args.amount_delta,
    )
    if args.txn_id:
        plan.txn_id = args.txn_id
    headers = dict(h.split(":", 1) for h in args.header)
    results = asyncio.run(run(plan, args.url, headers={k.strip(): v.strip() for k, v in headers.items()}))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    return 0 if all(r["status"] < 500 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
