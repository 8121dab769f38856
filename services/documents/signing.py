"""PAdES signatures with the issuing unit's certificate (pyHanko), with an RFC 3161 timestamp when a TSA is set.

A unit signs with the PKCS#12 file `<DOCUMENTS_KEYSTORE_DIR>/<agency id>.p12`. A PKCS#11 token (a USB token or an
HSM) would need python-pkcs11, which pyHanko's PKCS#11 signer imports and the lock does not carry: today a key lives
in a PKCS#12 file. The signature is PAdES baseline B (B-T with a timestamp): ETSI.CAdES.detached, SHA-256, an
incremental update that leaves the signed document's bytes as they were.

Refusals (`DocumentError`, a 422 once a service maps it): `not-a-pdf`, `encrypted-pdf`, `signed-by-another` (a
signature already there names another unit), `wrong-unit` (the certificate does not name the issuing unit),
`certificate-expired`, `certificate-not-yet-valid`, `no-unit` (the certificate names no unit), `no-signing-key`,
`bad-keystore`, `unsignable-pdf` (pyHanko cannot add a signature: a certification that forbids it),
`timestamp-unavailable` (the TSA did not answer: nothing is signed, the call may be tried again; a 503 rather).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from services.documents.certificates import holder_of, unit_of, validity
from services.documents.errors import DocumentError
from services.documents.settings import DocumentSettings

#: What pyHanko raises while it reads a damaged file: its own errors, and those of the structure it met instead of
#: what it expected (its reader checks some of the structure with asserts; zlib's error is a stream that does not
#: inflate). tests/documents/test_damaged.py flips bits to find them.
DAMAGED = (
    PdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    NotImplementedError,
    zlib.error,
)


class _KeptKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner parses (and checks) its private key again for every raw signature, twice a document
    (the size estimate and the signature): ~50 ms for an RSA-2048 key. This one parses an RSA key once (other keys
    take pyHanko's way)."""

    def __init__(self, loaded: signers.SimpleSigner) -> None:
        super().__init__(
            signing_cert=loaded.signing_cert,
            signing_key=loaded.signing_key,
            cert_registry=loaded.cert_registry,
            signature_mechanism=loaded.signature_mechanism,
        )
        self._key = serialization.load_der_private_key(loaded.signing_key.dump(), password=None)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        hash_algorithm = get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "rsassa_pkcs1v15" and isinstance(self._key, RSAPrivateKey):
            return self._key.sign(data, PKCS1v15(), hash_algorithm)
        signature: bytes = super().sign_raw(data, digest_algorithm)
        return signature


@dataclass(frozen=True)
class UnitSigner:
    """A unit's key and certificate, loaded once and used for every signature."""

    unit: str
    holder: str
    signer: signers.SimpleSigner
    not_before: datetime
    not_after: datetime


def load_pkcs12(data: bytes, passphrase: str) -> UnitSigner:
    try:
        loaded = signers.SimpleSigner.load_pkcs12_data(data, other_certs=(), passphrase=passphrase.encode() or None)
    except (ValueError, TypeError) as exc:
        raise DocumentError("bad-keystore", f"The PKCS#12 file cannot be opened: {exc}") from None
    signer = _KeptKeySigner(loaded)
    certificate = signer.signing_cert
    unit = unit_of(certificate)
    if unit is None:
        raise DocumentError("no-unit", "The certificate names no unit (no serialNumber in its subject).")
    not_before, not_after = validity(certificate)
    return UnitSigner(unit, holder_of(certificate), signer, not_before, not_after)


class Keystore:
    """The units' signers from DOCUMENTS_KEYSTORE_DIR, each file read on first use."""

    def __init__(self, settings: DocumentSettings) -> None:
        self._folder = settings.keystore_dir
        self._passphrase = settings.keystore_passphrase.get_secret_value()
        self._signers: dict[str, UnitSigner] = {}

    def signer(self, unit: str) -> UnitSigner:
        found = self._signers.get(unit)
        if found is None:
            path = None if self._folder is None else self._folder / f"{unit}.p12"
            if path is None or "/" in unit or not path.is_file():
                raise DocumentError("no-signing-key", f"There is no signing key for unit {unit}.")
            found = self._signers[unit] = load_pkcs12(path.read_bytes(), self._passphrase)
        return found


def timestamper(settings: DocumentSettings) -> TimeStamper | None:
    return None if settings.tsa_url is None else HTTPTimeStamper(settings.tsa_url)


def check_certificate(signer: UnitSigner, unit: str, at: datetime) -> None:
    if signer.unit != unit:
        raise DocumentError("wrong-unit", f"The certificate names unit {signer.unit}, not the issuing unit {unit}.")
    if at < signer.not_before:
        raise DocumentError(
            "certificate-not-yet-valid", f"The certificate of unit {unit} is valid from {signer.not_before:%Y-%m-%d}."
        )
    if at > signer.not_after:
        raise DocumentError(
            "certificate-expired", f"The certificate of unit {unit} expired on {signer.not_after:%Y-%m-%d}."
        )


def _unreadable(exc: Exception) -> DocumentError:
    return DocumentError("not-a-pdf", f"The file is not a readable PDF: {exc}")


def open_pdf(data: bytes) -> PdfFileReader:
    """The PDF's reader; `not-a-pdf` or `encrypted-pdf` refused."""
    if not data.startswith(b"%PDF-"):
        raise DocumentError("not-a-pdf", "The file is not a PDF (it does not begin with %PDF-).")
    try:
        reader = PdfFileReader(BytesIO(data))
        encrypted = reader.encrypted
        if not encrypted:
            _ = reader.root
    except DAMAGED as exc:
        raise _unreadable(exc) from None
    if encrypted:
        raise DocumentError("encrypted-pdf", "The PDF is encrypted: an electronic result must be readable by anyone.")
    return reader


async def sign_pdf(
    data: bytes,
    signer: UnitSigner,
    unit: str,
    *,
    stamper: TimeStamper | None = None,
    reason: str | None = None,
    location: str | None = None,
    at: datetime | None = None,
) -> bytes:
    """The PDF signed for `unit` (incrementally, after any signature of the same unit already there)."""
    check_certificate(signer, unit, at or datetime.now(UTC))
    reader = open_pdf(data)
    try:
        existing = reader.embedded_regular_signatures
        others = [(signature.signer_cert, unit_of(signature.signer_cert)) for signature in existing]
    except DAMAGED as exc:
        raise _unreadable(exc) from None
    for certificate, other in others:
        if other != unit:
            raise DocumentError(
                "signed-by-another",
                f"The PDF is already signed by {holder_of(certificate)} ({other or 'no unit'}).",
            )
    metadata = signers.PdfSignatureMetadata(
        field_name=f"motcua_{unit.replace('.', '_')}_{len(existing) + 1}",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=signer.holder,
    )
    pdf_signer = signers.PdfSigner(metadata, signer=signer.signer, timestamper=stamper)
    output = BytesIO()
    try:
        await pdf_signer.async_sign_pdf(IncrementalPdfFileWriter(BytesIO(data)), output=output)
    except SigningError as exc:
        raise DocumentError("unsignable-pdf", f"The PDF cannot be signed: {exc}") from None
    except TimestampRequestError as exc:
        where = getattr(stamper, "url", "configured")
        raise DocumentError("timestamp-unavailable", f"The timestamp authority {where} did not answer: {exc}") from None
    except DAMAGED as exc:
        raise _unreadable(exc) from None
    return output.getvalue()


class ResultSigner:
    """Signs for any unit whose key the keystore holds, with the configured TSA's timestamp."""

    def __init__(self, settings: DocumentSettings) -> None:
        self.keystore = Keystore(settings)
        self.stamper = timestamper(settings)

    async def sign(self, data: bytes, unit: str, *, reason: str | None = None, location: str | None = None) -> bytes:
        signer = self.keystore.signer(unit)
        return await sign_pdf(data, signer, unit, stamper=self.stamper, reason=reason, location=location)
