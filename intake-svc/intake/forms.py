"""Printable forms of Circular 01/2018/TT-VPCP as HTML: 01 receipt and appointment, 02 supplement request,
03 refusal. The dossier code is printed as a QR code (segno, inline SVG) so that a desk can scan it back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from intake.domain.dossier import Status
from intake.models import Dossier, DossierDocument
from services import clock
from services.clock import VN_TZ
from services.errors import Conflict, NotFound

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

TEMPLATES = {"01": "form01.html", "02": "form02.html", "03": "form03.html"}
_WEEKDAYS = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]
_UNITS = {"working_days": "ngày làm việc", "calendar_days": "ngày", "on_the_spot": "trả ngay trong ngày"}


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    m = moment.astimezone(VN_TZ)
    return f"{m:%H} giờ {m:%M} phút, {_WEEKDAYS[m.weekday()]} ngày {m:%d} tháng {m:%m} năm {m:%Y}"


def _day(moment: datetime | None) -> str:
    if moment is None:
        return ""
    m = moment.astimezone(VN_TZ)
    return f"ngày {m:%d} tháng {m:%m} năm {m:%Y}"


_env.filters["local"] = _local
_env.filters["day"] = _day


def qr_svg(code: str) -> str:
    return segno.make(code, error="m").svg_inline(scale=3, border=2)


def render(form: str, d: Dossier, documents: list[DossierDocument], unit_name: str) -> str:
    template = TEMPLATES.get(form)
    if template is None:
        raise NotFound(f"There is no form {form}; forms are 01, 02 and 03.")
    if form == "01" and d.received_at is None:
        raise Conflict(f"Dossier {d.code} has not been received yet: there is no receipt.", code="no-such-form")
    if form == "02" and not (d.missing or d.supplement_reason):
        raise Conflict(f"No supplement was requested for dossier {d.code}.", code="no-such-form")
    if form == "03" and d.status != Status.REFUSED:
        raise Conflict(f"Dossier {d.code} was not refused.", code="no-such-form")
    return _env.get_template(template).render(
        d=d,
        documents=documents,
        unit_name=unit_name,
        qr=qr_svg(d.code),
        processing_unit=_UNITS.get(d.processing_unit, d.processing_unit),
        printed=clock.now_vn(),
    )
