"""The test CA (made once per run), the units' signers and the sample documents of tests/documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import cache

from aiohttp import web
from asn1crypto import keys, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.timestamps import DummyTimeStamper

from services.documents import demo_ca, signing
from services.documents.certificates import load_pem_certificates
from services.documents.pdf import html_to_pdf
from services.documents.validation import Validator

CENTRE = "000.00.31.H57"
CENTRE_NAME = "Trung tâm Phục vụ hành chính công thành phố Huế"
JUSTICE = "001.00.00.H57"
JUSTICE_NAME = "Sở Tư pháp tỉnh Thừa Thiên Huế"
PASSPHRASE = "mật khẩu thử"
RESULT_HTML = (
    "<!doctype html><html lang='vi'><head><meta charset='utf-8'><title>Giấy khai sinh</title></head><body>"
    "<h1>GIẤY KHAI SINH</h1><p>Họ, chữ đệm, tên: Nguyễn Thị Hoa — số 123/2026</p></body></html>"
)


@cache
def ca() -> demo_ca.Issued:
    return demo_ca.make_ca("motcua test CA")


@cache
def signer(unit: str = CENTRE, name: str = CENTRE_NAME) -> signing.UnitSigner:
    return signing.load_pkcs12(pkcs12(unit, name), PASSPHRASE)


def pkcs12(unit: str | None, name: str, **validity: datetime) -> bytes:
    issued = demo_ca.issue_unit_certificate(ca(), unit, name, **validity)
    return demo_ca.pkcs12_bytes(issued, ca(), PASSPHRASE)


def expired_signer() -> signing.UnitSigner:
    now = datetime.now(UTC)
    data = pkcs12(CENTRE, CENTRE_NAME, not_before=now - timedelta(days=400), not_after=now - timedelta(days=35))
    return signing.load_pkcs12(data, PASSPHRASE)


def validator() -> Validator:
    return Validator(load_pem_certificates(ca().pem()))


@cache
def result_pdf() -> bytes:
    return html_to_pdf(RESULT_HTML)


def _asn1(issued: demo_ca.Issued) -> tuple[asn1_x509.Certificate, keys.PrivateKeyInfo]:
    der_key = issued.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    certificate = asn1_x509.Certificate.load(issued.certificate.public_bytes(serialization.Encoding.DER))
    return certificate, keys.PrivateKeyInfo.load(der_key)


@asynccontextmanager
async def timestamp_authority(authority: demo_ca.Issued | None = None) -> AsyncIterator[str]:
    """An RFC 3161 TSA over HTTP on 127.0.0.1 (pyHanko's in-process timestamper, its certificate from the test CA
    or `authority`); yields its URL."""
    stamper = DummyTimeStamper(*_asn1(demo_ca.issue_tsa_certificate(authority or ca())))

    async def answer(request: web.Request) -> web.Response:
        query = tsp.TimeStampReq.load(await request.read())
        reply = await stamper.async_request_tsa_response(query)
        return web.Response(body=reply.dump(), content_type="application/timestamp-reply")

    app = web.Application()
    app.router.add_post("/tsa", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/tsa"
    finally:
        await runner.cleanup()
