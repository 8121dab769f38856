"""Wallet webhook signature schemes behind one adapter interface.

Every provider turns a raw webhook request (body bytes, query string, headers) into a
`Notification`, verifying the signature with a constant-time compare before any field is
trusted, and knows how to answer the provider (`reply_*`). `sign_request` / `simulate` produce
real signed requests for the provider simulator and the tests.

Schemes (docs/DOMAIN.md, "Fees and payment"):
- payOS: HMAC-SHA256(checksum key, `data` keys sorted, "k=v&k=v"), hex.
- VNPay 2.1.0 IPN: HMAC-SHA512(hash secret, vnp_* sorted, "k=quote_plus(v)&..."), hex.
- MoMo v2/v3 IPN: HMAC-SHA256(secret key, fixed-order "accessKey=…&amount=…&…&transId=…"), hex.
- ZaloPay callback: HMAC-SHA256(key2, the `data` JSON string), hex.
None of them signs a timestamp: replay safety comes from unique provider transaction ids,
amount checks and final states, which the payment service enforces.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote_plus

from services import clock
from services.clock import VN_TZ

__all__ = [
    "MOMO_IPN_FIELDS",
    "ForeignMerchantError",
    "InvalidAmountError",
    "MoMoProvider",
    "Notification",
    "PayOSProvider",
    "Reply",
    "SignatureError",
    "SignedRequest",
    "VNPayProvider",
    "WebhookError",
    "WebhookFormatError",
    "WebhookProvider",
    "ZaloPayProvider",
    "momo_ipn_signature",
    "momo_ipn_signature_data",
    "payos_signature",
    "payos_signature_data",
    "providers_by_name",
    "reply_for",
    "vnpay_secure_hash",
    "vnpay_sign_data",
    "zalopay_mac",
]


Status = Literal["paid", "failed"]


# --- Errors ------------------------------------------------------------------------------------


class WebhookError(Exception):
    """Base class of webhook verification errors."""


class SignatureError(WebhookError):
    """The signature is missing or does not match: nothing in the request may be trusted."""


class WebhookFormatError(WebhookError, ValueError):
    """The request is malformed (not JSON, missing or ill-typed field, …); says what is wrong."""


class ForeignMerchantError(WebhookFormatError):
    """Correctly signed, but addressed to another merchant (terminal, partner code, app id)."""


class InvalidAmountError(WebhookFormatError):
    """The amount field is not a valid whole number of VND."""


# --- Values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """A verified payment notification, provider-neutral."""

    provider: str
    provider_txn_id: str
    order_ref: str
    amount: int
    currency: str = "VND"
    status: Status
    paid_at: datetime | None
    raw: dict[str, Any] = field(hash=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 0:
            raise InvalidAmountError(f"amount must be a non-negative integer, got {self.amount!r}")
        if self.status not in ("paid", "failed"):
            raise WebhookFormatError(f"status must be 'paid' or 'failed', got {self.status!r}")
        if not self.provider_txn_id:
            raise WebhookFormatError("provider_txn_id must not be empty")
        if not self.order_ref:
            raise WebhookFormatError("order_ref must not be empty")
        if self.paid_at is not None and self.paid_at.utcoffset() is None:
            raise WebhookFormatError("paid_at must be timezone-aware")


class Reply(NamedTuple):
    """What to answer the provider. An empty content_type means: send no Content-Type."""

    status_code: int
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A webhook request as the provider would send it (for the simulator and tests)."""

    method: str
    query_string: str
    body: bytes
    headers: dict[str, str]


@runtime_checkable
class WebhookProvider(Protocol):
    """Adapter for one wallet/gateway's webhook scheme."""

    name: str

    def verify(self, raw_body: bytes, query_string: str, headers: Mapping[str, str]) -> Notification:
        """Verify the signature, then parse. Raises SignatureError / WebhookFormatError."""
        ...

    def reply_ok(self) -> Reply: ...

    def reply_duplicate(self) -> Reply: ...

    def reply_bad_signature(self) -> Reply: ...

    def reply_not_found(self) -> Reply: ...

    def reply_bad_amount(self) -> Reply: ...

    def reply_error(self, message: str = "internal error", *, retry: bool = True) -> Reply:
        """`retry=True` asks the provider to send again (temporary fault on our side)."""
        ...

    def sign_request(self, payload: Mapping[str, Any]) -> SignedRequest:
        """Sign provider-native fields exactly as the provider would."""
        ...

    def simulate(
        self,
        order_ref: str,
        amount: int,
        provider_txn_id: str,
        *,
        success: bool = True,
        paid_at: datetime | None = None,
    ) -> SignedRequest:
        """Build a realistic signed notification for one payment."""
        ...


def reply_for(provider: WebhookProvider, exc: WebhookError) -> Reply:
    """The provider's answer to a request that `verify` rejected with `exc`."""
    if isinstance(exc, SignatureError):
        return provider.reply_bad_signature()
    if isinstance(exc, InvalidAmountError):
        return provider.reply_bad_amount()
    if isinstance(exc, WebhookFormatError):
        return provider.reply_error(str(exc), retry=False)
    return provider.reply_error()


def providers_by_name(providers: Iterable[WebhookProvider]) -> dict[str, WebhookProvider]:
    """Index providers by name (the webhook path segment); names must be unique."""
    result: dict[str, WebhookProvider] = {}
    for provider in providers:
        if provider.name in result:
            raise ValueError(f"two webhook providers are named {provider.name!r}")
        result[provider.name] = provider
    return result


# --- Shared helpers ----------------------------------------------------------------------------


def _hmac_hex(key: str, message: str, digest: str) -> str:
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), digest).hexdigest()


def _same_hex(expected: str, given: str) -> bool:
    # Hex digests compare case-insensitively; bytes so that non-ASCII input cannot raise.
    return hmac.compare_digest(expected.lower().encode("ascii"), given.lower().encode("utf-8"))


def _require_secret(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate keys would let the signed value and the trusted value differ.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise WebhookFormatError(f"JSON key {key!r} appears more than once")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise WebhookFormatError(f"JSON constant {name} is not allowed")


def _load_json_object(raw: bytes | str, where: str) -> dict[str, Any]:
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookFormatError(f"{where} is not UTF-8") from None
    else:
        text = raw
    if not text.strip():
        raise WebhookFormatError(f"{where} is empty")
    try:
        obj = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise WebhookFormatError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(obj, dict):
        raise WebhookFormatError(f"{where} must be a JSON object, got {type(obj).__name__}")
    return obj


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json_reply(status_code: int, obj: Any) -> Reply:
    return Reply(status_code, _json_bytes(obj), "application/json")


def _js_number(value: float) -> str:
    # Mirrors JavaScript's String(number) for the values that occur (1000.0 -> "1000").
    return str(int(value)) if value.is_integer() else repr(value)


def _js_text(value: Any) -> str:
    """Stringify a JSON value the way the providers' JavaScript/Java samples do in "k=v"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _field(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise WebhookFormatError(f"{where}: field {key!r} is missing")
    return obj[key]


def _text_id(value: Any, key: str, where: str) -> str:
    """An identifier sent as a JSON string or integer."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise WebhookFormatError(f"{where}: {key} must be a non-empty string or integer, got {value!r}")


_DIGITS = re.compile(r"[0-9]+")


def _whole_number(value: Any, key: str, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        raise InvalidAmountError(f"{where}: {key} must be a whole number of VND, got {value!r}")
    if number < 0:
        raise InvalidAmountError(f"{where}: {key} must not be negative, got {number}")
    return number


def _epoch_ms(value: Any, key: str, where: str) -> datetime:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WebhookFormatError(f"{where}: {key} must be epoch milliseconds, got {value!r}")
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise WebhookFormatError(f"{where}: {key} is out of range: {value!r}") from None


def _vn_local(dt: datetime | None) -> datetime:
    return (dt or clock.now()).astimezone(VN_TZ)


# --- payOS -------------------------------------------------------------------------------------


def _payos_value(value: Any) -> str:
    # payOS's SDKs sign null/undefined (and the strings "null"/"undefined") as empty.
    if value is None or value in ("null", "undefined"):
        return ""
    return _js_text(value)


def payos_signature_data(data: Mapping[str, Any]) -> str:
    """The string payOS signs: `data` keys sorted, "k=v" joined with "&", raw values."""
    return "&".join(f"{key}={_payos_value(data[key])}" for key in sorted(data))


def payos_signature(data: Mapping[str, Any], checksum_key: str) -> str:
    """Hex HMAC-SHA256 of `payos_signature_data(data)` with the checksum key."""
    return _hmac_hex(checksum_key, payos_signature_data(data), "sha256")


class PayOSProvider:
    """payOS-style webhook: JSON {code, desc, success, data: {...}, signature}."""

    name: str = "payos"

    def __init__(self, checksum_key: str) -> None:
        self._key = _require_secret(checksum_key, "payOS checksum key")

    def verify(self, raw_body: bytes, query_string: str, headers: Mapping[str, str]) -> Notification:
        """Verify a payOS webhook and return its notification."""
        where = "payos"
        body = _load_json_object(raw_body, f"{where} body")
        signature = body.get("signature")
        if not isinstance(signature, str) or not signature:
            raise SignatureError(f"{where}: signature is missing")
        data = body.get("data")
        if not isinstance(data, dict):
            raise WebhookFormatError(f"{where}: data must be a JSON object")
        if not _same_hex(payos_signature(data, self._key), signature):
            raise SignatureError(f"{where}: signature does not match")

        # Only `data` is signed: the top-level code/desc/success are ignored on purpose.
        order_ref = _text_id(_field(data, "orderCode", where), "orderCode", where)
        amount = _whole_number(_field(data, "amount", where), "amount", where)
        txn = data.get("reference") or data.get("paymentLinkId")
        provider_txn_id = _text_id(txn, "reference", where)
        currency = data.get("currency") or "VND"
        if not isinstance(currency, str):
            raise WebhookFormatError(f"{where}: currency must be a string, got {currency!r}")
        status: Status = "paid" if data.get("code") == "00" else "failed"
        paid_at = self._paid_at(data.get("transactionDateTime")) if status == "paid" else None
        return Notification(
            provider=self.name,
            provider_txn_id=provider_txn_id,
            order_ref=order_ref,
            amount=amount,
            currency=currency,
            status=status,
            paid_at=paid_at,
            raw=body,
        )

    @staticmethod
    def _paid_at(value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise WebhookFormatError(f"payos: transactionDateTime must be a string, got {value!r}")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise WebhookFormatError(f"payos: transactionDateTime is not 'YYYY-MM-DD HH:MM:SS': {value!r}") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=VN_TZ)

    def reply_ok(self) -> Reply:
        return _json_reply(200, {"success": True})

    def reply_duplicate(self) -> Reply:
        return _json_reply(200, {"success": True, "message": "already processed"})

    def reply_bad_signature(self) -> Reply:
        return _json_reply(400, {"success": False, "message": "invalid signature"})

    def reply_not_found(self) -> Reply:
        # 2xx: payOS checks a new webhook URL with a sample (unknown) order and needs a 2xx;
        # retrying an unknown order would not help either.
        return _json_reply(200, {"success": False, "message": "order not found"})

    def reply_bad_amount(self) -> Reply:
        return _json_reply(400, {"success": False, "message": "invalid amount"})

    def reply_error(self, message: str = "internal error", *, retry: bool = True) -> Reply:
        return _json_reply(500 if retry else 400, {"success": False, "message": message})

    def sign_request(self, payload: Mapping[str, Any]) -> SignedRequest:
        """Wrap and sign a payOS `data` object as a webhook body."""
        data = dict(payload)
        ok = data.get("code") == "00"
        body = {
            "code": "00" if ok else str(data.get("code", "01")),
            "desc": "success" if ok else str(data.get("desc", "failed")),
            "success": ok,
            "data": data,
            "signature": payos_signature(data, self._key),
        }
        return SignedRequest("POST", "", _json_bytes(body), {"content-type": "application/json"})

    def simulate(
        self,
        order_ref: str,
        amount: int,
        provider_txn_id: str,
        *,
        success: bool = True,
        paid_at: datetime | None = None,
    ) -> SignedRequest:
        """A payOS webhook for one payment (orderCode is numeric when `order_ref` is)."""
        data: dict[str, Any] = {
            "orderCode": int(order_ref) if order_ref.isdigit() else order_ref,
            "amount": amount,
            "description": order_ref,
            "accountNumber": "",
            "reference": provider_txn_id,
            "transactionDateTime": _vn_local(paid_at).strftime("%Y-%m-%d %H:%M:%S"),
            "currency": "VND",
            "paymentLinkId": hashlib.sha256(order_ref.encode("utf-8")).hexdigest()[:32],
            "code": "00" if success else "01",
            "desc": "success" if success else "failed",
            "counterAccountBankId": "",
            "counterAccountBankName": "",
            "counterAccountName": "",
            "counterAccountNumber": "",
            "virtualAccountName": "",
            "virtualAccountNumber": "",
        }
        return self.sign_request(data)


# --- VNPay -------------------------------------------------------------------------------------

_VNP_UNSIGNED = frozenset({"vnp_SecureHash", "vnp_SecureHashType"})
_VNP_PAY_DATE = re.compile(r"[0-9]{14}")


def vnpay_sign_data(params: Mapping[str, Any]) -> str:
    """The string VNPay signs: vnp_* fields but the hash ones, sorted, "k=quote_plus(v)"."""
    items = sorted(
        (key, str(value)) for key, value in params.items() if key.startswith("vnp_") and key not in _VNP_UNSIGNED
    )
    return "&".join(f"{key}={quote_plus(value)}" for key, value in items)


def vnpay_secure_hash(params: Mapping[str, Any], hash_secret: str) -> str:
    """Hex HMAC-SHA512 of `vnpay_sign_data(params)` with the hash secret."""
    return _hmac_hex(hash_secret, vnpay_sign_data(params), "sha512")


class VNPayProvider:
    """VNPay 2.1.0 IPN: a GET whose query string carries the vnp_* fields."""

    name: str = "vnpay"

    def __init__(self, hash_secret: str, tmn_code: str | None = None) -> None:
        self._secret = _require_secret(hash_secret, "VNPay hash secret")
        self._tmn_code = tmn_code

    @staticmethod
    def _parse_query(query_string: str) -> dict[str, str]:
        if not query_string:
            raise WebhookFormatError("vnpay: query string is empty")
        try:
            pairs = parse_qsl(
                query_string,
                keep_blank_values=True,
                strict_parsing=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=100,
            )
        except ValueError as exc:  # includes UnicodeDecodeError
            raise WebhookFormatError(f"vnpay: malformed query string ({exc})") from None
        params: dict[str, str] = {}
        for key, value in pairs:
            if key in params:
                raise WebhookFormatError(f"vnpay: parameter {key!r} appears more than once")
            params[key] = value
        return params

    def verify(self, raw_body: bytes, query_string: str, headers: Mapping[str, str]) -> Notification:
        """Verify a VNPay IPN query string and return its notification."""
        where = "vnpay"
        params = self._parse_query(query_string)
        given = params.get("vnp_SecureHash")
        if not given:
            raise SignatureError(f"{where}: vnp_SecureHash is missing")
        if not _same_hex(vnpay_secure_hash(params, self._secret), given):
            raise SignatureError(f"{where}: vnp_SecureHash does not match")

        if self._tmn_code is not None and params.get("vnp_TmnCode") != self._tmn_code:
            raise ForeignMerchantError(f"{where}: vnp_TmnCode {params.get('vnp_TmnCode')!r} is not this merchant's")
        order_ref = _text_id(_field(params, "vnp_TxnRef", where), "vnp_TxnRef", where)
        raw_amount = _whole_number(_field(params, "vnp_Amount", where), "vnp_Amount", where)
        if raw_amount % 100:
            raise InvalidAmountError(f"{where}: vnp_Amount {raw_amount} is not a multiple of 100 (it is VND x 100)")
        paid = params.get("vnp_ResponseCode") == "00" and params.get("vnp_TransactionStatus") == "00"
        status: Status = "paid" if paid else "failed"
        txn_no = params.get("vnp_TransactionNo", "")
        if txn_no.strip("0") == "":
            # VNPay sends vnp_TransactionNo=0 for cancelled payments: key those by our ref.
            if paid:
                raise WebhookFormatError(f"{where}: vnp_TransactionNo is missing for a paid order")
            txn_no = f"unpaid:{order_ref}"
        return Notification(
            provider=self.name,
            provider_txn_id=txn_no,
            order_ref=order_ref,
            amount=raw_amount // 100,
            status=status,
            paid_at=self._pay_date(params.get("vnp_PayDate")) if paid else None,
            raw=dict(params),
        )

    @staticmethod
    def _pay_date(value: str | None) -> datetime | None:
        if not value:
            return None
        if not _VNP_PAY_DATE.fullmatch(value):
            raise WebhookFormatError(f"vnpay: vnp_PayDate must be yyyyMMddHHmmss, got {value!r}")
        try:
            return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=VN_TZ)
        except ValueError:
            raise WebhookFormatError(f"vnpay: vnp_PayDate is not a valid time: {value!r}") from None

    @staticmethod
    def _reply(code: str, message: str) -> Reply:
        return _json_reply(200, {"RspCode": code, "Message": message})

    def reply_ok(self) -> Reply:
        return self._reply("00", "Confirm Success")

    def reply_duplicate(self) -> Reply:
        return self._reply("02", "Order already confirmed")

    def reply_bad_signature(self) -> Reply:
        return self._reply("97", "Invalid signature")

    def reply_not_found(self) -> Reply:
        return self._reply("01", "Order not found")

    def reply_bad_amount(self) -> Reply:
        return self._reply("04", "Invalid amount")

    def reply_error(self, message: str = "Unknown error", *, retry: bool = True) -> Reply:
        # VNPay has one code for everything else; it retries IPNs not answered 00/02.
        return self._reply("99", message)

    def sign_request(self, payload: Mapping[str, Any]) -> SignedRequest:
        """Sign vnp_* fields and return the IPN as a GET query string."""
        params = {key: str(value) for key, value in payload.items()}
        query = "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted(params.items()))
        secure_hash = vnpay_secure_hash(params, self._secret)
        return SignedRequest("GET", f"{query}&vnp_SecureHash={secure_hash}", b"", {})

    def simulate(
        self,
        order_ref: str,
        amount: int,
        provider_txn_id: str,
        *,
        success: bool = True,
        paid_at: datetime | None = None,
    ) -> SignedRequest:
        """A VNPay IPN for one payment (failure: response code 24, customer cancelled)."""
        params = {
            "vnp_Amount": str(amount * 100),
            "vnp_BankCode": "NCB",
            "vnp_BankTranNo": f"VNP{provider_txn_id}" if success else "",
            "vnp_CardType": "ATM",
            "vnp_OrderInfo": f"Thanh toan {order_ref}",
            "vnp_PayDate": _vn_local(paid_at).strftime("%Y%m%d%H%M%S"),
            "vnp_ResponseCode": "00" if success else "24",
            "vnp_TmnCode": self._tmn_code or "MOTCUA01",
            "vnp_TransactionNo": provider_txn_id if success else "0",
            "vnp_TransactionStatus": "00" if success else "02",
            "vnp_TxnRef": order_ref,
        }
        return self.sign_request(params)


# --- MoMo --------------------------------------------------------------------------------------

# The IPN fields signed after accessKey, in MoMo's fixed (alphabetical) order.
MOMO_IPN_FIELDS: tuple[str, ...] = (
    "amount",
    "extraData",
    "message",
    "orderId",
    "orderInfo",
    "orderType",
    "partnerCode",
    "payType",
    "requestId",
    "responseTime",
    "resultCode",
    "transId",
)


def momo_ipn_signature_data(fields: Mapping[str, Any], access_key: str) -> str:
    """The string MoMo signs for an IPN; raises WebhookFormatError if a field is missing."""
    parts = [f"accessKey={access_key}"]
    parts += [f"{key}={_js_text(_field(fields, key, 'momo'))}" for key in MOMO_IPN_FIELDS]
    return "&".join(parts)


def momo_ipn_signature(fields: Mapping[str, Any], access_key: str, secret_key: str) -> str:
    """Hex HMAC-SHA256 of `momo_ipn_signature_data` with the secret key."""
    return _hmac_hex(secret_key, momo_ipn_signature_data(fields, access_key), "sha256")


class MoMoProvider:
    """MoMo v2/v3 IPN: JSON POST with a `signature` field; answered 204."""

    name: str = "momo"

    def __init__(self, partner_code: str, access_key: str, secret_key: str) -> None:
        self._partner_code = _require_secret(partner_code, "MoMo partner code")
        self._access_key = _require_secret(access_key, "MoMo access key")
        self._secret = _require_secret(secret_key, "MoMo secret key")

    def verify(self, raw_body: bytes, query_string: str, headers: Mapping[str, str]) -> Notification:
        """Verify a MoMo IPN body and return its notification."""
        where = "momo"
        body = _load_json_object(raw_body, f"{where} body")
        signature = body.get("signature")
        if not isinstance(signature, str) or not signature:
            raise SignatureError(f"{where}: signature is missing")
        # The access key is ours, never taken from the body.
        expected = momo_ipn_signature(body, self._access_key, self._secret)
        if not _same_hex(expected, signature):
            raise SignatureError(f"{where}: signature does not match")

        if body["partnerCode"] != self._partner_code:
            raise ForeignMerchantError(f"{where}: partnerCode {body['partnerCode']!r} is not ours")
        order_ref = _text_id(body["orderId"], "orderId", where)
        provider_txn_id = _text_id(body["transId"], "transId", where)
        amount = _whole_number(body["amount"], "amount", where)
        result_code = body["resultCode"]
        if isinstance(result_code, str) and _DIGITS.fullmatch(result_code):
            result_code = int(result_code)
        if isinstance(result_code, bool) or not isinstance(result_code, int):
            raise WebhookFormatError(f"{where}: resultCode must be an integer, got {result_code!r}")
        # MoMo sends the IPN for final results; only 0 means the money was taken.
        status: Status = "paid" if result_code == 0 else "failed"
        paid_at = _epoch_ms(body["responseTime"], "responseTime", where) if status == "paid" else None
        return Notification(
            provider=self.name,
            provider_txn_id=provider_txn_id,
            order_ref=order_ref,
            amount=amount,
            status=status,
            paid_at=paid_at,
            raw=body,
        )

    def reply_ok(self) -> Reply:
        return Reply(204, b"", "")

    def reply_duplicate(self) -> Reply:
        return Reply(204, b"", "")

    def reply_bad_signature(self) -> Reply:
        return _json_reply(400, {"message": "invalid signature"})

    def reply_not_found(self) -> Reply:
        return _json_reply(404, {"message": "order not found"})

    def reply_bad_amount(self) -> Reply:
        return _json_reply(400, {"message": "invalid amount"})

    def reply_error(self, message: str = "internal error", *, retry: bool = True) -> Reply:
        return _json_reply(500 if retry else 400, {"message": message})

    def sign_request(self, payload: Mapping[str, Any]) -> SignedRequest:
        """Sign MoMo IPN fields (see MOMO_IPN_FIELDS) and return the JSON POST."""
        body = dict(payload)
        body["signature"] = momo_ipn_signature(body, self._access_key, self._secret)
        return SignedRequest("POST", "", _json_bytes(body), {"content-type": "application/json"})

    def simulate(
        self,
        order_ref: str,
        amount: int,
        provider_txn_id: str,
        *,
        success: bool = True,
        paid_at: datetime | None = None,
    ) -> SignedRequest:
        """A MoMo IPN for one payment (failure: resultCode 1006, user declined)."""
        moment = paid_at or clock.now()
        fields: dict[str, Any] = {
            "partnerCode": self._partner_code,
            "orderId": order_ref,
            "requestId": f"req-{order_ref}",
            "amount": amount,
            "orderInfo": f"Thanh toan {order_ref}",
            "orderType": "momo_wallet",
            "transId": int(provider_txn_id) if provider_txn_id.isdigit() else provider_txn_id,
            "resultCode": 0 if success else 1006,
            "message": "Successful." if success else "Transaction denied by user.",
            "payType": "qr",
            "responseTime": int(moment.timestamp() * 1000),
            "extraData": "",
        }
        return self.sign_request(fields)


# --- ZaloPay -----------------------------------------------------------------------------------


def zalopay_mac(data: str, key2: str) -> str:
    """Hex HMAC-SHA256 of the callback's `data` string with key2."""
    return _hmac_hex(key2, data, "sha256")


class ZaloPayProvider:
    """ZaloPay callback: JSON {data: <JSON string>, mac, type}; always answered 200 + JSON."""

    name: str = "zalopay"

    def __init__(self, key2: str, app_id: int | None = None) -> None:
        self._key2 = _require_secret(key2, "ZaloPay key2")
        self._app_id = app_id

    def verify(self, raw_body: bytes, query_string: str, headers: Mapping[str, str]) -> Notification:
        """Verify a ZaloPay callback and return its notification."""
        where = "zalopay"
        body = _load_json_object(raw_body, f"{where} body")
        mac = body.get("mac")
        if not isinstance(mac, str) or not mac:
            raise SignatureError(f"{where}: mac is missing")
        data_str = body.get("data")
        if not isinstance(data_str, str):
            raise WebhookFormatError(f"{where}: data must be a JSON string")
        if not _same_hex(zalopay_mac(data_str, self._key2), mac):
            raise SignatureError(f"{where}: mac does not match")

        callback_type = body.get("type", 1)
        if callback_type != 1:
            raise WebhookFormatError(f"{where}: callback type {callback_type!r} is not an order (1)")
        data = _load_json_object(data_str, f"{where} data")
        if self._app_id is not None and data.get("app_id") != self._app_id:
            raise ForeignMerchantError(f"{where}: app_id {data.get('app_id')!r} is not ours")
        order_ref = _text_id(_field(data, "app_trans_id", where), "app_trans_id", where)
        provider_txn_id = _text_id(_field(data, "zp_trans_id", where), "zp_trans_id", where)
        amount = _whole_number(_field(data, "amount", where), "amount", where)
        paid_at = _epoch_ms(_field(data, "server_time", where), "server_time", where)
        # ZaloPay calls back only once the money has been taken.
        return Notification(
            provider=self.name,
            provider_txn_id=provider_txn_id,
            order_ref=order_ref,
            amount=amount,
            status="paid",
            paid_at=paid_at,
            raw={**body, "data": data},
        )

    @staticmethod
    def _reply(code: int, message: str) -> Reply:
        return _json_reply(200, {"return_code": code, "return_message": message})

    def reply_ok(self) -> Reply:
        return self._reply(1, "success")

    def reply_duplicate(self) -> Reply:
        return self._reply(2, "already processed")

    def reply_bad_signature(self) -> Reply:
        return self._reply(-1, "mac not equal")

    # ZaloPay knows only 1, 2, -1 and "anything else = retry later" (0).
    def reply_not_found(self) -> Reply:
        return self._reply(0, "order not found")

    def reply_bad_amount(self) -> Reply:
        return self._reply(0, "invalid amount")

    def reply_error(self, message: str = "internal error", *, retry: bool = True) -> Reply:
        return self._reply(0, message)

    def sign_request(self, payload: Mapping[str, Any]) -> SignedRequest:
        """Serialise callback data to a JSON string, MAC it and wrap it as ZaloPay does."""
        data_str = json.dumps(dict(payload), ensure_ascii=False, separators=(",", ":"))
        body = {"data": data_str, "mac": zalopay_mac(data_str, self._key2), "type": 1}
        return SignedRequest("POST", "", _json_bytes(body), {"content-type": "application/json"})

    def simulate(
        self,
        order_ref: str,
        amount: int,
        provider_txn_id: str,
        *,
        success: bool = True,
        paid_at: datetime | None = None,
    ) -> SignedRequest:
        """A ZaloPay callback for one payment (ZaloPay has no failure callback)."""
        if not success:
            raise ValueError("ZaloPay sends callbacks only for successful payments")
        moment = paid_at or clock.now()
        millis = int(moment.timestamp() * 1000)
        data: dict[str, Any] = {
            "app_id": self._app_id if self._app_id is not None else 2553,
            "app_trans_id": order_ref,
            "app_time": millis,
            "app_user": "motcua",
            "amount": amount,
            "embed_data": "{}",
            "item": "[]",
            "zp_trans_id": int(provider_txn_id) if provider_txn_id.isdigit() else provider_txn_id,
            "server_time": millis,
            "channel": 38,
            "merchant_user_id": "",
            "user_fee_amount": 0,
            "discount_amount": 0,
        }
        return self.sign_request(data)
