"""Provider simulator: plays the payment providers for demos, tests and the simulated quarter, over real HTTP.

It is the provider, and sends and answers exactly what the provider's servers do, nothing more:
- **callbacks**: given a VietQR payload (as the citizen's wallet scans it) or an order reference and amount, it
  "pays" and sends the provider's correctly signed callback to the centre's callback URL — payOS, MoMo and ZaloPay
  as JSON POSTs, VNPay's IPN as a GET with the signed query string — with no API key and no header of ours;
- **the providers' APIs** (`serve`): the status queries (VNPay querydr, payOS payment-requests, MoMo query,
  ZaloPay query), the refunds and their status queries, and payOS's webhook-URL confirmation, each checking the
  centre's signature and answering in the provider's format, from the books of what it was paid.

::

    python -m provider_simulator pay --url http://127.0.0.1:8000/api/v1/callbacks --provider vnpay --payload '0002…'
    python -m provider_simulator pay --url … --provider payos --order-ref 123456789012345 --amount 50000 \
        --duplicate 5 --reorder --delay 0.2
    python -m provider_simulator serve --port 8190 --url http://127.0.0.1:8000/api/v1/callbacks
        # the providers' APIs at /merchant_webapi/api/transaction (VNPay), /v2/payment-requests/… (payOS),
        # /v2/gateway/api/… (MoMo), /v2/query… (ZaloPay); POST /pay to pay with the options below

`--url` is the base of the callback URLs: the provider's name is appended (`…/callbacks/vnpay`); `--path-token
PROVIDER=TOKEN` appends a path token as registered in the provider's merchant portal. Options: --fail (the wallet
declines), --duplicate N (N copies of the callback, sent at once), --reorder (after the payment, a "failed" callback
of an earlier attempt arrives late), --delay S (seconds before each send), --corrupt (the signature does not match),
--amount-delta D (the wallet reports D VND more or less than asked), --lose (the callback is lost on the way: only
the centre's status query finds the payment).

It signs with the provider secrets of payment-svc's settings (PAYMENT_* variables). Prints one JSON line per
callback sent: provider, kind, status code, body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
from fastapi import FastAPI, HTTPException, Request, Response
from payment import provider_api as api
from payment.providers import SignedRequest, WebhookProvider, _hmac_hex, _same_hex, payos_signature
from payment.settings import Settings
from payment.vietqr import parse_payload
from payment.webhooks.service import build_providers
from pydantic import BaseModel, Field, model_validator

from services import clock
from services.clock import VN_TZ


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
    #: the callback is lost on the way (the provider took the money; only a status query will find it)
    lose: bool = False
    #: when the wallet paid (business time); None: now
    paid_at: datetime | None = None


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
    main = provider.simulate(plan.order_ref, reported, plan.txn_id, success=not plan.fail, paid_at=plan.paid_at)
    if plan.corrupt:
        main = _corrupt(main)
    label = "failed" if plan.fail else "paid"
    requests = [(label, main)] * max(1, plan.duplicate)
    if plan.reorder:
        earlier = provider.simulate(plan.order_ref, reported, plan.txn_id + "0", success=False, paid_at=plan.paid_at)
        requests.append(("failed-late", earlier))
    return requests


def callback_url(base_url: str, provider: str, path_tokens: dict[str, str] | None = None) -> str:
    """The URL the centre registered with `provider`: the callbacks base, the provider, its path token if any."""
    token = (path_tokens or {}).get(provider)
    return f"{base_url.rstrip('/')}/{provider}" + (f"/{token}" if token else "")


def acknowledged(provider: str, status: int, body: Any) -> bool:
    """Whether the provider takes the centre's answer as "delivered" and stops retrying its callback."""
    if provider == "vnpay":
        return status == 200 and isinstance(body, dict) and body.get("RspCode") in ("00", "02")
    if provider == "zalopay":
        return status == 200 and isinstance(body, dict) and body.get("return_code") in (1, 2)
    if provider == "momo":
        return status == 204
    return 200 <= status < 300  # payOS: any 2xx


async def send(client: httpx.AsyncClient, url: str, request: SignedRequest) -> httpx.Response:
    """One callback exactly as the provider sends it: its method, its headers, its body or query string."""
    if request.method == "GET":
        return await client.get(f"{url}?{request.query_string}", headers=request.headers)
    return await client.post(url, content=request.body, headers=request.headers)


async def run(
    plan: Plan,
    base_url: str,
    *,
    settings: Settings | None = None,
    client: httpx.AsyncClient | None = None,
    books: Books | None = None,
    path_tokens: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Carry out a plan: the wallet pays (or declines), the provider books it and sends its callbacks (none when
    the plan loses them); returns what each callback got back."""
    settings = settings or Settings()
    provider = build_providers(settings)[plan.provider]
    if books is not None:
        books.pay(plan)
    if plan.lose:
        return []
    requests = build_requests(provider, plan)
    url = callback_url(base_url, plan.provider, path_tokens)
    own = client is None
    http = client or httpx.AsyncClient(timeout=30)
    results: list[dict[str, Any]] = []
    try:
        # Copies of one callback go out together (a provider retrying while the first is still in flight).
        groups: list[list[tuple[str, SignedRequest]]] = []
        for item in requests:
            if groups and groups[-1][0] == item:
                groups[-1].append(item)
            else:
                groups.append([item])
        for group in groups:
            if plan.delay:
                await asyncio.sleep(plan.delay)
            responses = await asyncio.gather(*(send(http, url, r) for _, r in group))
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


# --- The provider's books and servers ----------------------------------------------------------------------


@dataclass
class Order:
    provider: str
    order_ref: str
    amount: int
    txn_id: str
    paid: bool
    paid_at: datetime
    refunds: list[Refund] = field(default_factory=list)

    @property
    def refunded(self) -> int:
        return sum(r.amount for r in self.refunds if r.accepted)


@dataclass
class Refund:
    request_id: str
    amount: int
    accepted: bool
    message: str
    at: datetime


@dataclass
class Books:
    """What the providers know: the orders they were paid (or declined), the refunds they were asked for; and how
    they misbehave (set by tests, or through POST /control)."""

    orders: dict[tuple[str, str], Order] = field(default_factory=dict)
    #: refunds by (provider, request id): a request id seen again is the same refund, never a second one
    refunds: dict[tuple[str, str], Refund] = field(default_factory=dict)
    #: every request the centre made to the providers' APIs: (provider, operation)
    calls: list[tuple[str, str]] = field(default_factory=list)
    refuse_refunds: bool = False
    #: the next N refund answers are lost (the refund is booked, the answer comes after the centre gave up)
    lose_refund_answers: int = 0
    #: the next N status queries answer 503
    failing_queries: int = 0
    #: seconds a lost answer is held back (longer than the centre's timeout)
    lost_answer_delay: float = 5.0

    def pay(self, plan: Plan) -> None:
        self.orders[(plan.provider, plan.order_ref)] = Order(
            plan.provider, plan.order_ref, plan.amount + plan.amount_delta, plan.txn_id, not plan.fail,
            plan.paid_at or clock.now(),
        )

    def order(self, provider: str, order_ref: str) -> Order | None:
        return self.orders.get((provider, order_ref))

    def by_txn(self, provider: str, txn: str) -> Order | None:
        return next((o for o in self.orders.values() if o.provider == provider and o.txn_id == txn), None)

    def refund(self, provider: str, order: Order | None, request_id: str, amount: int) -> Refund:
        """Book a refund once per request id; refused when refunds are refused, unknown or more than is left."""
        existing = self.refunds.get((provider, request_id))
        if existing is not None:
            return existing
        if order is None or not order.paid:
            refund = Refund(request_id, amount, False, "transaction not found", clock.now())
        elif self.refuse_refunds:
            refund = Refund(request_id, amount, False, "refund not allowed for this transaction", clock.now())
        elif amount <= 0 or amount > order.amount - order.refunded:
            refund = Refund(request_id, amount, False, "amount exceeds the refundable amount", clock.now())
        else:
            refund = Refund(request_id, amount, True, "refund successful", clock.now())
            order.refunds.append(refund)
        self.refunds[(provider, request_id)] = refund
        return refund


def provider_app(books: Books, settings: Settings, callbacks_url: str | None = None,
                 path_tokens: dict[str, str] | None = None) -> Any:
    """The four providers' server APIs on one HTTP app, answering from `books` (and POST /pay, the wallet)."""
    app = FastAPI(title="motcua payment providers simulator")
    vnpay_secret = settings.vnpay_hash_secret.get_secret_value()
    momo_access, momo_secret = settings.momo_access_key.get_secret_value(), settings.momo_secret_key.get_secret_value()
    key1 = settings.zalopay_key1.get_secret_value()

    def reply(obj: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(), status_code=status,
                        media_type="application/json")

    async def lose_answer() -> bool:
        if books.lose_refund_answers > 0:
            books.lose_refund_answers -= 1
            await asyncio.sleep(books.lost_answer_delay)
            return True
        return False

    def unavailable() -> Response | None:
        if books.failing_queries > 0:
            books.failing_queries -= 1
            return Response(b"Service Unavailable", status_code=503, media_type="text/plain")
        return None

    # --- VNPay: one endpoint, the command in the body ----------------------------------------------------------
    @app.post("/merchant_webapi/api/transaction")
    async def vnpay(request: Request) -> Response:
        body = await request.json()
        command = body.get("vnp_Command")
        books.calls.append(("vnpay", str(command)))
        fields = api.VNPAY_QUERY_FIELDS if command == "querydr" else api.VNPAY_REFUND_FIELDS
        response_id = secrets.token_hex(8)
        if not _same_hex(api.vnpay_api_hash(body, fields, vnpay_secret), str(body.get("vnp_SecureHash", ""))):
            return reply({"vnp_ResponseId": response_id, "vnp_Command": command, "vnp_ResponseCode": "97",
                          "vnp_Message": "Invalid Checksum"})
        if body.get("vnp_TmnCode") != settings.vnpay_tmn_code:
            return reply({"vnp_ResponseId": response_id, "vnp_Command": command, "vnp_ResponseCode": "02",
                          "vnp_Message": "Merchant is not active"})
        order = books.order("vnpay", str(body.get("vnp_TxnRef")))
        answer: dict[str, Any] = {"vnp_ResponseId": response_id, "vnp_Command": command,
                                  "vnp_TmnCode": settings.vnpay_tmn_code, "vnp_TxnRef": body.get("vnp_TxnRef")}
        if command == "querydr":
            if (failing := unavailable()) is not None:
                return failing
            if order is None:
                answer.update(vnp_ResponseCode="91", vnp_Message="Khong tim thay giao dich")
                answer["vnp_SecureHash"] = api.vnpay_api_hash(answer, api.VNPAY_QUERY_ANSWER_FIELDS, vnpay_secret)
                return reply(answer)
            last_refund = order.refunds[-1] if order.refunds else None
            answer.update(
                vnp_ResponseCode="00", vnp_Message="QueryDR Success",
                vnp_Amount=str((last_refund.amount if last_refund else order.amount) * 100), vnp_BankCode="NCB",
                vnp_PayDate=order.paid_at.astimezone(VN_TZ).strftime("%Y%m%d%H%M%S"),
                vnp_TransactionNo=order.txn_id if order.paid else "0",
                vnp_TransactionType=("02" if order.refunded == order.amount else "03") if last_refund else "01",
                vnp_TransactionStatus="00" if order.paid else "02",
                vnp_OrderInfo=body.get("vnp_OrderInfo", ""), vnp_PromotionCode="", vnp_PromotionAmount="",
            )  # fmt: skip
            answer["vnp_SecureHash"] = api.vnpay_api_hash(answer, api.VNPAY_QUERY_ANSWER_FIELDS, vnpay_secret)
            return reply(answer)
        if command != "refund":
            return reply({"vnp_ResponseId": response_id, "vnp_ResponseCode": "99", "vnp_Message": "Unknown command"})
        amount = int(str(body.get("vnp_Amount", "0"))) // 100
        if order is not None and body.get("vnp_TransactionNo") != order.txn_id:
            order = None
        duplicate = (("vnpay", str(body.get("vnp_RequestId"))) in books.refunds)
        refund = books.refund("vnpay", order, str(body.get("vnp_RequestId")), amount)
        if await lose_answer():
            return Response(status_code=504)
        if duplicate:
            code, message = "94", "Yeu cau bi trung lap"
        elif refund.accepted:
            code, message = "00", "Refund success"
        else:
            code, message = ("91" if order is None else "95"), refund.message
        answer.update(vnp_ResponseCode=code, vnp_Message=message, vnp_Amount=str(amount * 100), vnp_BankCode="NCB",
                      vnp_PayDate=refund.at.astimezone(VN_TZ).strftime("%Y%m%d%H%M%S"),
                      vnp_TransactionNo=order.txn_id if order else "", vnp_TransactionType=body.get(
                          "vnp_TransactionType", ""), vnp_TransactionStatus="05" if refund.accepted else "09",
                      vnp_OrderInfo=body.get("vnp_OrderInfo", ""))  # fmt: skip
        answer["vnp_SecureHash"] = api.vnpay_api_hash(answer, api.VNPAY_REFUND_ANSWER_FIELDS, vnpay_secret)
        return reply(answer)

    # --- payOS ------------------------------------------------------------------------------------------------
    def payos_credentials(request: Request) -> bool:
        return (request.headers.get("x-client-id") == settings.payos_client_id
                and request.headers.get("x-api-key") == settings.payos_api_key.get_secret_value())

    @app.get("/v2/payment-requests/{order_code}")
    async def payos_info(order_code: str, request: Request) -> Response:
        books.calls.append(("payos", "payment-requests"))
        if not payos_credentials(request):
            return reply({"code": "01", "desc": "Thông tin xác thực không hợp lệ", "data": None}, 401)
        if (failing := unavailable()) is not None:
            return failing
        order = books.order("payos", order_code)
        if order is None:
            return reply({"code": "101", "desc": "Không tìm thấy thông tin link thanh toán", "data": None})
        data = {
            "id": secrets.token_hex(16), "orderCode": int(order_code) if order_code.isdigit() else order_code,
            "amount": order.amount, "amountPaid": order.amount if order.paid else 0,
            "amountRemaining": 0 if order.paid else order.amount, "status": "PAID" if order.paid else "CANCELLED",
            "createdAt": order.paid_at.astimezone(VN_TZ).isoformat(),
            "transactions": [{
                "reference": order.txn_id, "amount": order.amount, "accountNumber": settings.bank_account,
                "description": order.order_ref,
                "transactionDateTime": order.paid_at.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M:%S"),
                "virtualAccountName": "", "virtualAccountNumber": "", "counterAccountBankId": "",
                "counterAccountBankName": "", "counterAccountName": "", "counterAccountNumber": "",
            }] if order.paid else [],
            "canceledAt": None if order.paid else order.paid_at.astimezone(VN_TZ).isoformat(),
            "cancellationReason": None if order.paid else "Người dùng hủy",
        }  # fmt: skip
        return reply({"code": "00", "desc": "success", "data": data,
                      "signature": payos_signature(data, settings.payos_checksum_key.get_secret_value())})

    @app.post("/confirm-webhook")
    async def payos_confirm(request: Request) -> Response:
        """payOS checks a webhook URL before taking it: a signed sample webhook must be answered 2xx."""
        books.calls.append(("payos", "confirm-webhook"))
        if not payos_credentials(request):
            return reply({"code": "01", "desc": "Thông tin xác thực không hợp lệ", "data": None}, 401)
        url = str((await request.json()).get("webhookUrl", ""))
        sample = build_providers(settings)["payos"].sign_request({
            "orderCode": 123, "amount": 3000, "description": "VQRIO123", "accountNumber": "12345678",
            "reference": "TF230204212323", "transactionDateTime": "2023-02-04 18:25:00", "currency": "VND",
            "paymentLinkId": "124c33293c43417ab7879e14c8d9eb18", "code": "00", "desc": "Thành công",
            "counterAccountBankId": "", "counterAccountBankName": "", "counterAccountName": "",
            "counterAccountNumber": "", "virtualAccountName": "", "virtualAccountNumber": "",
        })  # fmt: skip
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await send(http, url, sample)
        except httpx.HTTPError:
            return reply({"code": "20", "desc": "Webhook URL không phản hồi", "data": None})
        if not 200 <= answer.status_code < 300:
            return reply({"code": "20", "desc": f"Webhook URL trả về {answer.status_code}", "data": None})
        return reply({"code": "00", "desc": "success", "data": {"webhookUrl": url}})

    # --- MoMo -------------------------------------------------------------------------------------------------
    def momo_signed(body: dict[str, Any], order: tuple[str, ...]) -> bool:
        return _same_hex(api.momo_signature(body, order, momo_access, momo_secret), str(body.get("signature")))

    def momo_answer(obj: dict[str, Any]) -> Response:
        obj["signature"] = api.momo_signature(obj, api.MOMO_QUERY_ANSWER_FIELDS, momo_access, momo_secret)
        return reply(obj)

    @app.post("/v2/gateway/api/query")
    async def momo_query(request: Request) -> Response:
        body = await request.json()
        books.calls.append(("momo", "query"))
        if not momo_signed(body, api.MOMO_QUERY_FIELDS) or body.get("partnerCode") != settings.momo_partner_code:
            return reply({"resultCode": 11, "message": "Access denied"}, 400)
        if (failing := unavailable()) is not None:
            return failing
        order = books.order("momo", str(body.get("orderId")))
        common = {"partnerCode": settings.momo_partner_code, "orderId": body.get("orderId"),
                  "requestId": body.get("requestId"), "extraData": "", "payType": "qr",
                  "responseTime": int(clock.now().timestamp() * 1000)}
        if order is None:
            return reply({**common, "resultCode": 42, "message": "Đơn hàng không tồn tại", "amount": 0, "transId": 0})
        return momo_answer({**common, "amount": order.amount,
                            "transId": int(order.txn_id) if order.txn_id.isdigit() else order.txn_id,
                            "resultCode": 0 if order.paid else 1006,
                            "message": "Thành công." if order.paid else "Giao dịch bị từ chối bởi người dùng.",
                            "responseTime": int(order.paid_at.timestamp() * 1000),
                            "refundTrans": [], "lastUpdated": int(order.paid_at.timestamp() * 1000)})

    @app.post("/v2/gateway/api/refund")
    async def momo_refund(request: Request) -> Response:
        body = await request.json()
        books.calls.append(("momo", "refund"))
        if not momo_signed(body, api.MOMO_REFUND_FIELDS) or body.get("partnerCode") != settings.momo_partner_code:
            return reply({"resultCode": 11, "message": "Access denied"}, 400)
        order = books.by_txn("momo", str(body.get("transId")))
        refund = books.refund("momo", order, str(body.get("requestId")), int(body.get("amount", 0)))
        if await lose_answer():
            return Response(status_code=504)
        return reply({"partnerCode": settings.momo_partner_code, "orderId": body.get("orderId"),
                      "requestId": body.get("requestId"), "amount": refund.amount,
                      "transId": secrets.randbelow(10**10) if refund.accepted else 0,
                      "resultCode": 0 if refund.accepted else 1080, "message": refund.message,
                      "responseTime": int(clock.now().timestamp() * 1000)})

    @app.post("/v2/gateway/api/refund/query")
    async def momo_refund_query(request: Request) -> Response:
        body = await request.json()
        books.calls.append(("momo", "refund-query"))
        if not momo_signed(body, api.MOMO_QUERY_FIELDS):
            return reply({"resultCode": 11, "message": "Access denied"}, 400)
        order = books.order("momo", str(body.get("orderId")))
        if order is None:
            return reply({"resultCode": 42, "message": "Đơn hàng không tồn tại", "refundTrans": []})
        trans = [{"orderId": f"R{request_id}", "amount": r.amount, "resultCode": 0 if r.accepted else 1080,
                  "transId": 0, "createdTime": int(r.at.timestamp() * 1000)}
                 for (provider, request_id), r in books.refunds.items() if provider == "momo" and r in order.refunds]
        return reply({"partnerCode": settings.momo_partner_code, "orderId": order.order_ref,
                      "requestId": body.get("requestId"), "resultCode": 0, "message": "Thành công.",
                      "refundTrans": trans})

    # --- ZaloPay ----------------------------------------------------------------------------------------------
    async def form(request: Request) -> dict[str, str]:
        return api.parse_form(await request.body())

    def zalo_mac(*values: object) -> str:
        return _hmac_hex(key1, "|".join(str(v) for v in values), "sha256")

    @app.post("/v2/query")
    async def zalopay_query(request: Request) -> Response:
        fields = await form(request)
        books.calls.append(("zalopay", "query"))
        if fields.get("mac") != zalo_mac(fields.get("app_id"), fields.get("app_trans_id"), key1):
            return reply({"return_code": 2, "return_message": "Giao dịch thất bại", "sub_return_code": -402,
                          "sub_return_message": "Mac không hợp lệ"})
        if (failing := unavailable()) is not None:
            return failing
        order = books.order("zalopay", str(fields.get("app_trans_id")))
        if order is None:
            return reply({"return_code": 2, "return_message": "Giao dịch thất bại", "sub_return_code": -54,
                          "sub_return_message": "Đơn hàng không tồn tại", "is_processing": False, "amount": 0,
                          "zp_trans_id": 0, "server_time": int(clock.now().timestamp() * 1000),
                          "discount_amount": 0})
        return reply({"return_code": 1, "return_message": "Giao dịch thành công", "sub_return_code": 1,
                      "sub_return_message": "Giao dịch thành công", "is_processing": False, "amount": order.amount,
                      "zp_trans_id": int(order.txn_id) if order.txn_id.isdigit() else order.txn_id,
                      "server_time": int(order.paid_at.timestamp() * 1000), "discount_amount": 0})

    @app.post("/v2/refund")
    async def zalopay_refund(request: Request) -> Response:
        fields = await form(request)
        books.calls.append(("zalopay", "refund"))
        expected = zalo_mac(fields.get("app_id"), fields.get("zp_trans_id"), fields.get("amount"),
                            fields.get("description"), fields.get("timestamp"))
        if fields.get("mac") != expected:
            return reply({"return_code": 2, "return_message": "Mac không hợp lệ", "sub_return_code": -402})
        order = books.by_txn("zalopay", str(fields.get("zp_trans_id")))
        refund = books.refund("zalopay", order, str(fields.get("m_refund_id")), int(fields.get("amount", "0")))
        if await lose_answer():
            return Response(status_code=504)
        return reply({"return_code": 1 if refund.accepted else 2, "return_message": refund.message,
                      "sub_return_code": 1 if refund.accepted else -13, "sub_return_message": refund.message,
                      "refund_id": secrets.randbelow(10**12) if refund.accepted else 0})

    @app.post("/v2/query_refund")
    async def zalopay_query_refund(request: Request) -> Response:
        fields = await form(request)
        books.calls.append(("zalopay", "query-refund"))
        if fields.get("mac") != zalo_mac(fields.get("app_id"), fields.get("m_refund_id"), fields.get("timestamp")):
            return reply({"return_code": 2, "return_message": "Mac không hợp lệ", "sub_return_code": -402})
        refund = books.refunds.get(("zalopay", str(fields.get("m_refund_id"))))
        if refund is None:
            return reply({"return_code": 2, "return_message": "Không tìm thấy yêu cầu hoàn tiền",
                          "sub_return_code": -101, "sub_return_message": "Không tìm thấy yêu cầu hoàn tiền"})
        return reply({"return_code": 1 if refund.accepted else 2, "return_message": refund.message,
                      "sub_return_code": 1 if refund.accepted else -13, "sub_return_message": refund.message})

    # --- the wallet, and the simulator's own controls --------------------------------------------------------
    @app.post("/pay")
    async def pay(body: PayRequest) -> dict[str, Any]:
        if callbacks_url is None:
            raise HTTPException(409, "this simulator was started without --url: it cannot send callbacks")
        order_ref, amount = body.order_ref, body.amount
        if body.payload:
            try:
                order_ref, qr_amount = order_from_payload(body.payload)
            except ValueError as exc:
                raise HTTPException(422, f"payload: {exc}") from exc
            amount = amount or qr_amount
        if not order_ref or amount is None:
            raise HTTPException(422, "the payload carries no order reference or amount")
        plan = Plan(provider=body.provider, order_ref=order_ref, amount=amount, fail=body.fail,
                    duplicate=body.duplicate, reorder=body.reorder, delay=body.delay, corrupt=body.corrupt,
                    amount_delta=body.amount_delta, lose=body.lose)  # fmt: skip
        responses = await run(plan, callbacks_url, settings=settings, books=books, path_tokens=path_tokens)
        return {"plan": asdict(plan), "responses": responses}

    @app.post("/control")
    async def control(body: Control) -> dict[str, Any]:
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(books, name, value)
        return {"refuse_refunds": books.refuse_refunds, "lose_refund_answers": books.lose_refund_answers,
                "failing_queries": books.failing_queries}

    return app


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
    lose: bool = False

    @model_validator(mode="after")
    def _what_to_pay(self) -> PayRequest:
        if not self.payload and not (self.order_ref and self.amount is not None):
            raise ValueError("give a payload, or an order_ref and an amount")
        return self


class Control(BaseModel):
    refuse_refunds: bool | None = None
    lose_refund_answers: int | None = Field(default=None, ge=0)
    failing_queries: int | None = Field(default=None, ge=0)
    lost_answer_delay: float | None = Field(default=None, ge=0, le=120)


def _tokens(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provider_simulator", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pay = sub.add_parser("pay", help="pay one order and send its callbacks")
    pay.add_argument("--url", required=True, help="base of the callback URLs (the provider's name is appended)")
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
    pay.add_argument("--path-token", action="append", default=[], metavar="PROVIDER=TOKEN")
    serve = sub.add_parser("serve", help="run the providers' APIs and the wallet (POST /pay) as an HTTP service")
    serve.add_argument("--url", help="base of the callback URLs, for POST /pay")
    serve.add_argument("--path-token", action="append", default=[], metavar="PROVIDER=TOKEN")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8190)
    args = parser.parse_args(argv)

    if args.command == "serve":
        import uvicorn

        app = provider_app(Books(), Settings(), args.url, _tokens(args.path_token))
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
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
    results = asyncio.run(run(plan, args.url, path_tokens=_tokens(args.path_token)))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    return 0 if all(r["status"] < 500 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
