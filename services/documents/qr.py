"""The verification QR code: a link to the public verification page carrying the dossier code and the document's
SHA-256, with a tag that proves the centre issued the link.

    <verify_base_url>/<dossier code>/<SHA-256, base64url, 43 characters>.<tag, base64url, 16 characters>

The tag is the first 12 bytes of HMAC-SHA256 under `DOCUMENTS_QR_SECRET` over the code and the hash, so that a link
whose code or hash was edited (a forged QR) is refused without a database. The tag proves where the link comes from,
not that the paper it is printed on is genuine (a real QR can be copied onto a fake): the verification page shows
what the document recorded under that hash says, for the reader to compare, and a PDF is judged by its signature
(`services.documents.validation`), whose hash must be the recorded one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

import segno

from services.documents.errors import DocumentError
from services.documents.settings import DocumentSettings

_TAG_BYTES = 12
_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.\-]{0,63}")
_LINK = re.compile(r"(?P<code>[^/]+)/(?P<hash>[A-Za-z0-9_-]{43})\.(?P<tag>[A-Za-z0-9_-]{16})")


@dataclass(frozen=True, slots=True)
class VerificationLink:
    code: str
    #: the document's SHA-256, hexadecimal
    sha256: str
    url: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(secret: str, code: str, digest: bytes) -> str:
    mac = hmac.new(secret.encode(), b"motcua-qr-v1\n" + code.encode("ascii") + b"\n" + digest, hashlib.sha256)
    return _b64(mac.digest()[:_TAG_BYTES])


def link(code: str, sha256: str, settings: DocumentSettings) -> VerificationLink:
    """The verification link of the document whose SHA-256 (hexadecimal) is `sha256`, in dossier `code`."""
    if not _CODE.fullmatch(code):
        raise DocumentError("invalid-code", f"{code!r} is not a dossier code (letters, digits, dots and hyphens).")
    try:
        digest = bytes.fromhex(sha256)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise DocumentError("invalid-hash", f"{sha256!r} is not a SHA-256 in hexadecimal.")
    secret = settings.qr_secret.get_secret_value()
    url = f"{settings.verify_base_url}/{code}/{_b64(digest)}.{_tag(secret, code, digest)}"
    return VerificationLink(code=code, sha256=digest.hex(), url=url)


def read_link(url: str, settings: DocumentSettings) -> VerificationLink:
    """The code and hash of a link read from a QR code, once its tag is checked (the current secret, or the previous
    one during a rotation). Raises `DocumentError` `foreign-link` (not this centre's page), `malformed-link`, or
    `forged-link` (the tag does not match the code and hash)."""
    base = settings.verify_base_url + "/"
    if not url.startswith(base):
        raise DocumentError("foreign-link", f"The link does not lead to this centre's verification page ({base}).")
    found = _LINK.fullmatch(url[len(base) :])
    if found is None or not _CODE.fullmatch(found["code"]):
        raise DocumentError("malformed-link", "The link is not a verification link: <code>/<hash>.<tag> expected.")
    code, digest = found["code"], _unb64(found["hash"])
    secrets = [settings.qr_secret, settings.qr_secret_previous]
    for secret in (s.get_secret_value() for s in secrets if s is not None):
        if hmac.compare_digest(_tag(secret, code, digest), found["tag"]):
            return VerificationLink(code=code, sha256=digest.hex(), url=url)
    raise DocumentError("forged-link", "The link's code or hash was altered: this centre did not issue it.")


def qr_svg(url: str, *, module_mm: float = 0.5) -> str:
    """The link as an SVG QR code (error correction M), `module_mm` millimetres a module, with a quiet zone."""
    return str(segno.make_qr(url, error="m", boost_error=False).svg_inline(scale=module_mm, unit="mm", border=4))
