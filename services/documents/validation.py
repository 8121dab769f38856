"""Judges a signed PDF with pyHanko's validator against the configured trust roots, never by our own record alone:
every signature intact (the signed bytes as they were) and cryptographically valid, its certificate chaining to a
trust root, nothing added after the last signature, and the unit the signer's certificate names.

A signature is judged at the present moment, pyHanko's default: its certificate must still be valid now (a result
verifiable after its certificate expired needs PAdES-LTA, not done). Revocation (CRL, OCSP) is not fetched. With a
trusted timestamp, the timestamp's time is the signing time reported, else the time the signer wrote.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from asn1crypto import x509
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from services.documents.certificates import holder_of, load_pem_certificates, unit_of
from services.documents.errors import DocumentError
from services.documents.settings import DocumentSettings
from services.documents.signing import DAMAGED, open_pdf

VALID = "valid"


@dataclass(frozen=True, slots=True)
class Verdict:
    #: `valid`, or what is wrong: not-a-pdf, encrypted-pdf, unsigned, altered, invalid-signature, untrusted,
    #: modified-after-signing, no-unit, wrong-unit
    code: str
    reason: str
    #: the file's SHA-256 (hexadecimal), to find its record
    sha256: str
    unit: str | None = None
    holder: str | None = None
    signed_at: datetime | None = None
    timestamped: bool = False

    @property
    def valid(self) -> bool:
        return self.code == VALID


class Validator:
    def __init__(self, trust_roots: list[x509.Certificate]) -> None:
        self.trust_roots = trust_roots

    @classmethod
    def from_settings(cls, settings: DocumentSettings) -> Validator:
        if settings.trust_roots is None:
            raise DocumentError("no-trust-roots", "DOCUMENTS_TRUST_ROOTS names no file: nothing can be trusted.")
        return cls(load_pem_certificates(Path(settings.trust_roots).read_bytes()))

    def _context(self) -> ValidationContext:
        return ValidationContext(trust_roots=self.trust_roots)

    async def validate(self, data: bytes, *, unit: str | None = None) -> Verdict:
        """The verdict on the file; with `unit`, the signer must be that unit."""
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            signatures = open_pdf(data).embedded_regular_signatures
        except DocumentError as refused:
            return Verdict(refused.code, refused.detail, sha256)
        except DAMAGED as exc:
            return Verdict("not-a-pdf", f"The file is not a readable PDF: {exc}", sha256)
        if not signatures:
            return Verdict("unsigned", "The PDF carries no signature.", sha256)
        units = set()
        for index, signature in enumerate(signatures):
            last = index == len(signatures) - 1
            try:
                status = await async_validate_pdf_signature(
                    signature, signer_validation_context=self._context(), ts_validation_context=self._context()
                )
            except (SignatureValidationError, *DAMAGED) as exc:
                return Verdict("invalid-signature", f"A signature cannot be validated: {exc}", sha256)
            problem = _problem(status, last)
            if problem is not None:
                return Verdict(problem[0], problem[1], sha256, unit_of(status.signing_cert))
            units.add(unit_of(status.signing_cert))
        signer = status.signing_cert
        signed_unit, holder = unit_of(signer), holder_of(signer)
        timestamp = status.timestamp_validity
        signed_at = timestamp.timestamp if timestamp is not None else status.signer_reported_dt
        found = Verdict(VALID, "", sha256, signed_unit, holder, signed_at, timestamp is not None)
        if signed_unit is None:
            return _with(found, "no-unit", f"The signer's certificate ({holder}) names no unit.")
        if len(units) > 1:
            return _with(
                found, "wrong-unit", f"The PDF carries signatures of several units: {sorted(map(str, units))}."
            )
        if unit is not None and signed_unit != unit:
            return _with(found, "wrong-unit", f"The PDF is signed by unit {signed_unit}, not by {unit}.")
        when = "" if signed_at is None else f" on {signed_at:%Y-%m-%d %H:%M} UTC"
        return _with(found, VALID, f"Signed by {holder} ({signed_unit}){when}; unchanged since.")


def _with(verdict: Verdict, code: str, reason: str) -> Verdict:
    return Verdict(code, reason, verdict.sha256, verdict.unit, verdict.holder, verdict.signed_at, verdict.timestamped)


def _problem(status: PdfSignatureStatus, last: bool) -> tuple[str, str] | None:
    holder = holder_of(status.signing_cert)
    if not status.intact:
        return "altered", f"The signed content was changed after {holder} signed it."
    if not status.valid:
        return "invalid-signature", f"The signature of {holder} does not verify."
    if not status.trusted:
        return "untrusted", f"The certificate of {holder} does not chain to a trusted root, or is no longer valid."
    if status.timestamp_validity is not None and not (
        status.timestamp_validity.intact and status.timestamp_validity.valid and status.timestamp_validity.trusted
    ):
        return "untrusted", f"The timestamp on the signature of {holder} is not from a trusted authority."
    if last and status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return "modified-after-signing", f"Content was added to the PDF after {holder} signed it."
    # A later signature adds its own field: pyHanko counts that as form filling, and nothing more is allowed.
    if not last and (
        status.coverage != SignatureCoverageLevel.ENTIRE_REVISION
        or status.modification_level is None
        or status.modification_level > ModificationLevel.FORM_FILLING
        or not status.docmdp_ok
    ):
        return "modified-after-signing", f"The PDF was changed beyond a later signature after {holder} signed it."
    return None
