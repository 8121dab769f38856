"""How an issuing unit is named in its signing certificate, and the certificates' files.

A unit's certificate carries the unit's agency id (`000.00.31.H57`, the electronic id of Decision 20/2020/QĐ-TTg)
as the subject's serialNumber attribute (OID 2.5.4.5), and the unit's name as its commonName. A certificate without
a serialNumber names no unit and signs nothing.
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import pem, x509

from services.documents.errors import DocumentError


def unit_of(certificate: x509.Certificate) -> str | None:
    """The agency id the certificate names, or None."""
    value = certificate.subject.native.get("serial_number")
    return str(value) if value else None


def holder_of(certificate: x509.Certificate) -> str:
    """The name of the certificate's holder (its commonName)."""
    return str(certificate.subject.native.get("common_name", ""))


def validity(certificate: x509.Certificate) -> tuple[datetime, datetime]:
    period = certificate["tbs_certificate"]["validity"]
    return period["not_before"].native, period["not_after"].native


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a bundle of trust roots)."""
    found = [x509.Certificate.load(der) for kind, _, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
    if not found:
        raise DocumentError("no-trust-roots", "The trust roots file holds no PEM certificate.")
    return found
