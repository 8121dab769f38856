"""Printable forms rendered from the journey: 04 (apology and new date) and 05 (processing-control slip)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from routing.domain.model import Journey
from routing.domain.status import ACTION_LABELS_VI
from routing.models import Extension, JourneyAction
from services.clock import VN_TZ
from services.contracts.routing import NationalStatus

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

STATUS_LABELS_VI = {
    NationalStatus.NEW: "Mới tiếp nhận",
    NationalStatus.ACCEPTED: "Đã tiếp nhận",
    NationalStatus.REJECTED: "Từ chối",
    NationalStatus.PROCESSING: "Đang xử lý",
    NationalStatus.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung",
    NationalStatus.PAYMENT_REQUESTED: "Yêu cầu thanh toán",
    NationalStatus.WITHDRAWAL_REQUESTED: "Đề nghị rút hồ sơ",
    NationalStatus.STOPPED: "Dừng xử lý",
    NationalStatus.PROCESSED: "Đã xử lý xong",
    NationalStatus.RESULT_RETURNED: "Đã trả kết quả",
}


def _local(moment: datetime | None, fmt: str = "%H:%M ngày %d/%m/%Y") -> str:
    return "" if moment is None else moment.astimezone(VN_TZ).strftime(fmt)


_env.filters["local"] = _local


def render_form04(j: Journey, ext: Extension, unit_names: dict[str, str]) -> str:
    return _env.get_template("form04.html").render(j=j, ext=ext, names=unit_names)


def render_form05(j: Journey, log: list[JourneyAction], unit_names: dict[str, str]) -> str:
    rows: list[dict[str, Any]] = []
    for a in log:
        rows.append(
            {
                "at": a.at,
                "unit": a.unit or "",
                "unit_name": unit_names.get(a.unit or "", ""),
                "actor": a.actor,
                "role": a.role,
                "what": ACTION_LABELS_VI.get(a.action, a.action),
                "note": a.note or "",
            }
        )
    return _env.get_template("form05.html").render(
        j=j,
        steps=j.steps,
        rows=rows,
        names=unit_names,
        status_label=STATUS_LABELS_VI[NationalStatus(j.status)],
    )
