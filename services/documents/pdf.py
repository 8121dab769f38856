"""HTML → A4 PDF with WeasyPrint: the text NFC, set in DejaVu Serif (which carries every Vietnamese letter, embedded
in the file), and the verification QR code in the bottom margin of every page.

`form_pdf` turns any of the forms' pages (intake's 01–03, routing's 04–05, as their renderers produce them) into the
printable PDF of the same content: the document's hash in the QR link is the SHA-256 of that HTML, so the link names
exactly the rendering it came from.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from dataclasses import dataclass

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from services.documents import qr
from services.documents.settings import DocumentSettings

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


def html_to_pdf(html: str, *, qr_url: str | None = None) -> bytes:
    """The HTML (NFC-normalised first) as an A4 PDF; with `qr_url`, that link's QR code on every page."""
    stylesheets = [_PAGE] if qr_url is None else [_PAGE, _qr_margin(qr_url)]
    document = HTML(string=unicodedata.normalize("NFC", html))
    pdf: bytes = document.write_pdf(stylesheets=stylesheets, font_config=_fonts)
    return pdf


def form_pdf(html: str, code: str, settings: DocumentSettings) -> IssuedPdf:
    """A form's page as its printable PDF, with the verification QR code of dossier `code`."""
    html = unicodedata.normalize("NFC", html)
    found = qr.link(code, hashlib.sha256(html.encode("utf-8")).hexdigest(), settings)
    return IssuedPdf(pdf=html_to_pdf(html, qr_url=found.url), link=found)
