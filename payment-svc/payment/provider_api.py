"""The providers' server-side APIs that payment-svc calls: the status query of a payment that went quiet, and
refunds (with their own status query, so that a refund whose answer was lost is asked about, never sent twice).

Each provider's requests are built and signed, and its answers verified and read, by pure functions here; the
HTTP calls are in `provider_client.py`. Where a scheme's details come from (the providers' public API references,
as their sample code uses them), see payment-svc/README.md, "Providers' APIs".

| provider | status query                         | refund                      | refund status                 |
|----------|--------------------------------------|-----------------------------|-------------------------------|
| VNPay    | POST {vnpay_api_url} querydr         | POST {vnpay_api_url} refund | querydr (type 02/03)          |
| payOS    | GET /v2/payment-requests/{orderCode} | none: refunded by hand      | —                             |
| MoMo     | POST /v2/gateway/api/query           | POST /v2/gateway/api/refund | POST /v2/gateway/api/refund/query |
| ZaloPay  | POST /v2/query (form)                | POST /v2/refund (form)      | POST /v2/query_refund (form)  |

Signatures: VNPay HMAC-SHA512 over the fields' values joined with "|" in a fixed order (request and answer);
payOS its client id and API key as headers, the answer's `data` signed like its webhooks; MoMo HMAC-SHA256 over
"accessKey=…&…" in a fixed order (request and answer); ZaloPay HMAC-SHA256 with key1 over values joined with "|".
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

from payment.providers import (
    Notification,
    WebhookFormatError,
    _hmac_hex,
    _js_text,
    _same_hex,
    payos_signature,
)
from services.clock import VN_TZ

__all__ = [
    "ApiError",
    "ApiRequest",
    "MoMoApi",
    "PayOSApi",
    "PaymentRef",
    "ProviderApi",
    "QueryAnswer",
    "QueryResult",
    "RefundAnswer",
    "RefundRef",
    "RefundResult",
    "VNPayApi",
    "ZaloPayApi",
]


class ApiError(Exception):
    """The provider's answer cannot be trusted or read (bad signature, not JSON, missing field, unexpected code)."""


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


@dataclass(frozen=True, slots=True)
class PaymentRef:
    """What the provider knows a payment by."""

    order_ref: str
    amount: int
    created_at: datetime
    provider_txn_id: str | None = None


@dataclass(frozen=True, slots=True)
class RefundRef:
    #: Our idempotent request id: a refund is sent once under it, and asked about under it.
    request_id: str
    amount: int
    reason: str
    #: the whole payment is given back
    full: bool
    actor: str
    created_at: datetime


class QueryAnswer(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    PENDING = "pending"  # the citizen may still pay
    NOT_FOUND = "not_found"  # the provider has no such order: nothing was paid


@dataclass(frozen=True, slots=True)
class QueryResult:
    answer: QueryAnswer
    #: for PAID and FAILED: the notification to apply, exactly as a callback would bring it
    note: Notification | None
    detail: str


class RefundAnswer(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    PROCESSING = "processing"  # the provider took it and has not finished: ask again later
    NOT_FOUND = "not_found"  # (refund status) the provider never received it


@dataclass(frozen=True, slots=True)
class RefundResult:
    answer: RefundAnswer
    detail: str
    provider_refund_id: str | None = None


class ProviderApi(Protocol):
    name: str
    refunds: bool

    def query_request(self, payment: PaymentRef, at: datetime) -> ApiRequest: ...

    def query_result(self, payment: PaymentRef, status: int, body: bytes) -> QueryResult: ...

    def refund_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest: ...

    def refund_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult: ...

    def refund_query_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest: ...

    def refund_query_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult: ...


# --- helpers -------------------------------------------------------------------------------------------------


def _json(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(obj), ensure_ascii=False, separators=(",", ":")).encode()


def _object(body: bytes, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(f"{where}: the answer is not JSON") from None
    if not isinstance(obj, dict):
        raise ApiError(f"{where}: the answer is not a JSON object")
    return obj


def _need(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ApiError(f"{where}: the answer has no {key!r}")
    return obj[key]


def _int(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool):
        raise ApiError(f"{where}: {key} is not a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(f"{where}: {key} is not a whole number: {value!r}") from None


def _vn(at: datetime) -> str:
    return at.astimezone(VN_TZ).strftime("%Y%m%d%H%M%S")


def _note(provider: str, payment: PaymentRef, txn: str, amount: int, paid: bool, paid_at: datetime | None,
          raw: dict[str, Any]) -> Notification:
    try:
        return Notification(provider=provider, provider_txn_id=txn, order_ref=payment.order_ref, amount=amount,
                            status="paid" if paid else "failed", paid_at=paid_at if paid else None, raw=raw)
    except WebhookFormatError as exc:
        raise ApiError(f"{provider}: {exc}") from None


def new_request_id() -> str:
    """32 hex digits: unique, and short enough for every provider's request id field."""
    return secrets.token_hex(16)


# --- VNPay -----------------------------------------------------------------------------------------------------

VNPAY_QUERY_FIELDS = ("vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TxnRef",
                      "vnp_TransactionDate", "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo")
VNPAY_QUERY_ANSWER_FIELDS = ("vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode",
                             "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo",
                             "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo", "vnp_PromotionCode",
                             "vnp_PromotionAmount")
VNPAY_REFUND_FIELDS = ("vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TransactionType",
                       "vnp_TxnRef", "vnp_Amount", "vnp_TransactionNo", "vnp_TransactionDate", "vnp_CreateBy",
                       "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo")
VNPAY_REFUND_ANSWER_FIELDS = ("vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode",
                              "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo",
                              "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo")
#: vnp_TransactionType of a refund: 02 the whole amount, 03 part of it.
VNPAY_FULL_REFUND, VNPAY_PARTIAL_REFUND = "02", "03"
#: Refund answers that say it was refused for good (not found, more than paid, not accepted, bad data).
VNPAY_REFUND_REFUSED = frozenset({"91", "02", "95", "03", "04", "93"})


def vnpay_api_hash(fields: Mapping[str, Any], order: tuple[str, ...], secret: str) -> str:
    """HMAC-SHA512 of the fields' values in `order`, joined with "|" (missing ones as empty)."""
    return _hmac_hex(secret, "|".join(str(fields.get(key, "") or "") for key in order), "sha512")


class VNPayApi:
    name = "vnpay"
    refunds = True

    def __init__(self, url: str, tmn_code: str, secret: str, ip: str) -> None:
        self.url, self.tmn_code, self._secret, self.ip = url, tmn_code, secret, ip

    def _post(self, fields: dict[str, str], order: tuple[str, ...]) -> ApiRequest:
        fields["vnp_SecureHash"] = vnpay_api_hash(fields, order, self._secret)
        return ApiRequest("POST", self.url, {"content-type": "application/json"}, _json(fields))

    def _answer(self, body: bytes, order: tuple[str, ...], where: str) -> dict[str, Any]:
        obj = _object(body, where)
        given = obj.get("vnp_SecureHash")
        if not isinstance(given, str) or not _same_hex(vnpay_api_hash(obj, order, self._secret), given):
            raise ApiError(f"{where}: vnp_SecureHash of the answer does not match")
        if obj.get("vnp_TmnCode") not in (None, "", self.tmn_code):
            raise ApiError(f"{where}: the answer is for terminal {obj.get('vnp_TmnCode')!r}")
        return obj

    def query_request(self, payment: PaymentRef, at: datetime, request_id: str | None = None) -> ApiRequest:
        return self._post({
            "vnp_RequestId": request_id or new_request_id(), "vnp_Version": "2.1.0", "vnp_Command": "querydr",
            "vnp_TmnCode": self.tmn_code, "vnp_TxnRef": payment.order_ref,
            "vnp_OrderInfo": f"Truy van {payment.order_ref}", "vnp_TransactionDate": _vn(payment.created_at),
            "vnp_CreateDate": _vn(at), "vnp_IpAddr": self.ip,
        }, VNPAY_QUERY_FIELDS)  # fmt: skip

    def query_result(self, payment: PaymentRef, status: int, body: bytes) -> QueryResult:
        where = "vnpay querydr"
        obj = self._answer(body, VNPAY_QUERY_ANSWER_FIELDS, where)
        code = obj.get("vnp_ResponseCode")
        if code == "91":
            return QueryResult(QueryAnswer.NOT_FOUND, None, "VNPay has no such transaction")
        if code != "00":
            raise ApiError(f"{where}: vnp_ResponseCode {code!r} ({obj.get('vnp_Message')})")
        if str(_need(obj, "vnp_TxnRef", where)) != payment.order_ref:
            raise ApiError(f"{where}: the answer is about order {obj.get('vnp_TxnRef')!r}")
        txn_status = obj.get("vnp_TransactionStatus")
        amount = _int(_need(obj, "vnp_Amount", where), "vnp_Amount", where)
        if amount % 100:
            raise ApiError(f"{where}: vnp_Amount {amount} is not VND x 100")
        txn = str(obj.get("vnp_TransactionNo") or "")
        if txn_status == "00":
            if txn.strip("0") == "":
                raise ApiError(f"{where}: a paid transaction without vnp_TransactionNo")
            pay_date = str(obj.get("vnp_PayDate") or "")
            try:
                paid_at = datetime.strptime(pay_date, "%Y%m%d%H%M%S").replace(tzinfo=VN_TZ)
            except ValueError:
                raise ApiError(f"{where}: vnp_PayDate {pay_date!r} is not yyyyMMddHHmmss") from None
            return QueryResult(QueryAnswer.PAID, _note(self.name, payment, txn, amount // 100, True, paid_at, obj),
                               "paid")
        if txn_status == "01":  # not finished: the citizen has not paid (yet)
            return QueryResult(QueryAnswer.PENDING, None, "transaction not completed")
        # 02 error, 04 reversed, 07 suspected fraud, 09 refused: the money was not taken. VNPay's IPN of a
        # failed payment carries vnp_TransactionNo 0 and is keyed by our reference (providers.VNPayProvider).
        key = txn if txn.strip("0") else f"unpaid:{payment.order_ref}"
        return QueryResult(QueryAnswer.FAILED, _note(self.name, payment, key, amount // 100, False, None, obj),
                           f"transaction status {txn_status}")

    def refund_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest:
        return self._post({
            "vnp_RequestId": refund.request_id, "vnp_Version": "2.1.0", "vnp_Command": "refund",
            "vnp_TmnCode": self.tmn_code,
            "vnp_TransactionType": VNPAY_FULL_REFUND if refund.full else VNPAY_PARTIAL_REFUND,
            "vnp_TxnRef": payment.order_ref, "vnp_Amount": str(refund.amount * 100),
            "vnp_TransactionNo": payment.provider_txn_id or "", "vnp_TransactionDate": _vn(payment.created_at),
            "vnp_CreateBy": refund.actor[:64], "vnp_CreateDate": _vn(refund.created_at), "vnp_IpAddr": self.ip,
            "vnp_OrderInfo": f"Hoan tien {payment.order_ref}",
        }, VNPAY_REFUND_FIELDS)  # fmt: skip

    def refund_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult:
        where = "vnpay refund"
        obj = self._answer(body, VNPAY_REFUND_ANSWER_FIELDS, where)
        code = str(obj.get("vnp_ResponseCode"))
        message = str(obj.get("vnp_Message") or "")
        if code == "00":
            return RefundResult(RefundAnswer.ACCEPTED, message or "refund accepted", str(obj.get("vnp_TransactionNo")))
        if code == "94":  # the same request id again: VNPay has it, ask about it
            return RefundResult(RefundAnswer.PROCESSING, message or "duplicate request")
        if code in VNPAY_REFUND_REFUSED:
            return RefundResult(RefundAnswer.REFUSED, f"{code}: {message}")
        raise ApiError(f"{where}: vnp_ResponseCode {code!r} ({message})")

    def refund_query_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest:
        return self.query_request(payment, at)

    def refund_query_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult:
        where = "vnpay querydr (refund)"
        obj = self._answer(body, VNPAY_QUERY_ANSWER_FIELDS, where)
        if obj.get("vnp_ResponseCode") != "00":
            raise ApiError(f"{where}: vnp_ResponseCode {obj.get('vnp_ResponseCode')!r}")
        kind, state = obj.get("vnp_TransactionType"), obj.get("vnp_TransactionStatus")
        if kind not in (VNPAY_FULL_REFUND, VNPAY_PARTIAL_REFUND):
            return RefundResult(RefundAnswer.NOT_FOUND, "VNPay shows no refund of this transaction")
        if _int(obj.get("vnp_Amount"), "vnp_Amount", where) != refund.amount * 100:
            raise ApiError(f"{where}: the refund VNPay shows is of another amount")
        if state in ("00", "05", "06"):  # done, VNPay processing it, sent to the bank
            return RefundResult(RefundAnswer.ACCEPTED, f"transaction status {state}", str(obj.get("vnp_TransactionNo")))
        if state == "09":
            return RefundResult(RefundAnswer.REFUSED, "09: refund refused")
        return RefundResult(RefundAnswer.PROCESSING, f"transaction status {state}")


# --- payOS -----------------------------------------------------------------------------------------------------


class PayOSApi:
    name = "payos"
    refunds = False  # payOS has no refund API: the centre refunds by bank transfer and records it

    def __init__(self, url: str, client_id: str, api_key: str, checksum_key: str) -> None:
        self.url = url.rstrip("/")
        self.client_id, self._api_key, self._checksum = client_id, api_key, checksum_key

    def query_request(self, payment: PaymentRef, at: datetime) -> ApiRequest:
        return ApiRequest("GET", f"{self.url}/v2/payment-requests/{payment.order_ref}",
                          {"x-client-id": self.client_id, "x-api-key": self._api_key}, None)

    def query_result(self, payment: PaymentRef, status: int, body: bytes) -> QueryResult:
        where = "payos payment-requests"
        obj = _object(body, where)
        code = obj.get("code")
        if code == "101" or status == 404:  # payment link not found
            return QueryResult(QueryAnswer.NOT_FOUND, None, "payOS has no such payment link")
        if code != "00":
            raise ApiError(f"{where}: code {code!r} ({obj.get('desc')})")
        data = obj.get("data")
        if not isinstance(data, dict):
            raise ApiError(f"{where}: data is not an object")
        signature = obj.get("signature")
        if not isinstance(signature, str) or not _same_hex(payos_signature(data, self._checksum), signature):
            raise ApiError(f"{where}: the answer's signature does not match")
        if str(_need(data, "orderCode", where)) != payment.order_ref:
            raise ApiError(f"{where}: the answer is about order {data.get('orderCode')!r}")
        state = data.get("status")
        if state == "PAID":
            transactions = data.get("transactions") or []
            if not isinstance(transactions, list) or not transactions or not isinstance(transactions[0], dict):
                raise ApiError(f"{where}: a paid link without transactions")
            first = transactions[0]
            reference = first.get("reference")
            if not isinstance(reference, str) or not reference:
                raise ApiError(f"{where}: the transaction has no reference")
            when = str(first.get("transactionDateTime") or "")
            try:
                paid_at = datetime.fromisoformat(when) if when else None
            except ValueError:
                raise ApiError(f"{where}: transactionDateTime {when!r}") from None
            if paid_at is not None and paid_at.tzinfo is None:
                paid_at = paid_at.replace(tzinfo=VN_TZ)
            amount = _int(data.get("amountPaid", data.get("amount")), "amountPaid", where)
            return QueryResult(QueryAnswer.PAID, _note(self.name, payment, reference, amount, True, paid_at, obj),
                               "PAID")
        if state in ("PENDING", "PROCESSING"):
            return QueryResult(QueryAnswer.PENDING, None, str(state))
        if state in ("CANCELLED", "EXPIRED", "FAILED"):
            return QueryResult(QueryAnswer.NOT_FOUND, None, f"link {state}: nothing was paid")
        raise ApiError(f"{where}: unknown status {state!r}")

    def _no_refunds(self) -> ApiRequest:
        raise NotImplementedError("payOS has no refund API; see payment-svc/README.md, refunds")

    def refund_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest:
        return self._no_refunds()

    def refund_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult:
        raise NotImplementedError

    def refund_query_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest:
        return self._no_refunds()

    def refund_query_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult:
        raise NotImplementedError


# --- MoMo ------------------------------------------------------------------------------------------------------

MOMO_QUERY_FIELDS = ("accessKey", "orderId", "partnerCode", "requestId")
MOMO_QUERY_ANSWER_FIELDS = ("accessKey", "amount", "extraData", "message", "orderId", "partnerCode", "payType",
                            "requestId", "responseTime", "resultCode", "transId")
MOMO_REFUND_FIELDS = ("accessKey", "amount", "description", "orderId", "partnerCode", "requestId", "transId")
#: MoMo resultCode of an order the citizen may still pay (initiated, processing, authorised, pending).
MOMO_PENDING = frozenset({1000, 7000, 7002, 9000})
MOMO_NOT_FOUND = frozenset({42})


def momo_signature(fields: Mapping[str, Any], order: tuple[str, ...], access_key: str, secret: str) -> str:
    message = "&".join(f"{key}={access_key if key == 'accessKey' else _js_text(fields.get(key, ''))}"
                       for key in order)  # fmt: skip
    return _hmac_hex(secret, message, "sha256")


class MoMoApi:
    name = "momo"
    refunds = True

    def __init__(self, url: str, partner_code: str, access_key: str, secret: str) -> None:
        self.url = url.rstrip("/")
        self.partner_code, self._access_key, self._secret = partner_code, access_key, secret

    def _post(self, path: str, fields: dict[str, Any], order: tuple[str, ...]) -> ApiRequest:
        fields["signature"] = momo_signature(fields, order, self._access_key, self._secret)
        return ApiRequest("POST", f"{self.url}{path}", {"content-type": "application/json; charset=UTF-8"},
                          _json(fields))

    def query_request(self, payment: PaymentRef, at: datetime) -> ApiRequest:
        return self._post("/v2/gateway/api/query", {
            "partnerCode": self.partner_code, "requestId": new_request_id(), "orderId": payment.order_ref,
            "lang": "vi",
        }, MOMO_QUERY_FIELDS)  # fmt: skip

    def query_result(self, payment: PaymentRef, status: int, body: bytes) -> QueryResult:
        where = "momo query"
        obj = _object(body, where)
        code = _int(_need(obj, "resultCode", where), "resultCode", where)
        if code in MOMO_NOT_FOUND:
            return QueryResult(QueryAnswer.NOT_FOUND, None, str(obj.get("message") or "order not found"))
        signature = obj.get("signature")
        if not isinstance(signature, str) or not _same_hex(
            momo_signature(obj, MOMO_QUERY_ANSWER_FIELDS, self._access_key, self._secret), signature
        ):
            raise ApiError(f"{where}: the answer's signature does not match")
        if obj.get("partnerCode") != self.partner_code or str(obj.get("orderId")) != payment.order_ref:
            raise ApiError(f"{where}: the answer is about another partner or order")
        if code in MOMO_PENDING:
            return QueryResult(QueryAnswer.PENDING, None, f"resultCode {code}")
        amount = _int(_need(obj, "amount", where), "amount", where)
        txn = str(_need(obj, "transId", where))
        if code == 0:
            moment = _int(_need(obj, "responseTime", where), "responseTime", where)
            paid_at = datetime.fromtimestamp(moment / 1000, tz=UTC)
            return QueryResult(QueryAnswer.PAID, _note(self.name, payment, txn, amount, True, paid_at, obj), "paid")
        if not txn or txn == "0":  # failed before MoMo gave it a transaction
            txn = f"unpaid:{payment.order_ref}"
        return QueryResult(QueryAnswer.FAILED, _note(self.name, payment, txn, amount, False, None, obj),
                           f"resultCode {code}")

    def refund_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest:
        return self._post("/v2/gateway/api/refund", {
            "partnerCode": self.partner_code, "orderId": f"R{refund.request_id}", "requestId": refund.request_id,
            "amount": refund.amount, "transId": _int(payment.provider_txn_id, "transId", "momo refund"),
            "lang": "vi", "description": refund.reason[:200],
        }, MOMO_REFUND_FIELDS)  # fmt: skip

    def refund_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult:
        obj = _object(body, "momo refund")
        code = _int(_need(obj, "resultCode", "momo refund"), "resultCode", "momo refund")
        message = str(obj.get("message") or "")
        if code == 0:
            return RefundResult(RefundAnswer.ACCEPTED, message or "refund accepted", str(obj.get("transId") or ""))
        if code in MOMO_PENDING:
            return RefundResult(RefundAnswer.PROCESSING, message)
        return RefundResult(RefundAnswer.REFUSED, f"{code}: {message}")

    def refund_query_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest:
        return self._post("/v2/gateway/api/refund/query", {
            "partnerCode": self.partner_code, "orderId": payment.order_ref, "requestId": new_request_id(),
            "lang": "vi",
        }, MOMO_QUERY_FIELDS)  # fmt: skip

    def refund_query_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult:
        obj = _object(body, "momo refund query")
        code = _int(_need(obj, "resultCode", "momo refund query"), "resultCode", "momo refund query")
        if code in MOMO_NOT_FOUND:
            return RefundResult(RefundAnswer.NOT_FOUND, "MoMo has no such refund")
        trans = obj.get("refundTrans") or []
        mine = [t for t in trans if isinstance(t, dict) and str(t.get("orderId")) == f"R{refund.request_id}"]
        if not mine:
            return RefundResult(RefundAnswer.NOT_FOUND, "MoMo has no such refund")
        state = _int(mine[0].get("resultCode"), "refundTrans.resultCode", "momo refund query")
        if state == 0:
            return RefundResult(RefundAnswer.ACCEPTED, "refund done", str(mine[0].get("transId") or ""))
        if state in MOMO_PENDING:
            return RefundResult(RefundAnswer.PROCESSING, f"resultCode {state}")
        return RefundResult(RefundAnswer.REFUSED, f"{state}: {mine[0].get('message') or ''}")


# --- ZaloPay ---------------------------------------------------------------------------------------------------


class ZaloPayApi:
    name = "zalopay"
    refunds = True

    def __init__(self, url: str, app_id: int, key1: str) -> None:
        self.url = url.rstrip("/")
        self.app_id, self._key1 = app_id, key1

    def _mac(self, *values: object) -> str:
        return _hmac_hex(self._key1, "|".join(str(v) for v in values), "sha256")

    def _form(self, path: str, fields: dict[str, Any]) -> ApiRequest:
        return ApiRequest("POST", f"{self.url}{path}", {"content-type": "application/x-www-form-urlencoded"},
                          urlencode(fields).encode())

    def query_request(self, payment: PaymentRef, at: datetime) -> ApiRequest:
        return self._form("/v2/query", {"app_id": self.app_id, "app_trans_id": payment.order_ref,
                                        "mac": self._mac(self.app_id, payment.order_ref, self._key1)})

    def query_result(self, payment: PaymentRef, status: int, body: bytes) -> QueryResult:
        where = "zalopay query"
        obj = _object(body, where)
        code = _int(_need(obj, "return_code", where), "return_code", where)
        sub = obj.get("sub_return_code")
        if code == 3 or obj.get("is_processing") is True:
            return QueryResult(QueryAnswer.PENDING, None, str(obj.get("return_message") or "processing"))
        if code == 2:
            if sub == -54 or sub == -101:  # order not found / not paid before it expired
                return QueryResult(QueryAnswer.NOT_FOUND, None, str(obj.get("sub_return_message") or "not found"))
            return QueryResult(QueryAnswer.NOT_FOUND, None, f"failed ({sub}): nothing was paid")
        if code != 1:
            raise ApiError(f"{where}: return_code {code!r}")
        amount = _int(_need(obj, "amount", where), "amount", where)
        txn = str(_need(obj, "zp_trans_id", where))
        moment = _int(_need(obj, "server_time", where), "server_time", where)
        paid_at = datetime.fromtimestamp(moment / 1000, tz=UTC)
        return QueryResult(QueryAnswer.PAID, _note(self.name, payment, txn, amount, True, paid_at, obj), "paid")

    def m_refund_id(self, refund: RefundRef) -> str:
        """ZaloPay's refund id: yymmdd_appid_<unique>, the date in Vietnam."""
        return f"{refund.created_at.astimezone(VN_TZ):%y%m%d}_{self.app_id}_{refund.request_id}"

    def refund_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest:
        timestamp = int(refund.created_at.timestamp() * 1000)
        zp_trans_id = payment.provider_txn_id or ""
        description = refund.reason[:100] or "Hoan tien"
        return self._form("/v2/refund", {
            "app_id": self.app_id, "m_refund_id": self.m_refund_id(refund), "zp_trans_id": zp_trans_id,
            "amount": refund.amount, "timestamp": timestamp, "description": description,
            "mac": self._mac(self.app_id, zp_trans_id, refund.amount, description, timestamp),
        })  # fmt: skip

    def refund_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult:
        obj = _object(body, "zalopay refund")
        code = _int(_need(obj, "return_code", "zalopay refund"), "return_code", "zalopay refund")
        message = str(obj.get("return_message") or "")
        if code == 1:
            return RefundResult(RefundAnswer.ACCEPTED, message or "refund accepted", str(obj.get("refund_id") or ""))
        if code == 3:
            return RefundResult(RefundAnswer.PROCESSING, message, str(obj.get("refund_id") or ""))
        return RefundResult(RefundAnswer.REFUSED, f"{obj.get('sub_return_code')}: {message}")

    def refund_query_request(self, payment: PaymentRef, refund: RefundRef, at: datetime) -> ApiRequest:
        timestamp = int(at.timestamp() * 1000)
        m_refund_id = self.m_refund_id(refund)
        return self._form("/v2/query_refund", {"app_id": self.app_id, "m_refund_id": m_refund_id,
                                               "timestamp": timestamp,
                                               "mac": self._mac(self.app_id, m_refund_id, timestamp)})

    def refund_query_result(self, refund: RefundRef, status: int, body: bytes) -> RefundResult:
        obj = _object(body, "zalopay query_refund")
        code = _int(_need(obj, "return_code", "zalopay query_refund"), "return_code", "zalopay query_refund")
        if code == 1:
            return RefundResult(RefundAnswer.ACCEPTED, "refund done")
        if code == 3:
            return RefundResult(RefundAnswer.PROCESSING, str(obj.get("return_message") or "processing"))
        if obj.get("sub_return_code") == -101:  # no such refund
            return RefundResult(RefundAnswer.NOT_FOUND, "ZaloPay has no such refund")
        return RefundResult(RefundAnswer.REFUSED, f"{obj.get('sub_return_code')}: {obj.get('return_message')}")


def parse_form(body: bytes) -> dict[str, str]:
    """A form body as ZaloPay's API receives it (for the simulator)."""
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
