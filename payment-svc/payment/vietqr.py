"""VietQR (NAPAS 247 on EMVCo merchant-presented QR): build, parse and render payloads.

Pure functions, no I/O. A payload is a flat string of TLV objects: a 2-digit id, a 2-digit length
(counted in UTF-8 bytes) and the value; templates 38 (merchant account) and 62 (additional data)
nest TLVs inside their value. The CRC (id 63) is always last.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import segno

__all__ = [
    "NAPAS_GUID",
    "SERVICE_TO_ACCOUNT",
    "SERVICE_TO_CARD",
    "VietQRError",
    "VietQRPayload",
    "build_payload",
    "crc16_ccitt_false",
    "decode_tlv",
    "encode_tlv",
    "encode_tlvs",
    "parse_payload",
    "qr_png",
    "qr_svg",
    "to_ascii",
]

NAPAS_GUID = "A000000727"
SERVICE_TO_ACCOUNT = "QRIBFTTA"
SERVICE_TO_CARD = "QRIBFTTC"
CURRENCY_VND = "704"
COUNTRY_VN = "VN"
STATIC = "11"
DYNAMIC = "12"

# Root ids
_ID_FORMAT = "00"
_ID_INITIATION = "01"
_ID_MERCHANT = "38"
_ID_CURRENCY = "53"
_ID_AMOUNT = "54"
_ID_COUNTRY = "58"
_ID_ADDITIONAL = "62"
_ID_CRC = "63"
# Inside 38
_ID_GUID = "00"
_ID_BENEFICIARY = "01"
_ID_SERVICE = "02"
# Inside 38/01
_ID_BIN = "00"
_ID_ACCOUNT = "01"
# Inside 62
_ID_BILL = "01"
_ID_REFERENCE = "05"
_ID_PURPOSE = "08"

_ADDITIONAL_MAX = 25
_AMOUNT_MAX_DIGITS = 13  # EMVCo: tag 54 is at most 13 characters
_BIN_RE = re.compile(r"[0-9]{6}")
_ACCOUNT_RE = re.compile(r"[0-9A-Za-z]{1,19}")
_AMOUNT_RE = re.compile(r"[1-9][0-9]*")
_ID_RE = re.compile(rb"[0-9]{2}")
_HEX4_RE = re.compile(r"[0-9A-Fa-f]{4}")


class VietQRError(ValueError):
    """A VietQR input or payload is invalid; `field` names the part that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class VietQRPayload:
    """The transfer a VietQR payload asks for."""

    bank_bin: str
    account: str
    amount: int | None
    purpose: str | None = None
    bill_number: str | None = None
    reference: str | None = None
    to_card: bool = False
    dynamic: bool = False


# --- CRC ---------------------------------------------------------------------------------------


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def _crc_hex(text_before_crc_value: str) -> str:
    return f"{crc16_ccitt_false(text_before_crc_value.encode('utf-8')):04X}"


# --- TLV ---------------------------------------------------------------------------------------


def encode_tlv(tag: str, value: str) -> str:
    """Encode one TLV object; the length counts UTF-8 bytes and must fit in two digits."""
    if not re.fullmatch(r"[0-9]{2}", tag):
        raise VietQRError(tag, "a TLV id must be two digits")
    size = len(value.encode("utf-8"))
    if size > 99:
        raise VietQRError(tag, f"value is {size} bytes long, at most 99 fit in a TLV object")
    return f"{tag}{size:02d}{value}"


def encode_tlvs(items: Iterable[tuple[str, str]]) -> str:
    """Encode TLV objects in the order given."""
    return "".join(encode_tlv(tag, value) for tag, value in items)


def decode_tlv(text: str, *, where: str = "payload") -> list[tuple[str, str]]:
    """Split `text` into (id, value) pairs, checking every header and length.

    `where` names the template being decoded so that errors say where the fault is.
    """
    data = text.encode("utf-8")
    items: list[tuple[str, str]] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise VietQRError(where, f"truncated TLV header at byte {pos}")
        tag_b, len_b = data[pos : pos + 2], data[pos + 2 : pos + 4]
        if not _ID_RE.fullmatch(tag_b):
            raise VietQRError(where, f"TLV id at byte {pos} is not two digits: {tag_b!r}")
        tag = tag_b.decode("ascii")
        if not _ID_RE.fullmatch(len_b):
            raise VietQRError(f"{where}/{tag}", f"length is not two digits: {len_b!r}")
        size = int(len_b)
        start, end = pos + 4, pos + 4 + size
        if end > len(data):
            raise VietQRError(
                f"{where}/{tag}",
                f"length {size} runs past the end (only {len(data) - start} bytes left)",
            )
        try:
            value = data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            raise VietQRError(f"{where}/{tag}", f"length {size} splits a UTF-8 character") from None
        items.append((tag, value))
        pos = end
    return items


def _as_unique_map(items: list[tuple[str, str]], where: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for tag, value in items:
        if tag in result:
            raise VietQRError(f"{where}/{tag}", "appears more than once")
        result[tag] = value
    return result


# --- Text --------------------------------------------------------------------------------------


def to_ascii(text: str) -> str:
    """Fold Vietnamese text to ASCII: strip diacritics, đ→d, Đ→D, drop anything else non-ASCII.

    Whitespace runs collapse to one space, so "Lệ phí  hộ tịch" → "Le phi ho tich".
    """
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    ascii_only = stripped.encode("ascii", "ignore").decode("ascii")
    return " ".join(ascii_only.split())


def _check_additional(field: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise VietQRError(field, f"must be text, got {type(value).__name__}")
    bad = [ch for ch in value if not (" " <= ch <= "~")]
    if bad:
        raise VietQRError(field, f"must be printable ASCII, found {bad[0]!r} (use to_ascii() for Vietnamese text)")
    if len(value) > _ADDITIONAL_MAX:
        raise VietQRError(field, f"is {len(value)} characters long, at most {_ADDITIONAL_MAX} allowed")
    return value


# --- Build -------------------------------------------------------------------------------------


def build_payload(
    bank_bin: str,
    account: str,
    amount: int | None,
    *,
    purpose: str | None = None,
    bill_number: str | None = None,
    reference: str | None = None,
    to_card: bool = False,
) -> str:
    """Build a VietQR payload string; dynamic ("12") when `amount` is given, static ("11") otherwise.

    Raises VietQRError naming the offending field when an input is invalid.
    """
    if not isinstance(bank_bin, str) or not _BIN_RE.fullmatch(bank_bin):
        raise VietQRError("bank_bin", f"must be exactly 6 digits, got {bank_bin!r}")
    if not isinstance(account, str) or not _ACCOUNT_RE.fullmatch(account):
        raise VietQRError("account", f"must be 1 to 19 ASCII letters or digits, got {account!r}")
    if amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise VietQRError("amount", f"must be an integer number of VND, got {amount!r}")
        if amount <= 0:
            raise VietQRError("amount", f"must be greater than 0, got {amount}")
        if len(str(amount)) > _AMOUNT_MAX_DIGITS:
            raise VietQRError("amount", f"must have at most {_AMOUNT_MAX_DIGITS} digits")
    additional = [
        (_ID_BILL, _check_additional("bill_number", bill_number)),
        (_ID_REFERENCE, _check_additional("reference", reference)),
        (_ID_PURPOSE, _check_additional("purpose", purpose)),
    ]

    beneficiary = encode_tlvs([(_ID_BIN, bank_bin), (_ID_ACCOUNT, account)])
    merchant = encode_tlvs(
        [
            (_ID_GUID, NAPAS_GUID),
            (_ID_BENEFICIARY, beneficiary),
            (_ID_SERVICE, SERVICE_TO_CARD if to_card else SERVICE_TO_ACCOUNT),
        ]
    )
    root: list[tuple[str, str]] = [
        (_ID_FORMAT, "01"),
        (_ID_INITIATION, DYNAMIC if amount is not None else STATIC),
        (_ID_MERCHANT, merchant),
        (_ID_CURRENCY, CURRENCY_VND),
    ]
    if amount is not None:
        root.append((_ID_AMOUNT, str(amount)))
    root.append((_ID_COUNTRY, COUNTRY_VN))
    present = [(tag, value) for tag, value in additional if value is not None]
    if present:
        root.append((_ID_ADDITIONAL, encode_tlvs(present)))
    body = encode_tlvs(root) + _ID_CRC + "04"
    return body + _crc_hex(body)


# --- Parse -------------------------------------------------------------------------------------


def parse_payload(text: str) -> VietQRPayload:
    """Parse and validate a VietQR payload (structure, CRC, NAPAS merchant template)."""
    if not isinstance(text, str):
        raise VietQRError("payload", f"must be text, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise VietQRError("payload", "is empty")
    items = decode_tlv(text)
    tags = [tag for tag, _ in items]
    if tags[-1] != _ID_CRC:
        raise VietQRError("63", "the CRC object must be the last one")
    if tags.count(_ID_CRC) != 1:
        raise VietQRError("63", "appears more than once")
    crc_value = items[-1][1]
    if not _HEX4_RE.fullmatch(crc_value):
        raise VietQRError("63", f"must be 4 hex digits, got {crc_value!r}")
    expected = _crc_hex(text[:-4])
    if crc_value.upper() != expected:
        raise VietQRError("63", f"CRC mismatch: payload says {crc_value}, content gives {expected}")

    root = _as_unique_map(items, "payload")
    if tags[0] != _ID_FORMAT or root[_ID_FORMAT] != "01":
        raise VietQRError("00", "payload format indicator must come first and be '01'")
    initiation = root.get(_ID_INITIATION)
    if initiation is not None and initiation not in (STATIC, DYNAMIC):
        raise VietQRError("01", f"point of initiation must be '11' or '12', got {initiation!r}")
    if root.get(_ID_CURRENCY) != CURRENCY_VND:
        raise VietQRError("53", f"currency must be '704' (VND), got {root.get(_ID_CURRENCY)!r}")
    if root.get(_ID_COUNTRY) != COUNTRY_VN:
        raise VietQRError("58", f"country must be 'VN', got {root.get(_ID_COUNTRY)!r}")

    amount: int | None = None
    if _ID_AMOUNT in root:
        raw_amount = root[_ID_AMOUNT]
        if not _AMOUNT_RE.fullmatch(raw_amount):
            raise VietQRError("54", f"amount must be a positive whole number of VND, got {raw_amount!r}")
        amount = int(raw_amount)

    if _ID_MERCHANT not in root:
        raise VietQRError("38", "merchant account information (NAPAS) is missing")
    merchant = _as_unique_map(decode_tlv(root[_ID_MERCHANT], where="38"), "38")
    if merchant.get(_ID_GUID) != NAPAS_GUID:
        raise VietQRError("38/00", f"must be {NAPAS_GUID!r}, got {merchant.get(_ID_GUID)!r}")
    service = merchant.get(_ID_SERVICE)
    if service not in (SERVICE_TO_ACCOUNT, SERVICE_TO_CARD):
        raise VietQRError("38/02", f"service must be QRIBFTTA or QRIBFTTC, got {service!r}")
    if _ID_BENEFICIARY not in merchant:
        raise VietQRError("38/01", "beneficiary (BIN and account) is missing")
    beneficiary = _as_unique_map(decode_tlv(merchant[_ID_BENEFICIARY], where="38/01"), "38/01")
    bank_bin = beneficiary.get(_ID_BIN, "")
    if not _BIN_RE.fullmatch(bank_bin):
        raise VietQRError("38/01/00", f"bank BIN must be 6 digits, got {bank_bin!r}")
    account = beneficiary.get(_ID_ACCOUNT, "")
    if not _ACCOUNT_RE.fullmatch(account):
        raise VietQRError("38/01/01", f"account must be 1 to 19 letters or digits, got {account!r}")

    # Lengths inside 62 are not held to 25 here: real bank/wallet payloads exceed it.
    extra: dict[str, str] = {}
    if _ID_ADDITIONAL in root:
        extra = _as_unique_map(decode_tlv(root[_ID_ADDITIONAL], where="62"), "62")

    return VietQRPayload(
        bank_bin=bank_bin,
        account=account,
        amount=amount,
        purpose=extra.get(_ID_PURPOSE),
        bill_number=extra.get(_ID_BILL),
        reference=extra.get(_ID_REFERENCE),
        to_card=service == SERVICE_TO_CARD,
        dynamic=initiation == DYNAMIC,
    )


# --- Images ------------------------------------------------------------------------------------


def _qr(payload: str) -> segno.QRCode:
    # boost_error=False keeps the level at M exactly, as banks' own generators do.
    return segno.make_qr(payload, error="m", boost_error=False)


def qr_png(payload: str, scale: int = 8, border: int = 4) -> bytes:
    """Render a payload as a PNG QR code (error correction level M)."""
    if scale < 1:
        raise VietQRError("scale", f"must be at least 1, got {scale}")
    buf = io.BytesIO()
    _qr(payload).save(buf, kind="png", scale=scale, border=border)
    return buf.getvalue()


def qr_svg(payload: str, scale: int = 8, border: int = 4) -> bytes:
    """Render a payload as an SVG QR code (error correction level M)."""
    if scale < 1:
        raise VietQRError("scale", f"must be at least 1, got {scale}")
    buf = io.BytesIO()
    _qr(payload).save(buf, kind="svg", scale=scale, border=border, xmldecl=True)
    return buf.getvalue()
