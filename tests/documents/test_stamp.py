"""A result the agency produced takes the verification QR code on every page (any page size) in an incremental
update, then the unit's signature; the link's hash is the SHA-256 of the file as the agency gave it, which stays the
first bytes of the issued one. A signed PDF takes no stamp."""

from __future__ import annotations

import hashlib

import pypdfium2
import pytest
import zxingcpp
from weasyprint import CSS

from services.documents import qr
from services.documents.errors import DocumentError
from services.documents.pdf import QR_CAPTION, html_to_pdf, stamp_qr
from services.documents.settings import DocumentSettings
from services.documents.signing import sign_pdf
from tests.documents.support import CENTRE, signer, validator

CODE = "000.00.31.H57-261204-0009"
SETTINGS = DocumentSettings(verify_base_url="https://motcua.example.vn/xac-thuc", qr_secret="stamps")
LETTER = CSS(string="@page { size: letter; margin: 20mm } h1 { break-before: page }")
AGENCY_PDF = html_to_pdf(
    "<h1>QUYẾT ĐỊNH</h1><p>Về việc cấp giấy phép xây dựng</p><h1>PHỤ LỤC</h1><p>Bản vẽ kèm theo</p>",
    stylesheets=[LETTER],
)


async def test_every_page_of_an_agencys_pdf_takes_the_qr_code_then_the_signature() -> None:
    stamped = stamp_qr(AGENCY_PDF, CODE, SETTINGS)
    assert stamped.pdf.startswith(AGENCY_PDF), "the agency's file is kept byte for byte"
    assert qr.read_link(stamped.link.url, SETTINGS).sha256 == hashlib.sha256(AGENCY_PDF).hexdigest()

    document = pypdfium2.PdfDocument(stamped.pdf)
    try:
        assert len(document) == 2
        for page, words in zip(document, ["QUYẾT ĐỊNH", "PHỤ LỤC"], strict=True):
            assert page.get_size() == pytest.approx((612, 792), abs=0.5)
            assert {found.text for found in zxingcpp.read_barcodes(page.render(scale=200 / 72).to_pil())} == {
                stamped.link.url
            }
            text = page.get_textpage().get_text_range()
            assert words in text and QR_CAPTION in text
    finally:
        document.close()

    signed = await sign_pdf(stamped.pdf, signer(), CENTRE)
    assert (await validator().validate(signed, unit=CENTRE)).valid


async def test_a_signed_pdf_or_not_a_pdf_takes_no_stamp() -> None:
    signed = await sign_pdf(AGENCY_PDF, signer(), CENTRE)
    for data, code in [(signed, "signed-pdf"), (b"not a pdf", "not-a-pdf")]:
        with pytest.raises(DocumentError) as caught:
            stamp_qr(data, CODE, SETTINGS)
        assert caught.value.code == code
