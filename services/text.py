"""Vietnamese text: NFC normalisation on the way in, diacritics folding for search.

    nfc("Hộ tịch")   -> the NFC form (composed characters), whatever the input's normalisation
    fold("Đăng ký  Hộ tịch") -> "dang ky ho tich"  (lower case, no diacritics, đ → d, single spaces)

`NFCStr` is a pydantic annotated type for request models: the value is NFC-normalised and stripped.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["NFCStr", "fold", "nfc", "nfc_deep"]

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^0-9a-z.\-/ ]+")
_D = str.maketrans({"đ": "d", "Đ": "d"})


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def fold(value: str, *, keep_punctuation: bool = True) -> str:
    """Lower-case ASCII form for comparison: diacritics removed, đ → d, whitespace collapsed.

    With ``keep_punctuation=False`` everything but letters, digits, '.', '-', '/' becomes a space (codes such as
    ``1.001234`` and ``G03-GD10`` survive).
    """
    text = unicodedata.normalize("NFD", value.translate(_D))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn").lower()
    if not keep_punctuation:
        text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def _nfc_strip(value: str) -> str:
    return nfc(value).strip()


NFCStr = Annotated[str, AfterValidator(_nfc_strip)]


def nfc_deep(value: object) -> object:
    """NFC-normalise every string inside nested dicts / lists (for whole JSON documents)."""
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, dict):
        return {nfc(k) if isinstance(k, str) else k: nfc_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nfc_deep(v) for v in value]
    return value
