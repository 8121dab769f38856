"""A demo certificate authority and one PKCS#12 file per issuing unit, for `make run` and the tests.

    python -m services.documents.demo_ca DIR [--passphrase P] [--unit ID=NAME ...]

writes DIR/ca.pem (the root: MOTCUA_DOCUMENTS_TRUST_ROOTS) and DIR/<agency id>.p12 for each unit (the folder is
MOTCUA_DOCUMENTS_KEYSTORE_DIR, the passphrase MOTCUA_DOCUMENTS_KEYSTORE_PASSPHRASE). Without --unit: the demo
centre, the province and their departments (catalogue-svc's demo units). Nothing here is fit for a real deployment,
whose certificates come from a licensed CA.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEMO_PASSPHRASE = "motcua-demo"
DEMO_UNITS = {
    "000.00.00.H57": "Ủy ban nhân dân tỉnh Thừa Thiên Huế",
    "000.00.31.H57": "Trung tâm Phục vụ hành chính công thành phố Huế",
    **{f"{n:03d}.00.31.H57": f"Phòng chuyên môn {n:03d} thành phố Huế" for n in range(1, 10)},
    **{f"{n:03d}.00.00.H57": f"Sở chuyên môn {n:03d} tỉnh Thừa Thiên Huế" for n in range(1, 10)},
}


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _validity(not_before: datetime | None, not_after: datetime | None, days: int) -> tuple[datetime, datetime]:
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    return start, not_after or start + timedelta(days=days)


def make_ca(
    name: str = "motcua demo CA", *, not_before: datetime | None = None, not_after: datetime | None = None
) -> Issued:
    key = _key()
    start, end = _validity(not_before, not_after, 3650)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def _issue(
    ca: Issued, subject: x509.Name, start: datetime, end: datetime, extended: x509.ObjectIdentifier | None
) -> Issued:
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, extended is None, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if extended is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([extended]), critical=True)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def issue_unit_certificate(
    ca: Issued,
    unit: str | None,
    name: str,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A signing certificate naming `unit` as services.documents.certificates reads it (None: a certificate that
    names no unit)."""
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if unit is not None:
        attributes.insert(1, x509.NameAttribute(NameOID.SERIAL_NUMBER, unit))
    start, end = _validity(not_before, not_after, 730)
    return _issue(ca, x509.Name(attributes), start, end, None)


def issue_tsa_certificate(ca: Issued, name: str = "motcua demo TSA") -> Issued:
    start, end = _validity(None, None, 730)
    return _issue(
        ca, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), start, end, ExtendedKeyUsageOID.TIME_STAMPING
    )


def pkcs12_bytes(issued: Issued, ca: Issued, passphrase: str, friendly_name: str = "signer") -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode(), issued.key, issued.certificate, [ca.certificate], encryption
    )


def write_demo(folder: Path, units: dict[str, str], passphrase: str = DEMO_PASSPHRASE) -> Issued:
    """The CA as folder/ca.pem and one folder/<agency id>.p12 per unit; returns the CA."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = make_ca()
    (folder / "ca.pem").write_bytes(ca.pem())
    for unit, name in units.items():
        issued = issue_unit_certificate(ca, unit, name)
        (folder / f"{unit}.p12").write_bytes(pkcs12_bytes(issued, ca, passphrase, unit))
    return ca


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--passphrase", default=DEMO_PASSPHRASE)
    parser.add_argument("--unit", action="append", default=[], metavar="ID=NAME")
    args = parser.parse_args(argv)
    units = dict(u.split("=", 1) if "=" in u else (u, u) for u in args.unit) or DEMO_UNITS
    write_demo(args.folder, units, args.passphrase)
    print(f"{args.folder}/ca.pem and {len(units)} PKCS#12 files (passphrase {args.passphrase!r})")


if __name__ == "__main__":
    main()
