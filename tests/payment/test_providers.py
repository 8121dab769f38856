"""Wallet webhook signature schemes: published vectors, round trips, tampering, replies."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from payment.providers import (
    MOMO_IPN_FIELDS,
    VN_TZ,
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
    momo_ipn_signature,
    momo_ipn_signature_data,
    payos_signature,
    payos_signature_data,
    providers_by_name,
    reply_for,
    vnpay_secure_hash,
    vnpay_sign_data,
    zalopay_mac,
)

NO_HEADERS: dict[str, str] = {}
PAID_AT = datetime(2024, 5, 6, 9, 30, 15, tzinfo=VN_TZ)


def _body(raw: bytes) -> dict[str, Any]:
    result = json.loads(raw)
    assert isinstance(result, dict)
    return result


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def _json(reply: Reply) -> Any:
    assert reply.content_type == "application/json"
    return json.loads(reply.body)


# =================================================================================================
# payOS
# =================================================================================================

# Published example: https://payos.vn/docs/tich-hop-webhook/kiem-tra-du-lieu-voi-signature/
# (checksum key, webhook body and its signature as given in the PHP sample on that page).
PAYOS_DOC_KEY = "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675"
PAYOS_DOC_BODY: dict[str, Any] = {
    "code": "00",
    "desc": "success",
    "success": True,
    "data": {
        "orderCode": 123,
        "amount": 3000,
        "description": "VQRIO123",
        "accountNumber": "12345678",
        "reference": "TF230204212323",
        "transactionDateTime": "2023-02-04 18:25:00",
        "currency": "VND",
        "paymentLinkId": "124c33293c43417ab7879e14c8d9eb18",
        "code": "00",
        "desc": "Thành công",
        "counterAccountBankId": "",
        "counterAccountBankName": "",
        "counterAccountName": "",
        "counterAccountNumber": "",
        "virtualAccountName": "",
        "virtualAccountNumber": "",
    },
    "signature": "412e915d2871504ed31be63c8f62a149a4410d34c4c42affc9006ef9917eaa03",
}


@pytest.fixture
def payos() -> PayOSProvider:
    return PayOSProvider(PAYOS_DOC_KEY)


def test_payos_published_vector(payos: PayOSProvider) -> None:
    assert payos_signature(PAYOS_DOC_BODY["data"], PAYOS_DOC_KEY) == PAYOS_DOC_BODY["signature"]
    note = payos.verify(_dump(PAYOS_DOC_BODY), "", NO_HEADERS)
    assert note == Notification(
        provider="payos",
        provider_txn_id="TF230204212323",
        order_ref="123",
        amount=3000,
        currency="VND",
        status="paid",
        paid_at=datetime(2023, 2, 4, 18, 25, tzinfo=VN_TZ),
        raw=PAYOS_DOC_BODY,
    )
    assert note.paid_at is not None and note.paid_at.utcoffset() == timedelta(hours=7)


def test_payos_signature_string_format() -> None:
    data = {"b": 2, "a": "x y", "c": None, "d": "", "e": True, "f": [{"z": 1, "y": "é"}], "g": 1.0}
    assert payos_signature_data(data) == 'a=x y&b=2&c=&d=&e=true&f=[{"y":"é","z":1}]&g=1'


def test_payos_null_strings_sign_as_empty() -> None:
    assert payos_signature_data({"a": "null", "b": "undefined", "c": None}) == "a=&b=&c="


def test_payos_key_order_in_body_does_not_matter(payos: PayOSProvider) -> None:
    body = dict(PAYOS_DOC_BODY)
    body["data"] = dict(reversed(list(PAYOS_DOC_BODY["data"].items())))
    assert payos.verify(_dump(body), "", NO_HEADERS).amount == 3000


def test_payos_upper_case_signature_accepted(payos: PayOSProvider) -> None:
    body = {**PAYOS_DOC_BODY, "signature": PAYOS_DOC_BODY["signature"].upper()}
    assert payos.verify(_dump(body), "", NO_HEADERS).status == "paid"


def test_payos_tampered_amount_rejected(payos: PayOSProvider) -> None:
    body = json.loads(_dump(PAYOS_DOC_BODY))
    body["data"]["amount"] = 300
    with pytest.raises(SignatureError, match="does not match"):
        payos.verify(_dump(body), "", NO_HEADERS)


def test_payos_added_field_rejected(payos: PayOSProvider) -> None:
    body = json.loads(_dump(PAYOS_DOC_BODY))
    body["data"]["extra"] = "x"
    with pytest.raises(SignatureError):
        payos.verify(_dump(body), "", NO_HEADERS)


def test_payos_unsorted_signature_rejected(payos: PayOSProvider) -> None:
    data = PAYOS_DOC_BODY["data"]
    unsorted = "&".join(f"{k}={v}" for k, v in data.items())
    bad = hmac.new(PAYOS_DOC_KEY.encode(), unsorted.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError):
        payos.verify(_dump({**PAYOS_DOC_BODY, "signature": bad}), "", NO_HEADERS)


def test_payos_wrong_key_rejected() -> None:
    with pytest.raises(SignatureError):
        PayOSProvider("another-key").verify(_dump(PAYOS_DOC_BODY), "", NO_HEADERS)


@pytest.mark.parametrize("signature", [None, "", 42])
def test_payos_missing_signature_rejected(payos: PayOSProvider, signature: Any) -> None:
    body = {k: v for k, v in PAYOS_DOC_BODY.items() if k != "signature"}
    if signature is not None:
        body["signature"] = signature
    with pytest.raises(SignatureError, match="missing"):
        payos.verify(_dump(body), "", NO_HEADERS)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"signature": "ab", "data": "x"}', "data must be a JSON object"),
        (b'{"signature": "ab", "signature": "cd", "data": {}}', "more than once"),
        (b'{"signature": "ab", "data": {"amount": NaN}}', "NaN"),
    ],
)
def test_payos_malformed_body(payos: PayOSProvider, raw: bytes, message: str) -> None:
    with pytest.raises(WebhookFormatError, match=message):
        payos.verify(raw, "", NO_HEADERS)


def test_payos_top_level_fields_are_not_trusted(payos: PayOSProvider) -> None:
    # The unsigned top-level "code" says success; the signed data says failure.
    req = payos.simulate("555", 10000, "FT555", success=False, paid_at=PAID_AT)
    body = _body(req.body)
    body.update(code="00", desc="success", success=True)
    note = payos.verify(_dump(body), "", NO_HEADERS)
    assert note.status == "failed"
    assert note.paid_at is None


def test_payos_bad_fields_after_valid_signature(payos: PayOSProvider) -> None:
    for field, value, error in [
        ("amount", "3000.5", InvalidAmountError),
        ("amount", -1, InvalidAmountError),
        ("amount", True, InvalidAmountError),
        ("transactionDateTime", "04/02/2023", WebhookFormatError),
        ("orderCode", "", WebhookFormatError),
    ]:
        data = {**PAYOS_DOC_BODY["data"], field: value}
        body = {"data": data, "signature": payos_signature(data, PAYOS_DOC_KEY)}
        with pytest.raises(error):
            payos.verify(_dump(body), "", NO_HEADERS)


def test_payos_replies(payos: PayOSProvider) -> None:
    assert payos.reply_ok().status_code == 200 and _json(payos.reply_ok())["success"] is True
    assert payos.reply_duplicate().status_code == 200
    assert payos.reply_bad_signature().status_code == 400
    assert payos.reply_not_found().status_code == 200
    assert _json(payos.reply_not_found())["success"] is False
    assert payos.reply_bad_amount().status_code == 400
    assert payos.reply_error().status_code == 500
    assert payos.reply_error("bad", retry=False) == Reply(400, b'{"success":false,"message":"bad"}', "application/json")


# =================================================================================================
# VNPay
# =================================================================================================

# A real VNPay sandbox notification with its hash secret, published in a public GitHub debug
# script (found with the code search; the index did not name the repository, file id 65887068789).
# The query string below is those parameters encoded as VNPay sends them; the hash is the
# published one and matches only with quote_plus encoding of the UTF-8 values.
VNPAY_PUBLIC_SECRET = "6HEKW2H6YES2FSOKLKKRQ0JS3QF1M4H6"
VNPAY_PUBLIC_HASH = (
    "3264dbf4850cb57d0cd597716260bf0722810f49b7abb144254f7f77adf08a1a"
    "6f496ab19e18c16266153c8caee87497fea7fa3507e61bcf9786dcff0d71b532"
)
VNPAY_PUBLIC_QUERY = (
    "vnp_Amount=14108000&vnp_BankCode=NCB&vnp_BankTranNo=VNP14980726&vnp_CardType=ATM"
    "&vnp_OrderInfo=Thanh+to%C3%A1n+%C4%91%C6%A1n+h%C3%A0ng+%236834803ff5166e338d7103a8"
    "&vnp_PayDate=20250526215346&vnp_ResponseCode=00&vnp_TmnCode=L8M3EKX2"
    "&vnp_TransactionNo=14980726&vnp_TransactionStatus=00&vnp_TxnRef=6834803ff5166e338d7103a8"
    f"&vnp_SecureHash={VNPAY_PUBLIC_HASH}"
)


@pytest.fixture
def vnpay() -> VNPayProvider:
    return VNPayProvider(VNPAY_PUBLIC_SECRET)


def test_vnpay_published_vector(vnpay: VNPayProvider) -> None:
    note = vnpay.verify(b"", VNPAY_PUBLIC_QUERY, NO_HEADERS)
    assert note.provider == "vnpay"
    assert note.order_ref == "6834803ff5166e338d7103a8"
    assert note.provider_txn_id == "14980726"
    assert note.amount == 141080  # vnp_Amount is VND x 100
    assert note.currency == "VND"
    assert note.status == "paid"
    assert note.paid_at == datetime(2025, 5, 26, 21, 53, 46, tzinfo=VN_TZ)
    assert note.raw["vnp_OrderInfo"] == "Thanh toán đơn hàng #6834803ff5166e338d7103a8"


def test_vnpay_secure_hash_of_published_params() -> None:
    params = dict(pair.split("=", 1) for pair in VNPAY_PUBLIC_QUERY.split("&"))
    params["vnp_OrderInfo"] = "Thanh toán đơn hàng #6834803ff5166e338d7103a8"
    assert vnpay_secure_hash(params, VNPAY_PUBLIC_SECRET) == VNPAY_PUBLIC_HASH


def test_vnpay_sign_data_uses_quote_plus_and_skips_hash_fields() -> None:
    params = {
        "vnp_TxnRef": "A B",
        "vnp_Amount": "100",
        "vnp_OrderInfo": "Lệ phí #1/2",
        "vnp_SecureHash": "x",
        "vnp_SecureHashType": "HmacSHA512",
        "other": "ignored",
    }
    assert vnpay_sign_data(params) == ("vnp_Amount=100&vnp_OrderInfo=L%E1%BB%87+ph%C3%AD+%231%2F2&vnp_TxnRef=A+B")


def test_vnpay_upper_case_hash_and_extra_params_accepted(vnpay: VNPayProvider) -> None:
    query = VNPAY_PUBLIC_QUERY.replace(VNPAY_PUBLIC_HASH, VNPAY_PUBLIC_HASH.upper())
    query += "&vnp_SecureHashType=HmacSHA512&utm_source=x"
    assert vnpay.verify(b"", query, NO_HEADERS).amount == 141080


def test_vnpay_tampered_amount_rejected(vnpay: VNPayProvider) -> None:
    query = VNPAY_PUBLIC_QUERY.replace("vnp_Amount=14108000", "vnp_Amount=10000")
    with pytest.raises(SignatureError, match="does not match"):
        vnpay.verify(b"", query, NO_HEADERS)


def test_vnpay_unsorted_hash_rejected(vnpay: VNPayProvider) -> None:
    params = {"vnp_TxnRef": "HS-1", "vnp_Amount": "1000000", "vnp_ResponseCode": "00"}
    unsorted = "&".join(f"{k}={v}" for k, v in params.items())
    bad = hmac.new(VNPAY_PUBLIC_SECRET.encode(), unsorted.encode(), hashlib.sha512).hexdigest()
    query = "&".join(f"{k}={v}" for k, v in params.items()) + f"&vnp_SecureHash={bad}"
    with pytest.raises(SignatureError):
        vnpay.verify(b"", query, NO_HEADERS)


def test_vnpay_wrong_secret_rejected() -> None:
    with pytest.raises(SignatureError):
        VNPayProvider("ANOTHERSECRET").verify(b"", VNPAY_PUBLIC_QUERY, NO_HEADERS)


@pytest.mark.parametrize("suffix", ["", "&vnp_SecureHash="])
def test_vnpay_missing_hash_rejected(vnpay: VNPayProvider, suffix: str) -> None:
    query = VNPAY_PUBLIC_QUERY.split("&vnp_SecureHash=")[0] + suffix
    with pytest.raises(SignatureError, match="missing"):
        vnpay.verify(b"", query, NO_HEADERS)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("vnp_Amount", "malformed"),
        ("vnp_OrderInfo=%ff%fe&vnp_SecureHash=ab", "malformed"),
        ("vnp_Amount=1&vnp_Amount=2&vnp_SecureHash=ab", "more than once"),
    ],
)
def test_vnpay_malformed_query(vnpay: VNPayProvider, query: str, message: str) -> None:
    with pytest.raises(WebhookFormatError, match=message):
        vnpay.verify(b"", query, NO_HEADERS)


def _vnpay_query(secret: str, **params: str) -> str:
    return VNPayProvider(secret).sign_request(params).query_string


def test_vnpay_amount_must_be_multiple_of_100(vnpay: VNPayProvider) -> None:
    query = _vnpay_query(
        VNPAY_PUBLIC_SECRET,
        vnp_Amount="1000050",
        vnp_TxnRef="HS-1",
        vnp_TransactionNo="1",
        vnp_ResponseCode="00",
        vnp_TransactionStatus="00",
    )
    with pytest.raises(InvalidAmountError, match="multiple of 100"):
        vnpay.verify(b"", query, NO_HEADERS)
    assert reply_for(vnpay, InvalidAmountError("x")) == vnpay.reply_bad_amount()


@pytest.mark.parametrize("amount", ["", "-100", "1e5", "10.00"])
def test_vnpay_amount_must_be_digits(vnpay: VNPayProvider, amount: str) -> None:
    query = _vnpay_query(VNPAY_PUBLIC_SECRET, vnp_Amount=amount, vnp_TxnRef="HS-1")
    with pytest.raises(InvalidAmountError):
        vnpay.verify(b"", query, NO_HEADERS)


@pytest.mark.parametrize(
    ("response_code", "transaction_status", "status"),
    [("00", "00", "paid"), ("00", "02", "failed"), ("24", "02", "failed"), ("07", "00", "failed")],
)
def test_vnpay_success_needs_both_codes(
    vnpay: VNPayProvider, response_code: str, transaction_status: str, status: str
) -> None:
    query = _vnpay_query(
        VNPAY_PUBLIC_SECRET,
        vnp_Amount="5000000",
        vnp_TxnRef="HS-9",
        vnp_TransactionNo="777",
        vnp_ResponseCode=response_code,
        vnp_TransactionStatus=transaction_status,
        vnp_PayDate="20240506093015",
    )
    note = vnpay.verify(b"", query, NO_HEADERS)
    assert note.status == status
    assert note.amount == 50000
    assert note.paid_at == (PAID_AT if status == "paid" else None)


def test_vnpay_cancelled_payment_without_transaction_number(vnpay: VNPayProvider) -> None:
    req = vnpay.simulate("HS-10", 20000, "0", success=False)
    note = vnpay.verify(b"", req.query_string, NO_HEADERS)
    assert note.status == "failed"
    assert note.provider_txn_id == "unpaid:HS-10"


def test_vnpay_paid_without_transaction_number_is_malformed(vnpay: VNPayProvider) -> None:
    query = _vnpay_query(
        VNPAY_PUBLIC_SECRET,
        vnp_Amount="100",
        vnp_TxnRef="HS-1",
        vnp_TransactionNo="0",
        vnp_ResponseCode="00",
        vnp_TransactionStatus="00",
    )
    with pytest.raises(WebhookFormatError, match="vnp_TransactionNo"):
        vnpay.verify(b"", query, NO_HEADERS)


def test_vnpay_bad_pay_date_and_missing_ref(vnpay: VNPayProvider) -> None:
    base = {"vnp_Amount": "100", "vnp_TransactionNo": "5", "vnp_ResponseCode": "00", "vnp_TransactionStatus": "00"}
    with pytest.raises(WebhookFormatError, match="vnp_PayDate"):
        vnpay.verify(b"", _vnpay_query(VNPAY_PUBLIC_SECRET, vnp_TxnRef="A", vnp_PayDate="2024", **base), NO_HEADERS)
    with pytest.raises(WebhookFormatError, match="vnp_PayDate"):
        vnpay.verify(
            b"", _vnpay_query(VNPAY_PUBLIC_SECRET, vnp_TxnRef="A", vnp_PayDate="20241399000000", **base), NO_HEADERS
        )
    with pytest.raises(WebhookFormatError, match="vnp_TxnRef"):
        vnpay.verify(b"", _vnpay_query(VNPAY_PUBLIC_SECRET, **base), NO_HEADERS)


def test_vnpay_terminal_code_checked_when_configured() -> None:
    provider = VNPayProvider(VNPAY_PUBLIC_SECRET, tmn_code="OTHER001")
    with pytest.raises(WebhookFormatError, match="vnp_TmnCode"):
        provider.verify(b"", VNPAY_PUBLIC_QUERY, NO_HEADERS)
    assert (
        VNPayProvider(VNPAY_PUBLIC_SECRET, tmn_code="L8M3EKX2").verify(b"", VNPAY_PUBLIC_QUERY, NO_HEADERS).status
        == "paid"
    )


def test_vnpay_replies(vnpay: VNPayProvider) -> None:
    expected = {
        vnpay.reply_ok: "00",
        vnpay.reply_not_found: "01",
        vnpay.reply_duplicate: "02",
        vnpay.reply_bad_amount: "04",
        vnpay.reply_bad_signature: "97",
        vnpay.reply_error: "99",
    }
    for method, code in expected.items():
        reply = method()
        assert reply.status_code == 200
        body = _json(reply)
        assert body["RspCode"] == code and isinstance(body["Message"], str)
    assert vnpay.reply_ok().body == b'{"RspCode":"00","Message":"Confirm Success"}'


# =================================================================================================
# MoMo
# =================================================================================================
# No published IPN vector gives its secret key (the examples on
# developers.momo.vn/v3/docs/payment/api/result-handling/notification do not match MoMo's public
# test keys), so MoMo is tested with round trips and tampering. The body shape below is the
# IPN example from that page.

MOMO_PARTNER, MOMO_ACCESS, MOMO_SECRET = "MOMOIOLD20190129", "test-access-key", "test-secret-key"
MOMO_DOC_IPN: dict[str, Any] = {
    "partnerCode": "MOMOIOLD20190129",
    "orderId": "01234567890123451633504872421",
    "requestId": "01234567890123451633504872421",
    "amount": 1000,
    "orderInfo": "Test Thue 1234556",
    "orderType": "momo_wallet",
    "transId": 2588659987,
    "resultCode": 0,
    "message": "Giao dịch thành công.",
    "payType": "qr",
    "responseTime": 1633504902954,
    "extraData": "eyJyZXN1bHRfbmFtZXNwYWNlIjoidW1hcmtldCIsImVycm9yIjoiIiwic3RhdGUiOjZ9",
}


@pytest.fixture
def momo() -> MoMoProvider:
    return MoMoProvider(MOMO_PARTNER, MOMO_ACCESS, MOMO_SECRET)


def _momo_body(momo: MoMoProvider, **changes: Any) -> dict[str, Any]:
    return _body(momo.sign_request({**MOMO_DOC_IPN, **changes}).body)


def test_momo_signature_string_is_the_documented_order() -> None:
    assert momo_ipn_signature_data(MOMO_DOC_IPN, "AK") == (
        "accessKey=AK&amount=1000"
        "&extraData=eyJyZXN1bHRfbmFtZXNwYWNlIjoidW1hcmtldCIsImVycm9yIjoiIiwic3RhdGUiOjZ9"
        "&message=Giao dịch thành công.&orderId=01234567890123451633504872421"
        "&orderInfo=Test Thue 1234556&orderType=momo_wallet&partnerCode=MOMOIOLD20190129"
        "&payType=qr&requestId=01234567890123451633504872421&responseTime=1633504902954"
        "&resultCode=0&transId=2588659987"
    )
    assert list(MOMO_IPN_FIELDS) == sorted(MOMO_IPN_FIELDS)


def test_momo_documented_ipn_round_trip(momo: MoMoProvider) -> None:
    body = _momo_body(momo)
    assert (
        body["signature"]
        == hmac.new(
            MOMO_SECRET.encode(),
            momo_ipn_signature_data(MOMO_DOC_IPN, MOMO_ACCESS).encode(),
            hashlib.sha256,
        ).hexdigest()
    )
    note = momo.verify(_dump(body), "", NO_HEADERS)
    assert note.provider == "momo"
    assert note.order_ref == "01234567890123451633504872421"
    assert note.provider_txn_id == "2588659987"
    assert note.amount == 1000
    assert note.status == "paid"
    assert note.paid_at == datetime.fromtimestamp(1633504902.954, tz=UTC)


def test_momo_string_typed_numbers_accepted(momo: MoMoProvider) -> None:
    body = _momo_body(momo, amount="1000", resultCode="0", transId="2588659987", responseTime="1633504902954")
    note = momo.verify(_dump(body), "", NO_HEADERS)
    assert (note.amount, note.status, note.provider_txn_id) == (1000, "paid", "2588659987")


def test_momo_access_key_in_body_is_ignored(momo: MoMoProvider) -> None:
    body = {**_momo_body(momo), "accessKey": "forged"}
    assert momo.verify(_dump(body), "", NO_HEADERS).status == "paid"


@pytest.mark.parametrize("result_code", [1006, 1005, 9000, 7000])
def test_momo_non_zero_result_is_failure(momo: MoMoProvider, result_code: int) -> None:
    note = momo.verify(_dump(_momo_body(momo, resultCode=result_code)), "", NO_HEADERS)
    assert note.status == "failed"
    assert note.paid_at is None


def test_momo_tampered_amount_rejected(momo: MoMoProvider) -> None:
    body = {**_momo_body(momo), "amount": 100}
    with pytest.raises(SignatureError, match="does not match"):
        momo.verify(_dump(body), "", NO_HEADERS)


def test_momo_field_order_matters(momo: MoMoProvider) -> None:
    # Signed in body order instead of MoMo's fixed order: must not verify.
    raw = "&".join(f"{k}={v}" for k, v in {"accessKey": MOMO_ACCESS, **MOMO_DOC_IPN}.items())
    bad = hmac.new(MOMO_SECRET.encode(), raw.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError):
        momo.verify(_dump({**MOMO_DOC_IPN, "signature": bad}), "", NO_HEADERS)


def test_momo_json_key_order_does_not_matter(momo: MoMoProvider) -> None:
    body = dict(reversed(list(_momo_body(momo).items())))
    assert momo.verify(_dump(body), "", NO_HEADERS).amount == 1000


def test_momo_wrong_secret_or_access_key_rejected(momo: MoMoProvider) -> None:
    raw = _dump(_momo_body(momo))
    with pytest.raises(SignatureError):
        MoMoProvider(MOMO_PARTNER, MOMO_ACCESS, "other-secret").verify(raw, "", NO_HEADERS)
    with pytest.raises(SignatureError):
        MoMoProvider(MOMO_PARTNER, "other-access", MOMO_SECRET).verify(raw, "", NO_HEADERS)


def test_momo_missing_signature_rejected(momo: MoMoProvider) -> None:
    with pytest.raises(SignatureError, match="missing"):
        momo.verify(_dump(MOMO_DOC_IPN), "", NO_HEADERS)


def test_momo_missing_field_is_malformed(momo: MoMoProvider) -> None:
    body = {k: v for k, v in _momo_body(momo).items() if k != "payType"}
    with pytest.raises(WebhookFormatError, match="payType"):
        momo.verify(_dump(body), "", NO_HEADERS)


@pytest.mark.parametrize("raw", [b"", b"{", b"null", b'"text"'])
def test_momo_malformed_body(momo: MoMoProvider, raw: bytes) -> None:
    with pytest.raises(WebhookFormatError):
        momo.verify(raw, "", NO_HEADERS)


def test_momo_other_partner_is_malformed() -> None:
    other = MoMoProvider("OTHERPARTNER", MOMO_ACCESS, MOMO_SECRET)
    body = _body(other.sign_request(MOMO_DOC_IPN).body)
    with pytest.raises(WebhookFormatError, match="partnerCode"):
        other.verify(_dump(body), "", NO_HEADERS)


def test_momo_bad_values_after_valid_signature(momo: MoMoProvider) -> None:
    with pytest.raises(InvalidAmountError):
        momo.verify(_dump(_momo_body(momo, amount=10.5)), "", NO_HEADERS)
    with pytest.raises(WebhookFormatError, match="resultCode"):
        momo.verify(_dump(_momo_body(momo, resultCode="ok")), "", NO_HEADERS)
    with pytest.raises(WebhookFormatError, match="responseTime"):
        momo.verify(_dump(_momo_body(momo, responseTime="yesterday")), "", NO_HEADERS)


def test_momo_replies(momo: MoMoProvider) -> None:
    assert momo.reply_ok() == Reply(204, b"", "")
    assert momo.reply_duplicate() == Reply(204, b"", "")
    assert momo.reply_bad_signature().status_code == 400
    assert momo.reply_not_found().status_code == 404
    assert momo.reply_bad_amount().status_code == 400
    assert momo.reply_error().status_code == 500
    assert momo.reply_error("x", retry=False).status_code == 400


def test_momo_signature_helper_matches_sign_request(momo: MoMoProvider) -> None:
    assert _momo_body(momo)["signature"] == momo_ipn_signature(MOMO_DOC_IPN, MOMO_ACCESS, MOMO_SECRET)


# =================================================================================================
# ZaloPay
# =================================================================================================

# Published example: https://docs.zalopay.vn/docs/specs/callback-api ("Data sample", sandbox
# app 2553). key2 is app 2553's sandbox key as it appears in many public ZaloPay sample
# configurations (not on the docs page itself); the documented mac verifies with it.
ZALOPAY_SANDBOX_KEY2 = "kLtgPl8HHhfvMuDHPwKfgfsY4Ydm9eIz"
ZALOPAY_DOC_DATA = (
    '{"app_id":2553,"app_trans_id":"200904_2553_1598435687208","app_time":1599189392817,'
    '"app_user":"demo","amount":10000,'
    '"embed_data":"{\\"merchantinfo\\":\\"embeddata123\\",\\"promotioninfo\\":\\"\\"}",'
    '"item":"[{\\"itemid\\":\\"knb\\",\\"itemname\\":\\"kim nguyen bao\\",\\"itemprice\\":198400,'
    '\\"itemquantity\\":1}]","zp_trans_id":200904000000389,"server_time":1599189413498,'
    '"channel":38,"merchant_user_id":"7ZMSl3nEg5sOUJzOLSoUFT8xKNQVaLOLXHB--8Eytqc",'
    '"user_fee_amount":0,"discount_amount":0}'
)
ZALOPAY_DOC_MAC = "d8d33baf449b31d7f9b94fa50d7c942c08cd4d83f28fa185557da21acb104f67"
ZALOPAY_DOC_BODY = {"data": ZALOPAY_DOC_DATA, "mac": ZALOPAY_DOC_MAC, "type": 1}


@pytest.fixture
def zalopay() -> ZaloPayProvider:
    return ZaloPayProvider(ZALOPAY_SANDBOX_KEY2, app_id=2553)


def test_zalopay_published_vector(zalopay: ZaloPayProvider) -> None:
    assert zalopay_mac(ZALOPAY_DOC_DATA, ZALOPAY_SANDBOX_KEY2) == ZALOPAY_DOC_MAC
    note = zalopay.verify(_dump(ZALOPAY_DOC_BODY), "", NO_HEADERS)
    assert note.provider == "zalopay"
    assert note.order_ref == "200904_2553_1598435687208"
    assert note.provider_txn_id == "200904000000389"
    assert note.amount == 10000
    assert note.status == "paid"
    assert note.paid_at == datetime.fromtimestamp(1599189413.498, tz=UTC)
    assert note.raw["data"]["app_user"] == "demo"


def test_zalopay_tampered_data_rejected(zalopay: ZaloPayProvider) -> None:
    body = {**ZALOPAY_DOC_BODY, "data": ZALOPAY_DOC_DATA.replace('"amount":10000', '"amount":100')}
    with pytest.raises(SignatureError, match="does not match"):
        zalopay.verify(_dump(body), "", NO_HEADERS)


def test_zalopay_reformatted_data_rejected(zalopay: ZaloPayProvider) -> None:
    # Same JSON content, different bytes: the MAC is over the exact string.
    body = {**ZALOPAY_DOC_BODY, "data": json.dumps(json.loads(ZALOPAY_DOC_DATA))}
    with pytest.raises(SignatureError):
        zalopay.verify(_dump(body), "", NO_HEADERS)


def test_zalopay_wrong_key_rejected() -> None:
    with pytest.raises(SignatureError):
        ZaloPayProvider("trMrHtvjo6myautxDUiAcYsVtaeQ8nhf").verify(_dump(ZALOPAY_DOC_BODY), "", NO_HEADERS)


@pytest.mark.parametrize("mac", [None, ""])
def test_zalopay_missing_mac_rejected(zalopay: ZaloPayProvider, mac: str | None) -> None:
    body: dict[str, Any] = {"data": ZALOPAY_DOC_DATA, "type": 1}
    if mac is not None:
        body["mac"] = mac
    with pytest.raises(SignatureError, match="missing"):
        zalopay.verify(_dump(body), "", NO_HEADERS)


def _zalopay_body(data: str, **extra: Any) -> bytes:
    return _dump({"data": data, "mac": zalopay_mac(data, ZALOPAY_SANDBOX_KEY2), "type": 1, **extra})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"data=x&mac=y", "not valid JSON"),
        (_dump({"data": {"app_id": 1}, "mac": "ab"}), "data must be a JSON string"),
        (_zalopay_body("not json"), "data is not valid JSON"),
        (_zalopay_body("[]"), "must be a JSON object"),
        (_zalopay_body(ZALOPAY_DOC_DATA, type=2), "callback type"),
        (_zalopay_body('{"app_id":2553,"amount":1}'), "app_trans_id"),
        (_zalopay_body(ZALOPAY_DOC_DATA.replace("2553,", "2554,", 1)), "app_id"),
        (_zalopay_body(ZALOPAY_DOC_DATA.replace('"amount":10000', '"amount":"ten"')), "amount"),
    ],
)
def test_zalopay_malformed(zalopay: ZaloPayProvider, raw: bytes, message: str) -> None:
    with pytest.raises(WebhookFormatError, match=message):
        zalopay.verify(raw, "", NO_HEADERS)


def test_zalopay_replies(zalopay: ZaloPayProvider) -> None:
    codes = {
        zalopay.reply_ok: 1,
        zalopay.reply_duplicate: 2,
        zalopay.reply_bad_signature: -1,
        zalopay.reply_not_found: 0,
        zalopay.reply_bad_amount: 0,
        zalopay.reply_error: 0,
    }
    for method, code in codes.items():
        reply = method()
        assert reply.status_code == 200
        body = _json(reply)
        assert body["return_code"] == code and isinstance(body["return_message"], str)


def test_zalopay_has_no_failure_callback(zalopay: ZaloPayProvider) -> None:
    with pytest.raises(ValueError, match="only for successful"):
        zalopay.simulate("240506_HS1", 1000, "1", success=False)


# =================================================================================================
# Every provider
# =================================================================================================

PROVIDER_FACTORIES: dict[str, Callable[[], WebhookProvider]] = {
    "payos": lambda: PayOSProvider("payos-key"),
    "vnpay": lambda: VNPayProvider("VNPAYSECRET", tmn_code="MOTCUA01"),
    "momo": lambda: MoMoProvider("MOTCUA", "access", "secret"),
    "zalopay": lambda: ZaloPayProvider("key2", app_id=2553),
}


@pytest.fixture(params=sorted(PROVIDER_FACTORIES))
def provider(request: pytest.FixtureRequest) -> WebhookProvider:
    return PROVIDER_FACTORIES[request.param]()


def _verify(provider: WebhookProvider, req: Any) -> Notification:
    return provider.verify(req.body, req.query_string, req.headers)


def test_protocol_is_implemented(provider: WebhookProvider) -> None:
    assert isinstance(provider, WebhookProvider)


def test_simulated_payment_round_trip(provider: WebhookProvider) -> None:
    req = provider.simulate("1234567", 150000, "9876543", paid_at=PAID_AT)
    note = _verify(provider, req)
    assert note.provider == provider.name
    assert note.order_ref == "1234567"
    assert note.provider_txn_id == "9876543"
    assert note.amount == 150000
    assert note.currency == "VND"
    assert note.status == "paid"
    assert note.paid_at == PAID_AT


@pytest.mark.parametrize("name", ["momo", "payos", "vnpay"])  # ZaloPay has no failure callback
def test_simulated_failure_round_trip(name: str) -> None:
    provider = PROVIDER_FACTORIES[name]()
    note = _verify(provider, provider.simulate("1234567", 150000, "9876543", success=False))
    assert note.status == "failed"
    assert note.paid_at is None


def test_simulated_request_signed_with_other_secret_rejected(provider: WebhookProvider) -> None:
    others: dict[str, WebhookProvider] = {
        "payos": PayOSProvider("x"),
        "vnpay": VNPayProvider("x", tmn_code="MOTCUA01"),
        "momo": MoMoProvider("MOTCUA", "access", "x"),
        "zalopay": ZaloPayProvider("x", app_id=2553),
    }
    with pytest.raises(SignatureError):
        _verify(provider, others[provider.name].simulate("1234567", 150000, "9876543"))


def test_reply_for_maps_errors(provider: WebhookProvider) -> None:
    assert reply_for(provider, SignatureError("x")) == provider.reply_bad_signature()
    assert reply_for(provider, InvalidAmountError("x")) == provider.reply_bad_amount()
    assert reply_for(provider, WebhookFormatError("bad")) == provider.reply_error("bad", retry=False)
    assert reply_for(provider, WebhookError("x")) == provider.reply_error()


def test_replies_are_well_formed(provider: WebhookProvider) -> None:
    for reply in (
        provider.reply_ok(),
        provider.reply_duplicate(),
        provider.reply_bad_signature(),
        provider.reply_not_found(),
        provider.reply_bad_amount(),
        provider.reply_error(),
    ):
        assert isinstance(reply, Reply)
        assert 200 <= reply.status_code < 600
        if reply.body:
            assert reply.content_type == "application/json"
            json.loads(reply.body)


def test_providers_by_name() -> None:
    providers = [factory() for factory in PROVIDER_FACTORIES.values()]
    assert sorted(providers_by_name(providers)) == ["momo", "payos", "vnpay", "zalopay"]
    with pytest.raises(ValueError, match="payos"):
        providers_by_name([PayOSProvider("a"), PayOSProvider("b")])


@pytest.mark.parametrize(
    "factory",
    [
        lambda: PayOSProvider(""),
        lambda: VNPayProvider(""),
        lambda: MoMoProvider("P", "A", ""),
        lambda: ZaloPayProvider(""),
    ],
)
def test_empty_secret_is_a_configuration_error(factory: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        factory()


def test_notification_validation() -> None:
    ok: dict[str, Any] = {
        "provider": "p",
        "provider_txn_id": "t",
        "order_ref": "o",
        "amount": 1,
        "status": "paid",
        "paid_at": PAID_AT,
        "raw": {},
    }
    assert Notification(**ok).currency == "VND"
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"amount": -1}, InvalidAmountError),
        ({"amount": True}, InvalidAmountError),
        ({"status": "pending"}, WebhookFormatError),
        ({"provider_txn_id": ""}, WebhookFormatError),
        ({"order_ref": ""}, WebhookFormatError),
        ({"paid_at": datetime(2024, 1, 1)}, WebhookFormatError),
    ]
    for change, error in cases:
        with pytest.raises(error):
            Notification(**{**ok, **change})
    with pytest.raises(AttributeError):
        Notification(**ok).amount = 2  # type: ignore[misc]
