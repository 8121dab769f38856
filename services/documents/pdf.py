"""HTML → A4 PDF with WeasyPrint: the text NFC, set in DejaVu Serif (which carries every Vietnamese letter, embedded
in the file), and the verification QR code in the bottom margin of every page.

`stamp_qr` puts the verification QR code on a PDF the agency produced (the result it attaches), in an incremental
update: the file as given stays the first bytes of the stamped one, and the link's hash is its SHA-256.

`form_pdf` turns any of the forms' pages (intake's 01–03, routing's 04–05, as their renderers produce them) into the
printable PDF of the same content: the document's hash in the QR link is the SHA-256 of that HTML, so the link names
exactly the rendering it came from.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from services.documents import qr
from services.documents.errors import DocumentError
from services.documents.settings import DocumentSettings
from services.documents.signing import DAMAGED, open_pdf

FONT_FAMILY = "DejaVu Serif"
#: The caption printed beside the QR code (tests take it out of the page's text to compare with the HTML's).
QR_CAPTION = "Quét mã QR để xác thực văn bản"

_fonts = FontConfiguration()
# The forms ask for "Times New Roman", serif: whatever a machine maps that to, the PDF uses DejaVu Serif, so the same
# glyphs are embedded everywhere and no Vietnamese letter falls back to a font that lacks it.
_PAGE = CSS(
    string=f"""
    @page {{ size: A4; margin: 15mm 15mm 34mm 15mm; }}
    html, body, body * {{ font-family: "{FONT_FAMILY}", serif !important; }}
    """,
    font_config=_fonts,
)


@dataclass(frozen=True, slots=True)
class IssuedPdf:
    pdf: bytes
    #: the verification link in the QR code (its hash is the SHA-256 of the HTML rendered)
    link: qr.VerificationLink


def _qr_margin(url: str) -> CSS:
    image = base64.b64encode(qr.qr_svg(url).encode("ascii")).decode("ascii")
    return CSS(
        string=f"""
        @page {{
          @bottom-right {{ content: url("data:image/svg+xml;base64,{image}"); vertical-align: bottom; }}
          @bottom-left {{ content: "{QR_CAPTION}"; font-family: "{FONT_FAMILY}"; font-size: 8pt;
                          vertical-align: bottom; }}
        }}
        """,
        font_config=_fonts,
    )


def html_to_pdf(html: str, *, qr_url: str | None = None, stylesheets: list[CSS] | None = None) -> bytes:
    """The HTML (NFC-normalised first) as an A4 PDF; with `qr_url`, that link's QR code on every page; with
    `stylesheets`, those after the A4 page's (another page size, say)."""
    stylesheets = [_PAGE, *(stylesheets or [])] + ([] if qr_url is None else [_qr_margin(qr_url)])
    document = HTML(string=unicodedata.normalize("NFC", html))
    pdf: bytes = document.write_pdf(stylesheets=stylesheets, font_config=_fonts)
    return pdf


def form_pdf(html: str, code: str, settings: DocumentSettings) -> IssuedPdf:
    """A form's page as its printable PDF, with the verification QR code of dossier `code`."""
    html = unicodedata.normalize("NFC", html)
    found = qr.link(code, hashlib.sha256(html.encode("utf-8")).hexdigest(), settings)
    return IssuedPdf(pdf=html_to_pdf(html, qr_url=found.url), link=found)


def _overlay(width: float, height: float, url: str) -> bytes:
    """A transparent page of that size with the QR code and its caption in the bottom right corner."""
    html = (
        f"<div style='position:absolute; right:8mm; bottom:6mm; text-align:center; font-size:7pt'>"
        f"{qr.qr_svg(url)}<br>{QR_CAPTION}</div>"
    )
    page = CSS(string=f"@page {{ size: {width}pt {height}pt; margin: 0; }}", font_config=_fonts)
    return html_to_pdf(html, stylesheets=[page])


def stamp_qr(pdf: bytes, code: str, settings: DocumentSettings) -> IssuedPdf:
    """The PDF with the verification QR code of dossier `code` in the bottom right corner of every page. A signed
    PDF is refused (`signed-pdf`): the stamp would break its signature."""
    reader = open_pdf(pdf)
    try:
        signed = bool(reader.embedded_signatures)
        # pyHanko's writer is untyped: its page and resource calls are checked by tests/documents/test_stamp.py.
        writer: Any = IncrementalPdfFileWriter(BytesIO(pdf))
        count = int(writer.root["/Pages"]["/Count"])
    except DAMAGED as exc:
        raise DocumentError("not-a-pdf", f"The file is not a readable PDF: {exc}") from None
    if signed:
        raise DocumentError(
            "signed-pdf", "The PDF is signed already: a QR code stamped on it would break the signature."
        )
    found = qr.link(code, hashlib.sha256(pdf).hexdigest(), settings)
    stamps: dict[tuple[float, float], tuple[str, generic.IndirectObject]] = {}
    for index in range(count):
        page = writer.find_page_for_modification(index)[0].get_object()
        box = tuple(float(v) for v in page.get("/MediaBox") or writer.root["/Pages"]["/MediaBox"])
        size = (box[2] - box[0], box[3] - box[1])
        if size not in stamps:
            overlay = PdfFileReader(BytesIO(_overlay(*size, found.url)))
            stamps[size] = (f"/MotcuaQR{len(stamps)}", writer.import_page_as_xobject(overlay))
        name, stamp_xobject = stamps[size]
        # Pages may share one resource dictionary: the stamp is added to it once.
        present = page["/Resources"].get("/XObject", {}) if "/Resources" in page else {}
        resources = (
            None
            if name in present
            else generic.DictionaryObject(  # type: ignore[no-untyped-call]
                {generic.pdf_name("/XObject"): generic.DictionaryObject({generic.pdf_name(name): stamp_xobject})}  # type: ignore[no-untyped-call]
            )
        )
        # The page's own content is wrapped in q … Q so that whatever state it leaves does not move the stamp.
        writer.add_stream_to_page(index, writer.add_object(generic.StreamObject(stream_data=b"q\n")), prepend=True)
        stamp = f"Q q 1 0 0 1 {box[0]:g} {box[1]:g} cm {name} Do Q\n".encode("ascii")
        writer.add_stream_to_page(index, writer.add_object(generic.StreamObject(stream_data=stamp)), resources)
    output = BytesIO()
    writer.write(output)
    return IssuedPdf(pdf=output.getvalue(), link=found)
