"""Forms 01–05 as PDFs, from the services' own HTML renderers: A4, DejaVu embedded, the verification QR code on every
page decoded back (zxing-cpp on the page rasterised by pypdfium2) to the link encoded, and the page's Vietnamese text
(pypdfium2's extraction) the HTML's, word for word, in NFC."""

from __future__ import annotations

import unicodedata
from collections import Counter
from datetime import UTC, datetime
from html.parser import HTMLParser
from io import BytesIO

import pypdfium2
import pytest
import zxingcpp
from intake import forms as intake_forms
from intake.models import Dossier, DossierDocument
from pyhanko.pdf_utils.reader import PdfFileReader
from routing import forms as routing_forms
from routing.domain import rules
from routing.domain.model import Journey, PlannedStep, Route
from routing.models import Extension, JourneyAction

from services.calendar import WorkingCalendar
from services.contracts.intake import Channel, DossierReceived
from services.documents import qr
from services.documents.pdf import QR_CAPTION, form_pdf
from services.documents.settings import DocumentSettings

CODE = "000.00.31.H57-261204-0007"
UNIT = "Trung tâm Phục vụ hành chính công thành phố Huế"
NAMES = {"000.00.31.H57": UNIT, "001.00.31.H57": "Phòng Tư pháp thành phố Huế", "001.00.00.H57": "Sở Tư pháp"}
SETTINGS = DocumentSettings(verify_base_url="https://motcua.example.vn/xac-thuc", qr_secret="forms")
A4_POINTS = (595.28, 841.89)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def dossier(**changes: object) -> Dossier:
    fields: dict[str, object] = dict(
        id="d-7", code=CODE, receiving_unit="000.00.31.H57", seq=7, channel="in_person", status="received",
        procedure_code="1.900001", procedure_version=2, procedure_name="Đăng ký khai sinh có yếu tố nước ngoài",
        field_code="G09-HT", applicant_kind="citizen", applicant_id_number="046095000123",
        applicant_name=unicodedata.normalize("NFD", "Nguyễn Thị Hoa"), phone="0905123456", email="hoa@example.vn",
        address="12 Lê Lợi, phường Vĩnh Ninh, Huế", received_at=at(4, 2), appointment_at=at(9, 10),
        processing_amount=3, processing_unit="working_days", missing=[], supplement_reason=None,
        refusal_reasons=[], fees=[{"name": "Lệ phí đăng ký hộ tịch", "amount": 8000}], closed_at=None,
        updated_at=at(4, 2),
    )  # fmt: skip
    fields.update(changes)
    return Dossier(**fields)


DOCUMENTS = [
    DossierDocument(name="Tờ khai đăng ký khai sinh", form="original", copies=1),
    DossierDocument(name="Giấy chứng sinh", form="certified_copy", copies=2),
]


def journey() -> Journey:
    """The journey routing's own rules start for the dossier: a city step, then a province step."""
    received = DossierReceived(
        dossier_id="d-7", code=CODE, procedure_code="1.900001", procedure_version=2, field_code="G09-HT",
        receiving_unit="000.00.31.H57", channel=Channel.IN_PERSON, applicant_kind="citizen", received_at=at(4, 2),
        appointment_at=at(9, 10),
    )  # fmt: skip
    route = Route(
        steps=(PlannedStep(1, "city", "001.00.31.H57", 40), PlannedStep(2, "province", "001.00.00.H57", 60)),
        inter_level=True,
    )
    return rules.start(received, route, None, WorkingCalendar()).journey


def form_html(form: str) -> str:
    if form == "01":
        return intake_forms.render("01", dossier(), DOCUMENTS, UNIT)
    if form == "02":
        missing = [{"code": "GCS", "name": "Giấy chứng sinh (bản chính)"}]
        return intake_forms.render(
            "02", dossier(missing=missing, supplement_reason="Thiếu giấy chứng sinh"), DOCUMENTS, UNIT
        )
    if form == "03":
        reasons = ["Hồ sơ không thuộc thẩm quyền giải quyết", "Người nộp không đủ điều kiện"]
        refused = dossier(status="refused", refusal_reasons=reasons, closed_at=at(5, 3))
        return intake_forms.render("03", refused, DOCUMENTS, UNIT)
    extension = Extension(
        unit="001.00.00.H57", requested_by="chuyenvien.tuphap", requested_at=at(7, 3),
        reason="Cần xác minh thông tin với cơ quan đăng ký nước ngoài", previous_due_at=at(9, 10),
        new_due_at=at(14, 10),
    )  # fmt: skip
    if form == "04":
        return routing_forms.render_form04(journey(), extension, NAMES)
    log = [
        JourneyAction(at=at(4, 2), action="received", actor="demo.desk", role="desk", unit="000.00.31.H57",
                      note=None),
        JourneyAction(at=at(7, 3), action="step_completed", actor="chuyenvien.phong", role="specialist",
                      unit="001.00.31.H57", note="Đủ điều kiện, trình Sở"),
        JourneyAction(at=at(7, 4), action="extended", actor="chuyenvien.tuphap", role="specialist",
                      unit="001.00.00.H57", note="Xin lỗi, hẹn lại ngày trả"),
    ]  # fmt: skip
    return routing_forms.render_form05(journey(), log, NAMES)


class _Text(HTMLParser):
    """The text a browser shows: what is outside <head>, <style> and <script>, a space between blocks, and the
    numbers of an ordered list's items."""

    INLINE = frozenset({"strong", "em", "b", "i", "span", "a"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0
        self._lists: list[int] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._hidden += tag in ("head", "style", "script", "title")
        if tag == "ol":
            self._lists.append(0)
        if tag == "li" and self._lists:
            self._lists[-1] += 1
            self.parts.append(f" {self._lists[-1]}. ")
        elif tag not in self.INLINE:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("head", "style", "script", "title")
        if tag == "ol":
            self._lists.pop()
        if tag not in self.INLINE:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_words(html: str) -> Counter[str]:
    parser = _Text()
    parser.feed(html)
    return Counter(unicodedata.normalize("NFC", "".join(parser.parts)).split())


def embedded_fonts(pdf: bytes) -> set[str]:
    reader = PdfFileReader(BytesIO(pdf))
    names = set()
    for page_number in range(len(reader.root["/Pages"]["/Kids"])):
        page = reader.find_page_for_modification(page_number)[0].get_object()
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object()["/FontDescriptor"]
                assert "/FontFile2" in descriptor or "/FontFile3" in descriptor, f"{font['/BaseFont']} not embedded"
                names.add(str(font["/BaseFont"]).split("+")[-1])
    return names


@pytest.mark.parametrize("form", ["01", "02", "03", "04", "05"])
def test_a_forms_pdf_has_the_htmls_text_and_a_qr_code_that_reads_back(form: str) -> None:
    html = form_html(form)
    issued = form_pdf(html, CODE, SETTINGS)
    assert qr.read_link(issued.link.url, SETTINGS).code == CODE

    document = pypdfium2.PdfDocument(issued.pdf)
    try:
        text, everywhere = [], set()
        for page in document:
            assert page.get_size() == pytest.approx(A4_POINTS, abs=0.5)
            decoded = {found.text for found in zxingcpp.read_barcodes(page.render(scale=200 / 72).to_pil())}
            assert issued.link.url in decoded, f"form {form}: the page's QR codes read {decoded}"
            everywhere |= decoded
            text.append(page.get_textpage().get_text_range())
    finally:
        document.close()

    if form in ("01", "02", "03"):
        assert CODE in everywhere, "the form's own QR code of the dossier code is kept"
    printed = "\n".join(text)
    assert unicodedata.is_normalized("NFC", printed)
    assert printed.count(QR_CAPTION) == len(text)
    assert Counter(printed.replace(QR_CAPTION, " ").split()) == html_words(html)
    fonts = embedded_fonts(issued.pdf)
    assert fonts and all(name.startswith("DejaVu-Serif") for name in fonts), fonts
