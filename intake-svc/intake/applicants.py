"""Validation of applicants' identifiers and contact data, and of free text (NFC, no control characters, one script).

Every function returns the normalised value or raises ``ValueError`` with a message for the applicant; pydantic turns
that into a 422 problem that names the field.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# Province and centrally governed city codes of the 12-digit citizen id (Circular 07/2016/TT-BCA, 63 codes).
PROVINCE_CODES = frozenset(
    """001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 035 036 037 038 040
    042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 070 072 074 075 077 079 080 082 083 084 086
    087 089 091 092 093 094 095 096""".split()
)

_CCCD = re.compile(r"^\d{12}$")
_TAX = re.compile(r"^(\d{10})(?:-?(\d{3}))?$")
# Vietnamese mobile numbers since the 2018 renumbering: 03x, 05x, 07x, 08x, 09x + 7 digits.
_MOBILE = re.compile(r"^0(3[2-9]|5[25689]|7[06-9]|8[1-9]|9\d)\d{7}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


def citizen_id(value: str, *, today: date | None = None) -> str:
    """A 12-digit citizen id (CCCD): province of birth (3 digits), century and sex (1), year of birth (2), serial."""
    v = value.strip()
    if not _CCCD.match(v):
        raise ValueError("a citizen id has exactly 12 digits")
    if v[:3] not in PROVINCE_CODES:
        raise ValueError(f"{v[:3]} is not a province code of a citizen id")
    century_digit = int(v[3])
    if century_digit > 3:
        raise ValueError("the 4th digit (century and sex) must be 0–3 for a person born 1900–2099")
    year = 1900 + 100 * (century_digit // 2) + int(v[4:6])
    current = (today or date.today()).year
    if year > current:
        raise ValueError("the year of birth encoded in the citizen id is in the future")
    return v


def tax_code(value: str) -> str:
    """An organisation's tax code: 10 digits, or 13 digits for a branch (written 10 + '-' + 3 or 13 digits)."""
    m = _TAX.match(value.strip())
    if not m:
        raise ValueError("a tax code has 10 digits, or 13 digits for a dependent unit")
    return m.group(1) + ("-" + m.group(2) if m.group(2) else "")


def phone(value: str) -> str:
    """A Vietnamese mobile number, returned in the national form 0XXXXXXXXX."""
    v = re.sub(r"[\s.()-]", "", value)
    if v.startswith("+84"):
        v = "0" + v[3:]
    elif v.startswith("84") and len(v) == 11:
        v = "0" + v[2:]
    if not _MOBILE.match(v):
        raise ValueError("not a Vietnamese mobile number (10 digits starting 03, 05, 07, 08 or 09)")
    return v


def email(value: str) -> str:
    v = value.strip()
    if len(v) > 254 or not _EMAIL.match(v):
        raise ValueError("not a valid e-mail address")
    return v.lower()


def _script(ch: str) -> str | None:
    """The script of a letter (LATIN, CYRILLIC, GREEK, CJK …), None for anything that is not a letter."""
    if not unicodedata.category(ch).startswith("L"):
        return None
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return "UNKNOWN"
    return name.split(" ")[0]


def clean_text(value: str, *, multiline: bool = False) -> str:
    """NFC-normalise and strip; refuse control characters and text mixing letters of several scripts.

    Mixed scripts (a Cyrillic 'е' inside "Nguyễn") are how look-alike names slip past searches and checks.
    """
    v = unicodedata.normalize("NFC", value).strip()
    for ch in v:
        cat = unicodedata.category(ch)
        if multiline and ch in "\n\t":
            continue
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn"):
            raise ValueError(f"contains a control or invisible character U+{ord(ch):04X}")
    scripts = {s for s in map(_script, v) if s is not None}
    if len(scripts) > 1:
        raise ValueError(f"mixes letters of several scripts ({', '.join(sorted(scripts))})")
    return v
