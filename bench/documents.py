"""Electronic results: signatures and verifications per second, each beside the bare library in the same run.

    .venv/bin/python -m bench.documents [--signatures 200] [--verifications 500] [--renders 30]

The document is form 01 as its printable PDF (two A4 pages, DejaVu embedded, the verification QR code), rendered
once by services.documents.pdf. Then, alternating one call of each so that both see the same machine:
- signing: `services.documents.signing.sign_pdf` (the certificate's unit and validity checked, the PDF opened and
  its signatures read, PAdES B with SHA-256) against pyHanko's `PdfSigner.async_sign_pdf` on the same file with the
  same key and no wrapper;
- verification: `services.documents.validation.Validator.validate` (SHA-256 of the file, every signature validated
  against the trust root, coverage, the signer's unit) against pyHanko's `async_validate_pdf_signature` of the one
  signature with a ValidationContext on the same root;
- rendering: `services.documents.pdf.form_pdf` (NFC, the QR link, its SVG in the page margin) against WeasyPrint's
  `write_pdf` of the same HTML with no stylesheet of ours.
RSA-2048 keys from a CA made for the run; no timestamp (a TSA adds its own round trip). Times are wall-clock per call,
sequential, in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from io import BytesIO

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from weasyprint import HTML

from bench.common import ROOT, machine, percentile
from services.documents import demo_ca, signing
from services.documents.certificates import load_pem_certificates
from services.documents.pdf import form_pdf
from services.documents.settings import DocumentSettings
from services.documents.validation import Validator

sys.path[:0] = [str(ROOT / "intake-svc")]

UNIT = "000.00.31.H57"
UNIT_NAME = "Trung tâm Phục vụ hành chính công thành phố Huế"


def form01_html() -> str:
    from intake import forms
    from intake.models import Dossier, DossierDocument

    moment = datetime(2026, 12, 4, 2, tzinfo=UTC)
    dossier = Dossier(
        id="bench", code=f"{UNIT}-261204-0001", receiving_unit=UNIT, seq=1, channel="in_person", status="received",
        procedure_code="1.900001", procedure_version=1, procedure_name="Đăng ký khai sinh", field_code="G09-HT",
        applicant_kind="citizen", applicant_id_number="046095000123", applicant_name="Nguyễn Thị Hoa",
        phone="0905123456", email=None, address="12 Lê Lợi, phường Vĩnh Ninh, Huế", received_at=moment,
        appointment_at=moment, processing_amount=3, processing_unit="working_days", missing=[],
        refusal_reasons=[], fees=[{"name": "Lệ phí", "amount": 8000}], updated_at=moment,
    )  # fmt: skip
    documents = [DossierDocument(name="Tờ khai đăng ký khai sinh", form="original", copies=1)]
    return forms.render("01", dossier, documents, UNIT_NAME)


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await call()
    return time.perf_counter() - start


async def pair(
    n: int, ours: Callable[[], Awaitable[object]], bare: Callable[[], Awaitable[object]]
) -> tuple[list[float], list[float]]:
    for _ in range(min(5, n)):  # warm-up: imports, caches, the first key use
        await ours()
        await bare()
    mine, theirs = [], []
    for _ in range(n):
        mine.append(await timed(ours))
        theirs.append(await timed(bare))
    return mine, theirs


def row(what: str, times: list[float]) -> str:
    per_second = len(times) / sum(times)
    p50, p99 = percentile(times, 50) * 1000, percentile(times, 99) * 1000
    return f"| {what} | {len(times)} | {per_second:,.1f} | {p50:.1f} ms | {p99:.1f} ms | {max(times) * 1000:.1f} ms |"


async def measure(args: argparse.Namespace, commit: str) -> None:
    load_before = os.getloadavg()
    started = datetime.now(UTC)
    ca = demo_ca.make_ca("bench CA")
    issued = demo_ca.issue_unit_certificate(ca, UNIT, UNIT_NAME)
    keystore = demo_ca.pkcs12_bytes(issued, ca, "bench")
    unit_signer = signing.load_pkcs12(keystore, "bench")
    roots = load_pem_certificates(ca.pem())
    settings = DocumentSettings()
    html = form01_html()
    document = form_pdf(html, f"{UNIT}-261204-0001", settings).pdf

    async def ours_render() -> object:
        return form_pdf(html, f"{UNIT}-261204-0001", settings)

    async def bare_render() -> object:
        return HTML(string=html).write_pdf()

    async def ours_sign() -> bytes:
        return await signing.sign_pdf(document, unit_signer, UNIT)

    bare_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Signature1"),
        signer=signers.SimpleSigner.load_pkcs12_data(keystore, other_certs=(), passphrase=b"bench"),
    )

    async def bare_sign() -> object:
        return await bare_signer.async_sign_pdf(IncrementalPdfFileWriter(BytesIO(document)), output=BytesIO())

    signed = await ours_sign()
    validator = Validator(roots)

    async def ours_verify() -> object:
        verdict = await validator.validate(signed, unit=UNIT)
        assert verdict.valid, verdict
        return verdict

    async def bare_verify() -> object:
        signature = PdfFileReader(BytesIO(signed)).embedded_signatures[0]
        status = await async_validate_pdf_signature(signature, ValidationContext(trust_roots=roots))
        assert status.bottom_line, status
        return status

    renders = await pair(args.renders, ours_render, bare_render)
    signatures = await pair(args.signatures, ours_sign, bare_sign)
    verifications = await pair(args.verifications, ours_verify, bare_verify)
    load_after = os.getloadavg()

    print(f"Machine: {machine()}. Commit {commit}. {started:%Y-%m-%d %H:%M} UTC.")
    print(
        f"Load average before {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}, "
        f"after {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f}. "
        f"Document: form 01's PDF, {len(document):,} bytes; signed, {len(signed):,} bytes."
    )
    print()
    print("| what | calls | per second | p50 | p99 | max |")
    print("|---|---|---|---|---|---|")
    print(row("sign: services.documents.signing.sign_pdf", signatures[0]))
    print(row("sign: pyHanko PdfSigner, bare", signatures[1]))
    print(row("verify: Validator.validate", verifications[0]))
    print(row("verify: pyHanko validate_pdf_signature, bare", verifications[1]))
    print(row("render: pdf.form_pdf (QR, NFC, DejaVu)", renders[0]))
    print(row("render: WeasyPrint write_pdf, bare", renders[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signatures", type=int, default=200)
    parser.add_argument("--verifications", type=int, default=500)
    parser.add_argument("--renders", type=int, default=30)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    asyncio.run(measure(parser.parse_args(), commit))


if __name__ == "__main__":
    main()
