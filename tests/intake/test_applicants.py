"""Validation of identifiers and text (pure functions, no broker or database)."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from intake import applicants


@pytest.mark.parametrize(
    "value",
    ["046090001234", "001190000001", "079203012345", "096300000001"],  # born 1990, 1990 (f), 2003, 2000 (f)
)
def test_valid_citizen_ids(value: str) -> None:
    assert applicants.citizen_id(value, today=date(2026, 1, 1)) == value


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("04609000123", "12 digits"),
        ("0460900012345", "12 digits"),
        ("04609000123a", "12 digits"),
        ("003090001234", "province"),  # 003 is not a province code
        ("097090001234", "province"),
        ("046490001234", "4th digit"),  # 22nd century
        ("046299001234", "future"),  # born 2099
    ],
)
def test_invalid_citizen_ids(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        applicants.citizen_id(value, today=date(2026, 1, 1))


def test_tax_codes() -> None:
    assert applicants.tax_code("0101234567") == "0101234567"
    assert applicants.tax_code("0101234567-001") == "0101234567-001"
    assert applicants.tax_code("0101234567001") == "0101234567-001"
    for bad in ("123", "01012345678", "0101234567-01", "abcdefghij"):
        with pytest.raises(ValueError):
            applicants.tax_code(bad)


def test_phones_are_normalised() -> None:
    for given in ("0905123456", "+84905123456", "84905123456", "090 512 3456", "(+84) 905.123.456"):
        assert applicants.phone(given) == "0905123456"
    for bad in ("0123456789", "090512345", "09051234567", "0205123456", "phone"):
        with pytest.raises(ValueError):
            applicants.phone(bad)


def test_text_is_nfc_and_single_script() -> None:
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Đào")
    assert applicants.clean_text(nfd) == unicodedata.normalize("NFC", "Nguyễn Thị Đào")
    assert applicants.clean_text("Số 5, ngõ 3/2 Lê Lợi") == "Số 5, ngõ 3/2 Lê Lợi"
    assert applicants.clean_text("dòng 1\ndòng 2", multiline=True) == "dòng 1\ndòng 2"
    with pytest.raises(ValueError, match="scripts"):
        applicants.clean_text("Nguy\u0435n")  # Cyrillic е
    with pytest.raises(ValueError, match="control"):
        applicants.clean_text("An\u202eBình")  # right-to-left override
    with pytest.raises(ValueError, match="control"):
        applicants.clean_text("dòng 1\ndòng 2")
