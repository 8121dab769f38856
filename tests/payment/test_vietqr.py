"""VietQR payloads: TLV, CRC, build/parse, validation, images."""

from __future__ import annotations

import io

import pytest
import segno
from payment.vietqr import (
    VietQRError,
    VietQRPayload,
    build_payload,
    crc16_ccitt_false,
    decode_tlv,
    encode_tlv,
    encode_tlvs,
    parse_payload,
    qr_png,
    qr_svg,
    to_ascii,
)

# docs/DOMAIN.md's VietQR public example; also the "VietQR Dynamic" case of
# github.com/xuannghia/vietnam-qr-pay test/test-quick-gen-qr.spec.ts.
DOMAIN_EXAMPLE = (
    "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA"
    "53037045405100005802VN62150811Chuyen tien630453E6"
)


def test_domain_example_round_trips_byte_for_byte() -> None:
    built = build_payload("970416", "257678859", 10000, purpose="Chuyen tien")
    assert built == DOMAIN_EXAMPLE
    assert built.encode("utf-8") == DOMAIN_EXAMPLE.encode("utf-8")


def test_domain_example_decodes_to_its_inputs() -> None:
    assert parse_payload(DOMAIN_EXAMPLE) == VietQRPayload(
        bank_bin="970416",
        account="257678859",
        amount=10000,
        purpose="Chuyen tien",
        bill_number=None,
        reference=None,
        to_card=False,
        dynamic=True,
    )
    top = decode_tlv(DOMAIN_EXAMPLE)
    assert [tag for tag, _ in top] == ["00", "01", "38", "53", "54", "58", "62", "63"]
    merchant = dict(decode_tlv(dict(top)["38"]))
    assert merchant == {"00": "A000000727", "01": "00069704160109257678859", "02": "QRIBFTTA"}
    assert dict(decode_tlv(merchant["01"])) == {"00": "970416", "01": "257678859"}
    assert dict(decode_tlv(dict(top)["62"])) == {"08": "Chuyen tien"}


@pytest.mark.parametrize(
    ("expected", "kwargs"),
    [
        # github.com/xuannghia/vietnam-qr-pay test/test-quick-gen-qr.spec.ts, "VietQR Static"
        (
            "00020101021138530010A0000007270123000697041601092576788590208QRIBFTTA53037045802VN6304AE9F",
            {"bank_bin": "970416", "account": "257678859", "amount": None},
        ),
        # github.com/xuannghia/vietnam-qr-pay test/test-vietqr.spec.ts, "VietQR"
        (
            "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA"
            "5303704540410005802VN62150811Chuyen tien6304BBB8",
            {"bank_bin": "970416", "account": "257678859", "amount": 1000, "purpose": "Chuyen tien"},
        ),
        # github.com/subiz/vietqr README.md: Generate(120000, "970415", "0011001932418",
        # "ủng hộ lũ lụt"); the purpose is folded to ASCII as to_ascii() does.
        (
            "00020101021238570010A00000072701270006970415011300110019324180208QRIBFTTA"
            "530370454061200005802VN62170813ung ho lu lut6304C15C",
            {
                "bank_bin": "970415",
                "account": "0011001932418",
                "amount": 120000,
                "purpose": to_ascii("ủng hộ lũ lụt"),
            },
        ),
    ],
)
def test_public_vectors_build_and_parse(expected: str, kwargs: dict[str, object]) -> None:
    assert build_payload(**kwargs) == expected  # type: ignore[arg-type]
    parsed = parse_payload(expected)
    assert parsed.bank_bin == kwargs["bank_bin"]
    assert parsed.account == kwargs["account"]
    assert parsed.amount == kwargs["amount"]
    assert parsed.purpose == kwargs.get("purpose")
    assert parsed.dynamic is (kwargs["amount"] is not None)


def test_public_vector_with_wrong_crc_is_rejected() -> None:
    # github.com/xuannghia/vietnam-qr-pay test/test-vietqr.spec.ts, "Invalid CRC VietQR"
    bad = (
        "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA"
        "5303704540410005802VN62150811Chuyen tien6304BBB5"
    )
    with pytest.raises(VietQRError, match="CRC mismatch") as info:
        parse_payload(bad)
    assert info.value.field == "63"


def test_public_vector_with_wrong_format_indicator_is_rejected() -> None:
    # README of github.com/thanhtinhpas1/vietqr-parser (pkg.go.dev): its CRC is right but
    # the payload format indicator is "00", not the "01" EMVCo requires.
    text = "00020001021238570010A00000072701270006970436011308810004580860208QRIBFTTA53037045802VN6304CD60"
    assert f"{crc16_ccitt_false(text[:-4].encode()):04X}" == "CD60"
    with pytest.raises(VietQRError, match="payload format indicator") as info:
        parse_payload(text)
    assert info.value.field == "00"


# --- CRC ---------------------------------------------------------------------------------------


def test_crc_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_crc_of_nothing_is_init() -> None:
    assert crc16_ccitt_false(b"") == 0xFFFF


def test_crc_is_written_upper_case_and_zero_padded() -> None:
    for amount in range(1000, 1400):
        payload = build_payload("970416", "257678859", amount)
        crc = payload[-4:]
        assert payload[-8:-4] == "6304"
        assert crc == crc.upper() and len(crc) == 4
        assert int(crc, 16) == crc16_ccitt_false(payload[:-4].encode())


# --- TLV ---------------------------------------------------------------------------------------


def test_tlv_length_counts_utf8_bytes() -> None:
    assert encode_tlv("08", "Việt") == "0806Việt"  # ệ is 3 bytes
    assert decode_tlv("0806Việt0102ab") == [("08", "Việt"), ("01", "ab")]


def test_tlv_encode_rejects_bad_id_and_long_value() -> None:
    with pytest.raises(VietQRError):
        encode_tlv("8", "x")
    with pytest.raises(VietQRError, match="at most 99"):
        encode_tlv("62", "x" * 100)
    assert encode_tlv("62", "x" * 99).startswith("6299")


def test_tlv_nested_round_trip() -> None:
    inner = encode_tlvs([("01", "HS-001"), ("08", "Le phi")])
    outer = encode_tlvs([("00", "01"), ("62", inner)])
    tags = decode_tlv(outer)
    assert tags == [("00", "01"), ("62", inner)]
    assert decode_tlv(tags[1][1]) == [("01", "HS-001"), ("08", "Le phi")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("000", "truncated TLV header"),
        ("0002010", "truncated TLV header"),
        ("0005abc", "runs past the end"),
        ("00x1a", "length is not two digits"),
        ("x002ab", "not two digits"),
        ("0802Vệ", "splits a UTF-8 character"),
    ],
)
def test_tlv_decode_errors(text: str, message: str) -> None:
    with pytest.raises(VietQRError, match=message):
        decode_tlv(text)


# --- Parse errors ------------------------------------------------------------------------------


def _with_crc(body_without_crc_value: str) -> str:
    return body_without_crc_value + f"{crc16_ccitt_false(body_without_crc_value.encode()):04X}"


def test_parse_bad_crc() -> None:
    tampered = DOMAIN_EXAMPLE.replace("5405100005802", "5405900005802")
    with pytest.raises(VietQRError, match="CRC mismatch"):
        parse_payload(tampered)


def test_parse_truncated() -> None:
    with pytest.raises(VietQRError) as info:
        parse_payload(DOMAIN_EXAMPLE[:-10])
    assert "runs past the end" in str(info.value) or "truncated" in str(info.value)


def test_parse_wrong_length() -> None:
    # "62 15" changed to "62 16": the additional data swallows the CRC header.
    wrong = DOMAIN_EXAMPLE.replace("62150811", "62160811")
    with pytest.raises(VietQRError):
        parse_payload(wrong)


def test_parse_accepts_surrounding_whitespace_and_lower_case_crc() -> None:
    assert parse_payload(f"  {DOMAIN_EXAMPLE}\n").amount == 10000
    assert parse_payload(DOMAIN_EXAMPLE[:-4] + DOMAIN_EXAMPLE[-4:].lower()).amount == 10000


def test_parse_empty() -> None:
    with pytest.raises(VietQRError, match="empty"):
        parse_payload("   ")


def test_parse_crc_not_last() -> None:
    body = DOMAIN_EXAMPLE[:-8]
    with pytest.raises(VietQRError, match="last"):
        parse_payload(body + "6304ABCD" + "5802VN")


def test_parse_crc_value_not_hex() -> None:
    with pytest.raises(VietQRError, match="4 hex digits"):
        parse_payload(DOMAIN_EXAMPLE[:-4] + "ZZZZ")


def test_parse_duplicate_tag() -> None:
    body = DOMAIN_EXAMPLE[:-8] + "5802VN6304"
    with pytest.raises(VietQRError, match="more than once"):
        parse_payload(_with_crc(body))


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("0010A000000727", "0010A000000775", "38/00"),
        ("0208QRIBFTTA", "0208QRPUSHXX", "38/02"),
        ("5303704", "5303840", "53"),
        ("5802VN", "5802LA", "58"),
        ("540510000", "54051000.", "54"),
        ("0006970416", "000697041X", "38/01/00"),
        ("010212", "010213", "01"),
    ],
)
def test_parse_rejects_wrong_fields(old: str, new: str, field: str) -> None:
    assert old in DOMAIN_EXAMPLE
    body = DOMAIN_EXAMPLE[:-4].replace(old, new)
    with pytest.raises(VietQRError) as info:
        parse_payload(_with_crc(body))
    assert info.value.field == field


def test_parse_requires_merchant_template() -> None:
    body = "0002010102115303704" + "5802VN" + "6304"
    with pytest.raises(VietQRError, match="merchant account") as info:
        parse_payload(_with_crc(body))
    assert info.value.field == "38"


def test_parse_accepts_long_additional_data_from_other_generators() -> None:
    purpose = "CSE6X9Q29B6 Mua license OCR test"  # 32 chars: longer than we would build
    body = (
        "00020101021238570010A00000072701270006970422011300110019324180208QRIBFTTA"
        "53037045802VN" + encode_tlv("62", encode_tlv("08", purpose)) + "6304"
    )
    assert parse_payload(_with_crc(body)).purpose == purpose


# --- Build -------------------------------------------------------------------------------------


def test_build_static_and_dynamic() -> None:
    static = build_payload("970416", "257678859", None)
    assert static.startswith("000201010211")
    assert "54" not in [tag for tag, _ in decode_tlv(static)]
    dynamic = build_payload("970416", "257678859", 1)
    assert dynamic.startswith("000201010212")
    assert dict(decode_tlv(dynamic))["54"] == "1"


def test_build_to_card() -> None:
    payload = build_payload("970436", "9704366614528174", 50000, to_card=True)
    assert "0208QRIBFTTC" in payload
    parsed = parse_payload(payload)
    assert parsed.to_card is True
    assert parsed.account == "9704366614528174"


def test_build_additional_data_order_and_round_trip() -> None:
    payload = build_payload(
        "970416",
        "257678859",
        150000,
        purpose="Le phi HS-2024-000123",
        bill_number="HS-2024-000123",
        reference="BILL-77",
    )
    additional = dict(decode_tlv(payload))["62"]
    assert [tag for tag, _ in decode_tlv(additional)] == ["01", "05", "08"]
    assert parse_payload(payload) == VietQRPayload(
        bank_bin="970416",
        account="257678859",
        amount=150000,
        purpose="Le phi HS-2024-000123",
        bill_number="HS-2024-000123",
        reference="BILL-77",
        to_card=False,
        dynamic=True,
    )


def test_build_empty_additional_fields_are_left_out() -> None:
    assert build_payload("970416", "257678859", 10000, purpose="", bill_number=None) == (
        build_payload("970416", "257678859", 10000)
    )
    assert "62" not in dict(decode_tlv(build_payload("970416", "257678859", 10000)))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bank_bin": "97041"}, "bank_bin"),
        ({"bank_bin": "9704166"}, "bank_bin"),
        ({"bank_bin": "97041A"}, "bank_bin"),
        ({"bank_bin": "９７０４１６"}, "bank_bin"),  # full-width digits are not ASCII digits
        ({"account": ""}, "account"),
        ({"account": "1" * 20}, "account"),
        ({"account": "2576-78859"}, "account"),
        ({"account": "tài khoản"}, "account"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"amount": "10000"}, "amount"),
        ({"amount": 10**13}, "amount"),
        ({"purpose": "Chuyển tiền"}, "purpose"),
        ({"purpose": "x" * 26}, "purpose"),
        ({"purpose": "tab\there"}, "purpose"),
        ({"bill_number": "HS" * 13}, "bill_number"),
        ({"reference": "mã"}, "reference"),
    ],
)
def test_build_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"bank_bin": "970416", "account": "257678859", "amount": 10000}
    args.update(kwargs)
    with pytest.raises(VietQRError) as info:
        build_payload(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ValueError)


def test_build_limits_are_inclusive() -> None:
    payload = build_payload("970416", "A" * 19, 10**13 - 1, purpose="x" * 25)
    parsed = parse_payload(payload)
    assert parsed.account == "A" * 19
    assert parsed.amount == 10**13 - 1
    assert parsed.purpose == "x" * 25


# --- ASCII folding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Lệ phí hộ tịch", "Le phi ho tich"),
        ("Đăng ký khai sinh", "Dang ky khai sinh"),
        ("đường", "duong"),
        ("ỦNG HỘ  LŨ LỤT", "UNG HO LU LUT"),
        ("Phí 50.000₫", "Phi 50.000"),
        ("ASCII stays", "ASCII stays"),
    ],
)
def test_to_ascii(text: str, expected: str) -> None:
    assert to_ascii(text) == expected


def test_to_ascii_output_is_accepted_as_purpose() -> None:
    purpose = to_ascii("Lệ phí chứng thực")
    assert parse_payload(build_payload("970416", "257678859", 20000, purpose=purpose)).purpose == ("Le phi chung thuc")


# --- Images ------------------------------------------------------------------------------------


def _segno_reference(kind: str) -> bytes:
    buf = io.BytesIO()
    segno.make_qr(DOMAIN_EXAMPLE, error="m", boost_error=False).save(
        buf, kind=kind, scale=8, border=4, **({"xmldecl": True} if kind == "svg" else {})
    )
    return buf.getvalue()


def test_qr_png() -> None:
    png = qr_png(DOMAIN_EXAMPLE)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == _segno_reference("png")  # level M, not boosted
    assert qr_png(DOMAIN_EXAMPLE, scale=2) != png


def test_qr_svg() -> None:
    svg = qr_svg(DOMAIN_EXAMPLE)
    assert svg.startswith(b"<?xml")
    assert b"<svg" in svg
    assert svg == _segno_reference("svg")


def test_qr_rejects_bad_scale() -> None:
    with pytest.raises(VietQRError):
        qr_png(DOMAIN_EXAMPLE, scale=0)
